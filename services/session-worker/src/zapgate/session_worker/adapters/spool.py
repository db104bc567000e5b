"""Events that could not be published yet, kept in PostgreSQL until NATS takes them.

An inbound message or a status change must not be lost to a long NATS outage: after a few
quick tries the worker writes the event here, and a flusher publishes the rows in order (with
their dedup ids, so a row published twice around a crash is dropped by the stream).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from zapgate.common.db import autocommit, utcnow


@dataclass(frozen=True, slots=True)
class Spooled:
    """An event waiting to be published: its subject, its bytes and its dedup id."""

    subject: str
    data: bytes
    dedup: str
    trace: dict[str, str] | None = None  # traceparent of the span it continues (not spooled)


_ADD = text(
    """
    INSERT INTO worker_event_spool (subject, data, dedup, created_at)
    SELECT u.subject, u.data, u.dedup, CAST(:now AS TIMESTAMPTZ)
    FROM unnest(CAST(:subjects AS TEXT[]), CAST(:datas AS BYTEA[]), CAST(:dedups AS TEXT[]))
         AS u(subject, data, dedup)
    """
)
_TAKE = text(
    "SELECT seq, subject, data, dedup FROM worker_event_spool ORDER BY seq LIMIT :limit FOR UPDATE SKIP LOCKED"
)
_DELETE = text("DELETE FROM worker_event_spool WHERE seq = ANY(CAST(:seqs AS BIGINT[]))")
_COUNT = text("SELECT count(*) FROM worker_event_spool")


class EventSpool:
    """The ``worker_event_spool`` table, shared by every worker: any of them flushes it."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def add(self, items: Sequence[Spooled]) -> None:
        """Keep events, in this order, until they are published."""
        if not items:
            return
        params = {
            "now": utcnow(),
            "subjects": [i.subject for i in items],
            "datas": [i.data for i in items],
            "dedups": [i.dedup for i in items],
        }
        await autocommit(self.engine, _ADD, params)

    async def count(self) -> int:
        """How many events wait."""
        rows = await autocommit(self.engine, _COUNT, {})
        return int(rows[0][0])

    async def flush(self, publish: Callable[[Sequence[Spooled]], Awaitable[None]], limit: int = 256) -> int:
        """Publish the oldest waiting events and remove them; how many were published.

        The rows stay locked (``SKIP LOCKED``) while they are published, so two workers flushing
        at once take different rows; a publish that fails leaves them for the next flush.
        """
        async with self.engine.connect() as conn, conn.begin():
            rows = (await conn.execute(_TAKE, {"limit": limit})).all()
            if not rows:
                return 0
            await publish([Spooled(str(r.subject), bytes(r.data), str(r.dedup)) for r in rows])
            await conn.execute(_DELETE, {"seqs": [int(r.seq) for r in rows]})
        return len(rows)
