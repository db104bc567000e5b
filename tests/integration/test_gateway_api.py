"""Gateway REST API against real NATS and PostgreSQL: auth, tenants, keys, error shape."""

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from litestar.testing import AsyncTestClient

from zapgate.gateway.app import create_app
from zapgate.gateway.settings import Settings

ADMIN = "zgadmin_test_key_0123456789"


def settings_for(nats_url: str, database_url: str, **extra: object) -> Settings:
    return Settings(nats_url=nats_url, database_url=database_url, admin_key=ADMIN, **extra)


@pytest.fixture
async def client(clean_nats: str, database_url: str) -> AsyncIterator[AsyncTestClient]:
    async with AsyncTestClient(app=create_app(settings_for(clean_nats, database_url))) as c:
        yield c


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]


async def make_tenant(client: AsyncTestClient, name: str = "acme") -> dict:
    response = await client.post("/api/v1/tenants", json={"name": name}, headers={"X-Api-Key": ADMIN})
    assert response.status_code == 201, response.text
    return response.json()


async def test_health_and_ready(client: AsyncTestClient) -> None:
    assert (await client.get("/health")).json() == {"status": "ok"}
    ready = await client.get("/ready")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "down": {}}


async def test_ready_is_503_naming_what_is_down(clean_nats: str) -> None:
    settings = settings_for(
        "nats://127.0.0.1:1", "postgresql://postgres@127.0.0.1:1/x", nats_connect_timeout=0.2
    )
    async with AsyncTestClient(app=create_app(settings)) as c:
        ready = await c.get("/ready")
        assert ready.status_code == 503
        assert set(ready.json()["down"]) == {"nats", "postgres"}
        assert ready.headers["retry-after"] == "1"
        assert (await c.get("/health")).status_code == 200


async def test_create_tenant_returns_a_key_that_works(client: AsyncTestClient) -> None:
    tenant = await make_tenant(client)
    assert set(tenant) == {"id", "name", "status", "created_at", "api_key", "api_key_id"}
    assert tenant["status"] == "active" and tenant["api_key"].startswith("zg_")
    me = await client.get("/api/v1/me", headers={"X-Api-Key": tenant["api_key"]})
    assert me.status_code == 200
    assert me.json() == {k: tenant[k] for k in ("id", "name", "status", "created_at")}
    bearer = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {tenant['api_key']}"})
    assert bearer.json()["id"] == tenant["id"]


async def test_admin_lists_and_reads_tenants(client: AsyncTestClient) -> None:
    a = await make_tenant(client, "a")
    b = await make_tenant(client, "b")
    listed = (await client.get("/api/v1/tenants", headers={"X-Api-Key": ADMIN})).json()
    assert [t["id"] for t in listed] == [a["id"], b["id"]]
    assert "api_key" not in listed[0]
    page = (await client.get(f"/api/v1/tenants?after={a['id']}", headers={"X-Api-Key": ADMIN})).json()
    assert [t["id"] for t in page] == [b["id"]]
    one = await client.get(f"/api/v1/tenants/{b['id']}", headers={"X-Api-Key": ADMIN})
    assert one.json()["name"] == "b"


async def test_missing_or_unknown_key_is_401(client: AsyncTestClient) -> None:
    assert_error(await client.get("/api/v1/me"), 401, "unauthorized")
    assert_error(
        await client.get("/api/v1/me", headers={"X-Api-Key": "zg_unknown_key_000000"}), 401, "unauthorized"
    )
    assert_error(
        await client.get("/api/v1/tenants", headers={"Authorization": "Basic abc"}), 401, "unauthorized"
    )


async def test_tenant_key_is_403_on_admin_routes_and_admin_is_403_on_me(client: AsyncTestClient) -> None:
    tenant = await make_tenant(client)
    key = {"X-Api-Key": tenant["api_key"]}
    assert_error(await client.get("/api/v1/tenants", headers=key), 403, "forbidden")
    assert_error(await client.post("/api/v1/tenants", json={"name": "x"}, headers=key), 403, "forbidden")
    assert_error(await client.get("/api/v1/me", headers={"X-Api-Key": ADMIN}), 403, "forbidden")


