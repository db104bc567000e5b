"""PIX charges through the official Mercado Pago SDK against a fake Mercado Pago server (its
``http_client`` seam), and the payment notifications billing acts on: real NATS, real PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar

import nats
import pytest
from fakes.mercadopago import SECRET, TOKEN, FakeMercadoPago
from nats.aio.client import Client as NATS
from test_billing_service import T0, Clock
from test_billing_service import Harness as BillingHarness

from zapgate.billing.app import create_app
from zapgate.billing.domain import pix
from zapgate.billing.settings import Settings
from zapgate.common import broker, rpc, subjects
from zapgate.common.messages import MessageState, MessageStatusChanged, encode
from zapgate.common.settings import CommonSettings


@dataclass
class Harness(BillingHarness):
    fake: FakeMercadoPago = field(default_factory=FakeMercadoPago)
    wait: ClassVar[float] = 15.0  # a provider that answers slowly, then is retried

    async def notify(self, payment_id: str, **kw: Any) -> Any:
        """What the gateway's webhook route passes on for one notification of the fake's."""
        query, headers, _ = self.fake.notification(payment_id, **kw)
        return await self.delivered(query, headers)

    async def delivered(self, query: dict[str, str], headers: dict[str, str]) -> Any:
        return await self.call(
            "payments.notify", "provider", provider="mercadopago", signature=headers.get("x-signature"),
            request_id=headers.get("x-request-id"), data_id=query.get("data.id"), type=query.get("type"),
        )  # fmt: skip


@pytest.fixture
async def mp(clean_nats: str, database_url: str) -> AsyncIterator[Harness]:
    fake = FakeMercadoPago()
    nc = await nats.connect(clean_nats)
    await broker.ensure_topology(
        nc.jetstream(), CommonSettings(nats_url=clean_nats, database_url=database_url)
    )
    clock = Clock()
    settings = Settings(
        nats_url=clean_nats, database_url=database_url, billing_provider="mercadopago",
        billing_mercadopago_access_token=TOKEN, billing_mercadopago_api_url=fake.url,
        billing_webhook_secret=SECRET,
    )  # type: ignore[arg-type]  # fmt: skip
    billing = create_app(settings, clock, background=False)
    await billing.start()
    h = Harness(nc, clock, billing, settings, fake)
    try:
        yield h
    finally:
        await h.billing.stop()
        await nc.close()
        fake.close()


def posts(fake: FakeMercadoPago) -> list[dict[str, str]]:
    return [headers for method, path, headers in fake.requests if method == "POST"]


async def test_checkout_issues_one_pix_charge_through_the_sdk(mp: Harness) -> None:
    first = await mp.call("billing.checkout")
    charge = first["charge"]
    assert first["created"] is True
    assert (charge["status"], charge["amount_cents"], charge["currency"], charge["provider"]) == (
        "pending", 4990, "BRL", "mercadopago",
    )  # fmt: skip
    payment = mp.fake.payments[int(charge["payment_id"])]
    assert payment["transaction_amount"] == 49.9 and payment["payment_method_id"] == "pix"
    assert payment["external_reference"] == charge["id"]
    assert charge["qr_code"] == payment["point_of_interaction"]["transaction_data"]["qr_code"]
    assert pix.parse(charge["qr_code"])["54"] == "49.90"
    key = posts(mp.fake)[0]["x-idempotency-key"]
    assert key.startswith("zgc-") and len(key) <= 64
    # A second checkout while the charge is open returns it: no second payment.
    again = await mp.call("billing.checkout")
    assert again == {"created": False, "charge": charge}
    assert len(mp.fake.payments) == 1
    listed = await mp.call("charges.list")
    assert [c["id"] for c in listed["items"]] == [charge["id"]]
    assert (await mp.error("charges.get", "t2", charge_id=charge["id"])).status == 404


async def test_a_retried_creation_never_charges_twice(mp: Harness) -> None:
    # Mercado Pago made the payment but its answer was lost: the retry (same key) finds it.
    mp.fake.faults.lose_answers = 1
    charge = (await mp.call("billing.checkout"))["charge"]
    assert charge["status"] == "pending"
    keys = [h["x-idempotency-key"] for h in posts(mp.fake)]
    assert len(keys) == 2 and keys[0] == keys[1]
    assert len(mp.fake.payments) == 1
    # Down for longer than billing retries: 503; the next checkout asks again with the same key.
    mp.fake.faults.answer = [503, 503, 503]
    error = await mp.error("billing.checkout", "t2")
    assert (error.status, error.code) == (503, "unavailable")
    issued = (await mp.call("billing.checkout", "t2"))["charge"]
    t2_keys = {h["x-idempotency-key"] for h in posts(mp.fake)} - set(keys)
    assert len(t2_keys) == 1 and issued["status"] == "pending"
    assert len(mp.fake.payments) == 2


async def test_a_payment_notified_three_times_activates_once(mp: Harness) -> None:
    await mp.call("subscriptions.ensure")
    mp.clock.now = T0 + timedelta(days=12)  # trial over, past due, then suspended
    assert (await mp.call("subscriptions.get"))["status"] == "suspended"
    charge = (await mp.call("billing.checkout"))["charge"]
    assert (await mp.notify(charge["payment_id"]))["outcome"] == "unchanged"  # still pending
    mp.fake.approve(charge["payment_id"])
    query, headers, _ = mp.fake.notification(charge["payment_id"])
    outcomes = [(await mp.delivered(query, headers))["outcome"] for _ in range(3)]
    assert outcomes == ["paid", "duplicate", "duplicate"]
    assert (await mp.notify(charge["payment_id"]))["outcome"] == "unchanged"  # another delivery, later
    sub = await mp.call("subscriptions.get")
    assert sub["status"] == "active"
    assert datetime.fromisoformat(sub["period_start"]) == mp.clock.now
    assert datetime.fromisoformat(sub["period_end"]) == mp.clock.now + timedelta(days=30)
    assert [h["change"] for h in sub["history"]].count("payment_received") == 1
    paid = await mp.call("charges.get", charge_id=charge["id"])
    assert paid["status"] == "paid" and paid["paid_at"] is not None
    await mp.billing.publish_pass()
    kv = await mp.nc.jetstream().key_value(subjects.ENTITLEMENTS_BUCKET)
    entry = await kv.get(subjects.entitlement_key("t1"))
    assert entry.value is not None and b'"status":"active"' in entry.value
    # The next period's checkout is a new charge (the period it follows moved on).
    nxt = await mp.call("billing.checkout")
    assert nxt["created"] is True and nxt["charge"]["id"] != charge["id"]


@pytest.mark.parametrize(
    "forgery",
    ["unsigned", "wrong secret", "replayed an hour later", "another payment's signature", "malformed"],
)
async def test_a_forged_or_replayed_notification_is_refused_and_changes_nothing(
    mp: Harness, forgery: str
) -> None:
    charge = (await mp.call("billing.checkout"))["charge"]
    mp.fake.approve(charge["payment_id"])
    query, headers, _ = mp.fake.notification(charge["payment_id"])
    if forgery == "unsigned":
        headers.pop("x-signature")
    elif forgery == "wrong secret":
        query, headers, _ = mp.fake.notification(charge["payment_id"], secret="not-the-secret")
    elif forgery == "replayed an hour later":
        query, headers, _ = mp.fake.notification(charge["payment_id"], ts=int(time.time()) - 3600)
    elif forgery == "another payment's signature":
        query = {**query, "data.id": "1"}
    else:
        headers["x-signature"] = "v1=deadbeef"
    error = await mp.error(
        "payments.notify", "provider", provider="mercadopago", signature=headers.get("x-signature"),
        request_id=headers.get("x-request-id"), data_id=query.get("data.id"), type="payment",
    )  # fmt: skip
    assert (error.status, error.code) == (401, "invalid_signature")
    assert (await mp.call("subscriptions.get"))["status"] == "trialing"
    assert (await mp.call("charges.get", charge_id=charge["id"]))["status"] == "pending"
    # A notification for another provider's route is not this deployment's.
    assert (await mp.error("payments.notify", "provider", provider="simulator")).status == 404


async def test_a_payment_that_does_not_match_its_charge_changes_nothing(mp: Harness) -> None:
    charge = (await mp.call("billing.checkout"))["charge"]
    mp.fake.approve(charge["payment_id"], amount=1.0)
    assert (await mp.notify(charge["payment_id"]))["outcome"] == "mismatch:amount"
    assert (await mp.call("charges.get", charge_id=charge["id"]))["status"] == "pending"
    assert (await mp.call("subscriptions.get"))["status"] == "trialing"
    # A payment nobody issued through billing (the notification is authentic, the payment unknown).
    assert (await mp.notify("999"))["outcome"] == "unknown_payment"


async def test_a_provider_down_while_reading_back_asks_for_a_retry(mp: Harness) -> None:
    charge = (await mp.call("billing.checkout"))["charge"]
    mp.fake.approve(charge["payment_id"])
    mp.fake.faults.answer = [500, 500, 500]
    query, headers, _ = mp.fake.notification(charge["payment_id"])
    with pytest.raises(rpc.RpcError) as caught:
        await mp.delivered(query, headers)
    assert caught.value.status == 503
    assert (await mp.call("subscriptions.get"))["status"] == "trialing"
    assert (await mp.delivered(query, headers))["outcome"] == "paid"  # the provider's retry


async def test_a_slow_provider_holds_no_other_operation_up(mp: Harness) -> None:
    mp.fake.faults.delay = 2.0
    checkout = asyncio.create_task(mp.call("billing.checkout"))
    await asyncio.sleep(0.3)
    started = time.monotonic()
    plans = await mp.call("plans.list", "admin")
    assert plans["items"] and not checkout.done()
    quick = time.monotonic() - started
    assert (await checkout)["charge"]["status"] == "pending"
    assert quick < 1.5, f"plans.list waited {quick:.2f} s behind a slow checkout"


async def test_checkout_refuses_free_plans_and_unknown_plans(mp: Harness) -> None:
    free = await mp.call("plans.create", "admin", name="free", price_cents=0)
    assert (await mp.error("billing.checkout", plan_id=free["id"])).status == 409
    assert (await mp.error("billing.checkout", plan_id="01J000000000000000000000ZZ")).status == 422
    pro = await mp.call("plans.create", "admin", name="pro", price_cents=19990, sessions_limit=10)
    moved = await mp.call("billing.checkout", plan_id=pro["id"])
    assert (moved["charge"]["amount_cents"], moved["charge"]["plan_id"]) == (19990, pro["id"])
    mp.fake.approve(moved["charge"]["payment_id"])
    assert (await mp.notify(moved["charge"]["payment_id"]))["outcome"] == "paid"
    sub = await mp.call("subscriptions.get")
    assert (sub["status"], sub["plan"]["name"]) == ("active", "pro")


async def alert_kinds(nc: NATS, tenant: str = "t1") -> list[str]:
    """The billing alerts on the tenant's stream, in order."""
    sub = await nc.jetstream().subscribe(
        subjects.tenant_event(tenant, "billing.alert"), ordered_consumer=True
    )
    kinds = []
    try:
        while True:
            try:
                msg = await sub.next_msg(timeout=0.5)
            except nats.errors.TimeoutError:
                return kinds
            event = json.loads(msg.data)
            assert event["session"] == "_tenant" and event["tenant"] == tenant and event["message"]
            kinds.append(event["kind"])
    finally:
        await sub.unsubscribe()


