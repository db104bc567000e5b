"""A client generated from the live OpenAPI document (openapi-python-client) with no warning,
driving the README walk-through: proof that the document says what the server does."""

from __future__ import annotations

import importlib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from helpers import System, start_system

pytestmark = pytest.mark.e2e

# The generator reads JSON, JSON-like text and binary bodies; the QR's PNG and SVG are files to it,
# and so is a CSV to import.
CONFIG = """content_type_overrides:
  image/png: application/octet-stream
  image/svg+xml: text/plain
  text/csv: application/octet-stream
"""


@pytest.fixture(scope="module")
def system(nats_server, pg_server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    from helpers import unique_name, with_database

    s = start_system(
        tmp_path_factory.mktemp("client") / ".zapgate",
        {
            "ZAPGATE_NATS_URL": nats_server.url,
            "ZAPGATE_DATABASE_URL": with_database(pg_server.url, unique_name("client")),
            "ZAPGATE_SIM_SPEED": "20",
            "ZAPGATE_SECRET_KEY": "e2e-secret-key-0123456789-abcdefghij",
        },
    )
    yield s
    s.stop()


@pytest.fixture(scope="module")
def client_package(system: System, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    out = tmp_path_factory.mktemp("generated")
    (out / "openapi.json").write_bytes(httpx.get(f"{system.url}/openapi.json").content)
    (out / "config.yml").write_text(CONFIG)
    bin_dir = Path(sys.executable).parent
    done = subprocess.run(
        [str(bin_dir / "openapi-python-client"), "generate", "--path", "openapi.json", "--meta", "none",
         "--config", "config.yml", "--output-path", "zapgate_client"],
        cwd=out, capture_output=True, text=True, timeout=300,
        env={"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(out)},  # its ruff formats the code
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "WARNING" not in output and "Unable to" not in output, output
    sys.path.insert(0, str(out))
    try:
        yield importlib.import_module("zapgate_client")
    finally:
        sys.path.remove(str(out))


def eventually(fetch: Any, done: Any, within: float = 30) -> Any:
    deadline = time.monotonic() + within
    while True:
        value = fetch()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def test_the_generated_client_runs_the_walkthrough(system: System, client_package: Any) -> None:
    from zapgate_client import AuthenticatedClient
    from zapgate_client.api.messages import get_message, list_chats, send_message, simulator_deliveries
    from zapgate_client.api.sessions import create_session, get_qr, get_session, simulator_scan, start_session
    from zapgate_client.api.tenants import create_tenant
    from zapgate_client.models import ErrorBody, PairingRequest, SendText, SessionCreate, TenantCreate

    def keyed(key: str) -> AuthenticatedClient:
        return AuthenticatedClient(base_url=system.url, token=key, prefix="", auth_header_name="X-Api-Key")

    tenant = create_tenant.sync(client=keyed(system.admin_key), body=TenantCreate(name="generated"))
    assert tenant is not None and not isinstance(tenant, ErrorBody), tenant
    api = keyed(tenant.api_key)
    created = create_session.sync(client=api, body=SessionCreate(name="main"))
    assert not isinstance(created, ErrorBody) and created is not None and created.status == "STOPPED"
    assert start_session.sync("main", client=api) is not None
    waiting = eventually(lambda: get_session.sync("main", client=api), lambda s: s.status == "SCAN_QR")
    assert waiting.status == "SCAN_QR"
    png = get_qr.sync_detailed("main", client=api)
    assert png.status_code == 200 and png.content[:4] == b"\x89PNG"
    assert simulator_scan.sync("main", client=api, body=PairingRequest(phone="5511911110888")) is not None
    connected = eventually(lambda: get_session.sync("main", client=api), lambda s: s.status == "CONNECTED")
    assert connected.status == "CONNECTED" and connected.phone == "5511911110888"
    accepted = send_message.sync(
        "main", client=api, body=SendText(to="5511987650888", text="hello from a client")
    )
    assert accepted is not None and not isinstance(accepted, ErrorBody), accepted
    read = eventually(lambda: get_message.sync(accepted.id, client=api), lambda m: m.status == "read")
    assert read.status == "read"
    chats = list_chats.sync("main", client=api)
    assert isinstance(chats, list) and chats[0].chat == "5511987650888@c.us"
    page = simulator_deliveries.sync("main", client=api)
    assert page is not None and [d.text for d in page.items] == ["hello from a client"]
    # Errors come back typed, in the documented shape.
    missing = get_session.sync("nope", client=api)
    assert isinstance(missing, ErrorBody) and missing.error.code == "not_found"
