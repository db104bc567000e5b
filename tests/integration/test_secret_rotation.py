"""Rotating ZAPGATE_SECRET_KEY without relinking: previous secrets decrypt, ``rewrap`` moves every
stored credential to the new one, against a real PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import os
import sys

import pytest

from zapgate.common.crypto import CredentialCipher
from zapgate.common.db import make_engine, make_sessionmaker
from zapgate.session_worker import rotation
from zapgate.session_worker.adapters.store import SessionStore

OLD = "the-old-secret-of-enough-length-0123456789"
NEW = "the-new-secret-of-enough-length-9876543210"
STRANGER = "a-secret-nobody-configured-0123456789abc"


async def seed(store: SessionStore) -> None:
    """Five sessions under the old secret, one under the new, one under a secret nobody has."""
    old, new, stranger = CredentialCipher(OLD), CredentialCipher(NEW), CredentialCipher(STRANGER)
    rows = [(f"T{i}", "main", old) for i in range(5)] + [("T9", "main", new), ("T8", "main", stranger)]
    for tenant, session, cipher in rows:
        await store.set_desired(tenant, session, 0, "started", "simulator")
        await store.save_credentials(
            tenant, session, cipher.encrypt(f"creds {tenant}".encode(), tenant, session)
        )
    await store.set_desired("T7", "main", 0, "started", "simulator")  # never linked: no credentials


async def test_rewrap_moves_every_blob_to_the_new_secret_a_page_at_a_time(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rotation, "PAGE", 2)  # several pages, the cursor is used
    engine = make_engine(database_url)
    try:
        store = SessionStore(make_sessionmaker(engine))
        await seed(store)
        cipher = CredentialCipher(NEW, previous=[OLD])
        result = await rotation.rewrap(store, cipher)
        assert (result.rewrapped, result.current, result.unreadable) == (5, 1, 1)
        # The new secret alone opens all but the stranger's, and a second pass has nothing to do.
        alone = CredentialCipher(NEW)
        for i in [*range(5), 9]:
            row = await store.get(f"T{i}", "main")
            assert row is not None and row.credentials is not None
            assert alone.decrypt(row.credentials, f"T{i}", "main") == f"creds T{i}".encode()
        again = await rotation.rewrap(store, cipher)
        assert (again.rewrapped, again.current, again.unreadable) == (0, 6, 1)
    finally:
        await engine.dispose()


async def test_a_blob_saved_meanwhile_is_not_overwritten(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        store = SessionStore(make_sessionmaker(engine))
        await store.set_desired("T1", "main", 0, "started", "simulator")
        old_blob = CredentialCipher(OLD).encrypt(b"old", "T1", "main")
        await store.save_credentials("T1", "main", old_blob)
        newer = CredentialCipher(NEW).encrypt(b"relinked", "T1", "main")
        await store.save_credentials("T1", "main", newer)  # the running session saved new ones
        assert not await store.replace_credentials("T1", "main", old_blob, b"\x02stale")
        row = await store.get("T1", "main")
        assert row is not None and row.credentials == newer
    finally:
        await engine.dispose()


async def test_the_rewrap_command_reports_what_it_did(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        await seed(SessionStore(make_sessionmaker(engine)))
    finally:
        await engine.dispose()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZAPGATE_")}
    env.update(
        ZAPGATE_DATABASE_URL=database_url, ZAPGATE_SECRET_KEY=NEW, ZAPGATE_SECRET_KEY_PREVIOUS=f"{OLD}, "
    )
    done = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "zapgate.session_worker", "rewrap", env=env, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(done.communicate(), 60)
    assert done.returncode == 0
    assert json.loads(out.decode().strip().splitlines()[-1]) == {
        "rewrapped": 5, "current": 1, "changed_meanwhile": 0, "unreadable": 1,
    }  # fmt: skip
