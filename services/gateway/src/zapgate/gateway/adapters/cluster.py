"""The cluster as the workers leave it in NATS: the live workers (membership heartbeats) and
which one holds each partition (its lease), read-only."""

from __future__ import annotations

import json
from typing import Any

from nats.js.errors import KeyNotFoundError, NoKeysError
from nats.js.kv import KeyValue

from zapgate.common import subjects
from zapgate.gateway.adapters.nats import NatsLink


def _value(raw: bytes | None) -> dict[str, Any] | None:
    if not raw:
        return None  # a deleted key, or the marker an expired lease leaves
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


async def _get(kv: KeyValue, key: str) -> dict[str, Any] | None:
    try:
        entry = await kv.get(key)
    except KeyNotFoundError:
        return None
    return _value(entry.value)


class ClusterView:
    """Reads ``zg_workers`` and ``zg_leases``."""

    def __init__(self, link: NatsLink, partitions: int) -> None:
        self.link = link
        self.partitions = partitions

    async def workers(self) -> list[str]:
        """The workers whose heartbeat has not expired."""
        kv = await self.link.js.key_value(subjects.WORKERS_BUCKET)
        try:
            keys = await kv.keys()
        except NoKeysError:
            return []
        found = [await _get(kv, key) for key in keys]
        return sorted({str(v["worker"]) for v in found if v is not None and "worker" in v})

    async def holders(self) -> dict[int, str]:
        """Each held partition's worker."""
        kv = await self.link.js.key_value(subjects.LEASES_BUCKET)
        held: dict[int, str] = {}
        for partition in range(self.partitions):
            value = await _get(kv, subjects.lease_key(partition))
            if value is not None and "worker" in value:
                held[partition] = str(value["worker"])
        return held
