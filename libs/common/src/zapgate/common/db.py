"""Database base: SQLAlchemy 2 async engine and declarative base shared by the services."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import asyncpg
from sqlalchemy import DateTime, Executable, MetaData, Row, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

# Deterministic constraint names so Alembic migrations stay stable.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_metadata() -> MetaData:
    """A MetaData with the shared naming convention; each service owns one."""
    return MetaData(naming_convention=NAMING_CONVENTION)


class TZDateTime(DateTime):
    """A timestamp with time zone."""

    def __init__(self) -> None:
        super().__init__(timezone=True)


def utcnow() -> datetime:
    """The current time, UTC."""
    return datetime.now(UTC)


def make_engine(url: str, *, pool_size: int = 10, pre_ping: bool = True) -> AsyncEngine:
    """An async engine on asyncpg.

    With ``pre_ping`` every checkout first checks the connection, so a restarted database costs
    nothing but a round trip. Without it (the gateway's hot path), a stale connection fails
    once, is discarded, and the caller answers 503.
    """
    # hide_parameters: an error's text never carries a statement's values (message bodies,
    # phone numbers), whoever logs it.
    return create_async_engine(
        url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=pre_ping, hide_parameters=True
    )


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Session factory that keeps loaded attributes after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)


async def autocommit(
    engine: AsyncEngine, statement: Executable, params: Mapping[str, Any]
) -> Sequence[Row[Any]]:
    """Run one statement that stands alone, outside a transaction; the rows it returns, if any.

    Autocommit spares the BEGIN and COMMIT (or ROLLBACK) round trips of a session, which were a
    third of the database traffic of the send path under load.
    """
    async with engine.connect() as conn:
        result = await (await conn.execution_options(isolation_level="AUTOCOMMIT")).execute(statement, params)
        return result.all() if result.returns_rows else []


async def ping(engine: AsyncEngine) -> None:
    """Raise unless the database answers."""
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


# SQLSTATE classes of a database that is away rather than of a bad statement: connection
# exceptions (08), shutting down or starting up (57P01-57P03), out of resources (53).
_AWAY_STATES = ("08", "57P", "53")


def database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) means the database is unreachable, so a retry may work."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, PoolTimeout | ConnectionError | OSError | asyncpg.ConnectionDoesNotExistError):
            return True
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        state = getattr(current, "sqlstate", None) or getattr(current, "pgcode", None)
        if isinstance(state, str) and state.startswith(_AWAY_STATES):
            return True
        orig = getattr(current, "orig", None)
        current = orig if isinstance(orig, BaseException) else current.__cause__
    return False
