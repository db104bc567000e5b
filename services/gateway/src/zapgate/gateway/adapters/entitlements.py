"""Each tenant's entitlements, watched from billing's KV bucket and checked in memory.

The hot path never asks billing: a send or a session start reads this replica's copy. Between
two publishes a replica counts the sends it accepted itself (``sent_since``), so a tenant at its
quota is refused after at most what the other replicas accept before billing's next publish
(docs/architecture.md, "Billing"). A tenant billing never published (billing away since the
tenant was created) is not refused: an outage of billing keeps the last known state and never
blocks everyone.
"""

from __future__ import annotations

import asyncio
import logging

from pydantic import ValidationError

from zapgate.common import broker
from zapgate.common.billing import Entitlements, refusal
from zapgate.common.runtime import cancel_and_wait
from zapgate.gateway.adapters.nats import NatsLink

log = logging.getLogger(__name__)


class EntitlementCache:
    """The newest entitlements of every tenant, kept up to date by a KV watch."""

    def __init__(self, link: NatsLink) -> None:
        self.link = link
        self.by_tenant: dict[str, Entitlements] = {}
        self.sent_since: dict[str, int] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Begin watching (in the background, for as long as the replica runs)."""
        self._task = asyncio.create_task(self._watch(), name="entitlements")

    def apply(self, value: Entitlements) -> None:
        """A published value: kept if it is newer than the one held."""
        held = self.by_tenant.get(value.tenant)
        if held is not None and (held.revision, held.messages_used) > (value.revision, value.messages_used):
            return
        if held is None or value.messages_used != held.messages_used or value.revision != held.revision:
            self.sent_since[value.tenant] = 0
        self.by_tenant[value.tenant] = value

    async def _watch(self) -> None:
        while True:
            try:
                kv = await broker.entitlements_bucket(self.link.js, self.link.settings.nats_replicas)
                watcher = await kv.watch("t.*")
                async for entry in watcher:
                    if entry is None or not entry.value:
                        continue
                    try:
                        self.apply(Entitlements.model_validate_json(entry.value))
                    except ValidationError:
                        log.warning("unreadable entitlements under %s ignored", entry.key)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("entitlements watch interrupted (%s); watching again", type(exc).__name__)
                await asyncio.sleep(1)

    def refused(
        self, tenant: str, action: str, sessions: int = 0
    ) -> tuple[int, str, str, Entitlements] | None:
        """Why the tenant may not ``action`` now (status, code, message, entitlements), or None."""
        held = self.by_tenant.get(tenant)
        if held is None:
            return None
        why = refusal(held, action, sessions, self.sent_since.get(tenant, 0))
        return None if why is None else (*why, held)

    def accepted(self, tenant: str) -> None:
        """This replica accepted a send of the tenant (counted until billing's next publish)."""
        self.sent_since[tenant] = self.sent_since.get(tenant, 0) + 1

    async def stop(self) -> None:
        """Stop watching."""
        await cancel_and_wait(self._task)
