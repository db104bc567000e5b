"""Identifiers: ULIDs, sortable by creation time and safe as NATS subject tokens."""

from __future__ import annotations

from ulid import ULID

ID_PATTERN = r"^[0-9A-Za-z]{1,26}$"
"""What an id in a URL may look like (a ULID, or a shorter id of the same alphabet)."""


def new_id() -> str:
    """A new ULID as its 26-character Crockford base32 string."""
    return str(ULID())
