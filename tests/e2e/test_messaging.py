"""Messaging end to end: every type, exactly once, waiting while disconnected, history, isolation."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import websockets
from helpers import (
    System,
    ack_pending,
    deliveries,
    pair,
    simnet_stat,
    start_system,
    tenant,
    wait_status,
    wait_until,
)

pytestmark = pytest.mark.e2e

RANK = {"queued": 0, "sent": 1, "delivered": 2, "read": 3, "played": 4, "failed": 9}
NO_PACING = {"config": {"pacing": {"enabled": False}}}
# What the worker logs (INFO) when a fault made commands come back.
REDELIVERY_LINES = ("redelivered sends were recorded before", "commands delivered again")
PNG_1PX = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201e2a7d5"
        "d50000000049454e44ae426082"
    )
).decode()


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    """One stack on its own embedded servers for the module; every test uses its own tenant."""
    s = start_system(
        tmp_path_factory.mktemp("messages") / ".zapgate",
        {
            "ZAPGATE_LEASE_TTL": "3",
            "ZAPGATE_SIM_SPEED": "20",
            "ZAPGATE_PARTITIONS": "8",
            "ZAPGATE_SECRET_KEY": "e2e-secret-key-0123456789-abcdefghij",
            "ZAPGATE_MEDIA_MAX_IMAGE": "4096",
        },
    )
    yield s
    s.stop()


def ws_url(system: System) -> str:
    return system.url.replace("http://", "ws://") + "/api/v1/ws"


class Frames:
    """Collects the tenant's WebSocket frames in a thread while a test drives HTTP."""

    def __init__(self, system: System, key: str, query: str = "") -> None:
        self.url = ws_url(system) + query
        self.key = key
        self.frames: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._ready = threading.Event()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, daemon=True)

    def _main(self) -> None:
        try:
            asyncio.run(self._run())
        except BaseException as exc:  # kept: a reader that died must fail the test, not see nothing
            self.error = exc

    async def _run(self) -> None:
        async with websockets.connect(self.url, additional_headers={"X-Api-Key": self.key}) as ws:
            self._ready.set()
            while not self._stop.is_set():
                try:
                    self.frames.append(json.loads(await asyncio.wait_for(ws.recv(), 0.2)))
                except TimeoutError:
                    continue

    def __enter__(self) -> Frames:
        self._thread.start()
        assert self._ready.wait(10), f"WebSocket did not open: {self.error!r}"
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        assert not self._thread.is_alive(), "the WebSocket reader did not stop"
        self.alive()

    def alive(self) -> None:
        """Fail if the reader died: what it did not see would read as an absence."""
        assert self.error is None, f"the WebSocket reader died: {self.error!r}"

    def of(self, kind: str) -> list[dict[str, Any]]:
        self.alive()
        return [f for f in self.frames if f["type"] == kind]


def key_of(http: httpx.Client) -> str:
    return str(http.headers["X-Api-Key"])


def connected(system: System, name: str, phone: str, pacing: bool = False) -> httpx.Client:
    http = tenant(system, f"{name}-tenant")
    pair(http, name, phone)
    if not pacing:
        assert http.patch(f"/api/v1/sessions/{name}", json=NO_PACING).status_code == 200
    return http


def send(http: httpx.Client, name: str, body: dict[str, Any], key: str | None = None) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key else {}
    return http.post(f"/api/v1/sessions/{name}/messages", json=body, headers=headers)


def message(http: httpx.Client, message_id: str) -> dict[str, Any]:
    response = http.get(f"/api/v1/messages/{message_id}")
    assert response.status_code == 200, response.text
    return response.json()


def number_exists(http: httpx.Client, name: str, phone: str) -> dict[str, Any]:
    """Ask whether ``phone`` has WhatsApp, as a client would: again after a 503 with Retry-After.

    The worker killed by an earlier test rejoins in the meantime, and a partition that moves is
    briefly answered by nobody.
    """
    answers: list[httpx.Response] = []
    wait_until(
        lambda: (
            answers.append(http.get(f"/api/v1/sessions/{name}/contacts/{phone}/exists"))
            or answers[-1].status_code != 503
        ),
        20,
        "a worker to answer",
    )
    return answers[-1].json()


