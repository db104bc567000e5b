"""Identifiers: ULIDs, sortable by creation time and safe as NATS subject tokens."""

from __future__ import annotations

from ulid import ULID


def new_id() -> str:
    """A new ULID as its 26-character Crockford base32 string."""
    return str(ULID())
