"""Credentials at rest: AES-256-GCM bound to the session, refused when anything is off."""

from __future__ import annotations

import pytest
from cryptography.exceptions import InvalidTag

from zapgate.session_worker.domain.crypto import CredentialCipher

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
        cipher.decrypt(b"\x02" + blob[1:], "T1", "main")


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 16"):
        CredentialCipher("short")
