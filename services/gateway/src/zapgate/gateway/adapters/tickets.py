"""Single-use WebSocket tickets in NATS KV, so any gateway replica can redeem them."""

from __future__ import annotations

import hashlib
import secrets

from nats.js import api as js_api
from nats.js.errors import BadRequestError, KeyDeletedError, KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from zapgate.gateway.adapters.nats import NatsLink

BUCKET = "zg_ws_tickets"
TICKET_TTL = 60.0


def _key(ticket: str) -> str:
    return "t." + hashlib.sha256(ticket.encode()).hexdigest()


class TicketStore:
    """Issues tickets that expire in 60 s and can be redeemed once."""

    def __init__(self, link: NatsLink) -> None:
        self.link = link

    async def _kv(self) -> KeyValue:
        return await self.link.js.create_key_value(
            js_api.KeyValueConfig(bucket=BUCKET, history=1, ttl=TICKET_TTL)
        )

    async def issue(self, tenant_id: str) -> str:
        """A new ticket for the tenant."""
        ticket = "zgt_" + secrets.token_urlsafe(24)
        kv = await self._kv()
        await kv.create(_key(ticket), tenant_id.encode())
        return ticket

    async def redeem(self, ticket: str) -> str | None:
        """The tenant of a valid, unused ticket (which is then used up), else None."""
        if not ticket.startswith("zgt_") or len(ticket) > 100:
            return None
        kv = await self._kv()
        try:
            entry = await kv.get(_key(ticket))
        except (KeyNotFoundError, KeyDeletedError):
            return None
        if not entry.value:
            return None
        try:
            # Compare-and-delete: of two concurrent redeems, exactly one wins.
            await kv.delete(_key(ticket), last=entry.revision)
        except (KeyWrongLastSequenceError, BadRequestError):
            return None
        return entry.value.decode()
