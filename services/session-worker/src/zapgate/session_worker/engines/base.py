"""The engine interface a session host drives."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Protocol

from zapgate.common.messages import AnyContent, MessageState, SessionStatus


class SendError(Exception):
    """WhatsApp refused a message for good (the reason is reported as ``failed``)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class NotConnected(Exception):
    """The session is not connected: the message waits in the outbox."""


class EngineEvents(Protocol):
    """What an engine reports back to its host."""

    async def status(
        self, status: SessionStatus, reason: str | None = None, phone: str | None = None
    ) -> None:
        """The session's status changed."""

    async def qr(self, value: str, index: int, expires_at: datetime) -> None:
        """A new QR code to scan."""

    async def pairing_code(self, code: str) -> None:
        """A pairing code to type on the phone."""

    async def credentials(self, creds: bytes | None) -> None:
        """Persist (or, with None, remove) the session's credentials."""

    async def message_status(self, message_id: str, wa_id: str, chat: str, status: MessageState) -> None:
        """A contact acknowledged a sent message (delivered, read, played)."""

    async def received(self, wa_id: str, sender: str, content: AnyContent) -> None:
        """A contact sent the session a message."""

    async def connected(self) -> None:
        """The session is connected: waiting messages can go out."""


class Engine(Protocol):
    """One WhatsApp session's connection."""

    status: SessionStatus

    async def start(self, resume: bool = False) -> None:
        """Connect: with credentials at once, else through a QR code (``resume``: after a takeover)."""

    async def stop(self) -> None:
        """Disconnect, keeping credentials (also used when the partition moves)."""

    async def logout(self) -> None:
        """Unlink the device and drop its credentials."""

    async def pair(self, phone: str) -> bool:
        """Ask for a pairing code for ``phone`` (``session.pairing_code``); False unless waiting to be linked."""

    async def scan(self, phone: str) -> bool:
        """Simulator only: ``phone`` scans the current QR code; False if not waiting for one."""

    async def enter_code(self, phone: str, code: str) -> bool:
        """Simulator only: ``phone`` types a pairing code; False unless it is the one issued for it."""

    async def submit(
        self, message_id: str, wa_id: str, chat: str, content: AnyContent
    ) -> asyncio.Future[str | None]:
        """Hand one message to WhatsApp under ``wa_id`` without waiting for it to be taken.

        Messages leave in the order they are submitted. Awaiting the result waits until the
        network took the message, and gives the id WhatsApp knows it by when that is not
        ``wa_id`` (None: it is). NotConnected or SendError come from either step.
        """

    async def typing(self, chat: str, seconds: float) -> None:
        """Show 'typing…' in ``chat`` for ``seconds``."""

    async def on_whatsapp(self, chat: str) -> str | None:
        """The chat id WhatsApp knows the chat's number under, or None when it has no account."""

    async def ping(self) -> None:
        """Return once the connection answers (a health check bounds how long that may take)."""

    async def recover(self, reason: str) -> None:
        """Drop an unresponsive connection and connect again (status RECONNECTING with ``reason``)."""

    async def give_up(self, reason: str) -> None:
        """Disconnect for good: status FAILED with ``reason``."""
