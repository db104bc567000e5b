"""The whatsapp engine: a real linked device through neonize (whatsmeow), behind the engine contract.

neonize runs each client in Go, on a thread of asyncio's default executor it holds for the
session's life, and calls back from Go threads; handlers hop onto the worker's loop. Device keys
live in whatsmeow's own tables of the PostgreSQL store; zapgate keeps only which device (JID) a
session is, encrypted like any credentials.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import logging
import os
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from neonize._binder import ProxySettings
from neonize.aioze import client as aioze_client
from neonize.aioze.client import NewAClient
from neonize.aioze.events import (
    ClientOutdatedEv,
    ConnectedEv,
    ConnectFailureEv,
    DisconnectedEv,
    KeepAliveRestoredEv,
    KeepAliveTimeoutEv,
    LoggedOutEv,
    MessageEv,
    PairStatusEv,
    ReceiptEv,
    StreamReplacedEv,
    TemporaryBanEv,
)

from zapgate.common.messages import (
    AnyContent,
    MediaContent,
    ReactionContent,
    SessionStatus,
)
from zapgate.session_worker.adapters.media import TenantMedia
from zapgate.session_worker.domain import whatsapp as wa
from zapgate.session_worker.engines import whatsapp_protos as protos
from zapgate.session_worker.engines.base import EngineEvents, NotConnected, SendError

log = logging.getLogger(__name__)

STOP_TIMEOUT = 5.0
"""How long a stop asked for may take. Go's Stop blocks while a connect is dialling; past this
(or, when the partition moves, past the lease's margin) the worker exits, and its sessions fail
over as after a kill -9, rather than risk a peer running the same device beside it."""


def _exit_stuck(owner: str, within: float = STOP_TIMEOUT) -> None:
    log.critical("session %s: the WhatsApp client did not stop in %.1fs; exiting so that no peer "
                 "runs the same device alongside it", owner, within)  # fmt: skip
    logging.shutdown()
    os._exit(75)


def _forget(client: NewAClient) -> None:
    """Drop neonize's finalizer of a client we stopped or that ended: it calls Go's Stop with the
    client's id when the object is collected, and that id is the session's, so it would stop the
    session's next client."""
    with contextlib.suppress(AttributeError):
        client._stop_finalizer.detach()


class _Client(NewAClient):  # type: ignore[misc]  # neonize ships no types
    """neonize's client with the login status hooked: whatsmeow reports the end of the QR
    rotation ("timeout") only there, on a Go thread."""

    on_login_status: Any = None

    def _NewAClient__onLoginStatus(self, uuid: int, status: int) -> None:  # noqa: N802 - neonize's name
        text = ctypes.string_at(status).decode(errors="replace") if status else ""
        if self.on_login_status is not None:
            self.on_login_status(text)


class WhatsAppEngine:
    """One linked device: QR or pairing code, then messages both ways, receipts, statuses."""

    def __init__(
        self, owner: str, creds: bytes | None, events: EngineEvents, store: str, proxy: str | None = None,
        media: TenantMedia | None = None, fence_within: float = 1.0,
    ) -> None:  # fmt: skip
        self.owner = owner
        self.fence_within = fence_within
        self.media = media
        self.events = events
        self.store = store
        self.proxy = proxy
        self.status = SessionStatus.STOPPED
        device = json.loads(creds) if creds else None
        self.jid: dict[str, Any] | None = device["jid"] if device else None
        self.phone: str | None = device["phone"] if device else None
        self._client: _Client | None = None
        self._task: asyncio.Future[Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._qr_index = 0
        self._send_lock = asyncio.Lock()
        self._sent: dict[str, tuple[str, str]] = {}  # WhatsApp's id -> (zapgate id, chat)
        self._forms: dict[str, str] = {}  # chat id -> the form WhatsApp registered it under
        self._halted = False
        self._final = False  # FAILED, LOGGED_OUT or STOPPED by us: the connect task's end is no news
        self._tasks: set[asyncio.Future[None]] = set()
        self._stopping: threading.Thread | None = None
        self._fenced_at = 0.0

    # ------------------------------------------------------------ lifecycle

    async def _set(self, status: SessionStatus, reason: str | None = None) -> None:
        self.status = status
        await self.events.status(status, reason, self.phone)

    def _new_client(self) -> _Client:
        jid = protos.device_jid(self.jid) if self.jid else None
        client = _Client(self.store, jid=jid, uuid=self.owner, new_device=jid is None)
        # Go's clients are keyed by this id: one per session, even for two sessions of one phone.
        client.uuid = self.owner.encode()
        client.on_login_status = self._login_status
        client.event.qr(self._on_qr)
        handlers: dict[Any, Any] = {
            PairStatusEv: self._on_pair, ConnectedEv: self._on_connected, LoggedOutEv: self._on_logged_out,
            StreamReplacedEv: self._on_replaced, TemporaryBanEv: self._on_ban, ClientOutdatedEv: self._on_outdated,
            ConnectFailureEv: self._on_connect_failure, DisconnectedEv: self._on_disconnected,
            KeepAliveTimeoutEv: self._on_disconnected, KeepAliveRestoredEv: self._on_connected,
            MessageEv: self._on_message, ReceiptEv: self._on_receipt,
        }  # fmt: skip
        for event, handler in handlers.items():
            client.event(event)(self._guarded(handler))
        return client

    def _guarded(self, handler: Any) -> Any:
        """neonize drops what a handler raises: log it instead, and ignore a halted engine's events."""

        async def run(_: NewAClient, event: Any) -> None:
            if self._halted:
                return
            try:
                await handler(event)
            except Exception:
                log.exception("session %s: %s handler failed", self.owner, type(event).__name__)

        return run

    async def start(self, resume: bool = False) -> None:
        """Connect: with a known device at once (RECONNECTING on ``resume``), else through QR codes."""
        if self._halted or self.status in (
            SessionStatus.CONNECTED,
            SessionStatus.SCAN_QR,
            SessionStatus.STARTING,
        ):
            return
        resuming = resume and self.jid is not None
        self._final = False
        await self._set(SessionStatus.RECONNECTING if resuming else SessionStatus.STARTING)
        self._loop = asyncio.get_running_loop()
        self._qr_index = 0
        if self._client is not None:
            _forget(self._client)  # its connect ended (a failure): Go holds nothing of it
        self._client = self._new_client()
        settings = ProxySettings(proxy_address=self.proxy) if self.proxy else None
        self._task = await self._client.connect(settings)
        self._task.add_done_callback(self._connect_ended)

    def _connect_ended(self, task: asyncio.Future[Any]) -> None:
        if task.cancelled() or self._halted:
            return
        exc = task.exception()
        if exc is None or self._final:
            return
        log.warning("session %s: WhatsApp client ended: %s", self.owner, exc)
        self._final = True
        report = asyncio.ensure_future(self._set(SessionStatus.FAILED, wa.unreachable_reason(str(exc))))
        self._tasks.add(report)
        report.add_done_callback(self._tasks.discard)

    def _login_status(self, status: str) -> None:
        """On a Go thread: the QR rotation ran out with no scan."""
        if status == "timeout" and self._loop is not None and not self._halted:
            asyncio.run_coroutine_threadsafe(self._qr_timeout(), self._loop)

    async def _qr_timeout(self) -> None:
        if self.status == SessionStatus.SCAN_QR:
            self._final = True
            await self._set(SessionStatus.FAILED, "qr_timeout")
            await self._stop_client()

    async def _on_qr(self, _: NewAClient, data: bytes) -> None:
        if self._halted:
            return
        index, self._qr_index = self._qr_index, self._qr_index + 1
        if index == 0:
            await self._set(SessionStatus.SCAN_QR)
        expires = datetime.now(UTC) + timedelta(seconds=wa.qr_seconds(index))
        await self.events.qr(data.decode(), index, expires)

    async def _on_pair(self, ev: Any) -> None:
        if ev.Status != 2:  # ERROR
            self._final = True
            await self._set(SessionStatus.FAILED, f"pairing failed: {ev.Error or 'unknown error'}")
            return
        self.jid = {"User": ev.ID.User, "Server": ev.ID.Server or wa.USER_SERVER, "Device": ev.ID.Device}
        self.phone = ev.ID.User
        await self.events.credentials(json.dumps({"jid": self.jid, "phone": self.phone}).encode())

    async def _on_connected(self, _: Any) -> None:
        if self.jid is None:
            return  # whatsmeow connects before pairing: CONNECTED means linked
        await self._set(SessionStatus.CONNECTED)
        await self.events.connected()

    async def _on_logged_out(self, ev: Any) -> None:
        self._final = True
        self.jid = self.phone = None
        await self.events.credentials(None)
        await self._set(SessionStatus.LOGGED_OUT, wa.logout_reason(ev.Reason or 2))
        await self._stop_client()

    async def _on_replaced(self, _: Any) -> None:
        self._final = True
        await self._set(SessionStatus.FAILED, "replaced: the account connected elsewhere")
        await self._stop_client()

    async def _on_ban(self, ev: Any) -> None:
        self._final = True
        await self._set(SessionStatus.FAILED, wa.temporary_ban_reason(ev.Code, ev.Expire))
        await self._stop_client()

    async def _on_outdated(self, _: Any) -> None:
        self._final = True
        await self._set(SessionStatus.FAILED, wa.logout_reason(6))
        await self._stop_client()

    async def _on_connect_failure(self, ev: Any) -> None:
        if wa.is_logout(ev.Reason):
            await self._on_logged_out(ev)
            return
        self._final = True
        detail = f": {ev.Message}" if ev.Message else ""
        await self._set(SessionStatus.FAILED, wa.logout_reason(ev.Reason) + detail)
        await self._stop_client()

    async def _on_disconnected(self, _: Any) -> None:
        if self.status == SessionStatus.CONNECTED:
            await self._set(SessionStatus.RECONNECTING, "connection to WhatsApp lost; reconnecting")

    # ------------------------------------------------------------ messages

    async def _on_message(self, ev: Any) -> None:
        source = ev.Info.MessageSource
        if source.IsFromMe or source.IsGroup:
            return
        content = protos.content_of(ev.Message) or await self._media_of(ev.Message)
        if content is None:
            log.info("session %s: inbound %s not supported yet", self.owner, ev.Info.Type or "message")
            return
        sender = wa.chat_of(source.Sender.User or source.Chat.User)
        await self.events.received(ev.Info.ID, sender, content)

    async def _on_receipt(self, ev: Any) -> None:
        state = wa.receipt_state(ev.Type)
        if state is None:
            return
        for wa_id in ev.MessageIDs:
            sent = self._sent.get(wa_id)
            if sent is not None:
                await self.events.message_status(sent[0], wa_id, sent[1], state)

    async def submit(
        self, message_id: str, wa_id: str, chat: str, content: AnyContent
    ) -> asyncio.Future[str | None]:
        """Send in submission order; the result, once WhatsApp's server took the message, is the
        id WhatsApp gave it (neonize 0.5.2 cannot send under ``wa_id``)."""
        if self.status != SessionStatus.CONNECTED or self._client is None:
            raise NotConnected(self.owner)
        client = self._client
        ready = asyncio.get_running_loop().create_future()

        async def send() -> str | None:
            async with self._send_lock:
                ready.set_result(None)
                message = await self._message_of(client, content, chat)
                to = await self._registered(chat)
                try:
                    response = await client.send_message(protos.jid_of(to), message)
                except Exception as exc:
                    raise SendError(str(exc) or type(exc).__name__) from exc
                self._sent[response.ID] = (message_id, chat)
                return str(response.ID)

        task = asyncio.ensure_future(send())
        await ready  # holds its place in the order before the next submit
        return task

    async def _message_of(self, client: NewAClient, content: AnyContent, chat: str) -> Any:
        """The WhatsApp message of a content; media is read from the store and uploaded first."""
        if isinstance(content, ReactionContent):
            # fromMe: a reaction to one of the session's own messages, or to the contact's.
            return protos.reaction_message(content, chat, mine=content.message_id in self._sent)
        if not isinstance(content, MediaContent):
            return protos.message_of(content, chat)
        data = await self.media.read(content.media.id) if self.media is not None else None
        if data is None:
            raise SendError("media_unavailable: the media is no longer in the store")
        try:
            uploaded = await client.upload(data, protos.UPLOAD_TYPE[content.type])
        except Exception as exc:
            raise SendError(f"media upload failed: {exc}") from exc
        return protos.media_message(content, uploaded)

    async def _media_of(self, message: Any) -> MediaContent | None:
        """A contact's image, video, audio, voice note or document, downloaded into the tenant's store."""
        found = protos.inbound_media(message)
        if found is None or self._client is None or self.media is None:
            return None
        kind, part = found
        data = await self._client.download_any(message)
        ref = await self.media.keep(
            data, part.mimetype or "application/octet-stream", getattr(part, "fileName", "") or None
        )
        return MediaContent(type=kind, media=ref, caption=getattr(part, "caption", "") or None)

    async def typing(self, chat: str, seconds: float) -> None:
        """Wait as long as typing would take (presence is not sent yet)."""
        if seconds > 0:
            await asyncio.sleep(seconds)

    async def on_whatsapp(self, chat: str) -> str | None:
        """Ask WhatsApp, in every form the number may be registered under: the chat id of the
        one it knows (a Brazilian number with or without the ninth digit), or None."""
        if self._client is None or self.status != SessionStatus.CONNECTED:
            raise NotConnected(self.owner)
        if chat.partition("@")[2] not in ("", "c.us", wa.USER_SERVER):
            return chat  # groups and others are not looked up
        variants = wa.phone_variants(wa.chat_user(chat))
        found = await self._client.is_on_whatsapp(*(f"+{n}" for n in variants))
        known = {r.Query.lstrip("+"): r.IsIn for r in found}
        form = wa.registered_form(variants, [known.get(v, False) for v in variants])
        if form is not None:
            self._forms[chat] = wa.chat_of(form)
        return wa.chat_of(form) if form else None

    async def _registered(self, chat: str) -> str:
        """The chat a send goes to: a Brazilian number in the form WhatsApp knows (looked up once)."""
        if len(wa.phone_variants(wa.chat_user(chat))) < 2:
            return chat
        if chat not in self._forms and await self.on_whatsapp(chat) is None:
            raise SendError("not_on_whatsapp")
        return self._forms[chat]

    async def ping(self) -> None:
        """A connected client answers; whatsmeow runs its own keep-alives."""
        if self._client is None:
            raise NotConnected(self.owner)

    # ------------------------------------------------------------ controls

    async def pair(self, phone: str) -> bool:
        """Ask WhatsApp for a pairing code for ``phone``; False unless waiting to be linked."""
        if self.status != SessionStatus.SCAN_QR or self._client is None:
            return False
        code = await self._client.PairPhone(phone, True)
        await self.events.pairing_code(code)
        return True

    async def scan(self, phone: str) -> bool:
        """Simulator only: a real phone scans the code itself."""
        return False

    async def enter_code(self, phone: str, code: str) -> bool:
        """Simulator only: a real phone types the code itself."""
        return False

    async def hang(self, times: int) -> bool:
        """Simulator only."""
        return False

    async def inbound(self, sender: str, content: AnyContent) -> bool:
        """Simulator only: real contacts write for themselves."""
        return False

    def expect_acks(self, message_id: str, wa_id: str, chat: str, kind: str, elapsed: float) -> None:
        """A message sent before (by this worker or the partition's previous owner) still awaits
        receipts: WhatsApp sends them under ``wa_id``, the id recorded when it was taken."""
        self._sent[wa_id] = (message_id, chat)

    async def _stop_client(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        _forget(client)
        stopping = asyncio.ensure_future(client.stop())
        done, _ = await asyncio.wait({stopping}, timeout=STOP_TIMEOUT)
        if not done:
            _exit_stuck(self.owner)
        with contextlib.suppress(Exception):
            stopping.result()

    async def stop(self) -> None:
        """Disconnect, keeping the device."""
        self._final = True
        await self._stop_client()
        if self.status != SessionStatus.STOPPED:
            await self._set(SessionStatus.STOPPED)

    async def recover(self, reason: str) -> None:
        """Drop the connection and connect again with the same device."""
        self._final = True
        await self._stop_client()
        self.status = SessionStatus.STOPPED
        await self.start(resume=True)

    async def give_up(self, reason: str) -> None:
        """Disconnect for good: FAILED with ``reason``."""
        self._final = True
        await self._stop_client()
        await self._set(SessionStatus.FAILED, reason)

    def fence(self) -> None:
        """Stop at once, with no I/O on the loop: Go's Stop starts on a thread of its own."""
        if self._halted:
            return
        self._halted = True
        self.status = SessionStatus.STOPPED
        client, self._client = self._client, None
        if client is not None:
            _forget(client)
            stop = getattr(aioze_client.gocode, "Stop")  # noqa: B009 - looked up now, as neonize does
            self._stopping = threading.Thread(
                target=stop, args=(client.uuid,), name=f"stop:{self.owner}", daemon=True
            )
            self._stopping.start()
            self._fenced_at = time.monotonic()

    async def halt(self) -> None:
        """Disconnect without reporting, for good (the partition moved).

        The client must be stopped before the lease can expire and a peer run the device:
        within ``fence_within`` of the fence (the lease's margin). A worker whose client is
        still running then exits.
        """
        self.fence()
        stopping = self._stopping
        if stopping is None:
            return
        left = self._fenced_at + self.fence_within - time.monotonic()
        await asyncio.to_thread(stopping.join, max(0.0, left))
        if stopping.is_alive():
            _exit_stuck(self.owner, self.fence_within)

    async def logout(self) -> None:
        """Unlink the device on WhatsApp and drop its credentials."""
        self._final = True
        if self._client is not None:
            with contextlib.suppress(Exception):
                await self._client.logout()
        await self._stop_client()
        self.jid = self.phone = None
        await self.events.credentials(None)
        await self._set(SessionStatus.LOGGED_OUT)
