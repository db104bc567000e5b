"""A fake of neonize's Go library (goneonize) at its FFI boundary, for tests only.

It stands where ``neonize.aioze.client.gocode`` is: the exports by name, positional arguments
as neonize passes them, protobuf bytes back (what the real errcheck hooks hand neonize), and
events sent through the real ctypes callbacks neonize gives ``Neonize(...)``, from a thread of
their own as Go does. Everything above it (neonize's Python client, its event dispatch, the
engine) is the real code. The "WhatsApp" behind it is a small model: QR codes that rotate and
run out, devices linked by a scan or a pairing code and kept per store, sends acknowledged by
the contacts, numbers registered with or without the ninth digit.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import itertools
import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neonize.aioze import client as aioze_client
from neonize.aioze import events as aioze_events
from neonize.events import EVENT_TO_INT
from neonize.proto import Neonize_pb2 as proto
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import Message

SERVER = "s.whatsapp.net"
UNREACHABLE = (
    "failed to dial whatsapp web websocket: dial tcp: lookup web.whatsapp.com: network is unreachable"
)


def _code(event: type[Any]) -> int:
    return EVENT_TO_INT[event]


@dataclass
class FakeClient:
    """One ``Neonize(...)`` call: a client of Go's global map, blocked until ``Stop``."""

    uuid: str
    store: str
    jid: Any
    qr_cb: Any
    login_cb: Any
    event_cb: Any
    subscribed: set[int]
    proxy: str | None
    stopped: threading.Event = field(default_factory=threading.Event)
    qr_shown: list[str] = field(default_factory=list)
    sent: list[tuple[str, str, Message]] = field(default_factory=list)  # (wa id, chat, message)
    phone: str | None = None


