"""Credentials at rest: AES-256-GCM bound to the session, refused when anything is off."""

from __future__ import annotations

import pytest
from cryptography.exceptions import InvalidTag

from zapgate.common.crypto import CredentialCipher

SECRET = "a-secret-of-enough-length-0123456789"


def test_credentials_round_trip_and_are_not_kept_in_clear() -> None:
    cipher = CredentialCipher(SECRET)
    blob = cipher.encrypt(b'{"phone": "5511900000001"}', "T1", "main")
    assert b"5511900000001" not in blob
    assert cipher.decrypt(blob, "T1", "main") == b'{"phone": "5511900000001"}'
    assert cipher.encrypt(b"x", "T1", "main") != cipher.encrypt(b"x", "T1", "main")  # fresh nonce


@pytest.mark.parametrize(("tenant", "session"), [("T2", "main"), ("T1", "other")])
def test_credentials_moved_to_another_session_do_not_decrypt(tenant: str, session: str) -> None:
    cipher = CredentialCipher(SECRET)
    blob = cipher.encrypt(b"creds", "T1", "main")
    with pytest.raises(InvalidTag):
        cipher.decrypt(blob, tenant, session)


def test_tampered_foreign_or_unknown_blobs_are_refused() -> None:
    cipher = CredentialCipher(SECRET)
    blob = cipher.encrypt(b"creds", "T1", "main")
    with pytest.raises(InvalidTag):
        cipher.decrypt(blob[:-1] + bytes([blob[-1] ^ 1]), "T1", "main")
    with pytest.raises(InvalidTag):
        CredentialCipher(SECRET + "-other").decrypt(blob, "T1", "main")
    with pytest.raises(ValueError, match="unknown credential format"):
        cipher.decrypt(b"\x07" + blob[1:], "T1", "main")


@pytest.mark.parametrize("secret", ["short", "k" * 40, "abcdefg" * 5])
def test_a_weak_secret_is_refused(secret: str) -> None:
    with pytest.raises(ValueError, match="at least 32 characters and not repetitive"):
        CredentialCipher(secret)


def test_credentials_stored_under_the_older_key_derivation_still_decrypt() -> None:
    import hashlib
    import os

    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    legacy = AESGCM(hashlib.sha256(b"zapgate/credentials/v1:" + SECRET.encode()).digest())
    nonce = os.urandom(12)
    blob = b"\x01" + nonce + legacy.encrypt(nonce, b"old creds", b"T1/main")
    cipher = CredentialCipher(SECRET)
    assert cipher.decrypt(blob, "T1", "main") == b"old creds"
    assert cipher.encrypt(b"new", "T1", "main")[:1] == b"\x02"  # written with HKDF from now on


def test_a_previous_secret_still_decrypts_and_says_the_blob_is_stale() -> None:
    old = CredentialCipher(SECRET).encrypt(b"creds", "T1", "main")
    rotated = CredentialCipher("a-new-secret-of-enough-length-9876543210", previous=[SECRET])
    assert rotated.open(old, "T1", "main") == (b"creds", True)
    fresh = rotated.encrypt(b"creds", "T1", "main")
    assert rotated.open(fresh, "T1", "main") == (b"creds", False)
    with pytest.raises(InvalidTag):  # without the previous secret the old blob is unreadable
        CredentialCipher("a-new-secret-of-enough-length-9876543210").decrypt(old, "T1", "main")
    with pytest.raises(InvalidTag):  # the previous secret does not lift the binding to the session
        rotated.decrypt(old, "T1", "other")
