"""Paying by PIX through Mercado Pago, end to end: the dev stack's billing on the official SDK
against the fake Mercado Pago server (tests/fakes/mercadopago.py), whose signed notifications
come in over HTTP through the gateway's public webhook route."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes.mercadopago import SECRET, TOKEN, FakeMercadoPago
from helpers import System, pair, start_system, tenant, wait_until
from test_websocket import frames, ws_url
from websockets.sync.client import connect

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[System, Path, FakeMercadoPago]]:
    data_dir = tmp_path_factory.mktemp("payments") / ".zapgate"
    clock = data_dir.parent / "clock"
    clock.write_text("0")
    fake = FakeMercadoPago()
    system = start_system(
        data_dir,
        {"ZAPGATE_SIM_SPEED": "20", "ZAPGATE_PARTITIONS": "8", "ZAPGATE_BILLING_CLOCK_FILE": str(clock),
         "ZAPGATE_BILLING_TICK": "0.5", "ZAPGATE_BILLING_PROVIDER": "mercadopago",
         "ZAPGATE_BILLING_MERCADOPAGO_ACCESS_TOKEN": TOKEN, "ZAPGATE_BILLING_MERCADOPAGO_API_URL": fake.url,
         "ZAPGATE_BILLING_WEBHOOK_SECRET": SECRET},
    )  # fmt: skip
    yield system, clock, fake
    system.stop()
    fake.close()


def send(http: object, text: str) -> int:
    response = http.post(  # type: ignore[attr-defined]
        "/api/v1/sessions/main/messages", json={"type": "text", "to": "5511988776655", "text": text}
    )
    return int(response.status_code)


def test_suspended_then_paid_through_mercado_pago_and_sending_again(
    stack: tuple[System, Path, FakeMercadoPago],
) -> None:
    system, clock, fake = stack
    webhook = f"{system.url}/api/v1/billing/webhooks/mercadopago"
    http = tenant(system, "mp-shop")
    pair(http, "main", "5511976000031")
    assert send(http, "before") == 202
    clock.write_text(str(20 * 86400))  # the trial ended 13 days ago: suspended
    wait_until(lambda: send(http, "suspended?") == 402, 30, "the suspension to reach the gateway")

    checkout = http.post("/api/v1/billing/checkout")
    assert checkout.status_code == 201, checkout.text
    charge = checkout.json()["charge"]
    assert charge["provider"] == "mercadopago" and charge["status"] == "pending"
    assert charge["qr_png_base64"] and charge["ticket_url"].startswith("https://")
    again = http.post("/api/v1/billing/checkout")
    assert again.status_code == 200 and again.json()["charge"]["id"] == charge["id"]
    assert len(fake.payments) == 1

    # Forged, unsigned and stale notifications are refused with 401 and change nothing.
    fake.approve(charge["payment_id"])
    forged = fake.notify(webhook, charge["payment_id"], secret="guessed")
    stale = fake.notify(webhook, charge["payment_id"], ts=1)
    query, headers, body = fake.notification(charge["payment_id"])
    unsigned = http.post(webhook, params=query, json=body, headers={"x-request-id": headers["x-request-id"]})
    for refused in (*forged, *stale, unsigned):
        assert refused.status_code == 401, refused.text
        assert refused.json()["error"]["code"] == "invalid_signature"
    assert http.get("/api/v1/billing").json()["status"] == "suspended"
    assert "refused a mercadopago notification (SignatureMismatch)" in system.log()

    # Mercado Pago delivers the real one three times: 200 each, activated once; the tenant's
    # WebSocket shows the alerts (the charge issued, the payment received), the other's nothing.
    other = tenant(system, "mp-other")
    with (
        connect(
            ws_url(system, "since=0"), additional_headers={"X-Api-Key": http.headers["X-Api-Key"]}
        ) as mine,
        connect(ws_url(system), additional_headers={"X-Api-Key": other.headers["X-Api-Key"]}) as theirs,
    ):
        answers = fake.notify(webhook, charge["payment_id"], times=3)
        got = frames(mine, lambda fs: any(f["data"].get("kind") == "payment_received" for f in fs), 30)
        alerts = [f for f in got if f["type"] == "billing.alert"]
        assert {"suspended", "charge_issued", "payment_received"} <= {f["data"]["kind"] for f in alerts}
        assert all(f["session"] == "_tenant" for f in alerts)
        assert [f["data"]["kind"] for f in alerts].count("payment_received") == 1
        assert (
            "R$ 49,90"
            in next(f for f in alerts if f["data"]["kind"] == "payment_received")["data"]["message"]
        )
        me = http.get("/api/v1/me").json()["id"]
        with pytest.raises(TimeoutError):
            while True:
                assert json.loads(theirs.recv(timeout=1))["tenant"] != me, (
                    "another tenant got a frame of mine"
                )
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [a.json()["outcome"] for a in answers] == ["paid", "duplicate", "duplicate"]
    billing = http.get("/api/v1/billing").json()
    assert billing["status"] == "active"
    assert [h["change"] for h in billing["history"]].count("payment_received") == 1
    assert http.get(f"/api/v1/billing/charges/{charge['id']}").json()["status"] == "paid"
    wait_until(lambda: send(http, "paid, sending again") == 202, 30, "sends to work again")
    clock.write_text("0")


def test_the_webhook_route_is_documented_and_other_tenants_see_no_charge(
    stack: tuple[System, Path, FakeMercadoPago],
) -> None:
    system, _, _ = stack
    a, b = tenant(system, "mp-a"), tenant(system, "mp-b")
    charge = a.post("/api/v1/billing/checkout").json()["charge"]
    assert b.get(f"/api/v1/billing/charges/{charge['id']}").status_code == 404
    assert b.get(f"/api/v1/billing/charges/{charge['id']}/qr").status_code == 404
    assert b.get("/api/v1/billing/charges").json()["items"] == []
    # The simulator's route is not this deployment's provider.
    assert a.post(f"/api/v1/billing/charges/{charge['id']}/simulate-payment").status_code == 404
    assert a.post(f"{system.url}/api/v1/billing/webhooks/simulator").status_code == 404
    assert a.post(f"{system.url}/api/v1/billing/webhooks/paypal").status_code in (404, 422)
    paths = a.get("/openapi.json").json()["paths"]
    assert "/api/v1/billing/webhooks/{provider}" in paths
    assert paths["/api/v1/billing/webhooks/{provider}"]["post"]["security"] == [{}]
