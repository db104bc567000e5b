"""The webhook routes on the gateway (in process, real NATS and PostgreSQL): the secret shown
once, private and unresolvable URLs refused, tenant isolation, the admin's endpoints."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from litestar.testing import AsyncTestClient

from zapgate.gateway.app import create_app
from zapgate.gateway.settings import Settings

ADMIN = "zgadmin_webhook-route-tests-0123456789abcdefghij"
SECRET_KEY = "webhook-route-tests-secret-key-0123456789abcdef"


@pytest.fixture
async def client(clean_nats: str, database_url: str) -> AsyncIterator[AsyncTestClient]:
    settings = Settings(nats_url=clean_nats, database_url=database_url, admin_key=ADMIN,  # type: ignore[arg-type]
                        secret_key=SECRET_KEY)  # fmt: skip
    async with AsyncTestClient(app=create_app(settings)) as c:
        yield c


async def tenant_key(client: AsyncTestClient, name: str) -> dict[str, str]:
    created = await client.post("/api/v1/tenants", json={"name": name}, headers={"X-Api-Key": ADMIN})
    assert created.status_code == 201, created.text
    return {"X-Api-Key": created.json()["api_key"]}


async def test_endpoints_are_the_tenants_own_and_their_secret_is_shown_once(client: AsyncTestClient) -> None:
    acme, other = await tenant_key(client, "wh-acme"), await tenant_key(client, "wh-other")
    # A public address (no request is made at registration; the host must resolve to it).
    body = {
        "url": "https://93.184.215.14/hooks",
        "events": ["message.*", "session.status"],
        "sessions": ["main"],
    }
    made = await client.post("/api/v1/webhooks", json=body, headers=acme)
    assert made.status_code == 201, made.text
    hook = made.json()
    assert hook["secret"].startswith("whsec_") and hook["state"] == "active" and hook["all_tenants"] is False
    got = await client.get(f"/api/v1/webhooks/{hook['id']}", headers=acme)
    assert got.status_code == 200 and "secret" not in got.json()
    assert [h["id"] for h in (await client.get("/api/v1/webhooks", headers=acme)).json()["items"]] == [
        hook["id"]
    ]
    for method, path in (("GET", ""), ("PATCH", ""), ("DELETE", ""), ("POST", "/test"), ("GET", "/deliveries"),
                         ("POST", "/rotate-secret")):  # fmt: skip
        answer = await client.request(method, f"/api/v1/webhooks/{hook['id']}{path}", headers=other,
                                      json={} if method == "PATCH" else None)  # fmt: skip
        assert answer.status_code == 404, (method, path, answer.text)
    assert (await client.get("/api/v1/webhooks", headers=other)).json()["items"] == []
    paused = await client.patch(f"/api/v1/webhooks/{hook['id']}", json={"state": "paused"}, headers=acme)
    assert paused.json()["state"] == "paused"
    rotated = await client.post(f"/api/v1/webhooks/{hook['id']}/rotate-secret", headers=acme)
    assert rotated.json()["secret"] != hook["secret"]
    ping = await client.post(f"/api/v1/webhooks/{hook['id']}/test", headers=acme)
    assert ping.status_code == 202 and ping.json()["event_type"] == "webhook.ping"
    deliveries = (await client.get(f"/api/v1/webhooks/{hook['id']}/deliveries", headers=acme)).json()["items"]
    assert [d["status"] for d in deliveries] == ["pending"]
    # The admin's endpoints are its own list, for every tenant's events.
    admin = await client.post("/api/v1/webhooks", json={"url": "https://93.184.215.14/all", "events": ["*"]},
                              headers={"X-Api-Key": ADMIN})  # fmt: skip
    assert admin.status_code == 201 and admin.json()["all_tenants"] is True
    assert (await client.get(f"/api/v1/webhooks/{admin.json()['id']}", headers=acme)).status_code == 404
    assert (await client.delete(f"/api/v1/webhooks/{hook['id']}", headers=acme)).status_code == 204


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"url": "http://127.0.0.1:9/x", "events": ["*"]}, "not allowed"),
        ({"url": "http://10.0.0.8/x", "events": ["*"]}, "not allowed"),
        ({"url": "http://169.254.169.254/latest", "events": ["*"]}, "not allowed"),
        ({"url": "http://nothing.invalid/x", "events": ["*"]}, "not allowed"),
        ({"url": "ftp://93.184.215.14/x", "events": ["*"]}, "http"),
        ({"url": "https://93.184.215.14/x", "events": []}, ""),
        ({"url": "https://93.184.215.14/x", "events": ["Message.*"]}, ""),
        ({"url": "https://93.184.215.14/x", "events": ["*"] * 51}, ""),
        ({"url": "https://93.184.215.14/x", "events": ["*"], "sessions": ["Bad Name"]}, ""),
        ({"url": "https://93.184.215.14/x", "events": ["*"], "secret": "mine"}, ""),
    ],
)
async def test_bad_endpoints_are_refused_with_422(client: AsyncTestClient, body: dict, says: str) -> None:
    acme = await tenant_key(client, "wh-bad")
    answer = await client.post("/api/v1/webhooks", json=body, headers=acme)
    assert answer.status_code == 422, answer.text
    assert says in answer.json()["error"]["message"] + str(answer.json()["error"].get("details"))