def wait_message(
    http: httpx.Client, message_id: str, statuses: set[str], within: float = 20
) -> dict[str, Any]:
    wait_until(
        lambda: message(http, message_id)["status"] in statuses, within, f"{message_id} to be {statuses}"
    )
    return message(http, message_id)


def test_every_message_type_is_delivered_once_and_status_only_moves_forward(system: System) -> None:
    http = connected(system, "types", "5511911110001")
    to = "+5511987650001"
    bodies = [
        {"type": "text", "to": to, "text": "olá 👋 مرحبا <b>'; drop table x;--"},
        {"type": "image", "to": to, "media": {"data": PNG_1PX, "mimetype": "image/png"}, "caption": "pic"},
        {"type": "video", "to": to, "media": {"data": base64.b64encode(b"v" * 100).decode(), "mimetype": "video/mp4"}},
        {"type": "audio", "to": to, "media": {"data": base64.b64encode(b"a" * 100).decode(), "mimetype": "audio/mpeg"}},
        {"type": "voice", "to": to, "media": {"data": base64.b64encode(b"o" * 100).decode(), "mimetype": "audio/ogg"}},
        {"type": "document", "to": to,
         "media": {"data": base64.b64encode(b"%PDF-1.4").decode(), "mimetype": "application/pdf", "filename": "a.pdf"}},
        {"type": "location", "to": to, "latitude": -23.55, "longitude": -46.63, "name": "São Paulo"},
        {"type": "contact", "to": to, "contact": {"name": "Ana", "phone": "+5511912345678"}},
    ]  # fmt: skip
    with Frames(system, key_of(http), "?types=message.status") as frames:
        ids = []
        for body in bodies:
            response = send(http, "types", body)
            assert response.status_code == 202, response.text
            assert response.json()["status"] == "queued"
            ids.append(response.json()["id"])
        reaction = send(http, "types", {"type": "reaction", "to": to, "message_id": ids[0], "emoji": "👍"})
        assert reaction.status_code == 202, reaction.text
        ids.append(reaction.json()["id"])
        for message_id, body in zip(ids, [*bodies, {"type": "reaction"}], strict=True):
            final = {"played"} if body["type"] == "voice" else {"read"}
            wait_message(http, message_id, final)
    stored = message(http, ids[0])
    assert stored["content"]["text"] == bodies[0]["text"]
    assert stored["chat"] == "5511987650001@c.us"
    # Every message reached the contact exactly once, under a WhatsApp id of its own.
    received = deliveries(http, "types")
    assert len(received) == len(ids)
    assert all(d["count"] == 1 for d in received)
    assert {d["type"] for d in received} == {b["type"] for b in bodies} | {"reaction"}
    # Per message, the statuses seen on the WebSocket never go backwards.
    seen: dict[str, list[int]] = {}
    for frame in frames.of("message.status"):
        seen.setdefault(frame["data"]["id"], []).append(RANK[frame["data"]["status"]])
    assert set(seen) == set(ids)
    for ranks in seen.values():
        assert ranks == sorted(ranks) and ranks[0] == RANK["sent"]
    # The image can be downloaded by its tenant.
    media_id = message(http, ids[1])["content"]["media"]["id"]
    image = http.get(f"/api/v1/media/{media_id}")
    assert image.status_code == 200 and image.content == base64.b64decode(PNG_1PX)
    assert image.headers["content-type"].startswith("image/png")


def test_idempotency_key_gives_one_message_even_ten_concurrent_retries(system: System) -> None:
    http = connected(system, "idem", "5511911110002")
    body = {"type": "text", "to": "5511987650002", "text": "only once"}

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=system.url, headers={"X-Api-Key": key_of(http)}) as client:
            return await asyncio.gather(
                *(client.post("/api/v1/sessions/idem/messages", json=body, headers={"Idempotency-Key": "k-1"})
                  for _ in range(10))
            )  # fmt: skip

    responses = asyncio.run(burst())
    assert {r.status_code for r in responses} == {202}
    ids = {r.json()["id"] for r in responses}
    assert len(ids) == 1
    (message_id,) = ids
    wait_message(http, message_id, {"read"})
    # Long after: the key still names the same message and nothing more is sent.
    again = send(http, "idem", body, key="k-1")
    assert again.status_code == 202 and again.json() == {"id": message_id, "status": "read"}
    assert [d["text"] for d in deliveries(http, "idem")] == ["only once"]


