"""Metering: each outgoing message counted once, from the ``message.status`` events.

A message counts when its first status that means it left (``sent``, or a later one if that is
the first seen) is applied; its id is the unique key, so a redelivered event, a repeated status
or a billing crash between the count and the ack never counts it twice. One durable consumer
(``billing``) shared by billing's replicas.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from nats.js import JetStreamContext

from zapgate.billing.adapters.store import Store
from zapgate.common import subjects
from zapgate.common.clock import Clock
from zapgate.common.follower import Follower
from zapgate.common.messages import MessageState, MessageStatusChanged

log = logging.getLogger(__name__)

DURABLE = "billing"
LINGER = 0.25
"""Seconds metering lets status events gather between batches: a quarter second more before a
send is counted (docs/architecture.md has what that adds to a quota's overshoot), for batches of
hundreds under load instead of one transaction per event."""
LEFT = frozenset({MessageState.SENT, MessageState.DELIVERED, MessageState.READ, MessageState.PLAYED})


class Meter:
    """Counts sent messages into the tenant's current period."""

    def __init__(
        self,
        js: JetStreamContext,
        store: Store,
        clock: Clock,
        ensure: Callable[[str], object],
        changed: Callable[[str], None],
    ) -> None:
        self.store = store
        self.clock = clock
        self.ensure = ensure
        self.changed = changed
        self.follower = Follower(
            js, DURABLE, [subjects.events_of_type("message.status")], self.apply, self.apply_batch, LINGER
        )

    async def start(self) -> None:
        """Bind the consumer (events from its creation on) and count."""
        await self.follower.start()

    async def apply(self, event: object) -> bool:
        """Count one status event; True if it counted a message."""
        return await self.apply_batch([event]) > 0

    async def apply_batch(self, events: list[object]) -> int:
        """Count a fetched batch in one transaction (a message's several statuses count once);
        how many messages it counted."""
        left = [e for e in events if isinstance(e, MessageStatusChanged) and e.status in LEFT]
        periods: dict[str, datetime] = {}
        for tenant in {e.tenant for e in left}:
            sub = await self.store.subscription(tenant)
            if sub is None:
                await self.ensure(tenant)  # type: ignore[misc]
                sub = await self.store.subscription(tenant)
                assert sub is not None
            periods[tenant] = sub.period_start
        rows = {e.message_id: (e.tenant, periods[e.tenant]) for e in left}
        counted = await self.store.meter_many(rows, self.clock()) if rows else {}
        for tenant in counted:
            self.changed(tenant)
        return sum(counted.values())

    async def stop(self) -> None:
        """Stop counting."""
        await self.follower.stop()
