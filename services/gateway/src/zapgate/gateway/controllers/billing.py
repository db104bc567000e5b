"""Plans, subscriptions and a tenant's billing: a facade over the billing service."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, delete, get, patch, post
from litestar.params import JSONBody, PathParameter

from zapgate.common.billing import (
    AssignPlan,
    ExtendTrial,
    PlanCreate,
    PlanPage,
    PlanUpdate,
    PlanView,
    SubscriptionView,
)
from zapgate.common.ids import ID_PATTERN
from zapgate.gateway.auth import admin_only, tenant_only
from zapgate.gateway.controllers.sessions import TenantRequest, tenant_of
from zapgate.gateway.controllers.tenants import TenantId, visible_tenant
from zapgate.gateway.domain.principal import Principal
from zapgate.gateway.errors import error_responses
from zapgate.gateway.state import GatewayDep, GatewayState

PlanId = Annotated[str, PathParameter(description="Plan id", pattern=ID_PATTERN)]


async def subscription(
    gateway: GatewayState, tenant: str, op: str = "subscriptions.get", **args: Any
) -> SubscriptionView:
    """A tenant's subscription as billing has it, with the session count the gateway knows."""
    sessions = (await gateway.quotas.usage(tenant)).sessions
    return SubscriptionView.model_validate(
        await gateway.billing.call(op, tenant, {**args, "sessions": sessions})
    )


class PlanController(Controller):
    """``/api/v1/plans`` (admin): price in BRL cents per monthly period, limits, trial days."""

    path = "/api/v1/plans"
    tags = ["billing"]
    guards = [admin_only]

    @get("/", responses=error_responses(401, 403, parameters=False))
    async def list_plans(self, gateway: GatewayDep) -> PlanPage:
        """Every plan, by price."""
        return PlanPage.model_validate(await gateway.billing.call("plans.list", "admin"))

    @post("/", status_code=201, responses=error_responses(401, 403, 409, 422))
    async def create_plan(self, data: JSONBody[PlanCreate], gateway: GatewayDep) -> PlanView:
        """A new plan; 409 if the name is taken. ``is_default`` makes new tenants start on it."""
        return PlanView.model_validate(
            await gateway.billing.call("plans.create", "admin", data.model_dump(mode="json"))
        )

    @patch("/{plan_id:str}", responses=error_responses(401, 403, 404, 422))
    async def update_plan(self, plan_id: PlanId, data: JSONBody[PlanUpdate], gateway: GatewayDep) -> PlanView:
        """Change a plan; tenants on it get the new limits at once."""
        args = {"plan_id": plan_id, "body": data.model_dump(mode="json", exclude_unset=True)}
        return PlanView.model_validate(await gateway.billing.call("plans.update", "admin", args))

    @delete("/{plan_id:str}", status_code=204, responses=error_responses(401, 403, 404, 409))
    async def delete_plan(self, plan_id: PlanId, gateway: GatewayDep) -> None:
        """Delete a plan no tenant is on (the default plan stays)."""
        await gateway.billing.call("plans.delete", "admin", {"plan_id": plan_id})


class SubscriptionController(Controller):
    """``/api/v1/tenants/{tenant_id}/subscription`` (admin): a tenant's plan and trial."""

    path = "/api/v1/tenants/{tenant_id:str}/subscription"
    tags = ["billing"]
    guards = [admin_only]

    @get("/", responses=error_responses(401, 403, 404))
    async def get_subscription(
        self, tenant_id: TenantId, gateway: GatewayDep, request: Request[Principal, Any, Any]
    ) -> SubscriptionView:
        """The tenant's plan, status, period, usage and history."""
        await visible_tenant(gateway, request.user, tenant_id)
        return await subscription(gateway, tenant_id)

    @post("/plan", status_code=200, responses=error_responses(401, 403, 404, 422))
    async def assign_plan(
        self,
        tenant_id: TenantId,
        data: JSONBody[AssignPlan],
        gateway: GatewayDep,
        request: Request[Principal, Any, Any],
    ) -> SubscriptionView:
        """Move the tenant to a plan; its status and period are kept."""
        await visible_tenant(gateway, request.user, tenant_id)
        return await subscription(gateway, tenant_id, "subscriptions.assign", plan_id=data.plan_id)

    @post("/extend-trial", status_code=200, responses=error_responses(401, 403, 404, 409, 422))
    async def extend_trial(
        self,
        tenant_id: TenantId,
        data: JSONBody[ExtendTrial],
        gateway: GatewayDep,
        request: Request[Principal, Any, Any],
    ) -> SubscriptionView:
        """Give the tenant more trial days (a past-due or suspended trial is trialing again)."""
        await visible_tenant(gateway, request.user, tenant_id)
        return await subscription(gateway, tenant_id, "subscriptions.extend_trial", days=data.days)

    @post("/cancel", status_code=200, responses=error_responses(401, 403, 404))
    async def cancel(
        self, tenant_id: TenantId, gateway: GatewayDep, request: Request[Principal, Any, Any]
    ) -> SubscriptionView:
        """Cancel the subscription (nothing is deleted)."""
        await visible_tenant(gateway, request.user, tenant_id)
        return await subscription(gateway, tenant_id, "subscriptions.cancel")


class BillingController(Controller):
    """``GET /api/v1/billing``: the calling tenant's plan, status, period and usage."""

    path = "/api/v1/billing"
    tags = ["billing"]
    guards = [tenant_only]

    @get("/", responses=error_responses(401, 403, parameters=False))
    async def get_billing(self, gateway: GatewayDep, request: TenantRequest) -> SubscriptionView:
        """The plan, the subscription's status and period, usage against the plan's limits
        (messages this period, sessions now) and the history of changes. A new tenant is on a
        trial of the default plan."""
        return await subscription(gateway, tenant_of(request))
