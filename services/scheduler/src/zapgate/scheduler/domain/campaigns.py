"""Campaign rules: sending windows, throttles, session spread, progress (no I/O)."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from zapgate.common.scheduling import CampaignProgress, SendingWindow, Throttle
from zapgate.scheduler.domain.recurrence import zone

MAX_SENDS_PER_PASS = 200
"""Per session and pass: a pass is one short transaction however high the throttle."""


def in_window(window: SendingWindow | None, now: datetime) -> bool:
    """Whether ``now`` is inside the sending window (no window: always)."""
    if window is None:
        return True
    local = now.astimezone(zone(window.timezone))
    start, end = time.fromisoformat(window.start), time.fromisoformat(window.end)
    return local.isoweekday() in window.days and start <= local.time() < end


def local_day(window: SendingWindow | None, now: datetime) -> str:
    """The day a daily cap counts in: the window's zone, else UTC."""
    tz = zone(window.timezone) if window is not None else zone("UTC")
    return now.astimezone(tz).date().isoformat()


def gap(throttle: Throttle, rng: random.Random) -> timedelta:
    """The time from one send of a session to its next: the throttle's interval, or a random
    delay from the range when that is longer."""
    interval = 60.0 / throttle.per_minute
    delay = (
        rng.uniform(throttle.min_delay_seconds, throttle.max_delay_seconds)
        if throttle.max_delay_seconds
        else 0.0
    )
    return timedelta(seconds=max(interval, delay))


@dataclass(frozen=True)
class Slots:
    """What a session may send in one pass, and when it may send after."""

    count: int
    next_send_at: datetime


def slots(
    throttle: Throttle,
    next_send_at: datetime,
    now: datetime,
    sent_today: int,
    rng: random.Random,
    backlog: timedelta = timedelta(seconds=1),
) -> Slots:
    """How many sends are due by ``now`` for a session whose next send was ``next_send_at``.

    Slots follow one another from the last one, not from the pass, so the rate is the throttle's
    whatever the pass interval. Sends due longer ago than ``backlog`` (about the time between two
    passes: more means a pause, the window closed) are not caught up: the session starts again
    from now, so it is never faster than the throttle by more than ``backlog``'s worth.
    """
    if next_send_at < now - backlog:
        next_send_at = now
    count = 0
    cap = throttle.daily_cap
    while next_send_at <= now and count < MAX_SENDS_PER_PASS:
        if cap is not None and sent_today + count >= cap:
            break
        count += 1
        next_send_at += gap(throttle, rng)
    return Slots(count, next_send_at)


def session_for(index: int, sessions: list[str]) -> str:
    """Recipients go to the campaign's sessions in turn, in list order."""
    return sessions[index % len(sessions)]


STATUSES = ("pending", "queued", "sent", "delivered", "read", "failed", "skipped")


def progress(counts: Mapping[str, int], skipped_reasons: Mapping[str, int], replies: int) -> CampaignProgress:
    """The API's progress from counts by delivery status (``played`` counts as read)."""
    by = {s: counts.get(s, 0) for s in STATUSES}
    by["read"] += counts.get("played", 0)
    return CampaignProgress(
        total=sum(counts.values()), pending=by["pending"], queued=by["queued"], sent=by["sent"],
        delivered=by["delivered"], read=by["read"], failed=by["failed"], skipped=by["skipped"],
        skipped_reasons=dict(skipped_reasons), replies=replies,
    )  # fmt: skip


def reason_kind(reason: str | None) -> str:
    """The kind of a skip reason (``missing_variable: no value for {{x}}`` → ``missing_variable``)."""
    return (reason or "unknown").split(":", 1)[0]
