"""The whatsapp engine under the dev stack with neonize's real Go library, on a machine that
cannot reach WhatsApp (as these are): the session fails in words, the worker and its other
sessions carry on, and a later start tries again."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from helpers import System, pair, session, start_system, tenant, wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    s = start_system(
        tmp_path_factory.mktemp("whatsapp") / ".zapgate",
        {"ZAPGATE_SIM_SPEED": "20", "ZAPGATE_SECRET_KEY": "e2e-secret-key-0123456789-abcdefghij"},
        workers=1,
    )
    yield s
    s.stop()


def test_no_route_to_whatsapp_fails_the_session_in_words_and_nothing_else(system: System) -> None:
    http = tenant(system, "real-phone")
    simulated = pair(http, "sim", "5511922223333")
    proxy = "socks5://shop:s3cret-pass@127.0.0.1:1"
    created = http.post("/api/v1/sessions", json={"name": "phone", "engine": "whatsapp",
                                                  "config": {"proxy": proxy}})  # fmt: skip
    assert created.status_code == 201, created.text
    assert created.json()["engine"] == "whatsapp"
    assert created.json()["config"]["proxy"] == "socks5://shop:***@127.0.0.1:1"  # never shown back
    for _ in range(2):  # a later start tries again, and fails the same way
        before = session(http, "phone")["updated_at"]
        assert http.post("/api/v1/sessions/phone/start").status_code == 202

        def failed_again(before: str = before) -> bool:
            now = session(http, "phone")
            return now["status"] == "FAILED" and now["updated_at"] != before

        wait_until(failed_again, 60, "the whatsapp session to fail")
        reason = str(session(http, "phone")["reason"])
        assert reason.startswith("cannot reach WhatsApp: "), reason
    # The worker is alive and its simulator session untouched.
    assert session(http, "sim")["status"] == "CONNECTED"
    assert session(http, "sim")["worker"] == simulated["worker"]
    assert "s3cret-pass" not in system.log()


def test_a_bad_proxy_is_refused_with_what_is_wrong(system: System) -> None:
    http = tenant(system, "bad-proxy")
    for proxy, says in (("ftp://h:1", "scheme"), ("socks5://host", "port"), ("socks5://h:1/x", "no path")):
        answer = http.post(
            "/api/v1/sessions", json={"name": "p", "engine": "whatsapp", "config": {"proxy": proxy}}
        )
        assert answer.status_code == 422, answer.text
        assert says in answer.text
    assert http.post("/api/v1/sessions", json={"name": "p", "engine": "telegram"}).status_code == 422
