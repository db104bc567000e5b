"""Partition leases against a real nats-server: the rules of the design, one by one."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import pytest
from helpers import ServerProcess, eventually, start_nats

from zapgate.common import broker
from zapgate.common.settings import CommonSettings
from zapgate.session_worker.adapters.lease_loop import LeaseLoop
from zapgate.session_worker.adapters.leases import LeaseStore, Membership
from zapgate.session_worker.partitions import PartitionManager


class Ownership:
    """Every partition's current runner across all test workers; fails on double ownership."""

    def __init__(self) -> None:
        self.owner: dict[int, str] = {}
        self.epochs: dict[int, list[int]] = {}
        self.violations: list[str] = []
        self.stops: list[tuple[str, int, str, float]] = []

    def handler(self, worker: str) -> Handler:
        return Handler(self, worker)


class Handler:
    def __init__(self, ownership: Ownership, worker: str) -> None:
        self.o = ownership
        self.worker = worker

    @property
    def running(self) -> set[int]:
        return {p for p, w in self.o.owner.items() if w == self.worker}

    async def acquired(self, partition: int, epoch: int) -> None:
        other = self.o.owner.get(partition)
        if other is not None:
            self.o.violations.append(f"{self.worker} acquired {partition} still run by {other}")
        previous = self.o.epochs.setdefault(partition, [])
        if previous and epoch <= previous[-1]:
            self.o.violations.append(f"epoch of {partition} went from {previous[-1]} to {epoch}")
        previous.append(epoch)
        self.o.owner[partition] = self.worker

    async def lost(self, partition: int, epoch: int, reason: str) -> None:
        if self.o.owner.get(partition) == self.worker:
            del self.o.owner[partition]
        self.o.stops.append((self.worker, partition, reason, time.monotonic()))


@pytest.fixture
async def js_ttl2(clean_nats: str) -> AsyncIterator:
    nc = await nats.connect(clean_nats)
    await broker.ensure_topology(nc.jetstream(), CommonSettings(nats_url=clean_nats, lease_ttl=2))
    yield nc.jetstream()
    await nc.close()


async def test_claim_renew_and_a_lost_race(js_ttl2) -> None:
    a = await LeaseStore.open(js_ttl2, "a:1")
    b = await LeaseStore.open(js_ttl2, "b:2")
    epoch = await a.claim(0)
    assert epoch is not None
    assert await b.claim(0) is None  # held: the race is lost
    renewed = await a.renew(0, epoch)
    assert renewed is not None and renewed > epoch
    # A renewal whose reply was lost (a timed-out round) moved the revision on: renewing with
    # the revision the owner knows still works, because the lease still names it.
    again = await a.renew(0, epoch)
    assert again is not None and again > renewed
    assert (await b.holders())[0].worker == "a:1"


async def test_expired_lease_is_taken_over_despite_the_marker(js_ttl2) -> None:
    a = await LeaseStore.open(js_ttl2, "a:1")
    b = await LeaseStore.open(js_ttl2, "b:2")
    first = await a.claim(3)
    assert first is not None
    # TTL 2 s: the lease expires and leaves a MaxAge marker (the server decides when: waited for).
    await eventually_async(lambda: _gone(b, 3), 10, "the lease to expire")
    # Right at the expiry a claim can lose to the marker the server is still placing (liveness,
    # not safety: never two owners); the manager claims again on its next round, and so does this.
    claimed: list[int | None] = []

    async def claim() -> bool:
        claimed.append(await b.claim(3))
        return claimed[-1] is not None

    await eventually_async(claim, 10, "the expired lease to be claimed")
    second = claimed[-1]
    assert second is not None and second > first  # the epoch only grows across owners
    assert await a.renew(3, first) is None  # the old owner cannot come back


