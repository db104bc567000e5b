"""The partition manager: claims, renews, balances and releases a worker's partition leases.

Three loops, so that a slow or dead NATS never delays the safety stop:

- renew: every TTL/3, heartbeat membership and renew each held lease (compare-and-set); with a
  ``LeaseLoop``, on its own thread, so the worker's own load cannot make it miss a deadline;
- watchdog: on the worker's own monotonic clock, stops any partition whose deadline passed;
- balance: claims free partitions up to ceil(P / live workers), releases one at a time when
  over; woken at once when the lease bucket reports a lease gone (expired or released).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any, Protocol, TypeVar

from zapgate.common import metrics
from zapgate.session_worker.adapters.lease_loop import LeaseLoop
from zapgate.session_worker.adapters.leases import LeaseStore, Membership
from zapgate.session_worker.domain.leases import (
    Lease,
    plan_balance,
    preference,
    renew_interval,
)
from zapgate.session_worker.tasks import cancel_until_done

log = logging.getLogger(__name__)

T = TypeVar("T")

FAST_BALANCE = 0.2
WATCHDOG_TICK = 0.05
STOP_TIMEOUT = 5.0
START_TIMEOUT = 30.0


class PartitionHandler(Protocol):
    """What runs the sessions of a partition."""

    async def acquired(self, partition: int, epoch: int) -> None:
        """The worker now holds ``partition``; ``epoch`` fences everything it writes."""

    async def lost(self, partition: int, epoch: int, reason: str) -> None:
        """Stop the partition's sessions now (drain, rebalance, lease lost or deadline passed).

        On return nothing of the partition acts any more; cleanup may go on in the background.
        """


class PartitionManager:
    """Holds this worker's leases and keeps them balanced with its peers."""

    def __init__(
        self,
        leases: LeaseStore,
        membership: Membership,
        handler: PartitionHandler,
        partitions: int,
        ttl: float,
        clock: Callable[[], float] = time.monotonic,
        io: LeaseLoop | None = None,
    ) -> None:
        """``io``: the loop ``leases`` and ``membership`` were opened on, if not the caller's."""
        self.leases = leases
        self.membership = membership
        self.handler = handler
        self.partitions = partitions
        self.ttl = ttl
        self.clock = clock
        self.held: dict[int, Lease] = {}
        self.order = preference(leases.worker_id, partitions)
        self._wake = asyncio.Event()
        self.io = io
        self._tasks: list[asyncio.Task[None]] = []
        self._threaded: list[concurrent.futures.Future[None]] = []
        self._main: asyncio.AbstractEventLoop | None = None
        self._lock = asyncio.Lock()
        self.self_stops = 0
        self._stop_tasks: set[asyncio.Task[None]] = set()
        self._stopping = False

    @property
    def worker_id(self) -> str:
        """This worker's id."""
        return self.leases.worker_id

    async def _io(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a lease or membership operation on the loop its connection belongs to."""
        return await (self.io.call(coro) if self.io is not None else coro)

    def _on_main(self, callback: Callable[[], object]) -> None:
        """Run ``callback`` on the worker's main loop, from either loop."""
        assert self._main is not None
        self._main.call_soon_threadsafe(callback)

    async def start(self) -> None:
        """Announce this worker, then run the loops."""
        self._main = asyncio.get_running_loop()
        with contextlib.suppress(Exception):
            await self._io(self.membership.beat(0))
        self._tasks = [
            asyncio.create_task(self._watchdog_loop(), name="lease-watchdog"),
            asyncio.create_task(self._balance_loop(), name="lease-balance"),
        ]
        if self.io is not None:
            self._threaded = [self.io.spawn(self._renew_loop()), self.io.spawn(self._watch_loop())]
        else:
            self._tasks += [
                asyncio.create_task(self._renew_loop(), name="lease-renew"),
                asyncio.create_task(self._watch_loop(), name="lease-watch"),
            ]

    async def stop(self, drain: bool = True) -> None:
        """Stop the loops; with ``drain``, stop every partition and release its lease."""
        self._stopping = True
        # The loops also check _stopping, in case a cancellation is swallowed every time.
        await cancel_until_done(self._tasks, STOP_TIMEOUT)
        self._tasks = []
        for future in self._threaded:
            future.cancel()
        if self._threaded:
            await asyncio.wait([asyncio.wrap_future(f) for f in self._threaded], timeout=STOP_TIMEOUT)
        self._threaded = []
        if self._stop_tasks:
            await asyncio.wait(self._stop_tasks, timeout=STOP_TIMEOUT)
        if not drain:
            return
        async with self._lock:
            for partition in list(self.held):
                await self._give_up(partition, "drain", release=True)
        with contextlib.suppress(Exception):
            await self._io(self.membership.leave())

    # ------------------------------------------------------------------ loops

    async def _renew_loop(self) -> None:
        interval = renew_interval(self.ttl)
        while not self._stopping:
            started = self.clock()
            try:
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation.
                async with asyncio.timeout(interval):
                    await self.renew_all()
            except Exception as exc:
                log.warning("renewal round failed: %s", exc or type(exc).__name__)
            await asyncio.sleep(max(0.0, interval - (self.clock() - started)))

    async def renew_all(self) -> None:
        """One renewal round: the heartbeat and every held lease, all at once.

        Together rather than one after another, so that a round costs one round trip and a
        worker with many partitions does not run out of its TTL/3 while renewing them. Runs on
        the lease loop: what it learns is handed to the main loop, which owns the partitions.
        """
        held = list(self.held.items())
        sent_at = self.clock()
        beat, *renewed = await asyncio.gather(
            self.membership.beat(len(held)),
            *(self.leases.renew(partition, lease.revision) for partition, lease in held),
            return_exceptions=True,
        )
        failed = [r for r in (beat, *renewed) if isinstance(r, BaseException)]
        if not failed:
            metrics.LEASE_RENEWAL.observe(self.clock() - sent_at)
        for (partition, lease), revision in zip(held, renewed, strict=True):
            if isinstance(revision, BaseException):
                continue  # the watchdog stops it if this goes on past its deadline
            if revision is None:
                self._on_main(functools.partial(self._spawn_loss, partition, lease))
                continue
            lease.renewed(revision, sent_at)
            if self.held.get(partition) is not lease:
                # The watchdog or a rebalance dropped it while we were renewing: give it back.
                with contextlib.suppress(Exception):
                    await self.leases.release(partition, revision)
        if failed:
            raise failed[0]

    def _spawn_loss(self, partition: int, lease: Lease) -> None:
        task = asyncio.create_task(self._lose(partition, lease), name=f"lease-lost-{partition}")
        self._stop_tasks.add(task)
        task.add_done_callback(self._stop_tasks.discard)

    async def _lose(self, partition: int, lease: Lease) -> None:
        """A renewal found the lease taken: stop the partition if it is still this lease."""
        async with self._lock:
            if self.held.get(partition) is lease:
                await self._give_up(partition, "lease lost", release=False)

    async def _watchdog_loop(self) -> None:
        while not self._stopping:
            now = self.clock()
            for partition, lease in list(self.held.items()):
                if lease.expired(now, self.ttl) and self.held.get(partition) is lease:
                    # No lock, and no waiting for the stop: a stop stuck on a dead connection
                    # must not delay this one, nor the next partition's deadline.
                    self.self_stops += 1
                    log.warning("partition %d: could not renew in time; stopping it", partition)
                    del self.held[partition]
                    task = asyncio.create_task(
                        self._stop_partition(partition, lease.epoch, "lease deadline passed"),
                        name=f"self-stop-{partition}",
                    )
                    self._stop_tasks.add(task)
                    task.add_done_callback(self._stop_tasks.discard)
                    self._wake.set()
            await asyncio.sleep(WATCHDOG_TICK)

    async def _balance_loop(self) -> None:
        # Let peers that start at the same moment announce themselves before the first claim.
        await asyncio.sleep(min(1.0, renew_interval(self.ttl)))
        while not self._stopping:
            busy = False
            try:
                busy = await self.balance()
            except Exception as exc:
                log.warning("balance step failed: %s", exc or type(exc).__name__)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(FAST_BALANCE if busy else renew_interval(self.ttl)):
                    await self._wake.wait()

    async def _watch_loop(self) -> None:
        """Wake the balancer when a lease disappears (released, or expired: the limit marker)."""
        while not self._stopping:
            try:
                watcher = await self.leases.kv.watchall(include_history=False)
                async for entry in watcher:
                    if entry is not None and not entry.value:
                        self._on_main(self._wake.set)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.debug("lease watch interrupted: %s", exc)
                await asyncio.sleep(0.5)

    # ------------------------------------------------------------------ steps

    async def balance(self) -> bool:
        """One balancing step; True when more steps are needed soon."""
        peers = await self._io(self.membership.live())
        peers[self.worker_id] = len(self.held)
        holders = await self._io(self.leases.holders())
        async with self._lock:
            free = [p for p in range(self.partitions) if p not in holders and p not in self.held]
            plan = plan_balance(self.held, free, self.partitions, peers, self.worker_id, self.order)
            for partition in plan.release:
                log.info(
                    "partition %d: releasing (holding %d of %d, %d workers)",
                    partition,
                    len(self.held),
                    self.partitions,
                    len(peers),
                )
                await self._give_up(partition, "rebalance", release=True)
            claimed: list[Lease] = []
            for partition in plan.claim:
                sent_at = self.clock()
                revision = await self._io(self.leases.claim(partition))
                if revision is not None:
                    lease = Lease(partition, epoch=revision, revision=revision, renewed_at=sent_at)
                    self.held[partition] = lease
                    claimed.append(lease)
        # Start the claimed partitions together (after a failover every second counts), and
        # outside the lock: renewals take it, and a slow start must not let the leases lapse.
        # The watchdog may stop a partition while it starts; the handler then undoes the start.
        results = await asyncio.gather(*(self._start(lease) for lease in claimed), return_exceptions=True)
        for lease, result in zip(claimed, results, strict=True):
            if isinstance(result, BaseException):
                log.error("partition %d: could not start (%s); releasing it", lease.partition, result)
                async with self._lock:
                    if self.held.get(lease.partition) is lease:
                        await self._give_up(lease.partition, "start failed", release=True)
        if plan.claim or plan.release:
            # Peers balance on these counts: tell them now rather than at the next renewal.
            await self._io(self.membership.beat(len(self.held)))
            return True
        return False

    async def _start(self, lease: Lease) -> None:
        """Start a claimed partition, in bounded time: a hung start must not hold up balancing."""
        async with asyncio.timeout(START_TIMEOUT):
            await self.handler.acquired(lease.partition, lease.epoch)

    async def _give_up(self, partition: int, reason: str, release: bool) -> None:
        lease = self.held.pop(partition, None)
        if lease is None:
            return
        await self._stop_partition(partition, lease.epoch, reason)
        if release:
            with contextlib.suppress(Exception):
                await self._io(self.leases.release(partition, lease.revision))

    async def _stop_partition(self, partition: int, epoch: int, reason: str) -> None:
        try:
            await self.handler.lost(partition, epoch, reason)
        except Exception:
            log.exception("partition %d: error while stopping", partition)
