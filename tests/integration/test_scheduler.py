"""The scheduler against real NATS and PostgreSQL, its clock moved by the test.

The gateway's side of the send path is a responder on ``zg.svc.gateway.api`` that answers as the
gateway does (the boundary of this service); the gateway's own handling is tested end to end.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import nats
import pytest
from nats.aio.client import Client as NATS

from zapgate.common import broker, rpc, subjects
from zapgate.common.messages import MessageReceived, MessageState, MessageStatusChanged, TextContent, encode
from zapgate.common.settings import CommonSettings
from zapgate.scheduler.app import Scheduler, create_app
from zapgate.scheduler.settings import Settings

T0 = datetime(2026, 3, 28, 12, 0, 30, tzinfo=UTC)


class Clock:
    """A clock the test moves."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def move(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class FakeGateway:
    """Answers ``messages.send`` as the gateway does: the same key is the same message."""

    nc: NATS
    sends: list[dict[str, Any]] = field(default_factory=list)
    by_key: dict[str, str] = field(default_factory=dict)
    fail_next: int = 0
    refuse: dict[str, rpc.RpcError] = field(default_factory=dict)

    async def start(self) -> None:
        async def send(tenant: str, args: dict[str, Any]) -> Any:
            self.sends.append({"tenant": tenant, **args})
            if self.fail_next > 0:
                self.fail_next -= 1
                raise rpc.RpcError(503, "unavailable", "database is unavailable")
            if args["message"]["to"] in self.refuse:
                raise self.refuse[args["message"]["to"]]
            key = args["idempotency_key"]
            self.by_key.setdefault(key, args["message_id"])
            return {"id": self.by_key[key], "status": "queued"}

        await rpc.serve(self.nc, subjects.service_api("gateway"), "gateway", {"messages.send": send})

    def to(self, chat: str) -> list[dict[str, Any]]:
        return [s for s in self.sends if s["message"]["to"] == chat]


@dataclass
class Harness:
    nc: NATS
    gateway: FakeGateway
    clock: Clock
    schedulers: list[Scheduler]

    async def call(self, op: str, tenant: str = "t1", **args: Any) -> Any:
        return await rpc.call(self.nc, subjects.service_api("scheduler"), op, tenant, args, 5)

    async def error(self, op: str, tenant: str = "t1", **args: Any) -> rpc.RpcError:
        with pytest.raises(rpc.RpcError) as caught:
            await self.call(op, tenant, **args)
        return caught.value

    async def tick(self) -> None:
        """One claim and send pass on every replica, at once."""
        for s in self.schedulers:
            assert s.dispatcher is not None
        await asyncio.gather(*(s.dispatcher.claim_due() for s in self.schedulers if s.dispatcher))
        await asyncio.gather(*(s.dispatcher.send_pending() for s in self.schedulers if s.dispatcher))

    async def publish(self, event: Any) -> None:
        js = self.nc.jetstream()
        await js.publish(subjects.event(event.tenant, event.session, event.type), encode(event))


@pytest.fixture
async def harness(clean_nats: str, database_url: str) -> AsyncIterator[Harness]:
    nc = await nats.connect(clean_nats)
    await broker.ensure_topology(
        nc.jetstream(), CommonSettings(nats_url=clean_nats, database_url=database_url)
    )
    gateway = FakeGateway(nc)
    await gateway.start()
    clock = Clock(T0)
    # The test drives the dispatchers' passes itself, both replicas at once on each.
    settings = Settings(nats_url=clean_nats, database_url=database_url)
    schedulers = [create_app(settings, clock, dispatch=False) for _ in range(2)]
    for s in schedulers:
        await s.start()
    try:
        yield Harness(nc, gateway, clock, schedulers)
    finally:
        for s in schedulers:
            await s.stop()
        await nc.close()


TEXT = {"type": "text", "text": "Olá {{first_name}}, sua consulta é {{when}}"}


