"""Per-tenant quotas and bounded reads, against real NATS and PostgreSQL.

Before these, one tenant could create sessions, keys, tickets and media without end and fill
the JetStream disk of every tenant (security review, finding 9).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator

import nats
import pytest
from litestar.testing import AsyncTestClient
from test_gateway_api import ADMIN, assert_error, settings_for
from test_gateway_guarantees import tenant_with_sessions

from zapgate.common import subjects
from zapgate.gateway.app import create_app

ADMIN_HEADERS = {"X-Api-Key": ADMIN}


@pytest.fixture
async def limited(clean_nats: str, database_url: str) -> AsyncIterator[AsyncTestClient]:
    settings = settings_for(
        clean_nats, database_url, quota_sessions=3, quota_api_keys=2, quota_media_bytes=1000,
        quota_tickets_per_minute=2,
    )  # fmt: skip
    async with AsyncTestClient(app=create_app(settings)) as c:
        yield c


def quota_error(response, quota: str) -> dict:
    error = assert_error(response, 403, "quota_exceeded")
    assert error["details"]["quota"] == quota
    return error


async def test_sessions_stop_at_the_quota_even_when_created_at_once(limited: AsyncTestClient) -> None:
    tenant, key = await tenant_with_sessions(limited)
    answers = await asyncio.gather(
        *(limited.post("/api/v1/sessions", json={"name": f"s{i}"}, headers=key) for i in range(6))
    )
    assert sorted(a.status_code for a in answers) == [201] * 3 + [403] * 3
    refused = next(a for a in answers if a.status_code == 403)
    assert quota_error(refused, "sessions")["details"] == {
        "quota": "sessions",
        "limit": 3,
        "used": 3,
        "requested": 1,
    }
    # The old clients' QR route creates sessions on the fly: the same quota holds there.
    quota_error(await limited.get("/qr?sessionId=onthefly", headers=key), "sessions")
    # A name that exists is still a 409, not a quota error.
    created = next(a for a in answers if a.status_code == 201).json()["name"]
    assert_error(await limited.post("/api/v1/sessions", json={"name": created}, headers=key), 409, "conflict")
    # Deleting one frees its place; another tenant has its own quota.
    assert (await limited.delete(f"/api/v1/sessions/{created}", headers=key)).status_code == 204
    assert (await limited.post("/api/v1/sessions", json={"name": "again"}, headers=key)).status_code == 201
    await tenant_with_sessions(limited, "a", "b", "c")  # another tenant has its own three
    usage = (await limited.get(f"/api/v1/tenants/{tenant['id']}/quotas", headers=key)).json()["usage"]
    assert usage["sessions"] == 3


async def test_the_admin_sets_a_tenants_own_quotas(limited: AsyncTestClient) -> None:
    tenant, key = await tenant_with_sessions(limited, "a", "b", "c")
    path = f"/api/v1/tenants/{tenant['id']}/quotas"
    # A tenant reads its quotas but cannot raise them.
    assert_error(await limited.put(path, json={"sessions": 100}, headers=key), 403, "forbidden")
    shown = (await limited.get(path, headers=key)).json()
    assert shown == {
        "limits": {"sessions": 3, "api_keys": 2, "media_bytes": 1000, "tickets_per_minute": 2},
        "overrides": {},
        "usage": {"sessions": 3, "api_keys": 1, "media_bytes": 0},
    }
    raised = await limited.put(path, json={"sessions": 4, "media_bytes": None}, headers=ADMIN_HEADERS)
    assert raised.status_code == 200, raised.text
    assert raised.json()["limits"]["sessions"] == 4 and raised.json()["limits"]["media_bytes"] is None
    assert raised.json()["overrides"] == {"sessions": 4, "media_bytes": None}
    assert (await limited.post("/api/v1/sessions", json={"name": "d"}, headers=key)).status_code == 201
    quota_error(await limited.post("/api/v1/sessions", json={"name": "e"}, headers=key), "sessions")
    # Lowered below the usage: nothing is removed, only new ones are refused.
    lowered = await limited.put(path, json={"sessions": 1}, headers=ADMIN_HEADERS)
    assert lowered.json()["usage"]["sessions"] == 4
    assert len((await limited.get("/api/v1/sessions", headers=key)).json()) == 4
    # {} is the defaults again; a negative quota or an unknown one is a 422.
    assert (await limited.put(path, json={}, headers=ADMIN_HEADERS)).json()["limits"]["sessions"] == 3
    for bad in ({"sessions": -1}, {"disk": 5}):
        assert_error(await limited.put(path, json=bad, headers=ADMIN_HEADERS), 422, "validation_error")
    assert_error(
        await limited.put("/api/v1/tenants/01HZZZZZZZZZZZZZZZZZZZZZZZ/quotas", json={}, headers=ADMIN_HEADERS),
        404, "not_found",
    )  # fmt: skip


async def test_live_api_keys_stop_at_the_quota_and_a_revocation_frees_one(limited: AsyncTestClient) -> None:
    tenant, key = await tenant_with_sessions(limited)
    path = f"/api/v1/tenants/{tenant['id']}/api-keys"
    second = await limited.post(path, headers=key)
    assert second.status_code == 201
    quota_error(await limited.post(path, headers=key), "api_keys")
    quota_error(await limited.post(path, headers=ADMIN_HEADERS), "api_keys")  # the admin too
    assert (await limited.delete(f"{path}/{second.json()['id']}", headers=key)).status_code == 204
    assert (await limited.post(path, headers=key)).status_code == 201


def image(size: int) -> dict:
    return {"data": base64.b64encode(b"\x89PNG" + b"x" * (size - 4)).decode(), "mimetype": "image/png"}


async def test_media_bytes_stop_at_the_quota_and_nothing_is_kept_of_a_refused_one(
    limited: AsyncTestClient, clean_nats: str
) -> None:
    tenant, key = await tenant_with_sessions(limited, "main")
    send = {"type": "image", "to": "5511987650030"}
    first = await limited.post(
        "/api/v1/sessions/main/messages", json={**send, "media": image(600)}, headers=key
    )
    assert first.status_code == 202, first.text
    refused = await limited.post(
        "/api/v1/sessions/main/messages", json={**send, "media": image(600)}, headers=key
    )
    error = quota_error(refused, "media_bytes")
    assert error["details"] == {"quota": "media_bytes", "limit": 1000, "used": 600, "requested": 600}
    history = (await limited.get("/api/v1/sessions/main/messages", headers=key)).json()["items"]
    assert [m["id"] for m in history] == [first.json()["id"]]  # the refused one was not recorded
    nc = await nats.connect(clean_nats)
    try:
        stored = await (await nc.jetstream().object_store(subjects.MEDIA_BUCKET)).list()
        assert len(stored) == 1
    finally:
        await nc.close()
    # Other tenants have their own bytes.
    _, other = await tenant_with_sessions(limited, "main")
    again = await limited.post(
        "/api/v1/sessions/main/messages", json={**send, "media": image(600)}, headers=other
    )
    assert again.status_code == 202, again.text
    usage = (await limited.get(f"/api/v1/tenants/{tenant['id']}/quotas", headers=key)).json()["usage"]
    assert usage["media_bytes"] == 600


async def test_media_older_than_the_stores_max_age_no_longer_counts(
    clean_nats: str, database_url: str
) -> None:
    settings = settings_for(clean_nats, database_url, quota_media_bytes=1000, media_max_age=1.5)
    async with AsyncTestClient(app=create_app(settings)) as client:
        _, key = await tenant_with_sessions(client, "main")
        send = {"type": "image", "to": "5511987650031", "media": image(800)}
        assert (
            await client.post("/api/v1/sessions/main/messages", json=send, headers=key)
        ).status_code == 202
        quota_error(
            await client.post("/api/v1/sessions/main/messages", json=send, headers=key), "media_bytes"
        )
        await asyncio.sleep(2.0)  # the object store dropped it: its bytes are free again
        assert (
            await client.post("/api/v1/sessions/main/messages", json=send, headers=key)
        ).status_code == 202


async def test_a_full_media_store_is_507_and_gives_the_quota_back(clean_nats: str, database_url: str) -> None:
    settings = settings_for(clean_nats, database_url, media_store_max_bytes=1 << 20, quota_media_bytes=0)
    async with AsyncTestClient(app=create_app(settings)) as client:
        tenant, key = await tenant_with_sessions(client, "main")
        send = {"type": "image", "to": "5511987650032", "media": image(700_000)}
        assert (
            await client.post("/api/v1/sessions/main/messages", json=send, headers=key)
        ).status_code == 202
        full = await client.post("/api/v1/sessions/main/messages", json=send, headers=key)
        assert_error(full, 507, "storage_full")
        usage = (await client.get(f"/api/v1/tenants/{tenant['id']}/quotas", headers=key)).json()
        assert usage["usage"]["media_bytes"] == 700_000 and usage["limits"]["media_bytes"] is None


async def test_tickets_are_limited_per_tenant_and_minute(limited: AsyncTestClient) -> None:
    _, key = await tenant_with_sessions(limited)
    for _ in range(2):
        assert (await limited.post("/api/v1/ws/tickets", headers=key)).status_code == 201
    refused = await limited.post("/api/v1/ws/tickets", headers=key)
    error = assert_error(refused, 429, "rate_limited")
    assert error["details"] == {"quota": "tickets_per_minute", "limit": 2}
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    _, other = await tenant_with_sessions(limited)
    assert (await limited.post("/api/v1/ws/tickets", headers=other)).status_code == 201


async def test_sessions_are_listed_a_page_at_a_time(client_unlimited: AsyncTestClient) -> None:
    names = [f"s{i:02d}" for i in range(7)]
    _, key = await tenant_with_sessions(client_unlimited, *reversed(names))
    seen: list[str] = []
    after = None
    while True:
        params = {"limit": 3, **({"after": after} if after else {})}
        page = (await client_unlimited.get("/api/v1/sessions", params=params, headers=key)).json()
        seen += [s["name"] for s in page]
        if len(page) < 3:
            break
        after = page[-1]["name"]
    assert seen == names
    legacy = (
        await client_unlimited.get("/sessions", params={"limit": 2, "after": "s04"}, headers=key)
    ).json()
    assert [s["sessionId"] for s in legacy["sessions"]] == ["s05", "s06"]
    for bad in ({"limit": 0}, {"limit": 501}, {"after": "Not A Name"}):
        assert_error(
            await client_unlimited.get("/api/v1/sessions", params=bad, headers=key), 422, "validation_error"
        )


@pytest.fixture
async def client_unlimited(clean_nats: str, database_url: str) -> AsyncIterator[AsyncTestClient]:
    async with AsyncTestClient(app=create_app(settings_for(clean_nats, database_url))) as c:
        yield c