async def test_two_claims_of_one_expired_lease_at_once_make_one_owner(js_ttl2) -> None:
    # Broken on purpose (a claim that overwrites instead of compare-and-set), both win.
    stores = [await LeaseStore.open(js_ttl2, f"w{n}:{n}") for n in range(4)]
    first = await stores[0].claim(4)
    assert first is not None
    await eventually_async(lambda: _gone(stores[1], 4), 10, "the lease to expire")
    # Right at the expiry a round can leave nobody holding it (the server is still placing its
    # marker): the manager claims again on its next round, as here. Never two owners.
    winners: list[int] = []
    for _ in range(50):
        won = await asyncio.gather(*(store.claim(4) for store in stores[1:]))
        won_at = time.monotonic()
        winners = [n for n, epoch in enumerate(won, start=1) if epoch is not None]
        assert len(winners) <= 1, won
        if winners:
            break
        await asyncio.sleep(0.1)
    assert len(winners) == 1, "nobody could claim the expired lease"
    holders = await stores[0].holders()
    if 4 not in holders:
        # Only a stalled test (a loaded machine) may see the new lease expire in its turn.
        assert time.monotonic() - won_at >= 2.0, "the claimed lease vanished at once"
        return
    assert holders[4].worker == f"w{winners[0]}:{winners[0]}"
    assert all(epoch > first for epoch in won if epoch is not None)


async def _gone(store: LeaseStore, partition: int) -> bool:
    return partition not in await store.holders()


async def eventually_async(check, within: float, what: str) -> None:
    """Await ``check()`` until it is true."""
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.05)


async def test_release_lets_a_peer_claim_at_once(js_ttl2) -> None:
    a = await LeaseStore.open(js_ttl2, "a:1")
    b = await LeaseStore.open(js_ttl2, "b:2")
    epoch = await a.claim(5)
    assert await a.release(5, epoch)
    assert await b.claim(5) is not None
    assert not await a.release(5, epoch)  # not ours anymore


async def make_manager(
    js, worker: str, ownership: Ownership, partitions: int, ttl: float
) -> PartitionManager:
    manager = PartitionManager(
        await LeaseStore.open(js, worker),
        await Membership.open(js, worker),
        ownership.handler(worker),
        partitions=partitions,
        ttl=ttl,
    )
    await manager.start()
    return manager


