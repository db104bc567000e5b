"""The worker's outbox: accepted sends, recorded before their commands are acknowledged."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from zapgate.common.db import autocommit, utcnow
from zapgate.common.messages import MessageState, furthest
from zapgate.session_worker.adapters.tables import WorkerMessageRow

_T: Table = WorkerMessageRow.__table__  # type: ignore[assignment]

_ADVANCE = text(
    """
    UPDATE worker_messages AS w
    SET status = CASE WHEN w.rank < u.rank THEN u.status ELSE w.status END,
        error = CASE WHEN w.rank < u.rank THEN u.error ELSE w.error END,
        rank = GREATEST(w.rank, u.rank),
        -- WhatsApp's id of the message, even when a receipt overtook the send's own record
        wa_id = COALESCE(u.wa_id, w.wa_id),
        updated_at = CAST(:now AS TIMESTAMPTZ)
    FROM unnest(CAST(:ids AS VARCHAR[]), CAST(:statuses AS VARCHAR[]), CAST(:ranks AS SMALLINT[]),
                CAST(:errors AS TEXT[]), CAST(:was AS VARCHAR[])) AS u(id, status, rank, error, wa_id)
    WHERE w.id = u.id AND (w.rank < u.rank OR u.wa_id IS DISTINCT FROM NULL AND u.wa_id <> w.wa_id)
    """
)


_ACCEPT = text(
    """
    INSERT INTO worker_messages (id, tenant, session, partition, chat, wa_id, content, status, rank,
                                 expires_at, created_at, updated_at)
    SELECT u.id, u.tenant, u.session, u.partition, u.chat, u.wa_id, CAST(u.content AS JSONB), 'queued', 0,
           u.expires_at, CAST(:now AS TIMESTAMPTZ), CAST(:now AS TIMESTAMPTZ)
    FROM unnest(CAST(:ids AS VARCHAR[]), CAST(:tenants AS VARCHAR[]), CAST(:sessions AS VARCHAR[]),
                CAST(:partitions AS INTEGER[]), CAST(:chats AS VARCHAR[]), CAST(:was AS VARCHAR[]),
                CAST(:contents AS TEXT[]), CAST(:expires AS TIMESTAMPTZ[]))
         AS u(id, tenant, session, partition, chat, wa_id, content, expires_at)
    ON CONFLICT (id) DO NOTHING
    RETURNING id
    """
)

_EXPIRE = text(
    """
    UPDATE worker_messages SET status = 'failed', rank = 9, error = 'expired', updated_at = CAST(:now AS TIMESTAMPTZ)
    WHERE id = ANY(CAST(:ids AS VARCHAR[])) AND rank = 0
    RETURNING id
    """
)

_PENDING = (
    select(_T.c.id, _T.c.chat, _T.c.wa_id, _T.c.content, _T.c.expires_at)
    .where(_T.c.tenant == bindparam("tenant"), _T.c.session == bindparam("session"), _T.c.rank == 0)
    .order_by(_T.c.id)
    .limit(bindparam("limit"))
)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message of a session's outbox waiting to be sent."""

    id: str
    chat: str
    wa_id: str
    content: dict[str, Any]
    expires_at: datetime | None


@dataclass(frozen=True)
class Transition:
    """A message moving to a status (applied only if it moves forward)."""

    id: str
    status: MessageState
    error: str | None = None
    wa_id: str | None = None  # the id WhatsApp gave it, when not the one derived from ours


class MessageStore:
    """Reads and writes ``worker_messages``.

    The statements of the send path run in autocommit on plain connections rather than in ORM
    sessions: the ORM's unit of work was a tenth of a busy worker's CPU.
    """

    def __init__(self, sessions: async_sessionmaker[AsyncSession], engine: AsyncEngine) -> None:
        self.sessions = sessions
        self.engine = engine

    async def accept(self, rows: Sequence[dict[str, Any]]) -> set[str]:
        """Record sends in one statement; a redelivered command (same id) changes nothing.

        Returns the ids recorded now (not those recorded before).
        """
        if not rows:
            return set()
        params = {
            "now": utcnow(),
            "ids": [r["id"] for r in rows],
            "tenants": [r["tenant"] for r in rows],
            "sessions": [r["session"] for r in rows],
            "partitions": [r["partition"] for r in rows],
            "chats": [r["chat"] for r in rows],
            "was": [r["wa_id"] for r in rows],
            "contents": [json.dumps(r["content"]) for r in rows],
            "expires": [r["expires_at"] for r in rows],
        }
        return {str(row[0]) for row in await autocommit(self.engine, _ACCEPT, params)}

    async def pending(self, tenant: str, session: str, limit: int = 200) -> list[Outgoing]:
        """The session's messages not sent yet, oldest first."""
        params = {"tenant": tenant, "session": session, "limit": limit}
        return [Outgoing(**row._mapping) for row in await autocommit(self.engine, _PENDING, params)]

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
            "was": [t.wa_id for t in batch],
        }
        await autocommit(self.engine, _ADVANCE, params)

    async def expire(self, ids: Sequence[str]) -> set[str]:
        """Fail these messages as expired if they are still unsent; the ids that were."""
        if not ids:
            return set()
        rows = await autocommit(self.engine, _EXPIRE, {"now": utcnow(), "ids": sorted(ids)})
        return {str(row[0]) for row in rows}

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
