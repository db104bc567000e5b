"""Webhooks end to end on the dev stack: a receiver run by the test that fails a share of the
requests and is slow at times, a kill -9 of the dispatcher in the middle, then a replay."""

from __future__ import annotations

import json
import os
import random
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from helpers import System, pair, start_system, tenant, wait_until
from standardwebhooks import Webhook

pytestmark = pytest.mark.e2e


class FlakyReceiver:
    """Fails the first attempt of about one event in twelve (500; a failed event holds its
    session's later ones back for the 5 s of the first retry), answers some slowly, and
    verifies every signature it gets with the Standard Webhooks library."""

    def __init__(self, fail_rate: float = 0.08) -> None:
        self.fail_rate = fail_rate
        self.secret: str | None = None
        self.ids: Counter[str] = Counter()
        self.frames: dict[str, dict[str, Any]] = {}
        self.failed: set[str] = set()
        self.bad_signatures = 0
        self.rng = random.Random(17)
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = receiver.take(body, {k: v for k, v in self.headers.items()})
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.handler = Handler
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def down(self) -> None:
        """Stop listening: connections are refused until ``up``."""
        self.server.shutdown()
        self.server.server_close()

    def up(self) -> None:
        """Listen again on the same port."""
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), self.handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def take(self, body: bytes, headers: dict[str, str]) -> int:
        with self.lock:
            try:
                assert self.secret is not None
                Webhook(self.secret).verify(body, headers)
            except Exception:
                self.bad_signatures += 1
                return 400
            event_id = headers["webhook-id"]
            if event_id not in self.failed and self.rng.random() < self.fail_rate:
                self.failed.add(event_id)
                return 500
            slow = self.rng.random() < 0.05
        if slow:
            time.sleep(1.0)
        with self.lock:
            self.ids[event_id] += 1
            self.frames[event_id] = json.loads(body)
        return 200


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    system = start_system(
        tmp_path_factory.mktemp("webhooks") / ".zapgate",
        {"ZAPGATE_SIM_SPEED": "20", "ZAPGATE_PARTITIONS": "8", "ZAPGATE_WEBHOOK_ALLOW_PRIVATE": "true",
         "ZAPGATE_DEV_RESTART_MAX": "2"},
    )  # fmt: skip
    yield system
    system.stop()


def test_every_event_reaches_a_flaky_receiver_through_a_dispatcher_kill(stack: System) -> None:
    receiver, theirs = FlakyReceiver(), FlakyReceiver()
    http, other = tenant(stack, "wh-shop"), tenant(stack, "wh-other")
    made = http.post(
        "/api/v1/webhooks", json={"url": receiver.url, "events": ["message.*", "session.status"]}
    )
    assert made.status_code == 201, made.text
    receiver.secret = made.json()["secret"]
    theirs_made = other.post("/api/v1/webhooks", json={"url": theirs.url, "events": ["*"]})
    theirs.secret = theirs_made.json()["secret"]
    me = http.get("/api/v1/me").json()["id"]
    pair(http, "main", "5511976000041")
    ids = []
    for n in range(24):
        if n == 12:
            os.kill(stack.info["children"]["webhooks"], signal.SIGKILL)
        sent = http.post(
            "/api/v1/sessions/main/messages", json={"type": "text", "to": "5511988776641", "text": f"w{n}"}
        )
        assert sent.status_code == 202, sent.text
        ids.append(sent.json()["id"])
    wait_until(lambda: "webhooks restarted" in stack.log(), 30, "the dispatcher to be restarted")

    def statuses_seen() -> set[str]:
        return {f["data"]["id"] for f in list(receiver.frames.values()) if f["type"] == "message.status"}

    wait_until(lambda: set(ids) <= statuses_seen(), 90, "a status of every message at the receiver")
    # Every delivery recorded from the stream succeeded and reached the receiver, signed.
    assert receiver.bad_signatures == 0 and receiver.failed
    wait_until(
        lambda: all(d["status"] == "succeeded" for d in
                    http.get(f"/api/v1/webhooks/{made.json()['id']}/deliveries?limit=500").json()["items"]),
        60, "every delivery to succeed",
    )  # fmt: skip
    deliveries = http.get(f"/api/v1/webhooks/{made.json()['id']}/deliveries?limit=500").json()["items"]
    assert {d["event_id"] for d in deliveries} <= set(receiver.ids)
    assert {f["tenant"] for f in receiver.frames.values()} == {me}
    assert all(f["tenant"] != me for f in theirs.frames.values())
    repeats = {i: n for i, n in receiver.ids.items() if n > 1}
    print(f"events {len(receiver.ids)}, first attempts failed {len(receiver.failed)}, repeats {len(repeats)}")
    # A session's events arrived in stream order (each counted at its first arrival).
    seqs = [f["seq"] for f in receiver.frames.values() if f["session"] == "main"]
    assert seqs == sorted(seqs)
    # A replay from the start delivers every matching event again, with the same webhook-id.
    before = dict(receiver.ids)
    replay = http.post(f"/api/v1/webhooks/{made.json()['id']}/replay", json={"since": 0})
    assert replay.status_code == 202, replay.text
    assert replay.json()["queued"] == len(deliveries) and replay.json()["more"] is False
    wait_until(lambda: all(receiver.ids[i] > before[i] for i in before), 60, "the replay to arrive")


