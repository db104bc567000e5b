"""Chaos run (issue 5): send while workers, gateways, nats-server and PostgreSQL fail; lose nothing.

Three workers and two gateways on a nats-server (file storage) and a PostgreSQL that the run
starts itself, so that it can restart them. CONNECTED sessions of two tenants, one WebSocket
client per tenant that reconnects with ``since`` (to either gateway), and messages sent with
idempotency keys through both gateways, retried on connection errors and 5xx with the same key.
While they are sent:

- a random worker is killed with ``kill -9`` every few seconds (the dev stack restarts it);
- on a fixed schedule: nats-server is restarted, PostgreSQL is restarted, a gateway is killed
  with ``kill -9`` (the dev stack restarts it), and nats-server is restarted again.

The sends are paced so that they span the whole schedule. At the end it checks and prints:

- every accepted message reached its contact exactly once and reached ``delivered`` or ``read``;
- every WebSocket client saw every event of its tenant, each once, in stream order;
- no account was connected twice (the simulated network's replaced count is 0) and every
  session is CONNECTED (none STARTING, RECONNECTING or FAILED);
- how long sessions were unavailable after each fault, p50/p99/max.

``python bench/chaos.py [messages] [sessions per tenant]`` (20,000 and 25 when not given); exits 1 if
a check fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import random
import signal
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import nats
import websockets

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "deploy/local"), str(ROOT)]

from helpers import (
    NatsCluster,
    merge_deliveries,
    replaced_connections,
    simnet_stat,
    start_nats,
    start_nats_cluster,
    start_postgres,
    wait_until,
    with_database,
)

from bench.sessions import Stack, boot, call, new_tenant, pair_many, pct

KILL_EVERY = 4.0
FAULT_EVERY = 15.0
DOWN_FOR = 2.0  # how long a restarted server stays down: longer than a lease can go unrenewed
# nats-server twice, PostgreSQL once, a gateway once (issue 5), billing once (its metering must
# count each message once across the kill: issue 17), spread over the run.
SCHEDULE = ("nats", "postgres", "gateway", "billing", "nats")
# On a 3-node NATS cluster: kill -9 the node leading each of these in turn ("meta": the JetStream
# meta leader, which places streams and consumers).
CLUSTER_SCHEDULE = (
    "leader:KV_zg_leases", "leader:meta", "leader:ZG_COMMANDS", "leader:ZG_EVENTS", "leader:KV_zg_workers",
)  # fmt: skip
TO = "5511987650001"
FULL_FORM = 2000  # messages from which a run must show that its faults caused redeliveries
Fault = tuple[float, str, int | None]  # (time, what, pid of the killed process)


class Servers:
    """The nats-server and PostgreSQL of the run, restarted in place (same port, same data)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "nats").mkdir(parents=True, exist_ok=True)
        (root / "pg").mkdir(parents=True, exist_ok=True)
        self.nats = start_nats(self.root / "nats" / "store")
        self.pg = start_postgres(self.root / "pg")

    @property
    def env(self) -> dict[str, str]:
        """The stack's environment for these servers."""
        return {
            "ZAPGATE_NATS_URL": self.nats.url,
            "ZAPGATE_DATABASE_URL": with_database(self.pg.url, "zapgate"),
        }

    def restart_nats(self, down: float) -> None:
        """Stop nats-server (SIGTERM); after ``down`` s start it again on its port with its file store."""
        self.nats.stop()
        time.sleep(down)
        self.nats = start_nats(self.root / "nats" / "store", self.nats.port)

    def restart_postgres(self, down: float) -> None:
        """Stop PostgreSQL (fast shutdown); after ``down`` s start it again on its port with its data."""
        self.pg.stop(signal.SIGINT)
        time.sleep(down)
        self.pg = start_postgres(self.root / "pg", self.pg.port)
        wait_until(lambda: _accepts(self.pg.url), 30, "PostgreSQL to accept connections")

    def stop(self) -> None:
        """Stop both."""
        self.nats.stop()
        self.pg.stop(signal.SIGINT)


