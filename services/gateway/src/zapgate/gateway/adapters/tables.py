"""Tables the gateway owns."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, text
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