class FakeWhatsmeow:
    """The Go exports neonize calls, and the test's hand on the WhatsApp behind them."""

    def __init__(self, qr_seconds: tuple[float, ...] = (0.6, 0.2, 0.2), receipt_delay: float = 0.05) -> None:
        self.qr_seconds = qr_seconds
        self.receipt_delay = receipt_delay
        self.offline = False
        self.stuck_stop = False
        self.clients: dict[str, FakeClient] = {}
        self.devices: dict[tuple[str, str], str] = {}  # (store, phone) -> device user
        self.registered: set[str] = set()  # numbers with WhatsApp (digits), None: every one
        self.everyone_registered = True
        self.pairing: dict[str, str] = {}  # uuid -> code
        self.blobs: dict[str, bytes] = {}  # media on "WhatsApp's servers", by direct path
        self._keep: list[Any] = []  # buffers handed to callbacks outlive the call

    # ------------------------------------------------------------------ Go exports

    def Neonize(self, name: bytes, uuid: bytes, jidbuf: bytes, jidsize: int, new_device: int, level: Any,  # noqa: N802
                qr_cb: Any, login_cb: Any, event_cb: Any, log_cb: Any, subscribers: Any, n_subscribers: int,
                props: bytes, n_props: int, _extra: bytes, _n_extra: int, proxy_ref: Any) -> bytes:  # fmt: skip
        """Connect: with a stored device at once, else QR codes until one is scanned or they run out."""
        if self.offline:
            return UNREACHABLE.encode()
        jid = proto.JID.FromString(jidbuf) if jidsize else None
        proxy = proxy_ref._obj.proxyAddress.decode() if proxy_ref is not None else None
        client = FakeClient(uuid.decode(), name.decode(), jid, qr_cb, login_cb, event_cb,
                            set(bytes(subscribers.raw[:n_subscribers])), proxy)  # fmt: skip
        self.clients[client.uuid] = client
        if jid is not None and self.devices.get((client.store, jid.User)) is not None:
            client.phone = jid.User
            self._emit(client, proto.Connected(status=True))
        else:
            self._rotate_qr(client)
        client.stopped.wait()
        return b""

    def Stop(self, uuid: bytes) -> bytes:  # noqa: N802
        client = self.clients.get(uuid.decode())
        if client is not None:
            if self.stuck_stop:
                time.sleep(3600)
            client.stopped.set()
        return b""

    def Disconnect(self, uuid: bytes) -> bytes:  # noqa: N802
        return self.Stop(uuid)

    def Logout(self, uuid: bytes) -> bytes:  # noqa: N802
        client = self.clients[uuid.decode()]
        if client.phone is not None:
            self.devices.pop((client.store, client.phone), None)
        return b""

    def SendMessage(self, uuid: bytes, to: bytes, _n: int, message: bytes, _m: int) -> bytes:  # noqa: N802
        client = self.clients[uuid.decode()]
        jid = proto.JID.FromString(to)
        chat = f"{jid.User}@{jid.Server}"
        if not self._registered(jid.User):
            error = f"failed to get device list: {jid.User} is not on WhatsApp"
            return proto.SendMessageReturnFunction(Error=error).SerializePartialToString()
        wa_id = "3EB0" + secrets.token_hex(8).upper()
        client.sent.append((wa_id, chat, Message.FromString(message)))
        threading.Thread(target=self._acknowledge, args=(client, wa_id, jid), daemon=True).start()
        response = proto.SendResponse(ID=wa_id, Timestamp=int(time.time()), ServerID=0)
        return proto.SendMessageReturnFunction(SendResponse=response).SerializePartialToString()

    def PairPhone(self, uuid: bytes, payload: bytes, _n: int) -> bytes:  # noqa: N802
        params = proto.PairPhoneParams.FromString(payload)
        code = "".join(secrets.choice("ABCDEFGHJKLMNPQRSTVWXYZ123456789") for _ in range(8))
        code = f"{code[:4]}-{code[4:]}"
        self.pairing[uuid.decode()] = f"{params.phone}:{code}"
        return proto.PairPhoneReturnFunction(Code=code).SerializePartialToString()

    def IsOnWhatsApp(self, uuid: bytes, numbers: bytes, _n: int) -> bytes:  # noqa: N802
        answers = []
        for number in numbers.decode().split():
            digits = number.lstrip("+")
            known = self._registered(digits)
            answers.append(proto.IsOnWhatsAppResponse(Query=number, IsIn=known, JID=proto.JID(
                User=digits, Server=SERVER, RawAgent=0, Device=0, Integrator=0, IsEmpty=False)))  # fmt: skip
        return proto.IsOnWhatsAppReturnFunction(IsOnWhatsAppResponse=answers).SerializePartialToString()

    def Upload(self, uuid: bytes, data: bytes, _n: int, media_type: int) -> bytes:  # noqa: N802
        """Keep the bytes on "WhatsApp's media servers"; the message carries where they are."""
        path = f"/v/t62.{media_type}/{secrets.token_hex(8)}"
        self.blobs[path] = bytes(data)
        digest = hashlib.sha256(data).digest()
        response = proto.UploadResponse(url=f"https://mmg.whatsapp.net{path}", DirectPath=path, Handle="",
                                        MediaKey=secrets.token_bytes(32), FileEncSHA256=digest, FileSHA256=digest,
                                        FileLength=len(data))  # fmt: skip
        return proto.UploadReturnFunction(UploadResponse=response).SerializePartialToString()

    def DownloadAny(self, uuid: bytes, message: bytes, _n: int) -> bytes:  # noqa: N802
        msg = Message.FromString(message)
        for kind in ("imageMessage", "videoMessage", "audioMessage", "documentMessage"):
            if msg.HasField(kind):
                blob = self.blobs.get(getattr(msg, kind).directPath)
                if blob is not None:
                    return proto.DownloadReturnFunction(Binary=blob).SerializePartialToString()
        return proto.DownloadReturnFunction(
            Error="failed to download: media not found"
        ).SerializePartialToString()

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(f"the fake whatsmeow has no export {name} (the engine called one it should not)")

    # ------------------------------------------------------------------ the phone's side

    def scan(self, uuid: str, phone: str) -> None:
        """``phone`` scans the code on screen: the device is linked and connects."""
        client = self.clients[uuid]
        assert client.qr_shown, "no QR code on screen"
        self._link(client, phone)

    def enter_code(self, uuid: str, phone: str, code: str) -> bool:
        """``phone`` types the pairing code; linked if it is the one issued for it."""
        if self.pairing.get(uuid) != f"{phone}:{code}":
            return False
        self._link(self.clients[uuid], phone)
        return True

    def receive(self, uuid: str, sender: str, message: Message) -> None:
        """A contact sends the session a message."""
        client = self.clients[uuid]
        who = proto.JID(User=sender, Server=SERVER, RawAgent=0, Device=0, Integrator=0, IsEmpty=False)
        source = proto.MessageSource(Chat=who, Sender=who, IsFromMe=False, IsGroup=False)
        info = proto.MessageInfo(MessageSource=source, ID="3A" + secrets.token_hex(9).upper(), Type="text",
                                 Timestamp=int(time.time()))  # fmt: skip
        self._emit(client, proto.Message(Info=info, Message=message))

    def receive_media(
        self, uuid: str, sender: str, field: str, data: bytes, mimetype: str, **extra: Any
    ) -> None:
        """A contact sends media (``field``: imageMessage, audioMessage, ...), uploaded first."""
        path = f"/v/t62.in/{secrets.token_hex(8)}"
        self.blobs[path] = data
        digest = hashlib.sha256(data).digest()
        part = {"URL": f"https://mmg.whatsapp.net{path}", "directPath": path, "mimetype": mimetype,
                "fileSHA256": digest, "fileEncSHA256": digest, "fileLength": len(data), **extra}  # fmt: skip
        self.receive(uuid, sender, Message(**{field: part}))

    def replace(self, uuid: str) -> None:
        """The account connects elsewhere: this client's stream is replaced."""
        self._emit(self.clients[uuid], proto.StreamReplaced())

    def log_out_from_phone(self, uuid: str) -> None:
        """The phone removes the linked device."""
        client = self.clients[uuid]
        if client.phone is not None:
            self.devices.pop((client.store, client.phone), None)
        self._emit(client, proto.LoggedOut(OnConnect=False, Reason=2))

    def ban(self, uuid: str, expire: int) -> None:
        """WhatsApp bans the account for ``expire`` seconds."""
        self._emit(self.clients[uuid], proto.TemporaryBan(Code=2, Expire=expire))

    def disconnect(self, uuid: str) -> None:
        """The websocket drops (whatsmeow reconnects by itself)."""
        self._emit(self.clients[uuid], proto.Disconnected(status=True))

    def reconnect(self, uuid: str) -> None:
        """The connection is back."""
        self._emit(self.clients[uuid], proto.Connected(status=True))

    # ------------------------------------------------------------------ inside

    def _registered(self, number: str) -> bool:
        return self.everyone_registered or number in self.registered

    def _link(self, client: FakeClient, phone: str) -> None:
        client.phone = phone
        self.devices[(client.store, phone)] = phone
        jid = proto.JID(User=phone, Server=SERVER, RawAgent=0, Device=7, Integrator=0, IsEmpty=False)
        self._emit(client, proto.PairStatus(ID=jid, Status=2))
        self._emit(client, proto.Connected(status=True))

    def _rotate_qr(self, client: FakeClient) -> None:
        keys = f"{secrets.token_urlsafe(32)},{secrets.token_urlsafe(32)}"  # one pairing attempt's keys

        def rotate() -> None:
            for seconds in self.qr_seconds:
                if client.stopped.is_set() or client.phone is not None:
                    return
                # As neonize hands it over: ref, noise key, identity key, ADV secret, platform.
                code = (f"https://wa.me/settings/linked_devices#2@{secrets.token_urlsafe(48)},"
                        f"{keys},{secrets.token_urlsafe(32)},WEB")  # fmt: skip
                client.qr_shown.append(code)
                self._call_string(client.qr_cb, code)
                if client.stopped.wait(seconds) or client.phone is not None:
                    return
            self._call_string(client.login_cb, "timeout")

        threading.Thread(target=rotate, name=f"qr:{client.uuid}", daemon=True).start()

    def _acknowledge(self, client: FakeClient, wa_id: str, jid: Any) -> None:
        for receipt in (1, 4):  # delivered, read
            if client.stopped.wait(self.receipt_delay):
                return
            source = proto.MessageSource(Chat=jid, Sender=jid, IsFromMe=False, IsGroup=False)
            self._emit(client, proto.Receipt(MessageSource=source, MessageIDs=[wa_id], Type=receipt,
                                             Timestamp=int(time.time())))  # fmt: skip

    def _call_string(self, callback: Any, text: str) -> None:
        buf = ctypes.create_string_buffer(text.encode())
        self._keep.append(buf)
        callback(None, ctypes.addressof(buf))

    def _emit(self, client: FakeClient, event: Any) -> None:
        code = _code(type(event))
        if code not in client.subscribed and code != 0:
            return  # Go sends only the events neonize subscribed to
        data = event.SerializePartialToString()
        buf = ctypes.create_string_buffer(data, len(data) or 1)
        self._keep.append(buf)
        client.event_cb(client.uuid.encode(), ctypes.addressof(buf), len(data), code)


