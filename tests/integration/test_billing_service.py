"""Billing against real NATS and PostgreSQL, its clock moved by the test: plans, the trial and
what follows it, metering once per message, entitlements in the KV bucket the gateways watch."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import nats
import pytest
from nats.aio.client import Client as NATS

from zapgate.billing.app import Billing, create_app
from zapgate.billing.settings import Settings
from zapgate.common import broker, rpc, subjects
from zapgate.common.messages import MessageState, MessageStatusChanged, encode
from zapgate.common.settings import CommonSettings

T0 = datetime(2026, 12, 1, 12, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Harness:
    nc: NATS
    clock: Clock
    billing: Billing
    settings: Settings

    wait: ClassVar[float] = 5.0

    async def call(self, op: str, tenant: str = "t1", **args: Any) -> Any:
        return await rpc.call(self.nc, subjects.service_api("billing"), op, tenant, args, self.wait)

    async def error(self, op: str, tenant: str = "t1", **args: Any) -> rpc.RpcError:
        with pytest.raises(rpc.RpcError) as caught:
            await self.call(op, tenant, **args)
        return caught.value

    async def status(self, message_id: str, status: MessageState, tenant: str = "t1") -> None:
        event = MessageStatusChanged(tenant=tenant, session="s1", message_id=message_id, status=status)
        await self.nc.jetstream().publish(subjects.event(tenant, "s1", "message.status"), encode(event))

    async def entitlements(self, tenant: str = "t1") -> dict[str, Any]:
        kv = await self.nc.jetstream().key_value(subjects.ENTITLEMENTS_BUCKET)
        entry = await kv.get(subjects.entitlement_key(tenant))
        assert entry.value is not None
        value: dict[str, Any] = json.loads(entry.value)
        return value

    async def restart(self) -> None:
        await self.billing.stop()
        self.billing = create_app(self.settings, self.clock, background=False)
        await self.billing.start()


@pytest.fixture
async def harness(clean_nats: str, database_url: str) -> AsyncIterator[Harness]:
    nc = await nats.connect(clean_nats)
    await broker.ensure_topology(
        nc.jetstream(), CommonSettings(nats_url=clean_nats, database_url=database_url)
    )
    clock = Clock()
    settings = Settings(nats_url=clean_nats, database_url=database_url)
    billing = create_app(settings, clock, background=False)
    await billing.start()
    h = Harness(nc, clock, billing, settings)
    try:
        yield h
    finally:
        await h.billing.stop()
        await nc.close()


async def eventually(check: Any, within: float = 10) -> None:
    import asyncio

    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_a_new_tenant_trials_then_is_past_due_then_suspended(harness: Harness) -> None:
    sub = await harness.call("subscriptions.ensure")
    assert (
        sub["status"] == "trialing"
        and sub["plan"]["name"] == "starter"
        and sub["plan"]["price_cents"] == 4990
    )
    assert sub["period_end"].startswith("2026-12-08T12:00:00")
    assert [h["change"] for h in sub["history"]] == ["trial_started"]
    harness.clock.now = T0 + timedelta(days=7)
    assert await harness.billing.lifecycle_pass() == 1
    assert (await harness.call("subscriptions.get"))["status"] == "past_due"
    harness.clock.now = T0 + timedelta(days=9, hours=23)
    assert await harness.billing.lifecycle_pass() == 0  # inside the grace period (3 days)
    harness.clock.now = T0 + timedelta(days=10)
    assert await harness.billing.lifecycle_pass() == 1
    done = await harness.call("subscriptions.get")
    assert done["status"] == "suspended"
    assert [h["change"] for h in done["history"]] == ["became_suspended", "became_past_due", "trial_started"]
    await harness.billing.publish_pass()
    assert (await harness.entitlements())["status"] == "suspended"
    # The admin gives five more days: trialing again, until day 13.
    extended = await harness.call("subscriptions.extend_trial", days=5)
    assert extended["status"] == "trialing" and extended["period_end"].startswith("2026-12-13T12:00:00")


async def test_each_message_is_metered_once_however_often_its_events_come(harness: Harness) -> None:
    await harness.call("subscriptions.ensure")
    for status in (MessageState.SENT, MessageState.SENT, MessageState.DELIVERED, MessageState.READ):
        await harness.status("M1", status)
    await harness.status("M2", MessageState.QUEUED)  # not sent yet: not counted
    await harness.status("M3", MessageState.DELIVERED)  # its "sent" never seen: counted once

    async def counted(n: int) -> bool:
        return bool((await harness.call("subscriptions.get"))["usage"]["messages"] == n)

    await eventually(lambda: counted(2))
    # A billing crash and the same events delivered again: still two.
    await harness.restart()
    for status in (MessageState.SENT, MessageState.READ):
        await harness.status("M1", status)
        await harness.status("M3", status)
    await harness.status("M2", MessageState.SENT)
    await eventually(lambda: counted(3))
    await harness.billing.publish_pass()
    published = await harness.entitlements()
    assert (
        published["messages_used"] == 3
        and published["plan"] == "starter"
        and published["messages_limit"] is None
    )


async def test_plans_are_managed_and_limits_reach_the_entitlements(harness: Harness) -> None:
    basic = await harness.call(
        "plans.create",
        "admin",
        name="basic",
        price_cents=2990,
        sessions_limit=2,
        messages_limit=1000,
        trial_days=3,
    )
    assert basic["period"] == "monthly" and basic["is_default"] is False
    assert (await harness.error("plans.create", "admin", name="basic", price_cents=1)).status == 409
    assert (await harness.error("plans.create", "admin", name="float", price_cents=19.9)).status == 422
    names = [p["name"] for p in (await harness.call("plans.list", "admin"))["items"]]
    assert names == ["basic", "starter"]
    await harness.call("subscriptions.assign", plan_id=basic["id"])
    await harness.billing.publish_pass()
    assert (await harness.entitlements())["sessions_limit"] == 2
    await harness.call("plans.update", "admin", plan_id=basic["id"], body={"sessions_limit": 4})
    await harness.billing.publish_pass()
    assert (await harness.entitlements())["sessions_limit"] == 4
    assert (await harness.error("plans.delete", "admin", plan_id=basic["id"])).status == 409  # t1 is on it
    default = next(p for p in (await harness.call("plans.list", "admin"))["items"] if p["is_default"])
    assert (await harness.error("plans.delete", "admin", plan_id=default["id"])).status == 404
    cancelled = await harness.call("subscriptions.cancel")
    assert cancelled["status"] == "cancelled"
    assert (await harness.error("subscriptions.extend_trial", days=1)).status == 409
    assert (await harness.error("subscriptions.assign", plan_id="01ARZ3NDEKTSV4RRFFQ69G5FAV")).status == 422


async def test_a_tenant_sees_only_its_own(harness: Harness) -> None:
    await harness.status("M9", MessageState.SENT, tenant="t2")

    async def t2_counted() -> bool:
        return bool((await harness.call("subscriptions.get", "t2"))["usage"]["messages"] == 1)

    await eventually(t2_counted)
    assert (await harness.call("subscriptions.get", "t1"))["usage"]["messages"] == 0
