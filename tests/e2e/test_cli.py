"""The operator's CLI (``zapgate``) against the dev stack, as a person or a script runs it: the
URL and key from flags, the environment or a profile file; tables and ``--json``; the QR code
drawn in the terminal and decoded back; errors in words with their exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import zxingcpp
from helpers import System, start_system, wait_until

pytestmark = pytest.mark.e2e

ZAPGATE = str(Path(sys.executable).parent / "zapgate")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    system = start_system(tmp_path_factory.mktemp("cli") / ".zapgate", {"ZAPGATE_SIM_SPEED": "20"})
    yield system
    system.stop()


def cli(
    *args: str, env: dict[str, str] | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run ``zapgate`` with no ZAPGATE_* of this process's environment but those given."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ZAPGATE_")}
    run = subprocess.run(
        [ZAPGATE, *args],
        env={**clean, "COLUMNS": "200", **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )
    if check:
        assert run.returncode == 0, f"{args}: {run.returncode}\n{run.stdout}\n{run.stderr}"
    return run


def as_json(*args: str, env: dict[str, str]) -> Any:
    return json.loads(cli("--json", *args, env=env).stdout)


def decode_terminal_qr(text: str) -> list[str]:
    """Read a QR code drawn with half blocks (a block is a light module) back into pixels."""
    lines = [line for line in text.splitlines() if line and set(line) <= {"\u2588", "\u2580", "\u2584", " "}]
    rows: list[list[int]] = []
    for line in lines:
        rows.append([255 if c in "\u2588\u2580" else 0 for c in line])
        rows.append([255 if c in "\u2588\u2584" else 0 for c in line])
    pixels = np.kron(np.array(rows, dtype=np.uint8), np.ones((8, 8), dtype=np.uint8))
    pixels = np.pad(pixels, 32, constant_values=255)
    return [b.text for b in zxingcpp.read_barcodes(pixels)]


def test_an_operator_runs_a_session_from_the_terminal(stack: System, tmp_path: Path) -> None:
    admin = {"ZAPGATE_URL": stack.url, "ZAPGATE_API_KEY": stack.admin_key}
    made = as_json("tenants", "create", "cli-shop", env=admin)
    assert {t["name"] for t in as_json("tenants", "list", env=admin)} >= {"cli-shop"}
    # A profile file holds the tenant's URL and key.
    config = tmp_path / "config.toml"
    config.write_text(f'[profiles.shop]\nurl = "{stack.url}"\nkey = "{made["api_key"]}"\n')
    shop = {"ZAPGATE_CONFIG": str(config), "ZAPGATE_PROFILE": "shop"}
    cli("sessions", "create", "main", env=shop)
    cli("sessions", "start", "main", env=shop)
    drawn = cli("qr", "main", env=shop).stdout
    raw = as_json("qr", "main", env=shop)
    assert decode_terminal_qr(drawn) in ([raw["value"]], [as_json("qr", "main", env=shop)["value"]])
    # Scanned through the simulator (the phone's side is not the CLI's).
    with stack.client(made["api_key"]) as http:
        assert (
            http.post("/api/v1/sessions/main/simulator/scan", json={"phone": "5511976000061"}).status_code
            == 202
        )
    wait_until(
        lambda: as_json("sessions", "get", "main", env=shop)["status"] == "CONNECTED",
        30,
        "the session to connect",
    )
    table = cli("sessions", "list", env=shop).stdout
    assert "main" in table and "CONNECTED" in table
    sent = as_json("send", "main", "5511988776661", "--text", "from the terminal", env=shop)
    picture = tmp_path / "tiny.png"
    picture.write_bytes(
        bytes.fromhex(
            "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
            "1f15c4890000000d49444154789c6360000002000100e221bc330000000049454e44ae426082"
        )
    )
    media = as_json("send", "main", "5511988776661", "--media", str(picture), "--text", "a caption", env=shop)
    wait_until(
        lambda: {m["id"]: m["status"] for m in as_json("messages", "main", env=shop)}.get(sent["id"]) == "read",
        30, "the text to be read",
    )  # fmt: skip
    listed = {m["id"]: m for m in as_json("messages", "main", env=shop)}
    assert listed[media["id"]]["type"] == "image"
    # The events, replayed from the start and filtered; the live table of sessions.
    frames = [
        json.loads(line)
        for line in cli(
            "--json", "events", "--since", "0", "--type", "session.*", "--count", "3", env=shop
        ).stdout.splitlines()
    ]
    assert len(frames) == 3 and all(f["type"].startswith("session.") for f in frames)
    assert [f["seq"] for f in frames] == sorted(f["seq"] for f in frames)
    watched = cli("watch", "--times", "2", "--every", "0.2", env=shop).stdout
    assert "CONNECTED" in watched
    # The admin's view of the cluster: two workers hold every partition between them.
    found = as_json("cluster", env=admin)
    assert sum(len(w["partitions"]) for w in found["workers"]) + len(found["unheld"]) == found["partitions"]
    assert len([w for w in found["workers"] if w["live"]]) == 2 and not found["unheld"]
    assert sum(w["sessions"] for w in found["workers"]) >= 1 and found["statuses"].get("CONNECTED", 0) >= 1
    assert "partitions" in cli("cluster", env=admin).stdout
    denied = cli("cluster", env=shop, check=False)
    assert denied.returncode == 1 and "403" in denied.stderr
    # Flags win over the profile.
    other = as_json("tenants", "create", "cli-other", env=admin)
    assert as_json("--key", other["api_key"], "sessions", "list", env=shop) == []


def test_errors_are_words_with_exit_codes(stack: System) -> None:
    admin = {"ZAPGATE_URL": stack.url, "ZAPGATE_API_KEY": stack.admin_key}
    key = as_json("tenants", "create", "cli-errors", env=admin)["api_key"]
    tenant = {"ZAPGATE_URL": stack.url, "ZAPGATE_API_KEY": key}
    missing = cli("sessions", "get", "nope", env=tenant, check=False)
    assert missing.returncode == 1 and "404 not_found" in missing.stderr, missing.stderr
    invalid = cli("sessions", "create", "Not A Name", env=tenant, check=False)
    assert invalid.returncode == 1 and "422 validation_error" in invalid.stderr and "name" in invalid.stderr
    wrong = cli("sessions", "list", env={**tenant, "ZAPGATE_API_KEY": "zg_wrong"}, check=False)
    assert wrong.returncode == 1 and "401" in wrong.stderr
    away = cli("--url", "http://127.0.0.1:9", "sessions", "list", env=tenant, check=False)
    assert away.returncode == 3 and "cannot reach" in away.stderr
    usage = cli("send", "main", "5511988776661", env=tenant, check=False)
    assert usage.returncode == 2 and "--text" in usage.stderr
    no_profile = cli(
        "--profile", "ghost", "sessions", "list", env={"ZAPGATE_CONFIG": "/nonexistent.toml"}, check=False
    )
    assert no_profile.returncode == 1 and "ghost" in no_profile.stderr
