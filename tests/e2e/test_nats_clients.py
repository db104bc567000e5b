"""Other services on NATS as first-class clients, on the dev stack (``make run``'s, which enforces
NATS authorization): a tenant's NATS user, issued by the admin, sends through the ingress from a
JavaScript client (the npm ``nats`` package) and from Python, and the message is in the history,
reaches ``read``, and reaches the tenant's webhook, as a REST send does; another tenant's subjects
are refused by the server."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import nats
import pytest
from helpers import Receiver, System, pair, refused_by_nats, start_system, tenant, wait_until

from zapgate.common import subjects
from zapgate.common.ids import new_id

pytestmark = pytest.mark.e2e

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "node-nats-client"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    system = start_system(
        tmp_path_factory.mktemp("nats-clients") / ".zapgate",
        {"ZAPGATE_SIM_SPEED": "20", "ZAPGATE_WEBHOOK_ALLOW_PRIVATE": "true"},
    )
    yield system
    system.stop()


@pytest.fixture(scope="module")
def node_client(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example, installed from its lock file into a copy (the repository stays clean)."""
    node, npm = shutil.which("node"), shutil.which("npm")
    assert node and npm, "Node.js and npm are needed for the JavaScript client (apt-get install nodejs npm)"
    copy = tmp_path_factory.mktemp("node-client") / "client"
    shutil.copytree(EXAMPLE, copy, ignore=shutil.ignore_patterns("node_modules"))
    subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund"], cwd=copy, check=True, timeout=300, capture_output=True
    )
    return copy


def nats_address(stack: System) -> str:
    """The dev stack's NATS URL without the admin's credentials."""
    parts = urlsplit(stack.info["nats_url"])
    return f"nats://{parts.hostname}:{parts.port}"


def test_a_javascript_service_sends_as_a_tenant_and_the_message_is_like_a_rest_send(
    stack: System, node_client: Path
) -> None:
    http = tenant(stack, "nats-js")
    me = http.get("/api/v1/me").json()["id"]
    receiver = Receiver()
    hook = http.post("/api/v1/webhooks", json={"url": receiver.url, "events": ["message.status"]})
    assert hook.status_code == 201, hook.text
    pair(http, "main", "5511976000051")
    with stack.client(stack.admin_key) as admin:
        user = admin.post(f"/api/v1/tenants/{me}/nats-users", json={"description": "node service"})
    assert user.status_code == 201, user.text
    env = {
        "PATH": "/usr/bin:/bin", "ZAPGATE_NATS_URL": nats_address(stack), "ZAPGATE_NATS_USER": user.json()["user"],
        "ZAPGATE_NATS_PASSWORD": user.json()["password"], "ZAPGATE_TENANT": me, "ZAPGATE_SESSION": "main",
        "ZAPGATE_TO": "5511988776651", "ZAPGATE_TEXT": "from javascript",
    }  # fmt: skip
    node = shutil.which("node")
    assert node is not None
    run = subprocess.run(
        [node, "send.mjs"], cwd=node_client, env=env, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stdout + run.stderr
    lines = [json.loads(line) for line in run.stdout.splitlines()]
    assert lines[0]["step"] == "accepted" and lines[0]["status"] == "queued", lines
    message_id = lines[0]["id"]
    assert lines[-1] == {**lines[-1], "step": "status", "status": "read"}, lines
    # In the history and with its statuses, as a REST send.
    got = http.get(f"/api/v1/messages/{message_id}")
    assert got.status_code == 200 and got.json()["status"] == "read", got.text
    assert got.json()["chat"] == "5511988776651@c.us"
    # And at the tenant's webhook.
    wait_until(
        lambda: {"sent", "delivered", "read"}
        <= {f["data"]["status"] for f in receiver.delivered() if f["data"].get("id") == message_id},
        30, "the message's statuses at the webhook",
    )  # fmt: skip
    assert {f["tenant"] for f in receiver.delivered()} == {me}


def test_on_the_dev_stack_a_tenant_user_is_refused_on_another_tenant_s_subjects(stack: System) -> None:
    mine, theirs = tenant(stack, "nats-mine"), tenant(stack, "nats-theirs")
    me, them = mine.get("/api/v1/me").json()["id"], theirs.get("/api/v1/me").json()["id"]
    with stack.client(stack.admin_key) as admin:
        user = admin.post(f"/api/v1/tenants/{me}/nats-users").json()

    async def attempt() -> list[str]:
        errors: list[str] = []

        async def on_error(exc: Exception) -> None:
            errors.append(str(exc).lower())

        nc = await nats.connect(
            nats_address(stack), user=user["user"], password=user["password"],
            inbox_prefix=user["inbox_prefix"], allow_reconnect=False, error_cb=on_error,
        )  # fmt: skip
        try:
            # Its own ingress answers (the session does not exist: a 404, as REST would say)...
            reply = await nc.request(
                subjects.ingress(me, "nope", "start"), json.dumps({"id": new_id()}).encode(), 10
            )
            assert json.loads(reply.data)["error"]["status"] == 404
            # ...another tenant's subjects are refused by the server.
            await nc.publish(subjects.ingress(them, "main", "send"), b"{}")
            await nc.subscribe(subjects.tenant_events(them))
            await nc.flush()
            assert await refused_by_nats(errors, "publish", subjects.ingress(them, "main", "send")), errors
            assert await refused_by_nats(errors, "subscription", subjects.tenant_events(them)), errors
        finally:
            await nc.close()
        return errors

    asyncio.run(attempt())
