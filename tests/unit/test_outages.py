"""Which dependency an exception blames: the difference between a 503 to retry and a bug."""

from __future__ import annotations

import asyncpg
import nats.errors
import pytest
from sqlalchemy.exc import DBAPIError

from zapgate.common.outages import dependency_away


class NatsLinkDown(Exception):
    dependency = "nats"


def caused_by(outer: Exception, cause: BaseException) -> Exception:
    outer.__cause__ = cause
    return outer


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        # A NATS timeout is a TimeoutError, an OSError: it must not read as the database.
        (nats.errors.TimeoutError(), "nats"),
        (nats.errors.NoRespondersError(), "nats"),
        (NatsLinkDown(), "nats"),
        (caused_by(RuntimeError("wrapped"), nats.errors.ConnectionClosedError()), "nats"),
        (ConnectionRefusedError(111, "refused"), "database"),
        (DBAPIError("SELECT 1", {}, asyncpg.exceptions.CannotConnectNowError("starting up")), "database"),
        (ValueError("a bug"), None),
        (KeyError("a bug"), None),
    ],
)
def test_an_outage_is_blamed_on_the_right_dependency(exc: BaseException, expected: str | None) -> None:
    assert dependency_away(exc) == expected
