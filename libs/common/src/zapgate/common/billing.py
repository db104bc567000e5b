"""Billing's contracts: REST bodies (served by the gateway) and what billing answers over NATS.

Money is integer cents of BRL everywhere (``price_cents``); no field is a float.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from zapgate.common.bodies import In, Out

Limit = int | None
SubscriptionStatus = Literal["trialing", "active", "past_due", "suspended", "cancelled"]


class PlanCreate(In):
    """A plan (admin): price per monthly period, limits (null: unlimited), trial days."""

    name: str = Field(min_length=1, max_length=100)
    price_cents: int = Field(ge=0, le=10**10, description="BRL cents per period, e.g. 4990 = R$ 49,90")
    sessions_limit: Limit = Field(None, ge=0, le=1_000_000)
    messages_limit: Limit = Field(None, ge=0, le=10**12, description="Outgoing messages per period")
    trial_days: int = Field(7, ge=0, le=365)
    is_default: bool = Field(False, description="New tenants start on the default plan")


class PlanUpdate(In):
    """Change a plan; the fields given replace the stored ones."""

    name: str | None = Field(None, min_length=1, max_length=100)
    price_cents: int | None = Field(None, ge=0, le=10**10)
    sessions_limit: Limit = Field(None, ge=0, le=1_000_000)
    messages_limit: Limit = Field(None, ge=0, le=10**12)
    trial_days: int | None = Field(None, ge=0, le=365)
    is_default: bool | None = Field(
        None, description="true makes this the default plan (to change the default, make another one default)"
    )

    @model_validator(mode="after")
    def _default_moves(self) -> PlanUpdate:
        if self.is_default is False:
            raise ValueError("a plan stops being the default when another is made the default")
        return self


class PlanView(Out):
    """A plan."""

    id: str
    name: str
    price_cents: int
    period: Literal["monthly"]
    sessions_limit: Limit
    messages_limit: Limit
    trial_days: int
    is_default: bool


class PlanPage(Out):
    """Every plan, by price."""

    items: list[PlanView]


class Usage(Out):
    """Use of the current period against the plan's limits (null: unlimited)."""

    messages: int
    messages_limit: Limit
    sessions: int | None = Field(description="The tenant's sessions now (the gateway counts them)")
    sessions_limit: Limit


class HistoryItem(Out):
    """One change of the subscription."""

    at: datetime
    change: str
    status: str
    plan_id: str
    note: str | None


class SubscriptionView(Out):
    """A tenant's plan, status, period and usage."""

    tenant: str
    status: SubscriptionStatus
    plan: PlanView
    period_start: datetime
    period_end: datetime
    usage: Usage
    history: list[HistoryItem]


class AssignPlan(In):
    """Move a tenant to a plan (admin); its period and status are kept."""

    plan_id: str = Field(min_length=1, max_length=26)


class ExtendTrial(In):
    """Give a tenant more trial days (admin)."""

    days: int = Field(ge=1, le=365)


# ---------------------------------------------------------------- entitlements

REFUSING = ("suspended", "cancelled")
"""Statuses in which a tenant may not send nor start sessions (receiving never stops)."""


class Entitlements(BaseModel):
    """One tenant's entitlements: the value of ``t.<tenant>`` in the KV bucket ``zg_entitlements``,
    published by billing, checked in memory by every gateway."""

    model_config = ConfigDict(frozen=True)

    tenant: str
    status: str
    plan: str
    sessions_limit: int | None = Field(description="null: unlimited")
    messages_limit: int | None = Field(description="outgoing messages per period; null: unlimited")
    messages_used: int = Field(description="counted by billing when this was published")
    period_start: datetime
    period_end: datetime
    revision: int = Field(
        0, description="the subscription's revision: a reader keeps the newest (with messages_used)"
    )


def refusal(
    e: Entitlements, action: str, sessions: int = 0, sent_since: int = 0
) -> tuple[int, str, str] | None:
    """Why ``action`` (``send`` or ``session``) is refused: (HTTP status, code, message), or None.

    ``sessions``: the tenant's sessions now (for ``session``: before the new one); ``sent_since``:
    messages this gateway accepted since the entitlements were published.
    """
    if e.status in REFUSING:
        return 402, "payment_required", f"the tenant's subscription is {e.status}; pay to send again"
    if action == "session" and e.sessions_limit is not None and sessions >= e.sessions_limit:
        return (
            403,
            "plan_limit",
            f"the {e.plan} plan allows {e.sessions_limit} sessions; there are {sessions}",
        )
    if action == "send" and e.messages_limit is not None and e.messages_used + sent_since >= e.messages_limit:
        return (
            429,
            "quota_exceeded",
            f"the {e.plan} plan's {e.messages_limit} messages of this period are used",
        )
    return None


# ---------------------------------------------------------------- charges

ChargeStatus = Literal["creating", "pending", "paid", "expired", "cancelled", "refunded"]


class CheckoutRequest(In):
    """Pay the next period, or move to another plan by paying for it."""

    plan_id: str | None = Field(
        None, min_length=1, max_length=26, description="The plan to pay for (default: the current one)"
    )
    payer_email: str | None = Field(
        None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
        description="Sent to the provider as the payer's e-mail (default: the operator's)",
    )  # fmt: skip


class ChargeView(Out):
    """A PIX charge: pay it by reading ``qr_png_base64`` (or ``GET .../qr``) with a bank app, or by
    pasting ``qr_code`` ("copia e cola")."""

    id: str
    tenant: str
    plan_id: str
    provider: Literal["simulator", "mercadopago"]
    payment_id: str | None = Field(description="The provider's payment id")
    amount_cents: int = Field(description="BRL cents")
    currency: Literal["BRL"]
    status: ChargeStatus
    qr_code: str | None = Field(description='The PIX "copia e cola" code (an EMV BR Code)')
    qr_png_base64: str | None = Field(None, description="The code as a PNG QR image, base64")
    ticket_url: str | None = Field(description="The provider's hosted payment page, if it has one")
    expires_at: datetime
    created_at: datetime
    paid_at: datetime | None


class Checkout(Out):
    """A checkout's charge and whether it is new (an open one is returned as it is)."""

    created: bool
    charge: ChargeView


class ChargePage(Out):
    """A tenant's charges, newest first."""

    items: list[ChargeView]


class SimulatedPayment(Out):
    """The simulator made the payment; its signed notification is on its way to the webhook."""

    charge_id: str
    payment_id: str
    status: Literal["approved"]


class NotificationReceived(Out):
    """A notification was authentic and is handled (or was handled before)."""

    received: bool
    outcome: str = Field(
        description="paid, cancelled, refunded, unchanged, duplicate, ignored, unknown_payment, or mismatch:<why>"
    )


class NotificationData(BaseModel):
    """What a notification is about (``data.id``: the payment id)."""

    model_config = ConfigDict(extra="allow")

    id: str | int | None = None


class PaymentNotification(BaseModel):
    """A provider's notification as Mercado Pago sends it; only ``?data.id`` (signed) is acted
    on, and the payment is read back from the provider."""

    model_config = ConfigDict(extra="allow")

    id: int | str | None = None
    type: str | None = Field(None, description='"payment"')
    action: str | None = Field(None, description='"payment.created" or "payment.updated"')
    live_mode: bool | None = None
    date_created: str | None = None
    user_id: int | str | None = None
    api_version: str | None = None
    data: NotificationData | None = None
