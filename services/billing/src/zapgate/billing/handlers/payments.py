"""Checkout, charges and payment notifications, over NATS request/reply (thin)."""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Any

from zapgate.billing.adapters.charge_store import ChargeStore
from zapgate.billing.adapters.payments import (
    BadSignature,
    NewCharge,
    Provider,
    ProviderRefused,
    ProviderUnavailable,
    Simulator,
    verify,
)
from zapgate.billing.adapters.tables import ChargeRow
from zapgate.billing.domain import charges
from zapgate.billing.handlers.api import Api
from zapgate.common.billing import (
    ChargePage,
    ChargeView,
    Checkout,
    CheckoutRequest,
    NotificationReceived,
    SimulatedPayment,
)
from zapgate.common.ids import ID_PATTERN
from zapgate.common.rpc import Handler, RpcError, invalid, not_found

log = logging.getLogger(__name__)


def charge_view(row: ChargeRow) -> ChargeView:
    """A charge as the API shows it (the gateway draws its QR image)."""
    return ChargeView(
        id=row.id, tenant=row.tenant_id, plan_id=row.plan_id, provider=row.provider,
        payment_id=row.payment_id, amount_cents=row.amount_cents, currency="BRL",
        status=row.status,
        qr_code=row.qr_code, ticket_url=row.ticket_url, expires_at=row.expires_at, created_at=row.created_at,
        paid_at=row.paid_at,
    )  # fmt: skip


def _charge_id(args: dict[str, Any]) -> str:
    import re

    value = args.get("charge_id")
    if not isinstance(value, str) or not re.fullmatch(ID_PATTERN, value):
        raise invalid("charge_id is not an id", "charge_id")
    return value


