"""What each billing alert says to the tenant (pure)."""

from __future__ import annotations

from typing import Any

from zapgate.billing.domain.money import brl

_TEXTS = {
    "trial_ending_3d": "Your trial of the {plan} plan ends in 3 days ({period_end}). Pay to keep sending.",
    "trial_ending_1d": "Your trial of the {plan} plan ends tomorrow ({period_end}). Pay to keep sending.",
    "charge_issued": "A PIX charge of {amount} for the {plan} plan is waiting; it expires at {expires_at}.",
    "payment_received": "Payment of {amount} received: the {plan} plan is active until {period_end}.",
    "past_due": "The {plan} plan's period ended unpaid: sending stops at {suspends_at} unless it is paid.",
    "suspended": "Suspended for an unpaid period: sends and session starts are refused until it is paid.",
    "messages_80pct": "80 % of the period's {limit} messages are used.",
    "messages_100pct": "All of the period's {limit} messages are used; sending resumes at {period_end}.",
    "sessions_80pct": "{sessions} of the plan's {sessions_limit} sessions are in use (80 %).",
    "sessions_100pct": "All of the plan's {sessions_limit} sessions are in use: a new one needs a bigger plan.",
}


def text(kind: str, details: dict[str, Any]) -> str:
    """The alert's sentence, filled from its details (amounts in cents are written as BRL)."""
    values = {k: (brl(v) if k == "amount_cents" else v) for k, v in details.items()}
    if "amount_cents" in values:
        values["amount"] = values["amount_cents"]
    return _TEXTS[kind].format_map(_Missing(values))


class _Missing(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "?"