async def passes(mp: Harness, at: timedelta) -> list[str]:
    mp.clock.now = T0 + at
    await mp.billing.lifecycle_pass()
    await mp.billing.publish_pass()
    return await alert_kinds(mp.nc)


async def test_alerts_reach_the_tenants_stream_once_each(mp: Harness) -> None:
    await mp.call("subscriptions.ensure")
    assert await passes(mp, timedelta(days=1)) == []
    assert await passes(mp, timedelta(days=4, hours=1)) == ["trial_ending_3d"]
    assert await passes(mp, timedelta(days=4, hours=2)) == ["trial_ending_3d"]  # once
    assert await passes(mp, timedelta(days=6, hours=1)) == ["trial_ending_3d", "trial_ending_1d"]
    assert (await passes(mp, timedelta(days=7, hours=1)))[2:] == ["past_due"]
    assert (await passes(mp, timedelta(days=10, hours=1)))[3:] == ["suspended"]
    charge = (await mp.call("billing.checkout"))["charge"]
    assert (await passes(mp, timedelta(days=10, hours=1)))[4:] == ["charge_issued"]
    mp.fake.approve(charge["payment_id"])
    assert (await mp.notify(charge["payment_id"]))["outcome"] == "paid"
    assert (await passes(mp, timedelta(days=10, hours=2)))[5:] == ["payment_received"]
    # Other tenants' streams have none of it.
    assert await alert_kinds(mp.nc, "t2") == []


