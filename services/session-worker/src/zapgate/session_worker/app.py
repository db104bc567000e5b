"""Session worker wiring."""

from __future__ import annotations

from zapgate.common import broker
from zapgate.common.service import Service
from zapgate.session_worker.settings import Settings


class SessionWorker(Service):
    """A worker process: makes sure the NATS topology exists, then runs leased partitions."""

    name = "session-worker"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.settings: Settings = settings

    async def on_start(self) -> None:
        """Bootstrap streams and buckets (idempotent, safe from every replica)."""
        await broker.ensure_topology(self.js, self.settings)


def create_app(settings: Settings) -> SessionWorker:
    """Build a worker from its settings."""
    return SessionWorker(settings)