async def test_a_tenant_sees_only_itself(client: AsyncTestClient) -> None:
    a = await make_tenant(client, "a")
    b = await make_tenant(client, "b")
    key_a = {"X-Api-Key": a["api_key"]}
    assert (await client.get(f"/api/v1/tenants/{a['id']}", headers=key_a)).status_code == 200
    assert_error(await client.get(f"/api/v1/tenants/{b['id']}", headers=key_a), 404, "not_found")
    assert_error(await client.post(f"/api/v1/tenants/{b['id']}/api-keys", headers=key_a), 404, "not_found")
    assert_error(await client.get(f"/api/v1/tenants/{b['id']}/api-keys", headers=key_a), 404, "not_found")
    assert_error(
        await client.delete(f"/api/v1/tenants/{b['id']}/api-keys/{b['api_key_id']}", headers=key_a),
        404,
        "not_found",
    )
    # b's key still works: a could not revoke it
    assert (await client.get("/api/v1/me", headers={"X-Api-Key": b["api_key"]})).status_code == 200


async def test_keys_are_issued_listed_and_revoked(client: AsyncTestClient) -> None:
    tenant = await make_tenant(client)
    own = {"X-Api-Key": tenant["api_key"]}
    issued = await client.post(f"/api/v1/tenants/{tenant['id']}/api-keys", headers=own)
    assert issued.status_code == 201
    second = issued.json()
    assert set(second) == {"id", "api_key", "prefix", "created_at"}
    listed = (await client.get(f"/api/v1/tenants/{tenant['id']}/api-keys", headers=own)).json()
    assert {k["id"] for k in listed} == {tenant["api_key_id"], second["id"]}
    assert all("api_key" not in k for k in listed)
    # warm the cache, then revoke: the key must stop working at once
    assert (await client.get("/api/v1/me", headers={"X-Api-Key": second["api_key"]})).status_code == 200
    gone = await client.delete(
        f"/api/v1/tenants/{tenant['id']}/api-keys/{second['id']}", headers={"X-Api-Key": ADMIN}
    )
    assert gone.status_code == 204
    assert_error(
        await client.get("/api/v1/me", headers={"X-Api-Key": second["api_key"]}), 401, "unauthorized"
    )
    assert_error(
        await client.delete(
            f"/api/v1/tenants/{tenant['id']}/api-keys/{second['id']}", headers={"X-Api-Key": ADMIN}
        ),
        404,
        "not_found",
    )
    assert (await client.get("/api/v1/me", headers=own)).status_code == 200


async def test_revocation_reaches_every_gateway_replica(clean_nats: str, database_url: str) -> None:
    settings = settings_for(clean_nats, database_url, api_key_cache_ttl=300)
    async with (
        AsyncTestClient(app=create_app(settings)) as one,
        AsyncTestClient(app=create_app(settings)) as two,
    ):
        tenant = await make_tenant(one)
        key = {"X-Api-Key": tenant["api_key"]}
        assert (await two.get("/api/v1/me", headers=key)).status_code == 200  # cached in replica two
        revoked = await one.delete(
            f"/api/v1/tenants/{tenant['id']}/api-keys/{tenant['api_key_id']}", headers={"X-Api-Key": ADMIN}
        )
        assert revoked.status_code == 204
        for _ in range(100):
            if (await two.get("/api/v1/me", headers=key)).status_code == 401:
                break
        else:
            pytest.fail("replica two still accepts a revoked key")


