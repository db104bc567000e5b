"""What the gateway answers other zapgate services over NATS request/reply.

``sessions.count`` tells billing how many sessions tenants have. ``messages.send`` is the REST send route for services (the scheduler, billing's reminders): the
same validation, idempotency, history, statuses and events, so a scheduled message is in
``GET /api/v1/messages/{id}`` like any other. Errors keep the status and body the REST route
would answer.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import Any

from nats.aio.subscription import Subscription
from pydantic import ValidationError
from sqlalchemy import func, select

from zapgate.common import rpc, subjects
from zapgate.common.ids import ID_PATTERN
from zapgate.common.messages import SESSION_NAME_PATTERN
from zapgate.common.outages import dependency_away
from zapgate.gateway.adapters.tables import SessionRow
from zapgate.gateway.domain.quotas import QuotaExceeded
from zapgate.gateway.errors import ApiError
from zapgate.gateway.schemas import SendBody
from zapgate.gateway.sending import accept_message
from zapgate.gateway.state import GatewayState


def as_rpc_error(exc: ApiError) -> rpc.RpcError:
    """An API error as it travels back over NATS."""
    return rpc.RpcError(exc.status_code, exc.code, str(exc.detail), exc.details)


async def send(gateway: GatewayState, tenant: str, args: dict[str, Any]) -> dict[str, Any]:
    """Accept one message for a tenant's session: ``{session, message (with to), idempotency_key,
    message_id?}`` to ``{id, status}``."""
    session, key, message_id = args.get("session"), args.get("idempotency_key"), args.get("message_id")
    if not isinstance(session, str) or not re.fullmatch(SESSION_NAME_PATTERN, session):
        raise rpc.invalid("session is not a session name", "session")
    if key is not None and (not isinstance(key, str) or not 1 <= len(key) <= 200):
        raise rpc.invalid("idempotency_key is 1 to 200 characters", "idempotency_key")
    if message_id is not None and (
        not isinstance(message_id, str) or not re.fullmatch(ID_PATTERN, message_id)
    ):
        raise rpc.invalid("message_id is not an id", "message_id")
    try:
        body = SendBody.model_validate(args.get("message"))
    except ValidationError as exc:
        raise rpc.validation_error(exc) from None
    with as_rpc_errors():
        accepted = await accept_message(gateway, tenant, session, body.root, key, message_id)
    return accepted.model_dump(mode="json")


@contextlib.contextmanager
def as_rpc_errors() -> Iterator[None]:
    """Raise what the REST route would have answered as the RpcError that travels over NATS; a
    failure that is a bug passes as it is."""
    try:
        yield
    except rpc.RpcError:
        raise
    except Exception as exc:
        translated = _rpc_error_of(exc)
        if translated is None:
            raise
        raise translated from None


def _rpc_error_of(exc: Exception) -> rpc.RpcError | None:
    if isinstance(exc, ApiError):
        return as_rpc_error(exc)
    if isinstance(exc, QuotaExceeded):
        return rpc.RpcError(403, "quota_exceeded", str(exc), exc.details())
    away = dependency_away(exc)
    if away is not None:
        return rpc.RpcError(503, "unavailable", f"{away} is unavailable; retry")
    return None


MAX_COUNTED = 1000


async def count_sessions(gateway: GatewayState, args: dict[str, Any]) -> dict[str, Any]:
    """How many sessions each of ``tenants`` has (billing's alerts at 80 % and 100 % of a plan's
    session limit): ``{tenants: [id]}`` to ``{counts: {id: n}}``."""
    tenants = args.get("tenants")
    if (
        not isinstance(tenants, list)
        or not all(isinstance(t, str) for t in tenants)
        or len(tenants) > MAX_COUNTED
    ):
        raise rpc.invalid(f"tenants is a list of at most {MAX_COUNTED} tenant ids", "tenants")
    async with gateway.sessions() as db:
        rows = await db.execute(
            select(SessionRow.tenant_id, func.count())
            .where(SessionRow.tenant_id.in_(tenants))
            .group_by(SessionRow.tenant_id)
        )
        counts = {tenant: int(n) for tenant, n in rows.all()}
    return {"counts": {t: counts.get(t, 0) for t in tenants}}


async def serve(gateway: GatewayState) -> Subscription:
    """Answer the other services' requests (one gateway replica each)."""

    async def send_op(tenant: str, args: dict[str, Any]) -> Any:
        return await send(gateway, tenant, args)

    async def count_op(tenant: str, args: dict[str, Any]) -> Any:
        return await count_sessions(gateway, args)

    return await rpc.serve(
        gateway.nats.nc, subjects.service_api("gateway"), "gateway",
        {"messages.send": send_op, "sessions.count": count_op},
    )  # fmt: skip
