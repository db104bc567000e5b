"""API keys: generated with 192 bits of entropy, stored only as a SHA-256 hash, shown once."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

KEY_PREFIX = "zg_"
DISPLAY_CHARS = 7  # the prefix and 4 characters of the 32 random ones
TENANT_KEY = re.compile(r"zg_[A-Za-z0-9_-]{32}")


def generate_key() -> str:
    """A new API key: ``zg_`` followed by 32 URL-safe characters (24 random bytes)."""
    return KEY_PREFIX + secrets.token_urlsafe(24)


def hash_key(key: str) -> str:
    """The stored form of a key. A fast hash suffices: the key is random, not a password."""
    return hashlib.sha256(key.encode()).hexdigest()


def display_prefix(key: str) -> str:
    """The first characters of a key, safe to show so a user can tell keys apart."""
    return key[:DISPLAY_CHARS]


def same_key(given: str, expected: str) -> bool:
    """Compare two keys in constant time."""
    return hmac.compare_digest(hash_key(given), hash_key(expected))


def looks_like_key(value: str) -> bool:
    """Cheap shape check before any lookup."""
    return 8 <= len(value) <= 200 and value.isascii() and value.isprintable()


def is_tenant_key(value: str) -> bool:
    """Exactly the shape ``generate_key`` makes: anything else is refused without a lookup."""
    return TENANT_KEY.fullmatch(value) is not None
