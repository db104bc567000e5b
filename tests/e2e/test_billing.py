"""Billing end to end on the dev stack: plans by the admin, a tenant's trial and usage through the
gateway's facade, its clock moved by a file."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import png as pypng
import pytest
import zxingcpp
from helpers import System, pair, start_system, tenant, wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[System, Path]]:
    data_dir = tmp_path_factory.mktemp("billing") / ".zapgate"
    clock = data_dir.parent / "clock"
    clock.write_text("0")
    system = start_system(
        data_dir,
        {"ZAPGATE_SIM_SPEED": "20", "ZAPGATE_PARTITIONS": "8", "ZAPGATE_BILLING_CLOCK_FILE": str(clock),
         "ZAPGATE_BILLING_TICK": "0.5"},
    )  # fmt: skip
    yield system, clock
    system.stop()


def test_a_new_tenant_trials_the_default_plan_and_its_sends_are_metered(stack: tuple[System, Path]) -> None:
    system, clock = stack
    http = tenant(system, "trial")
    billing = http.get("/api/v1/billing")
    assert billing.status_code == 200, billing.text
    body = billing.json()
    assert body["status"] == "trialing" and body["plan"]["is_default"] and body["usage"]["sessions"] == 0
    pair(http, "main", "5511976000001")
    for n in range(3):
        sent = http.post(
            "/api/v1/sessions/main/messages", json={"type": "text", "to": "5511988776600", "text": f"m{n}"}
        )
        assert sent.status_code == 202, sent.text
    wait_until(
        lambda: http.get("/api/v1/billing").json()["usage"]["messages"] == 3, 30, "three messages metered"
    )
    assert http.get("/api/v1/billing").json()["usage"]["sessions"] == 1
    # Eight days later the unpaid trial is past due; three more and it is suspended.
    clock.write_text(str(8 * 86400))
    wait_until(lambda: http.get("/api/v1/billing").json()["status"] == "past_due", 20, "past due")
    clock.write_text(str(11 * 86400))
    wait_until(lambda: http.get("/api/v1/billing").json()["status"] == "suspended", 20, "suspended")

    # The lifecycle pass records what the answers already compute from the time.
    def changes() -> list[str]:
        return [h["change"] for h in http.get("/api/v1/billing").json()["history"]]

    wait_until(lambda: "became_suspended" in changes(), 20, "the suspension in the history")
    assert changes()[-1] == "trial_started" and "became_past_due" in changes()
    clock.write_text("0")


def test_the_admin_manages_plans_and_a_tenant_may_not(stack: tuple[System, Path]) -> None:
    system, _ = stack
    http = tenant(system, "plans")
    with system.client(system.admin_key) as admin:
        created = admin.post(
            "/api/v1/plans",
            json={"name": "pro", "price_cents": 9990, "sessions_limit": 10, "messages_limit": 50000},
        )
        assert created.status_code == 201, created.text
        plan = created.json()
        assert admin.post("/api/v1/plans", json={"name": "pro", "price_cents": 1}).status_code == 409
        assert admin.post("/api/v1/plans", json={"name": "x", "price_cents": 9.9}).status_code == 422
        me = http.get("/api/v1/me").json()
        moved = admin.post(f"/api/v1/tenants/{me['id']}/subscription/plan", json={"plan_id": plan["id"]})
        assert moved.status_code == 200, moved.text
        assert moved.json()["plan"]["name"] == "pro"
        assert admin.delete(f"/api/v1/plans/{plan['id']}").status_code == 409
        assert admin.get("/api/v1/tenants/01ARZ3NDEKTSV4RRFFQ69G5FAV/subscription").status_code == 404
    assert http.get("/api/v1/billing").json()["usage"]["sessions_limit"] == 10
    assert http.get("/api/v1/plans").status_code == 403
    assert http.post("/api/v1/plans", json={"name": "free", "price_cents": 0}).status_code == 403


def test_limits_are_enforced_from_the_entitlements_and_suspension_refuses_with_402(
    stack: tuple[System, Path],
) -> None:
    system, clock = stack
    http = tenant(system, "limited")
    me = http.get("/api/v1/me").json()
    with system.client(system.admin_key) as admin:
        plan = admin.post(
            "/api/v1/plans",
            json={"name": "tiny", "price_cents": 990, "sessions_limit": 1, "messages_limit": 2},
        ).json()
        assert (
            admin.post(
                f"/api/v1/tenants/{me['id']}/subscription/plan", json={"plan_id": plan["id"]}
            ).status_code
            == 200
        )
    pair(http, "one", "5511976000002")

    def refused_session() -> bool:
        # Until the gateway has the new entitlements a creation passes: undo it and ask again.
        created = http.post("/api/v1/sessions", json={"name": "two"})
        if created.status_code == 201:
            assert http.delete("/api/v1/sessions/two").status_code == 204
        return created.status_code == 403

    wait_until(refused_session, 20, "the session limit to reach the gateway")
    body = http.post("/api/v1/sessions", json={"name": "two"}).json()["error"]
    assert body["code"] == "plan_limit" and body["details"] == {"limit": 1, "count": 1}
    for n in range(2):
        sent = http.post(
            "/api/v1/sessions/one/messages", json={"type": "text", "to": "5511988776601", "text": f"q{n}"}
        )
        assert sent.status_code == 202, sent.text
    over = http.post(
        "/api/v1/sessions/one/messages", json={"type": "text", "to": "5511988776601", "text": "q2"}
    )
    assert over.status_code == 429, over.text
    assert over.json()["error"]["code"] == "quota_exceeded" and int(over.headers["Retry-After"]) > 0
    # The alerts of both limits are on the tenant's stream, once each (sessions counted by the gateway).
    wanted = {"sessions_80pct", "sessions_100pct", "messages_80pct", "messages_100pct"}
    wait_until(lambda: wanted <= set(alert_kinds(system, me["id"])), 30, "the limit alerts")
    kinds = alert_kinds(system, me["id"])
    assert all(kinds.count(k) == 1 for k in wanted), kinds
    # Suspended: sends and starts are refused with 402; the connected session keeps receiving.
    clock.write_text(str(20 * 86400))
    wait_until(
        lambda: (
            http.post(
                "/api/v1/sessions/one/messages", json={"type": "text", "to": "5511988776601", "text": "x"}
            ).status_code
            == 402
        ),
        20,
        "the suspension to reach the gateway",
    )
    assert http.post("/api/v1/sessions/one/restart").json()["error"]["code"] == "payment_required"
    assert (
        http.post(
            "/api/v1/sessions/one/simulator/inbound", json={"from": "5511988776601", "text": "oi"}
        ).status_code
        == 202
    )
    wait_until(
        lambda: any(
            m["content"].get("text") == "oi"
            for m in http.get("/api/v1/sessions/one/messages?direction=in").json()["items"]
        ),
        20,
        "the inbound message",
    )
    clock.write_text("0")


def test_readme_billing_walkthrough_works_as_written(stack: tuple[System, Path]) -> None:
    system, _ = stack
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    match = re.search(r"<!-- walkthrough-billing -->\s*```bash\n(.*?)```", readme, re.S)
    assert match, "README has no walkthrough-billing block"
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", match.group(1)],
        cwd=system.data_dir.parent,
        env={**os.environ, "ZG": system.url, "ZAPGATE_ADMIN_KEY": system.admin_key},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "trialing" and lines[1] == "solo"
    assert lines[2] == "first session: 201"
    refused = json.loads(lines[3])["error"]
    assert refused["code"] == "plan_limit" and refused["details"] == {"limit": 1, "count": 1}
    assert lines[4] == "2990"
    code = lines[5]
    assert code.startswith("000201") and "br.gov.bcb.pix" in code and "540529.90" in code
    assert json.loads(lines[6])["status"] == "approved"
    assert lines[7] == "paid"
    assert "'change': 'payment_received'" in lines[8] and "'status': 'active'" in lines[8]
    png = (system.data_dir.parent / "pix.png").read_bytes()
    assert png[:4] == b"\x89PNG"
    assert decode_png(png) == [code]


def decode_png(data: bytes) -> list[str]:
    """What a QR reader finds in a PNG."""
    _, _, rows, info = pypng.Reader(bytes=data).asDirect()
    pixels = np.vstack([np.array(row, dtype=np.uint8) for row in rows])
    pixels = (pixels * (255 // ((1 << info["bitdepth"]) - 1))).astype(np.uint8)
    return [b.text for b in zxingcpp.read_barcodes(pixels)]


def alert_kinds(system: System, tenant_id: str) -> list[str]:
    """The kinds of the billing alerts on a tenant's stream, in order."""
    import asyncio

    import nats

    from zapgate.common import subjects

    async def read() -> list[str]:
        nc = await nats.connect(system.info["nats_url"])
        try:
            sub = await nc.jetstream().subscribe(
                subjects.tenant_event(tenant_id, "billing.alert"), ordered_consumer=True
            )
            kinds = []
            while True:
                try:
                    msg = await sub.next_msg(timeout=0.5)
                except nats.errors.TimeoutError:
                    return kinds
                kinds.append(json.loads(msg.data)["kind"])
        finally:
            await nc.close()

    return asyncio.run(read())