async def test_workers_share_partitions_and_a_third_gets_its_share_within_two_ttl(clean_nats: str) -> None:
    ttl, partitions = 3.0, 16
    nc = await nats.connect(clean_nats)
    js = nc.jetstream()
    await broker.ensure_topology(js, CommonSettings(nats_url=clean_nats, lease_ttl=ttl))
    ownership = Ownership()
    managers = [await make_manager(js, w, ownership, partitions, ttl) for w in ("w1:1", "w2:2")]
    try:
        await eventually(lambda: len(ownership.owner) == partitions, 10, "every partition to be held")
        await eventually(
            lambda: all(len(m.held) == partitions // 2 for m in managers),
            10,
            "an even split between two workers",
        )
        managers.append(await make_manager(js, "w3:3", ownership, partitions, ttl))
        # The bound is the guarantee (two TTLs, from the settings): the wait fails past it.
        await eventually(lambda: len(managers[2].held) >= 5, 2 * ttl, "the third worker to hold its share")
        await eventually(
            lambda: sorted(len(m.held) for m in managers) == [5, 5, 6] and len(ownership.owner) == partitions,
            2 * ttl,
            "a 5/5/6 split",
        )
        assert ownership.violations == []
        held = [set(m.held) for m in managers]
        assert not (held[0] & held[1]) and not (held[1] & held[2]) and not (held[0] & held[2])
    finally:
        for m in managers:
            await m.stop()
        await nc.close()


async def test_drain_releases_so_a_peer_takes_over_at_once(clean_nats: str) -> None:
    ttl, partitions = 10.0, 8
    nc = await nats.connect(clean_nats)
    js = nc.jetstream()
    await broker.ensure_topology(js, CommonSettings(nats_url=clean_nats, lease_ttl=ttl))
    ownership = Ownership()
    first = await make_manager(js, "w1:1", ownership, partitions, ttl)
    second = None
    try:
        await eventually(lambda: len(first.held) == partitions, 5, "the first worker to hold everything")
        second = await make_manager(js, "w2:2", ownership, partitions, ttl)
        await eventually(lambda: len(second.held) == partitions // 2, 5, "a split")
        await first.stop(drain=True)
        assert {reason for w, _, reason, _ in ownership.stops if w == "w1:1"} >= {"drain"}
        # Within half the 10 s TTL: the leases were deleted, not left to expire (3 s was too
        # tight on 2 loaded cores: the suite's stacks share them).
        await eventually(lambda: len(second.held) == partitions, ttl / 2, "the peer to take every partition")
        assert ownership.violations == []
    finally:
        if second is not None:
            await second.stop()
        await nc.close()


async def test_lost_lease_stops_the_partition(js_ttl2) -> None:
    ownership = Ownership()
    manager = await make_manager(js_ttl2, "w1:1", ownership, 2, 2.0)
    try:
        await eventually(lambda: len(manager.held) == 2, 5, "both partitions held")
        lease = manager.held[0]
        # Someone else's write lands on the key (an operator's, or a bug's): the next renewal fails.
        kv = await js_ttl2.key_value("zg_leases")
        await kv.put("p.0", b'{"worker": "intruder"}')
        await eventually(lambda: ("w1:1", 0, "lease lost") in {s[:3] for s in ownership.stops}, 3, "the stop")
        assert manager.held.get(0) is not lease
    finally:
        await manager.stop()


@pytest.fixture
async def private_nats(tmp_path: Path) -> AsyncIterator[ServerProcess]:
    """A nats-server of this test alone, so it can be frozen."""
    server = start_nats(tmp_path / "store")
    yield server
    if server.proc is not None:
        os.kill(server.proc.pid, signal.SIGCONT)
    server.stop()


async def test_worker_self_stops_by_its_own_deadline_when_nats_freezes(private_nats: ServerProcess) -> None:
    ttl = 3.0
    settings = CommonSettings(nats_url=private_nats.url, lease_ttl=ttl)
    nc = await broker.connect(settings, "test")
    js = nc.jetstream()
    await broker.ensure_topology(js, settings)
    ownership = Ownership()
    manager = await make_manager(js, "w1:1", ownership, 4, ttl)
    try:
        await eventually(lambda: len(manager.held) == 4, 5, "all partitions held")
        await asyncio.sleep(ttl / 2)
        last_renewal = max(lease.renewed_at for lease in manager.held.values())
        assert private_nats.proc is not None
        os.kill(private_nats.proc.pid, signal.SIGSTOP)  # NATS stops answering; TCP stays open

        def deadline_stops() -> list[tuple[str, int, str, float]]:
            return [s for s in ownership.stops if s[2] == "lease deadline passed"]

        await eventually(lambda: not manager.held and len(deadline_stops()) == 4, ttl + 1, "the self-stop")
        stops = deadline_stops()
        # Every partition stopped before the server could let the lease expire.
        assert max(s[3] for s in stops) < last_renewal + ttl
        assert manager.self_stops == 4
        os.kill(private_nats.proc.pid, signal.SIGCONT)
        await eventually(lambda: len(manager.held) == 4, 3 * ttl, "the worker to resume its partitions")
        assert ownership.violations == []
    finally:
        os.kill(private_nats.proc.pid, signal.SIGCONT)
        await manager.stop(drain=False)
        await nc.close()


async def test_leases_on_their_own_thread_survive_a_blocked_main_loop(clean_nats: str) -> None:
    """A worker busy for longer than the TTL keeps its partitions: renewals do not wait for it."""
    ttl = 3.0
    nc = await nats.connect(clean_nats)
    await broker.ensure_topology(nc.jetstream(), CommonSettings(nats_url=clean_nats, lease_ttl=ttl))
    io = LeaseLoop()
    io.start()
    lease_nc = await io.call(nats.connect(clean_nats))
    ownership = Ownership()
    manager = PartitionManager(
        await io.call(LeaseStore.open(lease_nc.jetstream(), "w1:1")),
        await io.call(Membership.open(lease_nc.jetstream(), "w1:1")),
        ownership.handler("w1:1"),
        partitions=4,
        ttl=ttl,
        io=io,
    )
    await manager.start()
    peer = await LeaseStore.open(nc.jetstream(), "w2:2")
    try:
        await eventually(lambda: len(manager.held) == 4, 5, "all partitions held")
        time.sleep(ttl + 1)  # noqa: ASYNC251 -- the main loop runs nothing for longer than a lease lasts
        assert [await peer.claim(p) for p in range(4)] == [None] * 4  # still held at the server
        await asyncio.sleep(ttl)
        assert manager.self_stops == 0 and len(manager.held) == 4
        assert ownership.stops == [] and ownership.violations == []
    finally:
        await manager.stop(drain=True)
        await io.call(lease_nc.close())
        await io.close()
        await nc.close()