async def test_a_one_off_fires_once_at_its_time_through_the_send_path(harness: Harness) -> None:
    created = await harness.call(
        "schedules.create", session="s1", to="+55 (11) 98888-7777", send_at=(T0 + timedelta(minutes=5)).isoformat(),
        message={"type": "text", "text": "lembrete"},
    )  # fmt: skip
    assert created["to"] == "5511988887777@c.us" and created["next_fire_at"].startswith("2026-03-28T12:05:30")
    await harness.tick()
    assert harness.gateway.sends == []  # not due yet
    harness.clock.move(minutes=5)
    for _ in range(3):
        await harness.tick()
    [sent] = harness.gateway.sends
    assert sent["tenant"] == "t1" and sent["session"] == "s1"
    assert sent["message"] == {"type": "text", "text": "lembrete", "to": "5511988887777@c.us"}
    assert sent["idempotency_key"].startswith(f"zgs:{created['id']}:")
    done = await harness.call("schedules.get", schedule_id=created["id"])
    assert done["state"] == "completed" and done["fired"] == 1 and done["next_fire_at"] is None
    [fire] = (await harness.call("schedules.fires", schedule_id=created["id"]))["items"]
    assert fire["outcome"] == "fired" and fire["late_seconds"] == 0
    assert fire["messages"] == [
        {"to": "5511988887777@c.us", "status": "queued", "message_id": sent["message_id"], "reason": None}
    ]
    # The message's events move it on (and never back).
    for status in (MessageState.READ, MessageState.DELIVERED):
        await harness.publish(
            MessageStatusChanged(tenant="t1", session="s1", message_id=sent["message_id"], status=status)
        )

    async def read() -> bool:
        [f] = (await harness.call("schedules.fires", schedule_id=created["id"]))["items"]
        return bool(f["messages"][0]["status"] == "read")

    await eventually_async(read, 10, "the read status to reach the fire")


async def eventually_async(check: Callable[[], Any], within: float, what: str) -> None:
    """Poll an async predicate."""
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def test_a_recurring_cron_fires_on_each_tick_once_with_two_replicas_racing(harness: Harness) -> None:
    created = await harness.call(
        "schedules.create", session="s1", to="5511988887777", cron="*/10 * * * *", timezone="America/Sao_Paulo",
        message={"type": "text", "text": "tick"},
    )  # fmt: skip
    assert created["next_fire_at"].startswith("2026-03-28T12:10:00")
    for _ in range(6):
        harness.clock.move(minutes=10)
        await harness.tick()
        await harness.tick()
    keys = [s["idempotency_key"] for s in harness.gateway.sends]
    assert len(keys) == 6 == len(set(keys)), keys
    fires = (await harness.call("schedules.fires", schedule_id=created["id"]))["items"]
    assert [f["outcome"] for f in fires] == ["fired"] * 6
    nominal = sorted(f["nominal_at"] for f in fires)
    assert nominal[0].startswith("2026-03-28T12:10:00") and nominal[-1].startswith("2026-03-28T13:00:00")


async def test_next_fires_follow_dst_in_the_schedules_zone(harness: Harness) -> None:
    # Europe/Berlin springs forward on 2026-03-29 at 02:00: a 02:30 fire happens at 03:00 that day.
    created = await harness.call(
        "schedules.create", session="s1", to="5511988887777", cron="30 2 * * *", timezone="Europe/Berlin",
        message={"type": "text", "text": "x"},
    )  # fmt: skip
    upcoming = await harness.call("schedules.next", schedule_id=created["id"], count=3)
    assert upcoming["local"] == [
        "2026-03-29T03:00:00+02:00",
        "2026-03-30T02:30:00+02:00",
        "2026-03-31T02:30:00+02:00",
    ]
    assert upcoming["times"][0].startswith("2026-03-29T01:00:00")


