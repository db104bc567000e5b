"""Which dependency an exception says is away: the difference between a retry and a bug."""

from __future__ import annotations

import logging

from zapgate.common.db import database_unavailable


def causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and what caused it (SQLAlchemy's ``orig``, then ``__cause__``)."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not s for s in seen):
        seen.append(current)
        orig = getattr(current, "orig", None)
        current = orig if isinstance(orig, BaseException) else current.__cause__
    return seen


def _nats(exc: BaseException) -> bool:
    module = type(exc).__module__
    return getattr(exc, "dependency", None) == "nats" or module == "nats" or module.startswith("nats.")


def dependency_away(exc: BaseException) -> str | None:
    """``"nats"``, ``"database"``, or None when ``exc`` is not an outage (a bug, bad input).

    NATS is asked first: its timeouts are ``TimeoutError``, an ``OSError``, which alone would
    read as a lost database connection.
    """
    if any(_nats(e) for e in causes(exc)):
        return "nats"
    if database_unavailable(exc):
        return "database"
    return None


def describe(exc: BaseException) -> str:
    """What to log of an error that may carry data: its class and, for the database, its
    SQLSTATE. Never its text, which can hold a statement's parameters (message bodies of
    several tenants in one batched insert)."""
    names = [type(e).__name__ for e in causes(exc)]
    state = next(
        (
            s
            for e in causes(exc)
            if isinstance(s := getattr(e, "sqlstate", None) or getattr(e, "pgcode", None), str)
        ),
        None,
    )
    return " <- ".join(names) + (f" (SQLSTATE {state})" if state else "")


def log_failure(log: logging.Logger, message: str, exc: BaseException, *args: object) -> None:
    """Log a failure: an outage by its class (a warning), anything else with its traceback.

    A traceback is kept for bugs; the engines hide statement parameters (``hide_parameters``), so
    even then no message body reaches the log.
    """
    away = dependency_away(exc)
    if away is not None:
        log.warning(message + " (%s away: %s)", *args, away, describe(exc))
    else:
        log.error(message + " (%s)", *args, describe(exc), exc_info=exc)
