"""Tables the scheduler owns (prefix ``sch_``); no other service reads them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, SmallInteger, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from zapgate.common.db import TZDateTime, new_metadata, utcnow


class Base(DeclarativeBase):
    """Declarative base of the scheduler's tables."""

    metadata = new_metadata()


class ContactListRow(Base):
    """A tenant's contact list."""

    __tablename__ = "sch_lists"

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)


class ContactRow(Base):
    """A member of a list, keyed by its chat id."""

    __tablename__ = "sch_contacts"

    list_id: Mapped[str] = mapped_column(ForeignKey("sch_lists.id", ondelete="CASCADE"), primary_key=True)
    chat: Mapped[str] = mapped_column(String(128), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    phone: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(256), nullable=True)
    fields: Mapped[dict[str, str]] = mapped_column(JSONB, default=dict)
    tags: Mapped[list[str]] = mapped_column(ARRAY(String(64)), default=list)
    added_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)


class SuppressionRow(Base):
    """A number that opted out (or was suppressed by hand): never messaged by a schedule or campaign."""

    __tablename__ = "sch_suppressions"

    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    chat: Mapped[str] = mapped_column(String(128), primary_key=True)
    source: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)


class TenantSettingsRow(Base):
    """A tenant's scheduling settings (opt-out keywords)."""

    __tablename__ = "sch_tenant_settings"

    tenant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    optout_keywords: Mapped[list[str]] = mapped_column(ARRAY(String(64)))


class TemplateRow(Base):
    """A message template."""

    __tablename__ = "sch_templates"

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(200))
    message: Mapped[dict[str, Any]] = mapped_column(JSONB)
    defaults: Mapped[dict[str, str]] = mapped_column(JSONB, default=dict)
    created_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)


class ScheduleRow(Base):
    """A one-off or recurring schedule; ``next_fire_at`` is the nominal time of its next fire."""

    __tablename__ = "sch_schedules"
    __table_args__ = (Index("ix_sch_schedules_due", "next_fire_at", postgresql_where="state = 'active'"),)

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    session: Mapped[str] = mapped_column(String(63))
    kind: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), default="active")
    send_at: Mapped[datetime | None] = mapped_column(TZDateTime(), nullable=True)
    cron: Mapped[str | None] = mapped_column(String(200), nullable=True)
    interval_seconds: Mapped[int | None] = mapped_column(Integer, nullable=True)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    start_at: Mapped[datetime | None] = mapped_column(TZDateTime(), nullable=True)
    end_at: Mapped[datetime | None] = mapped_column(TZDateTime(), nullable=True)
    max_count: Mapped[int | None] = mapped_column(Integer, nullable=True)
    fired: Mapped[int] = mapped_column(Integer, default=0)
    next_fire_at: Mapped[datetime | None] = mapped_column(TZDateTime(), nullable=True)
    to_chat: Mapped[str | None] = mapped_column(String(128), nullable=True)
    list_id: Mapped[str | None] = mapped_column(String(26), nullable=True)
    tags: Mapped[list[str] | None] = mapped_column(ARRAY(String(64)), nullable=True)
    message: Mapped[dict[str, Any] | None] = mapped_column(JSONB, nullable=True)
    template_id: Mapped[str | None] = mapped_column(String(26), nullable=True)
    variables: Mapped[dict[str, str]] = mapped_column(JSONB, default=dict)
    catchup_seconds: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)


class FireRow(Base):
    """One nominal time of a schedule, fired or missed: the unique key makes it happen once."""

    __tablename__ = "sch_fires"
    __table_args__ = (UniqueConstraint("schedule_id", "nominal_at", name="uq_sch_fires_schedule_nominal"),)

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    schedule_id: Mapped[str] = mapped_column(ForeignKey("sch_schedules.id", ondelete="CASCADE"), index=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    nominal_at: Mapped[datetime] = mapped_column(TZDateTime())
    fired_at: Mapped[datetime] = mapped_column(TZDateTime())
    outcome: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)


class CampaignRow(Base):
    """A campaign: a message to a list through some sessions, throttled, inside a window."""

    __tablename__ = "sch_campaigns"
    __table_args__ = (
        Index("ix_sch_campaigns_live", "state", postgresql_where="state IN ('scheduled', 'running')"),
    )

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    list_id: Mapped[str] = mapped_column(String(26))
    tags: Mapped[list[str] | None] = mapped_column(ARRAY(String(64)), nullable=True)
    message: Mapped[dict[str, Any] | None] = mapped_column(JSONB, nullable=True)
    template_id: Mapped[str | None] = mapped_column(String(26), nullable=True)
    variables: Mapped[dict[str, str]] = mapped_column(JSONB, default=dict)
    sessions: Mapped[list[str]] = mapped_column(ARRAY(String(63)))
    start_at: Mapped[datetime | None] = mapped_column(TZDateTime(), nullable=True)
    throttle: Mapped[dict[str, Any]] = mapped_column(JSONB)
    window: Mapped[dict[str, Any] | None] = mapped_column(JSONB, nullable=True)
    progress_sent: Mapped[dict[str, Any] | None] = mapped_column(JSONB, nullable=True)
    progress_at: Mapped[datetime | None] = mapped_column(TZDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(TZDateTime(), nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(TZDateTime(), nullable=True)


class CampaignLaneRow(Base):
    """One session of a campaign: when it may send next, and how much it sent today."""

    __tablename__ = "sch_campaign_lanes"

    campaign_id: Mapped[str] = mapped_column(
        ForeignKey("sch_campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    session: Mapped[str] = mapped_column(String(63), primary_key=True)
    next_send_at: Mapped[datetime] = mapped_column(TZDateTime())
    day: Mapped[str] = mapped_column(String(10))
    sent_today: Mapped[int] = mapped_column(Integer, default=0)


class DeliveryRow(Base):
    """A message a fire or a campaign owes one recipient: the outbox towards the gateway.

    ``idempotency_key`` is derived from (schedule, nominal time, recipient) or (campaign,
    recipient), so any number of attempts from any replica are one message at the gateway.
    """

    __tablename__ = "sch_deliveries"
    __table_args__ = (
        Index("ix_sch_deliveries_pending", "next_attempt_at", postgresql_where="status = 'pending'"),
        Index("ix_sch_deliveries_message", "message_id"),
        Index("ix_sch_deliveries_campaign", "campaign_id", "session", "seq"),
        Index("ix_sch_deliveries_chat", "tenant_id", "chat"),
    )

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(String(64))
    fire_id: Mapped[str | None] = mapped_column(ForeignKey("sch_fires.id", ondelete="CASCADE"), index=True)
    campaign_id: Mapped[str | None] = mapped_column(
        ForeignKey("sch_campaigns.id", ondelete="CASCADE"), nullable=True
    )
    seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    replied_at: Mapped[datetime | None] = mapped_column(TZDateTime(), nullable=True)
    session: Mapped[str] = mapped_column(String(63))
    chat: Mapped[str] = mapped_column(String(128))
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    message: Mapped[dict[str, Any] | None] = mapped_column(JSONB, nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    rank: Mapped[int] = mapped_column(SmallInteger, default=0)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    message_id: Mapped[str | None] = mapped_column(String(26), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(TZDateTime())
    created_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)
