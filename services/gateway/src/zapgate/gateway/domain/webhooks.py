"""Webhooks, pure: which events an endpoint takes, when a failed delivery is tried again, and
what a response means for the endpoint.

The retry schedule is Standard Webhooks': immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h,
20 h, 24 h, each with up to 10 % jitter. An endpoint that fails for the whole schedule, or that
answers 410 Gone, is disabled.
"""

from __future__ import annotations

import base64
import json
import random
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

SCHEDULE = (0, 5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)
"""Seconds before each attempt, from the first; after the last the endpoint is disabled."""

EVENT_PATTERN = r"^(\*|[a-z][a-z0-9_]*(\.([a-z][a-z0-9_]*|\*))*)$"
MAX_PATTERNS = 50
MAX_SESSIONS = 500


def matches(patterns: list[str], event_type: str) -> bool:
    """Whether an event type is one of ``patterns`` (``*`` alone: every event; ``message.*``:
    ``message.status``, ``message.received`` ...; a ``*`` stands for one or more parts)."""
    for pattern in patterns:
        if pattern == "*" or pattern == event_type:
            return True
        expr = (
            "^"
            + r"\.".join("[a-z0-9_.]+" if part == "*" else re.escape(part) for part in pattern.split("."))
            + "$"
        )
        if re.match(expr, event_type):
            return True
    return False


def new_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` and the base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def delay(attempt: int, rng: random.Random | None = None) -> timedelta | None:
    """How long after a failed ``attempt`` (1 for the first) to try again; None: the schedule
    is over."""
    if attempt >= len(SCHEDULE):
        return None
    base = SCHEDULE[attempt]
    jitter = (rng or random).uniform(0, base * 0.1) if base else 0.0
    return timedelta(seconds=base + jitter)


@dataclass(frozen=True)
class Verdict:
    """What an answer means: delivered, try again (after at least ``wait``), or disable."""

    delivered: bool
    disable: bool = False
    wait: float = 0.0


def verdict(status: int | None, retry_after: str | None = None) -> Verdict:
    """The outcome of one attempt (``status`` None: no answer: a timeout, a refused connection)."""
    if status is not None and 200 <= status < 300:
        return Verdict(True)
    if status == 410:
        return Verdict(False, disable=True)
    wait = 0.0
    if status in (429, 503) and retry_after and retry_after.strip().isdigit():
        wait = min(float(retry_after.strip()), 86400.0)
    return Verdict(False, wait=wait)


class Endpoint(Protocol):
    """What matching needs of an endpoint."""

    id: str
    tenant_id: str | None
    events: list[str]
    sessions: list[str] | None


def deliveries_of(event: dict[str, Any], endpoints: Sequence[Endpoint]) -> list[dict[str, Any]]:
    """The deliveries one event frame makes: one per endpoint that takes it (the tenant's own
    endpoints and the admin's, by event type and session)."""
    tenant, session, kind = event.get("tenant"), event.get("session") or "", event.get("type") or ""
    if not isinstance(tenant, str) or event.get("id") is None:
        return []
    body = json.dumps(event, separators=(",", ":"))
    return [
        {"endpoint_id": e.id, "tenant_id": tenant, "event_id": str(event["id"]), "event_type": str(kind)[:64],
         "session": str(session)[:64], "seq": int(event["seq"]), "body": body}
        for e in endpoints
        if (e.tenant_id is None or e.tenant_id == tenant)
        and matches(e.events, str(kind))
        and (e.sessions is None or session in e.sessions)
    ]  # fmt: skip
