"""``/api/v1/webhooks``: endpoints that receive events, signed as Standard Webhooks says.

A tenant key manages the tenant's endpoints; the admin key manages the admin's, which receive
every tenant's events. Delivery is the dispatcher's (``zapgate-gateway webhooks``).
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

import nats.errors
from litestar import Controller, Request, delete, get, patch, post
from litestar.params import JSONBody, PathParameter, QueryParameter
from nats.js import api as js_api

from zapgate.common import subjects
from zapgate.common.db import utcnow
from zapgate.common.ids import ID_PATTERN, new_id
from zapgate.gateway.adapters.media import resolve
from zapgate.gateway.adapters.tables import WebhookDeliveryRow, WebhookEndpointRow
from zapgate.gateway.adapters.webhooks import WebhookStore
from zapgate.gateway.domain import webhooks
from zapgate.gateway.domain.frames import frame
from zapgate.gateway.domain.principal import Principal
from zapgate.gateway.errors import ApiError, error_responses, unavailable
from zapgate.gateway.state import GatewayDep, GatewayState
from zapgate.gateway.webhook_bodies import (
    WebhookCreate,
    WebhookCreated,
    WebhookDeliveryPage,
    WebhookDeliveryView,
    WebhookPage,
    WebhookReplay,
    WebhookReplayQueued,
    WebhookUpdate,
    WebhookView,
)

EndpointId = Annotated[str, PathParameter(description="Webhook endpoint id", pattern=ID_PATTERN)]
DeliveryId = Annotated[str, PathParameter(description="Delivery id", pattern=ID_PATTERN)]
Caller = Request[Principal, Any, Any]
REPLAY_MAX = 10_000


def owner(request: Caller) -> str | None:
    """Whose endpoints: the tenant's, or (admin key) the admin's."""
    return None if request.user.is_admin else request.user.tenant_id


def view(row: WebhookEndpointRow) -> WebhookView:
    """An endpoint as the API shows it."""
    return WebhookView(
        id=row.id, url=row.url, events=row.events, sessions=row.sessions, description=row.description,
        state=row.state,
        disabled_reason=row.disabled_reason, all_tenants=row.tenant_id is None,
        created_at=row.created_at, updated_at=row.updated_at,
    )  # fmt: skip


def delivery_view(row: WebhookDeliveryRow) -> WebhookDeliveryView:
    """A delivery as the API shows it."""
    return WebhookDeliveryView(
        id=row.id, event_id=row.event_id, event_type=row.event_type, session=row.session, seq=row.seq,
        status=row.status,
        attempts=row.attempts, next_at=row.next_at if row.status == "pending" else None,
        response_status=row.response_status, latency_ms=row.latency_ms, last_error=row.last_error,
        created_at=row.created_at, delivered_at=row.delivered_at,
    )  # fmt: skip


def store(gateway: GatewayState) -> WebhookStore:
    """The gateway's webhook store; 503 when no key keeps the secrets."""
    if gateway.webhooks.cipher is None:
        raise unavailable("webhooks need ZAPGATE_SECRET_KEY (it keeps their signing secrets)", "secret_key")
    return gateway.webhooks


async def allowed_url(gateway: GatewayState, url: str) -> None:
    """422 for a URL whose host resolves to loopback, private or link-local addresses (unless
    ``ZAPGATE_WEBHOOK_ALLOW_PRIVATE``), or does not resolve."""
    try:
        await resolve(url, gateway.settings.webhook_allow_private)
    except Exception as exc:
        raise ApiError(
            422, "validation_error", f"url is not allowed: {exc}",
            [{"key": "url", "message": str(exc), "source": "body"}],
        ) from None  # fmt: skip


async def endpoint(gateway: GatewayState, request: Caller, endpoint_id: str) -> WebhookEndpointRow:
    """The caller's endpoint, or 404 (another tenant's ids are not told apart from unknown ones)."""
    row = await store(gateway).get(owner(request), endpoint_id)
    if row is None:
        raise ApiError(404, "not_found", f"webhook {endpoint_id!r} not found")
    return row


