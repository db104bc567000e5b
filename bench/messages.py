"""Messaging benchmarks on a real stack: gateway accept rate, end-to-end throughput and latency.

- ``accept``: accepted sends per second of one gateway process (auth, validation, the database
  row, the durable publish), as a ratio to a bare Litestar JSON POST served the same way and
  driven by the same load generator in the same run.
- ``e2e``: POST → ``message.status`` ``sent`` on the tenant's WebSocket with every service
  running and pacing off: sustained throughput (with JetStream's publish-with-ack rate of the
  same run as the ceiling) and the CPU a message costs in each process, then latency p50/p99
  at 500 msg/s (and at 100 and 250 msg/s before it, for the curve, with how busy the machine was).
- ``roundtrip``: the CPU one JetStream publish costs the server and the client, one at a time
  and 64 in flight: what batching saves on every hop.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import nats
import websockets

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "deploy/local"), str(ROOT)]

from devstack import free_port
from helpers import port_open, wait_until

from bench import run
from bench.load import hammer, paced
from bench.sessions import Stack, boot, call, new_tenant, pair_many, pct

CONNECTIONS = 32
LOWER_RATES = (100.0, 250.0)
TO = "5511987650001"


def port_of(stack: Stack) -> int:
    return int(stack.system.url.rsplit(":", 1)[1])


COMPONENTS = {
    "gateway": "zapgate.gateway",
    "workers": "zapgate.session_worker",
    "scheduler_billing": "zapgate.scheduler|zapgate.billing",
    "nats": "nats-server",
    "postgres": "postgres",
}


def _parent_and_cpu(pid: int, reaped: bool = False) -> tuple[int, float]:
    """A process's parent and the CPU seconds it used so far.

    ``reaped``: with the CPU of its children that exited and were waited for (``cutime`` and
    ``cstime``), such as PostgreSQL's backends of closed connections, which /proc no longer lists.
    """
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(stat[11]) + int(stat[12]) + (int(stat[13]) + int(stat[14]) if reaped else 0)
    return int(stat[1]), ticks / os.sysconf("SC_CLK_TCK")


def cpu_seconds(root: int) -> dict[str, float]:
    """CPU seconds used so far by each part of the stack (the descendants of ``root``, the dev
    stack's process), and by this process, which generates the load and reads the WebSocket."""
    procs: dict[int, tuple[int, float, str]] = {}  # pid: parent, CPU seconds, command line
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent, cpu = _parent_and_cpu(int(entry.name), reaped=True)
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        procs[int(entry.name)] = (parent, cpu, cmdline)
    used = dict.fromkeys(COMPONENTS, 0.0)
    for pid, (_, cpu, cmdline) in procs.items():
        ancestor = pid
        while ancestor in procs and ancestor != root:
            ancestor = procs[ancestor][0]
        if ancestor != root:
            continue
        for name, patterns in COMPONENTS.items():
            if any(p in cmdline for p in patterns.split("|")):
                used[name] += cpu
                break
    mine = os.times()
    used["load_generator"] = mine.user + mine.system
    return used


def cpu_ms_per(before: dict[str, float], after: dict[str, float], count: int) -> dict[str, float]:
    """CPU milliseconds per item of each part between two ``cpu_seconds`` readings."""
    return {name: round(1000 * (after[name] - before[name]) / count, 3) for name in after}


async def bare_ceiling(seconds: float) -> tuple[float, float]:
    """Requests per second of a bare Litestar JSON POST, and its CPU milliseconds per request."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(ROOT / "bench/bare.py"), str(port)])
    try:
        wait_until(lambda: port_open(port), 30, "the bare server")
        make = lambda i: ("/echo", {"type": "text", "to": TO, "text": f"m{i}"})  # noqa: E731
        await hammer(port, {}, make, 1.0, CONNECTIONS)  # warm-up
        before = _parent_and_cpu(proc.pid)[1]
        result = await hammer(port, {}, make, seconds, CONNECTIONS)
        return result.rate, 1000 * (_parent_and_cpu(proc.pid)[1] - before) / result.ok
    finally:
        proc.terminate()
        proc.wait(10)


async def accept(seconds: float = 10.0) -> dict[str, Any]:
    """Accepted sends per second of one gateway, against the bare ceiling."""
    # No workers: the commands wait durably in the stream, so only the gateway is measured.
    stack = boot(workers=0, ttl=10)
    try:
        key = await new_tenant(stack, "bench-accept")
        async with httpx.AsyncClient(base_url=stack.system.url, headers={"X-Api-Key": key}) as http:
            await call(http, "POST", "/api/v1/sessions", json={"name": "bench"})
        ceiling, bare_cpu_ms = await bare_ceiling(seconds)
        make = lambda i: ("/api/v1/sessions/bench/messages", {"type": "text", "to": TO, "text": f"m{i}"})  # noqa: E731
        headers = {"X-Api-Key": key}
        await hammer(port_of(stack), headers, make, 1.0, CONNECTIONS)  # warm-up
        before = cpu_seconds(stack.system.proc.pid)
        result = await hammer(port_of(stack), headers, make, seconds, CONNECTIONS)
        after = cpu_seconds(stack.system.proc.pid)
        assert not result.errors, result.errors
        cpu_ms = {
            name: ms
            for name, ms in cpu_ms_per(before, after, result.ok).items()
            if name in ("gateway", "nats", "postgres", "load_generator")
        }
        return {
            "accepted_per_s": round(result.rate),
            "bare_litestar_per_s": round(ceiling),
            "ratio": round(result.rate / ceiling, 3),
            "target_ratio": 0.5,
            # CPU milliseconds per request: the gateway's against the bare server's, and what
            # the servers it calls and the load generator spend for it on the same cores.
            "bare_cpu_ms_per_request": round(bare_cpu_ms, 3),
            "cpu_ms_per_request": cpu_ms,
        }
    finally:
        stack.system.stop()


PUBLISHES_PER_MESSAGE = 5
"""What JetStream stores for one sent message: the send command, its sent, delivered and read
events, and the contact's delivery in the simulated network."""


async def jetstream_ceiling(url: str, seconds: float = 3.0) -> float:
    """Messages per second that JetStream alone can take, doing what it does for each of ours.

    Per message: ``PUBLISHES_PER_MESSAGE`` acknowledged publishes of 400 bytes, each with its
    own ``Nats-Msg-Id`` (deduplicated, as zapgate's are), on subjects spread like sessions,
    256 in flight, into a file stream on the same server the e2e run uses. Publishes per second
    divided by five: the rate at which the server could store our messages if nothing else ran.
    """
    nc = await nats.connect(url)
    js = nc.jetstream()
    await js.add_stream(name="BENCH_CEILING", subjects=["bench.ceiling.>"], duplicate_window=120)
    count = 0
    deadline = time.monotonic() + seconds
    started = time.monotonic()
    body = b"x" * 400

    async def publisher(n: int) -> None:
        nonlocal count
        while time.monotonic() < deadline:
            count += 1
            await js.publish(f"bench.ceiling.s{n % 8}", body, headers={"Nats-Msg-Id": f"c{n}-{count}"})

    await asyncio.gather(*(publisher(n) for n in range(256)))
    rate = count / (time.monotonic() - started) / PUBLISHES_PER_MESSAGE
    await js.delete_stream("BENCH_CEILING")
    await nc.close()
    return rate


async def roundtrip(count: int = 2000) -> dict[str, Any]:
    """CPU of one JetStream publish on this machine: one at a time, and 64 in flight.

    It shows what batching saves on every hop of the send path: a lone round trip costs the
    server and the client far more CPU per message than one among many.
    """
    stack = boot(workers=0, ttl=10)
    try:
        nc = await nats.connect(stack.system.info["nats_url"])
        js = nc.jetstream()
        await js.add_stream(name="BENCH_ROUNDTRIP", subjects=["bench.roundtrip.>"])
        figures: dict[str, Any] = {}
        for mode in ("one_at_a_time", "64_in_flight"):
            before, started = cpu_seconds(stack.system.proc.pid), time.monotonic()
            if mode == "one_at_a_time":
                for i in range(count):
                    await js.publish(
                        f"bench.roundtrip.{i % 50}", b"x" * 300, headers={"Nats-Msg-Id": f"a{i}"}
                    )
            else:
                for first in range(0, count, 64):
                    acks = [
                        await js.publish_async(
                            f"bench.roundtrip.{i % 50}", b"x" * 300, headers={"Nats-Msg-Id": f"b{i}"}
                        )
                        for i in range(first, min(first + 64, count))
                    ]
                    await asyncio.gather(*acks)
            elapsed, after = time.monotonic() - started, cpu_seconds(stack.system.proc.pid)
            ms = cpu_ms_per(before, after, count)
            figures[mode] = {
                "per_s": round(count / elapsed),
                "server_cpu_us_per_msg": round(1000 * ms["nats"]),
                "client_cpu_us_per_msg": round(1000 * ms["load_generator"]),
            }
        await nc.close()
        return figures
    finally:
        stack.system.stop()


class SentWatcher:
    """Records when each message's ``sent`` status reaches the tenant's WebSocket."""

    def __init__(self, url: str, key: str) -> None:
        self.url = url + "?types=message.status"
        self.key = key
        self.sent: dict[str, float] = {}
        self._task: asyncio.Task[None] | None = None
        self._open = asyncio.Event()

    async def _run(self) -> None:
        async with websockets.connect(
            self.url, additional_headers={"X-Api-Key": self.key}, max_queue=None
        ) as ws:
            self._open.set()
            async for raw in ws:
                frame = json.loads(raw)
                if frame["data"]["status"] == "sent":
                    self.sent.setdefault(frame["data"]["id"], time.time())

    async def __aenter__(self) -> SentWatcher:
        self._task = asyncio.create_task(self._run())
        await asyncio.wait_for(self._open.wait(), 10)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()

    async def wait_for(self, ids: set[str], within: float) -> None:
        deadline = time.monotonic() + within
        while not ids <= self.sent.keys():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(ids - self.sent.keys())} messages never reported sent")
            await asyncio.sleep(0.05)


