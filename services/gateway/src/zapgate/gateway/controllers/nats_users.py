"""Admin: a tenant's NATS users, for services that talk to zapgate over NATS as that tenant."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from litestar import Controller, Request, delete, get, post
from litestar.params import JSONBody, PathParameter
from pydantic import Field

from zapgate.common import permissions, subjects
from zapgate.common.ids import ID_PATTERN
from zapgate.gateway.adapters.nats_users import user_name
from zapgate.gateway.adapters.tables import NatsUserRow
from zapgate.gateway.auth import admin_only
from zapgate.gateway.controllers.tenants import TenantId, visible_tenant
from zapgate.gateway.domain.principal import Principal
from zapgate.gateway.errors import ApiError, error_responses
from zapgate.gateway.openapi import OptionalBodyOperation
from zapgate.gateway.schemas import Request as RequestBody
from zapgate.gateway.schemas import Response
from zapgate.gateway.state import GatewayDep

UserId = Annotated[str, PathParameter(description="NATS user id (ULID)", pattern=ID_PATTERN)]


class NatsUserCreate(RequestBody):
    """What the new user is for (optional)."""

    description: str | None = Field(None, max_length=200)


class NatsUser(Response):
    """A tenant's NATS user as listed: never its password."""

    id: str
    user: str = Field(description="The name it connects with")
    description: str | None
    created_at: datetime


class NatsUserCreated(NatsUser):
    """A new NATS user with its password (shown only this once) and what it may do."""

    password: str
    inbox_prefix: str = Field(description="The inbox prefix its client must use (replies come there)")
    publish: list[str] = Field(description="Subjects it may publish to")
    subscribe: list[str] = Field(description="Subjects it may subscribe to")


def to_user(row: NatsUserRow) -> NatsUser:
    """Row to response body."""
    return NatsUser(id=row.id, user=user_name(row.id), description=row.description, created_at=row.created_at)


class NatsUserController(Controller):
    """``/api/v1/tenants/{tenant_id}/nats-users``."""

    path = "/api/v1/tenants/{tenant_id:str}/nats-users"
    tags = ["tenants"]
    guards = [admin_only]

    @post(
        "/",
        status_code=201,
        responses=error_responses(401, 403, 404, 422),
        operation_class=OptionalBodyOperation,
    )
    async def create_nats_user(
        self, tenant_id: TenantId, gateway: GatewayDep, request: Request[Principal, Any, Any],
        data: JSONBody[NatsUserCreate | None] = None,
    ) -> NatsUserCreated:  # fmt: skip
        """Admin: issue a NATS user for the tenant. It may publish only the tenant's ingress
        requests (``zg.in.<tenant>.>``) and subscribe only to the tenant's events and its own
        inbox; nats-server asks the gateway about it at each connection (auth callout)."""
        await visible_tenant(gateway, request.user, tenant_id)
        issued = await gateway.nats_users.issue(tenant_id, data.description if data else None)
        perms = permissions.tenant_permissions(tenant_id)
        return NatsUserCreated(
            **to_user(issued.row).model_dump(), password=issued.password,
            inbox_prefix=subjects.tenant_inbox(tenant_id), publish=perms.publish, subscribe=perms.subscribe,
        )  # fmt: skip

    @get("/", responses=error_responses(401, 403, 404))
    async def list_nats_users(
        self, tenant_id: TenantId, gateway: GatewayDep, request: Request[Principal, Any, Any]
    ) -> list[NatsUser]:
        """Admin: the tenant's NATS users that are not revoked."""
        await visible_tenant(gateway, request.user, tenant_id)
        return [to_user(row) for row in await gateway.nats_users.live(tenant_id)]

    @delete("/{user_id:str}", status_code=204, responses=error_responses(401, 403, 404))
    async def revoke_nats_user(
        self, tenant_id: TenantId, user_id: UserId, gateway: GatewayDep, request: Request[Principal, Any, Any]
    ) -> None:
        """Admin: revoke a NATS user. New connections are refused at once; one already open
        keeps its rights until its authorization expires (``ZAPGATE_NATS_TENANT_TTL``)."""
        await visible_tenant(gateway, request.user, tenant_id)
        if not await gateway.nats_users.revoke(tenant_id, user_id):
            raise ApiError(404, "not_found", f"NATS user {user_id} not found")
