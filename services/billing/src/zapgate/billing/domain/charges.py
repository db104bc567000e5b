"""PIX charges: which charge a checkout returns, its idempotency key, and what a provider's
payment means for it.

Pure. A tenant has at most one open charge per (plan, period): a checkout while it is pending
and unexpired returns it; an expired or cancelled one is followed by a new attempt, whose key
differs, so the provider makes a new payment for it and never a second one for the same attempt.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from zapgate.billing.domain.money import cents_of

CREATING, PENDING, PAID, EXPIRED, CANCELLED, REFUNDED = (
    "creating", "pending", "paid", "expired", "cancelled", "refunded",
)  # fmt: skip
OPEN = (CREATING, PENDING)

# Mercado Pago's payment statuses and what each means for a charge.
_PROVIDER = {
    "pending": PENDING, "in_process": PENDING, "authorized": PENDING, "in_mediation": PENDING,
    "approved": PAID, "rejected": CANCELLED, "cancelled": CANCELLED,
    "refunded": REFUNDED, "charged_back": REFUNDED,
}  # fmt: skip


def idempotency_key(tenant: str, plan_id: str, period_key: str, attempt: int) -> str:
    """The provider's ``X-Idempotency-Key`` of one attempt: stable across retries and restarts,
    36 characters (Mercado Pago takes 1 to 64)."""
    digest = hashlib.sha256(f"{tenant}\x00{plan_id}\x00{period_key}\x00{attempt}".encode()).hexdigest()
    return f"zgc-{digest[:32]}"


def reusable(status: str, expires_at: datetime, now: datetime) -> bool:
    """Whether an existing charge is the one a checkout returns (open and not expired)."""
    return status in OPEN and now < expires_at


@dataclass(frozen=True)
class ProviderPayment:
    """What a provider says of a payment, read back by id (never taken from a notification)."""

    id: str
    status: str
    amount: str
    """As the provider wrote it (``"49.9"``), read as text: never through a float."""
    currency: str
    external_reference: str | None


def outcome(charge_status: str, charge_id: str, amount_cents: int, payment: ProviderPayment) -> str:
    """What a payment does to its charge: ``paid``, ``cancelled``, ``refunded``, ``unchanged``, or
    a refusal (``mismatch:<why>``) when it is not this charge's payment as issued."""
    if payment.external_reference != charge_id:
        return "mismatch:reference"
    if payment.currency != "BRL":
        return "mismatch:currency"
    try:
        cents = cents_of(payment.amount)
    except ValueError:
        return "mismatch:amount"
    if cents != amount_cents:
        return "mismatch:amount"
    target = _PROVIDER.get(payment.status)
    if target is None or target == PENDING:
        return "unchanged"
    if target == PAID:
        return PAID if charge_status != PAID and charge_status != REFUNDED else "unchanged"
    if target == CANCELLED:
        return CANCELLED if charge_status in OPEN or charge_status == EXPIRED else "unchanged"
    return REFUNDED if charge_status == PAID else "unchanged"
