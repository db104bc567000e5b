"""A session's lifecycle commands (start, stop, restart, logout), as the REST routes and the NATS
ingress both run them: the desired state recorded first, the plan checked, one command per
idempotency key."""

from __future__ import annotations

from typing import Literal

from zapgate.common.messages import (
    Command,
    LogoutSession,
    RestartSession,
    StartSession,
    StopSession,
    command_adapter,
    engine_of,
)
from zapgate.gateway import enforcement
from zapgate.gateway.adapters.tables import SessionRow
from zapgate.gateway.errors import ApiError
from zapgate.gateway.schemas import CommandAccepted
from zapgate.gateway.state import GatewayState

Verb = Literal["start", "stop", "restart", "logout"]
VERBS: dict[str, tuple[type[StartSession | StopSession | RestartSession | LogoutSession], str]] = {
    "start": (StartSession, "started"),
    "stop": (StopSession, "stopped"),
    "restart": (RestartSession, "started"),
    "logout": (LogoutSession, "stopped"),
}
"""Each verb's command and the session's desired state after it."""


async def existing(gateway: GatewayState, tenant: str, name: str) -> SessionRow:
    """The tenant's session, or 404."""
    row = await gateway.sessions_repo.get(tenant, name)
    if row is None:
        raise ApiError(404, "not_found", f"session {name!r} not found")
    return row


async def run(
    gateway: GatewayState, tenant: str, name: str, verb: str, idempotency_key: str | None
) -> CommandAccepted:
    """Record what the session should be, then queue its command; the same key answers the same
    command, and a key used for another verb or session is a 409."""
    command, desired = VERBS[verb]
    row = await existing(gateway, tenant, name)
    if command in (StartSession, RestartSession):
        enforcement.check(gateway, tenant, "start")  # a suspended tenant's sessions keep receiving
    # Desired state first: whatever restarts, the session comes back as it was asked to be.
    await gateway.sessions_repo.set_desired(tenant, name, desired)
    message: Command = (
        StartSession(tenant=tenant, session=name, config=row.config, engine=engine_of(row.engine))
        if command is StartSession
        else command(tenant=tenant, session=name)
    )
    if idempotency_key is None:
        return CommandAccepted(command_id=await gateway.commands.send(message))
    # The first command sent under the key is the one every retry gets back, published once
    # (even past the bus's two-minute duplicate window); the key on another request is a 409.
    record = await gateway.command_keys.claim(idempotency_key, message)
    if (record.session, record.verb) != (name, message.verb):
        raise ApiError(
            409, "conflict",
            f"Idempotency-Key already used for {record.verb} on session {record.session!r}; use a new key",
        )  # fmt: skip
    if not record.published:
        await gateway.commands.send(command_adapter.validate_json(record.command))
        await gateway.command_keys.published(tenant, idempotency_key)
    return CommandAccepted(command_id=record.command_id)
