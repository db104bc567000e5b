"""A session's Sender against the real outbox in PostgreSQL: every row taken once, in order."""

from __future__ import annotations

import asyncio

from helpers import eventually
from sqlalchemy import text

from zapgate.common.db import make_engine, make_sessionmaker
from zapgate.common.ids import new_id
from zapgate.common.messages import AnyContent, MessageState, PacingConfig, SessionStatus
from zapgate.session_worker.adapters.messages import MessageStore, Outgoing, Transition
from zapgate.session_worker.sender import Outcome, Sender


class TakingEngine:
    """A connected session whose network takes every message at once; it records what it got."""

    status = SessionStatus.CONNECTED

    def __init__(self) -> None:
        self.submitted: list[str] = []

    async def submit(
        self, message_id: str, wa_id: str, chat: str, content: AnyContent
    ) -> asyncio.Future[None]:
        self.submitted.append(message_id)
        taken: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        taken.set_result(None)
        return taken

    async def typing(self, chat: str, seconds: float) -> None:
        return None


def outgoing(n: int) -> list[Outgoing]:
    return [
        Outgoing(
            new_id(),
            "5511955559999@c.us",
            f"3EB0{new_id()[:18]}",
            {"type": "text", "text": f"m{n}-{i}"},
            None,
        )
        for i in range(3)
    ]


def unpaced_sender(store: MessageStore, network: TakingEngine) -> tuple[Sender, list[Outcome]]:
    """A sender of session T1/main over ``network``, pacing off, and the outcomes it reports."""
    reported: list[Outcome] = []

    async def report(batch: list[Outcome]) -> None:
        reported.extend(batch)

    sender = Sender(store, network, PacingConfig(enabled=False), report, "T1", "main")  # type: ignore[arg-type]
    return sender, reported


async def record(store: MessageStore, rows: list[Outgoing]) -> set[str]:
    return await store.accept(
        [{"id": r.id, "tenant": "T1", "session": "main", "partition": 0, "chat": r.chat, "wa_id": r.wa_id,
          "content": r.content, "expires_at": None} for r in rows]
    )  # fmt: skip


async def test_rows_read_from_the_outbox_before_their_hand_over_are_sent_once(database_url: str) -> None:
    engine = make_engine(database_url, pool_size=2)
    store = MessageStore(make_sessionmaker(engine), engine)
    network = TakingEngine()
    sender, reported = unpaced_sender(store, network)
    try:
        first, second = outgoing(1), outgoing(2)
        assert await record(store, first) == {r.id for r in first}
        # The sender reads the outbox (it starts, or an idle sender is woken) after the commit...
        sender.kick()
        await eventually(lambda: len(network.submitted) == 3, 10, "the outbox read to be sent")
        # ...and the consumer's hand-over of the same rows comes after that read.
        sender.kick(first)
        assert await record(store, second) == {r.id for r in second}
        sender.kick(second)
        await eventually(lambda: len(network.submitted) >= 6, 10, "the handed-over rows to be sent")
        await asyncio.sleep(0.3)  # room for a wrong second send
        assert network.submitted == [r.id for r in first + second]  # each once, in order
        assert await store.pending("T1", "main") == []  # and all recorded as sent
        assert [status.value for _, status, _ in reported] == ["sent"] * 6
    finally:
        await sender.close()
        await engine.dispose()


class RenamingEngine(TakingEngine):
    """A network that takes each message under an id of its own (as neonize's does)."""

    async def submit(
        self, message_id: str, wa_id: str, chat: str, content: AnyContent
    ) -> asyncio.Future[str | None]:
        self.submitted.append(message_id)
        taken: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        taken.set_result(f"WA-{message_id}")
        return taken


async def test_the_id_the_network_gave_is_recorded_even_when_a_receipt_came_first(
    database_url: str,
) -> None:
    engine = make_engine(database_url, pool_size=2)
    store = MessageStore(make_sessionmaker(engine), engine)
    network = RenamingEngine()
    sender, reported = unpaced_sender(store, network)
    try:
        rows = outgoing(1)
        await record(store, rows)
        sender.kick()
        await eventually(lambda: len(reported) == 3, 10, "the sends to be recorded")
        assert [row.wa_id for row, _, _ in reported] == [f"WA-{r.id}" for r in rows]  # the events say it
        # A receipt can be recorded before the send's own record: the id is still WhatsApp's.
        late = outgoing(2)[0]
        await record(store, [late])
        await store.advance([Transition(late.id, MessageState.DELIVERED)])
        await store.advance([Transition(late.id, MessageState.SENT, None, f"WA-{late.id}")])
        async with engine.connect() as conn:
            found = dict(
                (await conn.execute(text("SELECT id, wa_id || ':' || status FROM worker_messages"))).all()
            )
        assert found == {
            **{r.id: f"WA-{r.id}:sent" for r in rows},
            late.id: f"WA-{late.id}:delivered",  # the receipt's status stays
        }
    finally:
        await sender.close()
        await engine.dispose()
