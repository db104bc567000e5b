"""Billing's alerts: recorded once per key, then published onto the tenant's stream (an outbox)."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from nats.js import JetStreamContext
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from zapgate.billing.adapters.tables import AlertRow
from zapgate.billing.domain.alerts import text
from zapgate.common import subjects
from zapgate.common.ids import new_id
from zapgate.common.messages import BillingAlert, encode

log = logging.getLogger(__name__)


async def record(
    s: AsyncSession, tenant: str, kind: str, key: str, details: dict[str, Any], now: datetime
) -> None:
    """An alert, in the caller's transaction; a key recorded before is left as it is."""
    await s.execute(
        insert(AlertRow)
        .values(tenant_id=tenant, key=key, id=new_id(), kind=kind, message=text(kind, details), details=details,
                at=now)
        .on_conflict_do_nothing()
    )  # fmt: skip


class Alerts:
    """Records alerts and publishes those not published yet."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], js: JetStreamContext) -> None:
        self.sessions = sessions
        self.js = js

    async def add(self, tenant: str, kind: str, key: str, details: dict[str, Any], now: datetime) -> None:
        """Record one alert (once per tenant and key)."""
        async with self.sessions.begin() as s:
            await record(s, tenant, kind, key, details, now)

    async def publish(self, now: datetime, limit: int = 500) -> int:
        """Publish the alerts not published yet, oldest first; how many were."""
        published = 0
        async with self.sessions.begin() as s:
            query = select(AlertRow).where(AlertRow.published_at.is_(None)).order_by(AlertRow.at).limit(limit)
            for row in (await s.scalars(query.with_for_update(skip_locked=True))).all():
                event = BillingAlert(
                    id=row.id, tenant=row.tenant_id, time=row.at, kind=row.kind,
                    message=row.message, details=dict(row.details),
                )  # fmt: skip
                try:
                    # The alert's id is the message id: a publish repeated after a crash is dropped.
                    await self.js.publish(
                        subjects.tenant_event(row.tenant_id, event.type), encode(event),
                        headers={"Nats-Msg-Id": f"billing-alert:{row.id}"}, timeout=5,
                    )  # fmt: skip
                except Exception as exc:
                    log.warning("billing alerts not published (%s); next pass", type(exc).__name__)
                    break
                row.published_at = now
                published += 1
        return published
