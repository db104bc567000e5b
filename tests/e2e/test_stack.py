"""The whole system as processes, started by the dev stack exactly as ``make run`` starts it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from helpers import ROOT, System, pid_alive, start_system, wait_until

pytestmark = pytest.mark.e2e

SERVICES = ["gateway", "worker-1", "worker-2", "scheduler-1", "scheduler-2", "billing", "webhooks"]


@pytest.fixture
def system(nats_url: str, empty_database_url: str, tmp_path: Path) -> Iterator[System]:
    """The stack on the session's NATS and a new database (it runs the migrations itself)."""
    stack = start_system(
        tmp_path / ".zapgate",
        {"ZAPGATE_NATS_URL": nats_url, "ZAPGATE_DATABASE_URL": empty_database_url},
    )
    yield stack
    stack.stop()


def readme_walkthrough() -> str:
    """The README's curl walk-through blocks, verbatim, in order."""
    readme = (ROOT / "README.md").read_text()
    blocks = []
    for marker in ("walkthrough", "walkthrough-sessions", "walkthrough-messages", "walkthrough-scheduling"):
        match = re.search(rf"<!-- {marker} -->\s*```bash\n(.*?)```", readme, re.S)
        assert match, f"README has no {marker} block"
        blocks.append(match.group(1))
    return "\n".join(blocks)


def test_every_service_runs_and_answers_health(system: System) -> None:
    assert set(system.info["children"]) == set(SERVICES)
    for name, url in system.info["health"].items():
        assert httpx.get(url, timeout=5).status_code == 200, name
        assert httpx.get(url.replace("/health", "/ready"), timeout=5).status_code == 200, name
    assert httpx.get(f"{system.url}/ready").json()["status"] == "ready"


def test_readme_walkthrough_works_as_written(system: System) -> None:
    script = readme_walkthrough()
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=system.data_dir.parent,  # the block reads .zapgate/admin_key as after `make run`
        env={**os.environ, "ZG": system.url, "ZAPGATE_ADMIN_KEY": system.admin_key},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert any('"code":"unauthorized"' in line for line in lines)  # the revoked key
    assert '"name":"acme"' in result.stdout
    assert '"status":"SCAN_QR"' in result.stdout
    assert '"status":"CONNECTED"' in result.stdout
    assert '"status":"read"' in result.stdout and '"status":"queued"' in result.stdout
    assert '"unread":1' in result.stdout
    assert any('"count":1' in line and "Your order #42 has shipped" in line for line in lines)
    # Scheduling: the CSV's bad line reported, the preview, DST-aware next times, the fire read,
    # the campaign completed with the opted-out contact skipped.
    assert '"added":2' in result.stdout and '"line":3' in result.stdout
    assert "o pedido #41 saiu" in result.stdout and '"America/Sao_Paulo"' not in lines[-1]
    assert '"local":["' in result.stdout and "-03:00" in result.stdout
    assert lines[-1].startswith("completed ") and '"skipped_reasons": {"opted_out": 1}' in lines[-1]
    assert '"read": 1' in lines[-1] and '"total": 2' in lines[-1]
    assert (system.data_dir.parent / "qr.png").read_bytes()[:4] == b"\x89PNG"


def test_a_killed_child_is_restarted_with_backoff(system: System) -> None:
    pid = system.info["children"]["worker-1"]
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: "worker-1 restarted" in system.log(), 30, "worker-1 to be restarted")
    assert "worker-1 exited with -9; restart #1" in system.log()
    gateway = system.info["children"]["gateway"]
    os.kill(gateway, signal.SIGKILL)
    wait_until(lambda: "gateway restarted" in system.log(), 30, "the gateway to be restarted")
    wait_until(system.ready, 30, "the restarted gateway to be ready")


def test_each_process_shuts_down_cleanly_on_sigterm(system: System) -> None:
    # One service alone: exits 0 on SIGTERM (the supervisor then restarts it).
    os.kill(system.info["children"]["scheduler-1"], signal.SIGTERM)
    wait_until(lambda: "scheduler-1 exited with 0" in system.log(), 20, "the scheduler to exit on SIGTERM")
    # The whole stack: every child stops, the stack exits 0.
    pids = list(system.info["children"].values())
    assert system.stop() == 0
    log = system.log()
    assert all(not pid_alive(pid) for pid in pids)
    assert "did not stop" not in log  # nothing needed SIGKILL
    for service in ["worker-1", "worker-2", "scheduler-2", "billing"]:
        assert re.search(rf"^{service}\s*\|.* stopped$", log, re.M), service
    assert "Application shutdown complete" in log