def test_messages_wait_while_disconnected_and_expire(system: System) -> None:
    http = connected(system, "offline", "5511911110003")
    assert http.post("/api/v1/sessions/offline/stop").status_code == 202
    wait_status(http, "offline", "STOPPED")
    ids = [
        send(http, "offline", {"type": "text", "to": "5511987650003", "text": f"m{i}"}).json()["id"]
        for i in range(3)
    ]
    soon = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    expiring = send(
        http, "offline", {"type": "text", "to": "5511987650003", "text": "late", "expires_at": soon}
    )
    assert expiring.status_code == 202, expiring.text
    failed = wait_message(http, expiring.json()["id"], {"failed"})
    assert failed["error"] == "expired"
    assert all(message(http, i)["status"] == "queued" for i in ids)
    assert deliveries(http, "offline") == []
    assert http.post("/api/v1/sessions/offline/start").status_code == 202
    for message_id in ids:
        wait_message(http, message_id, {"read"})
    assert [d["text"] for d in deliveries(http, "offline")] == ["m0", "m1", "m2"]
    # A page at a time: the gateway reads at most `limit` deliveries of the session per call.
    path = "/api/v1/sessions/offline/simulator/deliveries"
    first = http.get(path, params={"limit": 2}).json()
    assert [d["text"] for d in first["items"]] == ["m0", "m1"] and first["next"] is not None
    rest = http.get(path, params={"limit": 2, "after": first["next"]}).json()
    assert [d["text"] for d in rest["items"]] == ["m2"] and rest["next"] is None
    assert first["items"][0]["seq"] < first["items"][1]["seq"] <= first["next"] < rest["items"][0]["seq"]
    assert http.get(path, params={"limit": 10_001}).status_code == 422


