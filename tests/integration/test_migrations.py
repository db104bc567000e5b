"""Migrations against a real PostgreSQL."""

import asyncio

import asyncpg

from zapgate.gateway.db import VERSION_TABLE, migrate


async def test_migrations_create_the_database_and_are_idempotent(empty_database_url: str) -> None:
    await asyncio.to_thread(migrate, empty_database_url)
    await asyncio.to_thread(migrate, empty_database_url)
    conn = await asyncpg.connect(empty_database_url.replace("+asyncpg", ""))
    try:
        tables = {
            r["tablename"]
            for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname='public'")
        }
        assert {"tenants", "api_keys", VERSION_TABLE} <= tables
        assert await conn.fetchval(f"SELECT version_num FROM {VERSION_TABLE}") == "0001"
    finally:
        await conn.close()
