"""Migrations against a real PostgreSQL: every service's, side by side in one database."""

import asyncio

import asyncpg
import pytest
from alembic.script import ScriptDirectory

from zapgate.billing import db as billing_db
from zapgate.gateway import db as gateway_db
from zapgate.scheduler import db as scheduler_db
from zapgate.session_worker import db as worker_db


def head(migrations) -> str:
    return ScriptDirectory(str(migrations)).get_current_head()


@pytest.mark.parametrize(
    ("module", "tables"),
    [
        (gateway_db, {"tenants", "api_keys", "sessions"}),
        (worker_db, {"worker_sessions"}),
        (scheduler_db, {"sch_schedules", "sch_fires", "sch_deliveries", "sch_campaigns"}),
        (billing_db, {"bil_plans", "bil_subscriptions", "bil_usage", "bil_metered"}),
    ],
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


@pytest.mark.parametrize(
    ("module", "metadata"),
    [
        (gateway_db, "zapgate.gateway.adapters.tables"),
        (worker_db, "zapgate.session_worker.adapters.tables"),
        (scheduler_db, "zapgate.scheduler.adapters.tables"),
        (billing_db, "zapgate.billing.adapters.tables"),
    ],
)
async def test_the_migrations_build_exactly_the_tables_the_code_declares(
    empty_database_url: str, module, metadata: str
) -> None:
    # Broken on purpose (a column or index in the models that no migration creates, or the
    # reverse), the comparison lists it.
    import importlib

    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy.ext.asyncio import create_async_engine

    await asyncio.to_thread(module.migrate, empty_database_url)
    declared = importlib.import_module(metadata).Base.metadata
    engine = create_async_engine(empty_database_url)
    try:
        async with engine.connect() as conn:
            changes = await conn.run_sync(
                lambda c: compare_metadata(
                    MigrationContext.configure(c, opts={"compare_type": True}), declared
                )
            )
    finally:
        await engine.dispose()
    # The version table is alembic's, not the models'.
    assert [c for c in changes if not (c[0] == "remove_table" and c[1].name == module.VERSION_TABLE)] == []