def test_embedded_servers_start_and_keep_data_across_runs(tmp_path: Path) -> None:
    data_dir = tmp_path / ".zapgate"
    first = start_system(data_dir, {})
    try:
        assert "embedded nats-server" in first.log() and "embedded PostgreSQL" in first.log()
        with first.client(first.admin_key) as http:
            created = http.post("/api/v1/tenants", json={"name": "kept"})
            assert created.status_code == 201
    finally:
        assert first.stop() == 0
    second = start_system(data_dir, {"ZAPGATE_ADMIN_KEY": first.admin_key})
    try:
        with second.client(first.admin_key) as http:
            assert [t["name"] for t in http.get("/api/v1/tenants").json()] == ["kept"]
        with second.client(created.json()["api_key"]) as http:
            assert http.get("/api/v1/me").json()["name"] == "kept"
    finally:
        assert second.stop() == 0


def test_admin_key_is_generated_once_and_kept(tmp_path: Path, nats_url: str, empty_database_url: str) -> None:
    data_dir = tmp_path / ".zapgate"
    env = {"ZAPGATE_NATS_URL": nats_url, "ZAPGATE_DATABASE_URL": empty_database_url, "ZAPGATE_ADMIN_KEY": ""}
    stack = start_system(data_dir, env, workers=1)
    try:
        key = (data_dir / "admin_key").read_text().strip()
        assert key in stack.log()
        assert (data_dir / "admin_key").stat().st_mode & 0o777 == 0o600
        with stack.client(key) as http:
            assert http.get("/api/v1/tenants").status_code == 200
    finally:
        stack.stop()
    again = start_system(data_dir, env, workers=1)
    try:
        assert (data_dir / "admin_key").read_text().strip() == key
    finally:
        again.stop()


def metric(text: str, name: str) -> float:
    """The sum of a metric's samples in a Prometheus text exposition."""
    return sum(float(m.group(1)) for m in re.finditer(rf"^{name}(?:\{{[^}}]*\}})? (\S+)$", text, re.M))


def test_every_service_exposes_metrics_that_move(system: System) -> None:
    workers = {
        n: u.replace("/health", "/metrics")
        for n, u in system.info["health"].items()
        if n.startswith("worker")
    }

    def scrape() -> dict[str, str]:
        return {name: httpx.get(url, timeout=5).text for name, url in workers.items()}

    # Every partition is held by one worker or the other (64 by default), leases are renewed.
    wait_until(
        lambda: sum(metric(t, "zapgate_partitions_held") for t in scrape().values()) == 64, 30,
        "the partitions to be held",
    )  # fmt: skip
    wait_until(
        lambda: all(metric(t, "zapgate_lease_renewal_seconds_count") > 0 for t in scrape().values()), 30,
        "lease renewals to be measured",
    )  # fmt: skip
    before = sum(metric(t, "zapgate_commands_total") for t in scrape().values())
    admin = {"X-Api-Key": system.admin_key}
    key = {
        "X-Api-Key": httpx.post(
            f"{system.url}/api/v1/tenants", json={"name": "metrics"}, headers=admin
        ).json()["api_key"]
    }
    httpx.post(f"{system.url}/api/v1/sessions", json={"name": "m"}, headers=key)
    assert httpx.post(f"{system.url}/api/v1/sessions/m/start", headers=key).status_code == 202
    wait_until(
        lambda: sum(metric(t, "zapgate_commands_total") for t in scrape().values()) > before, 30,
        "the start command to be counted",
    )  # fmt: skip
    gateway = httpx.get(f"{system.url}/metrics", headers=admin).text
    assert metric(gateway, "zapgate_requests_total") > 0
    wait_until(
        lambda: 'status="SCAN_QR"' in httpx.get(f"{system.url}/metrics", headers=admin).text, 30,
        "the session to show in zapgate_sessions",
    )  # fmt: skip


def test_json_logs_carry_the_tenant_session_and_command(
    nats_url: str, empty_database_url: str, tmp_path: Path
) -> None:
    import json

    system = start_system(
        tmp_path / ".zapgate",
        {
            "ZAPGATE_NATS_URL": nats_url,
            "ZAPGATE_DATABASE_URL": empty_database_url,
            "ZAPGATE_LOG_FORMAT": "json",
        },
    )
    try:
        admin = {"X-Api-Key": system.admin_key}
        created = httpx.post(f"{system.url}/api/v1/tenants", json={"name": "logs"}, headers=admin).json()
        key = {"X-Api-Key": created["api_key"]}
        httpx.post(f"{system.url}/api/v1/sessions", json={"name": "j"}, headers=key)
        start = httpx.post(f"{system.url}/api/v1/sessions/j/start", headers=key).json()

        def lines() -> list[dict]:
            found = []
            for line in system.log().splitlines():
                _, _, rest = line.partition("| ")
                if rest.startswith("{"):
                    found.append(json.loads(rest))
            return found

        wait_until(
            lambda: any(r.get("command") == start["command_id"] for r in lines()), 30,
            "a worker line about the start command",
        )  # fmt: skip
        about = [r for r in lines() if r.get("command") == start["command_id"]]
        assert all(r["tenant"] == created["id"] and r["session"] == "j" for r in about)
        assert {r["service"] for r in lines()} >= {"gateway", "session-worker"}
    finally:
        system.stop()
