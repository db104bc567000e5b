"""Process-wide resources of one gateway replica, opened and closed with the app."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from litestar.datastructures import State
from litestar.di import NamedDependency
from nats.aio.subscription import Subscription

from zapgate.common.crypto import CredentialCipher
from zapgate.common.db import make_engine, make_sessionmaker, ping
from zapgate.gateway.adapters.command_keys import CommandKeys
from zapgate.gateway.adapters.commands import CommandBus
from zapgate.gateway.adapters.entitlements import EntitlementCache
from zapgate.gateway.adapters.media import MediaStore
from zapgate.gateway.adapters.messages import MessageRepository
from zapgate.gateway.adapters.nats import NatsLink
from zapgate.gateway.adapters.nats_users import NatsUserStore
from zapgate.gateway.adapters.projector import Projector
from zapgate.gateway.adapters.quotas import QuotaBook
from zapgate.gateway.adapters.repository import KeyOwner, TenantRepository
from zapgate.gateway.adapters.services import ServiceClient
from zapgate.gateway.adapters.sessions import SessionRepository
from zapgate.gateway.adapters.tickets import TicketStore
from zapgate.gateway.adapters.webhooks import WebhookStore
from zapgate.gateway.auth import KeyCache
from zapgate.gateway.domain.ratelimit import WindowLimiter
from zapgate.gateway.settings import Settings

log = logging.getLogger(__name__)


class GatewayState:
    """Database, NATS and caches of the gateway."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = make_engine(settings.database_url, pool_size=settings.db_pool_size, pre_ping=False)
        self.sessions = make_sessionmaker(self.engine)
        self.tenants = TenantRepository(self.sessions, settings.quotas())
        self.quotas = QuotaBook(self.sessions, settings.quotas(), settings.media_max_age)
        self.tickets_minted = WindowLimiter(max(1, settings.quota_tickets_per_minute), 60.0)
        self.key_cache = KeyCache(settings.api_key_cache_ttl)
        self.auth_failures = WindowLimiter(settings.auth_failure_limit, settings.auth_failure_window)
        # Open WebSockets by the key they came with: a revocation closes them on every replica.
        self.sockets: dict[str, set[asyncio.Event]] = {}
        self.tenant_sockets: dict[str, int] = {}
        self._wakers: dict[asyncio.Event, Callable[[], None]] = {}
        self.nats = NatsLink(settings, on_key_revoked=self.key_revoked, on_connected=self._connected)
        self.sessions_repo = SessionRepository(self.sessions, settings.quotas())
        self.command_keys = CommandKeys(self.sessions)
        self.commands = CommandBus(self.nats, settings.partitions)
        self.messages = MessageRepository(self.sessions, self.engine)
        self.media = MediaStore(self.nats)
        self.media_fetches = asyncio.Semaphore(settings.media_fetch_concurrency)
        self.projector: Projector | None = None
        self.tickets = TicketStore(self.nats)
        self.scheduler = ServiceClient(self.nats, "scheduler", 10.0)
        self.billing = ServiceClient(self.nats, "billing", 5.0)
        self.entitlements = EntitlementCache(self.nats)
        key = settings.secret_key
        self.nats_users = NatsUserStore(self.sessions)
        self.webhooks = WebhookStore(self.sessions, CredentialCipher(key.get_secret_value()) if key else None)
        self._internal: Subscription | None = None
        self._ingress: Subscription | None = None
        self._callout: Subscription | None = None
        self._background: set[asyncio.Task[None]] = set()

    async def _connected(self) -> None:
        self.projector = Projector(self.nats.js, self.sessions_repo, self.messages)
        await self.projector.start()
        from zapgate.gateway import ingress, internal, nats_callout  # they build on this module
        from zapgate.gateway.sending import requeue_forever

        self._spawn(requeue_forever(self))
        self.entitlements.start()
        self._internal = await internal.serve(self)
        self._ingress = await ingress.serve(self)
        self._callout = await nats_callout.serve(self, self.nats_users)

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` in the background for as long as the replica runs."""
        self._spawn(work)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def start(self) -> None:
        """Open connections (NATS keeps retrying in the background if it is down)."""
        await self.nats.start()

    async def stop(self) -> None:
        """Close connections."""
        for task in list(self._background):
            task.cancel()
        if self._background:
            await asyncio.wait(self._background, timeout=5)
        if self.projector is not None:
            await self.projector.stop()
        await self.entitlements.stop()
        await self.nats.stop()
        await self.engine.dispose()

    async def check_db(self) -> None:
        """Readiness probe of PostgreSQL."""
        await ping(self.engine)

    async def resolve_key(self, key_hash: str) -> KeyOwner | None:
        """The owner of a key: from the cache, else from the database."""
        owner = self.key_cache.get(key_hash)
        if owner is None:
            owner = await self.tenants.resolve_key(key_hash)
            if owner is not None:
                self.key_cache.put(key_hash, owner)
        return owner

    def key_revoked(self, key_hash: str) -> None:
        """A key was revoked (here or on another replica): forget it, close its sockets."""
        self.key_cache.evict(key_hash)
        for closing in self.sockets.get(key_hash, ()):
            closing.set()
            wake = self._wakers.get(closing)
            if wake is not None:
                wake()

    def sockets_full(self, tenant: str, key_hash: str) -> str | None:
        """Why one more WebSocket of this key or tenant is refused on this replica, or None."""
        if len(self.sockets.get(key_hash, ())) >= self.settings.ws_max_per_key:
            return (
                f"too many WebSockets for this API key (at most {self.settings.ws_max_per_key} per gateway)"
            )
        if self.tenant_sockets.get(tenant, 0) >= self.settings.ws_max_per_tenant:
            return (
                f"too many WebSockets for this tenant (at most {self.settings.ws_max_per_tenant} per gateway)"
            )
        return None

    def socket_opened(self, tenant: str, key_hash: str, wake: Callable[[], None]) -> asyncio.Event:
        """Register a WebSocket of a key; the event is set (and ``wake`` called) when the key is
        revoked."""
        closing = asyncio.Event()
        if self.key_cache.revoked(key_hash):
            closing.set()
        self.sockets.setdefault(key_hash, set()).add(closing)
        self._wakers[closing] = wake
        self.tenant_sockets[tenant] = self.tenant_sockets.get(tenant, 0) + 1
        return closing

    def socket_closed(self, tenant: str, key_hash: str, closing: asyncio.Event) -> None:
        """Unregister a WebSocket."""
        self._wakers.pop(closing, None)
        open_ = self.sockets.get(key_hash)
        if open_ is not None:
            open_.discard(closing)
            if not open_:
                del self.sockets[key_hash]
        left = self.tenant_sockets.get(tenant, 1) - 1
        if left > 0:
            self.tenant_sockets[tenant] = left
        else:
            self.tenant_sockets.pop(tenant, None)

    async def revoke_key(self, tenant_id: str, key_id: str) -> bool:
        """Revoke a key everywhere; False if it did not exist."""
        key_hash = await self.tenants.revoke_key(tenant_id, key_id)
        if key_hash is None:
            return False
        self.key_revoked(key_hash)
        self._spawn(self.nats.broadcast_revoked(key_hash, self.settings.api_key_cache_ttl))
        return True


GatewayDep = NamedDependency[GatewayState]
"""A handler parameter ``gateway: GatewayDep`` receives the replica's GatewayState."""


def provide_gateway(state: State) -> GatewayState:
    """Dependency: the replica's GatewayState."""
    gateway: GatewayState = state.gateway
    return gateway
