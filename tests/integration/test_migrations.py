"""Migrations against a real PostgreSQL: every service's, side by side in one database."""

import asyncio

import asyncpg
import pytest
from alembic.script import ScriptDirectory

from zapgate.gateway import db as gateway_db
from zapgate.session_worker import db as worker_db


def head(migrations) -> str:
    return ScriptDirectory(str(migrations)).get_current_head()


@pytest.mark.parametrize(
    ("module", "tables"),
    [(gateway_db, {"tenants", "api_keys", "sessions"}), (worker_db, {"worker_sessions"})],
)
async def test_migrations_create_the_database_and_are_idempotent(
    empty_database_url: str, module, tables
) -> None:
    await asyncio.to_thread(module.migrate, empty_database_url)
    await asyncio.to_thread(module.migrate, empty_database_url)
    conn = await asyncpg.connect(empty_database_url.replace("+asyncpg", ""))
    try:
        found = {
            r["tablename"]
            for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname='public'")
        }
        assert tables | {module.VERSION_TABLE} <= found
        assert await conn.fetchval(f"SELECT version_num FROM {module.VERSION_TABLE}") == head(
            module.MIGRATIONS
        )
    finally:
        await conn.close()
