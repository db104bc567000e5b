"""Session benchmarks on a real stack: time to first QR, failover after kill -9, rebalance, scale.

Each run starts the dev stack (embedded nats-server and PostgreSQL, the services as processes),
drives it over HTTP and the WebSocket, and prints the figures next to their targets.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import nats
import websockets

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "deploy/local"), str(ROOT)]

from helpers import System, replaced_connections, start_system

from bench import run

BATCH = 500


def pct(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


@dataclass
class Stack:
    """A running stack and an admin client."""

    system: System
    env: dict[str, str] = field(default_factory=dict)

    @property
    def ws(self) -> str:
        return self.system.url.replace("http://", "ws://") + "/api/v1/ws"


def boot(
    workers: int, ttl: float, partitions: int = 64, speed: float = 1.0, gateways: int = 1,
    extra: dict[str, str] | None = None,
) -> Stack:  # fmt: skip
    """A fresh stack in a temporary directory (``extra``: more environment, e.g. external servers)."""
    data = Path(tempfile.mkdtemp(prefix="zg-bench-")) / ".zapgate"
    env = {
        "ZAPGATE_LEASE_TTL": str(ttl),
        "ZAPGATE_PARTITIONS": str(partitions),
        "ZAPGATE_SIM_SPEED": str(speed),
        "ZAPGATE_SECRET_KEY": "bench-secret-key-0123456789-abcdefghij",
        "ZAPGATE_LOG_LEVEL": "WARNING",
        **(extra or {}),
    }
    return Stack(start_system(data, env, workers=workers, gateways=gateways), env)


async def new_tenant(stack: Stack, name: str) -> str:
    async with httpx.AsyncClient(
        base_url=stack.system.url, headers={"X-Api-Key": stack.system.admin_key}
    ) as http:
        response = await http.post("/api/v1/tenants", json={"name": name})
        response.raise_for_status()
        return str(response.json()["api_key"])


async def call(http: httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """One request, retried on connection errors (a closed keep-alive connection, say)."""
    for attempt in range(5):
        try:
            response = await http.request(method, url, **kwargs)
            response.raise_for_status()
            return response
        except httpx.TransportError:
            if attempt == 4:
                raise
            await asyncio.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


async def statuses(http: httpx.AsyncClient) -> dict[str, str]:
    return {s["name"]: s["status"] for s in (await call(http, "GET", "/api/v1/sessions")).json()}


async def pair_many(stack: Stack, key: str, count: int, concurrency: int = 32, area: str = "11") -> None:
    """Create, start and pair ``count`` sessions; returns when all are CONNECTED.

    Phones are ``55<area>9`` and the session number, so tenants given different areas pair
    different accounts (one account paired twice replaces its first link, as on WhatsApp).
    """
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(
        base_url=stack.system.url, headers={"X-Api-Key": key}, limits=limits, timeout=60
    ) as http:
        semaphore = asyncio.Semaphore(concurrency)
        names = [f"s{i:05d}" for i in range(count)]

        async def start(name: str) -> None:
            async with semaphore:
                await call(http, "POST", "/api/v1/sessions", json={"name": name})
                await call(http, "POST", f"/api/v1/sessions/{name}/start")

        async def scan(name: str) -> None:
            async with semaphore:
                phone = f"55{area}9" + name[1:].rjust(8, "0")
                await call(http, "POST", f"/api/v1/sessions/{name}/simulator/scan", json={"phone": phone})

        # In batches: a QR code waits 160 s for its scan, less than it takes to start thousands.
        for first in range(0, count, BATCH):
            batch = names[first : first + BATCH]
            await asyncio.gather(*(start(n) for n in batch))
            while True:
                current = await statuses(http)
                if all(current.get(n) == "SCAN_QR" for n in batch):
                    break
                await asyncio.sleep(0.3)
            await asyncio.gather(*(scan(n) for n in batch))
        await wait_connected(http, count)


async def wait_connected(http: httpx.AsyncClient, count: int, within: float = 600) -> float:
    started = time.monotonic()
    while True:
        if sum(v == "CONNECTED" for v in (await statuses(http)).values()) >= count:
            return time.monotonic() - started
        if time.monotonic() - started > within:
            raise TimeoutError("sessions did not all connect")
        await asyncio.sleep(0.5)


# ---------------------------------------------------------------- benchmarks


async def first_qr(samples: int = 200) -> dict[str, Any]:
    """POST start -> session.qr on the tenant's WebSocket."""
    stack = boot(workers=2, ttl=10)
    try:
        key = await new_tenant(stack, "bench-qr")
        latencies = []
        async with (
            httpx.AsyncClient(base_url=stack.system.url, headers={"X-Api-Key": key}) as http,
            websockets.connect(stack.ws + "?types=session.qr", additional_headers={"X-Api-Key": key}) as ws,
        ):
            for i in range(samples):
                name = f"q{i:04d}"
                (await http.post("/api/v1/sessions", json={"name": name})).raise_for_status()
                began = time.perf_counter()
                (await http.post(f"/api/v1/sessions/{name}/start")).raise_for_status()
                while True:
                    frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
                    if frame["session"] == name:
                        break
                latencies.append((time.perf_counter() - began) * 1000)
        return {
            "samples": samples,
            "p50_ms": round(pct(latencies, 50), 1),
            "p99_ms": round(pct(latencies, 99), 1),
            "target_p50_ms": 50,
        }
    finally:
        stack.system.stop()


