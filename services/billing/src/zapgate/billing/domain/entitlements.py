"""A tenant's entitlements from its subscription, plan and usage (the model is shared: the gateways
read it)."""

from __future__ import annotations

from datetime import datetime

from zapgate.common.billing import Entitlements


def entitlements(
    tenant: str, status: str, plan: str, sessions_limit: int | None, messages_limit: int | None,
    messages_used: int, period_start: datetime, period_end: datetime, revision: int,
) -> Entitlements:  # fmt: skip
    """The entitlements of a tenant."""
    return Entitlements(
        tenant=tenant, status=status, plan=plan, sessions_limit=sessions_limit, messages_limit=messages_limit,
        messages_used=messages_used, period_start=period_start, period_end=period_end, revision=revision,
    )  # fmt: skip