def test_kill_9_mid_burst_of_1000_delivers_each_exactly_once(system: System) -> None:
    http = connected(system, "burst", "5511911110004")
    worker_pid = int(str(message_worker(http, "burst")).rsplit(":", 1)[1])
    partition = int(http.get("/api/v1/sessions/burst").json()["partition"])
    texts = [f"burst-{i}" for i in range(1000)]

    async def post_all() -> list[str]:
        limits = httpx.Limits(max_connections=32)
        async with httpx.AsyncClient(base_url=system.url, headers={"X-Api-Key": key_of(http)}, limits=limits,
                                     timeout=30) as client:  # fmt: skip

            async def one(i: int) -> str:
                for _ in range(20):
                    try:
                        response = await client.post(
                            "/api/v1/sessions/burst/messages", headers={"Idempotency-Key": f"b-{i}"},
                            json={"type": "text", "to": "5511987650004", "text": texts[i]},
                        )  # fmt: skip
                    except httpx.HTTPError:
                        await asyncio.sleep(0.2)
                        continue
                    if response.status_code == 202:
                        return str(response.json()["id"])
                    # 503 with Retry-After is the only answer a client retries; a kill of a
                    # worker must never make the gateway answer anything else, a 500 least of all.
                    if response.status_code != 503 or "retry-after" not in response.headers:
                        unexpected.append((response.status_code, response.text))
                        raise AssertionError(f"message {i}: {response.status_code} {response.text}")
                    await asyncio.sleep(float(response.headers["retry-after"]))
                raise AssertionError(f"message {i} not accepted")

            third = asyncio.Event()

            async def killer() -> None:
                await third.wait()
                # Frozen first, and killed only once the server holds commands it handed to the
                # frozen worker and never saw acknowledged: the kill must cause redeliveries.
                # A freeze that caught the worker between an ack and its next fetch holds none;
                # it is thawed and frozen again a moment later. Acks the worker wrote just before
                # the freeze still reach the server from the socket's buffer, so the count must
                # hold on a second read 0.2 s later: a stopped process acknowledges nothing more.
                for _ in range(200):
                    os.kill(worker_pid, signal.SIGSTOP)
                    for _ in range(10):
                        if await ack_pending(system.info["nats_url"], partition) > 0:
                            await asyncio.sleep(0.2)
                            if await ack_pending(system.info["nats_url"], partition) > 0:
                                os.kill(worker_pid, signal.SIGKILL)
                                return
                        await asyncio.sleep(0.05)
                    os.kill(worker_pid, signal.SIGCONT)
                    await asyncio.sleep(0.01)
                raise AssertionError("the worker never held an unacknowledged command")

            accepted: list[str] = []

            async def tracked(i: int) -> str:
                message_id = await one(i)
                accepted.append(message_id)
                if len(accepted) == 300:
                    third.set()
                return message_id

            ids, _ = await asyncio.gather(asyncio.gather(*(tracked(i) for i in range(len(texts)))), killer())
            return list(ids)

    unexpected: list[tuple[int, str]] = []
    redeliveries_before = sum(system.log().count(line) for line in REDELIVERY_LINES)
    repeats_before = asyncio.run(simnet_stat(system.info["nats_url"], "stats.repeats"))
    ids = asyncio.run(post_all())
    assert unexpected == []
    assert len(set(ids)) == 1000

    def statuses() -> dict[str, str]:
        found: dict[str, str] = {}
        params: dict[str, Any] = {"limit": 500}
        while True:  # every page: all 1,000, not only the newest 500
            page = http.get("/api/v1/sessions/burst/messages", params=params).json()
            found.update({m["id"]: m["status"] for m in page["items"]})
            if not page["next"]:
                return found
            params["before"] = page["next"]

    def all_delivered() -> bool:
        found = statuses()
        return set(found) == set(ids) and all(RANK[s] >= RANK["delivered"] for s in found.values())

    wait_until(lambda: len(deliveries(http, "burst")) >= 1000, 60, "1000 deliveries")
    received = deliveries(http, "burst")
    assert len(received) == 1000
    assert all(d["count"] == 1 for d in received)
    assert sorted(d["text"] for d in received) == sorted(texts)
    wait_until(all_delivered, 60, "all 1,000 to be delivered")
    assert worker_pid != int(str(message_worker(http, "burst")).rsplit(":", 1)[1])
    # The kill really caused repeats (commands given again, or sends the network saw twice and
    # dropped), and still each contact got each message once: the check above was tested.
    repeats = asyncio.run(simnet_stat(system.info["nats_url"], "stats.repeats")) - repeats_before
    redeliveries = sum(system.log().count(line) for line in REDELIVERY_LINES) - redeliveries_before
    assert repeats > 0 or redeliveries > 0, "the kill caused no redelivery: nothing was tested"


def message_worker(http: httpx.Client, name: str) -> str:
    response = http.get(f"/api/v1/sessions/{name}")
    return str(response.json()["worker"])


def test_bad_messages_get_clear_errors(system: System) -> None:
    http = tenant(system, "bad-tenant")
    assert http.post("/api/v1/sessions", json={"name": "bad"}).status_code == 201
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"type": "text", "to": "hello", "text": "x"}, 422, "not a phone number"),
        ({"type": "text", "to": "5511987650005", "text": "nul \u0000 inside"}, 422, "NUL"),
        ({"type": "text", "to": "+1555", "text": "x"}, 422, "not a valid phone number"),
        ({"type": "text", "to": "123@bogus", "text": "x"}, 422, "not a chat id"),
        ({"type": "sticker", "to": "5511987650005", "text": "x"}, 422, ""),
        ({"type": "text", "to": "5511987650005"}, 422, ""),
        ({"type": "location", "to": "5511987650005", "latitude": 91, "longitude": 0}, 422, ""),
        ({"type": "image", "to": "5511987650005", "media": {"mimetype": "image/png"}}, 422, "exactly one"),
        ({"type": "image", "to": "5511987650005", "media": {"data": "!!", "mimetype": "image/png"}}, 422, "base64"),
        ({"type": "image", "to": "5511987650005",
          "media": {"data": base64.b64encode(b"x" * 5000).decode(), "mimetype": "image/png"}}, 413, "4096"),
        ({"type": "image", "to": "5511987650005",
          "media": {"url": "http://127.0.0.1:1/x.png", "mimetype": "image/png"}}, 422, "loopback"),
        ({"type": "image", "to": "5511987650005",
          "media": {"url": "http://169.254.169.254/latest", "mimetype": "image/png"}}, 422, "link-local"),
        ({"type": "image", "to": "5511987650005",
          "media": {"url": "file:///etc/passwd", "mimetype": "image/png"}}, 422, "http"),
    ]  # fmt: skip
    for body, status, words in cases:
        response = send(http, "bad", body)
        assert response.status_code == status, (body, response.text)
        assert response.json()["error"]["code"] in ("validation_error", "payload_too_large")
        assert words in json.dumps(response.json()), (body, response.text)
    assert send(http, "nope", {"type": "text", "to": "5511987650005", "text": "x"}).status_code == 404
    # Hostile ids in paths and queries are refused, never a database error.
    for path in ("/api/v1/messages/a%00b", "/api/v1/sessions/ba%00d/messages", "/api/v1/media/..%2Fx"):
        assert http.get(path).status_code in (404, 422), path
    assert http.get("/api/v1/sessions/bad/messages", params={"before": "x\u0000"}).status_code == 422
    assert http.get("/api/v1/sessions/bad/messages").json() == {"items": [], "next": None}


