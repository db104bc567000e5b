import os

import pytest

from zapgate.common.settings import CommonSettings, default_worker_id


def test_defaults_match_the_documentation(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("ZAPGATE_"):
            monkeypatch.delenv(name)
    s = CommonSettings()
    assert s.partitions == 64
    assert s.lease_ttl == 10
    assert (s.gateway_host, s.gateway_port) == ("127.0.0.1", 8000)
    assert s.sim_speed == 1
    assert str(s.data_dir) == ".zapgate"


def test_environment_uses_the_zapgate_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZAPGATE_PARTITIONS", "8")
    monkeypatch.setenv("ZAPGATE_LEASE_TTL", "3")
    monkeypatch.setenv("ZAPGATE_DATABASE_URL", "postgresql://u@h:1/db")
    monkeypatch.setenv("ZAPGATE_NATS_URL", "nats://a:1, nats://b:2")
    s = CommonSettings()
    assert s.partitions == 8
    assert s.lease_ttl == 3
    assert s.database_url == "postgresql+asyncpg://u@h:1/db"
    assert s.nats_servers == ["nats://a:1", "nats://b:2"]


def test_out_of_range_values_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZAPGATE_PARTITIONS", "0")
    with pytest.raises(ValueError):
        CommonSettings()


def test_worker_id_is_host_and_pid() -> None:
    host, _, pid = default_worker_id().rpartition(":")
    assert host and int(pid) == os.getpid()


@pytest.mark.parametrize("weak", ["admin", "zgadmin_" + "a" * 30, "short-but-varied-12"])
def test_a_weak_admin_key_is_refused(weak: str) -> None:
    from zapgate.gateway.settings import Settings as GatewaySettings

    with pytest.raises(ValueError, match="ZAPGATE_ADMIN_KEY must be at least 24"):
        GatewaySettings(admin_key=weak)
