"""One contract, two engines: the simulator (on a real NATS) and the whatsapp engine (neonize's
real Python client over a fake of its Go library, tests/fakes/whatsmeow.py).

Each test drives an engine as the session host does and plays the phone's part through the
harness: scanning, typing a pairing code, writing to the session, connecting elsewhere.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nats
import pytest
from fakes.whatsmeow import FakeWhatsmeow, installed
from neonize.proto import Neonize_pb2 as proto
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import Message

from zapgate.common import broker
from zapgate.common.ids import new_id
from zapgate.common.messages import (
    ContactCard,
    ContactContent,
    LocationContent,
    MediaContent,
    MessageState,
    ReactionContent,
    SessionStatus,
    TextContent,
)
from zapgate.common.settings import CommonSettings
from zapgate.session_worker.adapters.media import TenantMedia
from zapgate.session_worker.adapters.simnet import SimNetwork
from zapgate.session_worker.engines.simulator import SimulatorEngine
from zapgate.session_worker.engines.whatsapp import WhatsAppEngine

PHONE = "5511912345678"
CONTACT = "5511987654321@c.us"
SPEED = 40.0  # the simulator's QR rotation (160 s) in 4 s


@dataclass
class Recorder:
    """The engine's host, as far as the contract goes: everything the engine reported."""

    statuses: list[tuple[SessionStatus, str | None, str | None]] = field(default_factory=list)
    qrs: list[tuple[str, int, datetime]] = field(default_factory=list)
    codes: list[str] = field(default_factory=list)
    creds: list[bytes | None] = field(default_factory=list)
    acks: list[tuple[str, str, MessageState]] = field(default_factory=list)
    inbox: list[tuple[str, str, Any]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def _note(self) -> None:
        self.changed.set()

    async def status(
        self, status: SessionStatus, reason: str | None = None, phone: str | None = None
    ) -> None:
        self.statuses.append((status, reason, phone))
        self._note()

    async def qr(self, value: str, index: int, expires_at: datetime) -> None:
        self.qrs.append((value, index, expires_at))
        self._note()

    async def pairing_code(self, code: str) -> None:
        self.codes.append(code)
        self._note()

    async def credentials(self, creds: bytes | None) -> None:
        self.creds.append(creds)
        self._note()

    async def message_status(self, message_id: str, wa_id: str, chat: str, status: MessageState) -> None:
        self.acks.append((message_id, wa_id, status))
        self._note()

    async def received(self, wa_id: str, sender: str, content: Any) -> None:
        self.inbox.append((wa_id, sender, content))
        self._note()

    async def connected(self) -> None:
        self._note()

    @property
    def last(self) -> SessionStatus | None:
        return self.statuses[-1][0] if self.statuses else None

    async def until(self, check: Callable[[], bool], within: float = 10.0) -> None:
        """Wait until ``check`` holds; fails after ``within`` seconds."""
        async with asyncio.timeout(within):
            while not check():
                self.changed.clear()
                await self.changed.wait()


class Harness:
    """Makes engines of one kind and plays the phone and the network for them."""

    kind: str

    def __init__(self, media: TenantMedia) -> None:
        self.media = media

    def engine(self, owner: str, events: Recorder, creds: bytes | None = None) -> Any:
        raise NotImplementedError

    async def scan(self, engine: Any, phone: str) -> None:
        raise NotImplementedError

    async def enter_code(self, engine: Any, phone: str, code: str) -> bool:
        raise NotImplementedError

    async def receive(self, engine: Any, sender: str, text: str) -> None:
        raise NotImplementedError

    async def connect_elsewhere(self, engine: Any, creds: bytes) -> None:
        raise NotImplementedError

    async def receive_image(self, engine: Any, sender: str, data: bytes, caption: str) -> None:
        raise NotImplementedError

    def old_account(self, number: str) -> None:
        """``number`` (without its ninth digit) has an account; every number but ...0000 has one."""


class Simulator(Harness):
    kind = "simulator"

    def __init__(self, network: SimNetwork, media: TenantMedia) -> None:
        super().__init__(media)
        self.network = network
        self.others: list[SimulatorEngine] = []

    def engine(self, owner: str, events: Recorder, creds: bytes | None = None) -> SimulatorEngine:
        return SimulatorEngine(owner, creds, events, self.network, SPEED)

    async def scan(self, engine: SimulatorEngine, phone: str) -> None:
        assert await engine.scan(phone)

    async def enter_code(self, engine: SimulatorEngine, phone: str, code: str) -> bool:
        return await engine.enter_code(phone, code)

    async def receive(self, engine: SimulatorEngine, sender: str, text: str) -> None:
        assert await engine.inbound(sender, TextContent(text=text))

    async def connect_elsewhere(self, engine: SimulatorEngine, creds: bytes) -> None:
        other = SimulatorEngine(engine.owner, creds, Recorder(), self.network, SPEED)
        self.others.append(other)
        await other.start()

    async def receive_image(self, engine: SimulatorEngine, sender: str, data: bytes, caption: str) -> None:
        ref = await self.media.keep(data, "image/png", None)  # the simulator's contacts send references
        assert await engine.inbound(sender, MediaContent(type="image", media=ref, caption=caption))


class WhatsApp(Harness):
    kind = "whatsapp"

    def __init__(self, fake: FakeWhatsmeow, media: TenantMedia) -> None:
        super().__init__(media)
        self.fake = fake

    def engine(self, owner: str, events: Recorder, creds: bytes | None = None) -> WhatsAppEngine:
        store = "postgres://zapgate@127.0.0.1:5432/zapgate?sslmode=disable"
        return WhatsAppEngine(owner, creds, events, store, None, self.media)

    async def scan(self, engine: WhatsAppEngine, phone: str) -> None:
        await asyncio.to_thread(self.fake.scan, engine.owner, phone)

    async def enter_code(self, engine: WhatsAppEngine, phone: str, code: str) -> bool:
        return await asyncio.to_thread(self.fake.enter_code, engine.owner, phone, code)

    async def receive(self, engine: WhatsAppEngine, sender: str, text: str) -> None:
        await asyncio.to_thread(
            self.fake.receive, engine.owner, sender.split("@")[0], Message(conversation=text)
        )

    async def connect_elsewhere(self, engine: WhatsAppEngine, creds: bytes) -> None:
        await asyncio.to_thread(self.fake.replace, engine.owner)

    def old_account(self, number: str) -> None:
        self.fake.everyone_registered = False
        self.fake.registered = {number, "5511987654321"}

    async def receive_image(self, engine: WhatsAppEngine, sender: str, data: bytes, caption: str) -> None:
        await asyncio.to_thread(self.fake.receive_media, engine.owner, sender.split("@")[0], "imageMessage", data,
                                "image/png", caption=caption)  # fmt: skip


@pytest.fixture(params=["simulator", "whatsapp"])
async def harness(request: pytest.FixtureRequest, clean_nats: str) -> AsyncIterator[Harness]:
    nc = await nats.connect(clean_nats)
    await broker.ensure_topology(nc.jetstream(), CommonSettings(nats_url=clean_nats))
    media = TenantMedia(nc.jetstream(), "t1")
    if request.param == "simulator":
        network = await SimNetwork.open(nc.jetstream())
        yield Simulator(network, media)
        await network.close()
    else:
        with installed(FakeWhatsmeow(qr_seconds=(60 / SPEED, 20 / SPEED, 20 / SPEED, 20 / SPEED))) as fake:
            yield WhatsApp(fake, media)
    await nc.close()


async def linked(harness: Harness, events: Recorder, owner: str | None = None) -> Any:
    """An engine linked to PHONE through a QR scan, CONNECTED."""
    engine = harness.engine(owner or f"t1/{new_id()[:12]}", events)
    await engine.start()
    await events.until(lambda: bool(events.qrs))
    await harness.scan(engine, PHONE)
    await events.until(lambda: events.last == SessionStatus.CONNECTED)
    return engine


async def test_qr_codes_rotate_then_run_out(harness: Harness) -> None:
    events = Recorder()
    engine = harness.engine("t1/qr", events)
    await engine.start()
    await events.until(lambda: len(events.qrs) >= 2)
    assert [s for s, _, _ in events.statuses[:2]] == [SessionStatus.STARTING, SessionStatus.SCAN_QR]
    (first, i0, e0), (second, i1, e1) = events.qrs[:2]
    assert (i0, i1) == (0, 1) and first != second
    assert e0 > datetime.now(UTC) - (e1 - e0) or e0 < e1  # each code has its own expiry
    await events.until(lambda: events.last == SessionStatus.FAILED, within=15)
    assert events.statuses[-1][1] == "qr_timeout"
    await engine.stop()


async def test_a_scan_links_the_device_and_a_new_engine_resumes_it_without_a_qr(harness: Harness) -> None:
    events = Recorder()
    engine = await linked(harness, events)
    assert events.statuses[-1][2] == PHONE  # the phone is reported with CONNECTED
    creds = events.creds[-1]
    assert creds is not None
    await engine.halt()  # the partition moves: another worker resumes the device
    again = Recorder()
    resumed = harness.engine(engine.owner, again, creds)
    await resumed.start(resume=True)
    await again.until(lambda: again.last == SessionStatus.CONNECTED)
    assert again.statuses[0][0] == SessionStatus.RECONNECTING
    assert again.qrs == []
    await resumed.stop()
    assert again.last == SessionStatus.STOPPED


async def test_a_pairing_code_links_the_device(harness: Harness) -> None:
    events = Recorder()
    engine = harness.engine("t1/code", events)
    await engine.start()
    await events.until(lambda: bool(events.qrs))
    assert await engine.pair(PHONE)
    await events.until(lambda: bool(events.codes))
    code = events.codes[-1]
    assert len(code) == 9 and code[4] == "-"
    assert not await harness.enter_code(engine, PHONE, "AAAA-AAAA")
    assert await harness.enter_code(engine, PHONE, code)
    await events.until(lambda: events.last == SessionStatus.CONNECTED)
    await engine.stop()


async def test_sends_are_taken_in_order_and_acknowledged(harness: Harness) -> None:
    events = Recorder()
    engine = await linked(harness, events)
    contents: list[Any] = [
        TextContent(text="hello @5511999998888, plain text"),
        LocationContent(latitude=-23.55, longitude=-46.63, name="Praça da Sé"),
        ContactContent(contact=ContactCard(name="Ana", phone="+5511955554444")),
        TextContent(text="answering", reply_to="3A0123456789ABCDEF"),
        ReactionContent(message_id="3A0123456789ABCDEF", emoji="👍"),
    ]
    ids = [new_id() for _ in contents]
    taken = [await engine.submit(i, f"wa-{i}", CONTACT, c) for i, c in zip(ids, contents, strict=True)]
    await asyncio.wait_for(asyncio.gather(*taken), 10)
    await events.until(lambda: {(m, s) for m, _, s in events.acks} >= {(i, MessageState.READ) for i in ids})
    for message_id in ids:
        states = [s for m, _, s in events.acks if m == message_id]
        assert states[:2] == [MessageState.DELIVERED, MessageState.READ]
    if isinstance(harness, WhatsApp):
        sent = harness.fake.clients[engine.owner].sent
        assert [chat for _, chat, _ in sent] == ["5511987654321@s.whatsapp.net"] * 5  # whatsmeow's form
        first = sent[0][2]
        # A plain conversation: "@digits" in a text is not turned into a mention.
        assert first.conversation == contents[0].text and not first.HasField("extendedTextMessage")
        assert sent[1][2].locationMessage.degreesLatitude == -23.55
        assert "waid=5511955554444" in sent[2][2].contactMessage.vcard
        reply, reaction = sent[3][2], sent[4][2]
        assert reply.extendedTextMessage.contextInfo.stanzaID == "3A0123456789ABCDEF"
        assert (
            reaction.reactionMessage.key.ID == "3A0123456789ABCDEF" and reaction.reactionMessage.text == "👍"
        )
        assert not reaction.reactionMessage.key.fromMe  # the contact's message
    await engine.stop()


async def test_a_send_while_not_connected_waits(harness: Harness) -> None:
    from zapgate.session_worker.engines.base import NotConnected

    engine = harness.engine("t1/offline-send", Recorder())
    with pytest.raises(NotConnected):
        await engine.submit(new_id(), "wa", CONTACT, TextContent(text="x"))


async def test_inbound_messages_are_received(harness: Harness) -> None:
    events = Recorder()
    engine = await linked(harness, events)
    await harness.receive(engine, CONTACT, "oi, tudo bem?")
    await events.until(lambda: bool(events.inbox))
    wa_id, sender, content = events.inbox[0]
    assert wa_id and sender == CONTACT and content == TextContent(text="oi, tudo bem?")
    await engine.stop()


async def test_logout_drops_the_credentials_and_the_next_start_shows_a_qr(harness: Harness) -> None:
    events = Recorder()
    engine = await linked(harness, events)
    await engine.logout()
    assert events.creds[-1] is None and events.last == SessionStatus.LOGGED_OUT
    await engine.start()
    await events.until(lambda: events.last == SessionStatus.SCAN_QR)
    await engine.stop()


async def test_the_account_connecting_elsewhere_replaces_the_session(harness: Harness) -> None:
    events = Recorder()
    engine = await linked(harness, events)
    creds = events.creds[-1]
    assert creds is not None
    await harness.connect_elsewhere(engine, creds)
    await events.until(lambda: events.last == SessionStatus.FAILED)
    assert str(events.statuses[-1][1]).startswith("replaced")
    await engine.stop()
    for other in getattr(harness, "others", []):
        await other.stop()


async def test_media_of_each_kind_is_sent_from_the_store_and_acknowledged(harness: Harness) -> None:
    events = Recorder()
    engine = await linked(harness, events)
    kinds = {"image": ("image/png", b"\x89PNG-bytes"), "voice": ("audio/ogg; codecs=opus", b"OggS-voice"),
             "document": ("application/pdf", b"%PDF-1.7 invoice"), "video": ("video/mp4", b"ftyp-video"),
             "audio": ("audio/mpeg", b"ID3-audio")}  # fmt: skip
    contents = []
    for kind, (mimetype, data) in kinds.items():
        ref = await harness.media.keep(data, mimetype, "nota.pdf" if kind == "document" else None)
        contents.append(MediaContent(type=kind, media=ref, caption="segue" if kind != "voice" else None))
    ids = [new_id() for _ in contents]
    taken = [await engine.submit(i, f"wa-{i}", CONTACT, c) for i, c in zip(ids, contents, strict=True)]
    await asyncio.wait_for(asyncio.gather(*taken), 10)
    await events.until(lambda: {(m, s) for m, _, s in events.acks} >= {(i, MessageState.READ) for i in ids})
    if isinstance(harness, WhatsApp):
        sent = [m for _, _, m in harness.fake.clients[engine.owner].sent]
        image, voice, document, video, audio = sent
        assert harness.fake.blobs[video.videoMessage.directPath] == b"ftyp-video"
        assert not audio.audioMessage.PTT and audio.audioMessage.mimetype == "audio/mpeg"
        assert harness.fake.blobs[image.imageMessage.directPath] == b"\x89PNG-bytes"
        assert image.imageMessage.caption == "segue" and image.imageMessage.mimetype == "image/png"
        assert voice.audioMessage.PTT and harness.fake.blobs[voice.audioMessage.directPath] == b"OggS-voice"
        assert document.documentMessage.fileName == "nota.pdf"
    await engine.stop()


async def test_a_contact_s_image_arrives_with_its_bytes_in_the_tenant_s_store(harness: Harness) -> None:
    events = Recorder()
    engine = await linked(harness, events)
    await harness.receive_image(engine, CONTACT, b"\x89PNG-from-contact", "olha")
    await events.until(lambda: bool(events.inbox))
    _, sender, content = events.inbox[0]
    assert sender == CONTACT and isinstance(content, MediaContent)
    assert content.type == "image" and content.caption == "olha" and content.media.mimetype == "image/png"
    assert await harness.media.read(content.media.id) == b"\x89PNG-from-contact"
    await engine.stop()


async def test_a_number_is_found_in_the_form_its_account_has(harness: Harness) -> None:
    events = Recorder()
    engine = await linked(harness, events)
    harness.old_account("551187651111")
    # An older Brazilian account is registered without the ninth digit; asked either way, the
    # answer is the form it has. A number with no account is None.
    assert await engine.on_whatsapp("5511987651111@c.us") == "551187651111@c.us"
    assert await engine.on_whatsapp("551187651111@c.us") == "551187651111@c.us"
    assert await engine.on_whatsapp("5511987654321@c.us") == "5511987654321@c.us"
    assert await engine.on_whatsapp("5511987650000@c.us") is None
    await engine.stop()


# ---------------------------------------------------------------- the whatsapp engine's own


@pytest.fixture
def fake() -> Any:
    with installed(FakeWhatsmeow(qr_seconds=(1.0, 0.5))) as fake:
        yield fake


STORE = "postgres://x@127.0.0.1/zapgate?sslmode=disable"


async def linked_device(fake: FakeWhatsmeow, owner: str) -> tuple[WhatsAppEngine, Recorder]:
    """A whatsapp engine linked to PHONE through a QR scan on the fake, CONNECTED."""
    events = Recorder()
    engine = WhatsAppEngine(owner, None, events, STORE)
    await engine.start()
    await events.until(lambda: bool(events.qrs))
    await asyncio.to_thread(fake.scan, owner, PHONE)
    await events.until(lambda: events.last == SessionStatus.CONNECTED)
    return engine, events


async def test_no_network_fails_with_a_reason_and_a_later_start_retries(fake: FakeWhatsmeow) -> None:
    events = Recorder()
    engine = WhatsAppEngine("t1/net", None, events, STORE)
    fake.offline = True
    await engine.start()
    await events.until(lambda: events.last == SessionStatus.FAILED)
    assert events.statuses[-1][1] == "cannot reach WhatsApp: network is unreachable"
    failed = engine._client
    fake.offline = False
    await engine.start()
    await events.until(lambda: events.last == SessionStatus.SCAN_QR)
    # The failed attempt's client, once collected, must not stop this one: neonize's finalizer
    # calls Go's Stop with the session's id. Run as the collector would run it:
    failed._stop_finalizer()
    assert not fake.clients["t1/net"].stopped.is_set()
    await engine.stop()
    assert fake.clients["t1/net"].stopped.is_set()


async def test_the_proxy_is_passed_to_the_connection(fake: FakeWhatsmeow) -> None:
    events = Recorder()
    proxy = "socks5://user:secret@10.0.0.1:1080"
    engine = WhatsAppEngine("t1/proxy", None, events, STORE, proxy)
    await engine.start()
    await events.until(lambda: bool(events.qrs))
    assert fake.clients["t1/proxy"].proxy == proxy
    await engine.stop()


async def test_a_send_to_an_old_brazilian_account_goes_to_its_registered_form(fake: FakeWhatsmeow) -> None:
    engine, _ = await linked_device(fake, "t1/ninth")
    fake.everyone_registered = False
    fake.registered = {"551187651111"}  # an older account, registered without the ninth digit
    taken = await engine.submit(new_id(), "wa", "5511987651111@c.us", TextContent(text="oi"))
    await asyncio.wait_for(taken, 5)
    # The send went to the form the account has.
    assert fake.clients["t1/ninth"].sent[-1][1] == "551187651111@s.whatsapp.net"
    await engine.stop()


async def test_logged_out_from_the_phone_and_banned_say_why(fake: FakeWhatsmeow) -> None:
    _, events = await linked_device(fake, "t1/out")
    await asyncio.to_thread(fake.disconnect, "t1/out")
    await events.until(lambda: events.last == SessionStatus.RECONNECTING)
    await asyncio.to_thread(fake.reconnect, "t1/out")
    await events.until(lambda: events.last == SessionStatus.CONNECTED)
    await asyncio.to_thread(fake.log_out_from_phone, "t1/out")
    await events.until(lambda: events.last == SessionStatus.LOGGED_OUT)
    assert events.creds[-1] is None and events.statuses[-1][1] == "logged out from the phone"

    banned = Recorder()
    creds = json.dumps({"jid": {"User": PHONE, "Server": "s.whatsapp.net", "Device": 7}, "phone": PHONE})
    fake.devices[(STORE, PHONE)] = PHONE
    other = WhatsAppEngine("t1/ban", creds.encode(), banned, STORE)
    await other.start()
    await banned.until(lambda: banned.last == SessionStatus.CONNECTED)
    await asyncio.to_thread(fake.ban, "t1/ban", 7200)
    await banned.until(lambda: banned.last == SessionStatus.FAILED)
    assert banned.statuses[-1][1] == (
        "temporarily banned by WhatsApp for about 2 h (blocked by too many users): stop sending and try again later"
    )
    await other.stop()


async def test_receipts_reach_the_next_owner_under_the_id_whatsapp_gave(fake: FakeWhatsmeow) -> None:
    engine, events = await linked_device(fake, "t1/move")
    fake.receipt_delay = 3600  # the contact reads it only after the partition moved
    message_id = new_id()
    given = await (await engine.submit(message_id, "derived-id", CONTACT, TextContent(text="oi")))
    assert given is not None and given != "derived-id"  # neonize sends under an id of its own
    await engine.halt()
    resumed = Recorder()
    creds = events.creds[-1]
    other = WhatsAppEngine("t1/move", creds, resumed, STORE)
    await other.start(resume=True)
    await resumed.until(lambda: resumed.last == SessionStatus.CONNECTED)
    other.expect_acks(message_id, given, CONTACT, "text", 0.0)  # what the host reads from the outbox
    client = fake.clients["t1/move"]
    jid = proto.JID(User=CONTACT.split("@")[0], Server="s.whatsapp.net", RawAgent=0, Device=0, Integrator=0,
                    IsEmpty=False)  # fmt: skip
    source = proto.MessageSource(Chat=jid, Sender=jid, IsFromMe=False, IsGroup=False)
    await asyncio.to_thread(
        fake._emit, client, proto.Receipt(MessageSource=source, MessageIDs=[given], Type=4)
    )
    await resumed.until(lambda: bool(resumed.acks))
    assert resumed.acks == [(message_id, given, MessageState.READ)]
    await other.stop()


STUCK = """
import asyncio, sys
sys.path.insert(0, "tests")
from fakes.whatsmeow import FakeWhatsmeow, installed
from zapgate.session_worker.engines.whatsapp import WhatsAppEngine
from test_engine_contract import Recorder

async def main() -> None:
    with installed(FakeWhatsmeow(qr_seconds=(30.0,))) as fake:
        events = Recorder()
        engine = WhatsAppEngine("t1/stuck", None, events, "postgres://x@h/db", fence_within=0.5)
        await engine.start()
        await events.until(lambda: bool(events.qrs))
        fake.stuck_stop = True  # Go's Stop hangs, as it does while a connect is dialling
        await engine.halt()
        print("halt returned: the client would have kept running")

asyncio.run(main())
"""


def test_a_client_that_will_not_stop_when_its_partition_moves_ends_the_worker(tmp_path: Path) -> None:
    # Its sessions then fail over as after a kill -9; a peer never runs the device beside it.
    began = time.monotonic()
    done = subprocess.run([sys.executable, "-c", STUCK], cwd=Path(__file__).resolve().parents[2],
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).parent)},
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 75, done.stdout + done.stderr
    assert "did not stop in 0.5s" in done.stderr and "halt returned" not in done.stdout
    assert time.monotonic() - began < 30


async def test_an_outdated_client_and_a_refused_connection_say_why(fake: FakeWhatsmeow) -> None:
    fake.devices[(STORE, PHONE)] = PHONE
    creds = json.dumps(
        {"jid": {"User": PHONE, "Server": "s.whatsapp.net", "Device": 7}, "phone": PHONE}
    ).encode()
    for event, reason in (
        (proto.ClientOutdated(), "WhatsApp refused this client version as outdated: update neonize"),
        (proto.ConnectFailure(Reason=10, Message="try later"), "WhatsApp is unavailable: try later"),
    ):
        events = Recorder()
        engine = WhatsAppEngine(f"t1/{new_id()[:8]}", creds, events, STORE)
        await engine.start()
        await events.until(lambda events=events: events.last == SessionStatus.CONNECTED)
        await asyncio.to_thread(fake._emit, fake.clients[engine.owner], event)
        await events.until(lambda events=events: events.last == SessionStatus.FAILED)
        assert events.statuses[-1][1] == reason
        assert events.creds == []  # the device stays linked
