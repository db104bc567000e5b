"""A tenant's subscription: trialing → active → past_due → suspended, or cancelled.

Pure: given the subscription as stored and the time, what it is now and which alerts are due.
A period that ends unpaid makes the tenant ``past_due`` for the grace period, then
``suspended``; a payment makes it ``active`` at once, for a period from the payment (or from
the end of the period it pays, if that is later).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

TRIALING, ACTIVE, PAST_DUE, SUSPENDED, CANCELLED = "trialing", "active", "past_due", "suspended", "cancelled"
STATUSES = (TRIALING, ACTIVE, PAST_DUE, SUSPENDED, CANCELLED)
PERIOD = timedelta(days=30)
"""A billing period ("monthly"): 30 days, so it never depends on the month's length."""


@dataclass(frozen=True)
class Subscription:
    """What billing stores of a tenant's subscription."""

    status: str
    period_start: datetime
    period_end: datetime
    """When the current period (or the trial) ends; unpaid, the tenant is past due from then."""


def start_trial(now: datetime, trial_days: int) -> Subscription:
    """A new tenant: trialing until ``trial_days`` from now (no trial: past due at once)."""
    return Subscription(TRIALING, now, now + timedelta(days=trial_days))


def current(sub: Subscription, now: datetime, grace: timedelta) -> Subscription:
    """The subscription as it is at ``now``: a period that ended unpaid moves it on."""
    if sub.status in (TRIALING, ACTIVE) and now >= sub.period_end:
        sub = replace(sub, status=PAST_DUE)
    if sub.status == PAST_DUE and now >= sub.period_end + grace:
        sub = replace(sub, status=SUSPENDED)
    return sub


def paid(sub: Subscription, now: datetime) -> Subscription:
    """A period was paid: active at once, for a period from now or from the end of the period
    still running (an early payment does not shorten what was paid before)."""
    start = max(now, sub.period_end) if sub.status in (ACTIVE, TRIALING) else now
    return Subscription(ACTIVE, start, start + PERIOD)


def extend_trial(sub: Subscription, days: int) -> Subscription:
    """The admin gives more trial days (a suspended or past-due trial is trialing again)."""
    end = max(sub.period_end, sub.period_start) + timedelta(days=days)
    return replace(sub, status=TRIALING, period_end=end)


def may_send(status: str) -> bool:
    """Whether a tenant in ``status`` may send and start sessions (receiving never stops)."""
    return status not in (SUSPENDED, CANCELLED)


@dataclass(frozen=True)
class Alert:
    """An alert due at a time: its kind and the key that makes it once (tenant + key)."""

    kind: str
    key: str


def alerts_due(sub: Subscription, now: datetime, grace: timedelta) -> list[Alert]:
    """Alerts that are due now for the subscription's current period; the caller sends each
    key once."""
    due: list[Alert] = []
    end = sub.period_end.isoformat()
    if sub.status == TRIALING:
        for days in (3, 1):
            if sub.period_end - timedelta(days=days) <= now < sub.period_end:
                due.append(Alert(f"trial_ending_{days}d", f"trial:{end}:{days}d"))
    if sub.status == PAST_DUE:
        due.append(Alert("past_due", f"past_due:{end}"))
    if sub.status == SUSPENDED:
        due.append(Alert("suspended", f"suspended:{end}"))
    return due


def usage_alerts(used: int, limit: int | None, period_key: str, what: str) -> list[Alert]:
    """80 % and 100 % of a limit, once each per period."""
    if limit is None or limit <= 0:
        return []
    return [
        Alert(f"{what}_{pct}pct", f"{what}:{period_key}:{pct}")
        for pct in (80, 100)
        if used * 100 >= limit * pct
    ]
