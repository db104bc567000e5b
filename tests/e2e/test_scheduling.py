"""Scheduling end to end: the dev stack with its two schedulers, their clock moved by a file.

Every message is checked where it lands: the simulated contacts' deliveries (the network's own
count) and the gateway's history.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from helpers import System, deliveries, pair, start_system, tenant, wait_until

pytestmark = pytest.mark.e2e

NO_PACING = {"config": {"pacing": {"enabled": False}}}


@dataclass
class Stack:
    system: System
    clock_file: Path
    offset: float = 0.0

    def now(self) -> datetime:
        """The schedulers' time."""
        return datetime.now(UTC) + timedelta(seconds=self.offset)

    def move(self, seconds: float) -> None:
        """Move every scheduler's clock forward."""
        self.offset += seconds
        self.clock_file.write_text(str(self.offset))


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    data_dir = tmp_path_factory.mktemp("scheduling") / ".zapgate"
    clock_file = data_dir.parent / "clock"
    clock_file.write_text("0")
    system = start_system(
        data_dir,
        {
            "ZAPGATE_SIM_SPEED": "20",
            "ZAPGATE_PARTITIONS": "8",
            "ZAPGATE_SCHEDULER_CLOCK_FILE": str(clock_file),
            "ZAPGATE_SCHEDULER_TICK": "0.2",
        },
    )
    yield Stack(system, clock_file)
    system.stop()


def connected(stack: Stack, name: str, phone: str) -> httpx.Client:
    http = tenant(stack.system, name)
    pair(http, "main", phone)
    assert http.patch("/api/v1/sessions/main", json=NO_PACING).status_code == 200
    return http


def fires(http: httpx.Client, schedule_id: str) -> list[dict[str, Any]]:
    response = http.get(f"/api/v1/schedules/{schedule_id}/fires")
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def received(http: httpx.Client, text: str | None = None) -> list[dict[str, Any]]:
    return [d for d in deliveries(http, "main") if text is None or d["text"] == text]


def test_a_one_off_message_arrives_once_at_its_time(stack: Stack) -> None:
    http = connected(stack, "oneoff", "5511970000001")
    send_at = stack.now() + timedelta(hours=1)
    created = http.post(
        "/api/v1/schedules",
        json={"session": "main", "to": "+55 11 98888-0001", "send_at": send_at.isoformat(),
              "message": {"type": "text", "text": "sua consulta é amanhã"}},
    )  # fmt: skip
    assert created.status_code == 201, created.text
    schedule = created.json()
    assert schedule["state"] == "active" and schedule["to"] == "5511988880001@c.us"
    stack.move(3600 + 1)
    wait_until(lambda: len(fires(http, schedule["id"])) == 1, 20, "the fire")
    [fire] = fires(http, schedule["id"])
    assert fire["outcome"] == "fired" and fire["late_seconds"] < 60
    [message] = fire["messages"]

    def read() -> bool:
        return http.get(f"/api/v1/messages/{message['message_id']}").json()["status"] == "read"

    # Through the normal send path: in the gateway's history, with its statuses.
    wait_until(read, 20, "the scheduled message to be read")
    wait_until(
        lambda: fires(http, schedule["id"])[0]["messages"][0]["status"] == "read", 20, "the fire's status"
    )
    [delivery] = received(http, "sua consulta é amanhã")
    assert delivery["count"] == 1 and delivery["to"] == "5511988880001@c.us"
    assert http.get(f"/api/v1/schedules/{schedule['id']}").json()["state"] == "completed"


def test_a_recurring_schedule_fires_on_each_tick_and_never_twice(stack: Stack) -> None:
    http = connected(stack, "recurring", "5511970000002")
    created = http.post(
        "/api/v1/schedules",
        json={"session": "main", "to": "5511988880002", "interval_seconds": 60,
              "message": {"type": "text", "text": "{Oi|Olá}, lembrete"}},
    )  # fmt: skip
    assert created.status_code == 201, created.text
    schedule_id = created.json()["id"]
    for tick in range(1, 4):
        stack.move(60)
        wait_until(lambda n=tick: len(fires(http, schedule_id)) == n, 20, f"fire {tick}")
    wait_until(lambda: len(received(http)) == 3, 20, "three messages at the contact")
    stack.system.proc.poll()
    assert len(fires(http, schedule_id)) == 3  # still three: nothing fired twice
    got = received(http)
    assert all(d["count"] == 1 for d in got) and {d["text"] for d in got} <= {"Oi, lembrete", "Olá, lembrete"}
    upcoming = http.get(f"/api/v1/schedules/{schedule_id}/next", params={"count": 2}).json()
    assert len(upcoming["times"]) == 2


