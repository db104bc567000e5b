"""Paced sending and WhatsApp ids as pure functions."""

import random

from zapgate.common.messages import PacingConfig
from zapgate.session_worker.domain.pacing import JITTER, TokenBucket, typing_seconds, wa_message_id


def bucket(**config: object) -> TokenBucket:
    return TokenBucket(PacingConfig.model_validate(config), now=0.0, rng=random.Random(7))


def test_burst_goes_at_once_then_the_rate_holds() -> None:
    paced = bucket(per_minute=60, burst=3)
    interval = 1.0
    waits = [paced.reserve(0.0) for _ in range(5)]
    assert all(w <= JITTER * interval for w in waits[:3])  # only jitter inside the burst
    assert interval <= waits[3] <= interval + JITTER * interval
    assert 2 * interval <= waits[4] <= 2 * interval + JITTER * interval


def test_tokens_come_back_with_time_but_never_beyond_the_burst() -> None:
    paced = bucket(per_minute=60, burst=2)
    paced.reserve(0.0)
    paced.reserve(0.0)
    assert paced.reserve(100.0) <= JITTER  # refilled
    assert paced.tokens <= 2


def test_disabled_pacing_never_waits() -> None:
    off = bucket(enabled=False, per_minute=1, burst=1)
    assert [off.reserve(0.0) for _ in range(100)] == [0.0] * 100


def test_typing_is_proportional_to_the_text_and_capped() -> None:
    on = PacingConfig(typing=True)
    assert typing_seconds(on, "hi") < typing_seconds(on, "hello there, how are you?")
    assert typing_seconds(on, "x" * 10_000) == 8.0
    assert typing_seconds(PacingConfig(typing=False), "hi") == 0.0
    assert typing_seconds(on, None) == 0.0


def test_whatsapp_id_is_derived_from_the_message_id() -> None:
    first = wa_message_id("t1", "main", "01JABC")
    assert first == wa_message_id("t1", "main", "01JABC")  # a redelivered send carries the same id
    assert first != wa_message_id("t1", "main", "01JABD")
    assert first != wa_message_id("t2", "main", "01JABC")
    assert first.startswith("3EB0") and len(first) == 22 and first[4:] == first[4:].upper()
