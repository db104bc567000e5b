"""Reads and writes of campaigns for the API (the runner drives them)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from zapgate.common.scheduling import CampaignProgress
from zapgate.scheduler.adapters.campaigns import cancel_pending, progress_of
from zapgate.scheduler.adapters.tables import CampaignRow, DeliveryRow


class CampaignStore:
    """Every call names its tenant."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def add(self, row: CampaignRow) -> None:
        """Store a new campaign."""
        async with self.sessions.begin() as s:
            s.add(row)

    async def get(self, tenant: str, campaign_id: str) -> tuple[CampaignRow, CampaignProgress] | None:
        """A campaign and its progress."""
        async with self.sessions() as s:
            row = await s.get(CampaignRow, campaign_id)
            if row is None or row.tenant_id != tenant:
                return None
            return row, await progress_of(s, campaign_id)

    async def all(self, tenant: str, limit: int = 200) -> list[tuple[CampaignRow, CampaignProgress]]:
        """The tenant's campaigns, newest first, with their progress."""
        async with self.sessions() as s:
            query = select(CampaignRow).where(CampaignRow.tenant_id == tenant).order_by(CampaignRow.id.desc())
            rows = (await s.scalars(query.limit(limit))).all()
            return [(r, await progress_of(s, r.id)) for r in rows]

    async def transition(
        self, tenant: str, campaign_id: str, allowed: tuple[str, ...], values: dict[str, Any], now: datetime
    ) -> tuple[CampaignRow | None, str | None]:
        """Move a campaign to ``values`` if its state is one of ``allowed``: (row, None), or (row,
        its state) when it is not, or (None, None) when there is no such campaign. Waits for a pass
        in flight on it to end."""
        async with self.sessions.begin() as s:
            row = await s.get(CampaignRow, campaign_id, with_for_update=True)
            if row is None or row.tenant_id != tenant:
                return None, None
            if row.state not in allowed:
                return row, row.state
            for key, value in values.items():
                setattr(row, key, value)
            row.updated_at = now
            if values.get("state") == "cancelled":
                await cancel_pending(s, campaign_id, now)
            return row, None

    async def delete(self, tenant: str, campaign_id: str) -> None:
        """Delete a campaign and its recipients."""
        async with self.sessions.begin() as s:
            await s.execute(
                delete(CampaignRow).where(CampaignRow.id == campaign_id, CampaignRow.tenant_id == tenant)
            )

    async def recipients(
        self, tenant: str, campaign_id: str, status: str | None, after: int, limit: int
    ) -> list[DeliveryRow]:
        """A campaign's recipients in list order after ``after``."""
        query = select(DeliveryRow).where(
            DeliveryRow.campaign_id == campaign_id, DeliveryRow.tenant_id == tenant, DeliveryRow.seq > after
        )
        if status is not None:
            query = query.where(DeliveryRow.status == status)
        async with self.sessions() as s:
            return list((await s.scalars(query.order_by(DeliveryRow.seq).limit(limit))).all())
