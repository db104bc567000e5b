"""Sessions of the calling tenant: create, read, delete, lifecycle commands, QR and pairing."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.params import HeaderParameter, JSONBody, PathParameter, QueryParameter

from zapgate.common.messages import (
    SESSION_NAME_PATTERN,
    ConfigureSession,
    LogoutSession,
    RequestPairingCode,
    SessionConfig,
    SimulateCodeEntry,
    SimulateScan,
    masked_proxy,
)
from zapgate.gateway import enforcement, lifecycle
from zapgate.gateway.adapters.sessions import SessionExists
from zapgate.gateway.adapters.tables import SessionRow
from zapgate.gateway.auth import tenant_only
from zapgate.gateway.domain import qr
from zapgate.gateway.domain.principal import Principal
from zapgate.gateway.errors import ApiError, error_responses
from zapgate.gateway.lifecycle import existing
from zapgate.gateway.openapi import QrOperation
from zapgate.gateway.schemas import (
    CodeEntry,
    CommandAccepted,
    PairingRequest,
    QrDataUrl,
    QrRaw,
    Session,
    SessionCreate,
    SessionUpdate,
)
from zapgate.gateway.state import GatewayDep

Name = Annotated[str, PathParameter(description="Session name", pattern=SESSION_NAME_PATTERN)]
IdempotencyKey = Annotated[
    str | None, HeaderParameter(name="Idempotency-Key", required=False, min_length=1, max_length=200)
]
TenantRequest = Request[Principal, Any, Any]
PageLimit = Annotated[int, QueryParameter(ge=1, le=500, description="Most items in the page")]
AfterName = Annotated[
    str | None,
    QueryParameter(pattern=SESSION_NAME_PATTERN, description="Cursor: the last name of the previous page"),
]


def to_session(row: SessionRow) -> Session:
    """Row to response body."""
    config = SessionConfig.model_validate(row.config)
    if config.proxy is not None:
        config = config.model_copy(update={"proxy": masked_proxy(config.proxy)})
    return Session(
        name=row.name, engine=row.engine, status=row.status, desired=row.desired, reason=row.reason,
        phone=row.phone, worker=row.worker, partition=row.partition, config=config,
        created_at=row.created_at, updated_at=row.updated_at,
    )  # fmt: skip


def tenant_of(request: TenantRequest) -> str:
    """The calling tenant's id."""
    tenant = request.user.tenant_id
    assert tenant is not None
    return tenant


def bus_connected(gateway: GatewayDep) -> None:
    """503 naming the message bus while it is away: a session's status is projected from the
    workers' events, so what the database holds then is stale (the workers stop their sessions
    when they lose the bus)."""
    gateway.nats.nc  # noqa: B018 - raises NatsUnavailable (503) when disconnected


async def simulated(gateway: GatewayDep, tenant: str, name: str, status: str | None = None) -> SessionRow:
    """The tenant's simulator session, 404 for other engines, 409 unless it is in ``status``."""
    row = await existing(gateway, tenant, name)
    if row.engine != "simulator":
        raise ApiError(404, "not_found", f"session {name!r} does not run the simulator engine")
    if status is not None and row.status != status:
        raise ApiError(409, "conflict", f"session {name!r} is {row.status}, not {status}")
    return row


