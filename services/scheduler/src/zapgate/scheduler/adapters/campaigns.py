"""Running campaigns: one replica drives each campaign at a time (its row is locked for a pass).

A pass materialises a campaign's recipients when it starts (one row each in ``sch_deliveries``,
spread over its sessions in turn), then, inside the sending window, gives each session the sends
its throttle allows, through the same attempt as scheduled messages (same idempotency keys:
``zgc:<campaign>:<chat>``). Progress is counted from the deliveries and published as
``campaign.progress`` / ``campaign.completed`` events on the tenant's stream.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from datetime import datetime, timedelta

from nats.js import JetStreamContext
from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from zapgate.common import subjects
from zapgate.common.clock import Clock
from zapgate.common.ids import new_id
from zapgate.common.messages import CampaignCompleted, CampaignProgressed, encode
from zapgate.common.scheduling import CampaignProgress, SendingWindow, Throttle
from zapgate.scheduler.adapters import recipients
from zapgate.scheduler.adapters.dispatch import Dispatcher, insert_deliveries
from zapgate.scheduler.adapters.tables import CampaignLaneRow, CampaignRow, DeliveryRow
from zapgate.scheduler.domain import campaigns as rules

log = logging.getLogger(__name__)

PROGRESS_EVERY = timedelta(seconds=2)
LIVE = ("scheduled", "running")
FINAL = ("completed", "cancelled")


def campaign_key(campaign_id: str, chat: str) -> str:
    """The idempotency key of one recipient of a campaign."""
    return f"zgc:{campaign_id}:{chat}"


async def progress_of(s: AsyncSession, campaign_id: str) -> CampaignProgress:
    """A campaign's recipients counted by status and skip reason, and its replies."""
    rows = await s.execute(
        select(DeliveryRow.status, DeliveryRow.reason, func.count(), func.count(DeliveryRow.replied_at))
        .where(DeliveryRow.campaign_id == campaign_id)
        .group_by(DeliveryRow.status, DeliveryRow.reason)
    )
    counts: dict[str, int] = {}
    reasons: dict[str, int] = {}
    replies = 0
    for status, reason, n, replied in rows.all():
        counts[status] = counts.get(status, 0) + n
        replies += replied
        if status == "skipped":
            kind = rules.reason_kind(reason)
            reasons[kind] = reasons.get(kind, 0) + n
    return rules.progress(counts, reasons, replies)


