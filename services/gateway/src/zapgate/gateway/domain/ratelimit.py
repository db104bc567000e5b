"""How many failed authentications a client may make before it is refused for a while (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_CLIENTS = 10_000


@dataclass
class FailureLimiter:
    """At most ``limit`` failures per client in ``window`` seconds; then refused until the window
    of its oldest counted failure has passed. In memory, per gateway process."""

    limit: int = 20
    window: float = 60.0
    _failures: dict[str, list[float]] = field(default_factory=dict)

    def retry_after(self, client: str, now: float) -> float | None:
        """Seconds the client must wait, or None if it may try."""
        recent = [t for t in self._failures.get(client, ()) if t > now - self.window]
        if recent:
            self._failures[client] = recent
        else:
            self._failures.pop(client, None)
        if len(recent) < self.limit:
            return None
        return max(recent[0] + self.window - now, 0.0)

    def failed(self, client: str, now: float) -> None:
        """Count a failure of the client."""
        if client not in self._failures and len(self._failures) >= MAX_CLIENTS:
            self._failures.clear()  # a flood of sources: start again rather than grow
        self._failures.setdefault(client, []).append(now)
