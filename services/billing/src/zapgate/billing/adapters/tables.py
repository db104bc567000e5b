"""Tables billing owns (prefix ``bil_``). Money is integer cents (``BigInteger``), never a float."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from zapgate.common.db import TZDateTime, new_metadata, utcnow


class Base(DeclarativeBase):
    """Declarative base of billing's tables."""

    metadata = new_metadata()


class PlanRow(Base):
    """A plan: its price per period and its limits (null: unlimited)."""

    __tablename__ = "bil_plans"

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    price_cents: Mapped[int] = mapped_column(BigInteger)
    period: Mapped[str] = mapped_column(String(16), default="monthly")
    sessions_limit: Mapped[int | None] = mapped_column(Integer, nullable=True)
    messages_limit: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    trial_days: Mapped[int] = mapped_column(Integer, default=7)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)


class SubscriptionRow(Base):
    """A tenant's subscription; ``revision`` grows with every change (the entitlements' order)."""

    __tablename__ = "bil_subscriptions"

    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    plan_id: Mapped[str] = mapped_column(ForeignKey("bil_plans.id"))
    status: Mapped[str] = mapped_column(String(16))
    period_start: Mapped[datetime] = mapped_column(TZDateTime())
    period_end: Mapped[datetime] = mapped_column(TZDateTime())
    revision: Mapped[int] = mapped_column(BigInteger, default=1)
    updated_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)


class HistoryRow(Base):
    """Every change of a subscription: what, from which status to which, by whom."""

    __tablename__ = "bil_history"

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[datetime] = mapped_column(TZDateTime())
    change: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    plan_id: Mapped[str] = mapped_column(String(26))
    note: Mapped[str | None] = mapped_column(Text, nullable=True)


class UsageRow(Base):
    """Outgoing messages a tenant sent in one period."""

    __tablename__ = "bil_usage"

    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    period_start: Mapped[datetime] = mapped_column(TZDateTime(), primary_key=True)
    messages: Mapped[int] = mapped_column(BigInteger, default=0)


class MeteredRow(Base):
    """A message already counted: its id is the metering's unique key, as Lago's transaction_id."""

    __tablename__ = "bil_metered"

    message_id: Mapped[str] = mapped_column(String(26), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    period_start: Mapped[datetime] = mapped_column(TZDateTime())
    at: Mapped[datetime] = mapped_column(TZDateTime())


class ChargeRow(Base):
    """A PIX charge of one tenant for one period and plan; ``idempotency_key`` is what the provider
    gets as ``X-Idempotency-Key``, so a retried creation never charges twice."""

    __tablename__ = "bil_charges"

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64), index=True)
    plan_id: Mapped[str] = mapped_column(String(26))
    provider: Mapped[str] = mapped_column(String(16))
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    period_key: Mapped[str] = mapped_column(String(40), doc="the end of the period it follows")
    attempt: Mapped[int] = mapped_column(Integer)
    payment_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3), default="BRL")
    status: Mapped[str] = mapped_column(
        String(16), doc="creating, pending, paid, expired, cancelled, refunded"
    )
    qr_code: Mapped[str | None] = mapped_column(Text, nullable=True)
    ticket_url: Mapped[str | None] = mapped_column(Text, nullable=True)
    expires_at: Mapped[datetime] = mapped_column(TZDateTime())
    created_at: Mapped[datetime] = mapped_column(TZDateTime())
    paid_at: Mapped[datetime | None] = mapped_column(TZDateTime(), nullable=True)


class NotificationRow(Base):
    """A provider's notification that was processed: its id makes a repeat a no-op."""

    __tablename__ = "bil_notifications"

    key: Mapped[str] = mapped_column(String(160), primary_key=True)
    payment_id: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(TZDateTime())
    outcome: Mapped[str] = mapped_column(String(32))


class SimulatedPaymentRow(Base):
    """The simulator provider's own ledger: what Mercado Pago keeps of a payment, for ``make run``
    with no account. Billing reads it only through the simulator provider."""

    __tablename__ = "bil_simulated_payments"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    external_reference: Mapped[str] = mapped_column(String(64))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    qr_code: Mapped[str] = mapped_column(Text)
    date_of_expiration: Mapped[datetime] = mapped_column(TZDateTime())
    date_approved: Mapped[datetime | None] = mapped_column(TZDateTime(), nullable=True)


class AlertRow(Base):
    """An alert of a tenant, once per key; published onto the tenant's stream from here (an
    outbox: a crash between the two publishes it again, deduplicated by its key)."""

    __tablename__ = "bil_alerts"

    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    id: Mapped[str] = mapped_column(String(26))
    kind: Mapped[str] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, object]] = mapped_column(JSONB)
    at: Mapped[datetime] = mapped_column(TZDateTime())
    published_at: Mapped[datetime | None] = mapped_column(TZDateTime(), nullable=True, index=True)
