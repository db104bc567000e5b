"""The webhook dispatcher against real NATS and PostgreSQL, delivering to a local HTTP receiver:
Standard Webhooks signatures, retries, order per session, tenant isolation, 410."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import nats
import pytest
from helpers import Receiver
from nats.aio.client import Client as NATS
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from zapgate.common import broker, subjects
from zapgate.common.crypto import CredentialCipher
from zapgate.common.db import make_engine, make_sessionmaker
from zapgate.common.messages import MessageState, MessageStatusChanged, encode
from zapgate.gateway.adapters.webhooks import WebhookStore
from zapgate.gateway.dispatcher import Dispatcher
from zapgate.gateway.settings import Settings

SECRET_KEY = "webhook-tests-secret-key-0123456789abcdef"


@dataclass
class Harness:
    nc: NATS
    store: WebhookStore
    dispatcher: Dispatcher

    async def status(self, tenant: str, session: str, n: int) -> None:
        event = MessageStatusChanged(
            tenant=tenant, session=session, message_id=f"01J{n:023d}", status=MessageState.SENT
        )
        await self.nc.jetstream().publish(subjects.event(tenant, session, "message.status"), encode(event))


@pytest.fixture
async def harness(clean_nats: str, database_url: str) -> AsyncIterator[Harness]:
    settings = Settings(nats_url=clean_nats, database_url=database_url, secret_key=SECRET_KEY,  # type: ignore[arg-type]
                        webhook_allow_private=True)  # fmt: skip
    nc = await nats.connect(clean_nats)
    await broker.ensure_topology(nc.jetstream(), settings)
    engine = make_engine(database_url)
    store = WebhookStore(make_sessionmaker(engine), CredentialCipher(SECRET_KEY))
    dispatcher = Dispatcher(settings)
    await dispatcher.start()
    harness = Harness(nc, store, dispatcher)
    try:
        yield harness
    finally:
        await harness.dispatcher.stop()  # a test may have replaced it: stop the one running
        await nc.close()
        await engine.dispose()


async def until(check: Any, within: float = 20) -> None:
    for _ in range(int(within / 0.1)):
        if check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("not in time")


async def test_an_event_held_by_a_dead_dispatcher_still_goes_before_the_later_ones(harness: Harness) -> None:
    receiver = Receiver()
    await harness.store.create("t1", {"url": receiver.url, "events": ["message.*"], "sessions": None})
    settings = harness.dispatcher.settings
    await harness.dispatcher.stop()
    # Another replica of the shared consumer fetches the next events and dies before recording
    # them: the server gives them again only after the ack wait, and later events come first.
    dead = await nats.connect(settings.nats_url)
    held = await dead.jetstream().pull_subscribe(
        subjects.EVENTS_ALL, durable="webhooks", stream=subjects.EVENTS_STREAM
    )
    for n in range(3):
        await harness.status("t1", "s1", n)
    assert len(await held.fetch(3, timeout=5)) == 3
    await dead.close()
    for n in range(3, 6):
        await harness.status("t1", "s1", n)
    harness.dispatcher = Dispatcher(settings)
    await harness.dispatcher.start()
    await until(lambda: len(receiver.delivered()) >= 6, within=40)
    seqs = [f["seq"] for f in receiver.delivered()]
    assert seqs == sorted(seqs) and len(seqs) == 6


async def test_events_arrive_signed_in_order_and_only_the_tenants_own(harness: Harness) -> None:
    receiver = Receiver()
    row, secret = await harness.store.create(
        "t1", {"url": receiver.url, "events": ["message.*"], "sessions": None}
    )
    harness.dispatcher._refreshed = 0.0
    for n in range(20):
        await harness.status("t1", "s1" if n % 2 else "s2", n)
        await harness.status("t2", "s1", 100 + n)  # another tenant's: never sent here
    await until(lambda: len(receiver.delivered()) >= 20)
    await asyncio.sleep(0.5)
    frames = receiver.delivered()
    assert len(frames) == 20 and {f["tenant"] for f in frames} == {"t1"}
    for session in ("s1", "s2"):
        seqs = [f["seq"] for f in frames if f["session"] == session]
        assert seqs == sorted(seqs) and len(seqs) == 10
    for headers, body, _ in receiver.got:
        Webhook(secret).verify(body, headers)  # raises if the signature is wrong
        assert headers["webhook-id"] == json.loads(body)["id"]
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "A" * 43).verify(receiver.got[0][1], receiver.got[0][0])
    assert all(d.status == "succeeded" for d in await harness.store.deliveries(row.id, 100, None))


async def test_a_failing_endpoint_is_retried_and_holds_its_sessions_order(harness: Harness) -> None:
    receiver = Receiver(statuses=[500])
    row, _ = await harness.store.create("t1", {"url": receiver.url, "events": ["*"], "sessions": ["s1"]})
    harness.dispatcher._refreshed = 0.0
    await harness.status("t1", "s1", 1)
    await harness.status("t1", "s1", 2)
    await harness.status("t1", "other", 3)  # not one of the endpoint's sessions
    await until(lambda: len(receiver.delivered()) == 2, 30)
    got = [json.loads(body)["data"]["id"] for _, body, _ in receiver.got]
    # The first event failed (sent at once), was sent again 5 s later; the second waited behind it.
    assert got == [f"01J{1:023d}"] * 2 + [f"01J{2:023d}"]
    first = [
        d
        for d in await harness.store.deliveries(row.id, 10, None)
        if d.event_id == json.loads(receiver.got[0][1])["id"]
    ]
    assert first[0].attempts == 2 and first[0].status == "succeeded" and first[0].response_status == 200


async def test_410_disables_the_endpoint_and_says_so(harness: Harness) -> None:
    receiver = Receiver(statuses=[410])
    row, _ = await harness.store.create(
        "t1", {"url": receiver.url, "events": ["message.status"], "sessions": None}
    )
    harness.dispatcher._refreshed = 0.0
    disabled = await harness.nc.jetstream().subscribe(
        subjects.tenant_event("t1", "webhook.disabled"), ordered_consumer=True
    )
    await harness.status("t1", "s1", 1)
    msg = await disabled.next_msg(timeout=20)
    event = json.loads(msg.data)
    assert event["endpoint_id"] == row.id and event["reason"] == "410 Gone" and event["session"] == "_tenant"
    found = await harness.store.get("t1", row.id)
    assert found is not None and found.state == "disabled"
    await harness.status("t1", "s1", 2)
    await asyncio.sleep(1.5)
    assert len(receiver.got) == 1  # nothing more goes to a disabled endpoint


class HostileReceiver:
    """A receiver that answers 200 with an endless body, or never answers at all."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.hits = 0
        self.server: asyncio.Server | None = None
        self.url = ""

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._conn, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/"

    async def _conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.hits += 1
        try:
            await reader.readuntil(b"\r\n\r\n")
            if self.mode == "silent":
                await asyncio.sleep(3600)
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\n")  # no length: until closed
            chunk = b"x" * 65536
            for _ in range(16384):  # a gigabyte, if anyone read it all
                writer.write(chunk)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()


