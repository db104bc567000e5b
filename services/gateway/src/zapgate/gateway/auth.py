"""Authentication (API keys in ``X-Api-Key`` or ``Authorization: Bearer``) and authorization guards."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from litestar.connection import ASGIConnection
from litestar.enums import ScopeType
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

from zapgate.common.logs import bind_for_task
from zapgate.gateway.adapters.repository import KeyOwner
from zapgate.gateway.domain.api_keys import hash_key, is_tenant_key, looks_like_key, same_key
from zapgate.gateway.domain.principal import ADMIN, Principal
from zapgate.gateway.errors import ApiError

if TYPE_CHECKING:
    from zapgate.gateway.state import GatewayState

PUBLIC_PATHS = {
    "/",  # the dashboard's page; it logs in with a key and calls the API
    "/health",
    "/ready",
    "/asyncapi.json",
    "/openapi.json",
    "/openapi.yaml",
    "/openapi.yml",
    "/docs",
}
MAX_CACHED_KEYS = 10_000


class KeyCache:
    """Verified keys for a short time, so a request does not always cost a database round trip.

    Revocations evict at once here and, through NATS, on every other gateway replica.
    """

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._entries: dict[str, tuple[KeyOwner, float]] = {}
        # Hashes revoked within the TTL: a lookup that read the key before its revocation
        # committed must not cache it again after the eviction.
        self._revoked: dict[str, float] = {}

    def get(self, key_hash: str) -> KeyOwner | None:
        """A cached owner, if fresh."""
        entry = self._entries.get(key_hash)
        if entry is None:
            return None
        if entry[1] < time.monotonic():
            self._entries.pop(key_hash, None)
            return None
        return entry[0]

    def put(self, key_hash: str, owner: KeyOwner) -> None:
        """Remember a verified key (never one revoked within the TTL)."""
        if self.ttl <= 0 or self.revoked(key_hash):
            return
        if len(self._entries) >= MAX_CACHED_KEYS:
            self._entries.clear()
        self._entries[key_hash] = (owner, time.monotonic() + self.ttl)

    def evict(self, key_hash: str) -> None:
        """Forget a key (revoked), and refuse to cache it again for the TTL."""
        self._entries.pop(key_hash, None)
        now = time.monotonic()
        if len(self._revoked) >= MAX_CACHED_KEYS:
            self._revoked = {h: t for h, t in self._revoked.items() if t > now}
        self._revoked[key_hash] = now + max(self.ttl, 1.0)

    def revoked(self, key_hash: str) -> bool:
        """Whether the key was revoked within the TTL (a live socket of it must close)."""
        until = self._revoked.get(key_hash)
        return until is not None and until > time.monotonic()


def presented_key(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    """The key the client sent, from ``X-Api-Key`` or a Bearer token."""
    key = connection.headers.get("x-api-key")
    if key:
        return key.strip()
    authorization = connection.headers.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


class ApiKeyAuthentication(AbstractAuthenticationMiddleware):
    """Resolves the caller to a Principal, or answers 401 (429 after too many failures)."""

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        """Look the key up: the admin key first, then the tenant keys (only well-formed ones)."""
        state: GatewayState = connection.app.state.gateway
        client = connection.client.host if connection.client else "unknown"
        wait = state.auth_failures.retry_after(client, time.monotonic())
        if wait is not None and not _known_without_io(state, connection):
            # Refused without a lookup. A key this gateway verified lately still passes, so
            # that clients behind one address (a proxy) are not all locked out by one of them.
            raise ApiError(
                429, "rate_limited", "too many failed authentications from this address; retry later",
                headers={"Retry-After": str(max(1, int(wait + 0.999)))},
            )  # fmt: skip
        try:
            result = await self._authenticate(state, connection)
        except ApiError as exc:
            if exc.status_code == 401:
                state.auth_failures.hit(client, time.monotonic())
            raise
        # The rest of the request logs under its tenant (JSON logs carry it).
        bind_for_task(tenant=result.user.tenant_id, key=result.user.key_id)
        return result

    @staticmethod
    async def _authenticate(
        state: GatewayState, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        ticket = (
            connection.query_params.get("ticket") if connection.scope["type"] == ScopeType.WEBSOCKET else None
        )
        if ticket is not None and presented_key(connection) is None:
            redeemed = await state.tickets.redeem(ticket)
            # The key that minted it must still be live: revoking a key voids its tickets.
            owner = await state.resolve_key(redeemed[1]) if redeemed is not None else None
            if redeemed is None or owner is None or owner.tenant_id != redeemed[0]:
                raise ApiError(401, "unauthorized", "invalid, expired or already used ticket")
            return AuthenticationResult(
                user=Principal(
                    is_admin=False, tenant_id=owner.tenant_id, key_id=owner.key_id, key_hash=redeemed[1]
                ),
                auth=None,
            )
        key = presented_key(connection)
        if key is None:
            raise ApiError(401, "unauthorized", "missing API key: send X-Api-Key or Authorization: Bearer")
        if not looks_like_key(key):
            raise ApiError(401, "unauthorized", "invalid API key")
        admin_key = state.settings.admin_key
        if admin_key is not None and same_key(key, admin_key.get_secret_value()):
            return AuthenticationResult(user=ADMIN, auth=None)
        if not is_tenant_key(key):
            raise ApiError(401, "unauthorized", "invalid API key")  # no lookup for what no key looks like
        key_hash = hash_key(key)
        owner = await state.resolve_key(key_hash)
        if owner is None:
            raise ApiError(401, "unauthorized", "invalid API key")
        return AuthenticationResult(
            user=Principal(is_admin=False, tenant_id=owner.tenant_id, key_id=owner.key_id, key_hash=key_hash),
            auth=None,
        )


def _known_without_io(state: GatewayState, connection: ASGIConnection[Any, Any, Any, Any]) -> bool:
    """Whether the request carries the admin key or a key in the cache (checked with no I/O)."""
    key = presented_key(connection)
    if key is None or not looks_like_key(key):
        return False
    admin_key = state.settings.admin_key
    if admin_key is not None and same_key(key, admin_key.get_secret_value()):
        return True
    return is_tenant_key(key) and state.key_cache.get(hash_key(key)) is not None


def _preflight(connection: ASGIConnection[Any, Any, Any, Any]) -> bool:
    """An OPTIONS request: never authenticated (browsers send no key with a preflight), and its
    answer (the route's methods in ``Allow``) reveals nothing a guard protects."""
    return connection.scope.get("method") == "OPTIONS"


async def admin_only(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard: only the admin key (async: Litestar would run a sync guard in a thread)."""
    if _preflight(connection):
        return
    if not connection.user.is_admin:
        raise ApiError(403, "forbidden", "this route needs the admin key")


async def tenant_only(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard: only a tenant key (the admin acts on tenants through the tenant routes)."""
    if _preflight(connection):
        return
    if connection.user.is_admin:
        raise ApiError(403, "forbidden", "this route needs a tenant API key")