def test_after_the_receiver_was_down_a_while_a_replay_fills_the_gap_exactly(stack: System) -> None:
    receiver = FlakyReceiver(fail_rate=0.0)
    http = tenant(stack, "wh-outage")
    made = http.post("/api/v1/webhooks", json={"url": receiver.url, "events": ["message.*"]})
    assert made.status_code == 201, made.text
    receiver.secret, endpoint = made.json()["secret"], made.json()["id"]
    pair(http, "main", "5511976000042")

    def send(n: int) -> str:
        sent = http.post(
            "/api/v1/sessions/main/messages", json={"type": "text", "to": "5511988776642", "text": f"o{n}"}
        )
        assert sent.status_code == 202, sent.text
        return str(sent.json()["id"])

    def read_at_receiver(ids: list[str]) -> bool:
        seen = {
            (f["data"]["id"], f["data"]["status"])
            for f in list(receiver.frames.values())
            if f["type"] == "message.status"
        }
        return all((i, "read") in seen for i in ids)

    def listed() -> list[dict[str, Any]]:
        return list(http.get(f"/api/v1/webhooks/{endpoint}/deliveries?limit=500").json()["items"])

    before = [send(n) for n in range(3)]
    wait_until(lambda: read_at_receiver(before), 60, "the messages before the outage at the receiver")
    since = max(int(f["seq"]) for f in receiver.frames.values())
    receiver.down()
    during = [send(n) for n in range(3, 9)]
    wait_until(lambda: all(http.get(f"/api/v1/messages/{i}").json()["status"] == "read" for i in during), 60,
               "the messages of the outage to be read")  # fmt: skip
    # The receiver refused the first of them (its retries, 5 s then 5 min apart, fail too) and the
    # later ones wait behind it: nothing of the outage reached it.
    wait_until(lambda: any(d["attempts"] >= 2 and d["status"] == "pending" for d in listed()), 60,
               "the first delivery of the outage to have failed twice")  # fmt: skip
    gap = {d["event_id"] for d in listed() if d["seq"] > since}
    assert gap and not gap & set(receiver.ids)
    receiver.up()
    got_before = dict(receiver.ids)
    replay = http.post(f"/api/v1/webhooks/{endpoint}/replay", json={"since": since})
    assert replay.status_code == 202, replay.text
    assert replay.json()["queued"] == len(gap), (replay.json(), len(gap))
    wait_until(lambda: gap <= set(receiver.ids), 60, "the replay to fill the gap")
    time.sleep(1.0)
    # Exactly the gap: nothing from before the outage came again, every event of it arrived.
    assert {i for i, n in receiver.ids.items() if n > got_before.get(i, 0)} == gap
    assert read_at_receiver(during) and receiver.bad_signatures == 0
    repeats = {i: n for i, n in receiver.ids.items() if n > 1}
    print(f"outage: gap {len(gap)} events, replayed {replay.json()['queued']}, repeats {len(repeats)}")
