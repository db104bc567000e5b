"""Authentication (API keys in ``X-Api-Key`` or ``Authorization: Bearer``) and authorization guards."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from litestar.connection import ASGIConnection
from litestar.enums import ScopeType
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

from zapgate.gateway.adapters.repository import KeyOwner
from zapgate.gateway.domain.api_keys import hash_key, looks_like_key, same_key
from zapgate.gateway.domain.principal import ADMIN, Principal
from zapgate.gateway.errors import ApiError

if TYPE_CHECKING:
    from zapgate.gateway.state import GatewayState

PUBLIC_PATHS = {"/health", "/ready", "/openapi.json", "/openapi.yaml", "/openapi.yml", "/docs"}
MAX_CACHED_KEYS = 10_000


class KeyCache:
    """Verified keys for a short time, so a request does not always cost a database round trip.

    Revocations evict at once here and, through NATS, on every other gateway replica.
    """

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._entries: dict[str, tuple[KeyOwner, float]] = {}

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
        """Remember a verified key."""
        if self.ttl <= 0:
            return
        if len(self._entries) >= MAX_CACHED_KEYS:
            self._entries.clear()
        self._entries[key_hash] = (owner, time.monotonic() + self.ttl)

    def evict(self, key_hash: str) -> None:
        """Forget a key (revoked)."""
        self._entries.pop(key_hash, None)


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
    """Resolves the caller to a Principal, or answers 401."""

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        """Look the key up: the admin key first, then the tenant keys."""
        state: GatewayState = connection.app.state.gateway
        ticket = (
            connection.query_params.get("ticket") if connection.scope["type"] == ScopeType.WEBSOCKET else None
        )
        if ticket is not None and presented_key(connection) is None:
            tenant = await state.tickets.redeem(ticket)
            if tenant is None:
                raise ApiError(401, "unauthorized", "invalid, expired or already used ticket")
            return AuthenticationResult(user=Principal(is_admin=False, tenant_id=tenant), auth=None)
        key = presented_key(connection)
        if key is None:
            raise ApiError(401, "unauthorized", "missing API key: send X-Api-Key or Authorization: Bearer")
        if not looks_like_key(key):
            raise ApiError(401, "unauthorized", "invalid API key")
        admin_key = state.settings.admin_key
        if admin_key is not None and same_key(key, admin_key.get_secret_value()):
            return AuthenticationResult(user=ADMIN, auth=None)
        owner = await state.resolve_key(hash_key(key))
        if owner is None:
            raise ApiError(401, "unauthorized", "invalid API key")
        return AuthenticationResult(
            user=Principal(is_admin=False, tenant_id=owner.tenant_id, key_id=owner.key_id), auth=None
        )


async def admin_only(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard: only the admin key (async: Litestar would run a sync guard in a thread)."""
    if not connection.user.is_admin:
        raise ApiError(403, "forbidden", "this route needs the admin key")


async def tenant_only(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard: only a tenant key (the admin acts on tenants through the tenant routes)."""
    if connection.user.is_admin:
        raise ApiError(403, "forbidden", "this route needs a tenant API key")
