"""A shutdown ends a background loop even when one cancellation is lost."""

from __future__ import annotations

import asyncio

from zapgate.common.runtime import cancel_and_wait


async def test_a_loop_that_loses_a_cancellation_is_still_stopped() -> None:
    lost = 0

    async def loop() -> None:
        nonlocal lost
        while True:
            try:
                await asyncio.sleep(0.01)
            except asyncio.CancelledError:
                if lost == 0:  # as a timed wait can turn a cancellation into a timeout
                    lost += 1
                    continue
                raise

    task = asyncio.create_task(loop())
    await asyncio.sleep(0.05)
    started = asyncio.get_running_loop().time()
    await cancel_and_wait(task, within=5.0)
    assert task.done() and lost == 1
    assert asyncio.get_running_loop().time() - started < 2.0
