"""The health policy of sessions as pure functions."""

from zapgate.session_worker.domain.health import BACKOFF_MAX, HealthPolicy


def test_restarts_back_off_doubling_from_the_check_interval_up_to_a_cap() -> None:
    policy = HealthPolicy(interval=2.0, timeout=1.0, max_restarts=5)
    assert [policy.backoff(n) for n in (1, 2, 3, 4)] == [2.0, 4.0, 8.0, 16.0]
    assert policy.backoff(30) == BACKOFF_MAX
