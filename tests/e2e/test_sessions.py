"""Sessions end to end: pairing, isolation, QR images, failover after kill -9, full restart."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import nats
import numpy as np
import png
import pytest
import zxingcpp
from helpers import (
    System,
    deliveries,
    last_seq,
    pair,
    replaced_connections,
    session,
    start_system,
    stored_events,
    tenant,
    wait_event,
    wait_status,
    wait_until,
)

from zapgate.common.messages import PAIRING_CODE_PATTERN

pytestmark = pytest.mark.e2e

TTL = 3


def stack(data_dir: Path, nats_url: str, database_url: str, **extra: str) -> System:
    return start_system(
        data_dir,
        {
            "ZAPGATE_NATS_URL": nats_url,
            "ZAPGATE_DATABASE_URL": database_url,
            "ZAPGATE_LEASE_TTL": str(TTL),
            "ZAPGATE_SIM_SPEED": "20",
            "ZAPGATE_PARTITIONS": "16",
            "ZAPGATE_SECRET_KEY": "e2e-secret-key-0123456789-abcdefghij",
            **extra,
        },
    )


@pytest.fixture
def system(clean_nats: str, empty_database_url: str, tmp_path: Path) -> Iterator[System]:
    s = stack(tmp_path / ".zapgate", clean_nats, empty_database_url)
    yield s
    s.stop()


def decode_png(data: bytes) -> list[str]:
    _, _, rows, info = png.Reader(bytes=data).asDirect()
    pixels = np.vstack([np.array(row, dtype=np.uint8) for row in rows])
    pixels = (pixels * (255 // ((1 << info["bitdepth"]) - 1))).astype(np.uint8)
    return [b.text for b in zxingcpp.read_barcodes(pixels)]


async def qr_events(nats_url: str, tenant_id: str, name: str) -> int:
    nc = await nats.connect(nats_url)
    try:
        info = await nc.jetstream().stream_info(
            "ZG_EVENTS", subjects_filter=f"zg.evt.{tenant_id}.{name}.session.qr"
        )
        return sum((info.state.subjects or {}).values())
    finally:
        await nc.close()


def test_two_tenants_pair_sessions_with_their_own_qr_codes(system: System) -> None:
    acme, globex = tenant(system, "acme"), tenant(system, "globex")
    for http in (acme, globex):
        assert http.post("/api/v1/sessions", json={"name": "main"}).status_code == 201
        assert http.post("/api/v1/sessions/main/start").status_code == 202
    codes = {}
    for label, http in (("acme", acme), ("globex", globex)):
        wait_status(http, "main", "SCAN_QR")
        raw = http.get("/api/v1/sessions/main/qr", params={"format": "raw"}).json()
        assert raw["value"].startswith("https://wa.me/settings/linked_devices#2@")
        assert len(raw["value"].split("#")[1].split(",")) == 5
        image = http.get("/api/v1/sessions/main/qr")
        assert image.headers["content-type"] == "image/png"
        assert decode_png(image.content) == [raw["value"]]
        data_url = http.get("/api/v1/sessions/main/qr", params={"format": "base64"}).json()["data_url"]
        assert data_url.startswith("data:image/png;base64,")
        assert http.get("/api/v1/sessions/main/qr", params={"format": "svg"}).text.startswith("<svg")
        codes[label] = raw["value"]
    assert codes["acme"] != codes["globex"]
    acme.post("/api/v1/sessions/main/simulator/scan", json={"phone": "5511900000001"})
    globex.post("/api/v1/sessions/main/simulator/scan", json={"phone": "5511900000002"})
    assert wait_status(acme, "main", "CONNECTED")["phone"] == "5511900000001"
    assert wait_status(globex, "main", "CONNECTED")["phone"] == "5511900000002"
    # Each tenant sees only its own session of that name.
    assert [s["phone"] for s in acme.get("/api/v1/sessions").json()] == ["5511900000001"]
    assert [s["phone"] for s in globex.get("/api/v1/sessions").json()] == ["5511900000002"]
    assert acme.get("/api/v1/sessions/other").status_code == 404


def test_session_errors_are_clear(system: System) -> None:
    http = tenant(system, "errors")
    assert http.post("/api/v1/sessions", json={"name": "Bad Name"}).status_code == 422
    assert http.post("/api/v1/sessions", json={"name": "ok", "engine": "baileys"}).status_code == 422
    assert http.post("/api/v1/sessions", json={"name": "ok"}).status_code == 201
    assert http.post("/api/v1/sessions", json={"name": "ok"}).json()["error"]["code"] == "conflict"
    qr = http.get("/api/v1/sessions/ok/qr")
    assert qr.status_code == 409 and "not waiting" in qr.json()["error"]["message"]
    assert http.post("/api/v1/sessions/ok/simulator/scan", json={"phone": "5511900000009"}).status_code == 409
    for phone in ("0551199999999", "12345", "+5511999999999", "55-11"):
        assert http.post("/api/v1/sessions/ok/pairing-code", json={"phone": phone}).status_code == 422, phone
    stopped = http.post("/api/v1/sessions/ok/pairing-code", json={"phone": "5511999999999"})
    assert stopped.status_code == 409 and "not waiting to be linked" in stopped.json()["error"]["message"]
    assert http.post("/api/v1/sessions/nope/start").status_code == 404
    with system.client(system.admin_key) as admin:
        assert admin.get("/api/v1/sessions").status_code == 403
    assert http.delete("/api/v1/sessions/ok").status_code == 204
    assert http.get("/api/v1/sessions/ok").status_code == 404


def test_a_pairing_code_typed_on_the_phone_links_the_device_and_survives_a_restart(
    system: System, clean_nats: str
) -> None:
    # Broken on purpose (the code never checked or never linking, as before), the session never
    # connects; a code accepted from the wrong phone or a wrong code fails the rejected checks.
    http = tenant(system, "pairing")
    me = http.get("/api/v1/me").json()["id"]
    assert http.post("/api/v1/sessions", json={"name": "main"}).status_code == 201
    assert http.post("/api/v1/sessions/main/start").status_code == 202
    wait_status(http, "main", "SCAN_QR")
    phone = "5511900000031"
    mark = last_seq(clean_nats)
    assert http.post("/api/v1/sessions/main/pairing-code", json={"phone": phone}).status_code == 202
    code = wait_event(clean_nats, me, "main", "session.pairing_code", lambda e: True, mark)["code"]
    assert re.fullmatch(PAIRING_CODE_PATTERN, code), code
    wrong = "AAAA-AAAA" if code != "AAAA-AAAA" else "BBBB-BBBB"
    for who, typed in ((phone, wrong), ("5511900000099", code)):
        mark = last_seq(clean_nats)
        entered = http.post("/api/v1/sessions/main/simulator/enter-code", json={"phone": who, "code": typed})
        assert entered.status_code == 202, entered.text
        rejected = wait_event(clean_nats, me, "main", "command.rejected", lambda e: True, mark)
        assert rejected["command_id"] == entered.json()["command_id"]
        assert session(http, "main")["status"] == "SCAN_QR"
    assert (
        http.post(
            "/api/v1/sessions/main/simulator/enter-code", json={"phone": phone, "code": "bad"}
        ).status_code
        == 422
    )
    assert (
        http.post(
            "/api/v1/sessions/main/simulator/enter-code", json={"phone": phone, "code": code}
        ).status_code
        == 202
    )
    assert wait_status(http, "main", "CONNECTED")["phone"] == phone
    # Linked for good: a restart connects again with the stored credentials, no QR code.
    qr_before = asyncio.run(qr_events(clean_nats, me, "main"))
    mark = last_seq(clean_nats)
    assert http.post("/api/v1/sessions/main/restart").status_code == 202
    again = wait_event(clean_nats, me, "main", "session.status", lambda e: e["status"] == "CONNECTED", mark)
    assert again["phone"] == phone
    assert asyncio.run(qr_events(clean_nats, me, "main")) == qr_before


def test_lifecycle_verbs_do_what_they_say(system: System, clean_nats: str) -> None:
    # Each step waits for the events the verb must cause, after a mark in the stream, so a 202
    # that did nothing (broken on purpose: the worker ignoring the verb) fails the wait.
    http = tenant(system, "lifecycle")
    me = http.get("/api/v1/me").json()["id"]

    def after(mark: int, name: str, status: str, within: float = 20) -> dict:
        return wait_event(
            clean_nats, me, name, "session.status", lambda e: e["status"] == status, mark, within
        )

    # QR timeout: six codes, then FAILED qr_timeout (160 s of codes at speed 20: 8 s).
    assert http.post("/api/v1/sessions", json={"name": "unscanned"}).status_code == 201
    mark = last_seq(clean_nats)
    assert http.post("/api/v1/sessions/unscanned/start").status_code == 202
    assert after(mark, "unscanned", "FAILED", 30)["reason"] == "qr_timeout"
    assert asyncio.run(qr_events(clean_nats, me, "unscanned")) == 6
    # Restart: it really disconnects and connects again, with its credentials.
    pair(http, "main", "5511900000041")
    mark = last_seq(clean_nats)
    assert http.post("/api/v1/sessions/main/restart").status_code == 202
    after(mark, "main", "STOPPED")
    assert after(mark, "main", "CONNECTED")["phone"] == "5511900000041"
    # The earlier system's /reconnect is a restart too.
    mark = last_seq(clean_nats)
    assert http.post("/reconnect/main").json()["success"] is True
    after(mark, "main", "STOPPED")
    after(mark, "main", "CONNECTED")
    # Logout: LOGGED_OUT, and the credentials are gone: the next start needs a QR code.
    mark = last_seq(clean_nats)
    assert http.post("/api/v1/sessions/main/logout").status_code == 202
    after(mark, "main", "LOGGED_OUT")
    mark = last_seq(clean_nats)
    assert http.post("/api/v1/sessions/main/start").status_code == 202
    assert after(mark, "main", "SCAN_QR")["phone"] is None
    # DELETE logs out and forgets: a session made again under that name starts from a QR code.
    scan = http.post("/api/v1/sessions/main/simulator/scan", json={"phone": "5511900000041"})
    assert scan.status_code == 202
    wait_status(http, "main", "CONNECTED")
    mark = last_seq(clean_nats)
    assert http.delete("/api/v1/sessions/main").status_code == 204
    after(mark, "main", "LOGGED_OUT")
    assert http.get("/api/v1/sessions/main").status_code == 404
    assert http.post("/api/v1/sessions", json={"name": "main"}).status_code == 201
    mark = last_seq(clean_nats)
    assert http.post("/api/v1/sessions/main/start").status_code == 202
    after(mark, "main", "SCAN_QR")


def test_kill_9_moves_a_connected_session_without_a_new_qr(system: System, clean_nats: str) -> None:
    http = tenant(system, "failover")
    me = http.get("/api/v1/me").json()
    before = pair(http, "main", "5511900000003")
    qr_before = asyncio.run(qr_events(clean_nats, me["id"], "main"))
    victim = int(before["worker"].rsplit(":", 1)[1])
    os.kill(victim, signal.SIGKILL)
    wait_until(
        lambda: (s := session(http, "main"))["status"] == "CONNECTED" and s["worker"] != before["worker"],
        TTL + 10,
        "the session to be CONNECTED on another worker",
    )
    after = session(http, "main")
    assert after["phone"] == "5511900000003"
    assert asyncio.run(qr_events(clean_nats, me["id"], "main")) == qr_before  # no new QR code
    assert asyncio.run(replaced_connections(clean_nats)) == 0  # never connected twice
    assert asyncio.run(last_status(clean_nats, me["id"], "main"))["previous"] == "RECONNECTING"


def test_a_frozen_worker_that_resumes_after_a_peer_took_over_does_nothing_as_the_owner(
    system: System, clean_nats: str
) -> None:
    # Broken on purpose (a worker acting on a partition it held before it froze, e.g. no fencing
    # by its own deadline), the account is connected twice or a message goes out twice.
    http = tenant(system, "frozen")
    me = http.get("/api/v1/me").json()["id"]
    before = pair(http, "main", "5511900000061")
    assert (
        http.patch("/api/v1/sessions/main", json={"config": {"pacing": {"enabled": False}}}).status_code
        == 200
    )
    frozen = int(before["worker"].rsplit(":", 1)[1])
    replaced = asyncio.run(replaced_connections(clean_nats))
    mark = last_seq(clean_nats)
    os.kill(frozen, signal.SIGSTOP)
    try:
        moved = wait_event(
            clean_nats, me, "main", "session.status",
            lambda e: e["status"] == "CONNECTED" and e["worker"] != before["worker"], mark, TTL + 15,
        )  # fmt: skip
        sent = http.post(
            "/api/v1/sessions/main/messages", json={"type": "text", "to": "5511987650061", "text": "once"}
        )
        assert sent.status_code == 202
    finally:
        os.kill(frozen, signal.SIGCONT)
    # The resumed worker finds its deadline passed and fences; it takes partitions back only by
    # new claims. Whatever it does, the account stays connected once and the message goes once.
    wait_until(
        lambda: any(d["text"] == "once" for d in deliveries(http, "main")),
        20, "the message to be delivered",
    )  # fmt: skip
    # Twice the lease TTL, a bound from the settings: the time a resumed worker has to act wrongly.
    time.sleep(2 * TTL)
    assert asyncio.run(replaced_connections(clean_nats)) == replaced
    assert [(d["text"], d["count"]) for d in deliveries(http, "main")] == [("once", 1)]
    statuses = asyncio.run(stored_events(clean_nats, f"zg.evt.{me}.main.session.status"))
    assert statuses[-1]["status"] == "CONNECTED" and moved["epoch"] <= statuses[-1]["epoch"]


async def last_status(nats_url: str, tenant_id: str, name: str) -> dict:
    nc = await nats.connect(nats_url)
    try:
        msg = await nc.jetstream().get_last_msg("ZG_EVENTS", f"zg.evt.{tenant_id}.{name}.session.status")
        return json.loads(msg.data)
    finally:
        await nc.close()


def test_started_sessions_come_back_after_a_restart_of_everything(
    clean_nats: str, empty_database_url: str, tmp_path: Path
) -> None:
    first = stack(tmp_path / ".zapgate", clean_nats, empty_database_url)
    try:
        http = tenant(first, "restart")
        key = http.headers["X-Api-Key"]
        pair(http, "kept", "5511900000004")
        assert http.post("/api/v1/sessions", json={"name": "idle"}).status_code == 201
    finally:
        assert first.stop() == 0
    mark = last_seq(clean_nats)
    second = stack(tmp_path / ".zapgate", clean_nats, empty_database_url)
    try:
        with second.client(key) as http:
            me = http.get("/api/v1/me").json()["id"]
            # The row still says CONNECTED from the first run: wait for the second run's event.
            back = wait_event(
                clean_nats, me, "kept", "session.status", lambda e: e["status"] == "CONNECTED", mark, TTL + 15
            )
            assert back["phone"] == "5511900000004" and back["previous"] == "RECONNECTING"
            assert session(http, "idle")["status"] == "STOPPED"
    finally:
        second.stop()
    assert json.loads((tmp_path / ".zapgate" / "devstack.json").read_text())["children"]
