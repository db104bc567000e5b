"""Liveness and readiness."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Response, get
from litestar.openapi import ResponseSpec

from zapgate.common.health import run_checks
from zapgate.gateway.contract import asyncapi
from zapgate.gateway.errors import public_responses
from zapgate.gateway.schemas import Health, Readiness
from zapgate.gateway.state import GatewayDep

ASYNCAPI = asyncapi()  # built once: the models do not change while the process runs


class HealthController(Controller):
    """``/health`` (process alive) and ``/ready`` (NATS and PostgreSQL reachable)."""

    include_in_schema = True
    tags = ["health"]
    security = [{}]  # public: no key needed (overrides the API-wide requirement in OpenAPI)

    @get("/asyncapi.json", exclude_from_auth=True, responses=public_responses())
    async def asyncapi_document(self) -> dict[str, Any]:
        """The NATS contract (commands and events, AsyncAPI 3.0), generated from the message models."""
        return ASYNCAPI

    @get("/health", exclude_from_auth=True, responses=public_responses())
    async def health(self) -> Health:
        """The process is alive."""
        return Health(status="ok")

    @get(
        "/ready",
        exclude_from_auth=True,
        responses={
            **public_responses(),
            503: ResponseSpec(data_container=Readiness, description="something is down"),
        },
    )
    async def ready(self, gateway: GatewayDep) -> Response[Readiness]:
        """200 when NATS and PostgreSQL answer, else 503 naming what is down."""
        down = await run_checks({"nats": gateway.nats.check, "postgres": gateway.check_db})
        if down:
            return Response(
                Readiness(status="unavailable", down=down), status_code=503, headers={"Retry-After": "1"}
            )
        return Response(Readiness(status="ready"))
