"""Other services on NATS as first-class clients: a tenant's NATS user, authorized by the gateway
through nats-server's auth callout, sends and runs lifecycle commands on the ingress subjects
and is refused on every other tenant's subjects (real nats-server with authorization, real
gateway, real PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import nats
import pytest
from helpers import ServerProcess, refused_by_nats, start_nats
from litestar.testing import AsyncTestClient
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from zapgate.common import natsauth, permissions, subjects
from zapgate.common.ids import new_id
from zapgate.gateway.app import create_app
from zapgate.gateway.settings import Settings

ADMIN = "zgadmin_test_key_0123456789"
PASSWORDS = {user: f"pw-{user}" for user in (permissions.ADMIN, *permissions.SERVICES)}
SEED = natsauth.new_issuer_seed()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("nats-tenants")
    conf = root / "auth.conf"
    conf.write_text(permissions.authorization_conf(PASSWORDS, natsauth.issuer_of(SEED)))
    nats_server = start_nats(root / "store", config=conf)
    yield nats_server
    nats_server.stop()


class Tenant:
    """A tenant made over REST: its id, key and a NATS user issued by the admin."""

    def __init__(self, made: dict[str, Any], user: dict[str, Any]) -> None:
        self.id: str = made["id"]
        self.key: str = made["api_key"]
        self.user = user
        self.errors: list[str] = []

    async def connect(self, url: str, password: str | None = None) -> NATS:
        async def on_error(exc: Exception) -> None:
            self.errors.append(str(exc).lower())

        return await nats.connect(
            url, user=self.user["user"], password=password or self.user["password"],
            inbox_prefix=self.user["inbox_prefix"], allow_reconnect=False, error_cb=on_error,
            connect_timeout=5,
        )  # fmt: skip

    async def refused(self, what: str, subject: str) -> bool:
        return await refused_by_nats(self.errors, what, subject)


@pytest.fixture
async def client(server: ServerProcess, database_url: str) -> AsyncIterator[AsyncTestClient]:
    settings = Settings(
        nats_url=server.url, nats_user="gateway", nats_password=PASSWORDS["gateway"],  # type: ignore[arg-type]
        nats_callout_seed=SEED, database_url=database_url, admin_key=ADMIN,  # type: ignore[arg-type]
    )  # fmt: skip
    async with AsyncTestClient(app=create_app(settings)) as c:
        for _ in range(100):
            if (await c.get("/ready")).status_code == 200:
                break
            await asyncio.sleep(0.1)
        yield c


async def tenant(client: AsyncTestClient, name: str) -> Tenant:
    made = await client.post("/api/v1/tenants", json={"name": name}, headers={"X-Api-Key": ADMIN})
    assert made.status_code == 201, made.text
    tenant_id = made.json()["id"]
    user = await client.post(
        f"/api/v1/tenants/{tenant_id}/nats-users", json={"description": "crm"}, headers={"X-Api-Key": ADMIN}
    )
    assert user.status_code == 201, user.text
    assert user.json()["publish"] == [f"zg.in.{tenant_id}.>"]
    return Tenant(made.json(), user.json())


async def ask(nc: NATS, subject: str, body: dict[str, Any]) -> dict[str, Any]:
    """An ingress request, retried while the gateway's subscription is not there yet."""
    for _ in range(50):
        try:
            reply = await nc.request(subject, json.dumps(body).encode(), timeout=5)
            return dict(json.loads(reply.data))
        except nats.errors.NoRespondersError:
            await asyncio.sleep(0.1)
    raise AssertionError(f"nobody answered on {subject}")