async def test_hostile_receivers_cost_bounded_time_and_hold_no_one_else_up(
    clean_nats: str, database_url: str
) -> None:
    settings = Settings(nats_url=clean_nats, database_url=database_url, secret_key=SECRET_KEY,  # type: ignore[arg-type]
                        webhook_allow_private=True, webhook_timeout=1.0)  # fmt: skip
    nc = await nats.connect(clean_nats)
    await broker.ensure_topology(nc.jetstream(), settings)
    engine = make_engine(database_url)
    store = WebhookStore(make_sessionmaker(engine), CredentialCipher(SECRET_KEY))
    huge, silent, healthy = HostileReceiver("huge"), HostileReceiver("silent"), Receiver()
    await huge.start()
    await silent.start()
    rows = {}
    for name, url in (("huge", huge.url), ("silent", silent.url), ("healthy", healthy.url)):
        rows[name], _ = await store.create("t1", {"url": url, "events": ["*"], "sessions": None})
    dispatcher = Dispatcher(settings)
    await dispatcher.start()
    h = Harness(nc, store, dispatcher)
    try:
        for n in range(10):
            await h.status("t1", f"s{n}", n)
        await until(lambda: len(healthy.delivered()) == 10, 20)  # not held up by the other two
        huge_done: list[Any] = []
        for _ in range(100):
            huge_done = await store.deliveries(rows["huge"].id, 100, "succeeded")
            if len(huge_done) == 10:
                break
            await asyncio.sleep(0.2)
        silent_rows = []
        for _ in range(100):
            silent_rows = [d for d in await store.deliveries(rows["silent"].id, 100, None) if d.attempts >= 1]
            if len(silent_rows) == 10:
                break
            await asyncio.sleep(0.2)
        # The endless body counts as a 200 once 4 KiB are read; the silent one times out after 1 s.
        assert len(huge_done) == 10 and all(d.response_status == 200 for d in huge_done)
        assert len(silent_rows) == 10 and all(
            d.status == "pending" and d.response_status is None for d in silent_rows
        )
        assert all("Timeout" in (d.last_error or "") for d in silent_rows)
    finally:
        await dispatcher.stop()
        await nc.close()
        await engine.dispose()