async def failover(sessions: int = 2000, ttl: float = 10.0) -> dict[str, Any]:
    """kill -9 of a worker: time until each of its CONNECTED sessions is CONNECTED elsewhere."""
    stack = boot(workers=2, ttl=ttl)
    try:
        key = await new_tenant(stack, "bench-failover")
        await pair_many(stack, key, sessions)
        async with httpx.AsyncClient(
            base_url=stack.system.url, headers={"X-Api-Key": key}, timeout=60
        ) as http:
            listing = (await http.get("/api/v1/sessions")).json()
        victim_worker = max(
            {s["worker"] for s in listing}, key=lambda w: sum(s["worker"] == w for s in listing)
        )
        moved = {s["name"] for s in listing if s["worker"] == victim_worker}
        victim = int(victim_worker.rsplit(":", 1)[1])
        back: dict[str, float] = {}
        async with websockets.connect(
            stack.ws + "?types=session.status", additional_headers={"X-Api-Key": key}, max_queue=None
        ) as ws:
            killed = time.perf_counter()
            os.kill(victim, signal.SIGKILL)
            deadline = killed + 10 * ttl
            while len(back) < len(moved) and time.perf_counter() < deadline:
                try:
                    frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
                except TimeoutError:
                    continue
                data = frame["data"]
                if (
                    frame["session"] in moved
                    and data["status"] == "CONNECTED"
                    and data["worker"] != victim_worker
                ):
                    back.setdefault(frame["session"], time.perf_counter() - killed)
        times = list(back.values())
        return {
            "sessions_on_killed_worker": len(moved),
            "recovered": len(back),
            "lease_ttl_s": ttl,
            "p50_s": round(pct(times, 50), 2),
            "p99_s": round(pct(times, 99), 2),
            "max_s": round(max(times), 2),
            "p99_over_ttl": round(pct(times, 99) / ttl, 3),
            "target_p99_s": ttl + 1,
            "double_connections": await replaced_connections(stack.system.info["nats_url"]),
        }
    finally:
        stack.system.stop()


