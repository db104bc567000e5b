"""Commands and events: the contracts services exchange over NATS.

Every message carries ``id`` (ULID), ``tenant``, ``session``, ``time`` and ``schema_version``.
Commands are imperative and have one consumer (the worker holding the session's partition);
events are past tense and fan out to whoever listens. The same pydantic models describe REST
payloads and the AsyncAPI document, so there is one schema language.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal, Protocol, TypeVar
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, StrictBool, TypeAdapter, field_validator

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


# ---------------------------------------------------------------- session options


class PacingConfig(BaseModel):
    """Paced sending: a token bucket per session, jitter, and an optional typing indicator."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Strict: "yes" or 1 for a switch is a client's mistake, not a value to guess.
    enabled: StrictBool = True
    per_minute: float = Field(60, gt=0, le=60_000, description="Sustained messages per minute")
    burst: int = Field(20, ge=1, le=10_000, description="Messages sent back to back before pacing starts")
    typing: StrictBool = Field(False, description="Show 'typing…' for a time proportional to the text first")


PROXY_SCHEMES = ("socks5", "socks5h", "http", "https")

EngineName = Literal["simulator", "whatsapp"]
"""``simulator`` (the default) or ``whatsapp``: a real phone through neonize (whatsmeow)."""


def engine_of(name: str) -> EngineName:
    """A stored engine name, checked."""
    if name == "whatsapp":
        return "whatsapp"
    if name == "simulator":
        return "simulator"
    raise ValueError(f"unknown engine {name!r}")


def masked_proxy(url: str) -> str:
    """A proxy URL with its password replaced by ``***``, for responses and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


class SessionConfig(BaseModel):
    """A session's options, given at creation or changed with PATCH."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    pacing: PacingConfig = Field(default_factory=PacingConfig)
    proxy: str | None = Field(
        None,
        max_length=2048,
        description="whatsapp engine: connect through this proxy, socks5://[user:password@]host:port "
        "or http(s)://...; the password is shown masked",
    )

    @field_validator("proxy")
    @classmethod
    def _proxy_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            parts = urlsplit(value)
            port = parts.port
        except ValueError as exc:
            raise ValueError(f"proxy is not a URL: {exc}") from None
        if parts.scheme not in PROXY_SCHEMES:
            raise ValueError(f"proxy scheme must be one of {', '.join(PROXY_SCHEMES)}")
        if not parts.hostname or port is None:
            raise ValueError("proxy needs a host and a port")
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ValueError("proxy is scheme://[user:password@]host:port, with no path")
        return value


# ---------------------------------------------------------------- commands


class Command(Message):
    """A request to the worker that owns the session."""

    verb: str


class StartSession(Command):
    """Connect the session, showing a QR code if it has no stored credentials."""

    verb: Literal["start"] = "start"
    config: dict[str, Any] | None = Field(None, description="The session's options, if set")
    engine: EngineName = Field("simulator", description="The engine a new session runs")


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


PAIRING_CODE_PATTERN = r"^[1-9A-HJ-NP-TV-Z]{4}-[1-9A-HJ-NP-TV-Z]{4}$"


class SimulateCodeEntry(Command):
    """Simulator only: the phone's owner types the pairing code into WhatsApp (Linked devices)."""

    verb: Literal["enter_code"] = "enter_code"
    phone: str = Field(pattern=r"^[1-9][0-9]{6,14}$")
    code: str = Field(pattern=PAIRING_CODE_PATTERN, description="As issued, e.g. ABCD-1234")


# ---------------------------------------------------------------- message content
# The same content models travel in REST bodies (after the gateway stored any media), in the
# ``send`` command, in ``message.received`` events and in the AsyncAPI document.

CHAT_ID_PATTERN = r"^[0-9]{5,20}(-[0-9]{5,20})?@(c\.us|s\.whatsapp\.net|g\.us|lid|newsletter)$"


def no_nul(value: Any) -> Any:
    """Refuse NUL characters: PostgreSQL cannot store them, and no WhatsApp text carries one."""
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("NUL characters (\\u0000) are not allowed")
    return value


