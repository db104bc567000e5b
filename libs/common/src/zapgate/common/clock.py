"""A service's notion of now: real time, or real time moved by an offset (tests only).

``ZAPGATE_SCHEDULER_CLOCK_FILE`` and ``ZAPGATE_BILLING_CLOCK_FILE`` name a file holding a number
of seconds added to the real clock; tests of the whole system move the scheduler's or billing's
time by writing it, so no test waits a real minute for a cron or a week for a trial. Unset (as in
production), it is the real UTC clock.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

Clock = Callable[[], datetime]


def real() -> datetime:
    """The current UTC time."""
    return datetime.now(UTC)


def offset_file(path: Path) -> Clock:
    """A clock that adds the seconds written in ``path`` (re-read when the file changes)."""
    seen: list[float] = [-1.0, 0.0]  # mtime, offset

    def now() -> datetime:
        try:
            mtime = os.stat(path).st_mtime
            if mtime != seen[0]:
                seen[:] = [mtime, float(path.read_text().strip() or 0)]
        except (OSError, ValueError):
            pass  # keep the last offset read
        return datetime.now(UTC) + timedelta(seconds=seen[1])

    return now