class WebhookController(Controller):
    """Webhook endpoints, their deliveries, a test ping and replays."""

    path = "/api/v1/webhooks"
    tags = ["webhooks"]

    @post("/", status_code=201, responses=error_responses(401, 403, 422))
    async def create_webhook(
        self, data: JSONBody[WebhookCreate], gateway: GatewayDep, request: Caller
    ) -> WebhookCreated:
        """A new endpoint. Its signing secret (``whsec_...``) is in this answer only. Events are
        POSTed as the WebSocket's frames with ``webhook-id`` (the event id: dedupe on it),
        ``webhook-timestamp`` and ``webhook-signature``; 2xx is success, anything else is retried
        (immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h), 410 disables the endpoint."""
        await allowed_url(gateway, data.url)
        row, secret = await store(gateway).create(owner(request), data.model_dump())
        return WebhookCreated(**view(row).model_dump(), secret=secret)

    @get("/", responses=error_responses(401, 403, parameters=False))
    async def list_webhooks(self, gateway: GatewayDep, request: Caller) -> WebhookPage:
        """The caller's endpoints, newest first."""
        return WebhookPage(items=[view(r) for r in await store(gateway).endpoints(owner(request))])

    @get("/{endpoint_id:str}", responses=error_responses(401, 403, 404))
    async def get_webhook(self, endpoint_id: EndpointId, gateway: GatewayDep, request: Caller) -> WebhookView:
        """One endpoint."""
        return view(await endpoint(gateway, request, endpoint_id))

    @patch("/{endpoint_id:str}", responses=error_responses(401, 403, 404, 422))
    async def update_webhook(
        self, endpoint_id: EndpointId, data: JSONBody[WebhookUpdate], gateway: GatewayDep, request: Caller
    ) -> WebhookView:
        """Change an endpoint; ``state: paused`` keeps its events until ``state: active``, which
        also enables a disabled endpoint again (its pending events go out)."""
        row = await endpoint(gateway, request, endpoint_id)
        values = data.model_dump(exclude_unset=True)
        if values.get("url"):
            await allowed_url(gateway, values["url"])
        if "events" in values and values["events"] is None:
            raise ApiError(
                422, "validation_error", "events cannot be null", [{"key": "events", "source": "body"}]
            )
        return view(await store(gateway).change(row, values))

    @delete("/{endpoint_id:str}", status_code=204, responses=error_responses(401, 403, 404))
    async def delete_webhook(self, endpoint_id: EndpointId, gateway: GatewayDep, request: Caller) -> None:
        """Delete an endpoint and its deliveries."""
        await store(gateway).remove(await endpoint(gateway, request, endpoint_id))

    @post("/{endpoint_id:str}/rotate-secret", status_code=200, responses=error_responses(401, 403, 404))
    async def rotate_secret(
        self, endpoint_id: EndpointId, gateway: GatewayDep, request: Caller
    ) -> WebhookCreated:
        """A new signing secret, shown this once; for 24 hours the previous one signs too (two
        signatures in ``webhook-signature``), so receivers can switch without losing events."""
        row, secret = await store(gateway).rotate(await endpoint(gateway, request, endpoint_id))
        return WebhookCreated(**view(row).model_dump(), secret=secret)

    @post("/{endpoint_id:str}/test", status_code=202, responses=error_responses(401, 403, 404))
    async def test_webhook(
        self, endpoint_id: EndpointId, gateway: GatewayDep, request: Caller
    ) -> WebhookDeliveryView:
        """Queue a ``webhook.ping`` event to the endpoint; its delivery is in ``.../deliveries``."""
        row = await endpoint(gateway, request, endpoint_id)
        event = {"id": new_id(), "seq": 0, "type": "webhook.ping", "tenant": row.tenant_id or "admin",
                 "session": subjects.TENANT_SESSION, "time": utcnow().isoformat(), "data": {"endpoint_id": row.id}}  # fmt: skip
        record = {"endpoint_id": row.id, "tenant_id": event["tenant"], "event_id": event["id"],
                  "event_type": "webhook.ping", "session": subjects.TENANT_SESSION, "seq": 0,
                  "body": json.dumps(event, separators=(",", ":"))}  # fmt: skip
        await store(gateway).record([record])
        found = await store(gateway).deliveries(row.id, 1, None)
        return delivery_view(found[0])

    @get("/{endpoint_id:str}/deliveries", responses=error_responses(401, 403, 404))
    async def list_deliveries(
        self,
        endpoint_id: EndpointId,
        gateway: GatewayDep,
        request: Caller,
        status: Annotated[Literal["pending", "succeeded", "failed"] | None, QueryParameter()] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 100,
    ) -> WebhookDeliveryPage:
        """The endpoint's delivery attempts, newest first: event, status, attempts, the last
        response's status and latency, the next retry and the last error."""
        row = await endpoint(gateway, request, endpoint_id)
        return WebhookDeliveryPage(
            items=[delivery_view(d) for d in await store(gateway).deliveries(row.id, limit, status)]
        )

    @post("/{endpoint_id:str}/deliveries/{delivery_id:str}/retry", status_code=202,
          responses=error_responses(401, 403, 404))  # fmt: skip
    async def retry_delivery(
        self, endpoint_id: EndpointId, delivery_id: DeliveryId, gateway: GatewayDep, request: Caller
    ) -> WebhookDeliveryView:
        """Send one delivery again now (its attempts start over)."""
        row = await endpoint(gateway, request, endpoint_id)
        found = await store(gateway).retry(row.id, delivery_id)
        if found is None:
            raise ApiError(404, "not_found", f"delivery {delivery_id!r} not found")
        return delivery_view(found)

    @post("/{endpoint_id:str}/replay", status_code=202, responses=error_responses(401, 403, 404, 422))
    async def replay(
        self, endpoint_id: EndpointId, data: JSONBody[WebhookReplay], gateway: GatewayDep, request: Caller
    ) -> WebhookReplayQueued:
        """Deliver again every event after stream sequence ``since`` that the endpoint takes (up
        to 10,000 a call: ``more`` and ``last_seq`` say where to go on), delivered before or not."""
        row = await endpoint(gateway, request, endpoint_id)
        filter_subject = (
            subjects.EVENTS_ALL if row.tenant_id is None else subjects.tenant_events(row.tenant_id)
        )
        rows: list[dict[str, Any]] = []
        last, more = data.since, False
        try:
            sub = await gateway.nats.js.subscribe(
                filter_subject, ordered_consumer=True, stream=subjects.EVENTS_STREAM,
                deliver_policy=js_api.DeliverPolicy.BY_START_SEQUENCE,
                config=js_api.ConsumerConfig(opt_start_seq=data.since + 1),
            )  # fmt: skip
        except Exception as exc:
            raise unavailable(f"the event stream cannot be read now ({type(exc).__name__})", "nats") from None
        try:
            seen = 0
            while seen < REPLAY_MAX:
                try:
                    msg = await sub.next_msg(timeout=0.5)
                except (TimeoutError, nats.errors.TimeoutError):
                    break
                seen += 1
                event = frame(msg)
                last = int(event["seq"])
                rows += webhooks.deliveries_of(event, [row])
            else:
                more = True
        finally:
            await sub.unsubscribe()
        queued = await store(gateway).record(rows, again=True)
        return WebhookReplayQueued(queued=queued, last_seq=last, more=more)