def test_a_contact_who_answers_sair_gets_nothing_more(stack: Stack) -> None:
    http = connected(stack, "optout", "5511970000003")
    listed = http.post("/api/v1/contact-lists", json={"name": "clientes"}).json()
    report = http.post(
        f"/api/v1/contact-lists/{listed['id']}/import",
        content="phone,name,pedido\n+55 11 98888-0031,Ana Lima,42\n5511988880032,Bruno,43\nnão é número,X,1\n",
        headers={"Content-Type": "text/csv"},
    )
    assert report.status_code == 200, report.text
    assert report.json()["added"] == 2 and [r["line"] for r in report.json()["rejected"]] == [4]
    template = http.post(
        "/api/v1/templates",
        json={
            "name": "pedido",
            "message": {"type": "text", "text": "{{first_name}}, o pedido #{{pedido}} saiu"},
        },
    ).json()
    preview = http.post(
        f"/api/v1/templates/{template['id']}/preview",
        json={"list_id": listed["id"], "phone": "5511988880031"},
    )
    assert preview.json() == {"message": {"type": "text", "text": "Ana, o pedido #42 saiu"}}
    # Ana answers SAIR on the tenant's number: she is suppressed at once.
    inbound = http.post(
        "/api/v1/sessions/main/simulator/inbound", json={"from": "5511988880031", "text": "Sair"}
    )
    assert inbound.status_code == 202, inbound.text

    def suppressed() -> bool:
        return [s["chat"] for s in http.get("/api/v1/suppressions").json()["items"]] == ["5511988880031@c.us"]

    wait_until(suppressed, 20, "Ana's opt-out")
    created = http.post(
        "/api/v1/schedules",
        json={"session": "main", "list_id": listed["id"], "template_id": template["id"],
              "send_at": stack.now().isoformat()},
    )  # fmt: skip
    assert created.status_code == 201, created.text
    wait_until(lambda: len(fires(http, created.json()["id"])) == 1, 20, "the fire")
    wait_until(lambda: len(received(http)) == 1, 20, "Bruno's message")
    [fire] = fires(http, created.json()["id"])
    assert {m["to"]: m["reason"] for m in fire["messages"]} == {
        "5511988880031@c.us": "opted_out",
        "5511988880032@c.us": None,
    }
    assert [(d["to"], d["text"]) for d in received(http)] == [
        ("5511988880032@c.us", "Bruno, o pedido #43 saiu")
    ]


def test_the_api_refuses_what_cannot_be_scheduled_and_hides_other_tenants(stack: Stack) -> None:
    http = tenant(stack.system, "refusals")
    other = tenant(stack.system, "other")
    assert http.post("/api/v1/sessions", json={"name": "main"}).status_code == 201
    base = {"session": "main", "to": "5511988880009", "message": {"type": "text", "text": "x"}}
    cases = [
        ({**base, "session": "ghost", "send_at": stack.now().isoformat()}, 404, None),
        ({**base, "cron": "0 25 * * *"}, 422, "cron"),
        ({**base, "cron": "0 9 * * *", "timezone": "Nowhere/City"}, 422, "timezone"),
        ({**base, "send_at": "2026-01-01T09:00:00"}, 422, None),  # no offset
        ({**base, "message": {"type": "text", "text": "x", "to": "1"}, "send_at": stack.now().isoformat()}, 422, "message.to"),
        ({**base, "message": {"type": "sticker"}, "send_at": stack.now().isoformat()}, 422, None),
        ({**base, "message": {"type": "text", "text": "{{missing}}"}, "send_at": stack.now().isoformat()}, 422, "variables"),
    ]  # fmt: skip
    for body, status, key in cases:
        response = http.post("/api/v1/schedules", json=body)
        assert response.status_code == status, (body, response.text)
        assert "error" in response.json()
        if key is not None:
            assert any(d["key"] == key for d in response.json()["error"]["details"]), response.text
    created = http.post("/api/v1/schedules", json={**base, "interval_seconds": 3600}).json()
    listed = http.post("/api/v1/contact-lists", json={"name": "mine"}).json()
    for path in (f"/api/v1/schedules/{created['id']}", f"/api/v1/contact-lists/{listed['id']}"):
        assert other.get(path).status_code == 404
        assert other.delete(path).status_code == 404
    assert http.get(f"/api/v1/schedules/{created['id']}").status_code == 200
    assert http.get("/api/v1/schedules/not-an-id!").status_code in (404, 422)


def history(http: httpx.Client, session: str) -> list[dict[str, Any]]:
    """Every outgoing message of a session in the gateway's history."""
    items: list[dict[str, Any]] = []
    before = None
    while True:
        params: dict[str, Any] = {"direction": "out", "limit": 500}
        if before:
            params["before"] = before
        page = http.get(f"/api/v1/sessions/{session}/messages", params=params).json()
        items += page["items"]
        before = page["next"]
        if before is None:
            return items


def at_local(stack: Stack, target: datetime) -> None:
    """Move the schedulers' clock so that it reads ``target`` now."""
    stack.move((target - stack.now()).total_seconds())