async def unpaced_tenant(
    stack: Stack, name: str, sessions: int
) -> tuple[str, Callable[[int], tuple[str, dict[str, Any]]]]:
    """A new tenant with ``sessions`` CONNECTED sessions, pacing off: its key, and the request of
    the i-th message (round-robin over the sessions)."""
    key = await new_tenant(stack, name)
    await pair_many(stack, key, sessions)
    names = [f"s{i:05d}" for i in range(sessions)]
    async with httpx.AsyncClient(base_url=stack.system.url, headers={"X-Api-Key": key}) as http:
        for session in names:
            await call(
                http, "PATCH", f"/api/v1/sessions/{session}", json={"config": {"pacing": {"enabled": False}}}
            )

    def make(i: int) -> tuple[str, dict[str, Any]]:
        return f"/api/v1/sessions/{names[i % sessions]}/messages", {"type": "text", "to": TO, "text": f"m{i}"}

    return key, make


async def e2e(seconds: float = 10.0, sessions: int = 8, rate: float = 500.0) -> dict[str, Any]:
    """Throughput and latency from POST to ``sent`` on the WebSocket, every service running."""
    stack = boot(workers=2, ttl=10, partitions=64)
    try:
        key, make = await unpaced_tenant(stack, "bench-e2e", sessions)
        ceiling = await jetstream_ceiling(stack.system.info["nats_url"])
        headers = {"X-Api-Key": key}

        async with SentWatcher(stack.ws, key) as watcher:
            before = cpu_seconds(stack.system.proc.pid)
            started = time.time()
            result = await hammer(port_of(stack), headers, make, seconds, CONNECTIONS, keep=True)
            if result.errors:
                raise RuntimeError(f"answers other than 202 in the burst: {result.errors}")
            ids = {body["id"] for body in result.bodies}
            await watcher.wait_for(ids, 120)
            finished = max(watcher.sent[i] for i in ids)
            throughput = len(ids) / (finished - started)
            await asyncio.sleep(2)  # let the acks of the burst settle before measuring latency
            after = cpu_seconds(stack.system.proc.pid)
            # Lower rates first, for the curve: at which load the latency target still holds.
            curve: dict[str, dict[str, float]] = {}
            for load in (*LOWER_RATES, rate):
                used, since = cpu_seconds(stack.system.proc.pid), time.monotonic()
                run = await paced(port_of(stack), headers, make, load, int(load * seconds), CONNECTIONS)
                if run.errors:
                    raise RuntimeError(f"answers other than 202 at {load:g} msg/s: {run.errors}")
                sent = run.sent
                await watcher.wait_for({body["id"] for _, body in sent}, 60)
                latencies = [(watcher.sent[body["id"]] - at) * 1000 for at, body in sent]
                spent = sum(cpu_seconds(stack.system.proc.pid).values()) - sum(used.values())
                curve[f"{load:g}"] = {
                    "p50_ms": round(pct(latencies, 50), 1),
                    "p99_ms": round(pct(latencies, 99), 1),
                    # How busy the machine was: a small batch costs more per message than a big one.
                    "cores_busy": round(spent / (time.monotonic() - since), 2),
                    "cpu_ms_per_msg": round(1000 * spent / len(sent), 2),
                }
                await asyncio.sleep(1)
        cpu_ms = cpu_ms_per(before, after, len(ids))
        # NATS and PostgreSQL only: the load generator is not part of what is served (it is
        # reported beside it, in cpu_ms_per_msg).
        servers_ms = cpu_ms["nats"] + cpu_ms["postgres"]
        return {
            "sessions": sessions,
            "accepted": len(ids),
            # CPU milliseconds per message of each part, over the burst and its acks: what a
            # message costs, and where.
            "cpu_ms_per_msg": cpu_ms,
            "cpu_ms_per_msg_total": round(sum(cpu_ms.values()), 3),
            # The throughput if zapgate's own services cost nothing: the cores divided by what
            # NATS and PostgreSQL spend per message (exited backends included).
            "servers_only_ceiling_msg_s": round((os.cpu_count() or 1) * 1000 / servers_ms),
            "throughput_msg_s": round(throughput),
            "jetstream_publish_ceiling_msg_s": round(ceiling),
            "throughput_over_ceiling": round(throughput / ceiling, 3),
            "target_msg_s": 2000,
            "latency_rate_msg_s": rate,
            "latency_messages": len(sent),
            "p50_ms": round(pct(latencies, 50), 1),
            "p99_ms": round(pct(latencies, 99), 1),
            "target_p99_ms": 25,
            "latency_by_rate_msg_s": curve,
        }
    finally:
        stack.system.stop()


