"""The calling tenant."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get

from zapgate.gateway.auth import tenant_only
from zapgate.gateway.controllers.tenants import to_tenant, visible_tenant
from zapgate.gateway.domain.principal import Principal
from zapgate.gateway.errors import error_responses
from zapgate.gateway.schemas import Tenant
from zapgate.gateway.state import GatewayDep


class MeController(Controller):
    """``GET /api/v1/me``."""

    path = "/api/v1/me"
    tags = ["tenants"]

    @get("/", guards=[tenant_only], responses=error_responses(401, 403, parameters=False))
    async def get_me(self, gateway: GatewayDep, request: Request[Principal, Any, Any]) -> Tenant:
        """The tenant that owns the key."""
        principal = request.user
        assert principal.tenant_id is not None
        return to_tenant(await visible_tenant(gateway, principal, principal.tenant_id))