async def test_fires_missed_while_down_are_recorded_and_only_the_latest_in_the_window_is_sent(
    harness: Harness,
) -> None:
    created = await harness.call(
        "schedules.create", session="s1", to="5511988887777", interval_seconds=600, catchup_seconds=300,
        message={"type": "text", "text": "x"},
    )  # fmt: skip
    # Everything was down for 35 minutes: three nominal times passed, the last 5 minutes ago.
    harness.clock.move(minutes=35)
    await harness.tick()
    assert len(harness.gateway.sends) == 1
    fires = (await harness.call("schedules.fires", schedule_id=created["id"]))["items"]
    assert [(f["outcome"], round(f["late_seconds"])) for f in fires] == [
        ("fired", 300),
        ("missed", 900),
        ("missed", 1500),
    ]
    assert fires[1]["reason"] == "late by 900s, past the catch-up window of 300s"
    # Down again for longer than the window: the one due time is recorded as missed, not sent.
    harness.clock.move(minutes=11)
    await harness.tick()
    assert len(harness.gateway.sends) == 1
    latest = (await harness.call("schedules.fires", schedule_id=created["id"]))["items"][0]
    assert latest["outcome"] == "missed" and latest["reason"].startswith("late by 360s")
    assert (await harness.call("schedules.get", schedule_id=created["id"]))["fired"] == 1


async def test_a_campaign_list_with_templates_skips_the_opted_out_and_the_incomplete(
    harness: Harness,
) -> None:
    listed = await harness.call("lists.create", name="clientes")
    report = await harness.call(
        "contacts.import", list_id=listed["id"],
        csv="phone,name,when,tags\n"
            "+55 11 98888-0001,Ana Souza,amanhã às 9h,vip\n"
            "(11) 2222,Bad Number,hoje,\n"
            "5511988880002,Bruno,,vip;novo\n"
            "5511988880003,Carla Dias,sexta,\n"
            "5511988880004,Davi,segunda\n",
    )  # fmt: skip
    assert report["added"] == 3 and report["updated"] == 0
    assert [(r["line"], r["phone"]) for r in report["rejected"]] == [(3, "(11) 2222"), (6, None)]
    template = await harness.call("templates.create", name="lembrete", message=TEXT, defaults={})
    assert template["variables"] == ["first_name", "when"]
    # Carla answered SAIR (accents and case ignored) on one of the tenant's sessions.
    await harness.publish(
        MessageReceived(tenant="t1", session="s1", message_id="m1", wa_id="w1", chat="5511988880003@c.us",
                        sender="5511988880003@c.us", content=TextContent(text=" sair! "))
    )  # fmt: skip

    async def suppressed() -> bool:
        items = (await harness.call("suppressions.list"))["items"]
        return [i["chat"] for i in items] == ["5511988880003@c.us"]

    await eventually_async(suppressed, 10, "the opt-out to be recorded")
    created = await harness.call(
        "schedules.create", session="s1", list_id=listed["id"], template_id=template["id"],
        send_at=T0.isoformat(),
    )  # fmt: skip
    await harness.tick()
    sent = {s["message"]["to"]: s["message"]["text"] for s in harness.gateway.sends}
    assert sent == {"5511988880001@c.us": "Olá Ana, sua consulta é amanhã às 9h"}
    [fire] = (await harness.call("schedules.fires", schedule_id=created["id"]))["items"]
    outcome = {m["to"]: (m["status"], m["reason"]) for m in fire["messages"]}
    assert outcome == {
        "5511988880001@c.us": ("queued", None),
        "5511988880002@c.us": ("skipped", "missing_variable: no value for {{when}}"),
        "5511988880003@c.us": ("skipped", "opted_out"),
    }


