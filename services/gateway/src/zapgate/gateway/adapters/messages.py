"""Messages of a tenant's sessions: idempotent acceptance, history, chats, projected status."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, delete, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from zapgate.common.db import autocommit, utcnow
from zapgate.common.messages import MediaContent, MessageReceived, MessageStatusChanged, furthest
from zapgate.gateway.adapters.tables import ChatRow, MessageRow, UnpublishedSendRow

_T: Table = MessageRow.__table__  # type: ignore[assignment]


_ACCEPT_MANY = text(
    """
    WITH inserted AS (
    INSERT INTO messages (id, tenant_id, session, direction, chat, type, content, status, rank,
                          idempotency_key, request_hash, seen, expires_at, created_at, updated_at)
    SELECT u.id, u.tenant_id, u.session, 'out', u.chat, u.type, CAST(u.content AS JSONB), 'queued', 0,
           u.idempotency_key, u.request_hash, true, u.expires_at, CAST(:now AS TIMESTAMPTZ),
           CAST(:now AS TIMESTAMPTZ)
    FROM unnest(CAST(:ids AS VARCHAR[]), CAST(:tenants AS VARCHAR[]), CAST(:sessions AS VARCHAR[]),
                CAST(:chats AS VARCHAR[]), CAST(:types AS VARCHAR[]), CAST(:contents AS TEXT[]),
                CAST(:keys AS VARCHAR[]), CAST(:hashes AS VARCHAR[]), CAST(:expires AS TIMESTAMPTZ[]))
         AS u(id, tenant_id, session, chat, type, content, idempotency_key, request_hash, expires_at)
    WHERE EXISTS (SELECT 1 FROM sessions s WHERE s.tenant_id = u.tenant_id AND s.name = u.session)
    ON CONFLICT DO NOTHING
    RETURNING id, tenant_id, session, chat
    ),
    -- One upsert per conversation of the batch, in key order, so that two replicas' batches
    -- lock the same chat rows in the same order instead of deadlocking.
    counted AS (
    INSERT INTO chats AS c (tenant_id, session, chat, last_message_id, last_message_at, messages, unread)
    SELECT tenant_id, session, chat, max(id), CAST(:now AS TIMESTAMPTZ), count(*), 0
    FROM inserted GROUP BY tenant_id, session, chat ORDER BY tenant_id, session, chat
    ON CONFLICT (tenant_id, session, chat) DO UPDATE
    SET last_message_id = greatest(c.last_message_id, excluded.last_message_id),
        last_message_at = greatest(c.last_message_at, excluded.last_message_at),
        messages = c.messages + excluded.messages
    )
    SELECT id FROM inserted
    """
)

# An incoming message, recorded once (a repeat of its event inserts nothing and counts nothing).
_RECEIVE = text(
    """
    WITH inserted AS (
    INSERT INTO messages (id, tenant_id, session, direction, chat, type, content, status, rank, wa_id,
                          seen, created_at, updated_at)
    VALUES (:id, :tenant_id, :session, 'in', :chat, :type, CAST(:content AS JSONB), 'received', 0, :wa_id,
            false, :created_at, :now)
    ON CONFLICT DO NOTHING
    RETURNING id, tenant_id, session, chat, created_at
    )
    INSERT INTO chats AS c (tenant_id, session, chat, last_message_id, last_message_at, messages, unread)
    SELECT tenant_id, session, chat, id, created_at, 1, 1 FROM inserted
    ON CONFLICT (tenant_id, session, chat) DO UPDATE
    SET last_message_id = greatest(c.last_message_id, excluded.last_message_id),
        last_message_at = greatest(c.last_message_at, excluded.last_message_at),
        messages = c.messages + 1, unread = c.unread + 1
    """
)


_RECEIVED_MEDIA = text(
    """
    INSERT INTO media_objects (id, tenant_id, size, created_at) VALUES (:id, :tenant_id, :size, :now)
    ON CONFLICT DO NOTHING
    """
)


_APPLY_STATUSES = text(
    """
    UPDATE messages AS m
    SET status = u.status, rank = u.rank, wa_id = coalesce(u.wa_id, m.wa_id), error = u.error,
        updated_at = CAST(:now AS TIMESTAMPTZ)
    FROM unnest(CAST(:ids AS VARCHAR[]), CAST(:tenants AS VARCHAR[]), CAST(:statuses AS VARCHAR[]),
                CAST(:ranks AS INTEGER[]), CAST(:was AS VARCHAR[]), CAST(:errors AS TEXT[]))
         AS u(id, tenant_id, status, rank, wa_id, error)
    WHERE m.id = u.id AND m.tenant_id = u.tenant_id AND m.rank < u.rank
    """
)


class AcceptBatcher:
    """Inserts the messages of concurrent requests together, one statement per batch.

    While one batch is in the database the next one gathers, so under load a gateway process
    pays one round trip per batch instead of one per message; alone, a request waits for nobody.
    """

    def __init__(self, engine: AsyncEngine, max_batch: int = 500) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self._pending: list[tuple[dict[str, Any], asyncio.Future[bool]]] = []
        self._running = False

    async def record(self, row: dict[str, Any]) -> bool:
        """Insert one message if its session exists and its key is new; False otherwise."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._pending.append((row, future))
        if not self._running:
            self._running = True
            asyncio.get_running_loop().call_soon(lambda: asyncio.ensure_future(self._drain()))
        return await future

    async def _drain(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
                try:
                    inserted = await self._insert([row for row, _ in batch])
                except Exception as exc:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for row, future in batch:
                    if not future.done():
                        future.set_result(row["id"] in inserted)
        finally:
            self._running = False

    async def _insert(self, rows: list[dict[str, Any]]) -> set[str]:
        params = {
            "now": utcnow(),
            "ids": [r["id"] for r in rows],
            "tenants": [r["tenant_id"] for r in rows],
            "sessions": [r["session"] for r in rows],
            "chats": [r["chat"] for r in rows],
            "types": [r["type"] for r in rows],
            "contents": [json.dumps(r["content"]) for r in rows],
            "keys": [r["idempotency_key"] for r in rows],
            "hashes": [r.get("request_hash") for r in rows],
            "expires": [r["expires_at"] for r in rows],
        }
        return {str(r[0]) for r in await autocommit(self.engine, _ACCEPT_MANY, params)}


@dataclass(frozen=True)
class Chat:
    """A conversation as listed."""

    chat: str
    last_message_id: str
    last_message_at: datetime
    messages: int
    unread: int


class MessageRepository:
    """Every query is scoped by tenant."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], engine: AsyncEngine) -> None:
        self.sessions = sessions
        self.engine = engine
        self.batcher = AcceptBatcher(engine)

    async def record(self, row: dict[str, Any]) -> bool:
        """Record an outgoing message if its session exists and its key is new (batched with others).

        False when nothing was inserted: the session does not exist, or the key was used before.
        """
        return await self.batcher.record(row)

    async def by_key(self, tenant_id: str, key: str) -> MessageRow | None:
        """The message the tenant sent with this idempotency key, if any."""
        query = select(MessageRow).where(MessageRow.tenant_id == tenant_id, MessageRow.idempotency_key == key)
        async with self.sessions() as db:
            return (await db.scalars(query)).first()

    async def mark_unpublished(self, message_id: str) -> None:
        """Remember a recorded send whose command did not reach the bus."""
        async with self.sessions() as db:
            await db.execute(
                insert(UnpublishedSendRow)
                .values(message_id=message_id, created_at=utcnow())
                .on_conflict_do_nothing()
            )
            await db.commit()

    async def unpublished(self, older_than: datetime, limit: int) -> list[MessageRow]:
        """Sends marked unpublished before ``older_than``, oldest first."""
        query = (
            select(MessageRow)
            .join(UnpublishedSendRow, UnpublishedSendRow.message_id == MessageRow.id)
            .where(UnpublishedSendRow.created_at < older_than)
            .order_by(UnpublishedSendRow.created_at)
            .limit(limit)
        )
        async with self.sessions() as db:
            return list((await db.scalars(query)).all())

    async def published(self, ids: Sequence[str]) -> None:
        """These sends' commands reached the bus."""
        if ids:
            async with self.sessions() as db:
                await db.execute(delete(UnpublishedSendRow).where(UnpublishedSendRow.message_id.in_(ids)))
                await db.commit()

    async def discard(self, tenant_id: str, message_id: str) -> None:
        """Forget a message that could not be queued (the client was told 503)."""
        async with self.sessions() as db:
            await db.execute(
                _T.delete().where(_T.c.tenant_id == tenant_id, _T.c.id == message_id, _T.c.rank == 0)
            )
            await db.commit()

    async def get(self, tenant_id: str, message_id: str) -> MessageRow | None:
        """One message of the tenant."""
        async with self.sessions() as db:
            query = select(MessageRow).where(MessageRow.tenant_id == tenant_id, MessageRow.id == message_id)
            return (await db.scalars(query)).first()

    async def history(
        self, tenant_id: str, session: str, chat: str | None, direction: str | None, before: str | None,
        limit: int,
    ) -> list[MessageRow]:  # fmt: skip
        """Newest first; ``before`` is the id of the last message of the previous page."""
        query = select(MessageRow).where(MessageRow.tenant_id == tenant_id, MessageRow.session == session)
        if chat is not None:
            query = query.where(MessageRow.chat == chat)
        if direction is not None:
            query = query.where(MessageRow.direction == direction)
        if before is not None:
            query = query.where(MessageRow.id < before)
        async with self.sessions() as db:
            return list((await db.scalars(query.order_by(MessageRow.id.desc()).limit(limit))).all())

    async def chats(self, tenant_id: str, session: str, limit: int) -> list[Chat]:
        """Conversations, most recent first (from the chats rows: no scan of the history)."""
        query = (
            select(ChatRow)
            .where(ChatRow.tenant_id == tenant_id, ChatRow.session == session)
            .order_by(ChatRow.last_message_id.desc())
            .limit(limit)
        )
        async with self.sessions() as db:
            rows = (await db.scalars(query)).all()
        return [Chat(r.chat, r.last_message_id, r.last_message_at, r.messages, r.unread) for r in rows]

    async def mark_read(self, tenant_id: str, session: str, chat: str) -> int:
        """Mark a chat's incoming messages read; how many were unread."""
        query = (
            update(MessageRow)
            .where(MessageRow.tenant_id == tenant_id, MessageRow.session == session, MessageRow.chat == chat,
                   MessageRow.direction == "in", MessageRow.seen.is_(False))
            .values(seen=True, updated_at=utcnow())
        )  # fmt: skip
        async with self.sessions() as db:
            marked = int((await db.execute(query)).rowcount)  # type: ignore[attr-defined]
            if marked:
                # By what this statement marked: a message received meanwhile stays counted.
                await db.execute(
                    update(ChatRow)
                    .where(ChatRow.tenant_id == tenant_id, ChatRow.session == session, ChatRow.chat == chat)
                    .values(unread=func.greatest(ChatRow.unread - marked, 0))
                )
            await db.commit()
        return marked

    async def apply_statuses(self, events: Sequence[MessageStatusChanged]) -> None:
        """Project status events; a status never replaces one of a higher rank, whatever the order.

        One statement per batch, each message at its furthest status of the batch.
        """
        moves = furthest(events, lambda e: (e.tenant, e.message_id))
        if not moves:
            return
        wa_ids = {(e.tenant, e.message_id): e.wa_id for e in events if e.wa_id is not None}
        # In id order, so that two gateway replicas updating overlapping batches lock the rows
        # in the same order instead of deadlocking.
        keys = sorted(moves, key=lambda k: k[1])
        params = {
            "now": utcnow(),
            "ids": [k[1] for k in keys],
            "tenants": [k[0] for k in keys],
            "statuses": [moves[k].status.value for k in keys],
            "ranks": [moves[k].status.rank for k in keys],
            "was": [wa_ids.get(k) for k in keys],
            "errors": [moves[k].error for k in keys],
        }
        await autocommit(self.engine, _APPLY_STATUSES, params)

    async def apply_received(self, event: MessageReceived) -> None:
        """Project an incoming message (a repeat of the event changes nothing)."""
        params = {
            "id": event.message_id, "tenant_id": event.tenant, "session": event.session, "chat": event.chat,
            "type": event.content.type, "content": json.dumps(event.content.model_dump(mode="json")),
            "wa_id": event.wa_id, "created_at": event.time, "now": utcnow(),
        }  # fmt: skip
        await autocommit(self.engine, _RECEIVE, params)
        if isinstance(event.content, MediaContent):
            # A contact's media, kept in zg_media by the worker, counts in the tenant's media
            # quota like an upload (it cannot be refused: it already arrived).
            media = event.content.media
            await autocommit(self.engine, _RECEIVED_MEDIA, {"id": media.id, "tenant_id": event.tenant,
                                                            "size": media.size, "now": event.time})  # fmt: skip
