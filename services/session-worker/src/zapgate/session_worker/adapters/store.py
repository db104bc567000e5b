"""The worker's session table: desired state and encrypted credentials."""

from __future__ import annotations

from sqlalchemy import delete, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from zapgate.common.db import utcnow
from zapgate.session_worker.adapters.tables import WorkerSessionRow


class SessionStore:
    """Reads and writes the rows of the sessions a worker runs."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def set_desired(self, tenant: str, session: str, partition: int, desired: str, engine: str) -> None:
        """Remember whether a session should run (it comes back after any restart until stopped)."""
        await self._upsert(
            tenant, session, partition, {"engine": engine, "desired": desired}, {"desired": desired}
        )

    async def set_config(self, tenant: str, session: str, partition: int, config: dict[str, object]) -> None:
        """Store a session's options (pacing)."""
        await self._upsert(tenant, session, partition, {"config": config}, {"config": config})

    async def _upsert(
        self, tenant: str, session: str, partition: int, new: dict[str, object], changes: dict[str, object]
    ) -> None:
        """Insert the session's row with ``new`` values, or apply ``changes`` to the existing one."""
        query = (
            insert(WorkerSessionRow)
            .values(tenant=tenant, session=session, partition=partition, updated_at=utcnow(), **new)
            .on_conflict_do_update(
                index_elements=["tenant", "session"], set_={**changes, "updated_at": utcnow()}
            )
        )
        async with self.sessions() as db:
            await db.execute(query)
            await db.commit()

    async def started_in(self, partition: int) -> list[WorkerSessionRow]:
        """Sessions of a partition that should be running."""
        query = select(WorkerSessionRow).where(
            WorkerSessionRow.partition == partition, WorkerSessionRow.desired == "started"
        )
        async with self.sessions() as db:
            return list((await db.scalars(query)).all())

    async def get(self, tenant: str, session: str) -> WorkerSessionRow | None:
        """One row, or None."""
        async with self.sessions() as db:
            return await db.get(WorkerSessionRow, (tenant, session))

    async def save_credentials(self, tenant: str, session: str, blob: bytes | None) -> None:
        """Store (or, with None, remove) a session's encrypted credentials."""
        query = (
            update(WorkerSessionRow)
            .where(WorkerSessionRow.tenant == tenant, WorkerSessionRow.session == session)
            .values(credentials=blob, updated_at=utcnow())
        )
        async with self.sessions() as db:
            await db.execute(query)
            await db.commit()

    async def credential_page(
        self, after: tuple[str, str] | None, limit: int
    ) -> list[tuple[str, str, bytes]]:
        """(tenant, session, blob) of stored credentials in key order, after ``after``."""
        query = (
            select(WorkerSessionRow.tenant, WorkerSessionRow.session, WorkerSessionRow.credentials)
            .where(WorkerSessionRow.credentials.is_not(None))
            .order_by(WorkerSessionRow.tenant, WorkerSessionRow.session)
            .limit(limit)
        )
        if after is not None:
            query = query.where(tuple_(WorkerSessionRow.tenant, WorkerSessionRow.session) > after)
        async with self.sessions() as db:
            return [(t, s, bytes(b)) for t, s, b in (await db.execute(query)).all() if b is not None]

    async def replace_credentials(self, tenant: str, session: str, old: bytes, new: bytes) -> bool:
        """Swap a session's blob, only if it is still ``old`` (a running session may have saved
        newer credentials meanwhile); whether it was swapped."""
        query = (
            update(WorkerSessionRow)
            .where(
                WorkerSessionRow.tenant == tenant,
                WorkerSessionRow.session == session,
                WorkerSessionRow.credentials == old,
            )
            .values(credentials=new, updated_at=utcnow())
        )
        async with self.sessions() as db:
            result = await db.execute(query)
            await db.commit()
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def forget(self, tenant: str, session: str) -> None:
        """Remove a session entirely (deleted through the API)."""
        query = delete(WorkerSessionRow).where(
            WorkerSessionRow.tenant == tenant, WorkerSessionRow.session == session
        )
        async with self.sessions() as db:
            await db.execute(query)
            await db.commit()
