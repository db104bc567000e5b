"""The chaos run's short form: sends while workers, a gateway and billing are killed with kill -9
and nats-server (twice) and PostgreSQL are restarted, then every check (billing's count among
them)."""

from __future__ import annotations

import asyncio
import json

import pytest

from bench.chaos import chaos

pytestmark = pytest.mark.e2e


def test_short_chaos_run_loses_nothing() -> None:
    result = asyncio.run(chaos(messages=400, per_tenant=3, kill_every=1.5, fault_every=4))
    failed = [name for name, ok in result["checks"].items() if not ok]
    assert not failed, f"{failed}\n{json.dumps(result['figures'], indent=1)}"
    assert result["figures"]["worker_kills"] >= 1
    assert result["figures"]["faults"] == ["nats", "postgres", "gateway", "billing", "nats"]
    assert result["figures"]["deliveries"] == result["figures"]["messages_accepted"] == 400
    assert sum(result["figures"]["metered_by_tenant"]) == 400