async def test_a_placeholder_no_one_can_fill_is_refused_at_creation(harness: Harness) -> None:
    error = await harness.error(
        "schedules.create", session="s1", to="5511988887777", send_at=T0.isoformat(), message=TEXT,
        variables={"when": "amanhã"},
    )  # fmt: skip
    assert error.status == 422 and "{{first_name}}" in error.message
    ok = await harness.call(
        "schedules.create", session="s1", to="5511988887777", send_at=T0.isoformat(),
        message={"type": "text", "text": "{Oi|Olá|Bom dia}, {{who}}"}, variables={"who": "Ana"},
    )  # fmt: skip
    await harness.tick()
    [sent] = harness.gateway.sends
    assert sent["message"]["text"] in {"Oi, Ana", "Olá, Ana", "Bom dia, Ana"}
    assert ok["state"] == "active"


@pytest.mark.parametrize(
    ("args", "key"),
    [
        ({"cron": "61 * * * *"}, "cron"),
        ({"cron": "* * *"}, "cron"),
        ({"cron": "0 9 * * *", "timezone": "Mars/Olympus"}, "timezone"),
        ({"send_at": "2020-01-01T00:00:00Z"}, "send_at"),
        (
            {"interval_seconds": 600, "start_at": "2026-04-02T00:00:00Z", "end_at": "2026-04-01T00:00:00Z"},
            "end_at",
        ),
    ],
)
async def test_bad_timing_is_a_422_naming_the_field(harness: Harness, args: dict[str, Any], key: str) -> None:
    error = await harness.error(
        "schedules.create", session="s1", to="5511988887777", message={"type": "text", "text": "x"}, **args
    )
    assert error.status == 422 and error.details[0]["key"] == key, error.message


async def test_a_send_the_gateway_could_not_take_is_retried_with_the_same_key_and_id(
    harness: Harness,
) -> None:
    harness.gateway.fail_next = 2
    await harness.call(
        "schedules.create", session="s1", to="5511988887777", send_at=T0.isoformat(),
        message={"type": "text", "text": "x"},
    )  # fmt: skip
    for _ in range(3):
        await harness.tick()
        harness.clock.move(seconds=10)
    assert len(harness.gateway.sends) == 3
    assert len({(s["idempotency_key"], s["message_id"]) for s in harness.gateway.sends}) == 1


async def test_a_refused_send_is_recorded_as_failed_with_the_gateways_reason(harness: Harness) -> None:
    harness.gateway.refuse["5511988887777@c.us"] = rpc.RpcError(404, "not_found", "session 's1' not found")
    created = await harness.call(
        "schedules.create", session="s1", to="5511988887777", send_at=T0.isoformat(),
        message={"type": "text", "text": "x"},
    )  # fmt: skip
    await harness.tick()
    await harness.tick()
    assert len(harness.gateway.sends) == 1
    [fire] = (await harness.call("schedules.fires", schedule_id=created["id"]))["items"]
    assert fire["messages"][0]["status"] == "failed"
    assert fire["messages"][0]["reason"] == "not_found: session 's1' not found"


async def test_pause_resume_and_change(harness: Harness) -> None:
    created = await harness.call(
        "schedules.create", session="s1", to="5511988887777", interval_seconds=600,
        message={"type": "text", "text": "x"},
    )  # fmt: skip
    await harness.call("schedules.pause", schedule_id=created["id"])
    harness.clock.move(minutes=25)
    await harness.tick()
    assert harness.gateway.sends == []
    resumed = await harness.call("schedules.resume", schedule_id=created["id"])
    # Times that passed while paused are not sent; the next one is after now.
    assert resumed["next_fire_at"].startswith("2026-03-28T12:30:30")
    changed = await harness.call(
        "schedules.update",
        schedule_id=created["id"],
        body={"cron": "0 9 * * 1-5", "timezone": "America/Sao_Paulo"},
    )
    assert changed["kind"] == "cron" and changed["interval_seconds"] is None
    assert changed["next_fire_at"].startswith("2026-03-30T12:00:00")  # Monday 09:00 in São Paulo
    await harness.call("schedules.delete", schedule_id=created["id"])
    assert (await harness.error("schedules.get", schedule_id=created["id"])).status == 404


