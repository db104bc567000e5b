"""Single-use WebSocket tickets in NATS KV, so any gateway replica can redeem them."""

from __future__ import annotations

import hashlib
import json
import re
import secrets

from nats.js import api as js_api
from nats.js.errors import BadRequestError, KeyDeletedError, KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from zapgate.common import subjects
from zapgate.gateway.adapters.nats import NatsLink

BUCKET = subjects.TICKETS_BUCKET
TICKET_TTL = 60.0
TICKET = re.compile(r"zgt_[A-Za-z0-9_-]{32}")


def _key(ticket: str) -> str:
    return "t." + hashlib.sha256(ticket.encode()).hexdigest()


def well_formed(ticket: str) -> bool:
    """Exactly the shape ``issue`` makes: checked before any I/O."""
    return TICKET.fullmatch(ticket) is not None


class TicketStore:
    """Issues tickets that expire in 60 s and can be redeemed once.

    A ticket remembers the key that minted it, so revoking that key voids it too.
    """

    def __init__(self, link: NatsLink) -> None:
        self.link = link
        self._bucket: KeyValue | None = None

    async def _kv(self) -> KeyValue:
        if self._bucket is None:  # created once, not per handshake
            self._bucket = await self.link.js.create_key_value(
                js_api.KeyValueConfig(
                    bucket=BUCKET, history=1, ttl=TICKET_TTL, replicas=self.link.settings.nats_replicas
                )
            )
        return self._bucket

    async def issue(self, tenant_id: str, key_hash: str) -> str:
        """A new ticket for the tenant, minted by the key with ``key_hash``."""
        ticket = "zgt_" + secrets.token_urlsafe(24)
        kv = await self._kv()
        await kv.create(_key(ticket), json.dumps({"tenant": tenant_id, "key": key_hash}).encode())
        return ticket

    async def redeem(self, ticket: str) -> tuple[str, str] | None:
        """The tenant and minting key of a valid, unused ticket (which is then used up), else None."""
        if not well_formed(ticket):
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
        value = json.loads(entry.value)
        return str(value["tenant"]), str(value["key"])