class ClusterServers(Servers):
    """A 3-node NATS JetStream cluster (every store R3) and PostgreSQL."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "pg").mkdir(parents=True, exist_ok=True)
        self.cluster: NatsCluster = start_nats_cluster(root / "nats")
        self.pg = start_postgres(self.root / "pg")

    @property
    def env(self) -> dict[str, str]:
        """The stack's environment: every node, R3 stores."""
        return {
            "ZAPGATE_NATS_URL": self.cluster.url,
            "ZAPGATE_NATS_REPLICAS": "3",
            "ZAPGATE_DATABASE_URL": with_database(self.pg.url, "zapgate"),
        }

    def kill_leader(self, stream: str, down: float) -> str:
        """kill -9 the node leading ``stream`` (``meta``: the meta group); after ``down`` s start it
        again. Its name."""

        async def leader() -> str:
            if stream == "meta":
                return self.cluster.meta_leader()
            nc = await nats.connect(servers=self.cluster.url.split(","))
            try:
                info = await nc.jetstream().stream_info(stream)
                return str(info.cluster.leader if info.cluster else "n1")
            finally:
                await nc.close()

        name = asyncio.run(leader())
        self.cluster.nodes[name].stop(signal.SIGKILL)
        time.sleep(down)
        self.cluster.start(name)
        return name

    def stop(self) -> None:
        """Stop the cluster and PostgreSQL."""
        self.cluster.stop()
        self.pg.stop(signal.SIGINT)


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/ready", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _accepts(url: str) -> bool:
    import asyncpg

    async def probe() -> bool:
        try:
            conn = await asyncpg.connect(url.replace("postgresql+asyncpg", "postgresql"))
        except (OSError, asyncpg.PostgresError):
            return False
        await conn.close()
        return True

    return asyncio.run(probe())


class Client:
    """A tenant's WebSocket client that reconnects with ``since`` and records every frame."""

    def __init__(self, stack: Stack, key: str, first: int = 0) -> None:
        self.stack = stack
        self.key = key
        self.urls = [u.replace("http://", "ws://") + "/api/v1/ws" for u in stack.system.info["gateway_urls"]]
        self.first = first
        self.frames: list[dict[str, Any]] = []
        self.reconnects = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            since = f"?since={self.frames[-1]['seq']}" if self.frames else "?since=0"
            try:
                url = self.urls[(self.first + self.reconnects) % len(self.urls)]  # then the other gateway
                async with websockets.connect(
                    url + since, additional_headers={"X-Api-Key": self.key}, max_queue=None
                ) as ws:
                    async for raw in ws:
                        self.frames.append(json.loads(raw))
            except asyncio.CancelledError:
                raise
            except Exception:
                pass
            self.reconnects += 1
            await asyncio.sleep(0.2)

    async def stop(self) -> None:
        assert self._task is not None
        self._task.cancel()


async def all_deliveries(http: httpx.AsyncClient, key: str, name: str) -> list[dict[str, Any]]:
    """Every delivery of a session, page by page, merged by WhatsApp id (counts summed)."""
    merged: dict[str, dict[str, Any]] = {}
    after = 0
    while True:
        response = await http.get(
            f"/api/v1/sessions/{name}/simulator/deliveries",
            params={"after": after, "limit": 1000},
            headers={"X-Api-Key": key},
        )
        response.raise_for_status()
        body = response.json()
        merge_deliveries(merged, body["items"])
        if body["next"] is None:
            return list(merged.values())
        after = body["next"]


