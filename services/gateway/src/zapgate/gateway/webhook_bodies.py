"""Request and response bodies of the webhook routes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, field_validator

from zapgate.common.bodies import In, Out
from zapgate.common.messages import SESSION_NAME_PATTERN
from zapgate.gateway.domain.webhooks import EVENT_PATTERN, MAX_PATTERNS, MAX_SESSIONS

EventPattern = Annotated[str, StringConstraints(pattern=EVENT_PATTERN, max_length=64)]
SessionName = Annotated[str, StringConstraints(pattern=SESSION_NAME_PATTERN)]


def _url(value: str) -> str:
    if not value.startswith(("https://", "http://")) or len(value) > 2000 or any(c.isspace() for c in value):
        raise ValueError("url must be an http:// or https:// URL of at most 2000 characters")
    return value


class WebhookCreate(In):
    """A webhook endpoint: which events (with wildcards) of which sessions go to which URL."""

    url: str = Field(description="http(s) URL that receives the events (POST, Standard Webhooks)")
    events: list[EventPattern] = Field(
        min_length=1, max_length=MAX_PATTERNS,
        description="Event types; `message.*` takes every message event, `*` every event",
    )  # fmt: skip
    sessions: list[SessionName] | None = Field(
        None, max_length=MAX_SESSIONS, description="Only these sessions' events (default: all)"
    )
    description: str | None = Field(None, max_length=500)

    @field_validator("url")
    @classmethod
    def _check(cls, value: str) -> str:
        return _url(value)


class WebhookUpdate(In):
    """Change an endpoint; ``state`` pauses (events wait) or resumes it."""

    url: str | None = None
    events: list[EventPattern] | None = Field(None, min_length=1, max_length=MAX_PATTERNS)
    sessions: list[SessionName] | None = Field(None, max_length=MAX_SESSIONS)
    description: str | None = Field(None, max_length=500)
    state: Literal["active", "paused"] | None = Field(
        None, description="paused: events are kept and sent on resume; active also re-enables a disabled one"
    )

    @field_validator("url")
    @classmethod
    def _check(cls, value: str | None) -> str | None:
        return None if value is None else _url(value)


class WebhookView(Out):
    """An endpoint (its secret is shown only when it is made or rotated)."""

    id: str
    url: str
    events: list[str]
    sessions: list[str] | None
    description: str | None
    state: Literal["active", "paused", "disabled"]
    disabled_reason: str | None
    all_tenants: bool = Field(description="The admin's endpoint: every tenant's events")
    created_at: datetime
    updated_at: datetime


class WebhookCreated(WebhookView):
    """A new endpoint, or one whose secret was rotated: ``secret`` is shown this once."""

    secret: str = Field(description="whsec_...: verify `webhook-signature` with it (Standard Webhooks)")


class WebhookPage(Out):
    """Endpoints, newest first."""

    items: list[WebhookView]


class WebhookDeliveryView(Out):
    """One event's delivery to an endpoint."""

    id: str
    event_id: str
    event_type: str
    session: str
    seq: int
    status: Literal["pending", "succeeded", "failed"]
    attempts: int
    next_at: datetime | None = Field(description="When it is tried next (pending only)")
    response_status: int | None
    latency_ms: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


class WebhookDeliveryPage(Out):
    """Deliveries, newest first."""

    items: list[WebhookDeliveryView]


class WebhookReplay(In):
    """Deliver again every matching event after a stream sequence (as the WebSocket's ``since``)."""

    since: int = Field(ge=0, description="Stream sequence; events after it are delivered again")


class WebhookReplayQueued(Out):
    """How many events were queued again, and where to continue if there are more."""

    queued: int
    last_seq: int
    more: bool
