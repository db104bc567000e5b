"""``GET /metrics``: the gateway's Prometheus metrics, for the operator (admin key)."""

from __future__ import annotations

from litestar import Controller, Response, get
from sqlalchemy import func, select

from zapgate.common import metrics
from zapgate.gateway.adapters.tables import SessionRow
from zapgate.gateway.auth import admin_only
from zapgate.gateway.errors import error_responses
from zapgate.gateway.state import GatewayDep


class MetricsController(Controller):
    """Prometheus scrapes this with the admin key (``authorization: {credentials: <key>}``)."""

    path = "/metrics"
    tags = ["operations"]
    include_in_schema = True

    @get(
        "/", guards=[admin_only], media_type="text/plain; version=0.0.4; charset=utf-8",
        responses=error_responses(401, 403, parameters=False),
    )  # fmt: skip
    async def get_metrics(self, gateway: GatewayDep) -> Response[bytes]:
        """Metrics in the Prometheus text format: HTTP requests by route and status, sessions by
        status and worker (all tenants together), WebSocket clients, accepted sends."""
        query = select(SessionRow.status, SessionRow.worker, func.count()).group_by(
            SessionRow.status, SessionRow.worker
        )
        async with gateway.sessions() as db:
            rows = (await db.execute(query)).all()
        metrics.SESSIONS.clear()
        for status, worker, count in rows:
            metrics.SESSIONS.labels(status, worker or "").set(count)
        metrics.WEBSOCKET_CLIENTS.set(sum(gateway.tenant_sockets.values()))
        payload, content_type = metrics.exposition()
        return Response(payload, media_type=content_type)
