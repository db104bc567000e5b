"""When schedules fire: one-off, cron in an IANA zone, or a fixed interval; and the catch-up policy.

Every time is computed as a UTC instant. Cron is read by cronsim (Debian cron's semantics) in
the schedule's zone: on a spring-forward day a fire in the skipped hour happens at the first
valid time after it, and on a fall-back day a fire in the repeated hour happens once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

MAX_MISSED_PER_PASS = 500
"""Missed nominal times recorded in one claim; the rest in the next passes (a bounded transaction)."""


class BadTiming(ValueError):
    """The timing cannot fire; the message says why and ``field`` names the field."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Timing:
    """A schedule's timing, as stored."""

    kind: str
    send_at: datetime | None = None
    cron: str | None = None
    interval_seconds: int | None = None
    timezone: str = "UTC"
    start_at: datetime | None = None
    end_at: datetime | None = None
    max_count: int | None = None
    anchor: datetime | None = None
    """Interval schedules without a start count from here (the creation time)."""


def zone(name: str) -> ZoneInfo:
    """An IANA zone, or BadTiming."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise BadTiming(
            f"unknown time zone {name!r}; use an IANA name such as America/Sao_Paulo", "timezone"
        ) from None


def kind_of(send_at: datetime | None, cron: str | None, interval_seconds: int | None) -> str:
    """``once``, ``cron`` or ``interval``."""
    return "once" if send_at is not None else "cron" if cron is not None else "interval"


def check(timing: Timing) -> None:
    """Raise BadTiming unless ``timing`` is well formed."""
    tz = zone(timing.timezone)
    if timing.cron is not None:
        if len(timing.cron.split()) != 5:
            raise BadTiming("cron needs 5 fields: minute hour day-of-month month day-of-week", "cron")
        try:
            next(CronSim(timing.cron, datetime.now(tz)))
        except (CronSimError, StopIteration) as exc:
            raise BadTiming(f"cron {timing.cron!r} is not valid: {exc}", "cron") from None
    if timing.start_at and timing.end_at and timing.end_at <= timing.start_at:
        raise BadTiming("end_at must be after start_at", "end_at")


def _after(timing: Timing, moment: datetime, inclusive: bool) -> datetime | None:
    """The first nominal time after ``moment`` (or at it, if ``inclusive``), ignoring end and count."""
    if timing.kind == "once":
        assert timing.send_at is not None
        at = timing.send_at.astimezone(UTC)
        return at if (at > moment or (inclusive and at == moment)) else None
    if timing.kind == "interval":
        assert timing.interval_seconds is not None
        step = timedelta(seconds=timing.interval_seconds)
        if timing.start_at is not None:
            first = timing.start_at.astimezone(UTC)
        else:
            assert timing.anchor is not None, "an interval schedule needs its creation time"
            first = timing.anchor.astimezone(UTC) + step
        if first > moment or (inclusive and first == moment):
            return first
        steps = (moment - first) // step + 1
        candidate = first + steps * step
        if inclusive and candidate - step == moment:
            return moment
        return candidate
    assert timing.cron is not None
    tz = zone(timing.timezone)
    # cronsim yields times strictly after its start, at minute resolution.
    start = moment - timedelta(microseconds=1) if inclusive else moment
    return next(CronSim(timing.cron, start.astimezone(tz))).astimezone(UTC)


def next_fire(timing: Timing, after: datetime | None, fired: int) -> datetime | None:
    """The nominal time of the next fire strictly after ``after`` (None: the first one), or None
    when the schedule is over (past ``end_at``, ``max_count`` reached, a one-off done)."""
    if timing.max_count is not None and fired >= timing.max_count:
        return None
    if after is None:
        floor = timing.start_at.astimezone(UTC) if timing.start_at else datetime.min.replace(tzinfo=UTC)
        at = _after(timing, floor, inclusive=True)
    else:
        at = _after(timing, after, inclusive=False)
        if at is not None and timing.start_at is not None and at < timing.start_at:
            at = _after(timing, timing.start_at.astimezone(UTC), inclusive=True)
    if at is None or (timing.end_at is not None and at > timing.end_at):
        return None
    return at


def upcoming(timing: Timing, after: datetime | None, fired: int, count: int) -> list[datetime]:
    """The next ``count`` nominal times from ``after``."""
    times: list[datetime] = []
    at = after
    while len(times) < count:
        nxt = next_fire(timing, at, fired + len(times))
        if nxt is None:
            break
        times.append(nxt)
        at = nxt
    return times


@dataclass(frozen=True)
class Plan:
    """What one claim of a due schedule does: fires to record, and where the schedule goes next."""

    missed: list[datetime]
    fire: datetime | None
    next_fire_at: datetime | None


def plan(timing: Timing, due: datetime, now: datetime, fired: int, catchup: timedelta) -> Plan:
    """The catch-up policy for a schedule whose next nominal time ``due`` is at or before ``now``.

    Of the nominal times that came while nothing fired, only the latest is sent, and only if it
    is at most ``catchup`` late; every earlier one, and that one if it is later still, is
    recorded as missed. So a schedule never sends twice for one time, nor a burst of stale
    reminders after an outage.
    """
    missed: list[datetime] = []
    current = due
    while True:
        nxt = next_fire(timing, current, fired)
        if nxt is None or nxt > now or len(missed) >= MAX_MISSED_PER_PASS:
            break
        missed.append(current)
        current = nxt
    if len(missed) >= MAX_MISSED_PER_PASS:
        return Plan(missed, None, current)  # the rest in the next pass
    if now - current <= catchup:
        return Plan(missed, current, next_fire(timing, current, fired + 1))
    return Plan([*missed, current], None, next_fire(timing, current, fired))


class HasTiming(Protocol):
    """A stored schedule's timing columns."""

    kind: str
    send_at: datetime | None
    cron: str | None
    interval_seconds: int | None
    timezone: str
    start_at: datetime | None
    end_at: datetime | None
    max_count: int | None
    created_at: datetime


def timing_of(row: HasTiming) -> Timing:
    """The timing of a stored schedule."""
    return Timing(
        kind=row.kind, send_at=row.send_at, cron=row.cron, interval_seconds=row.interval_seconds,
        timezone=row.timezone, start_at=row.start_at, end_at=row.end_at, max_count=row.max_count,
        anchor=row.created_at,
    )  # fmt: skip


def first_fire(timing: Timing, now: datetime) -> datetime | None:
    """The first nominal time of a schedule created (or re-timed) at ``now``: its ``send_at``; the
    first time at or after a future ``start_at``; else the first time after now."""
    if timing.kind == "once":
        return next_fire(timing, None, 0)
    if timing.start_at is not None and timing.start_at > now:
        return next_fire(timing, None, 0)
    return next_fire(timing, now, 0)


def local_times(times: list[datetime], tz_name: str) -> list[str]:
    """Times as wall-clock ISO 8601 in a zone (what the user reads)."""
    tz = zone(tz_name)
    return [t.astimezone(tz).isoformat() for t in times]
