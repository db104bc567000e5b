"""Which database errors mean "away, retry" (503) and which are bugs (500)."""

from __future__ import annotations

import asyncpg
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from zapgate.common.db import database_unavailable


def wrapped(orig: Exception) -> DBAPIError:
    """What SQLAlchemy raises around a driver error."""
    return DBAPIError("INSERT ...", {}, orig)


def test_shutting_down_starting_up_and_admin_shutdown_are_unavailable() -> None:
    for error in (
        asyncpg.CannotConnectNowError("the database system is shutting down"),
        asyncpg.AdminShutdownError("terminating connection due to administrator command"),
        asyncpg.TooManyConnectionsError("sorry, too many clients already"),
    ):
        assert database_unavailable(wrapped(error)), error


def test_lost_connections_and_refused_connects_are_unavailable() -> None:
    assert database_unavailable(ConnectionRefusedError(111, "Connect call failed"))
    assert database_unavailable(PoolTimeout("QueuePool limit reached"))
    assert database_unavailable(wrapped(asyncpg.ConnectionDoesNotExistError("connection was closed")))
    outer = RuntimeError("while inserting")
    outer.__cause__ = OSError("network is unreachable")
    assert database_unavailable(outer)


def test_statement_errors_are_not_unavailable() -> None:
    assert not database_unavailable(
        IntegrityError("INSERT ...", {}, asyncpg.UniqueViolationError("duplicate key"))
    )
    assert not database_unavailable(wrapped(asyncpg.UndefinedTableError('relation "x" does not exist')))
    assert not database_unavailable(ValueError("bad value"))
