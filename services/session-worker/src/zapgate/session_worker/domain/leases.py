"""The partition lease rules, as pure functions of time and state.

A worker holds a partition while its lease key in KV ``zg_leases`` is live. It renews every
TTL/3 with a compare-and-set on the last revision. It must stop the partition's sessions by its
own monotonic deadline (last successful renewal, measured when the renewal was *sent*, plus TTL
minus a margin), so it has stopped before the server can expire the key and let a peer claim it.
The revision at claim time is the partition's fencing epoch: it only grows, across owners.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

MARGIN_FRACTION = 0.1


@dataclass(slots=True)
class Lease:
    """A partition this worker holds."""

    partition: int
    epoch: int
    revision: int
    renewed_at: float

    def deadline(self, ttl: float) -> float:
        """Monotonic time by which the worker must have stopped the partition."""
        return self.renewed_at + ttl * (1.0 - MARGIN_FRACTION)

    def expired(self, now: float, ttl: float) -> bool:
        """Whether the worker has passed its own deadline."""
        return now >= self.deadline(ttl)

    def renewed(self, revision: int, sent_at: float) -> None:
        """Record a successful renewal sent at ``sent_at``."""
        self.revision = revision
        self.renewed_at = sent_at


def renew_interval(ttl: float) -> float:
    """How often leases are renewed and membership heartbeats sent."""
    return ttl / 3.0


def fair_share(partitions: int, live_workers: int) -> int:
    """How many partitions each worker aims to hold: ceil(P / live workers)."""
    return math.ceil(partitions / max(1, live_workers))


def preference(worker_id: str, partitions: int) -> list[int]:
    """The order in which a worker tries partitions (rendezvous hashing).

    Different workers prefer different partitions, so they rarely race for the same one, and a
    worker that restarts prefers the same ones as before.
    """

    def score(p: int) -> bytes:
        return hashlib.blake2b(f"{worker_id}/{p}".encode(), digest_size=8).digest()

    return sorted(range(partitions), key=score)


@dataclass(frozen=True, slots=True)
class Plan:
    """What a balancing step should do."""

    claim: tuple[int, ...] = ()
    release: tuple[int, ...] = ()


def plan_balance(
    held: Iterable[int],
    free: Sequence[int],
    partitions: int,
    peers_held: Mapping[str, int],
    me: str,
    order: Sequence[int],
) -> Plan:
    """Claim free partitions up to this worker's target, or release one when over it.

    Each worker aims at ceil(P / N). Since ceil alone can leave a newcomer short for good (16
    partitions on 3 workers settle at 6/6/4), while any peer holds less than floor(P / N) the
    others release down to floor and claim no further than floor, which hands the newcomer
    its share instead of racing it for the partitions just released.

    ``peers_held`` maps every live worker (``me`` included) to how many partitions it says it
    holds; ``free`` are the partitions nobody holds; ``order`` is this worker's preference. One
    release per step keeps hand-overs gradual.
    """
    held_set = set(held)
    live = max(1, len(peers_held))
    ceil = fair_share(partitions, live)
    floor = partitions // live
    starved = any(n < floor for worker, n in peers_held.items() if worker != me)
    target = floor if starved else ceil
    if len(held_set) > target:
        # Give up the partition this worker likes least.
        rank = {p: i for i, p in enumerate(order)}
        return Plan(release=(max(held_set, key=lambda p: rank.get(p, len(rank))),))
    want = target - len(held_set)
    if want <= 0:
        return Plan()
    free_set = set(free) - held_set
    return Plan(claim=tuple([p for p in order if p in free_set][:want]))
