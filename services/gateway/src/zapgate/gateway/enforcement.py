"""The plan's limits and the subscription's status, checked on the hot path from memory.

The answers: over the session limit 403 ``plan_limit`` (the limit and the count); the period's
messages used up 429 ``quota_exceeded`` with ``Retry-After`` at the period's end; suspended or
cancelled 402 ``payment_required``. Receiving is never refused.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from zapgate.gateway.errors import ApiError
from zapgate.gateway.state import GatewayState


def check(gateway: GatewayState, tenant: str, action: str, sessions: int = 0) -> None:
    """Raise the API's answer if the tenant may not ``action`` (``send``, ``session``, ``start``)."""
    if not gateway.settings.billing_enforce:
        return
    why = gateway.entitlements.refused(tenant, action, sessions)
    if why is None:
        return
    status, code, message, held = why
    if code == "plan_limit":
        raise ApiError(status, code, message, details={"limit": held.sessions_limit, "count": sessions})
    if code == "quota_exceeded":
        wait = max(1, math.ceil((held.period_end - datetime.now(UTC)).total_seconds()))
        details = {
            "limit": held.messages_limit,
            "used": held.messages_used,
            "period_end": held.period_end.isoformat(),
        }
        raise ApiError(status, code, message, details=details, headers={"Retry-After": str(wait)})
    raise ApiError(status, code, message, details={"status": held.status})


def session_limited(gateway: GatewayState, tenant: str) -> bool:
    """Whether creating a session needs the tenant's session count (a limit or a refusal applies)."""
    held = gateway.entitlements.by_tenant.get(tenant)
    return (
        gateway.settings.billing_enforce
        and held is not None
        and (held.sessions_limit is not None or held.status in ("suspended", "cancelled"))
    )
