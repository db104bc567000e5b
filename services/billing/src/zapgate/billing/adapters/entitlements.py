"""Publishing each tenant's entitlements into the KV bucket the gateways watch.

The value is the tenant's ``Entitlements`` as JSON under ``t.<tenant>``; its ``revision`` only
grows (the subscription's revision, then the usage), so a reader keeps the newest. An outage of
billing leaves the last published value in force: the gateways never block every tenant because
billing is away.
"""

from __future__ import annotations

import logging

from nats.js import JetStreamContext
from nats.js.kv import KeyValue

from zapgate.common import broker, subjects
from zapgate.common.billing import Entitlements

log = logging.getLogger(__name__)


async def open_bucket(js: JetStreamContext, replicas: int) -> KeyValue:
    """The entitlements bucket (created if missing)."""
    bucket: KeyValue = await broker.entitlements_bucket(js, replicas)
    return bucket


class Publisher:
    """Puts entitlements of the tenants that changed; what fails is put again on the next pass."""

    def __init__(self, kv: KeyValue) -> None:
        self.kv = kv
        self.dirty: set[str] = set()

    async def put(self, value: Entitlements) -> bool:
        """Publish one tenant's entitlements; False if NATS did not take them."""
        try:
            await self.kv.put(subjects.entitlement_key(value.tenant), value.model_dump_json().encode())
            return True
        except Exception as exc:
            log.warning("entitlements of %s not published yet (%s)", value.tenant, type(exc).__name__)
            return False
