"""The JWTs of nats-server's auth callout: signed and verified with nkeys, and a request that no
server signed is not answered."""

from __future__ import annotations

import os

import nkeys
import pytest

from zapgate.common import natsauth
from zapgate.gateway import nats_callout


def server_seed() -> str:
    return str(nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_SERVER).decode())


def test_a_token_verifies_against_its_issuer_and_a_changed_one_does_not() -> None:
    seed = natsauth.new_issuer_seed()
    token = natsauth.encode({"sub": "U123", "nats": {"type": "user"}}, seed)
    claims = natsauth.decode(token)
    assert claims["iss"] == natsauth.issuer_of(seed) and claims["iss"].startswith("A") and claims["jti"]
    head, _payload, signature = token.split(".")
    other = natsauth.encode({"sub": "U999", "nats": {"type": "user"}}, seed).split(".")[1]
    with pytest.raises(natsauth.BadToken):
        natsauth.decode(f"{head}.{other}.{signature}")
    with pytest.raises(natsauth.BadToken):
        natsauth.decode("not.a.jwt")


def test_a_user_jwt_grants_only_the_given_subjects_for_a_while() -> None:
    seed = natsauth.new_issuer_seed()
    claims = natsauth.decode(natsauth.user_jwt("UKEY", "zgt_1", ["zg.in.t1.>"], ["zg.evt.t1.>"], 600, seed))
    assert claims["sub"] == "UKEY" and claims["aud"] == natsauth.GLOBAL_ACCOUNT
    assert claims["nats"]["pub"] == {"allow": ["zg.in.t1.>"]} and claims["nats"]["sub"] == {
        "allow": ["zg.evt.t1.>"]
    }
    assert claims["nats"]["subs"] == -1 and claims["exp"] - claims["iat"] == 600


async def test_a_request_not_signed_by_a_server_is_not_answered() -> None:
    issuer = natsauth.new_issuer_seed()
    request = {"aud": natsauth.REQUEST_AUDIENCE, "sub": "A", "nats": {"user_nkey": "U", "connect_opts": {}}}
    forged = natsauth.encode(request, natsauth.new_issuer_seed())  # an account key, not a server's
    # The store is never asked: nothing is checked for a request no server made.
    assert await nats_callout.answer(None, issuer, 600, forged) is None  # type: ignore[arg-type]
    assert await nats_callout.answer(None, issuer, 600, "garbage") is None  # type: ignore[arg-type]
    wrong_audience = natsauth.encode({**request, "aud": "elsewhere"}, server_seed())
    assert await nats_callout.answer(None, issuer, 600, wrong_audience) is None  # type: ignore[arg-type]
