"""Drains one session's outbox, in order, while it is connected, at the session's pace."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from pydantic import TypeAdapter

from zapgate.common.messages import AnyContent, MessageState, PacingConfig, SessionStatus
from zapgate.common.outages import describe, log_failure
from zapgate.session_worker.adapters.messages import MessageStore, Outgoing, Transition
from zapgate.session_worker.domain.pacing import TokenBucket, typing_seconds
from zapgate.session_worker.engines.base import Engine, NotConnected, SendError
from zapgate.session_worker.tasks import cancel_until_done

log = logging.getLogger(__name__)

content_adapter: TypeAdapter[AnyContent] = TypeAdapter(AnyContent)

FLUSH_EVERY = 64
WINDOW = 64
OUTBOX_READ = 200
MAX_FRESH = 1000
RETRY_DELAY = 1.0
CLOSE_TIMEOUT = 5.0

Outcome = tuple[Outgoing, MessageState, str | None]
Report = Callable[[Sequence[Outcome]], Awaitable[None]]
"""Publishes the statuses of a batch of messages; raises when they could not all be published."""


class Sender:
    """One per running session; ``kick()`` whenever messages may be waiting."""

    def __init__(
        self,
        store: MessageStore,
        engine: Engine,
        pacing: PacingConfig,
        report: Report,
        tenant: str,
        session: str,
    ) -> None:
        self.store = store
        self.engine = engine
        self.bucket = TokenBucket(pacing, time.monotonic())
        self.report = report
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._fenced = False
        # Rows just recorded are handed over by the consumer, so a busy session's sends are not
        # read back from the database; the outbox is read when it may hold others.
        self._fresh: list[Outgoing] = []
        self._read_outbox = True
        # Ids a read returned before their rows were handed over (the hand-over follows the
        # commit, so a read can come in between): taken once, from the read.
        self._read_ids: set[str] = set()
        # Between the expiry check and the recorded ``sent``, a row is this sender's: the expiry
        # sweeper leaves it alone. A row the sweeper took is never submitted.
        self._submitting: set[str] = set()
        self._swept: set[str] = set()
        self.tenant = tenant
        self.session = session

    def configure(self, pacing: PacingConfig) -> None:
        """New pacing options take effect from the next message."""
        self.bucket = TokenBucket(pacing, time.monotonic())

    @property
    def idle(self) -> bool:
        """Not draining right now."""
        return self._task is None or self._task.done()

    def kick(self, fresh: Sequence[Outgoing] | None = None) -> None:
        """Messages may be waiting: drain them if the session is connected.

        ``fresh``: rows just recorded (committed), handed over in order; without them the
        outbox is read.
        """
        if self._fenced:
            return
        if fresh is None:
            self._read_outbox = True
        else:
            for row in fresh:
                if row.id in self._read_ids:
                    self._read_ids.discard(row.id)
                else:
                    self._fresh.append(row)
            if len(self._fresh) > MAX_FRESH:  # a session that stays down: they wait in the outbox
                self._fresh.clear()
                self._read_outbox = True
        self._wake.set()
        if self.idle:
            self._task = asyncio.create_task(self._run(), name=f"sender:{self.tenant}/{self.session}")

    def take_expired(self, message_id: str) -> bool:
        """The expiry sweeper asks for an expired row: granted unless it is being submitted.

        No await between the question and the answer, so sender and sweeper never both act.
        """
        if message_id in self._submitting:
            return False
        if len(self._swept) > MAX_FRESH:
            self._swept.clear()  # older ids are failed in the outbox: no read returns them
        self._swept.add(message_id)
        return True

    def fence(self) -> None:
        """Stop at once, with no I/O: nothing more is sent, reported or recorded.

        The partition moved. Its new owner reads which messages await acks when it starts; a
        ``sent`` recorded here after that would leave a message nobody awaits acks for.
        """
        self._fenced = True
        if self._task is not None:
            self._task.cancel()

    async def close(self) -> None:
        """Stop draining (what is left stays in the outbox)."""
        if self._task is not None:
            await cancel_until_done([self._task], CLOSE_TIMEOUT)

    async def _run(self) -> None:
        try:
            while self.engine.status == SessionStatus.CONNECTED:
                self._wake.clear()
                rows = await self._next()
                if not rows:
                    if self._wake.is_set():
                        continue
                    return
                if not await self._send(rows):
                    self._read_outbox = True  # what was not sent is still in the outbox
                    return
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._read_outbox = True
            # The database or the bus is down: the rows are still queued, try again shortly.
            log_failure(log, "outbox of %s/%s interrupted", exc, self.tenant, self.session)
            await asyncio.sleep(RETRY_DELAY)
            self._task = None
            self.kick()

    async def _next(self) -> list[Outgoing]:
        """The rows to send next, oldest first: those handed over, or the outbox's."""
        if not self._read_outbox:
            rows, self._fresh = self._fresh, []
            return rows
        self._read_outbox = False
        rows = await self.store.pending(self.tenant, self.session, OUTBOX_READ)
        if len(rows) == OUTBOX_READ:
            self._read_outbox = True  # more wait behind these
        # Rows handed over before the read was answered may be in it; the others come after it.
        # Rows in it that are handed over later must not be taken again then.
        read = {row.id for row in rows}
        handed = {row.id for row in self._fresh}
        self._fresh = [row for row in self._fresh if row.id not in read]
        if len(self._read_ids) > MAX_FRESH:  # ids of rows never handed over (older ones)
            self._read_ids.clear()
        self._read_ids |= read - handed
        return rows

    async def _send(self, rows: list[Outgoing]) -> bool:
        """Send rows in order; False when the session dropped (its next connect kicks again).

        Unpaced rows are pipelined: up to WINDOW leave one after another before their
        acceptance is awaited, so a session's throughput is not one network round trip per
        message. Paced rows wait for every earlier one first.
        """
        done: list[Outcome] = []
        inflight: list[tuple[Outgoing, asyncio.Future[str | None]]] = []
        cancelled = False
        try:
            for row in rows:
                if row.id in self._swept:
                    continue  # failed as expired by the sweeper
                # A row handed to the network before (its outcome never recorded) cannot expire
                # any more: the contact may have it. It goes again under the same WhatsApp id.
                expired = row.expires_at is not None and row.expires_at < datetime.now(UTC)
                if expired and row.id not in self._submitting:
                    done.append((row, MessageState.FAILED, "expired"))
                    continue
                self._submitting.add(row.id)
                content = content_adapter.validate_python(row.content)
                wait = self.bucket.reserve(time.monotonic())
                typing = typing_seconds(self.bucket.config, getattr(content, "text", None))
                if wait > 0 or typing > 0:
                    if not await self._settle(inflight, done):
                        return False
                    await self._flush(done)
                    if wait > 0:
                        await asyncio.sleep(wait)
                    if typing > 0:
                        await self.engine.typing(row.chat, typing)
                try:
                    inflight.append((row, await self.engine.submit(row.id, row.wa_id, row.chat, content)))
                except NotConnected:
                    self._submitting.discard(row.id)  # never reached the network
                    await self._settle(inflight, done)
                    return False
                except SendError as exc:
                    done.append((row, MessageState.FAILED, exc.reason))
                if len(inflight) >= WINDOW and not await self._settle(inflight, done):
                    return False
                if len(done) >= FLUSH_EVERY:
                    await self._flush(done)
            return await self._settle(inflight, done)
        except asyncio.CancelledError:
            # The partition moves: its next owner sends these again under the same WhatsApp ids,
            # which the network drops, so nothing is reported or recorded on the way out.
            cancelled = True
            raise
        finally:
            for _, taken in inflight:  # not awaited because an earlier one failed: still queued
                if not taken.cancel() and not taken.cancelled():
                    taken.exception()  # finished meanwhile: its outcome is moot, mark it seen
            if not cancelled:
                await self._flush(done)

    @staticmethod
    async def _settle(
        inflight: list[tuple[Outgoing, asyncio.Future[str | None]]],
        done: list[Outcome],
    ) -> bool:
        """Await the submitted rows in order into ``done``; False when the session dropped."""
        while inflight:
            row, taken = inflight[0]
            try:
                given = await taken
            except NotConnected:
                return False
            except SendError as exc:
                done.append((row, MessageState.FAILED, exc.reason))
            else:
                # The id WhatsApp knows it by, if not ours: receipts come under it, to any owner.
                done.append((replace(row, wa_id=given) if given else row, MessageState.SENT, None))
            finally:
                inflight.pop(0)
        return True

    async def _flush(self, done: list[Outcome]) -> None:
        """Report first (event ids are deterministic, so a repeat after a crash is dropped), then record."""
        if not done or self._fenced:
            return
        batch = list(done)
        done.clear()
        await self.report(batch)
        await self.store.advance(Transition(row.id, status, error, row.wa_id) for row, status, error in batch)
        self._submitting.difference_update(row.id for row, _, _ in batch)


