"""Counting events per key in a sliding window: failed authentications, tickets minted (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_CLIENTS = 10_000


@dataclass
class WindowLimiter:
    """At most ``limit`` events per key (a client address, a tenant) in ``window`` seconds; then
    refused until the window of its oldest counted event has passed. In memory, per process."""

    limit: int = 20
    window: float = 60.0
    _failures: dict[str, list[float]] = field(default_factory=dict)

    def retry_after(self, client: str, now: float, limit: int | None = None) -> float | None:
        """Seconds the key must wait, or None if it may go on (``limit`` overrides the default)."""
        recent = [t for t in self._failures.get(client, ()) if t > now - self.window]
        if recent:
            self._failures[client] = recent
        else:
            self._failures.pop(client, None)
        if len(recent) < (self.limit if limit is None else limit):
            return None
        if not recent:  # a limit of zero: nothing is allowed
            return self.window
        return max(recent[0] + self.window - now, 0.0)

    def hit(self, client: str, now: float) -> None:
        """Count an event of the key."""
        if client not in self._failures and len(self._failures) >= MAX_CLIENTS:
            self._failures.clear()  # a flood of sources: start again rather than grow
        self._failures.setdefault(client, []).append(now)
