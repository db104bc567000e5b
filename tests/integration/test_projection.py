"""The gateway's projection of worker events, against a real PostgreSQL."""

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from zapgate.common.db import make_engine, make_sessionmaker
from zapgate.common.ids import new_id
from zapgate.common.messages import (
    MediaContent,
    MediaRef,
    MessageReceived,
    MessageState,
    MessageStatusChanged,
    QrCodeIssued,
    SessionStatus,
    SessionStatusChanged,
    TextContent,
)
from zapgate.gateway.adapters.messages import MessageRepository
from zapgate.gateway.adapters.quotas import QuotaBook
from zapgate.gateway.adapters.repository import TenantRepository
from zapgate.gateway.adapters.sessions import SessionRepository
from zapgate.gateway.domain.quotas import Quotas


async def test_an_older_epoch_never_overwrites_a_newer_one(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        sessions = make_sessionmaker(engine)
        tenant, _ = await TenantRepository(sessions, Quotas()).create_tenant("fencing")
        repo = SessionRepository(sessions, Quotas())
        await repo.create(tenant.id, "main", "simulator", {}, 3)
        t0 = datetime.now(UTC)

        def status(s: SessionStatus, epoch: int, at: datetime, worker: str) -> SessionStatusChanged:
            return SessionStatusChanged(
                tenant=tenant.id, session="main", status=s, epoch=epoch, time=at, worker=worker
            )

        assert await repo.apply_status(status(SessionStatus.CONNECTED, 20, t0, "new:2"))
        # The old owner's late event (epoch 10), even with a later timestamp, is ignored.
        assert not await repo.apply_status(
            status(SessionStatus.STOPPED, 10, t0 + timedelta(seconds=5), "old:1")
        )
        row = await repo.get(tenant.id, "main")
        assert row is not None and (row.status, row.worker, row.epoch) == ("CONNECTED", "new:2", 20)
        # Within one epoch, an event older than the one applied does not win either.
        assert not await repo.apply_status(
            status(SessionStatus.STARTING, 20, t0 - timedelta(seconds=1), "new:2")
        )
        assert await repo.apply_status(status(SessionStatus.SCAN_QR, 21, t0, "newer:3"))
        qr = QrCodeIssued(tenant=tenant.id, session="main", value="v", index=0, expires_at=t0, epoch=19)
        assert not await repo.apply_qr(qr)  # a QR of an older epoch is not shown
        assert await repo.apply_qr(qr.model_copy(update={"epoch": 21}))
        row = await repo.get(tenant.id, "main")
        assert row is not None and (row.status, row.qr_value) == ("SCAN_QR", "v")
        # Another tenant's event with the same session name changes nothing here.
        assert not await repo.apply_status(
            SessionStatusChanged(tenant="OTHER", session="main", status=SessionStatus.FAILED, epoch=99)
        )
    finally:
        await engine.dispose()


async def test_message_status_only_moves_forward_whatever_the_order(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        sessions = make_sessionmaker(engine)
        tenant, _ = await TenantRepository(sessions, Quotas()).create_tenant("acks")
        messages = MessageRepository(sessions, engine)
        await SessionRepository(sessions, Quotas()).create(tenant.id, "main", "simulator", {}, 0)
        first = {"id": "01JMSG0000000000000000000A", "tenant_id": tenant.id, "session": "main",
                 "chat": "5511987654321@c.us", "type": "text", "content": {"type": "text", "text": "hi"},
                 "idempotency_key": "k", "expires_at": None}  # fmt: skip
        created = await messages.record(first)
        row = await messages.get(tenant.id, first["id"])
        assert created and row is not None
        created_again = await messages.record({**first, "id": "01JMSG0000000000000000000B"})
        again = await messages.by_key(tenant.id, "k")
        assert (
            not created_again and again is not None and again.id == row.id
        )  # the key names the first message

        def status(s: MessageState, tenant_id: str = tenant.id) -> MessageStatusChanged:
            return MessageStatusChanged(
                tenant=tenant_id, session="main", message_id=row.id, status=s, wa_id="3EB0X"
            )

        # Acks arrive out of order, in one batch and across batches: the highest rank wins.
        await messages.apply_statuses([status(MessageState.READ), status(MessageState.SENT)])
        await messages.apply_statuses([status(MessageState.DELIVERED)])
        stored = await messages.get(tenant.id, row.id)
        assert stored is not None and (stored.status, stored.wa_id) == ("read", "3EB0X")
        # Another tenant's event naming this message id changes nothing.
        await messages.apply_statuses([status(MessageState.FAILED, "OTHER")])
        stored = await messages.get(tenant.id, row.id)
        assert stored is not None and stored.status == "read"
        assert await messages.get("OTHER", row.id) is None
    finally:
        await engine.dispose()


async def test_chats_are_counted_as_messages_are_recorded_and_match_the_history(database_url: str) -> None:
    # Listing chats used to aggregate a session's whole history on every call; the chats rows
    # must give the same answer as that aggregate, through batches, repeats and reads at once.
    engine = make_engine(database_url)
    try:
        sessions = make_sessionmaker(engine)
        tenant, _ = await TenantRepository(sessions, Quotas()).create_tenant("chats")
        messages = MessageRepository(sessions, engine)
        await SessionRepository(sessions, Quotas()).create(tenant.id, "main", "simulator", {}, 0)
        chats = [f"55119876500{n:02d}@c.us" for n in range(5)]

        def outgoing(i: int) -> dict:
            return {"id": new_id(), "tenant_id": tenant.id, "session": "main", "chat": chats[i % 5],
                    "type": "text", "content": {"type": "text", "text": f"m{i}"}, "idempotency_key": None,
                    "expires_at": None}  # fmt: skip

        def incoming(i: int) -> MessageReceived:
            return MessageReceived(
                tenant=tenant.id, session="main", message_id=new_id(), wa_id=f"IN{i}", chat=chats[i % 3],
                sender=chats[i % 3], content=TextContent(text=f"r{i}"),
            )  # fmt: skip

        received = [incoming(i) for i in range(30)]
        # Sends batched together, incoming messages (each projected twice) and reads, all at once.
        await asyncio.gather(
            *(messages.record(outgoing(i)) for i in range(60)),
            *(messages.apply_received(e) for e in received + received),
            *(messages.mark_read(tenant.id, "main", chats[0]) for _ in range(3)),
        )
        await messages.mark_read(tenant.id, "main", chats[1])
        await messages.apply_received(incoming(31))  # chats[1] again: one unread
        listed = {
            c.chat: (c.last_message_id, c.messages, c.unread)
            for c in await messages.chats(tenant.id, "main", 100)
        }
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    text(
                        "SELECT chat, max(id), count(*), count(*) FILTER (WHERE direction = 'in' AND NOT seen) "
                        "FROM messages WHERE tenant_id = :t AND session = 'main' GROUP BY chat"
                    ),
                    {"t": tenant.id},
                )
            ).all()
        assert listed == {r[0]: (r[1], r[2], r[3]) for r in rows}
        assert listed[chats[1]][2] == 1 and sum(n for _, n, _ in listed.values()) == 91
        newest_first = [c.chat for c in await messages.chats(tenant.id, "main", 2)]
        assert newest_first[0] == chats[1] and len(newest_first) == 2
    finally:
        await engine.dispose()


async def test_a_contact_s_media_counts_in_the_tenant_s_media_quota_once(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        sessions = make_sessionmaker(engine)
        tenant, _ = await TenantRepository(sessions, Quotas()).create_tenant("inbound-media")
        messages = MessageRepository(sessions, engine)
        book = QuotaBook(sessions, Quotas(), 3600)
        before = (await book.usage(tenant.id)).media_bytes
        ref = MediaRef(id=new_id(), mimetype="image/jpeg", filename=None, size=70_000, sha256="00" * 32)
        event = MessageReceived(
            tenant=tenant.id, session="main", message_id=new_id(), wa_id="IN-media", chat="5511987650001@c.us",
            sender="5511987650001@c.us", content=MediaContent(type="image", media=ref),
        )  # fmt: skip
        await messages.apply_received(event)
        await messages.apply_received(event)  # redelivered: counted once
        assert (await book.usage(tenant.id)).media_bytes == before + 70_000
    finally:
        await engine.dispose()