async def test_alerts_at_80_and_100_percent_of_the_periods_messages(mp: Harness) -> None:
    plan = await mp.call("plans.create", "admin", name="five", price_cents=100, messages_limit=5)
    await mp.call("subscriptions.assign", plan_id=plan["id"])
    for n in range(4):
        await mp.nc.jetstream().publish(
            subjects.event("t1", "s1", "message.status"),
            encode(MessageStatusChanged(tenant="t1", session="s1", message_id=f"01J0000000000000000000000{n}",
                                        status=MessageState.SENT)),
        )  # fmt: skip

    async def used() -> int:
        return int((await mp.call("subscriptions.get"))["usage"]["messages"])

    for _ in range(100):
        if await used() == 4:
            break
        await asyncio.sleep(0.1)
    assert await passes(mp, timedelta(hours=1)) == ["messages_80pct"]
    await mp.nc.jetstream().publish(
        subjects.event("t1", "s1", "message.status"),
        encode(MessageStatusChanged(tenant="t1", session="s1", message_id="01J00000000000000000000009",
                                    status=MessageState.SENT)),
    )  # fmt: skip
    for _ in range(100):
        if await used() == 5:
            break
        await asyncio.sleep(0.1)
    assert await passes(mp, timedelta(hours=2)) == ["messages_80pct", "messages_100pct"]
