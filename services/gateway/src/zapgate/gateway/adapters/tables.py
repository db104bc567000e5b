"""Tables the gateway owns."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from zapgate.common.db import TZDateTime, new_metadata, utcnow


class Base(DeclarativeBase):
    """Declarative base of the gateway's tables."""

    metadata = new_metadata()


class TenantRow(Base):
    """A customer account; owns sessions, keys and everything below them."""

    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    status: Mapped[str] = mapped_column(String(16), server_default=text("'active'"))
    # The admin's values for this tenant over the operator's defaults (null value: unlimited).
    quotas: Mapped[dict[str, Any] | None] = mapped_column(JSONB, nullable=True)
    created_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)


class ApiKeyRow(Base):
    """An API key of a tenant, kept only as its hash."""

    __tablename__ = "api_keys"
    __table_args__ = (Index("ix_api_keys_tenant_id", "tenant_id"),)

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(TZDateTime(), nullable=True)


class NatsUserRow(Base):
    """A tenant's NATS user, kept only as its password's hash; the auth callout checks it."""

    __tablename__ = "nats_users"
    __table_args__ = (Index("ix_nats_users_tenant_id", "tenant_id"),)

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    password_hash: Mapped[str] = mapped_column(String(64))
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(TZDateTime(), nullable=True)


class SessionRow(Base):
    """A WhatsApp session of a tenant: desired state set by the API, status projected from events."""

    __tablename__ = "sessions"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(63))
    engine: Mapped[str] = mapped_column(String(32))
    config: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    desired: Mapped[str] = mapped_column(String(16), default="stopped")
    partition: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="STOPPED")
    previous: Mapped[str | None] = mapped_column(String(16), nullable=True)
    reason: Mapped[str | None] = mapped_column(String(200), nullable=True)
    worker: Mapped[str | None] = mapped_column(String(200), nullable=True)
    epoch: Mapped[int] = mapped_column(BigInteger, default=0)
    phone: Mapped[str | None] = mapped_column(String(32), nullable=True)
    qr_value: Mapped[str | None] = mapped_column(Text, nullable=True)
    qr_index: Mapped[int | None] = mapped_column(Integer, nullable=True)
    qr_expires_at: Mapped[datetime | None] = mapped_column(TZDateTime(), nullable=True)
    event_time: Mapped[datetime | None] = mapped_column(TZDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)


class MessageRow(Base):
    """A message sent or received by a session: the history read model and the idempotency record."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("tenant_id", "idempotency_key"),
        Index("ix_messages_session", "tenant_id", "session", "id"),
        Index("ix_messages_chat", "tenant_id", "session", "chat", "id"),
    )

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    session: Mapped[str] = mapped_column(String(63))
    direction: Mapped[str] = mapped_column(String(3))
    chat: Mapped[str] = mapped_column(String(128))
    type: Mapped[str] = mapped_column(String(16))
    content: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(16))
    rank: Mapped[int] = mapped_column(Integer, default=0)
    wa_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    request_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    seen: Mapped[bool] = mapped_column(default=False)
    expires_at: Mapped[datetime | None] = mapped_column(TZDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)


class CommandKeyRow(Base):
    """A lifecycle command sent with an ``Idempotency-Key``: a retry gets the same command back."""

    __tablename__ = "command_keys"

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    session: Mapped[str] = mapped_column(String(63))
    verb: Mapped[str] = mapped_column(String(16))
    command_id: Mapped[str] = mapped_column(String(26))
    command: Mapped[bytes] = mapped_column(LargeBinary)
    published: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)


class UnpublishedSendRow(Base):
    """A send accepted with an Idempotency-Key whose command did not reach the bus (a 503).

    Kept apart from ``messages`` so that finding them costs nothing on the send path.
    """

    __tablename__ = "unpublished_sends"

    message_id: Mapped[str] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)


class MediaObjectRow(Base):
    """A media file a tenant put in ``zg_media``: what its media quota counts."""

    __tablename__ = "media_objects"
    __table_args__ = (Index("ix_media_objects_tenant", "tenant_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)


class ChatRow(Base):
    """A conversation of a session, kept as messages are recorded: listing chats reads these
    rows, never the whole history."""

    __tablename__ = "chats"
    __table_args__ = (Index("ix_chats_recent", "tenant_id", "session", "last_message_id"),)

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    session: Mapped[str] = mapped_column(String(63), primary_key=True)
    chat: Mapped[str] = mapped_column(String(128), primary_key=True)
    last_message_id: Mapped[str] = mapped_column(String(26))
    last_message_at: Mapped[datetime] = mapped_column(TZDateTime())
    messages: Mapped[int] = mapped_column(BigInteger)
    unread: Mapped[int] = mapped_column(BigInteger)


class WebhookEndpointRow(Base):
    """A tenant's webhook endpoint (``tenant_id`` null: the admin's, for every tenant's events).

    The signing secrets are kept encrypted (``zapgate.common.crypto``); while a rotation lasts
    (``previous_until``) the previous one signs too.
    """

    __tablename__ = "webhook_endpoints"

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    tenant_id: Mapped[str | None] = mapped_column(String(26), nullable=True, index=True)
    url: Mapped[str] = mapped_column(Text)
    events: Mapped[list[str]] = mapped_column(JSONB)
    sessions: Mapped[list[str] | None] = mapped_column(JSONB, nullable=True)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    secret: Mapped[bytes] = mapped_column(LargeBinary)
    previous_secret: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    previous_until: Mapped[datetime | None] = mapped_column(TZDateTime(), nullable=True)
    state: Mapped[str] = mapped_column(String(16), default="active")
    disabled_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)


class WebhookDeliveryRow(Base):
    """One event to one endpoint: pending until the endpoint answers 2xx, retried on a schedule.

    Unique per (endpoint, event): the dispatcher records each event once however often the
    stream gives it, and a session's events go out in stream order (``seq``).
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "event_id"),
        Index(
            "ix_webhook_deliveries_heads",
            "endpoint_id",
            "session",
            "seq",
            postgresql_where=text("status = 'pending'"),
        ),
        Index("ix_webhook_deliveries_endpoint", "endpoint_id", "id"),
    )

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    tenant_id: Mapped[str] = mapped_column(String(26))
    event_id: Mapped[str] = mapped_column(String(64))
    event_type: Mapped[str] = mapped_column(String(64))
    session: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(BigInteger)
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_at: Mapped[datetime] = mapped_column(TZDateTime())
    response_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    latency_ms: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(TZDateTime(), nullable=True)
