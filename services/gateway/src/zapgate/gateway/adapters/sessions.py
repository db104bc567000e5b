"""Session rows: desired state written by the API, status projected from worker events."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from zapgate.common.db import utcnow
from zapgate.common.ids import new_id
from zapgate.common.messages import QrCodeIssued, SessionStatusChanged
from zapgate.gateway.adapters.quotas import locked_quotas
from zapgate.gateway.adapters.tables import SessionRow
from zapgate.gateway.domain.quotas import Quotas, check


class SessionExists(Exception):
    """The tenant has a session of that name already."""


class SessionRepository:
    """Reads and writes a tenant's sessions; every query is scoped by tenant."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], quotas: Quotas) -> None:
        self.sessions = sessions
        self.quotas = quotas

    async def create(
        self, tenant_id: str, name: str, engine: str, config: dict[str, Any], partition: int
    ) -> SessionRow:
        """A new, stopped session; SessionExists, or QuotaExceeded past the tenant's sessions quota."""
        now = utcnow()
        row = SessionRow(
            id=new_id(), tenant_id=tenant_id, name=name, engine=engine, config=config, desired="stopped",
            partition=partition, status="STOPPED", epoch=0, created_at=now, updated_at=now,
        )  # fmt: skip
        async with self.sessions() as db:
            quotas = await locked_quotas(db, tenant_id, self.quotas)
            names = select(SessionRow.name).where(SessionRow.tenant_id == tenant_id, SessionRow.name == name)
            if (await db.execute(names)).first() is not None:
                raise SessionExists(name)
            used = await db.scalar(select(func.count()).where(SessionRow.tenant_id == tenant_id))
            check("sessions", quotas.sessions, int(used or 0))
            db.add(row)
            try:
                await db.commit()
            except IntegrityError as exc:
                raise SessionExists(name) from exc
        return row

    async def list(self, tenant_id: str, limit: int, after: str | None = None) -> list[SessionRow]:
        """The tenant's sessions by name, at most ``limit``, after the name ``after``."""
        query = (
            select(SessionRow).where(SessionRow.tenant_id == tenant_id).order_by(SessionRow.name).limit(limit)
        )
        if after is not None:
            query = query.where(SessionRow.name > after)
        async with self.sessions() as db:
            return list((await db.scalars(query)).all())

    async def get(self, tenant_id: str, name: str) -> SessionRow | None:
        """One session of the tenant, or None."""
        query = select(SessionRow).where(SessionRow.tenant_id == tenant_id, SessionRow.name == name)
        async with self.sessions() as db:
            return (await db.scalars(query)).first()

    async def set_desired(self, tenant_id: str, name: str, desired: str) -> None:
        """Remember whether the session should run."""
        query = (
            update(SessionRow)
            .where(SessionRow.tenant_id == tenant_id, SessionRow.name == name)
            .values(desired=desired, updated_at=utcnow())
        )
        async with self.sessions() as db:
            await db.execute(query)
            await db.commit()

    async def set_config(self, tenant_id: str, name: str, config: dict[str, Any]) -> None:
        """Replace the session's options."""
        query = (
            update(SessionRow)
            .where(SessionRow.tenant_id == tenant_id, SessionRow.name == name)
            .values(config=config, updated_at=utcnow())
        )
        async with self.sessions() as db:
            await db.execute(query)
            await db.commit()

    async def delete(self, tenant_id: str, name: str) -> bool:
        """Remove a session; False if there was none."""
        query = delete(SessionRow).where(SessionRow.tenant_id == tenant_id, SessionRow.name == name)
        async with self.sessions() as db:
            result = await db.execute(query)
            await db.commit()
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def apply_status(self, event: SessionStatusChanged) -> bool:
        """Project a status event; an event of an older epoch never overwrites a newer one."""
        values: dict[str, Any] = {
            "status": event.status.value,
            "previous": event.previous.value if event.previous else None,
            "reason": event.reason,
            "worker": event.worker,
            "epoch": event.epoch,
            "event_time": event.time,
            "updated_at": utcnow(),
        }
        if event.status.value != "SCAN_QR":
            values.update(qr_value=None, qr_index=None, qr_expires_at=None)
        if event.phone:
            values["phone"] = event.phone
        query = (
            update(SessionRow)
            .where(
                SessionRow.tenant_id == event.tenant,
                SessionRow.name == event.session,
                # Fencing: a newer epoch wins; inside one epoch, the later event wins.
                (SessionRow.epoch < event.epoch)
                | (
                    (SessionRow.epoch == event.epoch)
                    & ((SessionRow.event_time.is_(None)) | (SessionRow.event_time <= event.time))
                ),
            )
            .values(**values)
        )
        async with self.sessions() as db:
            result = await db.execute(query)
            await db.commit()
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def apply_qr(self, event: QrCodeIssued) -> bool:
        """Keep the current QR code of a session waiting for a scan (same fencing as status)."""
        query = (
            update(SessionRow)
            .where(
                SessionRow.tenant_id == event.tenant,
                SessionRow.name == event.session,
                SessionRow.epoch <= event.epoch,
            )
            .values(
                qr_value=event.value,
                qr_index=event.index,
                qr_expires_at=event.expires_at,
                epoch=event.epoch,
                updated_at=utcnow(),
            )
        )
        async with self.sessions() as db:
            result = await db.execute(query)
            await db.commit()
        return bool(result.rowcount)  # type: ignore[attr-defined]
