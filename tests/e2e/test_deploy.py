"""The deployment files, checked without a container engine (none runs on these machines).

- The compose file is valid against the Compose Specification's schema (``schemas/compose-spec.json``,
  from github.com/compose-spec/compose-spec at 170098b, Apache-2.0); each kustomize overlay, rendered
  here for the fields it uses, against Kubernetes' own schemas (``kubernetes-validate``), and
  every Secret and ConfigMap a pod names exists in it.
- The contract test reads the compose file and runs each service's ``command`` with that service's
  ``environment``, in the order its ``depends_on`` declares, as local processes against fresh
  servers (the compose hostnames mapped to local ports), in an environment installed the way the
  Dockerfile installs the image; then it drives the README walk-through and a WebSocket through it.
  A service left out of the file (a migration step, say) fails it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import jsonschema
import pytest
import yaml
from helpers import ROOT, free_port, start_nats, start_postgres, wait_until
from test_stack import readme_walkthrough
from websockets.sync.client import connect

from zapgate.common import natsauth, permissions
from zapgate.common.permissions import password_variable

pytestmark = pytest.mark.e2e

COMPOSE = ROOT / "deploy" / "docker-compose.yml"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
K8S = ROOT / "deploy" / "k8s"
CALLOUT_SEED = natsauth.new_issuer_seed()
SECRETS = {
    "ZAPGATE_ADMIN_KEY": "zgadmin_deploy-contract-0123456789abcdef",
    "ZAPGATE_SECRET_KEY": "deploy-contract-secret-0123456789-abcdefgh",
    **{
        password_variable(user): f"deploy-contract-{user}-password"
        for user in (permissions.ADMIN, *permissions.SERVICES)
    },
    "ZAPGATE_NATS_CALLOUT_SEED": CALLOUT_SEED,
    permissions.CALLOUT_ISSUER_VARIABLE: natsauth.issuer_of(CALLOUT_SEED),
}


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def test_the_compose_file_follows_the_compose_specification() -> None:
    schema = json.loads((Path(__file__).parent / "schemas" / "compose-spec.json").read_text())
    jsonschema.validate(compose(), schema)


def kustomize(directory: Path) -> list[dict[str, Any]]:
    """The manifests ``kubectl apply -k`` would apply, for the fields these kustomizations use
    (resources, configMap and Secret generators without hash suffixes, images, replicas)."""
    spec = yaml.safe_load((directory / "kustomization.yaml").read_text())
    known = {"apiVersion", "kind", "resources", "configMapGenerator", "secretGenerator", "generatorOptions",
             "images", "replicas"}  # fmt: skip
    assert set(spec) <= known, f"{directory}: kustomize fields this test does not render: {set(spec) - known}"
    docs: list[dict[str, Any]] = []
    for resource in spec.get("resources", []):
        path = (directory / resource).resolve()
        docs += kustomize(path) if path.is_dir() else [d for d in yaml.safe_load_all(path.read_text()) if d]
    for generator in spec.get("configMapGenerator", []):
        data = {Path(f).name: (directory / f).read_text() for f in generator.get("files", [])}
        docs.append(
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": generator["name"]}, "data": data}
        )
    for generator in spec.get("secretGenerator", []):
        pairs = list(generator.get("literals", []))
        for env in generator.get("envs", []):
            path = directory / env
            path = path if path.exists() else directory / f"{env}.example"  # the real one is not in git
            pairs += [line for line in path.read_text().splitlines() if line and not line.startswith("#")]
        data = dict(pair.split("=", 1) for pair in pairs)
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": generator["name"]},
                "stringData": data,
            }
        )
    counts = {r["name"]: r["count"] for r in spec.get("replicas", [])}
    images = {i["name"]: i for i in spec.get("images", [])}
    for doc in docs:
        if doc["metadata"]["name"] in counts and "replicas" in doc.get("spec", {}):
            doc["spec"]["replicas"] = counts[doc["metadata"]["name"]]
        pod = doc.get("spec", {}).get("template", {}).get("spec", {})
        for container in [*pod.get("containers", []), *pod.get("initContainers", [])]:
            name = container["image"].split(":")[0]
            if name in images:
                new = images[name]
                container["image"] = f"{new.get('newName', name)}:{new.get('newTag', 'latest')}"
    return docs


@pytest.mark.parametrize("overlay", ["dev", "production"])
def test_each_kustomize_overlay_renders_valid_manifests_that_reference_what_exists(overlay: str) -> None:
    import kubernetes_validate

    docs = kustomize(K8S / "overlays" / overlay)
    for doc in docs:
        kubernetes_validate.validate(doc, "1.31.0", strict=True)
    names = {(d["kind"], d["metadata"]["name"]) for d in docs}
    secrets = {d["metadata"]["name"]: d["stringData"] for d in docs if d["kind"] == "Secret"}
    secret = next(d for d in docs if d["kind"] == "Secret" and d["metadata"]["name"] == "zapgate")
    # Every NATS user of nats-auth.conf has its password in the Secret the servers read.
    users = {password_variable(u) for u in (permissions.ADMIN, *permissions.SERVICES)}
    assert users | {permissions.CALLOUT_ISSUER_VARIABLE} == set(secrets["zapgate-nats-users"])
    # The gateway signs its auth callout answers with the seed whose public key the servers name.
    assert "ZAPGATE_NATS_CALLOUT_SEED" in secret["stringData"]
    assert {"ZAPGATE_NATS_URL", "ZAPGATE_DATABASE_URL", "ZAPGATE_ADMIN_KEY", "ZAPGATE_SECRET_KEY"} <= set(
        secret["stringData"]
    )
    assert secret["stringData"]["ZAPGATE_NATS_REPLICAS"] == "3"
    for doc in docs:
        pod = doc.get("spec", {}).get("template", {}).get("spec", {})
        for container in [*pod.get("containers", []), *pod.get("initContainers", [])]:
            for source in container.get("envFrom", []):
                assert ("Secret", source["secretRef"]["name"]) in names, (doc["metadata"]["name"], source)
            for variable in container.get("env", []):
                ref = variable.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["key"] in secrets[ref["name"]], (doc["metadata"]["name"], ref)
        for volume in pod.get("volumes", []):
            if "configMap" in volume:
                assert ("ConfigMap", volume["configMap"]["name"]) in names
    kinds = {d["kind"] for d in docs}
    assert {"Job", "Deployment", "StatefulSet", "PodDisruptionBudget", "Service"} <= kinds
    if overlay == "production":
        assert ("StatefulSet", "zapgate-postgres") not in names  # an external database
        workers = next(
            d for d in docs if d["metadata"]["name"] == "zapgate-session-worker" and d["kind"] == "Deployment"
        )
        assert workers["spec"]["replicas"] == 3
        assert workers["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":0.1.0")


def install_like_the_dockerfile(app: Path) -> Path:
    """Copy what the Dockerfile copies into ``app`` and run its ``uv`` steps there; the bin dir."""
    for line in DOCKERFILE.read_text().splitlines():
        words = line.split()
        if not words or words[0] not in ("COPY", "RUN"):
            continue
        if words[0] == "COPY":
            *sources, dest = words[1:]
            target = app / dest if dest not in ("./", ".") else app
            for source in sources:
                origin = ROOT / source
                if origin.is_dir():
                    shutil.copytree(
                        origin, target, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
                    )
                else:
                    app.mkdir(parents=True, exist_ok=True)
                    shutil.copy(origin, app / origin.name)
        elif words[1] == "uv":  # installing uv itself (pip) is what this machine has already
            uv = shutil.which("uv") or str(ROOT / ".tools" / "bin" / "uv")
            env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never", "VIRTUAL_ENV": ""}
            env.pop("UV_PROJECT_ENVIRONMENT", None)
            done = subprocess.run(
                [uv, *words[2:]], cwd=app, env=env, capture_output=True, text=True, timeout=600
            )
            assert done.returncode == 0, done.stdout + done.stderr
    return app / ".venv" / "bin"


def substitute(value: str) -> str:
    """``${VAR}`` and ``${VAR:?message}`` as compose reads them, from the secrets given."""
    return re.sub(r"\$\{(\w+)(?::\?[^}]*)?\}", lambda m: SECRETS[m.group(1)], value)


def order(services: dict[str, Any]) -> list[str]:
    """Services in the order their ``depends_on`` allows."""
    done: list[str] = []

    def visit(name: str) -> None:
        if name in done:
            return
        for dependency in services[name].get("depends_on", {}):
            visit(dependency)
        done.append(name)

    for name in services:
        visit(name)
    return done


@dataclass
class Deployment:
    """The compose file's services, run as local processes."""

    bin_dir: Path
    hosts: dict[str, str]  # "nats:4222" -> "127.0.0.1:<port>"
    logs: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    gateway_url: str = ""

    def environment(self, service: dict[str, Any]) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ZAPGATE_")}
        env["PATH"] = f"{self.bin_dir}{os.pathsep}{env['PATH']}"
        for key, value in (service.get("environment") or {}).items():
            text = substitute(str(value))
            for host, local in self.hosts.items():
                text = text.replace(f"@{host}", f"@{local}").replace(f"//{host}", f"//{local}")
            env[key] = text
        # A container's ports are its own: here each process gets free ones.
        for key in list(env):
            if key.startswith("ZAPGATE_") and key.endswith("_PORT"):
                env[key] = str(free_port())
        return env

    def run(self, name: str, service: dict[str, Any], one_shot: bool) -> None:
        argv = [shutil.which(service["command"][0], path=str(self.bin_dir)) or service["command"][0],
                *service["command"][1:]]  # fmt: skip
        replicas = int(service.get("deploy", {}).get("replicas", 1))
        for replica in range(replicas):
            env = self.environment(service)
            if any(str(p).endswith(":8000") for p in service.get("ports", [])):
                env["ZAPGATE_GATEWAY_PORT"] = str(free_port())
                self.gateway_url = f"http://127.0.0.1:{env['ZAPGATE_GATEWAY_PORT']}"
                env["ZAPGATE_GATEWAY_HOST"] = "127.0.0.1"
            log = open(self.logs / f"{name}-{replica}.log", "wb")  # noqa: SIM115 - closed with the run
            proc = subprocess.Popen(
                argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
            if one_shot:
                assert proc.wait(120) == 0, f"{name} failed:\n{self.log()}"
            else:
                self.procs.append(proc)

    def log(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in sorted(self.logs.iterdir())
        )

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def compose_nats(service: dict[str, Any]) -> dict[str, Any]:
    """The compose file's nats-server configuration (``-c``, from the file its volume mounts) and
    environment, for a local nats-server."""
    command: list[str] = service["command"]
    mounted = command[command.index("-c") + 1]
    volume = next(v for v in service["volumes"] if v.split(":")[1] == mounted)
    config = (COMPOSE.parent / volume.split(":")[0]).resolve()
    return {"config": config, "env": {k: substitute(str(v)) for k, v in service["environment"].items()}}


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    spec = compose()
    services: dict[str, Any] = spec["services"]
    nats = start_nats(tmp_path / "nats" / "store", **compose_nats(services["nats"]))
    pg = start_postgres(tmp_path / "pg")
    bin_dir = install_like_the_dockerfile(tmp_path / "app")
    # The compose file's PostgreSQL: its user, password and database, on a fresh server.
    pg_env = services["postgres"]["environment"]
    plain = pg.url.replace("+asyncpg", "")

    async def create_role() -> None:
        conn = await asyncpg.connect(plain)
        await conn.execute(
            f"CREATE ROLE {pg_env['POSTGRES_USER']} LOGIN PASSWORD '{pg_env['POSTGRES_PASSWORD']}'"
        )
        await conn.execute(f"CREATE DATABASE {pg_env['POSTGRES_DB']} OWNER {pg_env['POSTGRES_USER']}")
        await conn.close()

    import asyncio

    asyncio.run(create_role())
    hosts = {
        "nats:4222": nats.url.removeprefix("nats://"),
        "postgres:5432": plain.split("@")[1].split("/")[0],
    }
    (tmp_path / "logs").mkdir()
    deploy = Deployment(bin_dir, hosts, tmp_path / "logs")
    completed = {
        dependency
        for service in services.values()
        for dependency, condition in (service.get("depends_on") or {}).items()
        if condition.get("condition") == "service_completed_successfully"
    }
    try:
        for name in order(services):
            service = services[name]
            if "build" not in service:
                continue  # nats and postgres: the fresh servers above stand for them
            deploy.run(name, service, one_shot=name in completed)
        assert deploy.gateway_url, "no service publishes the gateway's port 8000"
        wait_until(lambda: _ready(deploy.gateway_url), 60, "the gateway to be ready")
        yield deploy
    finally:
        deploy.stop()
        nats.stop()
        pg.stop()


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/ready", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def test_the_compose_services_start_a_working_system_from_an_empty_database(
    deployment: Deployment, tmp_path: Path
) -> None:
    script = readme_walkthrough()
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path,
        env={**os.environ, "ZG": deployment.gateway_url, "ZAPGATE_ADMIN_KEY": SECRETS["ZAPGATE_ADMIN_KEY"]},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr + deployment.log()
    assert '"status":"CONNECTED"' in done.stdout and '"status":"read"' in done.stdout
    # Each service connected as its own NATS user, and was never refused a subject it used.
    nats_log = (tmp_path / "nats" / "nats.log").read_text()
    assert "Violation" not in nats_log, nats_log
    # The WebSocket works in the image's environment (uvicorn needs a WebSocket library there).
    admin = {"X-Api-Key": SECRETS["ZAPGATE_ADMIN_KEY"]}
    created = httpx.post(f"{deployment.gateway_url}/api/v1/tenants", json={"name": "ws-check"}, headers=admin)
    key = {"X-Api-Key": created.json()["api_key"]}
    with connect(deployment.gateway_url.replace("http", "ws") + "/api/v1/ws", additional_headers=key) as ws:
        httpx.post(f"{deployment.gateway_url}/api/v1/sessions", json={"name": "w"}, headers=key)
        httpx.post(f"{deployment.gateway_url}/api/v1/sessions/w/start", headers=key)
        frame = json.loads(ws.recv(timeout=30))
        assert frame["session"] == "w" and frame["type"].startswith("session.")


def test_the_nats_cluster_configuration_is_valid() -> None:
    from helpers import nats_server_binary

    done = subprocess.run(
        [nats_server_binary(), "-c", str(K8S / "base" / "nats.conf"), "-t"], capture_output=True, text=True, timeout=30,
        env={**os.environ, "POD_NAME": "zapgate-nats-0", **SECRETS},
    )  # fmt: skip
    assert done.returncode == 0 and "is valid" in done.stdout + done.stderr, done.stdout + done.stderr
