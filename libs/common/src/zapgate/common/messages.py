"""Commands and events: the contracts services exchange over NATS.

Every message carries ``id`` (ULID), ``tenant``, ``session``, ``time`` and ``schema_version``.
Commands are imperative and have one consumer (the worker holding the session's partition);
events are past tense and fan out to whoever listens. The same pydantic models describe REST
payloads and the AsyncAPI document, so there is one schema language.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from zapgate.common.ids import new_id

SCHEMA_VERSION = 1
SESSION_NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class SessionStatus(StrEnum):
    """Lifecycle of a WhatsApp session, named as WAHA users know them."""

    STOPPED = "STOPPED"
    STARTING = "STARTING"
    SCAN_QR = "SCAN_QR"
    CONNECTED = "CONNECTED"
    RECONNECTING = "RECONNECTING"
    LOGGED_OUT = "LOGGED_OUT"
    FAILED = "FAILED"


class Message(BaseModel):
    """Envelope fields shared by every command and event."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(default_factory=new_id, description="ULID of this message")
    tenant: str = Field(min_length=1, max_length=64)
    session: str = Field(pattern=SESSION_NAME_PATTERN)
    time: datetime = Field(default_factory=utcnow)
    schema_version: int = SCHEMA_VERSION

    envelope_fields: ClassVar[frozenset[str]] = frozenset(
        {"id", "tenant", "session", "time", "schema_version", "type", "verb"}
    )

    def data(self) -> dict[str, Any]:
        """The message's own fields, without the envelope (JSON-ready)."""
        return self.model_dump(mode="json", exclude=set(self.envelope_fields))


# ---------------------------------------------------------------- commands


class Command(Message):
    """A request to the worker that owns the session."""

    verb: str


class StartSession(Command):
    """Connect the session, showing a QR code if it has no stored credentials."""

    verb: Literal["start"] = "start"


class StopSession(Command):
    """Disconnect the session, keeping its credentials."""

    verb: Literal["stop"] = "stop"


class RestartSession(Command):
    """Stop then start the session."""

    verb: Literal["restart"] = "restart"


class LogoutSession(Command):
    """Unlink the device and forget its credentials."""

    verb: Literal["logout"] = "logout"


class RequestPairingCode(Command):
    """Pair by phone number instead of a QR code."""

    verb: Literal["pair"] = "pair"
    phone: str = Field(pattern=r"^[1-9][0-9]{6,14}$")


class SimulateScan(Command):
    """Simulator only: a phone scans the session's current QR code."""

    verb: Literal["scan"] = "scan"
    phone: str = Field(pattern=r"^[1-9][0-9]{6,14}$")


AnyCommand = Annotated[
    StartSession | StopSession | RestartSession | LogoutSession | RequestPairingCode | SimulateScan,
    Field(discriminator="verb"),
]
command_adapter: TypeAdapter[AnyCommand] = TypeAdapter(AnyCommand)


# ------------------------------------------------------------------ events


class Event(Message):
    """Something that happened to a session."""

    type: str


class SessionStatusChanged(Event):
    """The session moved from one status to another."""

    type: Literal["session.status"] = "session.status"
    status: SessionStatus
    previous: SessionStatus | None = None
    reason: str | None = None
    worker: str | None = None
    phone: str | None = None
    epoch: int = Field(0, description="Lease revision of the partition when this was emitted (fencing)")


class QrCodeIssued(Event):
    """A new QR code is waiting to be scanned."""

    type: Literal["session.qr"] = "session.qr"
    value: str
    index: int = Field(ge=0)
    expires_at: datetime
    epoch: int = 0


class PairingCodeIssued(Event):
    """A pairing code to type on the phone."""

    type: Literal["session.pairing_code"] = "session.pairing_code"
    code: str
    epoch: int = 0


class CommandRejected(Event):
    """A command could not be accepted; the original is kept in the dead-letter stream."""

    type: Literal["command.rejected"] = "command.rejected"
    command_id: str | None = None
    subject: str
    reason: str
    errors: list[dict[str, Any]] = Field(default_factory=list)


AnyEvent = Annotated[
    SessionStatusChanged | QrCodeIssued | PairingCodeIssued | CommandRejected,
    Field(discriminator="type"),
]
event_adapter: TypeAdapter[AnyEvent] = TypeAdapter(AnyEvent)


def encode(message: Message) -> bytes:
    """Serialize a message for the wire (JSON)."""
    return message.model_dump_json().encode()