def test_inbound_history_chats_contacts_and_tenant_isolation(system: System) -> None:
    http = connected(system, "inbox", "5511911110006")
    other = tenant(system, "inbox-other")
    assert other.post("/api/v1/sessions", json={"name": "inbox"}).status_code == 201
    contact = "5511987650006"
    with Frames(system, key_of(http), "?types=message.received") as frames, \
            Frames(system, key_of(other)) as other_frames:  # fmt: skip
        assert (
            http.post(
                "/api/v1/sessions/inbox/simulator/inbound", json={"from": contact, "text": "oi"}
            ).status_code
            == 202
        )
        assert http.post(
            "/api/v1/sessions/inbox/simulator/inbound",
            json={"from": contact, "media": {"data": PNG_1PX, "mimetype": "image/png"}, "caption": "foto"},
        ).status_code == 202  # fmt: skip
        wait_until(lambda: len(frames.of("message.received")) == 2, 20, "two message.received frames")
        sent = send(http, "inbox", {"type": "text", "to": contact, "text": "resposta"}).json()["id"]
        wait_message(http, sent, {"read"})
    other_frames.alive()
    assert other_frames.frames == []  # its reader was alive throughout, so this absence is real
    text_frame, media_frame = frames.of("message.received")
    assert text_frame["data"]["content"] == {"type": "text", "text": "oi", "reply_to": None}
    assert text_frame["data"]["chat"] == f"{contact}@c.us"
    media_id = media_frame["data"]["content"]["media"]["id"]
    assert http.get(f"/api/v1/media/{media_id}").content == base64.b64decode(PNG_1PX)
    # History, newest first, with a cursor.
    wait_until(lambda: len(http.get("/api/v1/sessions/inbox/messages").json()["items"]) == 3, 10, "history")
    first = http.get("/api/v1/sessions/inbox/messages", params={"limit": 2}).json()
    assert [m["direction"] for m in first["items"]] == ["out", "in"] and first["next"]
    rest = http.get("/api/v1/sessions/inbox/messages", params={"limit": 2, "before": first["next"]}).json()
    assert [m["content"].get("text") for m in rest["items"]] == ["oi"] and rest["next"] is None
    incoming = http.get("/api/v1/sessions/inbox/messages", params={"direction": "in", "chat": contact}).json()
    assert len(incoming["items"]) == 2
    # Chats and contacts.
    (chat,) = http.get("/api/v1/sessions/inbox/chats").json()
    assert chat["chat"] == f"{contact}@c.us" and chat["messages"] == 3 and chat["unread"] == 2
    assert http.post(f"/api/v1/sessions/inbox/chats/{contact}@c.us/read").json() == {
        "chat": f"{contact}@c.us",
        "marked": 2,
    }
    assert http.get("/api/v1/sessions/inbox/chats").json()[0]["unread"] == 0
    assert [c["phone"] for c in http.get("/api/v1/sessions/inbox/contacts").json()] == [contact]
    exists = number_exists(http, "inbox", contact)
    assert exists == {"phone": contact, "exists": True, "chat_id": f"{contact}@c.us"}
    assert number_exists(http, "inbox", "5511987650000")["exists"] is False
    # An older Brazilian account (the simulator's numbers ending in 1111) is registered without
    # the ninth digit: the lookup answers that form, and a send goes there.
    old = number_exists(http, "inbox", "5511987651111")
    assert old == {"phone": "5511987651111", "exists": True, "chat_id": "551187651111@c.us"}
    to_old = send(http, "inbox", {"type": "text", "to": "5511987651111", "text": "old account"}).json()["id"]
    wait_message(http, to_old, {"delivered", "read"})
    assert [d["to"] for d in deliveries(http, "inbox") if d["text"] == "old account"] == ["551187651111@c.us"]
    # The other tenant sees none of it, even with the ids.
    assert other.get(f"/api/v1/messages/{sent}").status_code == 404
    assert other.get(f"/api/v1/media/{media_id}").status_code == 404
    assert other.get("/api/v1/sessions/inbox/messages").json()["items"] == []
    assert other.get("/api/v1/sessions/inbox/chats").json() == []
    # A number without WhatsApp fails with the reason.
    nobody = send(http, "inbox", {"type": "text", "to": "5511987650000", "text": "?"}).json()["id"]
    assert wait_message(http, nobody, {"failed"})["error"] == "not_on_whatsapp"