async def test_tenants_see_only_their_own(harness: Harness) -> None:
    listed = await harness.call("lists.create", tenant="t1", name="mine")
    template = await harness.call(
        "templates.create", tenant="t1", name="x", message={"type": "text", "text": "x"}
    )
    schedule = await harness.call(
        "schedules.create", tenant="t1", session="s1", to="5511988887777", interval_seconds=600,
        message={"type": "text", "text": "x"},
    )  # fmt: skip
    for op, args in [
        ("lists.get", {"list_id": listed["id"]}), ("lists.delete", {"list_id": listed["id"]}),
        ("contacts.list", {"list_id": listed["id"]}), ("templates.get", {"template_id": template["id"]}),
        ("schedules.get", {"schedule_id": schedule["id"]}), ("schedules.fires", {"schedule_id": schedule["id"]}),
        ("schedules.pause", {"schedule_id": schedule["id"]}), ("schedules.delete", {"schedule_id": schedule["id"]}),
    ]:  # fmt: skip
        assert (await harness.error(op, "t2", **args)).status == 404, op
    assert (await harness.call("lists.list", "t2"))["items"] == []
    assert (await harness.call("schedules.list", "t2"))["items"] == []
    # A list in another tenant's schedule is not found either.
    error = await harness.error(
        "schedules.create", "t2", session="s1", list_id=listed["id"], send_at=T0.isoformat(),
        message={"type": "text", "text": "x"},
    )  # fmt: skip
    assert error.status == 422 and error.details[0]["key"] == "list_id"


async def test_unreadable_requests_get_a_clear_error(harness: Harness) -> None:
    reply = await harness.nc.request(subjects.service_api("scheduler"), b"not json", timeout=5)
    assert json.loads(reply.data)["error"]["status"] == 400
    assert (await harness.error("nope")).status == 400
    error = await harness.error("schedules.create", session="s1")
    assert error.status == 422 and error.code == "validation_error"
    assert (await harness.error("schedules.get", schedule_id="../x")).status == 422


# ---------------------------------------------------------------- campaigns


async def campaign_pass(harness: Harness) -> None:
    """One campaign pass on both replicas at once."""
    await asyncio.gather(*(s.campaigns.run_pass() for s in harness.schedulers if s.campaigns))


async def members(harness: Harness, n: int, prefix: str = "55119888") -> str:
    listed = await harness.call("lists.create", name="promo")
    contacts_ = [{"phone": f"{prefix}{i:05d}", "name": f"Cliente {i}"} for i in range(n)]
    report = await harness.call("contacts.add", list_id=listed["id"], body={"contacts": contacts_})
    assert report["added"] == n, report
    return str(listed["id"])


async def test_a_campaign_spreads_over_sessions_keeps_its_throttle_and_completes(harness: Harness) -> None:
    list_id = await members(harness, 30)
    created = await harness.call(
        "campaigns.create", name="promo", list_id=list_id, sessions=["a", "b", "c"],
        message={"type": "text", "text": "{Oi|Olá} {{first_name}}"}, throttle={"per_minute": 2},
    )  # fmt: skip
    assert created["state"] == "draft"
    await campaign_pass(harness)
    assert harness.gateway.sends == []  # a draft sends nothing
    assert (await harness.call("campaigns.start", campaign_id=created["id"]))["state"] == "scheduled"
    at: dict[str, list[datetime]] = {"a": [], "b": [], "c": []}
    passes = 0
    while (await harness.call("campaigns.get", campaign_id=created["id"]))["state"] != "completed":
        seen = len(harness.gateway.sends)
        await campaign_pass(harness)
        for send in harness.gateway.sends[seen:]:
            at[send["session"]].append(harness.clock.now)
        harness.clock.move(seconds=5)
        passes += 1
        assert passes < 200
    # 30 recipients over 3 sessions in turn at 2 a minute each: 10 each, 30 s apart, passes or not.
    assert {k: len(v) for k, v in at.items()} == {"a": 10, "b": 10, "c": 10}
    for times in at.values():
        gaps = {(later - earlier).total_seconds() for earlier, later in itertools.pairwise(times)}
        assert gaps == {30.0}, gaps
    keys = [s["idempotency_key"] for s in harness.gateway.sends]
    assert len(keys) == len(set(keys)) == 30
    assert [s["message"]["to"] for s in harness.gateway.sends if s["session"] == "a"][:2] == [
        "5511988800000@c.us", "5511988800003@c.us",
    ]  # fmt: skip
    done = await harness.call("campaigns.get", campaign_id=created["id"])
    assert done["progress"]["total"] == 30 and done["progress"]["queued"] == 30
    events = await stored(harness, created["id"])
    assert events[-1]["type"] == "campaign.completed" and events[-1]["counts"]["queued"] == 30
    assert all(e["type"] == "campaign.progress" for e in events[:-1]) and len(events) >= 2


