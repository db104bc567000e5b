"""Rotating ``ZAPGATE_SECRET_KEY``: re-encrypt every stored credential under the current secret."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag

from zapgate.common.crypto import CredentialCipher
from zapgate.session_worker.adapters.store import SessionStore

log = logging.getLogger(__name__)

PAGE = 200


@dataclass
class Rewrapped:
    """What a pass over the stored credentials did."""

    rewrapped: int = 0
    current: int = 0
    changed_meanwhile: int = 0
    unreadable: int = 0


async def rewrap(store: SessionStore, cipher: CredentialCipher) -> Rewrapped:
    """Re-encrypt blobs made under a previous secret (or the older key derivation) with the
    current one. Safe while workers run; a blob no known secret opens is counted and left."""
    result = Rewrapped()
    after: tuple[str, str] | None = None
    while True:
        page = await store.credential_page(after, PAGE)
        for tenant, session, blob in page:
            try:
                plaintext, stale = cipher.open(blob, tenant, session)
            except (InvalidTag, ValueError):
                log.warning(
                    "credentials of %s/%s open under no known secret: left as they are", tenant, session
                )
                result.unreadable += 1
                continue
            if not stale:
                result.current += 1
            elif await store.replace_credentials(
                tenant, session, blob, cipher.encrypt(plaintext, tenant, session)
            ):
                result.rewrapped += 1
            else:
                result.changed_meanwhile += 1  # the session saved new ones, under the current secret
        if len(page) < PAGE:
            return result
        after = (page[-1][0], page[-1][1])
