"""The per-tenant WebSocket end to end: auth, tickets, filters, replay with since, isolation."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator

import pytest
from helpers import System, wait_until
from test_sessions import stack, tenant, wait_status
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def system(nats_server, pg_server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    import asyncio

    import asyncpg
    from helpers import unique_name, with_database

    name = unique_name("ws")
    s = stack(tmp_path_factory.mktemp("ws") / ".zapgate", nats_server.url, with_database(pg_server.url, name))
    yield s
    s.stop()

    async def drop() -> None:
        conn = await asyncpg.connect(with_database(pg_server.url, "postgres").replace("+asyncpg", ""))
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()

    asyncio.run(drop())


def ws_url(system: System, query: str = "") -> str:
    return system.url.replace("http://", "ws://") + "/api/v1/ws" + (f"?{query}" if query else "")


def frames(ws: ClientConnection, until, within: float = 15) -> list[dict]:
    """Read frames until ``until(frames)`` holds."""
    got: list[dict] = []

    def more() -> bool:
        with contextlib.suppress(TimeoutError):
            got.append(json.loads(ws.recv(timeout=0.2)))
        return until(got)

    wait_until(more, within, "the expected frames", every=0)
    return got


def test_frames_of_a_tenant_reach_only_its_sockets(system: System) -> None:
    acme, other = tenant(system, "ws-acme"), tenant(system, "ws-other")
    with (
        connect(ws_url(system), additional_headers={"X-Api-Key": acme.headers["X-Api-Key"]}) as mine,
        connect(ws_url(system), additional_headers={"X-Api-Key": other.headers["X-Api-Key"]}) as theirs,
    ):
        acme.post("/api/v1/sessions", json={"name": "main"})
        acme.post("/api/v1/sessions/main/start")
        got = frames(mine, lambda fs: any(f["type"] == "session.qr" for f in fs))
        me = acme.get("/api/v1/me").json()["id"]
        assert {f["tenant"] for f in got} == {me}
        assert set(got[0]) == {"id", "seq", "type", "tenant", "session", "time", "data"}
        statuses = [f["data"]["status"] for f in got if f["type"] == "session.status"]
        assert statuses[:2] == ["STARTING", "SCAN_QR"]
        qr = next(f for f in got if f["type"] == "session.qr")
        assert qr["data"]["value"].startswith("https://wa.me/settings/linked_devices#")
        assert [f["seq"] for f in got] == sorted(f["seq"] for f in got)
        with pytest.raises(TimeoutError):
            theirs.recv(timeout=1)  # nothing of acme's reaches the other tenant


def test_tickets_are_single_use_and_bad_ones_are_refused(system: System) -> None:
    http = tenant(system, "ws-ticket")
    ticket = http.post("/api/v1/ws/tickets").json()["ticket"]
    with connect(ws_url(system, f"ticket={ticket}")) as ws:
        http.post("/api/v1/sessions", json={"name": "t"})
        http.post("/api/v1/sessions/t/start")
        assert frames(ws, lambda fs: len(fs) >= 1)[0]["session"] == "t"
    for query in (f"ticket={ticket}", "ticket=zgt_forged", "ticket=", ""):
        with pytest.raises((InvalidStatus, ConnectionClosed)), connect(ws_url(system, query)) as ws:
            ws.recv(timeout=5)


def test_since_replays_then_continues_live_without_gap_or_duplicate(system: System) -> None:
    http = tenant(system, "ws-since")
    headers = {"X-Api-Key": http.headers["X-Api-Key"]}
    with connect(ws_url(system), additional_headers=headers) as ws:
        http.post("/api/v1/sessions", json={"name": "a"})
        http.post("/api/v1/sessions/a/start")
        first = frames(ws, lambda fs: any(f["type"] == "session.qr" for f in fs))
    cut = first[0]["seq"]
    wait_status(http, "a", "SCAN_QR")
    with connect(ws_url(system, f"since={cut}"), additional_headers=headers) as ws:
        replayed = frames(ws, lambda fs: len(fs) >= len(first) - 1)
        assert [f["id"] for f in replayed[: len(first) - 1]] == [f["id"] for f in first[1:]]
        http.post("/api/v1/sessions/a/simulator/scan", json={"phone": "5511900000077"})
        live = frames(ws, lambda fs: any(f["data"].get("status") == "CONNECTED" for f in fs))
    seqs = [f["seq"] for f in replayed + live]
    assert seqs == sorted(set(seqs)), "a gap in order or a duplicate"
    assert all(s > cut for s in seqs)


def test_filters_by_session_and_type(system: System) -> None:
    http = tenant(system, "ws-filter")
    headers = {"X-Api-Key": http.headers["X-Api-Key"]}
    with connect(ws_url(system, "sessions=b&types=session.qr"), additional_headers=headers) as ws:
        for name in ("a", "b"):
            http.post("/api/v1/sessions", json={"name": name})
            http.post(f"/api/v1/sessions/{name}/start")
        got = frames(ws, lambda fs: len(fs) >= 1)
        wait_status(http, "a", "SCAN_QR")
        try:
            while True:
                got.append(json.loads(ws.recv(timeout=1)))
        except TimeoutError:
            pass
    assert {(f["session"], f["type"]) for f in got} == {("b", "session.qr")}
