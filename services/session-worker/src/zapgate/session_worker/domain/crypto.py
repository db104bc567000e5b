"""Credentials at rest: AES-256-GCM with a key derived from ``ZAPGATE_SECRET_KEY`` by HKDF."""

from __future__ import annotations

import hashlib
import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

LEGACY = b"\x01"  # key = SHA-256 of the secret: still read, never written
VERSION = b"\x02"  # key = HKDF-SHA256 of the secret
NONCE = 12
MIN_SECRET = 32


class CredentialCipher:
    """Encrypts a session's credentials, bound to its tenant and name (associated data)."""

    def __init__(self, secret: str) -> None:
        if len(secret) < MIN_SECRET or len(set(secret)) < 8:
            raise ValueError(
                f"ZAPGATE_SECRET_KEY must be at least {MIN_SECRET} characters and not repetitive "
                "(e.g. python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"zapgate/credentials/v2").derive(
            secret.encode()
        )
        self._aead = AESGCM(key)
        self._legacy = AESGCM(hashlib.sha256(b"zapgate/credentials/v1:" + secret.encode()).digest())

    def encrypt(self, plaintext: bytes, tenant: str, session: str) -> bytes:
        """``version | nonce | ciphertext+tag``."""
        nonce = os.urandom(NONCE)
        return VERSION + nonce + self._aead.encrypt(nonce, plaintext, f"{tenant}/{session}".encode())

    def decrypt(self, blob: bytes, tenant: str, session: str) -> bytes:
        """Decrypt; raises if the blob was tampered with or moved to another session."""
        aead = {VERSION: self._aead, LEGACY: self._legacy}.get(blob[:1])
        if aead is None:
            raise ValueError("unknown credential format")
        nonce, body = blob[1 : 1 + NONCE], blob[1 + NONCE :]
        return aead.decrypt(nonce, body, f"{tenant}/{session}".encode())
