"""Chaos run (reduced form of issue 5): send while workers are killed, then check nothing was lost.

Three workers, CONNECTED sessions of two tenants, one reconnecting WebSocket client per tenant
(resuming with ``since``), messages sent with idempotency keys and retried on connection errors
and 5xx. Every few seconds a random worker is killed with ``kill -9`` (the dev stack restarts it).
At the end it checks and prints:

- every accepted message reached its contact exactly once and reached ``delivered`` or ``read``;
- every WebSocket client saw every event of its tenant, each once, in stream order;
- no account was connected twice (the simulated network's replaced count is 0) and no session
  is left STARTING or RECONNECTING;
- how long each session was unavailable, p50/p99/max.

Not yet in this form: a second gateway, and restarts of nats-server and PostgreSQL.
``python bench/chaos.py [messages] [sessions per tenant]``; exits 1 if a check fails.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import nats
import websockets

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "deploy/local"), str(ROOT)]

from helpers import replaced_connections

from bench.sessions import Stack, boot, call, new_tenant, pair_many, pct

KILL_EVERY = 4.0
TO = "5511987650001"


class Client:
    """A tenant's WebSocket client that reconnects with ``since`` and records every frame."""

    def __init__(self, stack: Stack, key: str) -> None:
        self.stack = stack
        self.key = key
        self.frames: list[dict[str, Any]] = []
        self.reconnects = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            since = f"?since={self.frames[-1]['seq']}" if self.frames else "?since=0"
            try:
                async with websockets.connect(
                    self.stack.ws + since, additional_headers={"X-Api-Key": self.key}, max_queue=None
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


async def send_all(stack: Stack, key: str, names: list[str], count: int, tag: str) -> dict[str, str]:
    """Send ``count`` texts round-robin over the sessions; retry with the same key until accepted."""
    accepted: dict[str, str] = {}
    limits = httpx.Limits(max_connections=16)
    async with httpx.AsyncClient(
        base_url=stack.system.url, headers={"X-Api-Key": key}, limits=limits, timeout=30
    ) as http:
        semaphore = asyncio.Semaphore(16)

        async def one(i: int) -> None:
            text = f"{tag}-{i}"
            body = {"type": "text", "to": TO, "text": text}
            async with semaphore:
                while True:
                    try:
                        response = await http.post(
                            f"/api/v1/sessions/{names[i % len(names)]}/messages",
                            json=body,
                            headers={"Idempotency-Key": text},
                        )
                    except httpx.HTTPError:
                        await asyncio.sleep(0.2)
                        continue
                    if response.status_code == 202:
                        accepted[response.json()["id"]] = text
                        return
                    if response.status_code < 500:
                        raise AssertionError(f"{text}: {response.status_code} {response.text}")
                    await asyncio.sleep(0.2)

        await asyncio.gather(*(one(i) for i in range(count)))
    return accepted


async def killer(stack: Stack, stop: asyncio.Event, kills: dict[int, float], every: float) -> None:
    """kill -9 a random worker every few seconds (the dev stack restarts it); records pid → time."""
    while not stop.is_set():
        try:
            await asyncio.wait_for(stop.wait(), every)
            return
        except TimeoutError:
            pass
        name = random.choice([n for n in stack.system.info["children"] if n.startswith("worker-")])
        pid = current_pid(stack, name)
        if pid is not None:
            try:
                os.kill(pid, signal.SIGKILL)
                kills[pid] = time.time()
            except ProcessLookupError:
                pass


def current_pid(stack: Stack, name: str) -> int | None:
    """The pid of a child now (a restarted child has a new one, found in the stack's log)."""
    pid: int | None = stack.system.info["children"].get(name)
    for line in stack.system.log().splitlines():
        if line.startswith("devstack") and f"{name} restarted (pid " in line:
            pid = int(line.rsplit("(pid ", 1)[1].rstrip(")"))
    return pid


def unavailability(frames: list[dict[str, Any]], kills: dict[int, float]) -> list[float]:
    """Per takeover: seconds from the kill of a session's worker to its CONNECTED on another one."""
    worker_of: dict[str, int] = {}
    spans: list[float] = []
    for frame in frames:
        if frame["type"] != "session.status" or frame["data"]["status"] != "CONNECTED":
            continue
        pid = int(str(frame["data"]["worker"]).rsplit(":", 1)[1])
        before = worker_of.get(frame["session"])
        if before is not None and before != pid and before in kills:
            spans.append(datetime.fromisoformat(frame["time"]).timestamp() - kills[before])
        worker_of[frame["session"]] = pid
    return spans


async def tenant_event_count(url: str, tenant_id: str) -> int:
    nc = await nats.connect(url)
    try:
        info = await nc.jetstream().stream_info("ZG_EVENTS", subjects_filter=f"zg.evt.{tenant_id}.>")
        return sum((info.state.subjects or {}).values())
    finally:
        await nc.close()


async def chaos(messages: int = 2000, per_tenant: int = 10, kill_every: float = KILL_EVERY) -> dict[str, Any]:
    """The run; returns the figures and the checks."""
    stack = boot(workers=3, ttl=3, partitions=16, speed=20)
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
        clients = [Client(stack, key) for key in keys]
        for client in clients:
            client.start()
        stop = asyncio.Event()
        kills: dict[int, float] = {}
        chaos_task = asyncio.create_task(killer(stack, stop, kills, kill_every))
        started = time.monotonic()
        sent = await asyncio.gather(
            *(send_all(stack, key, names, messages // 2, f"t{n}") for n, key in enumerate(keys))
        )
        sending_s = time.monotonic() - started
        while not kills and time.monotonic() - started < 60:  # at least one kill, however quick the sends
            await asyncio.sleep(0.1)
        stop.set()
        await chaos_task

        checks: dict[str, bool] = {}
        figures: dict[str, Any] = {"messages_accepted": sum(len(s) for s in sent), "kills": len(kills)}
        # Every accepted message reached its contact once and was acknowledged.
        async with httpx.AsyncClient(base_url=stack.system.url, timeout=30) as http:
            deadline = time.monotonic() + 120
            while True:
                delivered: list[dict[str, Any]] = []
                for key in keys:
                    for name in names:
                        response = await http.get(
                            f"/api/v1/sessions/{name}/simulator/deliveries", headers={"X-Api-Key": key}
                        )
                        delivered += response.json()
                if len(delivered) >= figures["messages_accepted"] or time.monotonic() > deadline:
                    break
                await asyncio.sleep(1)
        texts = sorted(d["text"] for d in delivered)
        expected = sorted(t for s in sent for t in s.values())
        checks["every message delivered exactly once"] = texts == expected and all(
            d["count"] == 1 for d in delivered
        )
        figures["deliveries"] = len(delivered)
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
        await asyncio.sleep(2)
        for client in clients:
            await client.stop()
        # Every WebSocket client saw every event of its tenant, once, in order.
        ws_ok = True
        for client, tenant_id in zip(clients, tenants, strict=True):
            seqs = [f["seq"] for f in client.frames]
            total = await tenant_event_count(stack.system.info["nats_url"], tenant_id)
            ws_ok = ws_ok and seqs == sorted(set(seqs)) and len(seqs) == total
            ws_ok = ws_ok and all(f["tenant"] == tenant_id for f in client.frames)
        checks["every client saw every event of its tenant once, in order"] = ws_ok
        figures["ws_reconnects"] = sum(c.reconnects for c in clients)
        checks["no account connected twice"] = await replaced_connections(stack.system.info["nats_url"]) == 0
        stuck = []
        for key in keys:
            async with httpx.AsyncClient(base_url=stack.system.url, headers={"X-Api-Key": key}) as http:
                stuck += [
                    s["name"] for s in (await call(http, "GET", "/api/v1/sessions")).json()
                    if s["status"] != "CONNECTED"
                ]  # fmt: skip
        checks["every session CONNECTED at the end (none STARTING, RECONNECTING or FAILED)"] = not stuck
        spans = [s for c in clients for s in unavailability(c.frames, kills)]
        figures.update(
            sending_s=round(sending_s, 1),
            unavailable_periods=len(spans),
            unavailable_p50_s=round(pct(spans, 50), 2) if spans else 0,
            unavailable_p99_s=round(pct(spans, 99), 2) if spans else 0,
            unavailable_max_s=round(max(spans), 2) if spans else 0,
        )
        return {"checks": checks, "figures": figures}
    finally:
        stack.system.stop()


def main() -> None:
    """Run, print, and exit 1 when a check fails."""
    args = [int(a) for a in sys.argv[1:]]
    result = asyncio.run(chaos(*args))
    for name, ok in result["checks"].items():
        print(f"{'PASS' if ok else 'FAIL'}  {name}")
    print(json.dumps(result["figures"], indent=2))
    sys.exit(0 if all(result["checks"].values()) else 1)


if __name__ == "__main__":
    main()
