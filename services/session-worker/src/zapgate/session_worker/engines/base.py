"""The engine interface a session host drives."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from zapgate.common.messages import SessionStatus


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


class Engine(Protocol):
    """One WhatsApp session's connection."""

    status: SessionStatus

    async def start(self) -> None:
        """Connect: with credentials at once, else through a QR code."""

    async def stop(self) -> None:
        """Disconnect, keeping credentials (also used when the partition moves)."""

    async def logout(self) -> None:
        """Unlink the device and drop its credentials."""

    async def pair(self, phone: str) -> None:
        """Ask for a pairing code for ``phone``."""

    async def scan(self, phone: str) -> bool:
        """Simulator only: ``phone`` scans the current QR code; False if not waiting for one."""
