"""Campaigns: a facade over the scheduler, which owns and runs them."""

from __future__ import annotations

from typing import Annotated, Literal

from litestar import Controller, delete, get, post
from litestar.params import JSONBody, PathParameter, QueryParameter

from zapgate.common.ids import ID_PATTERN
from zapgate.common.scheduling import CampaignCreate, CampaignPage, CampaignView, RecipientPage
from zapgate.gateway.auth import tenant_only
from zapgate.gateway.controllers.schedules import check_message
from zapgate.gateway.controllers.sessions import TenantRequest, tenant_of
from zapgate.gateway.errors import error_responses
from zapgate.gateway.lifecycle import existing
from zapgate.gateway.state import GatewayDep

CampaignId = Annotated[str, PathParameter(description="Campaign id", pattern=ID_PATTERN)]
RecipientStatus = Literal["pending", "queued", "sent", "delivered", "read", "played", "failed", "skipped"]


class CampaignController(Controller):
    """``/api/v1/campaigns``: a message to a contact list through one or several sessions,
    throttled per session, inside a sending window, with live progress."""

    path = "/api/v1/campaigns"
    tags = ["scheduling"]
    guards = [tenant_only]

    @post("/", status_code=201, responses=error_responses(401, 403, 404, 422))
    async def create_campaign(
        self, data: JSONBody[CampaignCreate], gateway: GatewayDep, request: TenantRequest
    ) -> CampaignView:
        """A campaign in ``draft``; ``POST .../start`` sends it (at ``start_at`` if given).

        Recipients are the list's members (with any of ``tags``) minus the suppressed, spread over
        ``sessions`` in turn; each session sends at most ``throttle.per_minute``, with a random gap
        from the delay range, up to ``daily_cap`` a day, inside ``window``. A quota or plan limit
        reached pauses the campaign with the reason. 404 if a session does not exist.
        """
        tenant = tenant_of(request)
        for session in data.sessions:
            await existing(gateway, tenant, session)
        if data.message is not None:
            check_message(data.message)
        return CampaignView.model_validate(
            await gateway.scheduler.call("campaigns.create", tenant, data.model_dump(mode="json"))
        )

    @get("/", responses=error_responses(401, 403, parameters=False))
    async def list_campaigns(self, gateway: GatewayDep, request: TenantRequest) -> CampaignPage:
        """The tenant's campaigns with their progress, newest first."""
        return CampaignPage.model_validate(await gateway.scheduler.call("campaigns.list", tenant_of(request)))

    @get("/{campaign_id:str}", responses=error_responses(401, 403, 404))
    async def get_campaign(
        self, campaign_id: CampaignId, gateway: GatewayDep, request: TenantRequest
    ) -> CampaignView:
        """One campaign: state (and why, when paused), progress by status, replies."""
        result = await gateway.scheduler.call(
            "campaigns.get", tenant_of(request), {"campaign_id": campaign_id}
        )
        return CampaignView.model_validate(result)

    async def _move(
        self, op: str, campaign_id: str, gateway: GatewayDep, request: TenantRequest
    ) -> CampaignView:
        result = await gateway.scheduler.call(op, tenant_of(request), {"campaign_id": campaign_id})
        return CampaignView.model_validate(result)

    @post("/{campaign_id:str}/start", status_code=200, responses=error_responses(401, 403, 404, 409))
    async def start_campaign(
        self, campaign_id: CampaignId, gateway: GatewayDep, request: TenantRequest
    ) -> CampaignView:
        """``draft`` to ``scheduled``; it runs at ``start_at`` (or at once)."""
        return await self._move("campaigns.start", campaign_id, gateway, request)

    @post("/{campaign_id:str}/pause", status_code=200, responses=error_responses(401, 403, 404, 409))
    async def pause_campaign(
        self, campaign_id: CampaignId, gateway: GatewayDep, request: TenantRequest
    ) -> CampaignView:
        """Stop sending; what is not sent stays pending."""
        return await self._move("campaigns.pause", campaign_id, gateway, request)

    @post("/{campaign_id:str}/resume", status_code=200, responses=error_responses(401, 403, 404, 409))
    async def resume_campaign(
        self, campaign_id: CampaignId, gateway: GatewayDep, request: TenantRequest
    ) -> CampaignView:
        """Send again (after a pause by the API or by a quota that was raised)."""
        return await self._move("campaigns.resume", campaign_id, gateway, request)

    @post("/{campaign_id:str}/cancel", status_code=200, responses=error_responses(401, 403, 404, 409))
    async def cancel_campaign(
        self, campaign_id: CampaignId, gateway: GatewayDep, request: TenantRequest
    ) -> CampaignView:
        """End the campaign; recipients not sent to are skipped (``cancelled``)."""
        return await self._move("campaigns.cancel", campaign_id, gateway, request)

    @delete("/{campaign_id:str}", status_code=204, responses=error_responses(401, 403, 404, 409))
    async def delete_campaign(
        self, campaign_id: CampaignId, gateway: GatewayDep, request: TenantRequest
    ) -> None:
        """Delete a draft, completed or cancelled campaign; sent messages stay in the history."""
        await gateway.scheduler.call("campaigns.delete", tenant_of(request), {"campaign_id": campaign_id})

    @get("/{campaign_id:str}/recipients", responses=error_responses(401, 403, 404))
    async def campaign_recipients(
        self, campaign_id: CampaignId, gateway: GatewayDep, request: TenantRequest,
        status: Annotated[RecipientStatus | None, QueryParameter()] = None,
        after: Annotated[int | None, QueryParameter(ge=-1, le=10_000_000, description="`next` of the previous page")] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
    ) -> RecipientPage:  # fmt: skip
        """Recipients in list order: session, status (or why skipped), message id, replied."""
        args = {"campaign_id": campaign_id, "status": status, "after": after, "limit": limit}
        return RecipientPage.model_validate(
            await gateway.scheduler.call("campaigns.recipients", tenant_of(request), args)
        )
