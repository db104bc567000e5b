"""Security findings of the gateway, each reproduced as an attack against real NATS and PostgreSQL."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import pytest
from litestar.testing import AsyncTestClient
from test_gateway_api import ADMIN, assert_error, settings_for
from test_gateway_guarantees import tenant_with_sessions

from zapgate.gateway.app import create_app


@pytest.fixture
async def client(clean_nats: str, database_url: str) -> AsyncIterator[AsyncTestClient]:
    async with AsyncTestClient(app=create_app(settings_for(clean_nats, database_url))) as c:
        yield c


async def test_media_is_served_as_an_attachment_that_never_renders(client: AsyncTestClient) -> None:
    # Broken on purpose (served inline with the uploader's type, as before), the HTML page
    # would run in the API's origin: the headers below are missing.
    _, key = await tenant_with_sessions(client, "main")
    page = base64.b64encode(b"<script>fetch('/api/v1/me')</script>").decode()
    body = {
        "type": "document", "to": "5511987650020",
        "media": {"data": page, "mimetype": "text/html", "filename": "../../etc/evil.html"},
    }  # fmt: skip
    sent = await client.post("/api/v1/sessions/main/messages", json=body, headers=key)
    assert sent.status_code == 202, sent.text
    message = (await client.get(f"/api/v1/messages/{sent.json()['id']}", headers=key)).json()
    assert message["content"]["media"]["filename"] == "evil.html"  # a name, not a path
    served = await client.get(f"/api/v1/media/{message['content']['media']['id']}", headers=key)
    assert served.status_code == 200
    assert served.headers["content-disposition"] == "attachment; filename*=UTF-8''evil.html"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert served.headers["content-security-policy"].startswith("sandbox")


@pytest.mark.parametrize(
    ("media", "words"),
    [
        ({"url": "http://127.0.0.1:99999/x.png", "mimetype": "image/png"}, "port"),
        ({"data": "aGVsbG8=", "mimetype": "image/日本"}, "mimetype"),
        ({"data": "aGVsbG8=", "mimetype": "image/png\n"}, "mimetype"),
    ],
)
async def test_inputs_that_answered_500_are_422(client: AsyncTestClient, media: dict, words: str) -> None:
    # Broken on purpose (as at 287c210), these were 500s or stored media that could never be
    # downloaded (a non-ASCII type cannot go in a header).
    _, key = await tenant_with_sessions(client, "main")
    body = {"type": "image", "to": "5511987650021", "media": media}
    error = assert_error(
        await client.post("/api/v1/sessions/main/messages", json=body, headers=key), 422, "validation_error"
    )
    assert words in str(error)


async def test_an_expiry_that_overflows_is_a_422(client: AsyncTestClient) -> None:
    _, key = await tenant_with_sessions(client, "main")
    body = {"type": "text", "to": "5511987650022", "text": "x", "expires_at": "9999-12-31T23:59:59-23:59"}
    assert_error(
        await client.post("/api/v1/sessions/main/messages", json=body, headers=key), 422, "validation_error"
    )


@pytest.mark.parametrize(
    "path",
    ["/api/v1/sessions/evil%0A", "/api/v1/sessions/evil%0A/start", "/qr?sessionId=evil%0A", "/qr/evil%0A",
     "/status/evil%0A"],
)  # fmt: skip
async def test_a_trailing_newline_never_passes_a_name_rule(client: AsyncTestClient, path: str) -> None:
    # Broken on purpose (re.match with $, as before), /qr created a session "evil\n" that could
    # never be deleted, and the newline reached a NATS subject: a 500.
    _, key = await tenant_with_sessions(client)
    method = "POST" if path.endswith("/start") else "GET"
    response = await client.request(method, path, headers=key)
    assert response.status_code in (404, 422), (path, response.status_code, response.text)
    listed = await client.get("/api/v1/sessions", headers=key)
    assert listed.json() == []


async def test_ready_names_what_is_down_and_nothing_more(clean_nats: str) -> None:
    # Broken on purpose (the exception text in the answer, as before), the host and user of the
    # database show to anyone who asks.
    settings = settings_for(
        "nats://127.0.0.1:1", "postgresql+asyncpg://secretuser:pw@127.0.0.1:1/x", nats_connect_timeout=0.2
    )
    async with AsyncTestClient(app=create_app(settings)) as c:
        ready = await c.get("/ready")
        assert ready.status_code == 503
        assert ready.json()["down"] == {"nats": "unreachable", "postgres": "unreachable"}
        assert "127.0.0.1" not in ready.text and "secretuser" not in ready.text


async def test_keys_and_tickets_of_the_wrong_shape_cost_no_lookup(
    clean_nats: str, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Broken on purpose (any printable 8-200 character key looked up, as before), every one of
    # these costs a database query.
    async with AsyncTestClient(
        app=create_app(settings_for(clean_nats, database_url, auth_failure_limit=1000))
    ) as c:
        state = c.app.state.gateway
        lookups: list[str] = []
        real = state.tenants.resolve_key

        async def counted(key_hash: str):  # type: ignore[no-untyped-def]
            lookups.append(key_hash)
            return await real(key_hash)

        monkeypatch.setattr(state.tenants, "resolve_key", counted)
        for key in ("zg_short", "x" * 40, "zg_" + "a" * 31 + "!", "zg_" + "a" * 33, "Bearer-ish-thing-123"):
            assert_error(await c.get("/api/v1/me", headers={"X-Api-Key": key}), 401, "unauthorized")
        assert lookups == []
        assert_error(await c.get("/api/v1/me", headers={"X-Api-Key": "zg_" + "a" * 32}), 401, "unauthorized")
        assert len(lookups) == 1  # a well-formed unknown key is looked up once


async def test_repeated_failed_authentication_from_one_address_is_refused_for_a_while(
    clean_nats: str, database_url: str
) -> None:
    # Broken on purpose (no limit, as before), the sixth attempt is another 401.
    settings = settings_for(clean_nats, database_url, auth_failure_limit=5, auth_failure_window=60)
    async with AsyncTestClient(app=create_app(settings)) as c:
        tenant = (await c.post("/api/v1/tenants", json={"name": "rl"}, headers={"X-Api-Key": ADMIN})).json()
        for _ in range(5):
            assert_error(
                await c.get("/api/v1/me", headers={"X-Api-Key": "zg_" + "b" * 32}), 401, "unauthorized"
            )
        limited = await c.get("/api/v1/me", headers={"X-Api-Key": "zg_" + "b" * 32})
        assert_error(limited, 429, "rate_limited")
        assert 1 <= int(limited.headers["retry-after"]) <= 60
        # While refused, the address is refused whatever it sends, unless the key is one the
        # gateway verified lately (a proxy's other clients): guessing gains nothing.
        assert_error(await c.get("/api/v1/me", headers={"X-Api-Key": tenant["api_key"]}), 429, "rate_limited")
        assert (await c.get("/api/v1/tenants", headers={"X-Api-Key": ADMIN})).status_code == 200
