"""Billing's request/reply operations, which the gateway's REST routes forward (thin)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from zapgate.billing.adapters.store import PlanInUse, Store
from zapgate.billing.adapters.tables import PlanRow, SubscriptionRow
from zapgate.billing.domain import lifecycle
from zapgate.common.billing import (
    AssignPlan,
    ExtendTrial,
    HistoryItem,
    PlanCreate,
    PlanPage,
    PlanUpdate,
    PlanView,
    SubscriptionView,
    Usage,
)
from zapgate.common.clock import Clock
from zapgate.common.ids import ID_PATTERN
from zapgate.common.rpc import Handler, RpcError, invalid, not_found


def plan_view(row: PlanRow) -> PlanView:
    """A plan as the API shows it."""
    return PlanView(
        id=row.id, name=row.name, price_cents=row.price_cents, period="monthly", sessions_limit=row.sessions_limit,
        messages_limit=row.messages_limit, trial_days=row.trial_days, is_default=row.is_default,
    )  # fmt: skip


def _plan_id(args: dict[str, Any]) -> str:
    value = args.get("plan_id")
    if not isinstance(value, str) or not re.fullmatch(ID_PATTERN, value):
        raise RpcError(
            422,
            "validation_error",
            "plan_id is not an id",
            [{"key": "plan_id", "message": "not an id", "source": "path"}],
        )
    return value


def _own(args: dict[str, Any]) -> dict[str, Any]:
    """An operation's own arguments, without the session count the gateway adds to each."""
    return {k: v for k, v in args.items() if k != "sessions"}


class Api:
    """Plans (admin), subscriptions (admin) and a tenant's own billing."""

    def __init__(self, store: Store, clock: Clock, grace_days: int, on_change: Any) -> None:
        self.store = store
        self.clock = clock
        self.grace = timedelta(days=grace_days)
        self.on_change = on_change
        self.default: PlanRow | None = None

    def ops(self) -> dict[str, Handler]:
        """Operation name to handler."""
        return {
            "plans.list": self.list_plans, "plans.create": self.create_plan, "plans.update": self.update_plan,
            "plans.delete": self.delete_plan, "subscriptions.get": self.get, "subscriptions.ensure": self.ensure,
            "subscriptions.assign": self.assign, "subscriptions.extend_trial": self.extend_trial,
            "subscriptions.cancel": self.cancel,
        }  # fmt: skip

    async def list_plans(self, tenant: str, args: dict[str, Any]) -> Any:
        return PlanPage(items=[plan_view(p) for p in await self.store.plans()])

    async def create_plan(self, tenant: str, args: dict[str, Any]) -> Any:
        body = PlanCreate.model_validate(args)
        row = await self.store.add_plan({**body.model_dump(), "period": "monthly"})
        if row is None:
            raise RpcError(409, "conflict", f"a plan named {body.name!r} exists")
        return plan_view(row)

    async def update_plan(self, tenant: str, args: dict[str, Any]) -> Any:
        plan_id = _plan_id(args)
        body = PlanUpdate.model_validate(args.get("body") or {})
        row = await self.store.change_plan(plan_id, body.model_dump(exclude_unset=True))
        if row is None:
            raise not_found(f"plan {plan_id!r}")
        self.on_change(None)
        return plan_view(row)

    async def delete_plan(self, tenant: str, args: dict[str, Any]) -> Any:
        plan_id = _plan_id(args)
        try:
            if not await self.store.delete_plan(plan_id):
                raise not_found(f"plan {plan_id!r} (the default plan cannot be deleted)")
        except PlanInUse:
            raise RpcError(409, "conflict", "tenants are on this plan; move them first") from None
        return {"deleted": True}

    async def _subscription(self, tenant: str) -> SubscriptionRow:
        sub = await self.store.subscription(tenant)
        if sub is None:
            assert self.default is not None
            sub = await self.store.ensure(tenant, self.default, self.clock())
            self.on_change(tenant)
        return sub

    async def ensure(self, tenant: str, args: dict[str, Any]) -> Any:
        await self._subscription(tenant)
        return await self.get(tenant, args)

    async def get(self, tenant: str, args: dict[str, Any]) -> Any:
        sub = await self._subscription(tenant)
        plan = await self.store.plan(sub.plan_id)
        assert plan is not None
        used = await self.store.used(tenant, sub.period_start)
        sessions = args.get("sessions")
        status = lifecycle.current(
            lifecycle.Subscription(sub.status, sub.period_start, sub.period_end), self.clock(), self.grace
        ).status if sub.status != lifecycle.CANCELLED else sub.status  # fmt: skip
        return SubscriptionView(
            tenant=tenant, status=status, plan=plan_view(plan),
            period_start=sub.period_start, period_end=sub.period_end,
            usage=Usage(messages=used, messages_limit=plan.messages_limit,
                        sessions=sessions if isinstance(sessions, int) else None, sessions_limit=plan.sessions_limit),
            history=[HistoryItem(at=h.at, change=h.change, status=h.status, plan_id=h.plan_id, note=h.note)
                     for h in await self.store.history(tenant)],
        )  # fmt: skip

    async def assign(self, tenant: str, args: dict[str, Any]) -> Any:
        body = AssignPlan.model_validate(_own(args))
        if await self.store.plan(body.plan_id) is None:
            raise invalid(f"plan {body.plan_id!r} not found", "plan_id")
        await self._subscription(tenant)
        await self.store.update(tenant, "plan_assigned", {"plan_id": body.plan_id}, self.clock())
        self.on_change(tenant)
        return await self.get(tenant, args)

    async def extend_trial(self, tenant: str, args: dict[str, Any]) -> Any:
        body = ExtendTrial.model_validate(_own(args))
        sub = await self._subscription(tenant)
        if sub.status not in (lifecycle.TRIALING, lifecycle.PAST_DUE, lifecycle.SUSPENDED):
            raise RpcError(409, "conflict", f"the subscription is {sub.status}; only a trial can be extended")
        extended = lifecycle.extend_trial(
            lifecycle.Subscription(sub.status, sub.period_start, sub.period_end), body.days
        )
        await self.store.update(
            tenant, "trial_extended", {"status": extended.status, "period_end": extended.period_end},
            self.clock(), f"{body.days} days",
        )  # fmt: skip
        self.on_change(tenant)
        return await self.get(tenant, args)

    async def cancel(self, tenant: str, args: dict[str, Any]) -> Any:
        await self._subscription(tenant)
        await self.store.update(tenant, "cancelled", {"status": lifecycle.CANCELLED}, self.clock())
        self.on_change(tenant)
        return await self.get(tenant, args)
