"""Failed authentications per client: a limit per window, then a wait until the window moves."""

from zapgate.gateway.domain.ratelimit import WindowLimiter


def test_a_client_is_refused_after_the_limit_until_its_oldest_failure_leaves_the_window() -> None:
    limiter = WindowLimiter(limit=3, window=10.0)
    for t in (0.0, 1.0, 2.0):
        assert limiter.retry_after("a", t) is None
        limiter.hit("a", t)
    assert limiter.retry_after("a", 2.5) == 7.5
    assert limiter.retry_after("b", 2.5) is None  # another client is not affected
    assert limiter.retry_after("a", 10.5) is None  # the first failure left the window


def test_a_limit_given_per_call_overrides_the_default() -> None:
    limiter = WindowLimiter(limit=100, window=60.0)
    limiter.hit("tenant", 0.0)
    limiter.hit("tenant", 1.0)
    assert limiter.retry_after("tenant", 2.0, limit=3) is None
    assert limiter.retry_after("tenant", 2.0, limit=2) == 58.0
