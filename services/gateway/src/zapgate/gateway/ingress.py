"""The NATS ingress: how another service sends and runs lifecycle commands over NATS.

A request on ``zg.in.<tenant>.<session>.<verb>`` (``send``, ``start``, ``stop``, ``restart``,
``logout``) runs the same code as the REST route: a send (``{"id"?, "message": <the REST send
body>}``) is validated, deduplicated by its ``id``,
checked against the tenant's plan, and kept in the history, so ``GET /api/v1/messages/{id}``,
statuses, the WebSocket and webhooks see it as they see a REST send. The reply is
``{"result": ...}`` (what the REST route answers) or ``{"error": {status, code, message,
details}}`` with the status the REST route would give. A refusal (any 4xx) is also kept in the
dead-letter stream and told to the tenant as a ``command.rejected`` event; a 503 is neither
accepted nor refused (retry it). The subject names the tenant: NATS authorization makes a
tenant's user publish only under its own (``zapgate.common.permissions``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from typing import Any, TypeVar

from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from pydantic import BaseModel, Field, ValidationError

from zapgate.common import rpc, subjects
from zapgate.common.ids import ID_PATTERN
from zapgate.common.messages import SESSION_NAME_PATTERN, CommandRejected, encode
from zapgate.gateway import lifecycle
from zapgate.gateway.internal import as_rpc_errors
from zapgate.gateway.schemas import Request as RequestBody
from zapgate.gateway.schemas import SendBody
from zapgate.gateway.sending import accept_message
from zapgate.gateway.state import GatewayState

log = logging.getLogger(__name__)

SEND = "send"
VERBS = (SEND, *lifecycle.VERBS)
M = TypeVar("M", bound=BaseModel)
KEY_PREFIX = "nats:"
"""Idempotency keys of ingress requests: their ids, apart from the REST clients' own keys."""


class IngressSend(RequestBody):
    """``zg.in.<tenant>.<session>.send``: a message, as the body of ``POST
    /api/v1/sessions/{name}/messages``; ``id`` (a ULID the service chose) is the message's id and
    its idempotency key: the same id again answers the same message."""

    id: str | None = Field(None, pattern=ID_PATTERN, description="The message's id (a ULID)")
    message: SendBody


class IngressCommand(RequestBody):
    """``zg.in.<tenant>.<session>.<start|stop|restart|logout>``: a lifecycle command; ``id`` is its
    idempotency key (the same id again answers the same command)."""

    id: str | None = Field(None, pattern=ID_PATTERN, description="An id for the request (a ULID)")


def _body(data: bytes, model: type[M]) -> M:
    """The request's JSON body as ``model``; a 400 or 422 as the REST route would answer."""
    try:
        body = json.loads(data) if data.strip() else {}
    except ValueError:
        raise rpc.RpcError(400, "bad_request", "the request body is not JSON") from None
    if not isinstance(body, dict):
        raise rpc.RpcError(400, "bad_request", "the request body is a JSON object")
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise rpc.validation_error(exc) from None


async def run(gateway: GatewayState, tenant: str, session: str, verb: str, data: bytes) -> Any:
    """Run one request; its result, or the RpcError the REST route's error would be."""
    if verb not in VERBS:
        raise rpc.RpcError(400, "bad_request", f"unknown verb {verb!r}; one of {', '.join(VERBS)}")
    if not re.fullmatch(SESSION_NAME_PATTERN, session):
        raise rpc.invalid(f"{session!r} is not a session name", "session")
    with as_rpc_errors():
        if verb == SEND:
            send = _body(data, IngressSend)
            key = KEY_PREFIX + send.id if send.id is not None else None
            return await accept_message(gateway, tenant, session, send.message.root, key, send.id)
        command = _body(data, IngressCommand)
        key = KEY_PREFIX + command.id if command.id is not None else None
        return await lifecycle.run(gateway, tenant, session, verb, key)


async def _reject(gateway: GatewayState, msg: Msg, tenant: str, session: str, error: rpc.RpcError) -> None:
    """Keep the refused request in the dead-letter stream and tell its tenant."""
    log.info("ingress %s refused: %s %s", msg.subject, error.status, error.message)
    js = gateway.nats.js
    try:
        await js.publish(subjects.dead_letter(error.code, msg.subject), msg.data, headers=msg.headers)
    except Exception as exc:
        log.warning("dead letter of %s not kept (%s)", msg.subject, type(exc).__name__)
    details = error.details if isinstance(error.details, list) else []
    with contextlib.suppress(Exception):  # a session token that is no session name has no stream
        event = CommandRejected(
            tenant=tenant, session=session, subject=msg.subject, reason=error.code,
            errors=[{"message": error.message, "status": error.status}, *details],
        )  # fmt: skip
        await js.publish(subjects.event(tenant, session, event.type), encode(event))


async def handle(gateway: GatewayState, msg: Msg) -> None:
    """Answer one ingress request (and keep a refused one)."""
    _, _, tenant, session, verb = msg.subject.split(".", 4)
    try:
        reply: dict[str, Any] = {
            "result": rpc.json_ready(await run(gateway, tenant, session, verb, msg.data))
        }
    except rpc.RpcError as exc:
        reply = exc.body()
        if 400 <= exc.status < 500:
            await _reject(gateway, msg, tenant, session, exc)
    except Exception as exc:
        log.exception("ingress %s failed", msg.subject)
        reply = rpc.RpcError(503, "unavailable", f"{type(exc).__name__}; retry shortly").body()
    if msg.reply:
        with contextlib.suppress(Exception):
            await msg.respond(json.dumps(reply, default=str).encode())


async def serve(gateway: GatewayState) -> Subscription:
    """Answer ingress requests (one gateway replica each)."""

    async def on_request(msg: Msg) -> None:
        await handle(gateway, msg)

    return await rpc.serve_messages(gateway.nats.nc, subjects.INGRESS_ALL, "gateway-ingress", on_request, 64)
