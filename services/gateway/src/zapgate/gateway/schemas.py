"""Request and response bodies of the REST API (pydantic, the same schema language as NATS)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints


class Request(BaseModel):
    """Base of request bodies: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid", frozen=True)


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
    details: Any | None = None


class ErrorBody(Response):
    """The body of every error response."""

    error: ErrorDetail


SessionName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]


class SessionCreate(Request):
    """Body of POST /api/v1/sessions."""

    name: SessionName = Field(description="Unique per tenant: lowercase letters, digits, - and _")
    engine: Literal["simulator"] = "simulator"
    config: dict[str, Any] = Field(default_factory=dict, description="Engine and session options")


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
    config: dict[str, Any]
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


class QrRaw(Response):
    """The current QR code's payload."""

    value: str
    index: int
    expires_at: datetime


class QrDataUrl(Response):
    """The current QR code as a data URL."""

    data_url: str
