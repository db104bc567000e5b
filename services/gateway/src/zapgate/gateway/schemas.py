"""Request and response bodies of the REST API (pydantic, the same schema language as NATS)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    RootModel,
    StringConstraints,
    field_validator,
    model_validator,
)

from zapgate.common.messages import (
    PAIRING_CODE_PATTERN,
    ContactContent,
    EngineName,
    LocationContent,
    ReactionContent,
    SessionConfig,
    TextContent,
    no_nul,
)


class Request(BaseModel):
    """Base of request bodies: unknown fields are an error, not silently dropped; no NUL characters."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    _no_nul = field_validator("*", mode="after")(no_nul)


class Response(BaseModel):
    """Base of response bodies."""

    model_config = ConfigDict(frozen=True)


TenantName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class TenantCreate(Request):
    """Body of POST /api/v1/tenants."""

    name: TenantName = Field(description="Display name, unique across tenants")


class Tenant(Response):
    """A tenant."""

    id: str
    name: str
    status: str
    created_at: datetime


class TenantCreated(Tenant):
    """A new tenant with its first API key, shown only this once."""

    api_key: str
    api_key_id: str


class ApiKeyCreated(Response):
    """A new API key, shown only this once."""

    id: str
    api_key: str
    prefix: str
    created_at: datetime


class ApiKey(Response):
    """An API key as listed: never the key itself."""

    id: str
    prefix: str
    created_at: datetime


QuotaValue = Annotated[int | None, Field(ge=0)]


class QuotaLimits(Response):
    """A tenant's quotas; ``null`` is unlimited."""

    sessions: int | None = Field(description="Sessions the tenant may have")
    api_keys: int | None = Field(description="Live API keys")
    media_bytes: int | None = Field(
        description="Bytes of media kept (media expires after the store's max age)"
    )
    tickets_per_minute: int | None = Field(description="WebSocket tickets minted a minute, per gateway")


class QuotaUsage(Response):
    """What the tenant holds now."""

    sessions: int
    api_keys: int
    media_bytes: int


class TenantQuotas(Response):
    """The tenant's quotas in force, the admin's own values among them, and the usage."""

    limits: QuotaLimits
    overrides: dict[str, int | None] = Field(
        description="Values the admin set for this tenant; the others are the operator's defaults"
    )
    usage: QuotaUsage


class QuotaOverrides(Request):
    """Body of PUT .../quotas: the tenant's own values; a field left out takes the default, ``null``
    is unlimited, ``{}`` returns every quota to the default."""

    sessions: QuotaValue = None
    api_keys: QuotaValue = None
    media_bytes: QuotaValue = None
    tickets_per_minute: QuotaValue = None


class Health(Response):
    """Liveness."""

    status: str


class Readiness(Response):
    """Readiness: what is down, if anything."""

    status: str
    down: dict[str, str] = Field(default_factory=dict)


class ErrorDetail(Response):
    """What went wrong."""

    code: str = Field(description="Stable machine-readable code, e.g. validation_error")
    message: str
    details: dict[str, Any] | list[dict[str, Any]] | None = Field(
        None,
        description="Which fields were wrong (a list of {key, message, source}), or facts of the error "
        "(the quota and its limit, the dependency that is away)",
    )


class ErrorBody(Response):
    """The body of every error response."""

    error: ErrorDetail


SessionName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]


class SessionCreate(Request):
    """Body of POST /api/v1/sessions."""

    name: SessionName = Field(description="Unique per tenant: lowercase letters, digits, - and _")
    engine: EngineName = Field(
        "simulator", description="simulator, or whatsapp to link a real phone (README: Connect a real phone)"
    )
    config: SessionConfig = Field(
        default_factory=SessionConfig, description="Session options (pacing, proxy)"
    )


class Session(Response):
    """A session as the API shows it."""

    name: str
    engine: str
    status: str
    desired: str = Field(description="started or stopped: what the session should be doing")
    reason: str | None
    phone: str | None
    worker: str | None = Field(description="The worker process (host:pid) running it")
    partition: int
    config: SessionConfig
    created_at: datetime
    updated_at: datetime


class CommandAccepted(Response):
    """A command was durably queued for the session's worker."""

    command_id: str


class PairingRequest(Request):
    """Pair by phone number instead of a QR code."""

    phone: Annotated[str, StringConstraints(pattern=r"^[1-9][0-9]{6,14}$")] = Field(
        description="Digits only, country code first, no leading 0"
    )


class CodeEntry(Request):
    """Simulator only: a phone types a pairing code."""

    phone: Annotated[str, StringConstraints(pattern=r"^[1-9][0-9]{6,14}$")] = Field(
        description="The phone the code was issued for"
    )
    code: Annotated[str, StringConstraints(pattern=PAIRING_CODE_PATTERN)] = Field(
        description="The code of the ``session.pairing_code`` event, e.g. ABCD-1234"
    )


