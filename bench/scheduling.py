"""Scheduling benchmarks: due-schedule bursts, a campaign's rate, and nats-server's own schedules.

Real nats-server and PostgreSQL; two scheduler replicas as processes (as ``make run`` runs them);
the gateway's side of the send path is a responder in this process that answers at once, so the
figures are the scheduler's.

- ``schedule_burst``: 10,000 one-off schedules due in the same minute (the same second): how late
  each message reached the send path (p50/p99), the schedulers' CPU per fire, and the time to
  send them all as a ratio to a ceiling measured in the same run: the same 10,000 requests sent
  by a bare loop of one process with 200 in flight.
- ``campaign_rate``: one campaign of 600 recipients over 2 sessions at 600 a minute each: the rate
  reached against the throttle (the ceiling here is the throttle itself).
- ``jetstream_schedules``: the alternative, nats-server's message schedules (ADR-51, ``@at``):
  10,000 messages scheduled for the same second, how late each fired (p50/p99).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import nats
from nats.js import api as js_api

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "deploy/local"), str(ROOT)]

from helpers import start_nats, start_postgres

from bench import run
from zapgate.common import rpc, subjects
from zapgate.scheduler.db import migrate

SCHEDULES = 10_000


def pct(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Servers:
    """nats-server and PostgreSQL for one benchmark, and the schedulers as processes."""

    def __init__(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="zg-bench-sched-"))
        self.nats = start_nats(self.tmp / "nats")
        self.pg = start_postgres(self.tmp / "pg")
        self.database_url = self.pg.url
        migrate(self.database_url)
        self.procs: list[subprocess.Popen[bytes]] = []

    def schedulers(self, n: int, tick: float) -> list[subprocess.Popen[bytes]]:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("ZAPGATE_")},
            "ZAPGATE_NATS_URL": self.nats.url, "ZAPGATE_DATABASE_URL": self.database_url,
            "ZAPGATE_SCHEDULER_TICK": str(tick), "ZAPGATE_LOG_LEVEL": "WARNING",
        }  # fmt: skip
        for i in range(n):
            log = open(self.tmp / f"scheduler-{i}.log", "wb")  # noqa: SIM115 - lives with the process
            self.procs.append(
                subprocess.Popen([sys.executable, "-m", "zapgate.scheduler"], env=env, stdout=log, stderr=log)
            )
        return self.procs

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            proc.wait(30)
        self.nats.stop()
        self.pg.stop()


class Responder:
    """The gateway's ``messages.send``, answering at once and noting when each message came."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.sessions: dict[str, list[float]] = {}
        self.calls = 0

    async def start(self, nc: nats.NATS) -> None:
        async def send(tenant: str, args: dict[str, Any]) -> Any:
            self.calls += 1
            key = args["idempotency_key"]
            now = time.time()
            if key not in self.arrived:
                self.arrived[key] = now
                self.sessions.setdefault(args["session"], []).append(now)
            return {"id": args["message_id"], "status": "queued"}

        await rpc.serve(nc, subjects.service_api("gateway"), "gateway", {"messages.send": send})


async def _ceiling(nc: nats.NATS, n: int, in_flight: int = 200) -> float:
    """Seconds for ``n`` requests to the responder from a bare loop (what the schedulers do per fire)."""
    sem = asyncio.Semaphore(in_flight)
    body = {"session": "s", "message": {"type": "text", "text": "x", "to": "5511988887777@c.us"}}

    async def one(i: int) -> None:
        async with sem:
            await rpc.call(nc, subjects.service_api("gateway"), "messages.send", "ceiling",
                           {**body, "idempotency_key": f"c{i}", "message_id": f"C{i}"}, 10)  # fmt: skip

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    return time.perf_counter() - started


async def _create(nc: nats.NATS, op: str, args: dict[str, Any], tenant: str = "bench") -> Any:
    return await rpc.call(nc, subjects.service_api("scheduler"), op, tenant, args, 30)


async def _answering(nc: nats.NATS, within: float = 60) -> None:
    """Wait until a scheduler answers."""
    deadline = time.monotonic() + within
    while True:
        try:
            await _create(nc, "lists.list", {})
            return
        except nats.errors.NoRespondersError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def schedule_burst() -> dict[str, Any]:
    servers = await asyncio.to_thread(Servers)  # migrations run their own event loop
    try:
        procs = servers.schedulers(2, tick=1.0)
        nc = await nats.connect(servers.nats.url)
        responder = Responder()
        await responder.start(nc)
        await _answering(nc)
        await asyncio.sleep(2)  # the second replica too
        ceiling = await _ceiling(nc, SCHEDULES)
        responder.arrived.clear()
        responder.calls = 0
        due = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=45)
        sem = asyncio.Semaphore(64)

        async def create(i: int) -> None:
            async with sem:
                await _create(nc, "schedules.create", {
                    "session": "s1", "to": f"5511{970000000 + i}", "send_at": due.isoformat(),
                    "message": {"type": "text", "text": f"r{i}"},
                })  # fmt: skip

        made = time.perf_counter()
        await asyncio.gather(*(create(i) for i in range(SCHEDULES)))
        create_s = time.perf_counter() - made
        assert datetime.now(UTC) < due, "creating the schedules took longer than the lead time"
        cpu_before = sum(cpu_seconds(p.pid) for p in procs)
        deadline = time.time() + 600
        while len(responder.arrived) < SCHEDULES and time.time() < deadline:
            await asyncio.sleep(0.2)
        cpu = sum(cpu_seconds(p.pid) for p in procs) - cpu_before
        late = [t - due.timestamp() for t in responder.arrived.values()]
        spent = max(late) if late else float("nan")
        await nc.close()
        # When each fire was claimed (its row in sch_fires), apart from when its message reached the
        # send path: the claim is what JetStream's own schedules would replace.
        conn = await asyncpg.connect(servers.database_url.replace("+asyncpg", ""))
        try:
            claimed = [
                float(r[0]) for r in await conn.fetch(
                    "SELECT EXTRACT(EPOCH FROM fired_at - nominal_at) FROM sch_fires WHERE outcome = 'fired'"
                )
            ]  # fmt: skip
        finally:
            await conn.close()
        return {
            "schedules": SCHEDULES, "sent": len(responder.arrived), "requests": responder.calls,
            "late_p50_s": round(pct(late, 50), 3), "late_p99_s": round(pct(late, 99), 3),
            "late_max_s": round(spent, 3), "claimed_late_p50_s": round(pct(claimed, 50), 3),
            "claimed_late_p99_s": round(pct(claimed, 99), 3), "cpu_ms_per_fire": round(cpu * 1000 / max(1, len(late)), 3),
            "ceiling_s": round(ceiling, 3), "ratio_to_ceiling": round(ceiling / spent, 3),
            "create_per_s": round(SCHEDULES / create_s), "replicas": 2, "tick_s": 1.0,
        }  # fmt: skip
    finally:
        servers.stop()


