"""Credentials at rest: AES-256-GCM with a key derived from ``ZAPGATE_SECRET_KEY``."""

from __future__ import annotations

import hashlib
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

VERSION = b"\x01"
NONCE = 12


class CredentialCipher:
    """Encrypts a session's credentials, bound to its tenant and name (associated data)."""

    def __init__(self, secret: str) -> None:
        if len(secret) < 16:
            raise ValueError("ZAPGATE_SECRET_KEY must be at least 16 characters")
        key = hashlib.sha256(b"zapgate/credentials/v1:" + secret.encode()).digest()
        self._aead = AESGCM(key)

    def encrypt(self, plaintext: bytes, tenant: str, session: str) -> bytes:
        """``version | nonce | ciphertext+tag``."""
        nonce = os.urandom(NONCE)
        return VERSION + nonce + self._aead.encrypt(nonce, plaintext, f"{tenant}/{session}".encode())

    def decrypt(self, blob: bytes, tenant: str, session: str) -> bytes:
        """Decrypt; raises if the blob was tampered with or moved to another session."""
        if blob[:1] != VERSION:
            raise ValueError("unknown credential format")
        nonce, body = blob[1 : 1 + NONCE], blob[1 + NONCE :]
        return self._aead.decrypt(nonce, body, f"{tenant}/{session}".encode())