def test_pacing_spaces_messages_beyond_the_burst(system: System) -> None:
    http = connected(system, "paced", "5511911110007", pacing=True)
    patch = http.patch("/api/v1/sessions/paced", json={"config": {"pacing": {"per_minute": 60, "burst": 2}}})
    assert patch.status_code == 200 and patch.json()["config"]["pacing"]["per_minute"] == 60
    bad = http.patch("/api/v1/sessions/paced", json={"config": {"pacing": {"per_minute": -1}}})
    assert bad.status_code == 422
    ids = [
        send(http, "paced", {"type": "text", "to": "5511987650007", "text": f"p{i}"}).json()["id"]
        for i in range(4)
    ]
    for message_id in ids:
        wait_message(http, message_id, {"sent", "delivered", "read"})
    times = sorted(datetime.fromisoformat(d["delivered_at"]) for d in deliveries(http, "paced"))
    # Two go at once (the burst); the next two need a token each, 1 s apart at 60 per minute: the
    # four take about 2 s (unpaced they take milliseconds). The margin covers jitter and timing.
    assert (times[3] - times[0]).total_seconds() >= 1.2


def test_routes_of_the_earlier_system(system: System) -> None:
    http = tenant(system, "legacy-tenant")
    first = http.get("/qr/user_123456")
    assert first.status_code == 200 and first.json()["success"] is True
    wait_status(http, "user_123456", "SCAN_QR")
    shown = http.get("/qr", params={"sessionId": "user_123456"}).json()
    assert shown["status"] == "SCAN_QR" and shown["qr"].startswith("data:image/png;base64,")
    scan = http.post("/api/v1/sessions/user_123456/simulator/scan", json={"phone": "5511911110008"})
    assert scan.status_code == 202
    wait_status(http, "user_123456", "CONNECTED")
    assert http.get("/status/user_123456").json()["connected"] is True
    assert http.get("/status", params={"sessionId": "user_123456"}).json()["status"] == "CONNECTED"
    sent = http.post(
        "/send-message", json={"sessionId": "user_123456", "number": "5511987650008", "message": "legacy"}
    )
    assert sent.status_code == 200 and sent.json()["success"] is True
    wait_message(http, sent.json()["messageId"], {"sent", "delivered", "read"})
    alt = http.post(
        "/send-message", json={"session_id": "user_123456", "to": "5511987650008", "text": "legacy 2"}
    )
    assert alt.status_code == 200
    assert http.post("/send-message", json={"sessionId": "user_123456"}).status_code == 422
    assert http.post("/reconnect/user_123456").json()["success"] is True
    assert http.post("/reconnect", json={"sessionId": "user_123456"}).json()["success"] is True
    wait_status(http, "user_123456", "CONNECTED")
    listed = http.get("/sessions").json()
    assert [s["sessionId"] for s in listed["sessions"]] == ["user_123456"]
    assert http.get("/status/ghost").status_code == 404
    assert system.client().get("/sessions").status_code == 401
