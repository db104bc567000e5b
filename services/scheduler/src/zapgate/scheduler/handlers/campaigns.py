"""The campaign operations the gateway's REST routes forward (thin: validate, store, answer)."""

from __future__ import annotations

from typing import Any

from zapgate.common.clock import Clock
from zapgate.common.ids import new_id
from zapgate.common.rpc import Handler, RpcError, invalid, not_found
from zapgate.common.scheduling import (
    CampaignCreate,
    CampaignPage,
    CampaignProgress,
    CampaignView,
    Recipient,
    RecipientPage,
    SendingWindow,
    Throttle,
)
from zapgate.scheduler.adapters.campaign_store import CampaignStore
from zapgate.scheduler.adapters.store import Store
from zapgate.scheduler.adapters.tables import CampaignRow
from zapgate.scheduler.domain import recurrence, templates
from zapgate.scheduler.handlers.api import arg_id


def view(row: CampaignRow, progress: CampaignProgress) -> CampaignView:
    """A campaign as the API shows it."""
    return CampaignView(
        id=row.id, name=row.name, state=row.state, reason=row.reason, list_id=row.list_id,
        tags=row.tags, message=row.message, template_id=row.template_id, variables=row.variables,
        sessions=row.sessions, start_at=row.start_at, throttle=Throttle.model_validate(row.throttle),
        window=SendingWindow.model_validate(row.window) if row.window else None, progress=progress,
        created_at=row.created_at, started_at=row.started_at, completed_at=row.completed_at,
    )  # fmt: skip


class CampaignApi:
    """Create, read, start, pause, resume, cancel, delete; recipients."""

    def __init__(self, store: Store, campaigns: CampaignStore, clock: Clock) -> None:
        self.store = store
        self.campaigns = campaigns
        self.clock = clock

    def ops(self) -> dict[str, Handler]:
        """Operation name to handler."""
        return {
            "campaigns.create": self.create, "campaigns.list": self.list, "campaigns.get": self.get,
            "campaigns.start": self.start, "campaigns.pause": self.pause, "campaigns.resume": self.resume,
            "campaigns.cancel": self.cancel, "campaigns.delete": self.delete,
            "campaigns.recipients": self.recipients,
        }  # fmt: skip

    async def create(self, tenant: str, args: dict[str, Any]) -> Any:
        body = CampaignCreate.model_validate(args)
        if body.window is not None:
            try:
                recurrence.zone(body.window.timezone)
            except recurrence.BadTiming as exc:
                raise invalid(str(exc), "window.timezone") from None
        if await self.store.get_list(tenant, body.list_id) is None:
            raise invalid(f"contact list {body.list_id!r} not found", "list_id")
        message, defaults = body.message, {}
        if body.template_id is not None:
            template = await self.store.template(tenant, body.template_id)
            if template is None:
                raise invalid(f"template {body.template_id!r} not found", "template_id")
            message, defaults = template.message, template.defaults
        assert message is not None
        known = {**defaults, **body.variables, "name": "x", "first_name": "x", "phone": "x"}
        known.update(dict.fromkeys(await self.store.field_names(tenant, body.list_id), "x"))
        missing = templates.missing(message, known)
        if missing:
            raise invalid(
                f"no value for {', '.join('{{' + m + '}}' for m in missing)}: no member has the field and "
                "neither the variables nor the template's defaults give it",
                "variables",
            )
        now = self.clock()
        row = CampaignRow(
            id=new_id(), tenant_id=tenant, name=body.name, state="draft", list_id=body.list_id, tags=body.tags,
            message=body.message, template_id=body.template_id, variables=dict(body.variables),
            sessions=list(body.sessions), start_at=body.start_at, throttle=body.throttle.model_dump(mode="json"),
            window=body.window.model_dump(mode="json") if body.window else None, created_at=now, updated_at=now,
        )  # fmt: skip
        await self.campaigns.add(row)
        return view(row, templates_progress_empty())

    async def _get(self, tenant: str, args: dict[str, Any]) -> Any:
        found = await self.campaigns.get(tenant, arg_id(args, "campaign_id"))
        if found is None:
            raise not_found(f"campaign {args['campaign_id']!r}")
        return found

    async def list(self, tenant: str, args: dict[str, Any]) -> Any:
        return CampaignPage(items=[view(r, p) for r, p in await self.campaigns.all(tenant)])

    async def get(self, tenant: str, args: dict[str, Any]) -> Any:
        return view(*await self._get(tenant, args))

    async def _move(
        self, tenant: str, args: dict[str, Any], allowed: tuple[str, ...], values: dict[str, Any]
    ) -> Any:
        campaign_id = arg_id(args, "campaign_id")
        row, state = await self.campaigns.transition(tenant, campaign_id, allowed, values, self.clock())
        if row is None:
            raise not_found(f"campaign {campaign_id!r}")
        if state is not None:
            raise RpcError(409, "conflict", f"the campaign is {state}; this needs it {' or '.join(allowed)}")
        return view(*await self._get(tenant, args))

    async def start(self, tenant: str, args: dict[str, Any]) -> Any:
        return await self._move(tenant, args, ("draft",), {"state": "scheduled", "reason": None})

    async def pause(self, tenant: str, args: dict[str, Any]) -> Any:
        return await self._move(
            tenant, args, ("scheduled", "running"), {"state": "paused", "reason": "paused by the API"}
        )

    async def resume(self, tenant: str, args: dict[str, Any]) -> Any:
        found = await self._get(tenant, args)
        state = "running" if found[0].started_at is not None else "scheduled"
        return await self._move(tenant, args, ("paused",), {"state": state, "reason": None})

    async def cancel(self, tenant: str, args: dict[str, Any]) -> Any:
        values = {"state": "cancelled", "reason": "cancelled by the API", "completed_at": self.clock()}
        return await self._move(tenant, args, ("draft", "scheduled", "running", "paused"), values)

    async def delete(self, tenant: str, args: dict[str, Any]) -> Any:
        row, _ = await self._get(tenant, args)
        if row.state in ("scheduled", "running", "paused"):
            raise RpcError(409, "conflict", f"the campaign is {row.state}; cancel it first")
        await self.campaigns.delete(tenant, row.id)
        return {"deleted": True}

    async def recipients(self, tenant: str, args: dict[str, Any]) -> Any:
        row, _ = await self._get(tenant, args)
        limit = max(1, min(int(args.get("limit") or 100), 1000))
        after = int(args.get("after") or -1)
        status = args.get("status") if isinstance(args.get("status"), str) else None
        rows = await self.campaigns.recipients(tenant, row.id, status, after, limit + 1)
        page = rows[:limit]
        items = [
            Recipient(to=d.chat, session=d.session, status=d.status, reason=d.reason, message_id=d.message_id,
                      replied=d.replied_at is not None, updated_at=d.updated_at)
            for d in page
        ]  # fmt: skip
        return RecipientPage(items=items, next=page[-1].seq if len(rows) > limit else None)


def templates_progress_empty() -> CampaignProgress:
    """The progress of a campaign that has not started."""
    return CampaignProgress(
        total=0,
        pending=0,
        queued=0,
        sent=0,
        delivered=0,
        read=0,
        failed=0,
        skipped=0,
        skipped_reasons={},
        replies=0,
    )
