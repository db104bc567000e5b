"""When a CONNECTED session counts as unresponsive, and how restarts back off (pure)."""

from __future__ import annotations

from dataclasses import dataclass

BACKOFF_MAX = 60.0


@dataclass(frozen=True)
class HealthPolicy:
    """How CONNECTED sessions are checked, and how often an unresponsive one is restarted."""

    interval: float = 15.0
    timeout: float = 5.0
    max_restarts: int = 5

    def backoff(self, restart: int) -> float:
        """Seconds to wait before the n-th restart (1-based): doubling from the check interval."""
        return float(min(self.interval * 2 ** (restart - 1), BACKOFF_MAX))
