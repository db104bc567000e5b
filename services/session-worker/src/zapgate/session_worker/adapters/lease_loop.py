"""A thread with an event loop of its own, for lease traffic only.

A worker's main loop can fall seconds behind while it starts many partitions at once, drains a
backlog of commands or reports thousands of acks. Renewals on that loop wait their turn, miss
the lease deadline, and the worker stops every partition it holds because of its own load; a
peer that takes them over does the same. Renewals and membership heartbeats on this loop keep
their schedule, because the interpreter hands the thread the CPU every few milliseconds.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

JOIN_TIMEOUT = 5.0


class LeaseLoop:
    """Runs coroutines on the lease thread; every NATS client used there must be created there."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="lease-loop", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def spawn(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Run ``coro`` on the lease loop without waiting for it."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    async def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the lease loop and await its result (cancelling the caller cancels it)."""
        return await asyncio.wrap_future(self.spawn(coro))

    async def close(self) -> None:
        """Stop the loop once what runs on it has returned, and join the thread."""
        if not self._thread.is_alive():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        await asyncio.to_thread(self._thread.join, JOIN_TIMEOUT)
        if not self._thread.is_alive():
            self.loop.close()
