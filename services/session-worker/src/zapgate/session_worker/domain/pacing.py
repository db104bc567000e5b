"""Paced sending: how long to wait before the next message of a session (pure, clock passed in)."""

from __future__ import annotations

import hashlib
import random

from zapgate.common.messages import PacingConfig

JITTER = 0.3
"""Up to this fraction of the sustained interval is added at random, so sends are not metronomic."""


class TokenBucket:
    """``burst`` tokens, refilled at ``per_minute``; each send takes one."""

    def __init__(self, config: PacingConfig, now: float, rng: random.Random | None = None) -> None:
        self.config = config
        self.rate = config.per_minute / 60.0
        self.tokens = float(config.burst)
        self.updated = now
        self.rng = rng or random.Random()

    def reserve(self, now: float) -> float:
        """Take a token; the seconds to wait before sending (0 when pacing is off)."""
        if not self.config.enabled:
            return 0.0
        self.tokens = min(float(self.config.burst), self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        self.tokens -= 1.0
        wait = 0.0 if self.tokens >= 0 else -self.tokens / self.rate
        return wait + self.rng.uniform(0.0, JITTER / self.rate)


def typing_seconds(config: PacingConfig, text: str | None) -> float:
    """How long 'typing…' shows before a text: about a human's pace, capped at 8 s."""
    if not (config.enabled and config.typing and text):
        return 0.0
    return min(0.5 + 0.04 * len(text), 8.0)


def wa_message_id(tenant: str, session: str, message_id: str) -> str:
    """The WhatsApp id of a sent message, derived from its zapgate id.

    A redelivered send therefore carries the same id, and the receiving side drops the repeat.
    The shape is WhatsApp Web's: ``3EB0`` and 18 upper-case hex digits.
    """
    digest = hashlib.sha256(f"{tenant}/{session}/{message_id}".encode()).hexdigest()
    return "3EB0" + digest[:18].upper()
