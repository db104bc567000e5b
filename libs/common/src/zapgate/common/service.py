"""Lifecycle shared by the background services: NATS, PostgreSQL, health, signals."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Callable

import uvloop
from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from sqlalchemy.ext.asyncio import AsyncEngine

from zapgate.common import broker
from zapgate.common.db import make_engine, ping
from zapgate.common.health import HealthServer
from zapgate.common.logs import setup_logging
from zapgate.common.runtime import settle_heap
from zapgate.common.settings import CommonSettings
from zapgate.common.tracing import setup_tracing

log = logging.getLogger(__name__)


class Service:
    """A long-running service: connects on start, serves health, cleans up on stop.

    Subclasses add their work in ``on_start``/``on_stop``.
    """

    name = "service"
    db_pool_size = 5
    """Connections kept open; as many again are opened under bursts and closed after."""
    db_pre_ping = True
    """Test each connection as it leaves the pool (a round trip each time)."""

    def __init__(self, settings: CommonSettings) -> None:
        self.settings = settings
        self._nc: NATS | None = None
        self._engine: AsyncEngine | None = None
        self.health = HealthServer(self.name, {"nats": self._check_nats, "postgres": self._check_db})

    @property
    def nc(self) -> NATS:
        """The NATS connection (after start)."""
        assert self._nc is not None, "service not started"
        return self._nc

    @property
    def js(self) -> JetStreamContext:
        """JetStream context on the connection."""
        return self.nc.jetstream()

    @property
    def engine(self) -> AsyncEngine:
        """The database engine (after start)."""
        assert self._engine is not None, "service not started"
        return self._engine

    async def _check_nats(self) -> None:
        if self._nc is None or not self._nc.is_connected:
            raise ConnectionError("not connected")
        await self._nc.flush(timeout=1)

    async def _check_db(self) -> None:
        await ping(self.engine)

    async def start(self) -> None:
        """Connect, run the subclass's start-up, then open the health port."""
        self._nc = await broker.connect(self.settings, self.name)
        self._engine = make_engine(
            self.settings.database_url, pool_size=self.db_pool_size, pre_ping=self.db_pre_ping
        )
        await self.on_start()
        if self.settings.health_port is not None:
            await self.health.start(self.settings.health_host, self.settings.health_port)
        log.info("%s %s started", self.name, self.settings.worker_id)

    async def stop(self) -> None:
        """Stop work first, then close connections; every step is bounded, so SIGTERM always ends."""
        await self.health.stop()
        try:
            async with asyncio.timeout(STOP_STEP):
                await self.on_stop()
        except TimeoutError:
            log.error("%s: stopping its work took over %.0fs; closing anyway", self.name, STOP_STEP)
        if self._nc is not None and not self._nc.is_closed:
            try:
                # nats-py's drain can wait forever on a subscription whose fetch was cancelled.
                async with asyncio.timeout(5):
                    await self._nc.drain()
            except Exception as exc:
                log.warning(
                    "%s: NATS drain did not finish (%s); closing", self.name, exc or type(exc).__name__
                )
                with contextlib.suppress(Exception):
                    await self._nc.close()
        if self._engine is not None:
            await self._engine.dispose()
        log.info("%s %s stopped", self.name, self.settings.worker_id)

    async def on_start(self) -> None:
        """Hook for subclasses."""

    async def on_stop(self) -> None:
        """Hook for subclasses."""


async def serve(service: Service) -> None:
    """Run a service until SIGTERM or SIGINT, then stop it cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await service.start()
    settle_heap()
    try:
        await stop.wait()
    finally:
        log.info("%s stopping", service.name)
        await service.stop()


STOP_STEP = 10.0
"""Seconds the subclass's own shutdown may take before connections are closed anyway."""


def run(factory: Callable[[], Service]) -> None:
    """Entry point body of a service's console script."""
    service = factory()
    setup_logging(service.name, service.settings.log_level, service.settings.log_format)
    setup_tracing(service.name)  # only when OTEL_* asks for it
    # uvloop: the event loop's own overhead (callbacks, socket writes) was a fifth of a busy
    # worker's CPU on asyncio's pure-Python loop.
    uvloop.run(serve(service))
