"""The events the scheduler follows: its messages' statuses, and opt-out replies.

One durable consumer (``scheduler``) shared by the replicas, so each event is applied once.
"""

from __future__ import annotations

import logging

from nats.js import JetStreamContext

from zapgate.common import subjects
from zapgate.common.follower import Follower
from zapgate.common.messages import MessageReceived, MessageStatusChanged, TextContent
from zapgate.common.recipients import BadRecipient, normalize_phone
from zapgate.scheduler.adapters.store import Store
from zapgate.scheduler.domain.contacts import is_optout

log = logging.getLogger(__name__)

DURABLE = "scheduler"


class EventFollower:
    """Applies ``message.status`` to deliveries and ``message.received`` opt-outs to suppressions."""

    def __init__(self, js: JetStreamContext, store: Store) -> None:
        self.store = store
        filters = [subjects.events_of_type("message.status"), subjects.events_of_type("message.received")]
        self.follower = Follower(js, DURABLE, filters, self.apply)

    async def start(self) -> None:
        """Bind the consumer (new events from its creation on) and follow."""
        await self.follower.start()

    async def apply(self, event: object) -> None:
        """Apply one event."""
        if isinstance(event, MessageStatusChanged):
            await self.store.set_status(event.message_id, event.status.value, event.status.rank, event.error)
        elif isinstance(event, MessageReceived):
            await self.store.replied(event.tenant, event.session, event.sender)
            if not isinstance(event.content, TextContent):
                return
            keywords = await self.store.keywords(event.tenant)
            if is_optout(event.content.text, keywords):
                try:
                    chat = normalize_phone(event.sender)
                except BadRecipient:
                    return  # not a person's number (a group, a list): nothing to suppress
                if await self.store.suppress(
                    event.tenant, chat, "keyword", f"replied {event.content.text!r}"
                ):
                    log.info("tenant %s: %s opted out", event.tenant, event.session)

    async def stop(self) -> None:
        """Stop following."""
        await self.follower.stop()