class CampaignRunner:
    """Drives running campaigns; every replica runs one, and they never drive the same campaign."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        dispatcher: Dispatcher,
        js: JetStreamContext,
        clock: Clock,
        tick: float = 1.0,
    ) -> None:
        self.sessions = sessions
        self.dispatcher = dispatcher
        self.js = js
        self.clock = clock
        self.rng = random.Random()
        # Two ticks: a pass comes a tick after the last one ended, so the time between two passes is
        # a tick plus a pass; a lane behind by more than that was idle (paused, window closed).
        self.backlog = timedelta(seconds=2 * tick)

    async def run_pass(self, batch: int = 20) -> int:
        """One pass over the campaigns due now that no other replica holds; how many."""
        async with self.sessions.begin() as s:
            now = self.clock()
            announced = CampaignRow.progress_sent["state"].astext
            rows = (
                await s.scalars(
                    select(CampaignRow)
                    .where(
                        or_(
                            CampaignRow.state.in_(LIVE),
                            # A final or paused state not yet published (a publish failed).
                            CampaignRow.progress_sent.is_(None) & CampaignRow.state.in_((*FINAL, "paused")),
                            announced.is_distinct_from(CampaignRow.state)
                            & CampaignRow.state.in_((*FINAL, "paused")),
                        ),
                        or_(CampaignRow.start_at.is_(None), CampaignRow.start_at <= now),
                    )
                    .order_by(CampaignRow.id)
                    .limit(batch)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            for campaign in rows:
                if campaign.state == "scheduled":
                    # Committed before the first send: a status event must find its row.
                    await self._materialize(s, campaign, now)
                elif campaign.state == "running":
                    await self._drive(s, campaign, now)
                await self._report(s, campaign, now)
        return len(rows)

    async def _materialize(self, s: AsyncSession, c: CampaignRow, now: datetime) -> None:
        message, defaults = await recipients.body_of(s, c.message, c.template_id)
        members = await recipients.members(s, c.tenant_id, c.list_id, c.tags)
        blocked = await recipients.suppressed(s, c.tenant_id, [m.chat for m in members])
        rendered = recipients.render(
            [(m.chat, m.name, m.fields) for m in members], message, defaults, c.variables, blocked, c.id
        )
        values = [
            {"id": new_id(), "tenant_id": c.tenant_id, "campaign_id": c.id, "seq": n,
             "session": rules.session_for(n, c.sessions), "chat": r.chat,
             "idempotency_key": campaign_key(c.id, r.chat), "message": r.message,
             "status": "pending" if r.message is not None else "skipped", "reason": r.reason,
             "message_id": new_id() if r.message is not None else None, "next_attempt_at": now,
             "rank": 0 if r.message is not None else 9}
            for n, r in enumerate(rendered)
        ]  # fmt: skip
        await insert_deliveries(s, values)
        window = SendingWindow.model_validate(c.window) if c.window else None
        for session in c.sessions:
            s.add(
                CampaignLaneRow(
                    campaign_id=c.id, session=session, next_send_at=now, day=rules.local_day(window, now)
                )
            )
        c.state, c.started_at, c.updated_at = "running", now, now
        log.info("campaign %s started: %d recipients over %d sessions", c.id, len(values), len(c.sessions))

    async def _drive(self, s: AsyncSession, c: CampaignRow, now: datetime) -> None:
        window = SendingWindow.model_validate(c.window) if c.window else None
        throttle = Throttle.model_validate(c.throttle)
        if rules.in_window(window, now):
            lanes = (
                await s.scalars(select(CampaignLaneRow).where(CampaignLaneRow.campaign_id == c.id))
            ).all()
            blocked = None
            for lane in lanes:  # one session (the transaction's connection) at a time
                blocked = await self._lane(s, c, lane, throttle, window, now)
                if blocked is not None:
                    break
            if blocked is not None:
                c.state, c.reason, c.updated_at = "paused", blocked, now
                log.warning("campaign %s paused: %s", c.id, blocked)
                return
        left = await s.scalar(
            select(func.count()).where(DeliveryRow.campaign_id == c.id, DeliveryRow.status == "pending")
        )
        if not left:
            c.state, c.completed_at, c.updated_at = "completed", now, now

    async def _lane(
        self, s: AsyncSession, c: CampaignRow, lane: CampaignLaneRow, throttle: Throttle,
        window: SendingWindow | None, now: datetime,
    ) -> str | None:  # fmt: skip
        """Send what one session may now; the reason the campaign must pause, if any."""
        today = rules.local_day(window, now)
        if lane.day != today:
            lane.day, lane.sent_today = today, 0
        slots = rules.slots(throttle, lane.next_send_at, now, lane.sent_today, self.rng, self.backlog)
        if slots.count == 0:
            return None
        rows = (
            await s.scalars(
                select(DeliveryRow)
                .where(
                    DeliveryRow.campaign_id == c.id, DeliveryRow.session == lane.session,
                    DeliveryRow.status == "pending", DeliveryRow.next_attempt_at <= now,
                )
                .order_by(DeliveryRow.seq)
                .limit(slots.count)
                # Locked: a status event for one of them waits for this pass's commit, so the
                # pass's "queued" never overwrites the "read" that came meanwhile.
                .with_for_update()
            )
        ).all()  # fmt: skip
        if not rows:
            return None
        # One after another: a session's messages keep the list's order.
        blocked = await recipients.suppressed(s, c.tenant_id, [r.chat for r in rows])
        used = 0
        for row in rows:
            if row.chat in blocked:
                row.status, row.rank, row.reason, row.updated_at = "skipped", 9, "opted_out", now
                continue
            outcome = await self.dispatcher.attempt(row, now)
            if outcome == "blocked":
                return row.reason
            if outcome == "failed" and (row.reason or "").startswith("not_found"):
                return f"session {lane.session!r}: {row.reason}"
            used += 1
        lane.sent_today += used
        lane.next_send_at = slots.next_send_at
        return None

    async def _report(self, s: AsyncSession, c: CampaignRow, now: datetime) -> None:
        """Publish progress when it changed (at most every PROGRESS_EVERY), and the end once."""
        progress = await progress_of(s, c.id)
        counts = progress.model_dump()
        sent = c.progress_sent or {}
        final = c.state in FINAL
        changed = sent.get("counts") != counts or sent.get("state") != c.state
        due = c.progress_at is None or now - c.progress_at >= PROGRESS_EVERY or final or c.state == "paused"
        if not changed or not due:
            return
        event: CampaignProgressed | CampaignCompleted
        if final:
            event = CampaignCompleted(
                tenant=c.tenant_id, session=c.sessions[0], campaign_id=c.id, state=c.state, counts=counts
            )
        else:
            event = CampaignProgressed(
                tenant=c.tenant_id, session=c.sessions[0], campaign_id=c.id, state=c.state, counts=counts
            )
        digest = f"{c.state}:{json.dumps(counts, sort_keys=True)}"
        try:
            await self.js.publish(
                subjects.event(c.tenant_id, c.sessions[0], event.type), encode(event),
                headers={"Nats-Msg-Id": f"campaign:{c.id}:{hashlib.sha256(digest.encode()).hexdigest()[:16]}"}, timeout=5,
            )  # fmt: skip
        except Exception as exc:
            log.warning("campaign %s progress not published (%s); next pass", c.id, type(exc).__name__)
            return
        c.progress_sent, c.progress_at = {"state": c.state, "counts": counts}, now


async def cancel_pending(s: AsyncSession, campaign_id: str, now: datetime) -> None:
    """Skip what a cancelled campaign had not sent yet."""
    await s.execute(
        update(DeliveryRow)
        .where(DeliveryRow.campaign_id == campaign_id, DeliveryRow.status == "pending")
        .values(status="skipped", rank=9, reason="cancelled", updated_at=now)
    )