class Content(BaseModel):
    """Base of message contents."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    _no_nul = field_validator("*", mode="after")(no_nul)


class MediaRef(Content):
    """Media kept in the object store ``zg_media`` under ``<tenant>/<id>``."""

    id: str
    mimetype: str = Field(max_length=255)
    filename: str | None = Field(None, max_length=255)
    size: int = Field(ge=0)
    sha256: str


class TextContent(Content):
    """A text message, optionally quoting another message."""

    type: Literal["text"] = "text"
    text: str = Field(min_length=1, max_length=65_536)
    reply_to: str | None = Field(None, max_length=128, description="id of the quoted message")


class MediaContent(Content):
    """An image, video, audio, voice note or document."""

    type: Literal["image", "video", "audio", "voice", "document"]
    media: MediaRef
    caption: str | None = Field(None, max_length=4096)


class LocationContent(Content):
    """A pinned location."""

    type: Literal["location"] = "location"
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    name: str | None = Field(None, max_length=1000)


class ContactCard(Content):
    """A shared contact."""

    name: str = Field(min_length=1, max_length=256)
    phone: str = Field(pattern=r"^\+?[1-9][0-9]{6,14}$")


class ContactContent(Content):
    """A contact card."""

    type: Literal["contact"] = "contact"
    contact: ContactCard


class ReactionContent(Content):
    """An emoji reaction to a message (empty emoji removes it)."""

    type: Literal["reaction"] = "reaction"
    message_id: str = Field(min_length=1, max_length=128)
    emoji: str = Field(max_length=32)


AnyContent = Annotated[
    TextContent | MediaContent | LocationContent | ContactContent | ReactionContent,
    Field(discriminator="type"),
]


class MessageState(StrEnum):
    """Delivery status of a message; the rank only grows (``failed`` is final)."""

    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    PLAYED = "played"
    FAILED = "failed"

    @property
    def rank(self) -> int:
        """Order of the status: a status never replaces one of a higher rank."""
        return _RANK[self]


_RANK = {
    MessageState.QUEUED: 0,
    MessageState.SENT: 1,
    MessageState.DELIVERED: 2,
    MessageState.READ: 3,
    MessageState.PLAYED: 4,
    MessageState.FAILED: 9,
}


class HasStatus(Protocol):
    """Anything that moves a message to a status."""

    @property
    def status(self) -> MessageState: ...


S = TypeVar("S", bound=HasStatus)
K = TypeVar("K", bound=Hashable)


def furthest(items: Iterable[S], key: Callable[[S], K]) -> dict[K, S]:
    """Per message (``key``), the item with the highest-ranked status.

    An ``UPDATE … FROM`` applies one source row per target row, so a batch in which a message
    moved twice must be reduced to its furthest move first.
    """
    best: dict[K, S] = {}
    for item in items:
        k = key(item)
        seen = best.get(k)
        if seen is None or item.status.rank > seen.status.rank:
            best[k] = item
    return best


class SendMessage(Command):
    """Send one message; ``id`` is the message id the API returned."""

    verb: Literal["send"] = "send"
    to: str = Field(pattern=CHAT_ID_PATTERN, description="Chat id, e.g. 5511999999999@c.us")
    content: AnyContent
    expires_at: datetime | None = None


class ConfigureSession(Command):
    """Change a session's options (pacing) on its worker."""

    verb: Literal["configure"] = "configure"
    config: dict[str, Any] = Field(default_factory=dict)


class SimulateHang(Command):
    """Simulator only: the engine stops answering while it still claims to be CONNECTED."""

    verb: Literal["hang"] = "hang"
    times: int = Field(1, ge=1, le=1000, description="How many connections in a row hang")


class SimulateInbound(Command):
    """Simulator only: a contact sends the session a message."""

    verb: Literal["inbound"] = "inbound"
    sender: str = Field(pattern=CHAT_ID_PATTERN)
    content: AnyContent


AnyCommand = Annotated[
    StartSession
    | StopSession
    | RestartSession
    | LogoutSession
    | RequestPairingCode
    | SimulateScan
    | SimulateCodeEntry
    | SendMessage
    | ConfigureSession
    | SimulateInbound
    | SimulateHang,
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


class MessageStatusChanged(Event):
    """A sent message moved on: sent, delivered, read, played, or failed with a reason.

    In WebSocket frames ``data.id`` is the message id (``message_id`` here, as ``id`` is the event's).
    """

    type: Literal["message.status"] = "message.status"
    message_id: str
    status: MessageState
    wa_id: str | None = None
    chat: str | None = None
    error: str | None = None


class MessageReceived(Event):
    """A contact sent the session a message (media is in the object store, see ``content.media``)."""

    type: Literal["message.received"] = "message.received"
    message_id: str
    wa_id: str
    chat: str
    sender: str
    content: AnyContent


class CampaignProgressed(Event):
    """A campaign's recipients moved on (at most every few seconds while it runs).

    Published under the campaign's first session; ``counts`` has the keys of the API's progress.
    """

    type: Literal["campaign.progress"] = "campaign.progress"
    campaign_id: str
    state: str
    counts: dict[str, Any]


class CampaignCompleted(Event):
    """Every recipient of a campaign was sent to, failed or skipped (or it was cancelled)."""

    type: Literal["campaign.completed"] = "campaign.completed"
    campaign_id: str
    state: str
    counts: dict[str, Any]


AlertKind = Literal[
    "trial_ending_3d", "trial_ending_1d", "charge_issued", "payment_received", "past_due", "suspended",
    "messages_80pct", "messages_100pct", "sessions_80pct", "sessions_100pct",
]  # fmt: skip


class BillingAlert(Event):
    """Billing tells the tenant about its subscription: a trial ending (3 days and 1 day before),
    a charge issued, a payment received, past due, suspended, 80 % and 100 % of the period's
    messages and of the plan's sessions. Once each; on the tenant's stream under the session ``_tenant``."""

    type: Literal["billing.alert"] = "billing.alert"
    session: Literal["_tenant"] = Field("_tenant", description="Not a session: the tenant itself")
    kind: AlertKind
    message: str = Field(description="For people, in the tenant's words")
    details: dict[str, Any] = Field(default_factory=dict)


class WebhookDisabled(Event):
    """A tenant's webhook endpoint was disabled: it answered 410 Gone, or failed for the whole
    retry schedule. ``PATCH /api/v1/webhooks/{id}`` with ``state: active`` enables it again."""

    type: Literal["webhook.disabled"] = "webhook.disabled"
    session: Literal["_tenant"] = Field("_tenant", description="Not a session: the tenant itself")
    endpoint_id: str
    url: str
    reason: str


AnyEvent = Annotated[
    SessionStatusChanged
    | QrCodeIssued
    | PairingCodeIssued
    | CommandRejected
    | MessageStatusChanged
    | MessageReceived
    | CampaignProgressed
    | CampaignCompleted
    | BillingAlert
    | WebhookDisabled,
    Field(discriminator="type"),
]
event_adapter: TypeAdapter[AnyEvent] = TypeAdapter(AnyEvent)


def encode(message: Message) -> bytes:
    """Serialize a message for the wire (JSON)."""
    return message.model_dump_json().encode()
