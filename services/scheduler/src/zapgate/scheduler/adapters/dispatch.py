"""Firing due schedules and sending what they owe, exactly once, from any number of replicas.

Two passes, each one short transaction:

1. *claim*: due schedules are locked with ``FOR UPDATE SKIP LOCKED`` (a replica never waits for
   another's), each nominal time is inserted into ``sch_fires`` under a unique (schedule, time),
   the fire's messages are written to ``sch_deliveries`` and ``next_fire_at`` moves on, all in
   one commit. A replica killed before the commit leaves nothing; after it, everything.
2. *send*: pending deliveries are locked the same way and sent through the gateway's own send
   path (NATS request/reply) with an idempotency key derived from (schedule, time, recipient)
   and a message id chosen here: a retry after a crash or a lost reply is the same message at
   the gateway, never a second one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from zapgate.common.clock import Clock
from zapgate.common.ids import new_id
from zapgate.common.messages import MessageState
from zapgate.common.rpc import RpcError
from zapgate.scheduler.adapters import recipients
from zapgate.scheduler.adapters.tables import DeliveryRow, FireRow, ScheduleRow
from zapgate.scheduler.domain.recurrence import plan, timing_of

log = logging.getLogger(__name__)

SendFn = Callable[[str, str, dict[str, Any], str, str], Awaitable[str]]
"""(tenant, session, message with ``to``, idempotency key, message id) -> status at the gateway."""


@dataclass(frozen=True)
class Limits:
    """How much one pass takes on, and how long a delivery is retried."""

    claim_batch: int = 200
    send_batch: int = 200
    deliver_within: timedelta = timedelta(hours=24)


async def insert_deliveries(s: AsyncSession, values: list[dict[str, Any]]) -> None:
    """Insert deliveries in chunks (a statement has at most 32,767 parameters)."""
    for start in range(0, len(values), 1000):
        await s.execute(insert(DeliveryRow).values(values[start : start + 1000]).on_conflict_do_nothing())


BLOCKING_CODES = frozenset({"quota_exceeded", "plan_limit", "payment_required"})
"""Answers that mean the tenant may not send now: a campaign pauses on them, with the reason."""


def delivery_key(schedule_id: str, nominal: datetime, chat: str) -> str:
    """The idempotency key of one recipient of one fire."""
    return f"zgs:{schedule_id}:{int(nominal.timestamp())}:{chat}"


class Dispatcher:
    """Claims due schedules and sends their deliveries."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], send: SendFn, clock: Clock, limits: Limits
    ) -> None:
        self.sessions = sessions
        self.send = send
        self.clock = clock
        self.limits = limits
        self.wake = asyncio.Event()

    # ------------------------------------------------------------ claim

    async def claim_due(self) -> int:
        """Fire every schedule due now that no other replica holds; how many were claimed."""
        async with self.sessions.begin() as s:
            now = self.clock()
            rows = (
                await s.scalars(
                    select(ScheduleRow)
                    .where(ScheduleRow.state == "active", ScheduleRow.next_fire_at <= now)
                    .order_by(ScheduleRow.next_fire_at)
                    .limit(self.limits.claim_batch)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if rows:
                await self._claim(s, list(rows), now)
        if rows:
            self.wake.set()
        return len(rows)

    async def _claim(self, s: AsyncSession, rows: list[ScheduleRow], now: datetime) -> None:
        """Fire a batch of due schedules in a few statements: one insert of their fires, one
        lookup of suppressions per tenant, one insert of their deliveries (per 1,000)."""
        missed: list[dict[str, Any]] = []
        fires: list[dict[str, Any]] = []
        planned: dict[str, datetime] = {}
        for row in rows:
            assert row.next_fire_at is not None
            window = timedelta(seconds=row.catchup_seconds)
            p = plan(timing_of(row), row.next_fire_at, now, row.fired, window)
            for nominal in p.missed:
                late = now - nominal
                reason = (
                    f"late by {late.total_seconds():.0f}s, past the catch-up window of {row.catchup_seconds}s"
                    if late > window
                    else "superseded: a later time was due when the scheduler caught up"
                )
                missed.append(
                    {"id": new_id(), "schedule_id": row.id, "tenant_id": row.tenant_id, "nominal_at": nominal,
                     "fired_at": now, "outcome": "missed", "reason": reason}
                )  # fmt: skip
            if p.fire is not None:
                planned[row.id] = p.fire
                fires.append(
                    {"id": new_id(), "schedule_id": row.id, "tenant_id": row.tenant_id, "nominal_at": p.fire,
                     "fired_at": now, "outcome": "fired", "reason": None}
                )  # fmt: skip
            row.next_fire_at = p.next_fire_at
            if p.next_fire_at is None:
                row.state = "completed"
            row.updated_at = now
        for start in range(0, len(missed), 1000):
            await s.execute(insert(FireRow).values(missed[start : start + 1000]).on_conflict_do_nothing())
        fired: dict[str, str] = {}
        for start in range(0, len(fires), 1000):
            result = await s.execute(
                insert(FireRow)
                .values(fires[start : start + 1000])
                .on_conflict_do_nothing()
                .returning(FireRow.schedule_id, FireRow.id)
            )
            fired.update({schedule_id: fire_id for schedule_id, fire_id in result.all()})
        # Only a fire this transaction inserted has messages: the unique key anchors "once".
        firing = [row for row in rows if row.id in fired]
        for row in firing:
            row.fired += 1
        await self._deliveries(s, firing, planned, fired, now)

    async def _deliveries(
        self, s: AsyncSession, rows: list[ScheduleRow], nominal: dict[str, datetime], fire_ids: dict[str, str],
        now: datetime,
    ) -> None:  # fmt: skip
        """The messages of the fires: rendered, or skipped with the reason."""
        targets: dict[str, list[tuple[str, str | None, dict[str, str]]]] = {}
        for row in rows:
            if row.to_chat is not None:
                targets[row.id] = [(row.to_chat, None, {})]
            else:
                assert row.list_id is not None
                members = await recipients.members(s, row.tenant_id, row.list_id, row.tags)
                targets[row.id] = [(c.chat, c.name, c.fields) for c in members]
        blocked: dict[str, set[str]] = {}
        for tenant in {row.tenant_id for row in rows}:
            chats = {chat for row in rows if row.tenant_id == tenant for chat, _, _ in targets[row.id]}
            blocked[tenant] = await recipients.suppressed(s, tenant, chats)
        values = []
        for row in rows:
            message, defaults = await recipients.body_of(s, row.message, row.template_id)
            rendered = recipients.render(
                targets[row.id], message, defaults, row.variables, blocked[row.tenant_id], row.id
            )
            values += [
                {"id": new_id(), "tenant_id": row.tenant_id, "fire_id": fire_ids[row.id], "session": row.session,
                 "chat": r.chat, "idempotency_key": delivery_key(row.id, nominal[row.id], r.chat),
                 "message": r.message, "status": "pending" if r.message is not None else "skipped",
                 "reason": r.reason, "message_id": new_id() if r.message is not None else None,
                 "next_attempt_at": now, "rank": 0 if r.message is not None else 9}
                for r in rendered
            ]  # fmt: skip
        await insert_deliveries(s, values)

    # ------------------------------------------------------------ send

    async def send_pending(self) -> int:
        """Send the pending deliveries of fires that no other replica holds; how many were tried."""
        async with self.sessions.begin() as s:
            now = self.clock()
            rows = (
                await s.scalars(
                    select(DeliveryRow)
                    .where(
                        DeliveryRow.status == "pending",
                        DeliveryRow.next_attempt_at <= now,
                        DeliveryRow.campaign_id.is_(None),
                    )
                    .order_by(DeliveryRow.next_attempt_at)
                    .limit(self.limits.send_batch)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            await self.attempt_all(s, list(rows), now)
        return len(rows)

    async def attempt_all(self, s: AsyncSession, rows: list[DeliveryRow], now: datetime) -> list[str]:
        """Send ``rows`` at once, skipping recipients who opted out meanwhile; each row's outcome."""
        blocked: set[str] = set()
        for tenant in {r.tenant_id for r in rows}:
            blocked |= await recipients.suppressed(s, tenant, [r.chat for r in rows if r.tenant_id == tenant])
        for row in rows:
            if row.chat in blocked:
                row.status, row.rank, row.reason, row.updated_at = "skipped", 9, "opted_out", now
        return list(await asyncio.gather(*(self.attempt(r, now) for r in rows if r.chat not in blocked)))

    async def attempt(self, row: DeliveryRow, now: datetime) -> str:
        """One attempt to hand a delivery to the gateway: ``sent``, ``failed``, ``retry``, or
        ``blocked`` (the tenant's plan or quota refused it: retrying will not help until it changes)."""
        assert row.message is not None and row.message_id is not None
        row.attempts += 1
        row.updated_at = now
        try:
            status = await self.send(
                row.tenant_id,
                row.session,
                {**row.message, "to": row.chat},
                row.idempotency_key,
                row.message_id,
            )
            # A repeat of a message the gateway already had answers its status then.
            state = (
                MessageState(status) if status in MessageState.__members__.values() else MessageState.QUEUED
            )
            if state.rank >= row.rank:
                row.status, row.rank = state.value, state.rank
            row.reason = None
            return "sent"
        except RpcError as exc:
            reason = f"{exc.code}: {exc.message}"
            if exc.code in BLOCKING_CODES and now - row.created_at <= self.limits.deliver_within:
                row.reason = reason
                row.next_attempt_at = now + timedelta(seconds=60)
                return "blocked"
            if exc.status not in (429, 503):
                row.status, row.rank, row.reason = "failed", 9, reason
                return "failed"
        except (NatsTimeout, NoRespondersError, TimeoutError) as exc:
            reason = f"gateway not answering ({type(exc).__name__})"
        except Exception as exc:
            reason = f"not sent ({type(exc).__name__})"
        if now - row.created_at > self.limits.deliver_within:
            row.status, row.rank, row.reason = "failed", 9, f"expired: {reason}"
            return "failed"
        row.reason = reason
        row.next_attempt_at = now + timedelta(seconds=min(2 ** min(row.attempts, 6), 60))
        log.warning("delivery %s not sent yet (%s); again at %s", row.id, reason, row.next_attempt_at)
        return "retry"

    # ------------------------------------------------------------ loop

    async def run(self, tick: float, also: Callable[[], Awaitable[int]] | None = None) -> None:
        """Claim and send every ``tick`` seconds (sooner when a claim made work), and run ``also``
        (the campaigns' pass), for ever; a failed pass (the database away) waits for the next tick."""
        while True:
            claimed = await _guarded(self.claim_due)
            while await _guarded(self.send_pending) >= self.limits.send_batch:
                pass
            if also is not None:
                await _guarded(also)
            if claimed >= self.limits.claim_batch:
                continue
            self.wake.clear()
            try:
                async with asyncio.timeout(tick):
                    await self.wake.wait()
            except TimeoutError:
                pass


async def _guarded(work: Callable[[], Awaitable[int]]) -> int:
    """Run one pass; a failure is logged and counts as nothing done."""
    try:
        return await work()
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.warning(
            "%s failed (%s: %s); next tick", getattr(work, "__name__", "pass"), type(exc).__name__, exc
        )
        return 0