async def test_a_tenant_user_sends_over_nats_as_a_rest_send_does_and_only_as_itself(
    client: AsyncTestClient, server: ServerProcess
) -> None:
    shop, other = await tenant(client, "nats-shop"), await tenant(client, "nats-other")
    made = await client.post("/api/v1/sessions", json={"name": "main"}, headers={"X-Api-Key": shop.key})
    assert made.status_code == 201, made.text
    nc = await shop.connect(server.url)
    events: list[dict[str, Any]] = []

    async def on_event(msg: Msg) -> None:
        events.append(json.loads(msg.data))

    await nc.subscribe(subjects.tenant_events(shop.id), cb=on_event)

    # A send: accepted with the id the service chose, in the history like a REST send, and the
    # same request again is the same message (deduplicated by its id).
    message_id = new_id()
    body = {"id": message_id, "message": {"type": "text", "to": "+5511988776655", "text": "over NATS"}}
    first = await ask(nc, subjects.ingress(shop.id, "main", "send"), body)
    assert first == {"result": {"id": message_id, "status": "queued"}}, first
    assert await ask(nc, subjects.ingress(shop.id, "main", "send"), body) == first
    got = await client.get(f"/api/v1/messages/{message_id}", headers={"X-Api-Key": shop.key})
    assert got.status_code == 200 and got.json()["chat"] == "5511988776655@c.us", got.text
    listed = await client.get("/api/v1/sessions/main/messages", headers={"X-Api-Key": shop.key})
    assert [m["id"] for m in listed.json()["items"]] == [message_id]
    assert (
        await client.get(f"/api/v1/messages/{message_id}", headers={"X-Api-Key": other.key})
    ).status_code == 404

    # Lifecycle commands, with their idempotency.
    started = await ask(nc, subjects.ingress(shop.id, "main", "start"), {"id": "01STARTKEY"})
    assert set(started["result"]) == {"command_id"}
    assert await ask(nc, subjects.ingress(shop.id, "main", "start"), {"id": "01STARTKEY"}) == started
    session = await client.get("/api/v1/sessions/main", headers={"X-Api-Key": shop.key})
    assert session.json()["desired"] == "started"

    # Bad input: the REST error, a command.rejected event to the tenant, the original in the DLQ.
    bad = await ask(nc, subjects.ingress(shop.id, "main", "send"), {"message": {"type": "text", "to": "123"}})
    assert bad["error"]["status"] == 422 and bad["error"]["code"] == "validation_error", bad
    missing = await ask(nc, subjects.ingress(shop.id, "nope", "stop"), {})
    assert missing["error"]["status"] == 404, missing
    unknown = await ask(nc, subjects.ingress(shop.id, "main", "explode"), {})
    assert unknown["error"]["status"] == 400, unknown
    for _ in range(50):
        if len([e for e in events if e["type"] == "command.rejected"]) >= 3:
            break
        await asyncio.sleep(0.1)
    rejected = [e for e in events if e["type"] == "command.rejected"]
    assert {e["reason"] for e in rejected} == {"validation_error", "not_found", "bad_request"}
    assert {e["tenant"] for e in events} == {shop.id}
    admin = await nats.connect(server.url, user="admin", password=PASSWORDS["admin"])
    try:
        dlq = await admin.jetstream().get_last_msg(
            subjects.DLQ_STREAM,
            subjects.dead_letter("validation_error", subjects.ingress(shop.id, "main", "send")),
        )
        assert json.loads(dlq.data or b"{}")["message"]["to"] == "123"
    finally:
        await admin.close()

    # Another tenant's subjects are refused by the server itself.
    await nc.publish(subjects.ingress(other.id, "main", "send"), json.dumps(body).encode())
    assert await shop.refused("publish", subjects.ingress(other.id, "main", "send"))
    await nc.subscribe(subjects.tenant_events(other.id))
    assert await shop.refused("subscription", subjects.tenant_events(other.id))
    await nc.subscribe("_INBOX.>")
    assert await shop.refused("subscription", "_INBOX.>")
    await nc.publish(subjects.command(0, shop.id, "main", "send"), b"{}")
    assert await shop.refused("publish", subjects.command(0, shop.id, "main", "send"))
    await nc.close()


async def test_a_wrong_password_an_unknown_user_and_a_revoked_one_are_refused(
    client: AsyncTestClient, server: ServerProcess
) -> None:
    shop = await tenant(client, "nats-revoked")
    with pytest.raises(Exception, match=r"(?i)authorization"):
        await shop.connect(server.url, password="zgnats_wrong")
    stranger = Tenant({"id": "x", "api_key": "x"}, {**shop.user, "user": "zgt_01NOSUCHUSER"})
    with pytest.raises(Exception, match=r"(?i)authorization"):
        await stranger.connect(server.url)
    nc = await shop.connect(server.url)
    await nc.close()
    listed = await client.get(f"/api/v1/tenants/{shop.id}/nats-users", headers={"X-Api-Key": ADMIN})
    assert [u["id"] for u in listed.json()] == [shop.user["id"]] and "password" not in listed.json()[0]
    # Only the admin issues and revokes them.
    assert (
        await client.post(f"/api/v1/tenants/{shop.id}/nats-users", headers={"X-Api-Key": shop.key})
    ).status_code == 403
    gone = await client.delete(
        f"/api/v1/tenants/{shop.id}/nats-users/{shop.user['id']}", headers={"X-Api-Key": ADMIN}
    )
    assert gone.status_code == 204
    with pytest.raises(Exception, match=r"(?i)authorization"):
        await shop.connect(server.url)
    again = await client.delete(
        f"/api/v1/tenants/{shop.id}/nats-users/{shop.user['id']}", headers={"X-Api-Key": ADMIN}
    )
    assert again.status_code == 404
