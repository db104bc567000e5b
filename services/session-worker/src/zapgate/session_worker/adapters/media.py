"""One tenant's media in the object store, as the whatsapp engine reads and keeps it."""

from __future__ import annotations

from nats.js import JetStreamContext

from zapgate.common import media
from zapgate.common.ids import new_id
from zapgate.common.messages import MediaRef


class TenantMedia:
    """Media of one tenant: what a send names, and what contacts send (kept under a new id)."""

    def __init__(self, js: JetStreamContext, tenant: str) -> None:
        self.js = js
        self.tenant = tenant

    async def read(self, media_id: str) -> bytes | None:
        """The bytes of one of the tenant's media, or None if it is gone (past its age)."""
        found = await media.get(self.js, self.tenant, media_id)
        return found[0] if found else None

    async def keep(self, data: bytes, mimetype: str, filename: str | None) -> MediaRef:
        """Store media a contact sent; its reference goes in the ``message.received`` event."""
        return await media.put(self.js, self.tenant, new_id(), data, mimetype, filename)