class QrRaw(Response):
    """The current QR code's payload."""

    value: str
    index: int
    expires_at: datetime


class QrDataUrl(Response):
    """The current QR code as a data URL."""

    data_url: str


class SessionUpdate(Request):
    """Body of PATCH /api/v1/sessions/{name}: the options to change."""

    config: SessionConfig


# ---------------------------------------------------------------- messages


class Outgoing(Request):
    """Fields every outgoing message has."""

    to: str = Field(min_length=1, max_length=128, description="Phone number (digits, optional +) or chat id")
    expires_at: datetime | None = Field(
        None, description="If it has not been sent by then (session down), it fails with reason expired"
    )


class SendText(Outgoing, TextContent):
    """A text message."""


MIMETYPE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$"
"""RFC 6838's restricted names: ASCII only, so the type can be sent back in a header."""


class MediaInput(Request):
    """Media given by URL or base64 (exactly one of them)."""

    url: str | None = Field(None, max_length=4096)
    data: str | None = Field(None, description="Base64, or a data: URL")
    mimetype: str = Field(
        min_length=3,
        max_length=255,
        pattern=MIMETYPE_PATTERN,
        description="type/subtype, ASCII token characters",
    )
    filename: str | None = Field(None, max_length=255, description="Kept as its last path segment only")

    @field_validator("filename")
    @classmethod
    def _basename(cls, value: str | None) -> str | None:
        """A name, not a path: what follows the last slash, with control characters removed."""
        if value is None:
            return None
        name = "".join(ch for ch in re.split(r"[/\\]", value)[-1] if ch.isprintable()).strip()
        return name if name not in ("", ".", "..") else None

    @model_validator(mode="after")
    def _one_source(self) -> MediaInput:
        if (self.url is None) == (self.data is None):
            raise ValueError("give exactly one of media.url and media.data")
        return self


class SendMedia(Outgoing):
    """An image, video, audio file, voice note or document."""

    type: Literal["image", "video", "audio", "voice", "document"]
    media: MediaInput
    caption: str | None = Field(None, max_length=4096)


class SendLocation(Outgoing, LocationContent):
    """A location."""


class SendContact(Outgoing, ContactContent):
    """A contact card."""


class SendReaction(Outgoing, ReactionContent):
    """A reaction to a message."""


SendRequest = Annotated[
    SendText | SendMedia | SendLocation | SendContact | SendReaction, Field(discriminator="type")
]


class SendBody(RootModel[SendRequest]):
    """Body of POST .../messages: one of the message types, chosen by ``type``."""


class MessageAccepted(Response):
    """The message is durably queued; follow it with ``message.status`` events or GET."""

    id: str
    status: str


class MessageView(Response):
    """A message as history shows it."""

    id: str
    session: str
    direction: Literal["in", "out"]
    chat: str
    type: str
    content: dict[str, Any]
    status: str
    wa_id: str | None
    error: str | None
    created_at: datetime
    updated_at: datetime


class MessagePage(Response):
    """A page of history, newest first; pass ``next`` as ``before`` for the next page."""

    items: list[MessageView]
    next: str | None


class ChatView(Response):
    """A conversation."""

    chat: str
    phone: str | None
    last_message_id: str
    last_message_at: datetime
    messages: int
    unread: int


class ContactView(Response):
    """A one-to-one conversation partner."""

    id: str
    phone: str
    last_message_at: datetime


class NumberExists(Response):
    """Whether a number has WhatsApp."""

    phone: str
    exists: bool
    chat_id: str | None


class ChatRead(Response):
    """How many incoming messages were marked read."""

    chat: str
    marked: int


class InboundRequest(Request):
    """Simulator only: a contact sends the session a message."""

    from_: str = Field(
        alias="from", min_length=1, max_length=128, description="The contact's phone or chat id"
    )
    text: str | None = Field(None, min_length=1, max_length=65_536)
    media: MediaInput | None = None
    caption: str | None = Field(None, max_length=4096)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _one_body(self) -> InboundRequest:
        if (self.text is None) == (self.media is None):
            raise ValueError("give exactly one of text and media")
        return self


class Delivery(Response):
    """What a simulated contact received."""

    seq: int = Field(description="Stream sequence of its first delivery in the page")
    wa_id: str
    to: str
    type: str
    text: str | None
    count: int
    delivered_at: datetime


class DeliveryPage(Response):
    """A page of what the simulated contacts received."""

    items: list[Delivery]
    next: int | None = Field(description="`after` of the next page; null when this page reached the end")


class HangRequest(Request):
    """Simulator only: make the session's connection stop answering."""

    times: int = Field(
        1, ge=1, le=1000, description="How many connections in a row hang (each restart is one)"
    )
