"""The worker's outbox: accepted sends, recorded before their commands are acknowledged."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from zapgate.common.db import utcnow
from zapgate.common.messages import MessageState
from zapgate.session_worker.adapters.tables import WorkerMessageRow

_T: Table = WorkerMessageRow.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class Transition:
    """A message moving to a status (applied only if it moves forward)."""

    id: str
    status: MessageState
    error: str | None = None


class MessageStore:
    """Reads and writes ``worker_messages``."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def accept(self, rows: Sequence[dict[str, Any]]) -> None:
        """Record sends; a redelivered command (same id) changes nothing."""
        if not rows:
            return
        now = utcnow()
        values = [
            {**row, "status": "queued", "rank": 0, "created_at": now, "updated_at": now} for row in rows
        ]
        async with self.sessions() as db:
            await db.execute(insert(WorkerMessageRow).on_conflict_do_nothing(index_elements=["id"]), values)
            await db.commit()

    async def pending(self, tenant: str, session: str, limit: int = 200) -> list[WorkerMessageRow]:
        """The session's messages not sent yet, oldest first."""
        query = (
            select(WorkerMessageRow)
            .where(WorkerMessageRow.tenant == tenant, WorkerMessageRow.session == session,
                   WorkerMessageRow.rank == 0)
            .order_by(WorkerMessageRow.id)
            .limit(limit)
        )  # fmt: skip
        async with self.sessions() as db:
            return list((await db.scalars(query)).all())

    async def advance(self, transitions: Iterable[Transition]) -> None:
        """Move messages forward; a status never replaces one of a higher rank."""
        params = [
            {"b_id": t.id, "b_status": t.status.value, "b_rank": t.status.rank, "b_error": t.error}
            for t in transitions
        ]
        if not params:
            return
        query = (
            update(_T)
            .where(_T.c.id == bindparam("b_id"), _T.c.rank < bindparam("b_rank"))
            .values(status=bindparam("b_status"), rank=bindparam("b_rank"), error=bindparam("b_error"),
                    updated_at=utcnow())
        )  # fmt: skip
        async with self.sessions() as db:
            await (await db.connection()).execute(query, params)
            await db.commit()

    async def awaiting_acks(self, partition: int) -> list[WorkerMessageRow]:
        """Sent messages whose contact has not acknowledged everything yet (after a takeover)."""
        query = select(WorkerMessageRow).where(
            WorkerMessageRow.partition == partition,
            WorkerMessageRow.rank.in_([MessageState.SENT.rank, MessageState.DELIVERED.rank]),
        )
        async with self.sessions() as db:
            return list((await db.scalars(query)).all())

    async def expired(self, partitions: Sequence[int], now: datetime) -> list[WorkerMessageRow]:
        """Unsent messages of these partitions whose ``expires_at`` has passed."""
        if not partitions:
            return []
        query = (
            select(WorkerMessageRow)
            .where(WorkerMessageRow.partition.in_(partitions), WorkerMessageRow.rank == 0,
                   WorkerMessageRow.expires_at.is_not(None), WorkerMessageRow.expires_at < now)
            .limit(1000)
        )  # fmt: skip
        async with self.sessions() as db:
            return list((await db.scalars(query)).all())
