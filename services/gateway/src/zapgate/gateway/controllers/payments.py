"""PIX checkout, charges, and the payment providers' webhook: a facade over billing.

The webhook route is public (providers hold no API key): billing verifies its ``x-signature``
with the provider's secret, which only billing holds, then reads the payment back by id.
"""

from __future__ import annotations

import base64
from typing import Annotated, Any, Literal

from litestar import Controller, Request, Response, get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Example
from litestar.params import Body, JSONBody, PathParameter

from zapgate.common.billing import (
    ChargePage,
    ChargeView,
    Checkout,
    CheckoutRequest,
    NotificationReceived,
    PaymentNotification,
    SimulatedPayment,
)
from zapgate.common.ids import ID_PATTERN
from zapgate.gateway.auth import tenant_only
from zapgate.gateway.controllers.sessions import TenantRequest, tenant_of
from zapgate.gateway.domain import qr
from zapgate.gateway.errors import ApiError, error_responses
from zapgate.gateway.openapi import OptionalBodyOperation
from zapgate.gateway.schemas import ErrorBody
from zapgate.gateway.state import GatewayDep

ChargeId = Annotated[str, PathParameter(description="Charge id", pattern=ID_PATTERN)]


def with_image(charge: ChargeView) -> ChargeView:
    """The charge with its code drawn as a PNG QR image."""
    if not charge.qr_code:
        return charge
    return charge.model_copy(update={"qr_png_base64": base64.b64encode(qr.png(charge.qr_code)).decode()})


class ChargeController(Controller):
    """``/api/v1/billing``: pay by PIX (checkout), the tenant's charges."""

    path = "/api/v1/billing"
    tags = ["billing"]
    guards = [tenant_only]

    @post(
        "/checkout",
        status_code=201,
        operation_class=OptionalBodyOperation,
        responses={
            200: ResponseSpec(data_container=Checkout, description="the open charge, returned as it is"),
            **error_responses(401, 403, 409, 422, 502),
        },
    )
    async def checkout(
        self, gateway: GatewayDep, request: TenantRequest, data: JSONBody[CheckoutRequest | None] = None
    ) -> Response[Checkout]:
        """The PIX charge for the next period (``plan_id``: for a move to that plan): 201 when it is
        issued now, 200 with the open one while it is pending and not expired (a retry never
        charges twice). Paid, the subscription is ``active`` at once. 409 for a free plan; 503
        while the provider does not answer (retry: the same charge is asked for again)."""
        args = (data or CheckoutRequest()).model_dump(mode="json", exclude_none=True)
        result = Checkout.model_validate(
            await gateway.billing.call("billing.checkout", tenant_of(request), args)
        )
        result = result.model_copy(update={"charge": with_image(result.charge)})
        return Response(result, status_code=201 if result.created else 200)

    @get("/charges", responses=error_responses(401, 403, parameters=False))
    async def list_charges(self, gateway: GatewayDep, request: TenantRequest) -> ChargePage:
        """The tenant's charges and their status, newest first (the last 100)."""
        page = ChargePage.model_validate(await gateway.billing.call("charges.list", tenant_of(request)))
        return page

    @get("/charges/{charge_id:str}", responses=error_responses(401, 403, 404))
    async def get_charge(
        self, charge_id: ChargeId, gateway: GatewayDep, request: TenantRequest
    ) -> ChargeView:
        """One charge, with its QR image."""
        args = {"charge_id": charge_id}
        return with_image(
            ChargeView.model_validate(await gateway.billing.call("charges.get", tenant_of(request), args))
        )

    @get(
        "/charges/{charge_id:str}/qr",
        media_type="image/png",
        responses=error_responses(401, 403, 404, 409),
    )
    async def get_charge_qr(
        self,
        charge_id: ChargeId,
        gateway: GatewayDep,
        request: TenantRequest,
    ) -> Response[bytes]:
        """The charge's PIX code as a PNG QR image (the "copia e cola" text is the charge's
        ``qr_code``); 409 if it has no code (not issued yet)."""
        args = {"charge_id": charge_id}
        charge = ChargeView.model_validate(
            await gateway.billing.call("charges.get", tenant_of(request), args)
        )
        if not charge.qr_code:
            raise ApiError(409, "conflict", f"charge {charge_id!r} is {charge.status} and has no code")
        return Response(qr.png(charge.qr_code), media_type="image/png")

    @post(
        "/charges/{charge_id:str}/simulate-payment",
        status_code=202,
        responses=error_responses(401, 403, 404, 409),
    )
    async def simulate_payment(
        self, charge_id: ChargeId, gateway: GatewayDep, request: TenantRequest
    ) -> SimulatedPayment:
        """Simulator provider only (404 otherwise): the payer pays the pending charge. The payment
        is confirmed the way Mercado Pago confirms one: a signed notification to
        ``/api/v1/billing/webhooks/simulator``, after which ``GET /api/v1/billing`` is ``active``."""
        args = {"charge_id": charge_id}
        return SimulatedPayment.model_validate(
            await gateway.billing.call("charges.simulate_payment", tenant_of(request), args)
        )


class PaymentWebhookController(Controller):
    """``POST /api/v1/billing/webhooks/{provider}``: payment notifications (public, signed)."""

    path = "/api/v1/billing/webhooks"
    tags = ["billing"]
    security = [{}]

    @post(
        "/{provider:str}",
        status_code=200,
        exclude_from_auth=True,
        responses={
            **error_responses(401, 404, 413),
            503: ResponseSpec(
                data_container=ErrorBody, description="billing or the provider is away: send again"
            ),
        },
    )
    async def notify(
        self,
        provider: Annotated[Literal["mercadopago", "simulator"], PathParameter(description="The provider")],
        gateway: GatewayDep,
        request: Request[Any, Any, Any],
        data: Annotated[
            PaymentNotification | None,
            Body(
                description="Mercado Pago's notification: `{type, action, data: {id}}`; only `?data.id=` "
                "(covered by the signature) is used",
                examples=[
                    Example(value={"type": "payment", "action": "payment.updated", "data": {"id": "123"}})
                ],
            ),
        ] = None,
    ) -> NotificationReceived:
        """A provider's notification about a payment. The ``x-signature`` header (``ts=..,v1=..``,
        HMAC-SHA256 of ``id:<data.id>;request-id:<x-request-id>;ts:<ts>;``) must be valid and recent,
        or it is refused with 401 and changes nothing. The payment is then read back from the
        provider and acted on once however often it is notified; 503 asks the provider to retry."""
        args = {
            "provider": provider,
            "signature": request.headers.get("x-signature"),
            "request_id": request.headers.get("x-request-id"),
            "data_id": request.query_params.get("data.id"),
            "type": request.query_params.get("type") or (data.type if data is not None else None),
        }
        return NotificationReceived.model_validate(
            await gateway.billing.call("payments.notify", "provider", args)
        )
