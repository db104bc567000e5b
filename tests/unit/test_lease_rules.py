"""The lease rules as pure functions."""

from zapgate.session_worker.domain.leases import (
    Lease,
    Plan,
    fair_share,
    plan_balance,
    preference,
    renew_interval,
)


def test_deadline_is_before_the_server_expiry() -> None:
    lease = Lease(partition=0, epoch=7, revision=7, renewed_at=100.0)
    assert lease.deadline(10.0) < 110.0
    assert not lease.expired(108.9, 10.0)
    assert lease.expired(109.0, 10.0)
    lease.renewed(9, 105.0)
    assert (lease.revision, lease.epoch) == (9, 7)  # the epoch is the claim revision
    assert not lease.expired(109.0, 10.0)


def test_renewal_runs_three_times_per_ttl() -> None:
    assert renew_interval(9.0) == 3.0


def test_share_is_ceil_of_partitions_over_workers() -> None:
    assert fair_share(64, 1) == 64
    assert fair_share(64, 3) == 22
    assert fair_share(64, 0) == 64


def test_preference_is_a_stable_permutation_that_differs_between_workers() -> None:
    a = preference("a:1", 64)
    assert sorted(a) == list(range(64))
    assert a == preference("a:1", 64)
    assert a != preference("b:2", 64)


def test_alone_a_worker_claims_everything_free_in_its_order() -> None:
    order = preference("a", 8)
    plan = plan_balance([], list(range(8)), 8, {"a": 0}, "a", order)
    assert plan == Plan(claim=tuple(order))


def test_over_the_share_a_worker_releases_one_at_a_time() -> None:
    order = list(range(16))
    plan = plan_balance(range(16), [], 16, {"a": 16, "b": 0}, "a", order)
    assert plan.claim == () and len(plan.release) == 1
    assert plan.release == (15,)  # the least preferred


def test_with_a_starved_peer_workers_go_down_to_floor_and_do_not_reclaim() -> None:
    order = list(range(16))
    # 16 over 3: ceil 6, floor 5. The newcomer has 4: the others step down to 5...
    peers = {"a": 6, "b": 6, "c": 4}
    assert len(plan_balance(range(6), [], 16, peers, "a", order).release) == 1
    # ...and a worker at 5 does not take back the partition it just freed.
    peers = {"a": 5, "b": 6, "c": 4}
    assert plan_balance(range(5), [15], 16, peers, "a", order) == Plan()
    # The newcomer claims it.
    assert plan_balance(range(10, 14), [15], 16, peers, "c", order) == Plan(claim=(15,))


def test_nobody_starved_means_claim_up_to_ceil() -> None:
    peers = {"a": 5, "b": 5, "c": 5}
    assert plan_balance(range(5), [15], 16, peers, "a", list(range(16))) == Plan(claim=(15,))
    assert plan_balance(range(6), [], 16, {"a": 6, "b": 5, "c": 5}, "a", list(range(16))) == Plan()
