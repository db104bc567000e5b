"""The gateway's client of the other services: its REST routes for schedules, campaigns, plans
and subscriptions are a facade over their request/reply operations."""

from __future__ import annotations

from typing import Any

from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

from zapgate.common import rpc, subjects
from zapgate.gateway.adapters.nats import NatsLink
from zapgate.gateway.errors import ApiError, unavailable


class ServiceClient:
    """Asks one service over NATS; its errors come back as the same API errors."""

    def __init__(self, nats: NatsLink, service: str, timeout: float) -> None:
        self.nats = nats
        self.service = service
        self.subject = subjects.service_api(service)
        self.timeout = timeout
        """Seconds one operation may take (the scheduler's longest: a CSV import of 50,000 lines)."""

    async def call(self, op: str, tenant: str, args: dict[str, Any] | None = None) -> Any:
        """The service's answer to ``op``, or the ApiError it means (503 when it is away)."""
        try:
            return await rpc.call(self.nats.nc, self.subject, op, tenant, args or {}, self.timeout)
        except rpc.RpcError as exc:
            headers = {"Retry-After": "1"} if exc.status == 503 else None
            raise ApiError(exc.status, exc.code, exc.message, exc.details, headers) from None
        except NoRespondersError:
            raise unavailable(
                f"the {self.service} service is not running; retry shortly", self.service
            ) from None
        except NatsTimeout:
            raise unavailable(
                f"the {self.service} service did not answer in time; retry shortly", self.service
            ) from None
