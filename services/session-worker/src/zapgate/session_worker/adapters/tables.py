"""Tables the session worker owns."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Identity, Index, Integer, LargeBinary, SmallInteger, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from zapgate.common.db import TZDateTime, new_metadata, utcnow


class Base(DeclarativeBase):
    """Declarative base of the worker's tables."""

    metadata = new_metadata()


class WorkerSessionRow(Base):
    """What a worker must know to run a session: whether it should run, and its credentials."""

    __tablename__ = "worker_sessions"

    tenant: Mapped[str] = mapped_column(String(64), primary_key=True)
    session: Mapped[str] = mapped_column(String(63), primary_key=True)
    partition: Mapped[int] = mapped_column(Integer, index=True)
    engine: Mapped[str] = mapped_column(String(32), default="simulator")
    desired: Mapped[str] = mapped_column(String(16), default="stopped")
    credentials: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    config: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    updated_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)


class WorkerMessageRow(Base):
    """An accepted send, recorded before its command is acknowledged (the session's outbox)."""

    __tablename__ = "worker_messages"
    __table_args__ = (
        Index("ix_worker_messages_pending", "tenant", "session", "id", postgresql_where="rank = 0"),
        Index("ix_worker_messages_partition_rank", "partition", "rank"),
    )

    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    tenant: Mapped[str] = mapped_column(String(64))
    session: Mapped[str] = mapped_column(String(63))
    partition: Mapped[int] = mapped_column(Integer)
    chat: Mapped[str] = mapped_column(String(128))
    wa_id: Mapped[str] = mapped_column(String(64))
    content: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    rank: Mapped[int] = mapped_column(SmallInteger, default=0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(TZDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)


class WorkerEventSpoolRow(Base):
    """An event kept until NATS takes it (published, then deleted, by any worker)."""

    __tablename__ = "worker_event_spool"

    seq: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    subject: Mapped[str] = mapped_column(Text)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    dedup: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)
