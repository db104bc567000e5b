"""Real servers and processes for the tests: nats-server and PostgreSQL from the project's wheels."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from devstack import Postgres, free_port, nats_server_binary

from zapgate.common import subjects

ROOT = Path(__file__).resolve().parent.parent
WORKER_SECRET = "test-worker-secret-0123456789-abcdefghijklmnop"
"""A ``ZAPGATE_SECRET_KEY`` strong enough for the worker's check (32+ characters, varied)."""


def wait_until(predicate: Callable[[], bool], within: float, what: str, every: float = 0.05) -> None:
    """Poll until predicate() is true; fail the test naming what never happened."""
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        time.sleep(every)


async def eventually(predicate: Callable[[], bool], within: float, what: str, every: float = 0.02) -> None:
    """``wait_until`` for async tests: the event loop runs while it polls."""
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(every)


def port_open(port: int) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:port."""
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class ServerProcess:
    """A server started for the test session."""

    url: str
    proc: subprocess.Popen[bytes] | None = None

    @property
    def port(self) -> int:
        """The TCP port it listens on."""
        return int(self.url.rsplit(":", 1)[1].split("/")[0])

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop it and wait."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_nats(
    store: Path, port: int | None = None, config: Path | None = None, env: dict[str, str] | None = None
) -> ServerProcess:
    """A JetStream nats-server with file storage in ``store`` (on a free port unless given),
    reading ``config`` first if given (with ``env`` added to its environment)."""
    port = port or free_port()
    store.parent.mkdir(parents=True, exist_ok=True)
    log = open(store.parent / "nats.log", "ab")  # noqa: SIM115 - lives as long as the server
    first = ["-c", str(config)] if config else []
    proc = subprocess.Popen(
        [nats_server_binary(), *first, "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(store)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
    )
    wait_until(lambda: port_open(port), 20, "nats-server to listen")
    return ServerProcess(f"nats://127.0.0.1:{port}", proc)


@dataclass
class NatsCluster:
    """Clustered JetStream servers on loopback (n1, n2, ...); a node restarts on its ports and store."""

    root: Path
    ports: list[tuple[int, int]]
    nodes: dict[str, ServerProcess] = field(default_factory=dict)
    monitors: list[int] = field(default_factory=list)  # each node's HTTP monitoring port

    @property
    def url(self) -> str:
        """Every node's client URL, comma separated (as ZAPGATE_NATS_URL takes them)."""
        return ",".join(f"nats://127.0.0.1:{client}" for client, _ in self.ports)

    def start(self, name: str) -> None:
        """Start (or start again) node ``name``."""
        n = int(name[1:])
        client, cluster = self.ports[n - 1]
        while len(self.monitors) < len(self.ports):
            self.monitors.append(free_port())
        store = self.root / name / "store"
        store.parent.mkdir(parents=True, exist_ok=True)
        routes = ",".join(f"nats://127.0.0.1:{route}" for _, route in self.ports)
        log = open(store.parent / "nats.log", "ab")  # noqa: SIM115 - lives as long as the server
        proc = subprocess.Popen(
            [nats_server_binary(), "-a", "127.0.0.1", "-p", str(client), "-js", "-sd", str(store),
             "--server_name", name, "--cluster_name", "zg", "--cluster", f"nats://127.0.0.1:{cluster}",
             "--routes", routes, "-m", str(self.monitors[n - 1])],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.nodes[name] = ServerProcess(f"nats://127.0.0.1:{client}", proc)
        wait_until(lambda: port_open(client), 20, f"cluster node {name} to listen")

    def meta_leader(self) -> str:
        """The node leading the JetStream meta group (the one that places every stream), as a
        live node's monitoring endpoint reports it."""
        for n, port in enumerate(self.monitors, start=1):
            node = self.nodes.get(f"n{n}")
            if node is None or node.proc is None or node.proc.poll() is not None:
                continue
            try:
                meta = httpx.get(f"http://127.0.0.1:{port}/jsz", timeout=2).json().get("meta_cluster", {})
            except httpx.HTTPError:
                continue
            if meta.get("leader"):
                return str(meta["leader"])
        raise RuntimeError("no node reports a JetStream meta leader")

    def stop(self) -> None:
        """Stop every node."""
        for node in self.nodes.values():
            node.stop()


def start_nats_cluster(root: Path, size: int = 3) -> NatsCluster:
    """``size`` clustered JetStream servers on loopback, named n1, n2, ..."""
    cluster = NatsCluster(root, [(free_port(), free_port()) for _ in range(size)])
    for n in range(1, size + 1):
        cluster.start(f"n{n}")
    return cluster


def start_postgres(data_dir: Path, port: int | None = None) -> ServerProcess:
    """PostgreSQL 16 from the pgserver wheel (on a free port unless given); URL of its ``postgres`` database."""
    pg = Postgres(data_dir)
    pg.prepare()
    port = port or free_port()
    log = open(data_dir / "postgres.log", "ab")  # noqa: SIM115 - lives as long as the server
    proc = subprocess.Popen(pg.argv(port), stdout=log, stderr=subprocess.STDOUT, user=pg.user)
    wait_until(lambda: port_open(port), 30, "PostgreSQL to listen")
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres"
    return ServerProcess(url, proc)


def with_database(url: str, name: str) -> str:
    """The same server URL with another database name."""
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


def unique_name(prefix: str) -> str:
    """A database or tenant name no other test uses."""
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


@dataclass
class System:
    """The whole system started as processes by the dev stack, as ``make run`` does."""

    url: str
    admin_key: str
    data_dir: Path
    proc: subprocess.Popen[bytes]
    log_path: Path
    info: dict[str, Any] = field(default_factory=dict)

    def log(self) -> str:
        """Everything the stack printed so far."""
        return self.log_path.read_text(errors="replace")

    def client(self, key: str | None = None) -> httpx.Client:
        """An HTTP client on the gateway, with a key if given."""
        headers = {"X-Api-Key": key} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=10)

    def ready(self) -> bool:
        """Whether /ready answers 200."""
        try:
            return httpx.get(f"{self.url}/ready", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> int:
        """SIGTERM the stack and wait for it; returns its exit code.

        Every service connected to the embedded NATS as its own user: a subject it used that its
        permissions (deploy/k8s/base/nats-auth.conf) do not allow fails here, whatever test ran.
        """
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            raise
        # Tenants' NATS users (zgt_...) are refused on purpose by the tests of their permissions.
        violations = [
            line for line in self.log().splitlines()
            if "Violation" in line and "[ERR]" in line and "/user:zgt_" not in line
        ]  # fmt: skip
        assert not violations, "NATS permissions refused a service:\n" + "\n".join(violations[:20])
        return code


# nats-server reserves each store's max_bytes on its disk; the tests' are small, so they run on
# a machine with little free space.
SMALL_STORES = {
    "ZAPGATE_EVENTS_MAX_BYTES": str(256 << 20),
    "ZAPGATE_COMMANDS_MAX_BYTES": str(128 << 20),
    "ZAPGATE_DLQ_MAX_BYTES": str(32 << 20),
    "ZAPGATE_MEDIA_STORE_MAX_BYTES": str(128 << 20),
}


def start_system(
    data_dir: Path, env_overrides: dict[str, str], workers: int = 2, gateways: int = 1
) -> System:
    """Run deploy/local/devstack.py with the given environment; wait for /ready."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    admin_key = env_overrides.get("ZAPGATE_ADMIN_KEY", "zgadmin_" + uuid.uuid4().hex)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZAPGATE_")}
    env.update(
        {
            "ZAPGATE_GATEWAY_PORT": str(port),
            "ZAPGATE_DATA_DIR": str(data_dir),
            "ZAPGATE_ADMIN_KEY": admin_key,
            "PYTHONUNBUFFERED": "1",
            **SMALL_STORES,
        }
    )
    env.update(env_overrides)
    log_path = data_dir / "stack.log"
    proc = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "deploy/local/devstack.py"),
            "--workers",
            str(workers),
            "--gateways",
            str(gateways),
        ],
        stdout=open(log_path, "wb"),  # noqa: SIM115 - closed with the process
        stderr=subprocess.STDOUT,
        env=env,
        cwd=ROOT,
        start_new_session=True,
    )
    system = System(f"http://127.0.0.1:{port}", admin_key, data_dir, proc, log_path)
    info_file = data_dir / "devstack.json"
    try:
        wait_until(lambda: info_file.exists() or proc.poll() is not None, 180, "the stack to start")
        assert proc.poll() is None, f"stack exited early:\n{system.log()}"
        wait_until(system.ready, 60, "/ready to answer 200")
    except AssertionError:
        system.stop()
        raise AssertionError(f"stack did not become ready:\n{system.log()[-5000:]}") from None
    system.info = json.loads(info_file.read_text())
    return system


def pid_alive(pid: int) -> bool:
    """Whether a process exists (and is not a zombie we could reap)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


async def simnet_stat(nats_url: str, key: str) -> int:
    """A counter of the simulated network (``stats.replaced``, ``stats.repeats``).

    Zero only when the counter was never written; anything else that goes wrong (no bucket, no
    server) raises, so a check built on it cannot pass by failing to read.
    """
    import nats
    from nats.js.errors import KeyNotFoundError

    nc = await nats.connect(servers=nats_url.split(","))
    try:
        kv = await nc.jetstream().key_value(subjects.SIMNET_BUCKET)
        try:
            return int((await kv.get(key)).value or b"0")
        except KeyNotFoundError:
            return 0
    finally:
        await nc.close()


async def ack_pending(nats_url: str, partition: int) -> int:
    """Commands of one partition the server handed out and has not seen acknowledged."""
    import nats

    nc = await nats.connect(servers=nats_url.split(","))
    try:
        info = await nc.jetstream().consumer_info(
            subjects.COMMANDS_STREAM, subjects.partition_consumer(partition)
        )
        return int(info.num_ack_pending or 0)
    finally:
        await nc.close()


async def replaced_connections(nats_url: str) -> int:
    """How many live simulator connections were kicked by a second one (double connections)."""
    return await simnet_stat(nats_url, "stats.replaced")


async def stored_messages(js: Any, stream: str, subject: str) -> list[Any]:
    """Every message of ``stream`` on ``subject`` (wildcards allowed), in stream order.

    It reads exactly as many as the stream says it holds; a reader that stalls or fails raises,
    so it can never return a short list that would read as "nothing there". A stream that does
    not exist yet holds nothing.
    """
    from nats.js.errors import NotFoundError

    try:
        info = await js.stream_info(stream, subjects_filter=subject)
    except NotFoundError:
        return []
    count = sum((info.state.subjects or {}).values())
    if not count:
        return []
    sub = await js.subscribe(subject, stream=stream, ordered_consumer=True)
    try:
        return [await sub.next_msg(timeout=5) for _ in range(count)]
    finally:
        await sub.unsubscribe()


async def stored_events(nats_url: str, subject: str) -> list[dict[str, Any]]:
    """Every event of ``ZG_EVENTS`` on ``subject``, decoded, each with its stream ``seq``."""
    import nats

    nc = await nats.connect(nats_url)
    try:
        found = await stored_messages(nc.jetstream(), "ZG_EVENTS", subject)
        return [{**json.loads(m.data), "seq": m.metadata.sequence.stream} for m in found]
    finally:
        await nc.close()


def last_seq(nats_url: str) -> int:
    """The last sequence of ``ZG_EVENTS``: what happens after it is new."""
    import nats

    async def read() -> int:
        nc = await nats.connect(nats_url)
        try:
            return int((await nc.jetstream().stream_info("ZG_EVENTS")).state.last_seq)
        finally:
            await nc.close()

    return asyncio.run(read())


def wait_event(
    nats_url: str, tenant_id: str, name: str, kind: str, match: Callable[[dict[str, Any]], bool],
    after: int, within: float = 20,
) -> dict[str, Any]:  # fmt: skip
    """Wait for an event of the session newer than ``after`` (a stream sequence) that ``match``es.

    Unlike reading the session's current status, this cannot pass on what an earlier run left.
    """
    found: list[dict[str, Any]] = []

    def seen() -> bool:
        events = asyncio.run(stored_events(nats_url, f"zg.evt.{tenant_id}.{name}.{kind}"))
        found[:] = [e for e in events if e["seq"] > after and match(e)]
        return bool(found)

    wait_until(seen, within, f"a {kind} event of {name} after seq {after}", every=0.2)
    return found[0]


# ---------------------------------------------------------------- driving the API


def tenant(system: System, name: str) -> httpx.Client:
    """A new tenant's client (created with the admin key)."""
    with system.client(system.admin_key) as admin:
        created = admin.post("/api/v1/tenants", json={"name": name})
        assert created.status_code == 201, created.text
    return system.client(created.json()["api_key"])


def session(http: httpx.Client, name: str) -> dict[str, Any]:
    """A session as GET shows it."""
    response = http.get(f"/api/v1/sessions/{name}")
    assert response.status_code == 200, response.text
    return response.json()


def wait_status(http: httpx.Client, name: str, status: str, within: float = 20) -> dict[str, Any]:
    """Wait until the session shows ``status``."""
    wait_until(lambda: session(http, name)["status"] == status, within, f"{name} to be {status}")
    return session(http, name)


def pair(http: httpx.Client, name: str, phone: str) -> dict[str, Any]:
    """Create, start and scan a simulator session until it is CONNECTED."""
    assert http.post("/api/v1/sessions", json={"name": name}).status_code == 201
    assert http.post(f"/api/v1/sessions/{name}/start").status_code == 202
    wait_status(http, name, "SCAN_QR")
    assert http.post(f"/api/v1/sessions/{name}/simulator/scan", json={"phone": phone}).status_code == 202
    return wait_status(http, name, "CONNECTED")


def merge_deliveries(merged: dict[str, dict[str, Any]], items: list[dict[str, Any]]) -> None:
    """Add a page of deliveries to ``merged`` by WhatsApp id, summing the counts of repeats."""
    for item in items:
        seen = merged.get(item["wa_id"])
        if seen is None:
            merged[item["wa_id"]] = item
        else:
            seen["count"] += item["count"]


def deliveries(
    http: httpx.Client, name: str, page: int = 1000, outage_ok: bool = False
) -> list[dict[str, Any]]:
    """Every delivery of a simulated session, read a page at a time and merged by WhatsApp id
    (``count`` sums repeats across pages). With ``outage_ok`` a non-200 answer reads as nothing."""
    merged: dict[str, dict[str, Any]] = {}
    after = 0
    while True:
        response = http.get(
            f"/api/v1/sessions/{name}/simulator/deliveries", params={"after": after, "limit": page}
        )
        if response.status_code != 200 and outage_ok:
            return []
        assert response.status_code == 200, response.text
        body = response.json()
        merge_deliveries(merged, body["items"])
        if body["next"] is None:
            return list(merged.values())
        after = body["next"]


async def refused_by_nats(errors: list[str], what: str, subject: str) -> bool:
    """Whether nats-server answered a connection (its error callback collected ``errors``, lower
    case) with a permissions violation of ``what`` (publish, subscription) on ``subject``."""
    needle = f'permissions violation for {what} to "{subject.lower()}"'
    for _ in range(40):
        if any(needle in e for e in errors):
            return True
        await asyncio.sleep(0.05)
    return False


@dataclass
class Receiver:
    """An HTTP receiver: answers ``statuses`` in turn (then 200), records what it got."""

    statuses: list[int] = field(default_factory=list)
    got: list[tuple[dict[str, str], bytes, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                receiver.got.append(({k.lower(): v for k, v in self.headers.items()}, body, status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def delivered(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body, status in self.got if status == 200]