async def send_all(
    stack: Stack, key: str, names: list[str], count: int, tag: str, span: float, retries: Counter[str],
    server_errors: list[str],
) -> dict[str, str]:  # fmt: skip
    """Send ``count`` texts round-robin over the sessions and the gateways, paced over ``span`` s.

    Each is retried with the same key, on the other gateway, until accepted.
    """
    accepted: dict[str, str] = {}
    limits = httpx.Limits(max_connections=16)
    clients = [
        httpx.AsyncClient(base_url=url, headers={"X-Api-Key": key}, limits=limits, timeout=30)
        for url in stack.system.info["gateway_urls"]
    ]
    semaphore = asyncio.Semaphore(16)
    started = time.monotonic()

    async def one(i: int) -> None:
        text = f"{tag}-{i}"
        body = {"type": "text", "to": TO, "text": text}
        await asyncio.sleep(max(0.0, started + span * i / count - time.monotonic()))
        attempt = i
        async with semaphore:
            while True:
                http = clients[attempt % len(clients)]
                attempt += 1
                try:
                    response = await http.post(
                        f"/api/v1/sessions/{names[i % len(names)]}/messages",
                        json=body,
                        headers={"Idempotency-Key": text},
                    )
                except httpx.HTTPError:
                    retries["connection error"] += 1
                    await asyncio.sleep(0.2)
                    continue
                if response.status_code == 202:
                    accepted[response.json()["id"]] = text
                    return
                if response.status_code == 503 and "retry-after" in response.headers:
                    # The only answer a client retries: a dependency is away for a moment.
                    retries["503"] += 1
                    await asyncio.sleep(min(float(response.headers["retry-after"]), 1.0))
                    continue
                if response.status_code >= 500 and response.status_code != 503:
                    # Counted apart and checked to be zero: a fault must never make a 500. A
                    # 502/504 cannot come from the gateway itself (no proxy in front of it).
                    server_errors.append(f"{response.status_code} {response.text[:200]}")
                    retries[str(response.status_code)] += 1
                    await asyncio.sleep(0.2)
                    continue
                raise AssertionError(f"{text}: {response.status_code} {response.text}")

    try:
        await asyncio.gather(*(one(i) for i in range(count)))
    finally:
        for http in clients:
            await http.aclose()
    return accepted


