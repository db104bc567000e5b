"""Stopping tasks for sure."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

log = logging.getLogger(__name__)

RETRY_EVERY = 0.5


async def cancel_until_done(tasks: Iterable[asyncio.Task[None]], within: float) -> None:
    """Cancel ``tasks`` and wait for them, cancelling again every 0.5 s, for at most ``within`` s.

    nats-py awaits replies with Python 3.11's ``wait_for``, which can swallow a cancellation:
    a task that ignored one cancel gets another. Tasks still running at the end are logged.
    """
    stuck = {task for task in tasks if not task.done()}
    for _ in range(max(1, int(within / RETRY_EVERY))):
        if not stuck:
            return
        for task in stuck:
            task.cancel()
        _, stuck = await asyncio.wait(stuck, timeout=RETRY_EVERY)
    for task in stuck:
        log.error("task %s did not stop in %.0f s", task.get_name(), within)
