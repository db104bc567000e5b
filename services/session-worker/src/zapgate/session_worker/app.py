"""Session worker wiring."""

from __future__ import annotations

import asyncio
import contextlib
from concurrent.futures import ThreadPoolExecutor

from nats.aio.client import Client as NATS

from zapgate.common import broker, metrics
from zapgate.common.crypto import CredentialCipher
from zapgate.common.db import make_sessionmaker
from zapgate.common.service import Service
from zapgate.session_worker.adapters.lease_loop import LeaseLoop
from zapgate.session_worker.adapters.leases import LeaseStore, Membership
from zapgate.session_worker.adapters.messages import MessageStore
from zapgate.session_worker.adapters.simnet import SimNetwork
from zapgate.session_worker.adapters.spool import EventSpool
from zapgate.session_worker.adapters.store import SessionStore
from zapgate.session_worker.domain import whatsapp
from zapgate.session_worker.domain.health import HealthPolicy
from zapgate.session_worker.domain.leases import MARGIN_FRACTION
from zapgate.session_worker.host import SessionHost
from zapgate.session_worker.partitions import PartitionManager
from zapgate.session_worker.settings import Settings


class SessionWorker(Service):
    """A worker process: claims partition leases and runs their sessions."""

    name = "session-worker"
    # Every sending session, the ack writer and the consumers use the database at once; with
    # 5 (+5) connections a burst opened and closed connections all the time (seen in py-spy).
    db_pool_size = 20
    # The pre-ping was a tenth of the worker's CPU under load. Without it a connection that
    # PostgreSQL dropped fails once; every caller retries (outbox, acks) or naks (commands).
    db_pre_ping = False

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.settings: Settings = settings
        if settings.secret_key is None:
            raise SystemExit("ZAPGATE_SECRET_KEY is required: it encrypts session credentials")
        self.cipher = CredentialCipher(settings.secret_key.get_secret_value(), settings.previous_secrets)
        self._manager: PartitionManager | None = None
        self._host: SessionHost | None = None
        self._network: SimNetwork | None = None
        self._control: NATS | None = None
        self._lease_loop: LeaseLoop | None = None

    @property
    def manager(self) -> PartitionManager:
        """The partition manager (after start)."""
        assert self._manager is not None, "worker not started"
        return self._manager

    @property
    def host(self) -> SessionHost:
        """The session host (after start)."""
        assert self._host is not None, "worker not started"
        return self._host

    async def on_start(self) -> None:
        """Bootstrap the topology (idempotent), then start claiming partitions."""
        # A whatsapp-engine session holds a thread of the default executor for its whole life
        # (neonize blocks one in Go); every other neonize call takes one briefly.
        asyncio.get_running_loop().set_default_executor(
            ThreadPoolExecutor(max_workers=self.settings.engine_threads, thread_name_prefix="engine")
        )
        await broker.ensure_topology(self.js, self.settings)
        worker_id = self.settings.worker_id
        self._network = await SimNetwork.open(self.js, self.settings.nats_replicas)
        sessions = make_sessionmaker(self.engine)
        self._host = SessionHost(
            self.nc,
            SessionStore(sessions),
            MessageStore(sessions, self.engine),
            EventSpool(self.engine),
            self.cipher,
            self._network,
            worker_id,
            self.settings.partitions,
            self.settings.sim_speed,
        )
        self._host.whatsapp_store = whatsapp.store_url(self.settings.database_url)
        self._host.fence_within = self.settings.lease_ttl * MARGIN_FRACTION
        self._host.health = HealthPolicy(
            interval=self.settings.session_health_interval,
            timeout=self.settings.session_health_timeout,
            max_restarts=self.settings.session_max_restarts,
        )
        # Leases get a connection and a thread of their own: on the shared connection a
        # renewal's reply would queue behind thousands of publish acks in a burst, and on the
        # main loop behind the work of a busy worker; either way it would lose its leases.
        self._lease_loop = io = LeaseLoop()
        io.start()
        self._control = control = await io.call(broker.connect(self.settings, f"{self.name}-leases"))
        self._manager = PartitionManager(
            await io.call(LeaseStore.open(control.jetstream(), worker_id)),
            await io.call(Membership.open(control.jetstream(), worker_id)),
            self._host,
            partitions=self.settings.partitions,
            ttl=self.settings.lease_ttl,
            io=io,
        )
        await self._manager.start()
        manager = self._manager
        metrics.PARTITIONS_HELD.set_function(lambda: len(manager.held))
        self._host.start_sweeper()

    async def on_stop(self) -> None:
        """SIGTERM drain: stop every partition and release its lease so a peer claims it at once."""
        if self._manager is not None:
            await self._manager.stop(drain=True)
        if self._host is not None:
            await self._host.close()
        if self._network is not None:
            await self._network.close()
        if self._control is not None and self._lease_loop is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2):
                    await self._lease_loop.call(self._control.close())
        if self._lease_loop is not None:
            await self._lease_loop.close()


def create_app(settings: Settings) -> SessionWorker:
    """Build a worker from its settings."""
    return SessionWorker(settings)