async def killer(stack: Stack, stop: asyncio.Event, faults: list[Fault], every: float) -> None:
    """kill -9 a random worker every few seconds (the dev stack restarts it)."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)
            return
        name = random.choice([n for n in stack.system.info["children"] if n.startswith("worker-")])
        kill(stack, name, faults)


def kill(stack: Stack, name: str, faults: list[Fault], what: str = "kill") -> None:
    """kill -9 a child of the stack now; record it as ``what``."""
    pid = current_pid(stack, name)
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
            faults.append((time.time(), what, pid))


async def disrupt(stack: Stack, servers: Servers, faults: list[Fault], every: float) -> dict[str, float]:
    """The schedule of server restarts and a gateway kill, one every ``every`` s; returns outage times."""
    outages: dict[str, float] = {}
    schedule = CLUSTER_SCHEDULE if isinstance(servers, ClusterServers) else SCHEDULE
    for n, what in enumerate(schedule):
        await asyncio.sleep(every)
        began = time.time()
        if what.startswith("leader:"):
            assert isinstance(servers, ClusterServers)
            faults.append((began, "nats-node", None))
            node = await asyncio.to_thread(servers.kill_leader, what.split(":", 1)[1], DOWN_FOR)
            outages[f"node_{node}_leading_{what.split(':', 1)[1]}_{n}_down_s"] = round(time.time() - began, 2)
            continue
        if what == "gateway":
            kill(stack, "gateway-2", faults, "gateway")
            url = stack.system.info["gateway_urls"][1]
            back = functools.partial(_ready, url)
            await asyncio.to_thread(wait_until, back, 60, "the killed gateway to come back")
        elif what == "billing":
            kill(stack, "billing", faults, "billing")
            health = stack.system.info["health"]["billing"].replace("/health", "")
            back = functools.partial(_ready, health)
            await asyncio.to_thread(wait_until, back, 60, "the killed billing to come back")
        else:
            faults.append((began, what, None))
            await asyncio.to_thread(
                servers.restart_nats if what == "nats" else servers.restart_postgres, DOWN_FOR
            )
        outages[f"{what}_{n}_down_s"] = round(time.time() - began, 2)
    return outages


def current_pid(stack: Stack, name: str) -> int | None:
    """The pid of a child now (a restarted child has a new one, found in the stack's log)."""
    pid: int | None = stack.system.info["children"].get(name)
    for line in stack.system.log().splitlines():
        if line.startswith("devstack") and f"{name} restarted (pid " in line:
            pid = int(line.rsplit("(pid ", 1)[1].rstrip(")"))
    return pid


def unavailability(frames: list[dict[str, Any]], faults: list[Fault]) -> list[tuple[float, str, str]]:
    """Per interruption: (seconds from the fault that caused it to the session's next CONNECTED, session, fault).

    A session is interrupted when it comes back (``previous`` RECONNECTING, or another worker):
    the cause is the latest fault before that which could have stopped it, a server restart or
    the kill of the worker that held it.
    """
    worker_of: dict[str, int] = {}
    spans: list[tuple[float, str, str]] = []
    for frame in frames:
        if frame["type"] != "session.status" or frame["data"]["status"] != "CONNECTED":
            continue
        pid = int(str(frame["data"]["worker"]).rsplit(":", 1)[1])
        before = worker_of.get(frame["session"])
        worker_of[frame["session"]] = pid
        if before is None or (before == pid and frame["data"].get("previous") != "RECONNECTING"):
            continue
        at = datetime.fromisoformat(frame["time"]).timestamp()
        causes = [
            (t, what)
            for t, what, victim in faults
            if t < at and what != "gateway" and victim in (None, before)
        ]
        if causes:
            t, what = max(causes)
            spans.append((round(at - t, 2), frame["session"], what))
    return spans


async def tenant_event_count(url: str, tenant_id: str) -> int:
    nc = await nats.connect(servers=url.split(","))
    try:
        info = await nc.jetstream().stream_info("ZG_EVENTS", subjects_filter=f"zg.evt.{tenant_id}.>")
        return sum((info.state.subjects or {}).values())
    finally:
        await nc.close()


async def chaos(
    messages: int = 20000,
    per_tenant: int = 25,
    kill_every: float = KILL_EVERY,
    fault_every: float = FAULT_EVERY,
    cluster: bool = False,
) -> dict[str, Any]:
    """The run; returns the figures and the checks. ``cluster``: on a 3-node NATS cluster, the
    faults are kills of the nodes leading the lease bucket and the streams."""
    root = Path(tempfile.mkdtemp(prefix="zg-chaos-"))
    servers = ClusterServers(root) if cluster else Servers(root)
    # A killed process comes back within 2 s; INFO logs, which say when sends were redelivered.
    restart = {"ZAPGATE_DEV_RESTART_MAX": "2", "ZAPGATE_LOG_LEVEL": "INFO"}
    stack = boot(workers=3, ttl=3, partitions=16, speed=20, gateways=2, extra={**servers.env, **restart})
    try:
        keys = [await new_tenant(stack, f"chaos-{t}") for t in ("a", "b")]
        names = [f"s{i:05d}" for i in range(per_tenant)]
        tenants: list[str] = []
        for key, area in zip(keys, ("11", "21"), strict=True):
            await pair_many(stack, key, per_tenant, area=area)
            async with httpx.AsyncClient(base_url=stack.system.url, headers={"X-Api-Key": key}) as http:
                tenants.append((await call(http, "GET", "/api/v1/me")).json()["id"])
                for name in names:
                    await call(
                        http,
                        "PATCH",
                        f"/api/v1/sessions/{name}",
                        json={"config": {"pacing": {"enabled": False}}},
                    )
        # One client starts on each gateway, so the gateway kill makes one of them move.
        clients = [Client(stack, key, first=n) for n, key in enumerate(keys)]
        for client in clients:
            client.start()
        stop = asyncio.Event()
        faults: list[Fault] = []
        chaos_task = asyncio.create_task(killer(stack, stop, faults, kill_every))
        disrupt_task = asyncio.create_task(disrupt(stack, servers, faults, fault_every))
        started = time.monotonic()
        # Paced to span the whole schedule, so every fault happens while messages are sent.
        span = fault_every * (len(CLUSTER_SCHEDULE if cluster else SCHEDULE) + 1)
        retries: Counter[str] = Counter()
        server_errors: list[str] = []
        sent = await asyncio.gather(
            *(
                send_all(stack, key, names, messages // 2, f"t{n}", span, retries, server_errors)
                for n, key in enumerate(keys)
            )
        )
        sending_s = time.monotonic() - started
        outages = await disrupt_task
        stop.set()
        await chaos_task
        kills = [f for f in faults if f[1] == "kill"]

        checks: dict[str, bool] = {
            "no answer was a 500 (503 with Retry-After is the only retryable one)": not server_errors
        }
        figures: dict[str, Any] = {
            "server_errors": server_errors[:20],
            "messages_accepted": sum(len(s) for s in sent),
            "worker_kills": len(kills),
            "faults": [what for _, what, _ in faults if what != "kill"],
            **outages,
            "send_retries": dict(retries),
        }
        # Every accepted message reached its contact once and was acknowledged.
        async with httpx.AsyncClient(base_url=stack.system.url, timeout=30) as http:
            deadline = time.monotonic() + 120
            while True:
                delivered: list[dict[str, Any]] = []
                try:
                    for key in keys:
                        for name in names:
                            delivered += await all_deliveries(http, key, name)
                except httpx.HTTPStatusError as exc:
                    if exc.response.status_code != 503 or time.monotonic() > deadline:
                        raise
                    delivered = []  # the last fault's outage is not over yet: ask again
                if len(delivered) >= figures["messages_accepted"] or time.monotonic() > deadline:
                    break
                await asyncio.sleep(1)
        texts = sorted(d["text"] for d in delivered)
        expected = sorted(t for s in sent for t in s.values())
        checks["every message delivered exactly once"] = texts == expected and all(
            d["count"] == 1 for d in delivered
        )
        figures["deliveries"] = len(delivered)
        figures["undelivered"] = sorted(set(expected) - set(texts))[:20]
        figures["logs"] = str(stack.system.log_path)
        acked: set[str] = set()
        deadline = time.monotonic() + 60
        wanted = {i for s in sent for i in s}
        while time.monotonic() < deadline:
            acked = {
                f["data"]["id"] for c in clients for f in c.frames
                if f["type"] == "message.status" and f["data"]["status"] in ("delivered", "read")
            }  # fmt: skip
            if wanted <= acked:
                break
            await asyncio.sleep(0.5)
        checks["every message delivered or read"] = wanted <= acked
        # Billing's count of each tenant's messages is the number of distinct messages it sent,
        # however often workers, NATS and billing itself were killed on the way.
        metered: list[int] = []
        with stack.system.client(stack.system.admin_key) as admin:
            deadline = time.monotonic() + 60
            while True:
                metered = [
                    int(admin.get(f"/api/v1/tenants/{t}/subscription").json()["usage"]["messages"])
                    for t in tenants
                ]  # fmt: skip
                if metered == [len(s) for s in sent] or time.monotonic() > deadline:
                    break
                await asyncio.sleep(1)
        figures["metered_by_tenant"] = metered
        checks["billing metered each tenant's distinct messages exactly"] = metered == [len(s) for s in sent]
        checks["no account connected twice"] = await replaced_connections(stack.system.info["nats_url"]) == 0
        # Exactly once means something only if the faults made repeats that had to be dropped.
        figures["network_repeats_dropped"] = await simnet_stat(stack.system.info["nats_url"], "stats.repeats")
        figures["redelivered_sends"] = stack.system.log().count("redelivered sends were recorded before")
        figures["batches_with_commands_delivered_again"] = stack.system.log().count(
            "commands delivered again"
        )
        redelivered = sum(
            figures[k]
            for k in ("network_repeats_dropped", "redelivered_sends", "batches_with_commands_delivered_again")
        )
        if messages >= FULL_FORM:
            # The short form in make test sends too few messages for its kills to be sure to
            # catch one in flight: it reports the figures, the full form requires them.
            checks["the faults caused redeliveries (so exactly-once was put to the test)"] = redelivered > 0
        deadline = time.monotonic() + 60
        while True:  # the last fault may have just stopped some: give them time to come back
            stuck = []
            for key in keys:
                async with httpx.AsyncClient(base_url=stack.system.url, headers={"X-Api-Key": key}) as http:
                    stuck += [
                        s["name"] for s in (await call(http, "GET", "/api/v1/sessions")).json()
                        if s["status"] != "CONNECTED"
                    ]  # fmt: skip
            if not stuck or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        figures["not_connected_at_end"] = stuck
        checks["every session CONNECTED at the end (none STARTING, RECONNECTING or FAILED)"] = not stuck
        # Every WebSocket client saw every event of its tenant, once, in order. Events still come
        # (sessions back from the last fault, late acks): wait until each client has caught up
        # with its tenant's stream, then compare.
        deadline = time.monotonic() + 30
        ws: list[dict[str, Any]] = []
        while True:
            ws = []
            for client, tenant_id in zip(clients, tenants, strict=True):
                seqs = [f["seq"] for f in client.frames]
                ws.append({
                    "seen": len(seqs),
                    "stream": await tenant_event_count(stack.system.info["nats_url"], tenant_id),
                    "unique_in_order": seqs == sorted(set(seqs)),
                    "own_tenant_only": all(f["tenant"] == tenant_id for f in client.frames),
                })  # fmt: skip
            if all(w["seen"] >= w["stream"] for w in ws) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        for client in clients:
            await client.stop()
        checks["every client saw every event of its tenant once, in order"] = all(
            w["seen"] == w["stream"] and w["unique_in_order"] and w["own_tenant_only"] for w in ws
        )
        figures["ws_clients"] = ws
        figures["ws_reconnects"] = sum(c.reconnects for c in clients)
        periods = [s for c in clients for s in unavailability(c.frames, faults)]
        spans = [s for s, _, _ in periods]
        figures.update(
            sending_s=round(sending_s, 1),
            unavailable_periods=len(spans),
            unavailable_p50_s=round(pct(spans, 50), 2) if spans else 0,
            unavailable_p99_s=round(pct(spans, 99), 2) if spans else 0,
            unavailable_max_s=round(max(spans), 2) if spans else 0,
            unavailable_by_cause={
                what: round(pct([s for s, _, w in periods if w == what], 99), 2)
                for what in sorted({w for _, _, w in periods})
            },
            longest_unavailable=sorted(periods, reverse=True)[:5],
        )
        return {"checks": checks, "figures": figures}
    finally:
        stack.system.stop()
        servers.stop()


def main() -> None:
    """Run, print, and exit 1 when a check fails."""
    cluster = "--cluster" in sys.argv[1:]
    args = [int(a) for a in sys.argv[1:] if a != "--cluster"]
    result = asyncio.run(chaos(*args, cluster=cluster))  # type: ignore[misc]
    for name, ok in result["checks"].items():
        print(f"{'PASS' if ok else 'FAIL'}  {name}")
    print(json.dumps(result["figures"], indent=2))
    sys.exit(0 if all(result["checks"].values()) else 1)


if __name__ == "__main__":
    main()
