"""Quotas: defaults, a tenant's overrides over them, and the check."""

import pytest

from zapgate.gateway.domain.quotas import QuotaExceeded, Quotas, check


def test_overrides_replace_only_what_they_name_and_none_is_unlimited() -> None:
    defaults = Quotas(sessions=10, api_keys=5, media_bytes=1000, tickets_per_minute=60)
    mine = defaults.with_overrides({"sessions": 2, "media_bytes": None, "unknown": 7})
    assert mine == Quotas(sessions=2, api_keys=5, media_bytes=None, tickets_per_minute=60)
    assert defaults.with_overrides(None) == defaults


def test_check_allows_up_to_the_limit_and_says_what_is_over() -> None:
    check("sessions", 3, 2)  # the third one fits
    check("sessions", None, 10**9)  # unlimited
    with pytest.raises(QuotaExceeded) as caught:
        check("media_bytes", 1000, 900, wanted=200)
    assert caught.value.details() == {"quota": "media_bytes", "limit": 1000, "used": 900, "requested": 200}
    with pytest.raises(QuotaExceeded):
        check("sessions", 0, 0)  # a limit of zero allows none