class Payments:
    """What a tenant pays, and what providers say was paid."""

    def __init__(self, api: Api, store: ChargeStore, provider: Provider, secret: str, tolerance: float,
                 charge_hours: int, payer_email: str) -> None:  # fmt: skip
        self.api = api
        self.store = store
        self.provider = provider
        self.secret = secret
        self.tolerance = tolerance
        self.charge_ttl = timedelta(hours=charge_hours)
        self.payer_email = payer_email

    def ops(self) -> dict[str, Handler]:
        """Operation name to handler."""
        return {
            "billing.checkout": self.checkout, "charges.list": self.list, "charges.get": self.get,
            "charges.simulate_payment": self.simulate_payment, "payments.notify": self.notify,
        }  # fmt: skip

    async def checkout(self, tenant: str, args: dict[str, Any]) -> Any:
        """The open charge for the next period (or a plan change), issued if there is none."""
        body = CheckoutRequest.model_validate({k: v for k, v in args.items() if k != "sessions"})
        sub = await self.api._subscription(tenant)
        plan_id = body.plan_id or sub.plan_id
        plan = await self.api.store.plan(plan_id)
        if plan is None:
            raise invalid(f"plan {plan_id!r} not found", "plan_id")
        if plan.price_cents <= 0:
            raise RpcError(409, "conflict", f"the {plan.name} plan is free: there is nothing to pay")
        now = self.api.clock()
        period_key = sub.period_end.isoformat()
        latest = await self.store.latest(tenant, plan.id, period_key)
        attempt = 1
        if latest is not None:
            if latest.status == charges.PENDING and charges.reusable(latest.status, latest.expires_at, now):
                return Checkout(created=False, charge=charge_view(latest))
            if latest.status == charges.CREATING and now < latest.expires_at:
                attempt = latest.attempt  # the provider may have it: the same key finds it
            else:
                if latest.status in charges.OPEN:
                    await self.store.expire(latest.id)
                attempt = latest.attempt + 1
        row = await self.store.add({
            "tenant_id": tenant, "plan_id": plan.id, "provider": self.provider.name,
            "idempotency_key": charges.idempotency_key(tenant, plan.id, period_key, attempt),
            "period_key": period_key, "attempt": attempt, "amount_cents": plan.price_cents, "currency": "BRL",
            "status": charges.CREATING, "expires_at": now + self.charge_ttl, "created_at": now,
        })  # fmt: skip
        if row.status != charges.CREATING:
            return Checkout(created=False, charge=charge_view(row))
        request = NewCharge(row.idempotency_key, row.id, row.amount_cents, f"zapgate {plan.name}",
                            body.payer_email or self.payer_email, row.expires_at)  # fmt: skip
        try:
            issued = await self.provider.create(request)
        except ProviderUnavailable as exc:
            # The row keeps its key: the next checkout asks again with it and cannot charge twice.
            log.warning("charge %s of tenant %s not issued yet: %s", row.id, tenant, exc)
            raise RpcError(503, "unavailable", "the payment provider did not answer; retry shortly") from None
        except ProviderRefused as exc:
            log.error("charge %s of tenant %s refused by the provider: %s", row.id, tenant, exc)
            raise RpcError(502, "provider_error", "the payment provider refused the charge") from None
        charge = await self.store.issued(row.id, issued, plan.name, self.api.clock())
        return Checkout(created=True, charge=charge_view(charge))

    async def list(self, tenant: str, args: dict[str, Any]) -> Any:
        """The tenant's charges, newest first."""
        return ChargePage(items=[charge_view(r) for r in await self.store.of_tenant(tenant)])

    async def get(self, tenant: str, args: dict[str, Any]) -> Any:
        """One of the tenant's charges."""
        charge_id = _charge_id(args)
        row = await self.store.get(charge_id, tenant)
        if row is None:
            raise not_found(f"charge {charge_id!r}")
        return charge_view(row)

    async def simulate_payment(self, tenant: str, args: dict[str, Any]) -> Any:
        """The simulator's payer pays a pending charge; its notification follows through the webhook."""
        if not isinstance(self.provider, Simulator):
            raise not_found("payment simulation (the provider is not the simulator)")
        charge_id = _charge_id(args)
        row = await self.store.get(charge_id, tenant)
        if row is None:
            raise not_found(f"charge {charge_id!r}")
        if row.status != charges.PENDING or row.payment_id is None or row.provider != self.provider.name:
            raise RpcError(409, "conflict", f"the charge is {row.status}; only a pending one can be paid")
        if not await self.provider.pay(row.payment_id, self.api.clock()):
            raise RpcError(409, "conflict", "the charge's payment is no longer pending")
        return SimulatedPayment(charge_id=row.id, payment_id=row.payment_id, status="approved")

    async def notify(self, tenant: str, args: dict[str, Any]) -> Any:
        """A provider's notification, as the webhook route received it: verified, then the payment
        is read back from the provider and acted on once."""
        provider = args.get("provider")
        if provider != self.provider.name:
            raise not_found(f"webhook of provider {provider!r} (this deployment uses {self.provider.name})")
        data_id = args.get("data_id")
        request_id = args.get("request_id")
        try:
            verify(self.secret, args.get("signature"), request_id, data_id, self.tolerance, time.time())
        except BadSignature as exc:
            log.warning("refused a %s notification (%s); request id %r, data id %r", provider, exc.reason,
                        request_id, data_id)  # fmt: skip
            raise RpcError(
                401, "invalid_signature", f"the notification's signature is not valid: {exc.reason}"
            ) from None
        if args.get("type") not in ("payment", None) or not isinstance(data_id, str) or not data_id:
            return NotificationReceived(received=True, outcome="ignored")
        try:
            payment = await self.provider.payment(data_id)
        except ProviderUnavailable as exc:
            log.warning("payment %s could not be read back: %s", data_id, exc)
            raise RpcError(503, "unavailable", "the payment provider did not answer; retry shortly") from None
        if payment is None:
            log.warning("a notification names payment %s, which the provider does not have", data_id)
            return NotificationReceived(received=True, outcome="unknown_payment")
        key = f"{provider}:{request_id}:{data_id}"
        outcome, charge = await self.store.apply(
            key, payment, self.provider.name, self.api.clock(), self.api.grace
        )
        if outcome.startswith("mismatch"):
            log.error("payment %s does not match its charge (%s): nothing changed", data_id, outcome)
        elif charge is not None and outcome != "unchanged":
            log.info("charge %s of tenant %s is %s", charge.id, charge.tenant_id, outcome)
            self.api.on_change(charge.tenant_id)
        return NotificationReceived(received=True, outcome=outcome)