@dataclass(frozen=True, slots=True)
class Ack:
    """A contact acknowledged a message (delivered, read, played)."""

    tenant: str
    session: str
    message_id: str
    wa_id: str
    chat: str
    status: MessageState


StatusReport = Callable[[Sequence[Ack]], Awaitable[None]]


class AckWriter:
    """Contacts' acknowledgements of a whole worker, reported and recorded in batches.

    Thousands of acks arrive at once after a burst; one task per ack would each hold a
    database connection and starve the lease renewals of the event loop.
    """

    def __init__(self, store: MessageStore, report: StatusReport, interval: float = 0.05) -> None:
        self.store = store
        self.report = report
        self.interval = interval
        self._queue: list[Ack] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Begin flushing."""
        self._task = asyncio.create_task(self._run(), name="ack-writer")

    def add(self, ack: Ack) -> None:
        """Queue an ack."""
        self._queue.append(ack)
        self._wake.set()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            await asyncio.sleep(self.interval)
            self._wake.clear()
            batch, self._queue = self._queue, []
            try:
                await self.report(batch)
                await self.store.advance(Transition(ack.message_id, ack.status) for ack in batch)
            except Exception as exc:
                log.warning("acks not recorded (%s); retrying", describe(exc))
                self._queue[:0] = batch
                self._wake.set()
                await asyncio.sleep(RETRY_DELAY)

    async def close(self) -> None:
        """Stop flushing (acks not flushed are awaited again by the next owner)."""
        if self._task is not None:
            await cancel_until_done([self._task], CLOSE_TIMEOUT)