class OtlpSink:
    """An OTLP/HTTP endpoint that takes spans and keeps only their count of bytes."""

    def __init__(self) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        sink = self
        self.bytes = 0

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                sink.bytes += len(self.rfile.read(int(self.headers["Content-Length"])))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


async def burst_cost(extra: dict[str, str], seconds: float, sessions: int) -> dict[str, Any]:
    """CPU per message of each process over a burst of sends until each is ``sent``."""
    stack = boot(workers=2, ttl=10, partitions=64, extra=extra)
    try:
        key, make = await unpaced_tenant(stack, "bench-cost", sessions)

        async with SentWatcher(stack.ws, key) as watcher:
            before = cpu_seconds(stack.system.proc.pid)
            started = time.time()
            result = await hammer(port_of(stack), {"X-Api-Key": key}, make, seconds, CONNECTIONS, keep=True)
            if result.errors:
                raise RuntimeError(f"answers other than 202 in the burst: {result.errors}")
            ids = {body["id"] for body in result.bodies}
            await watcher.wait_for(ids, 120)
            throughput = len(ids) / (max(watcher.sent[i] for i in ids) - started)
            await asyncio.sleep(2)
            after = cpu_seconds(stack.system.proc.pid)
        cpu_ms = cpu_ms_per(before, after, len(ids))
        return {"accepted": len(ids), "throughput_msg_s": round(throughput), "cpu_ms_per_msg": cpu_ms}
    finally:
        stack.system.stop()