def test_a_campaign_of_1000_over_3_sessions_keeps_throttle_and_window_and_reports_exactly(
    stack: Stack,
) -> None:
    http = tenant(stack.system, "campaign")
    for n, name in enumerate(("s1", "s2", "s3")):
        pair(http, name, f"551197000010{n}")
        assert http.patch(f"/api/v1/sessions/{name}", json=NO_PACING).status_code == 200
    listed = http.post("/api/v1/contact-lists", json={"name": "base"})
    assert listed.status_code == 201, listed.text
    listed = listed.json()
    # 997 numbers on WhatsApp, 3 that are not (the simulator's: ending in 0000), 10 malformed.
    phones = [f"+55 11 9{7000 + i // 100:04d}-{i % 100:02d}01" for i in range(997)]
    phones += [f"+55 11 9{8000 + i:04d}-0000" for i in range(3)]
    lines = ["phone,name"] + [f"{p},Cliente {i}" for i, p in enumerate(phones)]
    lines += [f"12{i},Inválido {i}" for i in range(10)]
    report = http.post(
        f"/api/v1/contact-lists/{listed['id']}/import",
        content="\n".join(lines),
        headers={"Content-Type": "text/csv"},
    ).json()
    assert report["added"] == 1000 and len(report["rejected"]) == 10
    opted = [f"55119{7000 + i // 100:04d}{i % 100:02d}01@c.us" for i in (0, 250, 500, 750, 996)]
    for chat in opted:
        assert http.post("/api/v1/suppressions", json={"phone": chat, "reason": "asked"}).status_code == 201
    throttle = {"per_minute": 600}  # per session: 10 a second
    window = {"timezone": "America/Sao_Paulo", "start": "09:00", "end": "18:00", "days": [1, 2, 3, 4, 5, 6]}
    created = http.post(
        "/api/v1/campaigns",
        json={"name": "promo", "list_id": listed["id"], "sessions": ["s1", "s2", "s3"], "throttle": throttle,
              "window": window, "message": {"type": "text", "text": "{Oi|Olá} {{first_name}}, oferta!"}},
    )  # fmt: skip
    assert created.status_code == 201, created.text
    campaign = created.json()
    # Saturday 17:59:45 in São Paulo: 15 seconds of window left.
    at_local(stack, datetime(2026, 12, 5, 20, 59, 45, tzinfo=UTC))
    assert http.post(f"/api/v1/campaigns/{campaign['id']}/start").json()["state"] == "scheduled"

    def get() -> dict[str, Any]:
        return dict(http.get(f"/api/v1/campaigns/{campaign['id']}").json())

    wait_until(lambda: get()["state"] == "running", 20, "the campaign to run")
    closed_at = datetime(2026, 12, 5, 21, 0, 0, tzinfo=UTC)
    wait_until(lambda: stack.now() > closed_at + timedelta(seconds=2), 30, "the window to close")
    before_close = get()["progress"]
    sent_before = before_close["total"] - before_close["pending"] - before_close["skipped"]
    assert 0 < sent_before < 992, before_close
    # Closed (Saturday night, then Sunday): nothing more is sent however long it waits.
    stack.move(20 * 3600)  # Sunday 14:00
    after = get()["progress"]
    time.sleep(3)  # three seconds of real time with the window closed: fifteen passes
    assert get()["progress"]["pending"] == after["pending"] == before_close["pending"]
    at_local(stack, datetime(2026, 12, 7, 12, 0, 0, tzinfo=UTC))  # Monday 09:00
    wait_until(lambda: get()["state"] == "completed", 120, "the campaign to complete")
    wait_until(lambda: get()["progress"]["read"] == 992, 60, "every message read")
    progress = get()["progress"]
    assert progress == {
        "total": 1000, "pending": 0, "queued": 0, "sent": 0, "delivered": 0, "read": 992, "failed": 3,
        "skipped": 5, "skipped_reasons": {"opted_out": 5}, "replies": 0,
    }  # fmt: skip
    failed = http.get(f"/api/v1/campaigns/{campaign['id']}/recipients", params={"status": "failed"}).json()
    assert {r["reason"] for r in failed["items"]} == {"not_on_whatsapp"} and len(failed["items"]) == 3
    # The network's own count: each of the 992 got exactly one message; the opted-out none.
    got: dict[str, int] = {}
    for name in ("s1", "s2", "s3"):
        for d in deliveries(http, name):
            got[d["to"]] = got.get(d["to"], 0) + d["count"]
    assert len(got) == 992 and set(got.values()) == {1} and not set(opted) & set(got)
    # Spread in turn and throttled: per session about a third, never faster than 10 a second.
    for name in ("s1", "s2", "s3"):
        sent = sorted(datetime.fromisoformat(m["created_at"]) for m in history(http, name))
        assert 330 <= len(sent) <= 334, (name, len(sent))
        for first, last in zip(sent, sent[20:], strict=False):
            # 20 sends at 10 a second span 1.9 s, less at most two ticks (0.4 s) caught up late.
            assert (last - first).total_seconds() >= 1.4, (name, first, last)
