"""Alembic, driven from code: each service owns its tables and its own version table."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import asyncpg
from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, pool
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import async_engine_from_config

log = logging.getLogger(__name__)


async def ensure_database(url: str) -> None:
    """Create the database named in ``url`` if it does not exist yet."""
    parsed = make_url(url)
    name = parsed.database
    if not name:
        return
    admin = parsed.set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)
    conn = await asyncpg.connect(admin)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            try:
                await conn.execute(f'CREATE DATABASE "{name}"')
                log.info("created database %s", name)
            except asyncpg.DuplicateDatabaseError:
                pass  # another process won the race
    finally:
        await conn.close()


def upgrade(url: str, script_location: Path, version_table: str, revision: str = "head") -> None:
    """Run a service's migrations up to ``revision`` (blocking; call via ``asyncio.to_thread``)."""
    asyncio.run(ensure_database(url))
    cfg = Config()
    cfg.set_main_option("script_location", str(script_location))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["version_table"] = version_table
    command.upgrade(cfg, revision)


def run_env(metadata: MetaData) -> None:
    """Body of a service's ``env.py``: online migrations over an async engine."""
    config = context.config
    version_table = config.attributes.get("version_table", "alembic_version")

    def do_run(connection: Connection) -> None:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            version_table=version_table,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()

    async def run_async() -> None:
        engine = async_engine_from_config(
            config.get_section(config.config_ini_section, {}),
            prefix="sqlalchemy.",
            poolclass=pool.NullPool,
        )
        async with engine.connect() as connection:
            await connection.run_sync(do_run)
        await engine.dispose()

    if context.is_offline_mode():
        context.configure(
            url=config.get_main_option("sqlalchemy.url"),
            target_metadata=metadata,
            version_table=version_table,
            literal_binds=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    else:
        asyncio.run(run_async())
