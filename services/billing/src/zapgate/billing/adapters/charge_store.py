"""Billing's charges and processed notifications; a payment and the subscription it activates
change in one transaction."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from zapgate.billing.adapters import alerts
from zapgate.billing.adapters.payments import IssuedCharge
from zapgate.billing.adapters.tables import ChargeRow, HistoryRow, NotificationRow, PlanRow, SubscriptionRow
from zapgate.billing.domain import charges, lifecycle
from zapgate.billing.domain.charges import ProviderPayment
from zapgate.billing.domain.money import brl
from zapgate.common.ids import new_id


class ChargeStore:
    """Reads and writes of ``bil_charges`` and ``bil_notifications``."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def latest(self, tenant: str, plan_id: str, period_key: str) -> ChargeRow | None:
        """The newest attempt at paying ``plan_id`` for the period after ``period_key``."""
        async with self.sessions() as s:
            query = (
                select(ChargeRow)
                .where(ChargeRow.tenant_id == tenant, ChargeRow.plan_id == plan_id, ChargeRow.period_key == period_key)
                .order_by(ChargeRow.attempt.desc())
            )  # fmt: skip
            return await s.scalar(query.limit(1))

    async def add(self, values: dict[str, object]) -> ChargeRow:
        """A new attempt, or the row a concurrent checkout made with the same key."""
        async with self.sessions.begin() as s:
            await s.execute(insert(ChargeRow).values(id=new_id(), **values).on_conflict_do_nothing())
            row = await s.scalar(
                select(ChargeRow).where(ChargeRow.idempotency_key == values["idempotency_key"])
            )
            assert row is not None
            return row

    async def issued(self, charge_id: str, issued: IssuedCharge, plan: str, now: datetime) -> ChargeRow:
        """The provider made the payment: the charge is pending, with its code (and its alert)."""
        async with self.sessions.begin() as s:
            row = await s.get(ChargeRow, charge_id, with_for_update=True)
            assert row is not None
            details = {"charge_id": row.id, "amount_cents": row.amount_cents, "plan": plan,
                       "expires_at": row.expires_at.isoformat()}  # fmt: skip
            await alerts.record(s, row.tenant_id, "charge_issued", f"charge:{row.id}", details, now)
            row.payment_id = issued.payment_id
            row.qr_code = issued.qr_code
            row.ticket_url = issued.ticket_url
            if row.status == charges.CREATING:
                row.status = charges.PENDING
            return row

    async def expire(self, charge_id: str) -> None:
        """An open charge past its expiry is expired (a later payment of it still counts)."""
        async with self.sessions.begin() as s:
            row = await s.get(ChargeRow, charge_id, with_for_update=True)
            if row is not None and row.status in charges.OPEN:
                row.status = charges.EXPIRED

    async def get(self, charge_id: str, tenant: str | None = None) -> ChargeRow | None:
        """One charge (of ``tenant``, when given)."""
        async with self.sessions() as s:
            row = await s.get(ChargeRow, charge_id)
        return row if row is not None and (tenant is None or row.tenant_id == tenant) else None

    async def of_tenant(self, tenant: str, limit: int = 100) -> list[ChargeRow]:
        """A tenant's charges, newest first."""
        async with self.sessions() as s:
            query = select(ChargeRow).where(ChargeRow.tenant_id == tenant).order_by(ChargeRow.id.desc())
            return list((await s.scalars(query.limit(limit))).all())

    async def apply(
        self, key: str, payment: ProviderPayment, provider: str, now: datetime, grace: timedelta
    ) -> tuple[str, ChargeRow | None]:
        """Act once on what the provider says of ``payment``: (outcome, its charge).

        ``key`` names the notification; one seen before changes nothing (``duplicate``). A paid
        charge makes its subscription active on its plan, in the same transaction.
        """
        async with self.sessions.begin() as s:
            fresh = await s.scalar(
                insert(NotificationRow)
                .values(key=key, payment_id=payment.id, received_at=now, outcome="")
                .on_conflict_do_nothing()
                .returning(NotificationRow.key)
            )
            if fresh is None:
                return "duplicate", None
            charge = None
            if payment.external_reference:
                charge = await s.get(ChargeRow, payment.external_reference, with_for_update=True)
            if charge is None or charge.provider != provider or charge.payment_id != payment.id:
                result = "unknown_payment"
            else:
                result = charges.outcome(charge.status, charge.id, charge.amount_cents, payment)
            note = await s.get(NotificationRow, key)
            assert note is not None
            note.outcome = result
            if charge is None or result.startswith("mismatch") or result in ("unknown_payment", "unchanged"):
                return result, charge
            charge.status = result
            if result == charges.PAID:
                charge.paid_at = now
                await self._activate(s, charge, now, grace)
            else:
                s.add(HistoryRow(id=new_id(), tenant_id=charge.tenant_id, at=now, change=f"charge_{result}",
                                 status=await self._status(s, charge.tenant_id), plan_id=charge.plan_id,
                                 note=f"charge {charge.id}"))  # fmt: skip
            return result, charge

    async def _status(self, s: AsyncSession, tenant: str) -> str:
        sub = await s.get(SubscriptionRow, tenant)
        return sub.status if sub is not None else lifecycle.PAST_DUE

    async def _activate(self, s: AsyncSession, charge: ChargeRow, now: datetime, grace: timedelta) -> None:
        sub = await s.get(SubscriptionRow, charge.tenant_id, with_for_update=True)
        if sub is None:
            return
        stored = lifecycle.Subscription(sub.status, sub.period_start, sub.period_end)
        paid = lifecycle.paid(lifecycle.current(stored, now, grace), now)
        sub.plan_id, sub.status = charge.plan_id, paid.status
        sub.period_start, sub.period_end = paid.period_start, paid.period_end
        sub.revision += 1
        sub.updated_at = now
        plan = await s.get(PlanRow, charge.plan_id)
        details = {"charge_id": charge.id, "amount_cents": charge.amount_cents, "plan": plan.name if plan else "?",
                   "period_end": sub.period_end.isoformat()}  # fmt: skip
        await alerts.record(s, sub.tenant_id, "payment_received", f"paid:{charge.id}", details, now)
        s.add(HistoryRow(id=new_id(), tenant_id=sub.tenant_id, at=now, change="payment_received",
                         status=sub.status, plan_id=sub.plan_id,
                         note=f"{brl(charge.amount_cents)}, charge {charge.id}"))  # fmt: skip
