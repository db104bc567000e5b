"""Tenants and their API keys."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from litestar import Controller, Request, delete, get, post, put
from litestar.params import JSONBody, PathParameter, QueryParameter

from zapgate.common.ids import ID_PATTERN
from zapgate.gateway.adapters.repository import NameTaken
from zapgate.gateway.adapters.tables import TenantRow
from zapgate.gateway.auth import admin_only
from zapgate.gateway.domain.principal import Principal
from zapgate.gateway.errors import ApiError, error_responses
from zapgate.gateway.schemas import (
    ApiKey,
    ApiKeyCreated,
    QuotaLimits,
    QuotaOverrides,
    QuotaUsage,
    Tenant,
    TenantCreate,
    TenantCreated,
    TenantQuotas,
)
from zapgate.gateway.state import GatewayDep, GatewayState

log = logging.getLogger(__name__)

TenantId = Annotated[str, PathParameter(description="Tenant id (ULID)", pattern=ID_PATTERN)]
KeyId = Annotated[str, PathParameter(description="API key id (ULID)", pattern=ID_PATTERN)]


def to_tenant(row: TenantRow) -> Tenant:
    """Row to response body."""
    return Tenant(id=row.id, name=row.name, status=row.status, created_at=row.created_at)


async def start_billing(gateway: GatewayState, tenant_id: str) -> None:
    """Tell billing a tenant exists, so its trial starts now (billing also starts it the first
    time it hears of the tenant otherwise: an absent billing never fails a tenant's creation)."""
    try:
        await gateway.billing.call("subscriptions.ensure", tenant_id)
    except Exception as exc:
        log.info(
            "billing not told of tenant %s yet (%s); it starts the trial when it hears of it", tenant_id, exc
        )


async def visible_tenant(gateway: GatewayDep, principal: Principal, tenant_id: str) -> TenantRow:
    """The tenant if the caller may see it; 404 otherwise, so ids of others do not leak."""
    row = await gateway.tenants.get_tenant(tenant_id) if principal.can_see_tenant(tenant_id) else None
    if row is None:
        raise ApiError(404, "not_found", f"tenant {tenant_id} not found")
    return row


async def quotas_of(gateway: GatewayDep, tenant_id: str) -> TenantQuotas:
    """The tenant's quotas, overrides and usage."""
    overrides = await gateway.quotas.overrides(tenant_id) or {}
    limits = gateway.quotas.defaults.with_overrides(overrides)
    usage = await gateway.quotas.usage(tenant_id)
    return TenantQuotas(
        limits=QuotaLimits(**limits.as_dict()),
        overrides=overrides,
        usage=QuotaUsage(sessions=usage.sessions, api_keys=usage.api_keys, media_bytes=usage.media_bytes),
    )


class TenantController(Controller):
    """Admin manages tenants; a tenant may read itself and manage its own keys."""

    path = "/api/v1/tenants"
    tags = ["tenants"]

    @post("/", guards=[admin_only], status_code=201, responses=error_responses(401, 403, 409, 422))
    async def create_tenant(self, data: JSONBody[TenantCreate], gateway: GatewayDep) -> TenantCreated:
        """Create a tenant and its first API key (shown once)."""
        try:
            row, key = await gateway.tenants.create_tenant(data.name)
        except NameTaken:
            raise ApiError(409, "conflict", f"a tenant named {data.name!r} exists already") from None
        gateway.spawn(start_billing(gateway, row.id))
        return TenantCreated(**to_tenant(row).model_dump(), api_key=key.api_key, api_key_id=key.id)

    @get("/", guards=[admin_only], responses=error_responses(401, 403, 422))
    async def list_tenants(
        self,
        gateway: GatewayDep,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
        after: Annotated[
            str | None,
            QueryParameter(pattern=ID_PATTERN, description="Cursor: the last id of the previous page"),
        ] = None,
    ) -> list[Tenant]:
        """Tenants in creation order."""
        return [to_tenant(row) for row in await gateway.tenants.list_tenants(limit, after)]

    @get("/{tenant_id:str}", responses=error_responses(401, 404))
    async def get_tenant(
        self, tenant_id: TenantId, gateway: GatewayDep, request: Request[Principal, Any, Any]
    ) -> Tenant:
        """One tenant (admin, or the tenant itself)."""
        return to_tenant(await visible_tenant(gateway, request.user, tenant_id))

    @get("/{tenant_id:str}/quotas", responses=error_responses(401, 404))
    async def get_quotas(
        self, tenant_id: TenantId, gateway: GatewayDep, request: Request[Principal, Any, Any]
    ) -> TenantQuotas:
        """The tenant's quotas and what it uses of them (admin, or the tenant itself)."""
        await visible_tenant(gateway, request.user, tenant_id)
        return await quotas_of(gateway, tenant_id)

    @put("/{tenant_id:str}/quotas", guards=[admin_only], responses=error_responses(401, 403, 404, 422))
    async def set_quotas(
        self, tenant_id: TenantId, data: JSONBody[QuotaOverrides], gateway: GatewayDep,
        request: Request[Principal, Any, Any],
    ) -> TenantQuotas:  # fmt: skip
        """Admin: set the tenant's own quotas over the defaults. Lowering one below the usage
        refuses only new sessions, keys or media; nothing existing is removed."""
        await visible_tenant(gateway, request.user, tenant_id)
        await gateway.quotas.set_overrides(tenant_id, data.model_dump(exclude_unset=True))
        return await quotas_of(gateway, tenant_id)

    @post("/{tenant_id:str}/api-keys", status_code=201, responses=error_responses(401, 403, 404))
    async def create_api_key(
        self, tenant_id: TenantId, gateway: GatewayDep, request: Request[Principal, Any, Any]
    ) -> ApiKeyCreated:
        """Issue another key for the tenant (shown once); 403 ``quota_exceeded`` past its api_keys quota."""
        await visible_tenant(gateway, request.user, tenant_id)
        key = await gateway.tenants.issue_key(tenant_id)
        return ApiKeyCreated(id=key.id, api_key=key.api_key, prefix=key.prefix, created_at=key.created_at)

    @get("/{tenant_id:str}/api-keys", responses=error_responses(401, 404))
    async def list_api_keys(
        self, tenant_id: TenantId, gateway: GatewayDep, request: Request[Principal, Any, Any]
    ) -> list[ApiKey]:
        """The tenant's live keys (ids and prefixes only)."""
        await visible_tenant(gateway, request.user, tenant_id)
        rows = await gateway.tenants.list_keys(tenant_id)
        return [ApiKey(id=r.id, prefix=r.prefix, created_at=r.created_at) for r in rows]

    @delete("/{tenant_id:str}/api-keys/{key_id:str}", status_code=204, responses=error_responses(401, 404))
    async def revoke_api_key(
        self, tenant_id: TenantId, key_id: KeyId, gateway: GatewayDep, request: Request[Principal, Any, Any]
    ) -> None:
        """Revoke a key; it gets 401 from then on, on every gateway replica."""
        await visible_tenant(gateway, request.user, tenant_id)
        if not await gateway.revoke_key(tenant_id, key_id):
            raise ApiError(404, "not_found", f"API key {key_id} not found")
