"""The whatsapp engine under the dev stack: with neonize's real Go library on a machine that
cannot reach WhatsApp (as these are), the session fails in words, the worker and its other
sessions carry on, and a later start tries again; with the fake of the Go library loaded into
the workers, a session links, sends, and survives a kill -9 of its worker with no new QR."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes.whatsmeow import scan_file
from helpers import System, pair, session, start_system, tenant, wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    s = start_system(
        tmp_path_factory.mktemp("whatsapp") / ".zapgate",
        {"ZAPGATE_SIM_SPEED": "20", "ZAPGATE_SECRET_KEY": "e2e-secret-key-0123456789-abcdefghij"},
        workers=1,
    )
    yield s
    s.stop()


def test_no_route_to_whatsapp_fails_the_session_in_words_and_nothing_else(system: System) -> None:
    http = tenant(system, "real-phone")
    simulated = pair(http, "sim", "5511922223333")
    proxy = "socks5://shop:s3cret-pass@127.0.0.1:1"
    created = http.post("/api/v1/sessions", json={"name": "phone", "engine": "whatsapp",
                                                  "config": {"proxy": proxy}})  # fmt: skip
    assert created.status_code == 201, created.text
    assert created.json()["engine"] == "whatsapp"
    assert created.json()["config"]["proxy"] == "socks5://shop:***@127.0.0.1:1"  # never shown back
    for _ in range(2):  # a later start tries again, and fails the same way
        before = session(http, "phone")["updated_at"]
        assert http.post("/api/v1/sessions/phone/start").status_code == 202

        def failed_again(before: str = before) -> bool:
            now = session(http, "phone")
            return now["status"] == "FAILED" and now["updated_at"] != before

        wait_until(failed_again, 60, "the whatsapp session to fail")
        reason = str(session(http, "phone")["reason"])
        assert reason.startswith("cannot reach WhatsApp: "), reason
    # The worker is alive and its simulator session untouched.
    assert session(http, "sim")["status"] == "CONNECTED"
    assert session(http, "sim")["worker"] == simulated["worker"]
    assert "s3cret-pass" not in system.log()


def test_a_bad_proxy_is_refused_with_what_is_wrong(system: System) -> None:
    http = tenant(system, "bad-proxy")
    for proxy, says in (("ftp://h:1", "scheme"), ("socks5://host", "port"), ("socks5://h:1/x", "no path")):
        answer = http.post(
            "/api/v1/sessions", json={"name": "p", "engine": "whatsapp", "config": {"proxy": proxy}}
        )
        assert answer.status_code == 422, answer.text
        assert says in answer.text
    assert http.post("/api/v1/sessions", json={"name": "p", "engine": "telegram"}).status_code == 422


@pytest.fixture(scope="module")
def faked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[System, Path]]:
    """The dev stack with two workers whose neonize talks to the shared fake of its Go library."""
    root = tmp_path_factory.mktemp("whatsapp-fake")
    folder = root / "whatsmeow"
    s = start_system(
        root / ".zapgate",
        {"ZAPGATE_LEASE_TTL": "3", "ZAPGATE_PARTITIONS": "4", "ZAPGATE_TEST_FAKE_WHATSMEOW": str(folder),
         "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "fakes" / "site"),
         "ZAPGATE_SECRET_KEY": "e2e-secret-key-0123456789-abcdefghij"},
        workers=2,
    )  # fmt: skip
    yield s, folder
    s.stop()


def test_a_whatsapp_session_links_sends_and_survives_a_kill_9_of_its_worker(
    faked: tuple[System, Path],
) -> None:
    system, folder = faked
    http = tenant(system, "real")
    tenant_id = http.get("/api/v1/me").json()["id"]
    assert http.post("/api/v1/sessions", json={"name": "shop", "engine": "whatsapp"}).status_code == 201
    assert http.post("/api/v1/sessions/shop/start").status_code == 202
    wait_until(lambda: session(http, "shop")["status"] == "SCAN_QR", 30, "the QR code")
    qr = http.get("/api/v1/sessions/shop/qr", params={"format": "raw"}).json()
    # What whatsmeow showed, through neonize's callback, in the worker.
    assert qr["index"] == 0 and qr["value"].startswith("https://wa.me/settings/linked_devices#2@")
    assert http.get("/api/v1/sessions/shop/qr").headers["content-type"] == "image/png"
    scan_file(folder, f"{tenant_id}/shop", "5511977776666")
    wait_until(lambda: session(http, "shop")["status"] == "CONNECTED", 30, "the phone to link")
    assert session(http, "shop")["phone"] == "5511977776666"

    def send(text: str) -> str:
        answer = http.post(
            "/api/v1/sessions/shop/messages", json={"type": "text", "to": "5511955554444", "text": text}
        )
        assert answer.status_code == 202, answer.text
        return str(answer.json()["id"])

    def status_of(message_id: str) -> str:
        return str(http.get(f"/api/v1/messages/{message_id}").json()["status"])

    first = send("olá, @5511955554444")
    wait_until(lambda: status_of(first) == "read", 30, "the first message to be read")
    worker = str(session(http, "shop")["worker"])
    os.kill(int(worker.rsplit(":", 1)[1]), signal.SIGKILL)
    wait_until(
        lambda: session(http, "shop")["worker"] not in (None, worker), 60, "another worker to take over"
    )
    wait_until(lambda: session(http, "shop")["status"] == "CONNECTED", 30, "the device to resume")
    assert http.get("/api/v1/sessions/shop/qr").status_code == 409  # no new QR code
    second = send("segunda")
    wait_until(lambda: status_of(second) == "read", 30, "the second message to be read")
    sent = [json.loads(line) for line in (folder / "sent.jsonl").read_text().splitlines()]
    texts = [s["text"] for s in sent if s["session"] == f"{tenant_id}/shop"]
    assert texts == ["olá, @5511955554444", "segunda"]  # each once, as plain text
