"""Scheduling through crashes: ``kill -9`` of a scheduler replica, a worker and nats-server while a
campaign runs and one-off schedules come due. Every recipient is messaged exactly once (the
simulated network's own count) and every fire is accounted for."""

from __future__ import annotations

import itertools
import os
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from helpers import System, deliveries, pair, start_system, tenant, wait_until

pytestmark = pytest.mark.e2e

NO_PACING = {"config": {"pacing": {"enabled": False}}}
LIST_SIZE = 300
SCHEDULES = 20


@pytest.fixture
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    s = start_system(
        tmp_path_factory.mktemp("scheduling-chaos") / ".zapgate",
        {
            "ZAPGATE_LEASE_TTL": "3",
            "ZAPGATE_SIM_SPEED": "20",
            "ZAPGATE_PARTITIONS": "8",
            "ZAPGATE_SCHEDULER_TICK": "0.2",
        },
    )
    yield s
    s.stop()


def test_kills_during_a_campaign_and_due_schedules_lose_and_repeat_nothing(system: System) -> None:
    http = tenant(system, "chaos")
    for n, name in enumerate(("s1", "s2")):
        pair(http, name, f"551197100000{n}")
        assert http.patch(f"/api/v1/sessions/{name}", json=NO_PACING).status_code == 200
    listed = http.post("/api/v1/contact-lists", json={"name": "all"}).json()
    members = [{"phone": f"5511972{i:05d}2", "name": f"C {i}"} for i in range(LIST_SIZE)]
    assert (
        http.post(f"/api/v1/contact-lists/{listed['id']}/contacts", json={"contacts": members}).json()[
            "added"
        ]
        == LIST_SIZE
    )
    campaign = http.post(
        "/api/v1/campaigns",
        json={"name": "chaos", "list_id": listed["id"], "sessions": ["s1", "s2"], "throttle": {"per_minute": 600},
              "message": {"type": "text", "text": "campanha {{first_name}}"}},
    ).json()  # fmt: skip
    start = datetime.now(UTC)
    schedules = []
    for i in range(SCHEDULES):
        created = http.post(
            "/api/v1/schedules",
            json={"session": "s1" if i % 2 else "s2", "to": f"5511973{i:05d}2",
                  "send_at": (start + timedelta(seconds=2 + i * 0.75)).isoformat(),
                  "message": {"type": "text", "text": f"lembrete {i}"}},
        )  # fmt: skip
        assert created.status_code == 201, created.text
        schedules.append(created.json()["id"])
    assert http.post(f"/api/v1/campaigns/{campaign['id']}/start").status_code == 200

    kills = [("scheduler-1", 3.0), ("worker-1", 6.0), ("nats", 9.0)]
    killed_at: dict[str, datetime] = {}
    for name, at in kills:
        time.sleep(max(0.0, at - (datetime.now(UTC) - start).total_seconds()))
        pid = system.info["servers"]["nats"] if name == "nats" else system.info["children"][name]
        os.kill(pid, signal.SIGKILL)
        killed_at[name] = datetime.now(UTC)
    for name, _ in kills:
        wait_until(lambda n=name: f"{n} restarted" in system.log(), 60, f"{name} to be restarted")

    def get(path: str) -> dict[str, Any]:
        response = http.get(path)
        return response.json() if response.status_code == 200 else {}

    wait_until(
        lambda: get(f"/api/v1/campaigns/{campaign['id']}").get("state") == "completed",
        180,
        "the campaign to end",
    )
    for schedule_id in schedules:
        wait_until(
            lambda s=schedule_id: get(f"/api/v1/schedules/{s}").get("state") == "completed", 60, "fires"
        )
    # Every fire accounted for: one each, fired (none late enough to be missed), one message.
    for schedule_id in schedules:
        [fire] = get(f"/api/v1/schedules/{schedule_id}/fires")["items"]
        assert fire["outcome"] == "fired" and len(fire["messages"]) == 1, fire
    progress = get(f"/api/v1/campaigns/{campaign['id']}")["progress"]
    assert progress["total"] == LIST_SIZE and progress["failed"] == 0 and progress["skipped"] == 0, progress

    # The network's own count, once everything that was sent has arrived.
    wanted = {f"5511972{i:05d}2@c.us" for i in range(LIST_SIZE)}
    wanted |= {f"5511973{i:05d}2@c.us" for i in range(SCHEDULES)}

    def arrived() -> dict[str, int]:
        got: dict[str, int] = {}
        for name in ("s1", "s2"):
            for d in deliveries(http, name, outage_ok=True):
                got[d["to"]] = got.get(d["to"], 0) + d["count"]
        return got

    try:
        wait_until(lambda: set(arrived()) >= wanted, 120, "every recipient's message")
    except AssertionError:
        missing = sorted(wanted - set(arrived()))
        recipients = http.get(f"/api/v1/campaigns/{campaign['id']}/recipients", params={"limit": 1000}).json()
        by_chat = {r["to"]: r for r in recipients["items"]}
        detail = []
        for chat in missing[:5]:
            r = by_chat.get(chat)
            message = http.get(f"/api/v1/messages/{r['message_id']}").json() if r else None
            detail.append((chat, r, message))
        raise AssertionError(f"{len(missing)} missing: {detail}") from None
    got = arrived()
    assert set(got) == wanted
    repeats = {to: n for to, n in got.items() if n != 1}
    assert not repeats, f"{len(repeats)} recipients got more than one message: {list(repeats.items())[:5]}"
    # How long the campaign stalled when a scheduler replica died (reported, docs/reliability.md):
    # the longest gap between two messages the gateway accepted until the next kill.
    accepted = sorted(
        datetime.fromisoformat(m["created_at"])
        for name in ("s1", "s2")
        for m in http.get(
            f"/api/v1/sessions/{name}/messages", params={"direction": "out", "limit": 500}
        ).json()["items"]
    )
    span = [
        t for t in accepted if killed_at["scheduler-1"] - timedelta(seconds=1) <= t < killed_at["worker-1"]
    ]
    stall = max(((b - a).total_seconds() for a, b in itertools.pairwise(span)), default=None)
    print(f"longest gap between accepted sends around the scheduler kill: {stall} s ({len(span)} sends)")
    # The kills did hit work in flight: the log shows the restarted scheduler and the takeover.
    log = system.log()
    assert (
        "scheduler-1 exited with -9" in log
        and "worker-1 exited with -9" in log
        and "nats exited with -9" in log
    )
