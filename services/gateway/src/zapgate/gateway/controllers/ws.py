"""The per-tenant WebSocket: every event of the tenant, live, with replay from a sequence."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
from datetime import datetime
from typing import Annotated, Any

from litestar import Controller, Request, WebSocket, post, websocket
from litestar.exceptions import WebSocketDisconnect
from litestar.params import QueryParameter
from nats.aio.msg import Msg
from nats.js import api as js_api

from zapgate.common import metrics, subjects, tracing
from zapgate.gateway.auth import tenant_only
from zapgate.gateway.cors import websocket_origin_allowed
from zapgate.gateway.domain.frames import frame
from zapgate.gateway.domain.principal import Principal
from zapgate.gateway.errors import ApiError, error_responses
from zapgate.gateway.schemas import Response as Body
from zapgate.gateway.state import GatewayDep

log = logging.getLogger(__name__)

CLOSE_TOO_SLOW = 4008
CLOSE_REVOKED = 4001
CLOSE_POLICY = 1008
RECHECK_EVERY = 30.0
CLOSE_UNAVAILABLE = 1013
CLOSE_WAIT = 30.0
SEND_STALL = 30.0
SEND_BATCH = 64  # frames sent under one stall timer


class WsTicket(Body):
    """A single-use ticket for ``GET /api/v1/ws?ticket=``."""

    ticket: str
    expires_in: int


class WebSocketController(Controller):
    """``/api/v1/ws`` and its tickets."""

    path = "/api/v1/ws"
    tags = ["events"]

    @post(
        "/tickets",
        guards=[tenant_only],
        status_code=201,
        responses=error_responses(401, 403, 429, 503, parameters=False),
    )
    async def create_ws_ticket(self, gateway: GatewayDep, request: Request[Principal, Any, Any]) -> WsTicket:
        """A ticket for browsers, which cannot set headers on a WebSocket (expires in 60 s, used once).

        A tenant mints at most its ``tickets_per_minute`` quota a minute on each gateway (429).
        """
        assert request.user.tenant_id is not None and request.user.key_hash is not None
        tenant = request.user.tenant_id
        limit = await gateway.quotas.tickets_per_minute(tenant)
        if limit is not None:
            now = time.monotonic()
            wait = gateway.tickets_minted.retry_after(tenant, now, limit)
            if wait is not None:
                raise ApiError(
                    429, "rate_limited", f"at most {limit} WebSocket tickets a minute for this tenant",
                    details={"quota": "tickets_per_minute", "limit": limit},
                    headers={"Retry-After": str(max(1, math.ceil(wait)))},
                )  # fmt: skip
            gateway.tickets_minted.hit(tenant, now)
        ticket = await gateway.tickets.issue(request.user.tenant_id, request.user.key_hash)
        return WsTicket(ticket=ticket, expires_in=60)

    @websocket("/", guards=[tenant_only])
    async def events(
        self,
        socket: WebSocket[Principal, Any, Any],
        gateway: GatewayDep,
        sessions: Annotated[str | None, QueryParameter(description="Comma-separated session names")] = None,
        types: Annotated[str | None, QueryParameter(description="Comma-separated event types")] = None,
        since: Annotated[int | None, QueryParameter(ge=0, description="Replay events after this seq")] = None,
    ) -> None:
        """Stream the tenant's events as JSON frames ``{id, seq, type, tenant, session, time, data}``."""
        tenant = socket.user.tenant_id
        assert tenant is not None
        wanted_sessions = {s for s in (sessions or "").split(",") if s}
        wanted_types = {t for t in (types or "").split(",") if t}
        key_hash = socket.user.key_hash
        assert key_hash is not None
        refused = gateway.sockets_full(tenant, key_hash)
        if not websocket_origin_allowed(socket.headers, gateway.settings.cors_origin_list):
            refused = f"origin {socket.headers.get('origin')!r} is not allowed (ZAPGATE_CORS_ORIGINS)"
        if refused is not None:
            await socket.accept()
            await socket.close(CLOSE_POLICY, refused)
            return
        # Frames wait serialized, counted in bytes: a frame of 65,536 emoji weighs ~260 KB, so a
        # bound in frames bounds nothing. Past the bound the socket is closed (4008) and the
        # client resumes with ``since``; a replay that outruns the client ends the same way.
        limit = gateway.settings.ws_buffer_bytes
        queue: asyncio.Queue[str] = asyncio.Queue()
        buffered = [0]
        overflow = asyncio.Event()

        async def on_event(msg: Msg) -> None:
            item = frame(msg)
            if item["tenant"] != tenant:
                return
            if wanted_sessions and item["session"] not in wanted_sessions:
                return
            if wanted_types and item["type"] not in wanted_types:
                return
            if overflow.is_set():
                return
            if tracing.active() and (parent := tracing.extract(msg.headers)) is not None:
                tracing.tracer.start_span(
                    f"websocket push {item['type']}", context=parent, kind=tracing.SpanKind.PRODUCER
                ).end()
            text = _dumps(item)
            if buffered[0] + len(text) > limit:
                overflow.set()
                return
            buffered[0] += len(text)
            queue.put_nowait(text)

        try:
            policy = (
                {
                    "deliver_policy": js_api.DeliverPolicy.BY_START_SEQUENCE,
                    "config": js_api.ConsumerConfig(opt_start_seq=since + 1),
                }
                if since is not None
                else {"deliver_policy": js_api.DeliverPolicy.NEW}
            )
            sub = await gateway.nats.js.subscribe(
                subjects.tenant_events(tenant), cb=on_event, ordered_consumer=True, stream=subjects.EVENTS_STREAM,
                **policy,
            )  # fmt: skip
        except Exception as exc:
            log.warning("websocket of %s: events unavailable: %s", tenant, type(exc).__name__)
            await socket.accept()
            await socket.close(CLOSE_UNAVAILABLE, "events unavailable; retry")
            return
        # Accepted only once the subscription exists: an event published after the client saw
        # the handshake is always delivered (with ``since``, one ordered consumer joins the
        # replay to the live events, with no gap and no repeat).
        try:
            await socket.accept()
        except Exception:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
            raise
        receiver = asyncio.create_task(self._drain_client(socket))
        revoked = gateway.socket_opened(tenant, key_hash, wake=lambda: queue.put_nowait(""))
        recheck = time.monotonic() + RECHECK_EVERY
        try:
            while not receiver.done():
                if time.monotonic() > recheck:
                    # A revocation whose broadcast never came still ends the socket: its key is
                    # checked again as often as a cached key would be.
                    recheck = time.monotonic() + RECHECK_EVERY
                    with contextlib.suppress(Exception):
                        if await gateway.resolve_key(key_hash) is None:
                            revoked.set()
                if revoked.is_set():
                    with contextlib.suppress(Exception):
                        async with asyncio.timeout(CLOSE_WAIT):
                            await socket.close(CLOSE_REVOKED, "API key revoked")
                    return
                if overflow.is_set():
                    metrics.WEBSOCKET_SLOW_CLOSES.inc()
                    # The close frame waits behind what the client has not read; a client that
                    # reads nothing at all gets no close frame, only the end of the handler.
                    with contextlib.suppress(Exception):
                        async with asyncio.timeout(CLOSE_WAIT):
                            await socket.close(
                                CLOSE_TOO_SLOW, "client too slow: buffer full; reconnect with since"
                            )
                    return
                # The next frame, or a revocation (it wakes the queue with an empty frame), or
                # a second passing: whichever comes first.
                try:
                    async with asyncio.timeout(1):
                        items = [await queue.get()]
                except TimeoutError:
                    continue
                while len(items) < SEND_BATCH and not queue.empty():
                    items.append(queue.get_nowait())
                items = [text for text in items if text]
                if not items:
                    continue
                # Never cancel a send half-way (the frame would be lost); sends stalled this long
                # end the socket instead, and the client resumes with since.
                async with asyncio.timeout(SEND_STALL):
                    for text in items:
                        await socket.send_text(text)
                        buffered[0] -= len(text)
        except (WebSocketDisconnect, RuntimeError, TimeoutError):
            pass
        finally:
            gateway.socket_closed(tenant, key_hash, revoked)
            receiver.cancel()
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    @staticmethod
    async def _drain_client(socket: WebSocket[Any, Any, Any]) -> None:
        """Read (and ignore) what the client sends, to notice when it goes away."""
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            while True:
                await socket.receive_data("text")


def _default(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(type(value).__name__)


def _dumps(value: Any) -> str:
    return json.dumps(value, default=_default)
