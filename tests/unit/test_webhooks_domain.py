"""Webhook matching, the retry schedule and what an answer means (pure)."""

from __future__ import annotations

import random
from datetime import timedelta
from types import SimpleNamespace

import pytest

from zapgate.gateway.domain import webhooks


@pytest.mark.parametrize(
    ("patterns", "event_type", "expected"),
    [
        (["*"], "session.status", True),
        (["message.*"], "message.status", True),
        (["message.*"], "message.received", True),
        (["message.*"], "messages.status", False),
        (["message.*"], "message", False),
        (["session.status"], "session.status", True),
        (["session.status"], "session.qr", False),
        (["campaign.*", "billing.alert"], "billing.alert", True),
        (["billing.*"], "billing.alert", True),
        ([], "session.status", False),
    ],
)
def test_patterns(patterns: list[str], event_type: str, expected: bool) -> None:
    assert webhooks.matches(patterns, event_type) is expected


def test_the_schedule_is_standard_webhooks_with_jitter() -> None:
    rng = random.Random(7)
    assert webhooks.delay(0, rng) == timedelta(0)
    five = webhooks.delay(1, rng)
    assert five is not None and timedelta(seconds=5) <= five <= timedelta(seconds=5.5)
    day = webhooks.delay(9, rng)
    assert day is not None and timedelta(hours=24) <= day <= timedelta(hours=26.4)
    assert webhooks.delay(10, rng) is None  # the schedule is over: the endpoint is disabled


@pytest.mark.parametrize(
    ("status", "retry_after", "expected"),
    [
        (200, None, webhooks.Verdict(True)),
        (204, None, webhooks.Verdict(True)),
        (410, None, webhooks.Verdict(False, disable=True)),
        (500, None, webhooks.Verdict(False)),
        (None, None, webhooks.Verdict(False)),
        (429, "120", webhooks.Verdict(False, wait=120.0)),
        (503, "7", webhooks.Verdict(False, wait=7.0)),
        (503, "soon", webhooks.Verdict(False)),
        (301, None, webhooks.Verdict(False)),  # redirects are not followed
    ],
)
def test_verdicts(status: int | None, retry_after: str | None, expected: webhooks.Verdict) -> None:
    assert webhooks.verdict(status, retry_after) == expected


def test_an_event_goes_to_its_tenants_endpoints_and_the_admins() -> None:
    mine = SimpleNamespace(id="e1", tenant_id="t1", events=["message.*"], sessions=None)
    theirs = SimpleNamespace(id="e2", tenant_id="t2", events=["*"], sessions=None)
    admin = SimpleNamespace(id="e3", tenant_id=None, events=["*"], sessions=None)
    narrow = SimpleNamespace(id="e4", tenant_id="t1", events=["*"], sessions=["other"])
    event = {"id": "ev1", "seq": 9, "type": "message.status", "tenant": "t1", "session": "s1", "data": {}}
    made = webhooks.deliveries_of(event, [mine, theirs, admin, narrow])  # type: ignore[list-item]
    assert [d["endpoint_id"] for d in made] == ["e1", "e3"]
    assert made[0]["seq"] == 9 and made[0]["event_id"] == "ev1"
    assert webhooks.deliveries_of({**event, "id": None}, [mine]) == []  # type: ignore[list-item]


def test_secrets_are_standard_webhooks_secrets() -> None:
    secret = webhooks.new_secret()
    assert secret.startswith("whsec_") and secret != webhooks.new_secret()