class SessionController(Controller):
    """``/api/v1/sessions``: a tenant's WhatsApp sessions."""

    path = "/api/v1/sessions"
    tags = ["sessions"]
    guards = [tenant_only]

    @post("/", status_code=201, responses=error_responses(401, 403, 409, 422))
    async def create_session(
        self, data: JSONBody[SessionCreate], gateway: GatewayDep, request: TenantRequest
    ) -> Session:
        """Create a session (stopped); start it with POST .../start."""
        tenant = tenant_of(request)
        if enforcement.session_limited(gateway, tenant):
            enforcement.check(gateway, tenant, "session", (await gateway.quotas.usage(tenant)).sessions)
        partition = gateway.commands.partition(tenant, data.name)
        try:
            row = await gateway.sessions_repo.create(
                tenant, data.name, data.engine, data.config.model_dump(mode="json"), partition
            )
        except SessionExists:
            raise ApiError(409, "conflict", f"session {data.name!r} exists already") from None
        return to_session(row)

    @get("/", responses=error_responses(401, 403, 422))
    async def list_sessions(
        self, gateway: GatewayDep, request: TenantRequest, limit: PageLimit = 100, after: AfterName = None
    ) -> list[Session]:
        """The tenant's sessions by name, a page at a time: pass the last name as ``after`` for the
        next page; a page shorter than ``limit`` is the last. 503 while the message bus is away
        (the statuses would be stale)."""
        bus_connected(gateway)
        return [to_session(r) for r in await gateway.sessions_repo.list(tenant_of(request), limit, after)]

    @get("/{name:str}", responses=error_responses(401, 403, 404))
    async def get_session(self, name: Name, gateway: GatewayDep, request: TenantRequest) -> Session:
        """One session with its live status (503 while the message bus is away: it would be stale)."""
        bus_connected(gateway)
        return to_session(await existing(gateway, tenant_of(request), name))

    @patch("/{name:str}", responses=error_responses(401, 403, 404, 422, 503))
    async def update_session(
        self, name: Name, data: JSONBody[SessionUpdate], gateway: GatewayDep, request: TenantRequest
    ) -> Session:
        """Change the session's options, e.g. ``{"config": {"pacing": {"enabled": false}}}``."""
        tenant = tenant_of(request)
        await existing(gateway, tenant, name)
        config = data.config.model_dump(mode="json")
        await gateway.sessions_repo.set_config(tenant, name, config)
        await gateway.commands.send(ConfigureSession(tenant=tenant, session=name, config=config))
        return to_session(await existing(gateway, tenant, name))

    @delete("/{name:str}", status_code=204, responses=error_responses(401, 403, 404, 503))
    async def delete_session(self, name: Name, gateway: GatewayDep, request: TenantRequest) -> None:
        """Log the session out (its credentials are removed) and forget it."""
        tenant = tenant_of(request)
        await existing(gateway, tenant, name)
        await gateway.commands.send(LogoutSession(tenant=tenant, session=name))
        await gateway.sessions_repo.delete(tenant, name)

    @post("/{name:str}/start", status_code=202, responses=error_responses(401, 403, 404, 409, 503))
    async def start_session(
        self, name: Name, gateway: GatewayDep, request: TenantRequest, idempotency_key: IdempotencyKey = None
    ) -> CommandAccepted:
        """Start (and keep starting after any restart) until stopped."""
        return await lifecycle.run(gateway, tenant_of(request), name, "start", idempotency_key)

    @post("/{name:str}/stop", status_code=202, responses=error_responses(401, 403, 404, 409, 503))
    async def stop_session(
        self, name: Name, gateway: GatewayDep, request: TenantRequest, idempotency_key: IdempotencyKey = None
    ) -> CommandAccepted:
        """Stop, keeping the credentials."""
        return await lifecycle.run(gateway, tenant_of(request), name, "stop", idempotency_key)

    @post("/{name:str}/restart", status_code=202, responses=error_responses(401, 403, 404, 409, 503))
    async def restart_session(
        self, name: Name, gateway: GatewayDep, request: TenantRequest, idempotency_key: IdempotencyKey = None
    ) -> CommandAccepted:
        """Stop then start."""
        return await lifecycle.run(gateway, tenant_of(request), name, "restart", idempotency_key)

    @post("/{name:str}/logout", status_code=202, responses=error_responses(401, 403, 404, 409, 503))
    async def logout_session(
        self, name: Name, gateway: GatewayDep, request: TenantRequest, idempotency_key: IdempotencyKey = None
    ) -> CommandAccepted:
        """Unlink the device and remove its credentials."""
        return await lifecycle.run(gateway, tenant_of(request), name, "logout", idempotency_key)

    @post(
        "/{name:str}/pairing-code", status_code=202, responses=error_responses(401, 403, 404, 409, 422, 503)
    )
    async def request_pairing_code(
        self, name: Name, data: JSONBody[PairingRequest], gateway: GatewayDep, request: TenantRequest
    ) -> CommandAccepted:
        """Ask for a pairing code while the session waits to be linked (``SCAN_QR``, else 409).

        The code arrives as a ``session.pairing_code`` event; typed on that phone (WhatsApp →
        Linked devices → Link with phone number) it links the device instead of a QR scan.
        """
        tenant = tenant_of(request)
        row = await existing(gateway, tenant, name)
        if row.status != "SCAN_QR":
            raise ApiError(
                409, "conflict", f"session {name!r} is {row.status}, not waiting to be linked; start it"
            )
        command_id = await gateway.commands.send(
            RequestPairingCode(tenant=tenant, session=name, phone=data.phone)
        )
        return CommandAccepted(command_id=command_id)

    @post(
        "/{name:str}/simulator/scan", status_code=202, responses=error_responses(401, 403, 404, 409, 422, 503)
    )
    async def simulator_scan(
        self, name: Name, data: JSONBody[PairingRequest], gateway: GatewayDep, request: TenantRequest
    ) -> CommandAccepted:
        """Simulator only: a phone scans the current QR code."""
        tenant = tenant_of(request)
        await simulated(gateway, tenant, name, "SCAN_QR")
        command_id = await gateway.commands.send(SimulateScan(tenant=tenant, session=name, phone=data.phone))
        return CommandAccepted(command_id=command_id)

    @post(
        "/{name:str}/simulator/enter-code",
        status_code=202,
        responses=error_responses(401, 403, 404, 409, 422, 503),
    )
    async def simulator_enter_code(
        self, name: Name, data: JSONBody[CodeEntry], gateway: GatewayDep, request: TenantRequest
    ) -> CommandAccepted:
        """Simulator only: the phone types the pairing code issued for it; a wrong one is refused
        with a ``command.rejected`` event."""
        tenant = tenant_of(request)
        await simulated(gateway, tenant, name, "SCAN_QR")
        command_id = await gateway.commands.send(
            SimulateCodeEntry(tenant=tenant, session=name, phone=data.phone, code=data.code)
        )
        return CommandAccepted(command_id=command_id)

    @get(
        "/{name:str}/qr",
        responses=error_responses(401, 403, 404, 409, 422),
        media_type="image/png",
        operation_class=QrOperation,
    )
    async def get_qr(
        self,
        name: Name,
        gateway: GatewayDep,
        request: TenantRequest,
        format: Annotated[Literal["image", "raw", "base64", "svg"], QueryParameter()] = "image",
    ) -> Response[Any]:
        """The current QR code: PNG (default), ``?format=raw|base64|svg``; 409 unless waiting for a scan."""
        row = await existing(gateway, tenant_of(request), name)
        if row.status != "SCAN_QR" or row.qr_value is None:
            raise ApiError(409, "conflict", f"session {name!r} is {row.status}, not waiting for a QR scan")
        value = row.qr_value
        if format == "raw":
            raw = QrRaw(value=value, index=row.qr_index or 0, expires_at=row.qr_expires_at or row.updated_at)
            return Response(raw, media_type="application/json")
        if format == "base64":
            return Response(QrDataUrl(data_url=qr.data_url(value)), media_type="application/json")
        if format == "svg":
            return Response(qr.svg(value), media_type="image/svg+xml")
        return Response(qr.png(value), media_type="image/png")