_counter = itertools.count()


@contextmanager
def installed(fake: FakeWhatsmeow | None = None) -> Iterator[FakeWhatsmeow]:
    """Put the fake where neonize looks its Go library up, for the test's event loop."""
    fake = fake or FakeWhatsmeow()
    real = aioze_client.gocode
    aioze_client.gocode = fake
    aioze_events.event_global_loop = None  # the first connect binds the running loop
    try:
        yield fake
    finally:
        for client in fake.clients.values():
            client.stopped.set()
        aioze_client.gocode = real
        aioze_events.event_global_loop = None


class SharedFakeWhatsmeow(FakeWhatsmeow):
    """The fake for processes (the dev stack's workers): linked devices kept in a folder every
    worker shares, so a worker taking a session over resumes its device; the test plays the
    phone by dropping files into ``<folder>/control`` (``scan_file``), and every send is appended
    to ``<folder>/sent.jsonl``."""

    def __init__(self, folder: Path) -> None:
        super().__init__(qr_seconds=(60.0, 20.0, 20.0, 20.0, 20.0, 20.0), receipt_delay=0.2)
        self.folder = folder
        (folder / "control").mkdir(parents=True, exist_ok=True)
        self.devices = _FolderDevices(folder / "devices")
        threading.Thread(target=self._control, name="fake-whatsmeow-control", daemon=True).start()

    def SendMessage(self, uuid: bytes, to: bytes, n: int, message: bytes, m: int) -> bytes:  # noqa: N802
        answer = super().SendMessage(uuid, to, n, message, m)
        client = self.clients[uuid.decode()]
        if client.sent:
            wa_id, chat, sent = client.sent[-1]
            line = json.dumps(
                {"session": client.uuid, "wa_id": wa_id, "chat": chat, "text": sent.conversation}
            )
            with (self.folder / "sent.jsonl").open("a") as out:
                out.write(line + "\n")
        return answer

    def _control(self) -> None:
        control = self.folder / "control"
        while True:
            for path in control.glob("*.json"):
                order = json.loads(path.read_text())
                client = self.clients.get(order["session"])
                if client is None or client.stopped.is_set():
                    continue  # another worker's session
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                    if order["action"] == "scan":
                        self.scan(order["session"], order["phone"])
            time.sleep(0.1)


class _FolderDevices(dict[tuple[str, str], str]):
    """(store, phone) -> device, one file each, shared by processes."""

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def _path(self, key: tuple[str, str]) -> Path:
        return self.folder / hashlib.sha256("\0".join(key).encode()).hexdigest()

    def __setitem__(self, key: tuple[str, str], value: str) -> None:
        self._path(key).write_text(value)

    def get(self, key: tuple[str, str], default: Any = None) -> Any:  # type: ignore[override]
        path = self._path(key)
        return path.read_text() if path.exists() else default

    def pop(self, key: tuple[str, str], default: Any = None) -> Any:  # type: ignore[override]
        value = self.get(key, default)
        with contextlib.suppress(FileNotFoundError):
            self._path(key).unlink()
        return value


def scan_file(folder: Path, session: str, phone: str) -> None:
    """Play the phone of a dev-stack session: it scans the QR code on screen."""
    name = hashlib.sha256(session.encode()).hexdigest()[:16]
    path = folder / "control" / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"action": "scan", "session": session, "phone": phone}))
    tmp.rename(path)
