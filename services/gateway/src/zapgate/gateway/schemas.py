"""Request and response bodies of the REST API (pydantic, the same schema language as NATS)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

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