async def stored(harness: Harness, campaign_id: str) -> list[dict[str, Any]]:
    """The campaign's events in the tenant's stream."""
    js = harness.nc.jetstream()
    sub = await js.subscribe(subjects.event_family("campaign"), ordered_consumer=True)
    out = []
    try:
        while True:
            msg = await sub.next_msg(timeout=0.5)
            body = json.loads(msg.data)
            if body["campaign_id"] == campaign_id:
                out.append(body)
    except nats.errors.TimeoutError:
        pass
    finally:
        await sub.unsubscribe()
    return out


async def test_a_campaign_sends_only_inside_its_window_and_up_to_its_daily_cap(harness: Harness) -> None:
    list_id = await members(harness, 12)
    # T0 is Saturday 09:00:30 in São Paulo; the window is 09:00-18:00, Monday to Saturday.
    created = await harness.call(
        "campaigns.create", name="w", list_id=list_id, sessions=["a"], message={"type": "text", "text": "x"},
        throttle={"per_minute": 60, "daily_cap": 5},
        window={"timezone": "America/Sao_Paulo", "start": "09:00", "end": "18:00", "days": [1, 2, 3, 4, 5, 6]},
    )  # fmt: skip
    await harness.call("campaigns.start", campaign_id=created["id"])
    for _ in range(20):
        await campaign_pass(harness)
        harness.clock.move(seconds=1)
    assert len(harness.gateway.sends) == 5  # the daily cap
    harness.clock.move(hours=24)  # Sunday: outside the window
    for _ in range(5):
        await campaign_pass(harness)
        harness.clock.move(seconds=1)
    assert len(harness.gateway.sends) == 5
    harness.clock.move(hours=24)  # Monday 09:00: a new day
    for _ in range(20):
        await campaign_pass(harness)
        harness.clock.move(seconds=1)
    assert len(harness.gateway.sends) == 10
    progress = (await harness.call("campaigns.get", campaign_id=created["id"]))["progress"]
    assert progress["pending"] == 2 and progress["queued"] == 10


async def test_a_quota_reached_pauses_the_campaign_with_the_reason(harness: Harness) -> None:
    list_id = await members(harness, 4)
    created = await harness.call(
        "campaigns.create", name="q", list_id=list_id, sessions=["a"], message={"type": "text", "text": "x"},
        throttle={"per_minute": 6000},
    )  # fmt: skip
    await harness.call("campaigns.start", campaign_id=created["id"])
    harness.gateway.refuse["5511988800002@c.us"] = rpc.RpcError(
        403, "quota_exceeded", "the tenant's messages quota is reached (2 of 2)"
    )
    for _ in range(4):
        await campaign_pass(harness)
        harness.clock.move(seconds=1)
    paused = await harness.call("campaigns.get", campaign_id=created["id"])
    assert paused["state"] == "paused" and "quota" in paused["reason"]
    assert paused["progress"]["queued"] == 2 and paused["progress"]["pending"] == 2
    del harness.gateway.refuse["5511988800002@c.us"]
    await harness.call("campaigns.resume", campaign_id=created["id"])
    harness.clock.move(seconds=61)
    await campaign_pass(harness)
    harness.clock.move(seconds=1)
    await campaign_pass(harness)
    done = await harness.call("campaigns.get", campaign_id=created["id"])
    assert done["state"] == "completed" and done["progress"]["queued"] == 4
    assert len({s["idempotency_key"] for s in harness.gateway.sends}) == 4


