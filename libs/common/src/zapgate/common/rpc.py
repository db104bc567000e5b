"""Request/reply between services over core NATS: one envelope, errors that keep their HTTP meaning.

A request is ``{"op", "tenant", "args"}``; a reply is ``{"result": ...}`` or ``{"error": {"status",
"code", "message", "details"}}``. The gateway turns an error reply into the API's error body as it
is, so a 422 raised by the scheduler reaches the client as the same 422.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from pydantic import BaseModel, Field, ValidationError

log = logging.getLogger(__name__)


class RpcRequest(BaseModel):
    """A request/reply operation of a service (core NATS, not JetStream: the caller retries)."""

    op: str = Field(description="The operation, e.g. schedules.create")
    tenant: str = Field(description="The tenant it acts for")
    args: dict[str, Any] = Field(default_factory=dict, description="The operation's arguments")


class RpcReply(BaseModel):
    """The answer: ``result``, or ``error`` with the HTTP status and code the REST API would answer."""

    result: Any = None
    error: dict[str, Any] | None = Field(None, description="{status, code, message, details?}")


class RpcError(Exception):
    """An answer that is an error: HTTP status, stable code, words, optional details."""

    def __init__(self, status: int, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details

    def body(self) -> dict[str, Any]:
        """The error as it travels."""
        error: dict[str, Any] = {"status": self.status, "code": self.code, "message": self.message}
        if self.details is not None:
            error["details"] = self.details
        return {"error": error}


def not_found(what: str) -> RpcError:
    """A 404 naming what was not found."""
    return RpcError(404, "not_found", f"{what} not found")


def invalid(message: str, key: str | None = None) -> RpcError:
    """A 422 about one field (``key``) of the request body."""
    details = [{"key": key, "message": message, "source": "body"}] if key else None
    return RpcError(422, "validation_error", message, details)


def validation_error(exc: ValidationError) -> RpcError:
    """A pydantic error as the API's 422 body."""
    details = [
        {"key": ".".join(str(p) for p in err["loc"]) or None, "message": err["msg"], "source": "body"}
        for err in exc.errors(include_url=False, include_input=False)
    ]
    return RpcError(422, "validation_error", "the request body is not valid", details)


Handler = Callable[[str, dict[str, Any]], Awaitable[Any]]
"""An operation: (tenant, args) to a JSON-ready result, or raises RpcError."""


def json_ready(result: Any) -> Any:
    """A result as JSON-ready values (models dumped)."""
    if isinstance(result, BaseModel):
        return result.model_dump(mode="json")
    if isinstance(result, list):
        return [json_ready(item) for item in result]
    return result


async def serve(
    nc: NATS, subject: str, queue: str, ops: dict[str, Handler], concurrency: int = 32
) -> Subscription:
    """Answer requests on ``subject`` (one replica of the queue group each) with ``ops``, up to
    ``concurrency`` at once: nats-py runs one subscription's callbacks one after another, and one
    slow operation (a payment provider that answers late) must not hold every other one up."""

    async def answer(msg: Msg) -> None:
        try:
            request = json.loads(msg.data)
            op, tenant, args = request["op"], request["tenant"], request.get("args") or {}
            if op not in ops:
                raise RpcError(400, "bad_request", f"unknown operation {op!r}")
            if not isinstance(tenant, str) or not isinstance(args, dict):
                raise RpcError(400, "bad_request", "tenant must be a string and args an object")
            reply: dict[str, Any] = {"result": json_ready(await ops[op](tenant, args))}
        except RpcError as exc:
            reply = exc.body()
        except ValidationError as exc:
            reply = validation_error(exc).body()
        except (ValueError, KeyError, TypeError) as exc:
            reply = RpcError(400, "bad_request", f"unreadable request: {type(exc).__name__}").body()
        except Exception as exc:
            # The caller answers 503 (retry) rather than hang until its timeout.
            log.exception("%s failed", subject)
            reply = RpcError(503, "unavailable", f"{type(exc).__name__}; retry shortly").body()
        if msg.reply:
            await msg.respond(json.dumps(reply, default=str).encode())

    return await serve_messages(nc, subject, queue, answer, concurrency)


async def serve_messages(
    nc: NATS,
    subject: str,
    queue: str,
    handle: Callable[[Msg], Coroutine[Any, Any, None]],
    concurrency: int = 32,
) -> Subscription:
    """Run ``handle`` on each message of ``subject`` (one replica of the queue group each), up to
    ``concurrency`` at once: nats-py runs one subscription's callbacks one after another."""
    slots = asyncio.Semaphore(concurrency)
    running: set[asyncio.Task[None]] = set()

    async def on_message(msg: Msg) -> None:
        await slots.acquire()  # past the limit, the subscription's own queue holds the rest
        task = asyncio.create_task(handle(msg))
        running.add(task)
        task.add_done_callback(done)

    def done(task: asyncio.Task[None]) -> None:
        running.discard(task)
        slots.release()

    return await nc.subscribe(subject, queue=queue, cb=on_message)


async def call(nc: NATS, subject: str, op: str, tenant: str, args: dict[str, Any], wait: float) -> Any:
    """Ask ``op`` of the service on ``subject``; its result, or the RpcError it answered.

    nats-py's NoRespondersError and TimeoutError pass through: the caller decides what an
    absent service means.
    """
    payload = json.dumps({"op": op, "tenant": tenant, "args": args}, default=str).encode()
    msg = await nc.request(subject, payload, timeout=wait)
    reply = json.loads(msg.data)
    if "error" in reply:
        error = reply["error"]
        raise RpcError(error["status"], error["code"], error["message"], error.get("details"))
    return reply.get("result")
