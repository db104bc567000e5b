"""The simulator engine: a faithful stand-in for a WhatsApp linked device."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from datetime import UTC, datetime, timedelta

from nats.js.api import PubAck

from zapgate.common.ids import new_id
from zapgate.common.messages import AnyContent, MessageState, SessionStatus
from zapgate.session_worker.adapters.simnet import SimNetwork
from zapgate.session_worker.domain import simulator as sim
from zapgate.session_worker.engines.base import EngineEvents, NotConnected, SendError

log = logging.getLogger(__name__)


class SimulatorEngine:
    """QR rotation, pairing, stored credentials, and a network that kicks double connections."""

    def __init__(
        self, owner: str, creds: bytes | None, events: EngineEvents, network: SimNetwork, speed: float
    ) -> None:
        self.owner = owner
        self.events = events
        self.network = network
        self.speed = speed
        self.status = SessionStatus.STOPPED
        self.phone: str | None = json.loads(creds)["phone"] if creds else None
        self._conn_id: str | None = None
        self._qr_task: asyncio.Task[None] | None = None
        self._pairing: tuple[str, str] | None = None  # phone, code
        self.tenant, self.session = owner.split("/", 1)
        self._acks: set[asyncio.Task[None]] = set()
        self._hung = False
        self._halted = False

    @property
    def _account(self) -> str:
        """The simulated account: a phone within its tenant. Tenants' networks are apart, so a
        tenant can neither replace nor hang another's account by using its number."""
        assert self.phone is not None
        return f"{self.tenant}.{self.phone}"

    async def _set(self, status: SessionStatus, reason: str | None = None) -> None:
        self.status = status
        await self.events.status(status, reason, self.phone)

    async def start(self, resume: bool = False) -> None:
        """Connect with stored credentials, or show QR codes until one is scanned.

        ``resume``: the session was running before this worker took its partition over (or
        before a restart), so with credentials it is RECONNECTING rather than STARTING.
        """
        if self.status in (SessionStatus.CONNECTED, SessionStatus.SCAN_QR, SessionStatus.STARTING):
            return
        resuming = resume and self.phone is not None
        await self._set(SessionStatus.RECONNECTING if resuming else SessionStatus.STARTING)
        if self.phone is not None:
            await self._connect()
        else:
            self._qr_task = asyncio.create_task(self._show_qr_codes(), name=f"qr:{self.owner}")

    async def _show_qr_codes(self) -> None:
        keys = sim.device_keys()
        await self._set(SessionStatus.SCAN_QR)
        for index, seconds in enumerate(sim.qr_durations(self.speed)):
            expires = datetime.now(UTC) + timedelta(seconds=seconds)
            await self.events.qr(sim.qr_payload(*keys), index, expires)
            await asyncio.sleep(seconds)
        self._qr_task = None
        self._pairing = None
        await self._set(SessionStatus.FAILED, "qr_timeout")

    async def _connect(self) -> None:
        assert self.phone is not None
        if self._halted:
            return
        self._conn_id = conn_id = new_id()
        await self.network.connect(self._account, conn_id, self.owner, self._replaced)
        if self._halted:
            # Halted while connecting (its partition moved): this connection must not stay up.
            await self.network.disconnect(self._account, conn_id)
            return
        self._hung = await self.network.take_hang(self._account)
        if self._halted:
            await self.network.disconnect(self._account, conn_id)
            return
        await self._set(SessionStatus.CONNECTED)
        await self.events.connected()

    async def _replaced(self) -> None:
        self._conn_id = None
        await self._set(SessionStatus.FAILED, "replaced: the account connected elsewhere")

    async def submit(
        self, message_id: str, wa_id: str, chat: str, content: AnyContent
    ) -> asyncio.Future[str | None]:
        """Hand the message to the network (which drops a repeated ``wa_id``); the result awaits it."""
        if self.status != SessionStatus.CONNECTED:
            raise NotConnected(self.owner)
        registered = sim.registered_form(chat)
        if registered is None:
            raise SendError("not_on_whatsapp")
        chat = registered  # a Brazilian number goes to the form its account has
        record = {"wa_id": wa_id, "to": chat, "type": content.type, "time": datetime.now(UTC).isoformat(),
                  **content.model_dump(mode="json", exclude={"type"})}  # fmt: skip
        ack = await self.network.submit(self.tenant, self.session, wa_id, record)
        return asyncio.ensure_future(self._taken(ack, message_id, wa_id, chat, content.type))

    async def _taken(
        self, ack: asyncio.Future[PubAck], message_id: str, wa_id: str, chat: str, kind: str
    ) -> None:
        await self.network.taken(ack, wa_id)
        if self._halted:
            return  # the partition moved: its new owner awaits these acks
        # A repeat the network dropped was delivered before: its acks are still owed to this owner.
        self.expect_acks(message_id, wa_id, chat, kind, 0.0)

    def expect_acks(self, message_id: str, wa_id: str, chat: str, kind: str, elapsed: float) -> None:
        """The contact acknowledges the message; ``elapsed`` seconds of its schedule have passed."""
        task = asyncio.create_task(self._ack(message_id, wa_id, chat, kind, elapsed))
        self._acks.add(task)
        task.add_done_callback(self._acks.discard)

    async def _ack(self, message_id: str, wa_id: str, chat: str, kind: str, elapsed: float) -> None:
        waited = elapsed
        for status, delay in sim.ack_schedule(kind, self.speed):
            if delay > waited:
                await asyncio.sleep(delay - waited)
                waited = delay
            await self.events.message_status(message_id, wa_id, chat, MessageState(status))

    async def ping(self) -> None:
        """Answer a health check; a hung connection never does."""
        if self._hung:
            await asyncio.Event().wait()

    async def hang(self, times: int) -> bool:
        """Simulator only: this connection, and the next ``times - 1``, stop answering."""
        if self.status != SessionStatus.CONNECTED or self.phone is None:
            return False
        self._hung = True
        await self.network.set_hang(self._account, times - 1)
        return True

    async def recover(self, reason: str) -> None:
        """Drop an unresponsive connection and connect again with the stored credentials."""
        await self._disconnect()
        self._hung = False
        self.status = SessionStatus.STOPPED
        await self._set(SessionStatus.RECONNECTING, reason)
        if self.phone is not None:
            await self._connect()

    async def give_up(self, reason: str) -> None:
        """Disconnect for good after repeated failures: FAILED with the reason."""
        await self._disconnect()
        self._hung = False
        await self._set(SessionStatus.FAILED, reason)

    async def typing(self, chat: str, seconds: float) -> None:
        """The contact sees 'typing…' for ``seconds`` (÷ speed)."""
        if seconds > 0:
            await asyncio.sleep(seconds / self.speed)

    async def on_whatsapp(self, chat: str) -> str | None:
        """The form the simulated WhatsApp knows the number under (sim.registered_form)."""
        return sim.registered_form(chat)

    async def inbound(self, sender: str, content: AnyContent) -> bool:
        """A contact sends the session a message; False when the session is not connected."""
        if self.status != SessionStatus.CONNECTED:
            return False
        await self.events.received(sim.inbound_wa_id(), sender, content)
        return True

    def _cancel_qr(self) -> None:
        if self._qr_task is not None and self._qr_task is not asyncio.current_task():
            self._qr_task.cancel()
        self._qr_task = None

    async def _disconnect(self) -> None:
        self._cancel_qr()
        if self._conn_id is not None and self.phone is not None:
            conn, self._conn_id = self._conn_id, None
            with contextlib.suppress(Exception):
                await self.network.disconnect(self._account, conn)

    async def stop(self) -> None:
        """Disconnect, keeping credentials."""
        await self._disconnect()
        if self.status != SessionStatus.STOPPED:
            await self._set(SessionStatus.STOPPED)

    def fence(self) -> None:
        """Stop at once, with no I/O: no more sends or acks, never connect again.

        The account's registration stays until ``halt``, but a new owner taking it over is no
        longer a replacement of this connection.
        """
        self._halted = True
        for task in list(self._acks):
            task.cancel()
        self._cancel_qr()
        if self.phone is not None and self._conn_id is not None:
            self.network.forget(self._account, self._conn_id)
        self.status = SessionStatus.STOPPED

    async def halt(self) -> None:
        """Disconnect without reporting (the partition moves: its new owner awaits the acks).

        For good: a halted engine never connects again, even if a start was under way.
        """
        self.fence()
        await self._disconnect()

    async def logout(self) -> None:
        """Unlink: the credentials are gone, the next start shows a QR code."""
        await self._disconnect()
        self.phone = None
        await self.events.credentials(None)
        await self._set(SessionStatus.LOGGED_OUT)

    async def pair(self, phone: str) -> bool:
        """Issue a pairing code for ``phone``, valid while the QR codes rotate; typing it on that
        phone (``enter_code``) links the device. False unless waiting to be linked."""
        if self.status != SessionStatus.SCAN_QR:
            return False
        code = sim.pairing_code()
        self._pairing = (phone, code)
        await self.events.pairing_code(code)
        return True

    async def enter_code(self, phone: str, code: str) -> bool:
        """``phone`` types a pairing code: the device is linked if it is the code issued for it."""
        if self.status != SessionStatus.SCAN_QR or self._pairing != (phone, code):
            return False
        return await self.scan(phone)

    async def scan(self, phone: str) -> bool:
        """``phone`` scans the QR code: credentials are stored, then the session connects."""
        if self.status != SessionStatus.SCAN_QR:
            return False
        self._cancel_qr()
        self._pairing = None
        self.phone = phone
        await self.events.credentials(json.dumps({"phone": phone, "device": new_id()}).encode())
        await self._connect()
        return True
