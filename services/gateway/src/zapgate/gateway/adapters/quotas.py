"""Tenants' quotas in PostgreSQL: overrides, usage, and checks made under the tenant's row lock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from zapgate.common.db import utcnow
from zapgate.gateway.adapters.tables import ApiKeyRow, MediaObjectRow, SessionRow, TenantRow
from zapgate.gateway.domain.quotas import Quotas, check


class NoTenant(Exception):
    """The tenant does not exist (deleted meanwhile)."""


async def locked_quotas(db: AsyncSession, tenant_id: str, defaults: Quotas) -> Quotas:
    """The tenant's quotas, its row locked until ``db`` commits.

    Checks that count and then insert run under this lock, so two requests at once cannot
    both take the last unit of a quota.
    """
    query = select(TenantRow.quotas).where(TenantRow.id == tenant_id).with_for_update()
    found = (await db.execute(query)).first()
    if found is None:
        raise NoTenant(tenant_id)
    return defaults.with_overrides(found[0])


@dataclass(frozen=True, slots=True)
class Usage:
    """What a tenant holds now."""

    sessions: int
    api_keys: int
    media_bytes: int


class QuotaBook:
    """Reads and sets quotas; reserves media bytes."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], defaults: Quotas, media_max_age: float
    ) -> None:
        self.sessions = sessions
        self.defaults = defaults
        self.media_max_age = media_max_age

    async def overrides(self, tenant_id: str) -> dict[str, Any] | None:
        """The admin's values for the tenant (None: all defaults)."""
        async with self.sessions() as db:
            found = (await db.execute(select(TenantRow.quotas).where(TenantRow.id == tenant_id))).first()
        return found[0] if found else None

    async def set_overrides(self, tenant_id: str, overrides: dict[str, Any]) -> None:
        """Replace the admin's values for the tenant ({} returns it to the defaults)."""
        query = update(TenantRow).where(TenantRow.id == tenant_id).values(quotas=overrides or None)
        async with self.sessions() as db:
            await db.execute(query)
            await db.commit()

    async def usage(self, tenant_id: str) -> Usage:
        """Sessions, live keys and media bytes (within the media's lifetime) of the tenant."""
        cutoff = utcnow() - timedelta(seconds=self.media_max_age)
        async with self.sessions() as db:
            sessions = await db.scalar(select(func.count()).where(SessionRow.tenant_id == tenant_id))
            keys = await db.scalar(
                select(func.count()).where(ApiKeyRow.tenant_id == tenant_id, ApiKeyRow.revoked_at.is_(None))
            )
            media = await db.scalar(
                select(func.coalesce(func.sum(MediaObjectRow.size), 0)).where(
                    MediaObjectRow.tenant_id == tenant_id, MediaObjectRow.created_at > cutoff
                )
            )
        return Usage(sessions=int(sessions or 0), api_keys=int(keys or 0), media_bytes=int(media or 0))

    async def tickets_per_minute(self, tenant_id: str) -> int | None:
        """The tenant's ticket quota."""
        return self.defaults.with_overrides(await self.overrides(tenant_id)).tickets_per_minute

    async def reserve_media(self, tenant_id: str, media_id: str, size: int) -> None:
        """Count ``size`` bytes against the tenant's media quota, or raise QuotaExceeded.

        Media older than the object store's max age is gone from it, so it no longer counts;
        its rows are dropped here, where the tenant's row is locked anyway.
        """
        cutoff = utcnow() - timedelta(seconds=self.media_max_age)
        async with self.sessions() as db:
            quotas = await locked_quotas(db, tenant_id, self.defaults)
            await db.execute(
                delete(MediaObjectRow).where(
                    MediaObjectRow.tenant_id == tenant_id, MediaObjectRow.created_at <= cutoff
                )
            )
            used = await db.scalar(
                select(func.coalesce(func.sum(MediaObjectRow.size), 0)).where(
                    MediaObjectRow.tenant_id == tenant_id
                )
            )
            check("media_bytes", quotas.media_bytes, int(used or 0), size)
            db.add(MediaObjectRow(id=media_id, tenant_id=tenant_id, size=size, created_at=utcnow()))
            await db.commit()

    async def release_media(self, media_id: str) -> None:
        """Give back a reservation whose upload failed."""
        async with self.sessions() as db:
            await db.execute(delete(MediaObjectRow).where(MediaObjectRow.id == media_id))
            await db.commit()
