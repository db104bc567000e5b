"""Session worker wiring."""

from __future__ import annotations

from zapgate.common import broker
from zapgate.common.service import Service
from zapgate.session_worker.adapters.leases import LeaseStore, Membership
from zapgate.session_worker.partitions import PartitionManager
from zapgate.session_worker.runtime import PartitionRuntime
from zapgate.session_worker.settings import Settings


class SessionWorker(Service):
    """A worker process: claims partition leases and runs their sessions."""

    name = "session-worker"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.settings: Settings = settings
        self.runtime = PartitionRuntime(settings.worker_id)
        self._manager: PartitionManager | None = None

    @property
    def manager(self) -> PartitionManager:
        """The partition manager (after start)."""
        assert self._manager is not None, "worker not started"
        return self._manager

    async def on_start(self) -> None:
        """Bootstrap the topology (idempotent), then start claiming partitions."""
        await broker.ensure_topology(self.js, self.settings)
        worker_id = self.settings.worker_id
        self._manager = PartitionManager(
            await LeaseStore.open(self.js, worker_id),
            await Membership.open(self.js, worker_id),
            self.runtime,
            partitions=self.settings.partitions,
            ttl=self.settings.lease_ttl,
        )
        await self._manager.start()

    async def on_stop(self) -> None:
        """SIGTERM drain: stop every partition and release its lease so a peer claims it at once."""
        if self._manager is not None:
            await self._manager.stop(drain=True)


def create_app(settings: Settings) -> SessionWorker:
    """Build a worker from its settings."""
    return SessionWorker(settings)
