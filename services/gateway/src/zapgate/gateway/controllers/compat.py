"""Routes the earlier Baileys-based system's clients call (seed 000), on top of the real API.

``/qr``, ``/status``, ``/send-message``, ``/reconnect``, ``/sessions``, with the tenant key. Answers
carry ``"success": true`` as those clients expect; errors keep zapgate's one error shape.
"""

from __future__ import annotations

import contextlib
import re
from typing import Annotated, Any

from litestar import Controller, get, post
from litestar.params import JSONBody, QueryParameter
from pydantic import Field, model_validator

from zapgate.common.messages import (
    SESSION_NAME_PATTERN,
    RestartSession,
    SessionConfig,
    StartSession,
    engine_of,
)
from zapgate.gateway.adapters.sessions import SessionExists
from zapgate.gateway.adapters.tables import SessionRow
from zapgate.gateway.auth import tenant_only
from zapgate.gateway.controllers.sessions import (
    AfterName,
    IdempotencyKey,
    Name,
    PageLimit,
    TenantRequest,
    bus_connected,
    tenant_of,
)
from zapgate.gateway.domain import qr
from zapgate.gateway.errors import ApiError, error_responses
from zapgate.gateway.lifecycle import existing
from zapgate.gateway.schemas import Request, SendText, SessionName
from zapgate.gateway.sending import accept_message
from zapgate.gateway.state import GatewayDep, GatewayState

SessionIdQuery = Annotated[
    str, QueryParameter(name="sessionId", pattern=SESSION_NAME_PATTERN, description="The session's name")
]


class LegacySend(Request):
    """Body of POST /send-message: the old field names are accepted next to the new ones."""

    session_id: SessionName | None = None
    sessionId: SessionName | None = None  # noqa: N815 (the old clients' spelling)
    number: str | None = Field(None, max_length=128)
    to: str | None = Field(None, max_length=128)
    message: str | None = Field(None, min_length=1, max_length=65_536)
    text: str | None = Field(None, min_length=1, max_length=65_536)

    @model_validator(mode="after")
    def _required(self) -> LegacySend:
        if not (self.session_id or self.sessionId):
            raise ValueError("session_id (or sessionId) is required")
        if not (self.number or self.to):
            raise ValueError("number (or to) is required")
        if not (self.message or self.text):
            raise ValueError("message (or text) is required")
        return self


class LegacyReconnect(Request):
    """Body of POST /reconnect."""

    sessionId: SessionName  # noqa: N815


def _status(row: SessionRow) -> dict[str, Any]:
    return {
        "success": True, "sessionId": row.name, "status": row.status, "connected": row.status == "CONNECTED",
        "phone": row.phone, "reason": row.reason,
    }  # fmt: skip


def _session_id(path_value: str | None, query_value: str | None) -> str:
    value = path_value or query_value
    if not value:
        raise ApiError(400, "bad_request", "give the session in the path or as ?sessionId=")
    return value


async def _ensure_started(gateway: GatewayState, tenant: str, name: str) -> SessionRow:
    """The old server created and started a session on its first QR request; so does this route."""
    row = await gateway.sessions_repo.get(tenant, name)
    if row is None:
        partition = gateway.commands.partition(tenant, name)
        with contextlib.suppress(SessionExists):
            await gateway.sessions_repo.create(
                tenant, name, "simulator", SessionConfig().model_dump(mode="json"), partition
            )
        row = await existing(gateway, tenant, name)
    if row.desired != "started":
        await gateway.sessions_repo.set_desired(tenant, name, "started")
        await gateway.commands.send(
            StartSession(tenant=tenant, session=name, config=row.config, engine=engine_of(row.engine))
        )
    return row