async def test_a_recipient_who_opts_out_mid_campaign_gets_nothing_and_replies_are_counted(
    harness: Harness,
) -> None:
    list_id = await members(harness, 3)
    created = await harness.call(
        "campaigns.create", name="o", list_id=list_id, sessions=["a"], message={"type": "text", "text": "x"},
        throttle={"per_minute": 1},
    )  # fmt: skip
    await harness.call("campaigns.start", campaign_id=created["id"])
    await campaign_pass(harness)  # the recipients are materialised and committed
    await campaign_pass(harness)  # the first send
    [first] = harness.gateway.sends
    # The first recipient answers; the last one answers PARAR before its turn.
    for sender, text in ((first["message"]["to"], "obrigado"), ("5511988800002@c.us", "PARAR")):
        await harness.publish(
            MessageReceived(tenant="t1", session="a", message_id=f"m-{sender[:13]}", wa_id="w", chat=sender,
                            sender=sender, content=TextContent(text=text))
        )  # fmt: skip

    async def counted() -> bool:
        p = (await harness.call("campaigns.get", campaign_id=created["id"]))["progress"]
        return bool(p["replies"] == 1) and bool((await harness.call("suppressions.list"))["items"])

    await eventually_async(counted, 10, "the reply and the opt-out")
    for _ in range(3):
        harness.clock.move(minutes=1)
        await campaign_pass(harness)
    sent_to = [s["message"]["to"] for s in harness.gateway.sends]
    assert sent_to == ["5511988800000@c.us", "5511988800001@c.us"]
    done = await harness.call("campaigns.get", campaign_id=created["id"])
    assert done["state"] == "completed" and done["progress"]["skipped_reasons"] == {"opted_out": 1}
    page = await harness.call("campaigns.recipients", campaign_id=created["id"])
    assert [(r["to"], r["status"], r["replied"]) for r in page["items"]] == [
        ("5511988800000@c.us", "queued", True),
        ("5511988800001@c.us", "queued", False),
        ("5511988800002@c.us", "skipped", False),
    ]


async def test_campaign_lifecycle_refusals(harness: Harness) -> None:
    list_id = await members(harness, 1)
    body = {
        "name": "l",
        "list_id": list_id,
        "sessions": ["a"],
        "message": {"type": "text", "text": "{{nope}}"},
    }
    assert (await harness.error("campaigns.create", **body)).details[0]["key"] == "variables"
    body["message"] = {"type": "text", "text": "ok"}
    for bad in ({"sessions": ["a", "a"]}, {"throttle": {"per_minute": 0}},
                {"window": {"start": "18:00", "end": "09:00"}}, {"window": {"timezone": "Nope/Nope"}},
                {"list_id": "01ARZ3NDEKTSV4RRFFQ69G5FAV"}):  # fmt: skip
        assert (await harness.error("campaigns.create", **{**body, **bad})).status == 422, bad
    created = await harness.call("campaigns.create", **body)
    assert (await harness.error("campaigns.pause", campaign_id=created["id"])).status == 409
    await harness.call("campaigns.start", campaign_id=created["id"])
    assert (await harness.error("campaigns.delete", campaign_id=created["id"])).status == 409
    cancelled = await harness.call("campaigns.cancel", campaign_id=created["id"])
    assert cancelled["state"] == "cancelled"
    assert (await harness.error("campaigns.get", "t2", campaign_id=created["id"])).status == 404
    await harness.call("campaigns.delete", campaign_id=created["id"])
