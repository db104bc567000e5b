import zlib

import pytest

from zapgate.common import subjects


def test_partition_is_crc32_of_tenant_slash_session_mod_p() -> None:
    # Pinned vectors: services in other languages must compute the same partitions.
    # zlib's CRC-32 is the standard CRC-32/ISO-HDLC: its check value is 0xCBF43926.
    assert zlib.crc32(b"123456789") == 0xCBF43926
    assert zlib.crc32(b"acme/main") == 0x9CD03F70
    assert subjects.partition_of("acme", "main", 64) == 48
    assert subjects.partition_of("acme", "main", 1) == 0


def test_partitions_spread_sessions_evenly() -> None:
    counts = [0] * 64
    for i in range(64_000):
        counts[subjects.partition_of("01TENANT", f"s{i}", 64)] += 1
    assert min(counts) > 800 and max(counts) < 1200


def test_partition_rejects_zero_partitions() -> None:
    with pytest.raises(ValueError):
        subjects.partition_of("a", "b", 0)


def test_command_and_event_subjects() -> None:
    assert subjects.command(7, "T1", "main", "start") == "zg.cmd.7.T1.main.start"
    assert subjects.event("T1", "main", "session.status") == "zg.evt.T1.main.session.status"
    assert subjects.tenant_events("T1") == "zg.evt.T1.>"
    assert subjects.partition_commands(7) == "zg.cmd.7.>"
    assert (
        subjects.dead_letter("invalid", "zg.cmd.7.T1.main.start") == "zg.dlq.invalid.zg.cmd.7.T1.main.start"
    )


@pytest.mark.parametrize("bad", ["a.b", "*", ">", "a b", "", "x" * 65, "ä"])
def test_tokens_that_would_break_subjects_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        subjects.command(0, bad, "main", "start")
    with pytest.raises(ValueError):
        subjects.event("T1", bad, "session.status")


@pytest.mark.parametrize("bad", ["Session.status", "session..qr", "session.*", ".x", "x."])
def test_bad_event_types_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        subjects.event("T1", "main", bad)


def test_worker_key_is_kv_safe() -> None:
    assert subjects.worker_key("host-1.example:1234") == "w.host-1_example_1234"


@pytest.mark.parametrize("bad", ["main\n", "T1\n", "session.status\n"])
def test_a_trailing_newline_is_never_a_token(bad: str) -> None:
    # Broken on purpose (re.match with $, as before), "main\n" passes and reaches a subject.
    with pytest.raises(ValueError):
        if bad.startswith("session"):
            subjects.event("T1", "main", bad)
        else:
            subjects.command(0, "T1", bad, "start")