async def test_a_revocation_that_never_arrives_is_bounded_by_the_cache_ttl(
    clean_nats: str, database_url: str
) -> None:
    ttl = 1.0
    settings = settings_for(clean_nats, database_url, api_key_cache_ttl=ttl)
    async with (
        AsyncTestClient(app=create_app(settings)) as one,
        AsyncTestClient(app=create_app(settings)) as two,
    ):
        # Replica two never hears the broadcast (as when NATS is down at the revocation).
        two.app.state.gateway.nats._on_key_revoked = lambda key_hash: None
        tenant = await make_tenant(one)
        key = {"X-Api-Key": tenant["api_key"]}
        assert (await two.get("/api/v1/me", headers=key)).status_code == 200  # cached in replica two
        revoked_at = time.monotonic()
        revoked = await one.delete(
            f"/api/v1/tenants/{tenant['id']}/api-keys/{tenant['api_key_id']}", headers={"X-Api-Key": ADMIN}
        )
        assert revoked.status_code == 204
        assert (await one.get("/api/v1/me", headers=key)).status_code == 401  # at once where revoked
        while (await two.get("/api/v1/me", headers=key)).status_code == 200:
            # Broken on purpose (a cache that never expires) this loop runs out and fails.
            assert time.monotonic() - revoked_at < 3 * ttl, "replica two accepts a revoked key past the TTL"
            await asyncio.sleep(0.05)
        assert time.monotonic() - revoked_at >= ttl * 0.5  # it really was the cache that held it


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b'{"name":', 400, "bad_request"),
        (b"", 400, "bad_request"),
        (b'{"name": 5}', 422, "validation_error"),
        (b'{"name": "x", "evil": true}', 422, "validation_error"),
        (b'{"name": "   "}', 422, "validation_error"),
        (b'{"name": "' + b"x" * 101 + b'"}', 422, "validation_error"),
        (b"[1, 2]", 422, "validation_error"),
        (b"{}", 422, "validation_error"),
    ],
)
async def test_bad_bodies_are_4xx_with_the_error_shape(
    client: AsyncTestClient, body: bytes, status: int, code: str
) -> None:
    response = await client.post(
        "/api/v1/tenants", content=body, headers={"X-Api-Key": ADMIN, "Content-Type": "application/json"}
    )
    assert_error(response, status, code)


async def test_validation_errors_say_which_field(client: AsyncTestClient) -> None:
    error = assert_error(
        await client.post("/api/v1/tenants", json={"name": "x", "evil": 1}, headers={"X-Api-Key": ADMIN}),
        422,
        "validation_error",
    )
    assert error["details"][0]["key"] == "evil"


async def test_oversized_request_is_413(clean_nats: str, database_url: str) -> None:
    async with AsyncTestClient(
        app=create_app(settings_for(clean_nats, database_url, max_body_size=4096))
    ) as c:
        response = await c.post(
            "/api/v1/tenants", content=b'{"name": "' + b"x" * 10_000 + b'"}', headers={"X-Api-Key": ADMIN}
        )
        assert_error(response, 413, "payload_too_large")


async def test_duplicate_tenant_name_is_409(client: AsyncTestClient) -> None:
    await make_tenant(client, "same")
    assert_error(
        await client.post("/api/v1/tenants", json={"name": "same"}, headers={"X-Api-Key": ADMIN}),
        409,
        "conflict",
    )


async def test_bad_query_and_unknown_routes(client: AsyncTestClient) -> None:
    assert_error(
        await client.get("/api/v1/tenants?limit=abc", headers={"X-Api-Key": ADMIN}), 422, "validation_error"
    )
    assert_error(
        await client.get("/api/v1/tenants?limit=0", headers={"X-Api-Key": ADMIN}), 422, "validation_error"
    )
    assert_error(await client.get("/api/v1/nowhere", headers={"X-Api-Key": ADMIN}), 404, "not_found")
    assert_error(await client.put("/api/v1/me", headers={"X-Api-Key": ADMIN}), 405, "method_not_allowed")


async def test_openapi_and_docs_are_public(client: AsyncTestClient) -> None:
    spec = await client.get("/openapi.json")
    assert spec.status_code == 200
    paths = spec.json()["paths"]
    assert {"/api/v1/tenants", "/api/v1/me", "/health", "/ready"} <= set(paths)
    assert (await client.get("/docs")).status_code == 200


async def test_the_gateway_serves_the_nats_contract_without_a_key(client: AsyncTestClient) -> None:
    from zapgate.gateway.contract import asyncapi

    served = await client.get("/asyncapi.json")
    assert served.status_code == 200 and served.json() == asyncapi()