class CompatController(Controller):
    """The earlier system's routes."""

    path = "/"
    tags = ["compatibility"]
    guards = [tenant_only]

    async def _qr(self, gateway: GatewayState, tenant: str, name: str) -> dict[str, Any]:
        row = await _ensure_started(gateway, tenant, name)
        body = _status(row)
        waiting = row.status == "SCAN_QR" and row.qr_value is not None
        body["qr"] = qr.data_url(row.qr_value) if waiting and row.qr_value else None
        body["qr_value"] = row.qr_value if waiting else None
        return body

    @get("/qr/{name:str}", responses=error_responses(401, 403, 422, 503))
    async def legacy_qr(self, name: Name, gateway: GatewayDep, request: TenantRequest) -> dict[str, Any]:
        """The session's QR code as a data URL (``qr`` is null until one is shown); starts it if needed."""
        return await self._qr(gateway, tenant_of(request), _valid(name))

    @get("/qr", responses=error_responses(400, 401, 403, 422, 503))
    async def legacy_qr_query(
        self, gateway: GatewayDep, request: TenantRequest, session_id: SessionIdQuery
    ) -> dict[str, Any]:
        """``GET /qr?sessionId=``."""
        return await self._qr(gateway, tenant_of(request), _valid(_session_id(None, session_id)))

    @get("/status/{name:str}", responses=error_responses(401, 403, 404))
    async def legacy_status(self, name: Name, gateway: GatewayDep, request: TenantRequest) -> dict[str, Any]:
        """The session's status."""
        bus_connected(gateway)
        return _status(await existing(gateway, tenant_of(request), name))

    @get("/status", responses=error_responses(400, 401, 403, 404, 422))
    async def legacy_status_query(
        self, gateway: GatewayDep, request: TenantRequest, session_id: SessionIdQuery
    ) -> dict[str, Any]:
        """``GET /status?sessionId=``."""
        bus_connected(gateway)
        return _status(await existing(gateway, tenant_of(request), _valid(_session_id(None, session_id))))

    @post("/send-message", status_code=200, responses=error_responses(400, 401, 403, 404, 409, 422, 503))
    async def legacy_send_message(
        self, data: JSONBody[LegacySend], gateway: GatewayDep, request: TenantRequest,
        idempotency_key: IdempotencyKey = None,
    ) -> dict[str, Any]:  # fmt: skip
        """Send a text: ``{"session_id"|"sessionId", "number"|"to", "message"|"text"}``."""
        tenant = tenant_of(request)
        name = str(data.session_id or data.sessionId)
        await existing(gateway, tenant, name)
        body = SendText(to=str(data.number or data.to), text=str(data.message or data.text))
        accepted = await accept_message(gateway, tenant, name, body, idempotency_key)
        return {"success": True, "messageId": accepted.id, "id": accepted.id, "status": accepted.status}

    async def _reconnect(self, gateway: GatewayState, tenant: str, name: str) -> dict[str, Any]:
        await existing(gateway, tenant, name)
        await gateway.sessions_repo.set_desired(tenant, name, "started")
        command_id = await gateway.commands.send(RestartSession(tenant=tenant, session=name))
        return {"success": True, "sessionId": name, "command_id": command_id}

    @post("/reconnect/{name:str}", status_code=200, responses=error_responses(401, 403, 404, 503))
    async def legacy_reconnect_path(
        self, name: Name, gateway: GatewayDep, request: TenantRequest
    ) -> dict[str, Any]:
        """Restart the session (no new QR if it is paired)."""
        return await self._reconnect(gateway, tenant_of(request), name)

    @post("/reconnect", status_code=200, responses=error_responses(400, 401, 403, 404, 422, 503))
    async def legacy_reconnect(
        self, data: JSONBody[LegacyReconnect], gateway: GatewayDep, request: TenantRequest
    ) -> dict[str, Any]:
        """``POST /reconnect {"sessionId"}``."""
        return await self._reconnect(gateway, tenant_of(request), data.sessionId)

    @get("/sessions", responses=error_responses(401, 403, 422))
    async def legacy_sessions(
        self, gateway: GatewayDep, request: TenantRequest, limit: PageLimit = 100, after: AfterName = None
    ) -> dict[str, Any]:
        """The tenant's sessions with their status, by name (``limit`` and ``after`` page them)."""
        bus_connected(gateway)
        rows = await gateway.sessions_repo.list(tenant_of(request), limit, after)
        return {"success": True, "sessions": [_status(r) for r in rows]}


def _valid(name: str) -> str:
    """A session name the old clients may create on the fly, or 422."""
    if not re.fullmatch(SESSION_NAME_PATTERN, name):
        raise ApiError(
            422, "validation_error",
            f"session id {name!r} must match {SESSION_NAME_PATTERN} (lowercase letters, digits, - and _)",
        )  # fmt: skip
    return name
