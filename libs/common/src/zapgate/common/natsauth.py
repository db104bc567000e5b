"""NATS auth callout: the claims nats-server and its authorization service exchange.

With ``auth_callout`` in nats-server's ``authorization`` block, a client that is not one of the
services' own users is not checked by the server: the server sends an authorization request (a
JWT it signs) on ``$SYS.REQ.USER.AUTH``, and the service answers with an authorization
response (a JWT signed by the issuer account key named in the config) that carries a user JWT:
the user's permissions, placed in an account, valid until it expires. The formats are those of
nats-io/jwt v2 (``authorization_request``, ``authorization_response``, ``user``); nkeys signs
them (ed25519).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import sys
import time
from typing import Any

import nkeys
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

CALLOUT_SUBJECT = "$SYS.REQ.USER.AUTH"
REQUEST_AUDIENCE = "nats-authorization-request"
"""The ``aud`` of the server's authorization requests."""
GLOBAL_ACCOUNT = "$G"
"""The account of every user of a config without accounts: where tenant users are placed."""
_HEADER = {"typ": "JWT", "alg": "ed25519-nkey"}


class BadToken(ValueError):
    """A JWT that is malformed or whose signature does not verify."""


def new_issuer_seed() -> str:
    """A new account seed (``SA...``): the key that signs the answers to the server."""
    return str(nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_ACCOUNT).decode())


def issuer_of(seed: str) -> str:
    """The public account key (``A...``) of a seed: the ``issuer`` of the server's config."""
    return str(nkeys.from_seed(seed.encode()).public_key.decode())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode(claims: dict[str, Any], seed: str) -> str:
    """Sign ``claims`` as a NATS JWT with ``seed`` (``iss``, ``iat`` and ``jti`` filled in)."""
    kp = nkeys.from_seed(seed.encode())
    body = {**claims, "iss": kp.public_key.decode(), "iat": int(time.time())}
    digest = hashlib.sha512(json.dumps(body, sort_keys=True).encode()).digest()[:32]
    body["jti"] = base64.b32encode(digest).decode().rstrip("=")
    signing_input = f"{_b64(json.dumps(_HEADER).encode())}.{_b64(json.dumps(body).encode())}"
    return f"{signing_input}.{_b64(kp.sign(signing_input.encode()))}"


def _verify(public_key: str, data: bytes, signature: bytes) -> None:
    """Check an ed25519 signature by a public nkey (nkeys 0.2 verifies only with a seed)."""
    raw = base64.b32decode(public_key)
    if len(raw) != 35 or bytes(nkeys.crc16_checksum(raw[:-2])) != raw[-2:]:
        raise BadToken("the issuer is not a public nkey")
    Ed25519PublicKey.from_public_bytes(raw[1:33]).verify(signature, data)


def decode(token: str) -> dict[str, Any]:
    """The claims of a NATS JWT whose signature verifies against its own ``iss``; BadToken else."""
    try:
        head, payload, signature = token.split(".")
        header = json.loads(_unb64(head))
        claims = json.loads(_unb64(payload))
        if str(header.get("alg", "")).lower() not in ("ed25519-nkey", "ed25519"):
            raise BadToken(f"unknown algorithm {header.get('alg')!r}")
        _verify(str(claims["iss"]), f"{head}.{payload}".encode(), _unb64(signature))
    except BadToken:
        raise
    except Exception as exc:
        raise BadToken(f"{type(exc).__name__}: {exc}") from None
    if not isinstance(claims, dict):
        raise BadToken("the claims are not an object")
    return claims


def user_jwt(user_nkey: str, name: str, publish: list[str], subscribe: list[str], ttl: int, seed: str) -> str:
    """A user's JWT: its name, what it may publish and subscribe to, placed in the global
    account, expiring after ``ttl`` seconds (its client reconnects, and is asked about again)."""
    claims = {
        "sub": user_nkey, "name": name, "aud": GLOBAL_ACCOUNT, "exp": int(time.time()) + ttl,
        "nats": {"pub": {"allow": publish}, "sub": {"allow": subscribe}, "subs": -1, "data": -1,
                 "payload": -1, "type": "user", "version": 2},
    }  # fmt: skip
    return encode(claims, seed)


def response(request: dict[str, Any], seed: str, user: str | None = None, error: str | None = None) -> str:
    """The answer to an authorization request: the user JWT, or the reason it is refused."""
    nats = request.get("nats") or {}
    answer: dict[str, Any] = {"type": "authorization_response", "version": 2}
    if user is not None:
        answer["jwt"] = user
    else:
        answer["error"] = error or "not authorized"
    claims = {"sub": nats.get("user_nkey"), "aud": (nats.get("server_id") or {}).get("id"), "nats": answer}
    return encode(claims, seed)


if __name__ == "__main__":
    # A new seed for ZAPGATE_NATS_CALLOUT_SEED (the gateway) and its issuer for
    # ZAPGATE_NATS_CALLOUT_ISSUER (nats-server).
    new_seed = new_issuer_seed()
    sys.stdout.write(
        f"ZAPGATE_NATS_CALLOUT_SEED={new_seed}\nZAPGATE_NATS_CALLOUT_ISSUER={issuer_of(new_seed)}\n"
    )
