"""Secrets at rest (session credentials, webhook signing secrets): AES-256-GCM with a key derived
from ``ZAPGATE_SECRET_KEY`` by HKDF, bound to what they belong to (associated data)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

LEGACY = b"\x01"  # key = SHA-256 of the secret: still read, never written
VERSION = b"\x02"  # key = HKDF-SHA256 of the secret
NONCE = 12
MIN_SECRET = 32


def _aeads(secret: str) -> dict[bytes, AESGCM]:
    """The ciphers of one secret, by blob version."""
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"zapgate/credentials/v2").derive(
        secret.encode()
    )
    return {
        VERSION: AESGCM(key),
        LEGACY: AESGCM(hashlib.sha256(b"zapgate/credentials/v1:" + secret.encode()).digest()),
    }


class CredentialCipher:
    """Encrypts a session's credentials, bound to its tenant and name (associated data).

    ``previous`` secrets (``ZAPGATE_SECRET_KEY_PREVIOUS``) still decrypt, so the secret can be
    rotated without relinking: blobs under them are re-encrypted by ``zapgate-session-worker
    rewrap`` or when the session next saves its credentials.
    """

    def __init__(self, secret: str, previous: Sequence[str] = ()) -> None:
        if len(secret) < MIN_SECRET or len(set(secret)) < 8:
            raise ValueError(
                f"ZAPGATE_SECRET_KEY must be at least {MIN_SECRET} characters and not repetitive "
                "(e.g. python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
        self._current = _aeads(secret)
        self._previous = [_aeads(old) for old in previous if old and old != secret]

    def encrypt(self, plaintext: bytes, tenant: str, session: str) -> bytes:
        """``version | nonce | ciphertext+tag``."""
        nonce = os.urandom(NONCE)
        return (
            VERSION + nonce + self._current[VERSION].encrypt(nonce, plaintext, f"{tenant}/{session}".encode())
        )

    def decrypt(self, blob: bytes, tenant: str, session: str) -> bytes:
        """Decrypt; raises if the blob was tampered with or moved to another session."""
        return self.open(blob, tenant, session)[0]

    def open(self, blob: bytes, tenant: str, session: str) -> tuple[bytes, bool]:
        """The plaintext, and whether the blob should be encrypted again (an older secret or
        derivation made it). Raises InvalidTag if no known secret opens it."""
        version = blob[:1]
        if version not in (VERSION, LEGACY):
            raise ValueError("unknown credential format")
        nonce, body = blob[1 : 1 + NONCE], blob[1 + NONCE :]
        bound = f"{tenant}/{session}".encode()
        for index, aeads in enumerate([self._current, *self._previous]):
            try:
                plaintext = aeads[version].decrypt(nonce, body, bound)
            except InvalidTag:
                continue
            return plaintext, index > 0 or version != VERSION
        raise InvalidTag()
