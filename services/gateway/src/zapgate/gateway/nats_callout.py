"""The answer to nats-server's auth callout: who a tenant's NATS user is, and what it may do.

nats-server asks on ``$SYS.REQ.USER.AUTH`` about every connection that is not one of the
services' own users (``auth_users`` in its config). The gateway checks the user and password
against ``nats_users`` and answers with a user JWT that lets the tenant publish only its own
ingress requests and subscribe only to its own events and inbox (``permissions.tenant_permissions``),
for ``ZAPGATE_NATS_TENANT_TTL`` seconds; anything else is refused, and the server closes the
connection with an authorization violation.
"""

from __future__ import annotations

import contextlib
import logging

from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from zapgate.common import natsauth, permissions, rpc
from zapgate.gateway.adapters.nats_users import NatsUserStore
from zapgate.gateway.state import GatewayState

log = logging.getLogger(__name__)


async def answer(store: NatsUserStore, seed: str, ttl: int, token: str) -> str | None:
    """The signed answer to one authorization request; None when the request itself is not one
    the server signed (nothing to answer)."""
    try:
        request = natsauth.decode(token)
    except natsauth.BadToken as exc:
        log.warning("auth callout request refused: %s", exc)
        return None
    # Only a server asks (an ``N...`` key) and only about a connection: a request signed by anyone
    # else gets no answer.
    if not str(request.get("iss", "")).startswith("N") or request.get("aud") != natsauth.REQUEST_AUDIENCE:
        log.warning("auth callout request not from a server; ignored")
        return None
    nats = request.get("nats") or {}
    options = nats.get("connect_opts") or {}
    user, password = str(options.get("user") or ""), str(options.get("pass") or "")
    try:
        tenant = await store.authenticate(user, password)
    except Exception as exc:
        log.warning("auth callout for %r not checked (%s)", user, type(exc).__name__)
        return natsauth.response(request, seed, error="authorization service unavailable; retry")
    if tenant is None:
        log.info("NATS user %r refused", user)
        return natsauth.response(request, seed, error="unknown user or wrong password")
    perms = permissions.tenant_permissions(tenant)
    user_nkey = str(nats.get("user_nkey") or "")
    jwt = natsauth.user_jwt(user_nkey, user, perms.publish, perms.subscribe, ttl, seed)
    return natsauth.response(request, seed, user=jwt)


async def serve(gateway: GatewayState, store: NatsUserStore) -> Subscription | None:
    """Answer the server's authorization requests (one gateway replica each); None without a seed."""
    settings = gateway.settings
    if settings.nats_callout_seed is None:
        return None
    seed = settings.nats_callout_seed.get_secret_value()

    async def on_request(msg: Msg) -> None:
        reply = await answer(store, seed, settings.nats_tenant_ttl, msg.data.decode(errors="replace"))
        if reply is not None and msg.reply:
            with contextlib.suppress(Exception):
                await msg.respond(reply.encode())

    return await rpc.serve_messages(
        gateway.nats.nc, natsauth.CALLOUT_SUBJECT, "gateway-callout", on_request, 32
    )
