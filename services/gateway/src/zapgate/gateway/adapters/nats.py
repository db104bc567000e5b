"""The gateway's NATS link: connects in the background and keeps trying, so the API stays up."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from nats.js import api as js_api
from nats.js.kv import KeyValue

from zapgate.common import broker, subjects
from zapgate.common.settings import CommonSettings

log = logging.getLogger(__name__)

REVOCATION_TTL = 300.0  # at least the longest API key cache TTL the settings allow


class NatsUnavailable(Exception):
    """NATS cannot be reached right now."""

    dependency = "nats"


class NatsLink:
    """Owns the gateway's connection; ``/ready`` and publishers ask it whether NATS is there."""

    def __init__(
        self,
        settings: CommonSettings,
        on_key_revoked: Callable[[str], None],
        on_connected: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.settings = settings
        self._on_key_revoked = on_key_revoked
        self._on_connected = on_connected
        self._nc: NATS | None = None
        self._js: JetStreamContext | None = None
        self._task: asyncio.Task[None] | None = None
        self._revoked: KeyValue | None = None
        self._watch: asyncio.Task[None] | None = None
        self.ready = asyncio.Event()

    async def start(self) -> None:
        """Begin connecting; returns at once, or after the first attempt succeeds quickly."""
        self._task = asyncio.create_task(self._connect_loop(), name="nats-connect")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.settings.nats_connect_timeout):
                await self.ready.wait()

    async def _connect_loop(self) -> None:
        delay = 0.5
        while True:
            try:
                nc = await broker.connect(self.settings, "gateway")
                await broker.ensure_topology(nc.jetstream(), self.settings)
                revoked = await nc.jetstream().create_key_value(
                    js_api.KeyValueConfig(
                        bucket=subjects.REVOKED_KEYS_BUCKET,
                        history=1,
                        ttl=REVOCATION_TTL,
                        replicas=self.settings.nats_replicas,
                    )
                )
                self._revoked = revoked
                self._watch = asyncio.create_task(self._watch_revocations(revoked), name="revocations")
                self._nc = nc
                self._js = nc.jetstream()
                if self._on_connected is not None:
                    await self._on_connected()
                self.ready.set()
                return
            except Exception as exc:
                log.warning("NATS not reachable (%s); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    async def _watch_revocations(self, kv: KeyValue) -> None:
        """Every revocation of the last ``REVOCATION_TTL`` seconds, then each new one, for ever."""
        while True:
            try:
                watcher = await kv.watch("k.*")
                async for entry in watcher:
                    if entry is not None and entry.value and entry.key.startswith("k."):
                        self._on_key_revoked(entry.key[2:])
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("revocation watch interrupted (%s); watching again", type(exc).__name__)
                await asyncio.sleep(0.5)

    @property
    def nc(self) -> NATS:
        """The live connection, or NatsUnavailable."""
        if self._nc is None or not self._nc.is_connected:
            raise NatsUnavailable("NATS is not connected")
        return self._nc

    @property
    def js(self) -> JetStreamContext:
        """JetStream on the live connection (one context: it owns the replies of ``publish_async``)."""
        if self._nc is None or self._js is None or not self._nc.is_connected:
            raise NatsUnavailable("NATS is not connected")
        return self._js

    async def check(self) -> None:
        """Readiness probe: a round trip to the server."""
        await self.nc.flush(timeout=1)

    async def broadcast_revoked(self, key_hash: str, within: float) -> None:
        """Tell every gateway replica to forget a revoked key (and close its sockets), retrying for
        ``within`` seconds.

        It is a KV entry that lives ``REVOCATION_TTL`` seconds, so a replica that reconnects in
        that time hears of it too. Past ``within`` every replica's cache has let the key go by
        itself (the cache TTL), and its sockets re-check their key as often.
        """
        deadline = time.monotonic() + within
        while True:
            try:
                if self._revoked is None:
                    raise NatsUnavailable("not connected yet")
                await self._revoked.put(subjects.revoked_key(key_hash), b"1")
                return
            except Exception as exc:
                if time.monotonic() >= deadline:
                    log.warning("revocation not broadcast (%s); caches expire it", type(exc).__name__)
                    return
                await asyncio.sleep(0.5)

    async def stop(self) -> None:
        """Stop connecting and drain the connection."""
        tasks = [task for task in (self._task, self._watch) if task is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            # Bounded: a task inside a library call that swallows its cancellation must not
            # hold the shutdown for ever.
            await asyncio.wait(tasks, timeout=5)
        if self._nc is not None and not self._nc.is_closed:
            try:
                # nats-py's drain can wait forever on a subscription whose fetch was cancelled.
                async with asyncio.timeout(5):
                    await self._nc.drain()
            except Exception as exc:
                log.warning("NATS drain did not finish (%s); closing", exc or type(exc).__name__)
                with contextlib.suppress(Exception):
                    await self._nc.close()
