"""Which dependency an exception says is away: the difference between a retry and a bug."""

from __future__ import annotations

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
