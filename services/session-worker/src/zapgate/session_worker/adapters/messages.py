"""The worker's outbox: accepted sends, recorded before their commands are acknowledged."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from zapgate.common.db import utcnow
from zapgate.common.messages import MessageState, furthest
from zapgate.session_worker.adapters.tables import WorkerMessageRow

_T: Table = WorkerMessageRow.__table__  # type: ignore[assignment]

_ADVANCE = text(
    """
    UPDATE worker_messages AS w
    SET status = u.status, rank = u.rank, error = u.error, updated_at = CAST(:now AS TIMESTAMPTZ)
    FROM unnest(CAST(:ids AS VARCHAR[]), CAST(:statuses AS VARCHAR[]), CAST(:ranks AS SMALLINT[]),
                CAST(:errors AS TEXT[])) AS u(id, status, rank, error)
    WHERE w.id = u.id AND w.rank < u.rank
    """
)


# Every statement here stands alone: autocommit spares a BEGIN and a COMMIT (or ROLLBACK)
# round trip each, a third of the worker's database traffic under load.
AUTOCOMMIT = {"isolation_level": "AUTOCOMMIT"}


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
            await db.connection(execution_options=AUTOCOMMIT)
            await db.execute(insert(WorkerMessageRow).on_conflict_do_nothing(index_elements=["id"]), values)

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
            await db.connection(execution_options=AUTOCOMMIT)
            return list((await db.scalars(query)).all())

    async def advance(self, transitions: Iterable[Transition]) -> None:
        """Move messages forward; a status never replaces one of a higher rank.

        One statement for the whole batch, each message at its furthest status of the batch.
        """
        moves = furthest(transitions, lambda t: t.id)
        if not moves:
            return
        batch = [moves[i] for i in sorted(moves)]  # one lock order for every writer
        params = {
            "now": utcnow(),
            "ids": [t.id for t in batch],
            "statuses": [t.status.value for t in batch],
            "ranks": [t.status.rank for t in batch],
            "errors": [t.error for t in batch],
        }
        async with self.sessions() as db:
            await db.connection(execution_options=AUTOCOMMIT)
            await db.execute(_ADVANCE, params)

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
