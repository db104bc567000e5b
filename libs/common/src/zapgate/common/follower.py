"""Following events with a durable JetStream consumer shared by a service's replicas.

Each event is applied once by one replica, in order within the consumer: decoded, given to
``apply``, then acknowledged; an event ``apply`` fails on is redelivered a second later. An
unreadable event is acknowledged: the gateway's projector keeps it in the dead-letter stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js import api as js_api
from pydantic import ValidationError

from zapgate.common import broker, subjects
from zapgate.common.messages import event_adapter
from zapgate.common.outages import log_failure
from zapgate.common.runtime import cancel_and_wait

log = logging.getLogger(__name__)

BATCH = 256


class Follower:
    """One durable consumer of ``ZG_EVENTS`` on ``filters``, from its creation on."""

    def __init__(
        self,
        js: JetStreamContext,
        durable: str,
        filters: list[str],
        apply: Callable[[object], Awaitable[object]],
        apply_batch: Callable[[list[object]], Awaitable[object]] | None = None,
        linger: float = 0.0,
    ) -> None:
        self.js = js
        self.durable = durable
        self.filters = filters
        self.apply = apply
        self.apply_batch = apply_batch
        """Given, each fetched batch is applied in one call (one transaction for many events)."""
        self.linger = linger
        """With ``apply_batch``: seconds to let events gather after a batch that was not full, so
        a steady flow comes in batches of many rather than many batches of one."""
        self._sub: JetStreamContext.PullSubscription | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Bind the consumer (created if missing) and follow in the background."""
        config = js_api.ConsumerConfig(
            durable_name=self.durable,
            ack_policy=js_api.AckPolicy.EXPLICIT,
            deliver_policy=js_api.DeliverPolicy.NEW,
            filter_subjects=self.filters,
            ack_wait=30,
            max_ack_pending=10_000,
        )
        self._sub = await self.js.pull_subscribe(
            subjects.EVENTS_ALL, durable=self.durable, stream=subjects.EVENTS_STREAM, config=config
        )
        self._task = asyncio.create_task(self._run(self._sub), name=self.durable)

    async def _run(self, sub: JetStreamContext.PullSubscription) -> None:
        while True:
            try:
                msgs = await broker.fetch_ready(sub, BATCH)
            except Exception as exc:
                log.warning("%s: fetch failed: %s", self.durable, exc or type(exc).__name__)
                await asyncio.sleep(0.5)
                continue
            if self.apply_batch is not None and msgs:
                await self._batch(msgs)
                if self.linger and len(msgs) < BATCH:
                    await asyncio.sleep(self.linger)
                continue
            for msg in msgs:
                await self._one(msg)

    async def _batch(self, msgs: list[Msg]) -> None:
        events: list[object] = []
        for msg in msgs:
            # An unreadable one is acknowledged with the rest: the projector dead-letters it.
            with contextlib.suppress(ValidationError):
                events.append(event_adapter.validate_json(msg.data))
        try:
            assert self.apply_batch is not None
            await self.apply_batch(events)
        except Exception as exc:
            log_failure(log, "%d events not applied; they will be redelivered", exc, len(msgs))
            await asyncio.gather(*(m.nak(delay=1) for m in msgs), return_exceptions=True)
            return
        await asyncio.gather(*(m.ack() for m in msgs), return_exceptions=True)

    async def _one(self, msg: Msg) -> None:
        try:
            event = event_adapter.validate_json(msg.data)
        except ValidationError:
            await msg.ack()
            return
        try:
            await self.apply(event)
        except Exception as exc:
            log_failure(log, "event on %s not applied; will be redelivered", exc, msg.subject)
            await msg.nak(delay=1)
            return
        await msg.ack()

    async def stop(self) -> None:
        """Stop following."""
        await cancel_and_wait(self._task)
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
