"""Billing's data: plans, subscriptions and their history, usage and what was metered."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from zapgate.billing.adapters.tables import HistoryRow, MeteredRow, PlanRow, SubscriptionRow, UsageRow
from zapgate.billing.domain import lifecycle
from zapgate.common.ids import new_id


class PlanInUse(Exception):
    """A plan some subscription is on cannot be deleted."""


class Store:
    """Reads and writes of billing's tables."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    # ------------------------------------------------------------ plans

    async def ensure_default_plan(self, name: str, price_cents: int, trial_days: int) -> PlanRow:
        """The default plan, created (unlimited) if there is none."""
        async with self.sessions.begin() as s:
            row = await s.scalar(select(PlanRow).where(PlanRow.is_default.is_(True)))
            if row is not None:
                return row
            await s.execute(
                insert(PlanRow)
                .values(id=new_id(), name=name, price_cents=price_cents, trial_days=trial_days, is_default=True,
                        period="monthly", created_at=func.now())
                .on_conflict_do_nothing()
            )  # fmt: skip
        async with self.sessions() as s:
            found = await s.scalar(select(PlanRow).where(PlanRow.is_default.is_(True)))
            assert found is not None
            return found

    async def plans(self) -> list[PlanRow]:
        """Every plan, by price."""
        async with self.sessions() as s:
            return list((await s.scalars(select(PlanRow).order_by(PlanRow.price_cents, PlanRow.name))).all())

    async def plan(self, plan_id: str) -> PlanRow | None:
        """One plan."""
        async with self.sessions() as s:
            return await s.get(PlanRow, plan_id)

    async def add_plan(self, values: dict[str, Any]) -> PlanRow | None:
        """A new plan; None if the name is taken. A new default plan takes the default over."""
        row = PlanRow(id=new_id(), **values)
        try:
            async with self.sessions.begin() as s:
                if row.is_default:
                    for other in (await s.scalars(select(PlanRow).where(PlanRow.is_default.is_(True)))).all():
                        other.is_default = False
                s.add(row)
        except IntegrityError:
            return None
        return row

    async def change_plan(self, plan_id: str, values: dict[str, Any]) -> PlanRow | None:
        """Change a plan's fields; subscriptions on it see the new limits at once."""
        async with self.sessions.begin() as s:
            row = await s.get(PlanRow, plan_id, with_for_update=True)
            if row is None:
                return None
            if values.get("is_default"):
                for other in (await s.scalars(select(PlanRow).where(PlanRow.is_default.is_(True)))).all():
                    other.is_default = False
            for key, value in values.items():
                setattr(row, key, value)
            await s.execute(
                update(SubscriptionRow)
                .where(SubscriptionRow.plan_id == plan_id)
                .values(revision=SubscriptionRow.revision + 1)
            )
            return row

    async def delete_plan(self, plan_id: str) -> bool:
        """Delete a plan no subscription is on; PlanInUse otherwise."""
        async with self.sessions.begin() as s:
            used = await s.scalar(select(func.count()).where(SubscriptionRow.plan_id == plan_id))
            if used:
                raise PlanInUse(plan_id)
            result = await s.execute(
                delete(PlanRow).where(PlanRow.id == plan_id, PlanRow.is_default.is_(False))
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    # ------------------------------------------------------------ subscriptions

    async def subscription(self, tenant: str) -> SubscriptionRow | None:
        """A tenant's subscription."""
        async with self.sessions() as s:
            return await s.get(SubscriptionRow, tenant)

    async def ensure(self, tenant: str, plan: PlanRow, now: datetime) -> SubscriptionRow:
        """A tenant's subscription, started as a trial of ``plan`` if it has none."""
        trial = lifecycle.start_trial(now, plan.trial_days)
        async with self.sessions.begin() as s:
            inserted = await s.scalar(
                insert(SubscriptionRow)
                .values(tenant_id=tenant, plan_id=plan.id, status=trial.status, period_start=trial.period_start,
                        period_end=trial.period_end, revision=1, updated_at=now)
                .on_conflict_do_nothing()
                .returning(SubscriptionRow.tenant_id)
            )  # fmt: skip
            if inserted is not None:
                s.add(HistoryRow(id=new_id(), tenant_id=tenant, at=now, change="trial_started",
                                 status=trial.status, plan_id=plan.id, note=f"{plan.trial_days} days"))  # fmt: skip
        found = await self.subscription(tenant)
        assert found is not None
        return found

    async def update(
        self, tenant: str, change: str, values: dict[str, Any], now: datetime, note: str | None = None
    ) -> SubscriptionRow | None:
        """Change a subscription and record it in its history."""
        async with self.sessions.begin() as s:
            row = await s.get(SubscriptionRow, tenant, with_for_update=True)
            if row is None:
                return None
            for key, value in values.items():
                setattr(row, key, value)
            row.revision += 1
            row.updated_at = now
            s.add(HistoryRow(id=new_id(), tenant_id=tenant, at=now, change=change, status=row.status,
                             plan_id=row.plan_id, note=note))  # fmt: skip
            return row

    async def history(self, tenant: str, limit: int = 100) -> list[HistoryRow]:
        """A tenant's subscription changes, newest first."""
        async with self.sessions() as s:
            query = select(HistoryRow).where(HistoryRow.tenant_id == tenant).order_by(HistoryRow.id.desc())
            return list((await s.scalars(query.limit(limit))).all())

    async def all_subscriptions(self) -> list[SubscriptionRow]:
        """Every subscription that can still change by itself (not cancelled)."""
        async with self.sessions() as s:
            query = select(SubscriptionRow).where(SubscriptionRow.status != lifecycle.CANCELLED)
            return list((await s.scalars(query)).all())

    # ------------------------------------------------------------ metering

    async def meter_many(self, rows: dict[str, tuple[str, datetime]], at: datetime) -> dict[str, int]:
        """Count many messages (id: tenant, period) in one transaction, each once; how many were
        new, by tenant."""
        async with self.sessions.begin() as s:
            values = [
                {"message_id": m, "tenant_id": t, "period_start": p, "at": at} for m, (t, p) in rows.items()
            ]
            counted = (
                await s.execute(
                    insert(MeteredRow).values(values).on_conflict_do_nothing()
                    .returning(MeteredRow.tenant_id, MeteredRow.period_start)
                )
            ).all()  # fmt: skip
            per: dict[tuple[str, datetime], int] = {}
            for tenant, period in counted:
                per[(tenant, period)] = per.get((tenant, period), 0) + 1
            for (tenant, period), n in sorted(per.items()):  # one order: no deadlock between replicas
                stmt = insert(UsageRow).values(tenant_id=tenant, period_start=period, messages=n)
                await s.execute(
                    stmt.on_conflict_do_update(
                        index_elements=["tenant_id", "period_start"], set_={"messages": UsageRow.messages + n}
                    )
                )
        by_tenant: dict[str, int] = {}
        for (tenant, _), n in per.items():
            by_tenant[tenant] = by_tenant.get(tenant, 0) + n
        return by_tenant

    async def used(self, tenant: str, period_start: datetime) -> int:
        """Messages a tenant sent in the period that starts at ``period_start``."""
        async with self.sessions() as s:
            row = await s.get(UsageRow, (tenant, period_start))
            return row.messages if row is not None else 0

    async def forget_metered(self, before: datetime) -> int:
        """Drop the dedupe keys of periods long over (a redelivery that late is not possible)."""
        async with self.sessions.begin() as s:
            result = await s.execute(delete(MeteredRow).where(MeteredRow.at < before - timedelta(days=60)))
            return int(result.rowcount)  # type: ignore[attr-defined]