async def tracing_overhead(seconds: float = 10.0, sessions: int = 8) -> dict[str, Any]:
    """What tracing costs: the same burst with traces off, then on (exported over OTLP/HTTP to a
    sink in this process), CPU per message of gateway and workers compared."""
    off = await burst_cost({}, seconds, sessions)
    sink = OtlpSink()
    otlp = {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{sink.port}", "OTEL_BSP_SCHEDULE_DELAY": "500"}
    on = await burst_cost(otlp, seconds, sessions)
    exported = sink.bytes
    # What operators run under load: a sampled share of the traces (standard OTEL_* variables).
    sampled = await burst_cost(
        {**otlp, "OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.1"},
        seconds, sessions,
    )  # fmt: skip
    sink.server.shutdown()

    def services(run: dict[str, Any]) -> float:
        return float(run["cpu_ms_per_msg"]["gateway"] + run["cpu_ms_per_msg"]["workers"])

    return {
        "off": off,
        "on": on,
        "sampled_10_percent": sampled,
        "otlp_bytes_per_msg": round(exported / on["accepted"]),
        "services_cpu_ms_per_msg_off": round(services(off), 3),
        "services_cpu_ms_per_msg_on": round(services(on), 3),
        "services_cpu_ms_per_msg_sampled_10_percent": round(services(sampled), 3),
        "overhead_ratio": round(services(on) / services(off) - 1, 3),
        "overhead_ratio_sampled_10_percent": round(services(sampled) / services(off) - 1, 3),
        "target_overhead": 0.10,
    }


async def billing_overhead(seconds: float = 10.0, sessions: int = 8, rounds: int = 2) -> dict[str, Any]:
    """What plans cost the send path: the same burst with enforcement (the gateway's in-memory
    check) and metering (billing counting each sent message) off, then on, alternated ``rounds``
    times in one run, as this machine's speed drifts more between runs than plans cost."""
    off_env = {"ZAPGATE_BILLING_ENFORCE": "false", "ZAPGATE_BILLING_METERING": "false"}
    offs, ons = [], []
    for _ in range(rounds):
        offs.append(await burst_cost(off_env, seconds, sessions))
        ons.append(await burst_cost({}, seconds, sessions))

    def mean(runs: list[dict[str, Any]], get: Any) -> float:
        return sum(get(r) for r in runs) / len(runs)

    def services(run: dict[str, Any]) -> float:
        cpu = run["cpu_ms_per_msg"]
        return float(
            cpu["gateway"] + cpu["workers"] + cpu["scheduler_billing"] + cpu["nats"] + cpu["postgres"]
        )

    throughput_off = mean(offs, lambda r: r["throughput_msg_s"])
    throughput_on = mean(ons, lambda r: r["throughput_msg_s"])
    return {
        "off": offs,
        "on": ons,
        "throughput_msg_s_off": round(throughput_off),
        "throughput_msg_s_on": round(throughput_on),
        "throughput_ratio": round(throughput_on / throughput_off, 3),
        "services_cpu_ms_per_msg_off": round(mean(offs, services), 3),
        "services_cpu_ms_per_msg_on": round(mean(ons, services), 3),
        "cpu_ratio": round(mean(offs, services) / mean(ons, services), 3),
        "target_ratio": 0.95,
    }


BENCHES = {
    "accept": accept, "e2e": e2e, "roundtrip": roundtrip, "tracing": tracing_overhead, "billing": billing_overhead,
}  # fmt: skip


def main(names: list[str]) -> dict[str, Any]:
    """Run the named benchmarks (all when none) and return their figures."""
    return run(BENCHES, names)  # type: ignore[arg-type]


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:]), indent=2))