async def campaign_rate() -> dict[str, Any]:
    servers = await asyncio.to_thread(Servers)  # migrations run their own event loop
    try:
        servers.schedulers(2, tick=0.2)
        nc = await nats.connect(servers.nats.url)
        responder = Responder()
        await responder.start(nc)
        await _answering(nc)
        await asyncio.sleep(2)
        listed = await _create(nc, "lists.create", {"name": "bench"})
        contacts = [{"phone": f"5511{960000000 + i}"} for i in range(600)]
        await _create(nc, "contacts.add", {"list_id": listed["id"], "body": {"contacts": contacts}})
        per_minute = 600
        campaign = await _create(nc, "campaigns.create", {
            "name": "rate", "list_id": listed["id"], "sessions": ["a", "b"], "throttle": {"per_minute": per_minute},
            "message": {"type": "text", "text": "oferta"},
        })  # fmt: skip
        await _create(nc, "campaigns.start", {"campaign_id": campaign["id"]})
        deadline = time.time() + 300
        while len(responder.arrived) < 600 and time.time() < deadline:
            await asyncio.sleep(0.2)
        rates = {}
        for session, times in responder.sessions.items():
            times.sort()
            rates[session] = round((len(times) - 1) / (times[-1] - times[0]) * 60, 1)
        await nc.close()
        return {
            "recipients": 600, "sent": len(responder.arrived), "sessions": 2, "throttle_per_min": per_minute,
            "rate_per_min": rates, "ratio_to_throttle": round(min(rates.values()) / per_minute, 3),
            "max_ratio": round(max(rates.values()) / per_minute, 3),
        }  # fmt: skip
    finally:
        servers.stop()


async def jetstream_schedules() -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="zg-bench-js-"))
    server = start_nats(tmp / "nats")
    try:
        nc = await nats.connect(server.url)
        js = nc.jetstream()
        await js.add_stream(
            js_api.StreamConfig(
                name="SCHED", subjects=["sched.>", "fire.>"], allow_msg_schedules=True, allow_msg_ttl=True
            )
        )
        fired: dict[str, float] = {}

        async def on_fire(msg: Any) -> None:
            fired.setdefault(msg.subject, time.time())

        # A fired message is stored on its target subject: read it from the stream.
        await js.subscribe("fire.>", cb=on_fire, ordered_consumer=True)
        due = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=20)
        at = "@at " + due.strftime("%Y-%m-%dT%H:%M:%SZ")
        pending = []
        made = time.perf_counter()
        for i in range(SCHEDULES):
            headers = {"Nats-Schedule": at, "Nats-Schedule-Target": f"fire.{i}", "zg-key": f"k{i}"}
            pending.append(js.publish(f"sched.{i}", b"x", headers=headers))
            if len(pending) >= 256:
                await asyncio.gather(*pending)
                pending = []
        await asyncio.gather(*pending)
        create_s = time.perf_counter() - made
        deadline = time.time() + 120
        while len(fired) < SCHEDULES and time.time() < deadline:
            await asyncio.sleep(0.2)
        late = [t - due.timestamp() for t in fired.values()]
        cpu = cpu_seconds(server.proc.pid)
        await nc.close()
        return {
            "schedules": SCHEDULES, "fired": len(fired), "late_p50_s": round(pct(late, 50), 3) if late else None,
            "late_p99_s": round(pct(late, 99), 3) if late else None, "create_per_s": round(SCHEDULES / create_s),
            "server_cpu_s_total": round(cpu, 2), "info": json.dumps({"nats_server": server.url}),
        }  # fmt: skip
    finally:
        server.stop()


BENCHES = {
    "schedule_burst": schedule_burst,
    "campaign_rate": campaign_rate,
    "jetstream_schedules": jetstream_schedules,
}


def main(names: list[str]) -> dict[str, Any]:
    """Run the named scheduling benchmarks."""
    return run(BENCHES, names)  # type: ignore[arg-type]


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:]), indent=2))
