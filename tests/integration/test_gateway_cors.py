"""Browsers on other origins, preflights and unknown methods, against real NATS and PostgreSQL.

Before: an OPTIONS request (a browser's preflight) on most routes answered 500 ("'user' is not
defined in scope"), and no origin could be allowed.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from litestar.testing import AsyncTestClient
from test_gateway_api import assert_error, settings_for
from test_gateway_guarantees import tenant_with_sessions

from zapgate.gateway.app import create_app

CRM = "https://crm.example.com"
ULID = "01HZZZZZZZZZZZZZZZZZZZZZZZ"


def concrete(path: str) -> str:
    """An OpenAPI path with its parameters filled in."""
    return re.sub(r"\{(\w+)\}", lambda m: "main" if m.group(1) == "name" else ULID, path)


@pytest.fixture
async def client(clean_nats: str, database_url: str) -> AsyncIterator[AsyncTestClient]:
    async with AsyncTestClient(app=create_app(settings_for(clean_nats, database_url))) as c:
        yield c


@pytest.fixture
async def crm_client(clean_nats: str, database_url: str) -> AsyncIterator[AsyncTestClient]:
    settings = settings_for(clean_nats, database_url, cors_origins=f"{CRM}/, https://other.example")
    async with AsyncTestClient(app=create_app(settings)) as c:
        yield c


async def test_options_and_unknown_methods_on_every_route_never_answer_500(client: AsyncTestClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert len(spec["paths"]) > 30
    for path, operations in spec["paths"].items():
        url = concrete(path)
        answer = await client.options(url, headers={"Origin": CRM})
        assert answer.status_code == 204, (path, answer.status_code, answer.text)
        allowed = {m.strip() for m in answer.headers["allow"].split(",")}
        assert {m.upper() for m in operations} <= allowed, path
        assert "access-control-allow-origin" not in answer.headers  # no origin is allowed by default
        refused = await client.request("PROPFIND", url)
        assert_error(refused, 405, "method_not_allowed")
        for operation in operations.values():
            assert "405" in operation["responses"], (path, "405 undocumented")


async def test_a_named_origin_passes_its_preflight_and_reads_the_answers(crm_client: AsyncTestClient) -> None:
    _, key = await tenant_with_sessions(crm_client, "main")
    preflight = await crm_client.options(
        "/api/v1/sessions/main/messages",
        headers={
            "Origin": CRM,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-api-key, content-type, idempotency-key",
        },
    )
    assert preflight.status_code == 204, preflight.text
    assert preflight.headers["access-control-allow-origin"] == CRM
    allowed_headers = preflight.headers["access-control-allow-headers"].lower()
    assert {"x-api-key", "content-type", "idempotency-key"} <= {h.strip() for h in allowed_headers.split(",")}
    assert "POST" in preflight.headers["access-control-allow-methods"]
    listing = await crm_client.get("/api/v1/sessions", headers={**key, "Origin": CRM})
    assert listing.status_code == 200
    assert listing.headers["access-control-allow-origin"] == CRM
    assert "retry-after" in listing.headers["access-control-expose-headers"].lower()
    # An error answer carries the header too, or the browser would hide it from the page.
    missing = await crm_client.get("/api/v1/sessions/nope", headers={**key, "Origin": CRM})
    assert missing.status_code == 404 and missing.headers["access-control-allow-origin"] == CRM


async def test_another_origin_is_refused_in_the_error_shape(crm_client: AsyncTestClient) -> None:
    _, key = await tenant_with_sessions(crm_client)
    preflight = await crm_client.options(
        "/api/v1/sessions", headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"}
    )
    error = assert_error(preflight, 400, "cors_refused")
    assert "ZAPGATE_CORS_ORIGINS" in error["message"]
    read = await crm_client.get("/api/v1/sessions", headers={**key, "Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in read.headers  # the browser keeps the answer from the page


async def test_metrics_need_the_admin_key_and_count_requests_by_route(client: AsyncTestClient) -> None:
    from test_gateway_api import ADMIN

    _, key = await tenant_with_sessions(client, "main")
    assert_error(await client.get("/metrics", headers=key), 403, "forbidden")  # not for tenants
    assert_error(await client.get("/metrics"), 401, "unauthorized")

    def count(text: str, path: str, status: str) -> float:
        pattern = rf'^zapgate_requests_total\{{[^}}]*path="{re.escape(path)}"[^}}]*status_code="{status}"[^}}]*\}} (\S+)$'
        return sum(float(m.group(1)) for m in re.finditer(pattern, text, re.M))

    before = (await client.get("/metrics", headers={"X-Api-Key": ADMIN})).text
    for _ in range(3):
        assert (await client.get("/api/v1/sessions/main", headers=key)).status_code == 200
    await client.get("/api/v1/sessions/nope", headers=key)
    scraped = await client.get("/metrics", headers={"X-Api-Key": ADMIN})
    assert scraped.status_code == 200 and scraped.headers["content-type"].startswith("text/plain")
    after = scraped.text
    # By route template: one series for every session name, so tenants' names never show.
    assert (
        count(after, "/api/v1/sessions/{name}", "200") - count(before, "/api/v1/sessions/{name}", "200") == 3
    )
    assert (
        count(after, "/api/v1/sessions/{name}", "404") - count(before, "/api/v1/sessions/{name}", "404") == 1
    )
    assert 'zapgate_sessions{status="STOPPED",worker=""}' in after
    assert "zapgate_websocket_clients 0.0" in after
