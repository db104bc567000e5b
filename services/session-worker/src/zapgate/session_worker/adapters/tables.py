"""Tables the session worker owns."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, LargeBinary, String
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
    updated_at: Mapped[datetime] = mapped_column(TZDateTime(), default=utcnow)
