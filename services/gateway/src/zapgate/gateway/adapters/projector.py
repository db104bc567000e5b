"""Projects worker events into the gateway's read model (session status and QR)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js import api as js_api
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError

from zapgate.common import broker, subjects, tracing
from zapgate.common.messages import (
    MessageReceived,
    MessageStatusChanged,
    QrCodeIssued,
    SessionStatusChanged,
    event_adapter,
)
from zapgate.common.outages import log_failure
from zapgate.common.runtime import cancel_and_wait
from zapgate.gateway.adapters.messages import MessageRepository
from zapgate.gateway.adapters.sessions import SessionRepository

log = logging.getLogger(__name__)

DURABLE = "gw-projector"
BATCH = 256


class Projector:
    """One durable consumer shared by every gateway replica: each event is applied once."""

    def __init__(self, js: JetStreamContext, repo: SessionRepository, messages: MessageRepository) -> None:
        self.js = js
        self.repo = repo
        self.messages = messages
        self._sub: JetStreamContext.PullSubscription | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Bind the consumer and start applying."""
        config = js_api.ConsumerConfig(
            durable_name=DURABLE,
            ack_policy=js_api.AckPolicy.EXPLICIT,
            filter_subjects=[subjects.EVENTS_ALL],
            ack_wait=30,
            max_ack_pending=10_000,
        )
        sub = await self.js.pull_subscribe(
            subjects.EVENTS_ALL, durable=DURABLE, stream=subjects.EVENTS_STREAM, config=config
        )
        self._sub = sub
        self._task = asyncio.create_task(self._run(sub), name="projector")

    async def _run(self, sub: JetStreamContext.PullSubscription) -> None:
        while True:
            try:
                msgs = await broker.fetch_ready(sub, BATCH)
            except Exception as exc:
                log.warning("projector fetch failed: %s", exc or type(exc).__name__)
                await asyncio.sleep(0.5)
                continue
            await self.apply_batch(msgs)

    async def apply_batch(self, msgs: list[Msg]) -> None:
        """Apply a fetched batch: message statuses in one statement, the rest in order; then ack."""
        statuses: list[MessageStatusChanged] = []
        done: list[Msg] = []
        spans = _spans(msgs) if tracing.active() else []
        for msg in msgs:
            try:
                event = event_adapter.validate_json(msg.data)
            except ValidationError:
                # Kept in the dead-letter stream before it is acknowledged: never dropped.
                if await self._dead_letter(msg):
                    done.append(msg)
                else:
                    await msg.nak(delay=1)
                continue
            if isinstance(event, MessageStatusChanged):
                statuses.append(event)
                done.append(msg)
                continue
            try:
                await self.apply(event)
            except IntegrityError:
                log.warning("event on %s refers to something deleted; not projected", msg.subject)
            except Exception as exc:
                log_failure(log, "event on %s not projected; will be redelivered", exc, msg.subject)
                await msg.nak(delay=1)
                continue
            done.append(msg)
        try:
            await self.messages.apply_statuses(statuses)
        except Exception as exc:
            log_failure(log, "message statuses not projected; will be redelivered", exc)
            for msg in done:
                await msg.nak(delay=1)
            return
        await asyncio.gather(*(msg.ack() for msg in done), return_exceptions=True)
        for span in spans:
            span.end()

    async def _dead_letter(self, msg: Msg) -> bool:
        """Keep an unreadable event in ``ZG_DLQ`` (``zg.dlq.unreadable.<subject>``); False if not stored."""
        sequence = msg.metadata.sequence.stream
        try:
            await self.js.publish(
                subjects.dead_letter("unreadable", msg.subject), msg.data,
                headers={"Nats-Msg-Id": f"dlq:evt:{sequence}"}, timeout=5,
            )  # fmt: skip
        except Exception as exc:
            log.warning("unreadable event %d not dead-lettered yet (%s)", sequence, type(exc).__name__)
            return False
        log.warning("unreadable event %d on %s kept in the dead-letter stream", sequence, msg.subject)
        return True

    async def apply(self, event: object) -> None:
        """Apply one event to the read model."""
        if isinstance(event, SessionStatusChanged):
            await self.repo.apply_status(event)
        elif isinstance(event, QrCodeIssued):
            await self.repo.apply_qr(event)
        elif isinstance(event, MessageReceived):
            await self.messages.apply_received(event)

    async def stop(self) -> None:
        """Stop applying."""
        await cancel_and_wait(self._task)
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()


def _spans(msgs: list[Msg]) -> list[Any]:
    """A ``project`` span for each event that carries a trace, continuing it."""
    spans = []
    for msg in msgs:
        parent = tracing.extract(msg.headers)
        if parent is not None:
            kind = msg.subject.split(".", 4)[-1]
            spans.append(
                tracing.tracer.start_span(f"project {kind}", context=parent, kind=tracing.SpanKind.CONSUMER)
            )
    return spans