async def rebalance(ttl: float = 10.0) -> dict[str, Any]:
    """A third worker joins two that hold 32 partitions each: time until it holds its share."""
    stack = boot(workers=2, ttl=ttl)
    extra: subprocess.Popen[bytes] | None = None
    try:
        info = stack.system.info
        nc = await nats.connect(info["nats_url"])
        kv = await nc.jetstream().key_value("zg_workers")

        async def held() -> dict[str, int]:
            counts = {}
            for k in await kv.keys():
                with_value = await kv.get(k)
                if with_value.value:
                    data = json.loads(with_value.value)
                    counts[data["worker"]] = data["held"]
            return counts

        while sorted((await held()).values()) != [32, 32]:
            await asyncio.sleep(0.2)
        env = {
            **os.environ, **stack.env,
            "ZAPGATE_NATS_URL": info["nats_url"], "ZAPGATE_DATABASE_URL": info["database_url"],
        }  # fmt: skip
        joined = time.perf_counter()
        extra = subprocess.Popen([sys.executable, "-m", "zapgate.session_worker"], env=env)
        worker_id = None
        while True:
            counts = await held()
            new = [w for w in counts if w.endswith(f":{extra.pid}")]
            if new and counts[new[0]] >= 64 // 3:
                worker_id = new[0]
                break
            await asyncio.sleep(0.05)
        took = time.perf_counter() - joined
        await nc.close()
        return {
            "partitions": 64,
            "share_reached": counts[worker_id],
            "split": sorted(counts.values()),
            "seconds": round(took, 2),
            "over_ttl": round(took / ttl, 2),
            "target_s": 2 * ttl,
        }
    finally:
        if extra is not None:
            extra.terminate()
            extra.wait(30)
        stack.system.stop()


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def scale(sessions: int = 10_000) -> dict[str, Any]:
    """``sessions`` CONNECTED on two workers: pairing time, memory per session, cold start."""
    stack = boot(workers=2, ttl=10)
    try:
        children = stack.system.info["children"]
        workers = [children["worker-1"], children["worker-2"]]
        await asyncio.sleep(3)
        before = sum(rss_kb(p) for p in workers)
        key = await new_tenant(stack, "bench-scale")
        began = time.perf_counter()
        await pair_many(stack, key, sessions, concurrency=64)
        paired = time.perf_counter() - began
        await asyncio.sleep(3)
        after = sum(rss_kb(p) for p in workers)
        data_dir = stack.system.data_dir
        admin = stack.system.admin_key
        nc = await nats.connect(stack.system.info["nats_url"])
        last_seq = (await nc.jetstream().stream_info("ZG_EVENTS")).state.last_seq
        await nc.close()
        assert stack.system.stop() == 0
        # Cold start: from launching the stack to the last session's CONNECTED event of the new
        # run. The REST status still says CONNECTED from before the restart until the workers
        # re-emit, so count the new run's events, replayed on the WebSocket from before the stop.
        launched = time.time()
        cold = start_system(data_dir, {**stack.env, "ZAPGATE_ADMIN_KEY": admin}, workers=2)
        stack.system = cold
        back: dict[str, float] = {}
        async with websockets.connect(
            stack.ws + f"?types=session.status&since={last_seq}", additional_headers={"X-Api-Key": key},
            max_queue=None,
        ) as ws:  # fmt: skip
            while len(back) < sessions:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 120))
                if frame["data"]["status"] == "CONNECTED":
                    back[frame["session"]] = datetime.fromisoformat(frame["time"]).timestamp()
        up = max(back.values()) - launched
        return {
            "sessions": sessions,
            "pair_all_s": round(paired, 1),
            "cold_start_all_connected_s": round(up, 1),
            "worker_rss_per_session_kb": round((after - before) / sessions, 1),
            "target_kb": 50,
        }
    finally:
        stack.system.stop()


BENCHES = {"first_qr": first_qr, "failover": failover, "rebalance": rebalance, "scale": scale}


def main(names: list[str]) -> dict[str, Any]:
    """Run the named benchmarks (all when none) and return their figures."""
    return run(BENCHES, names)  # type: ignore[arg-type]


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:]), indent=2))
