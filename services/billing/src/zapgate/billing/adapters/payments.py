"""Payment providers: Mercado Pago through its official SDK, and the simulator.

Both speak Mercado Pago's wire format: a PIX payment is created with a stable
``X-Idempotency-Key``; a notification is ``{type: "payment", data: {id}}`` with ``?data.id=`` and
``x-signature: ts=<s>,v1=<HMAC-SHA256 of "id:<data.id>;request-id:<x-request-id>;ts:<ts>;">``;
whatever it says, the payment is read back by id and only that is acted on.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Protocol

import httpx
import mercadopago
from mercadopago.config import RequestOptions
from mercadopago.http import HttpClient
from mercadopago.webhook import InvalidWebhookSignatureError, WebhookSignatureValidator
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from zapgate.billing.adapters.tables import SimulatedPaymentRow
from zapgate.billing.domain import pix
from zapgate.billing.domain.charges import ProviderPayment
from zapgate.billing.domain.money import decimal_text

log = logging.getLogger(__name__)

MP_API = "https://api.mercadopago.com"


class ProviderUnavailable(Exception):
    """The provider did not answer, or answered 5xx/429: the same call may be retried."""


class ProviderRefused(Exception):
    """The provider answered 4xx: retrying the same request will not help."""


class BadSignature(Exception):
    """A notification that is unsigned, forged, or too old (a replay)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class NewCharge:
    """What a provider needs to issue one PIX charge."""

    idempotency_key: str
    reference: str
    """Our charge id, the payment's ``external_reference``."""
    amount_cents: int
    description: str
    payer_email: str
    expires_at: datetime


@dataclass(frozen=True)
class IssuedCharge:
    """The provider's payment for a charge: its id, status, "copia e cola" code and page."""

    payment_id: str
    status: str
    qr_code: str
    ticket_url: str | None


class Provider(Protocol):
    """A payment provider."""

    name: str

    async def create(self, charge: NewCharge) -> IssuedCharge:
        """Issue the charge; the same idempotency key returns the same payment."""
        ...

    async def payment(self, payment_id: str) -> ProviderPayment | None:
        """The payment as the provider has it now; None if it has no such payment."""
        ...


def verify(secret: str, signature: str | None, request_id: str | None, data_id: str | None,
           tolerance: float, now: float) -> None:  # fmt: skip
    """Check a notification's ``x-signature`` (SDK validator, constant time); BadSignature if it
    is missing, forged, or its timestamp is more than ``tolerance`` seconds from ``now``."""
    try:
        WebhookSignatureValidator.validate(signature, request_id, data_id, secret)
    except InvalidWebhookSignatureError as exc:
        raise BadSignature(exc.reason.value) from None
    ts = next(p.split("=", 1)[1] for p in str(signature).split(",") if p.strip().startswith("ts="))
    seconds = int(ts.strip())
    if seconds > 10**11:  # some of Mercado Pago's documents show milliseconds
        seconds //= 1000
    if abs(now - seconds) > tolerance:
        raise BadSignature("TimestampOutOfTolerance")


def sign(secret: str, data_id: str, request_id: str, ts: int) -> str:
    """The ``x-signature`` Mercado Pago sends with a notification about ``data_id``."""
    manifest = f"id:{data_id};request-id:{request_id};ts:{ts};"
    digest = hmac.new(secret.encode(), manifest.encode(), hashlib.sha256).hexdigest()
    return f"ts={ts},v1={digest}"


def _mp_time(at: datetime) -> str:
    """``2026-12-31T23:59:59.000-03:00``: the form the API documents for ``date_of_expiration``."""
    local = at.astimezone(timezone(timedelta(hours=-3)))
    return local.strftime("%Y-%m-%dT%H:%M:%S.000%z")[:-2] + ":00"


class _Rebased(HttpClient):  # type: ignore[misc]
    """The SDK's own transport with another base URL: a sandbox proxy, or the tests' fake server.
    The SDK keeps its base URL private; ``http_client`` is the seam it offers."""

    def __init__(self, base: str) -> None:
        self.base = base.rstrip("/")

    def request(self, method: str, url: str, maxretries: Any = None, retry_on: Any = None,
                backoff_factor: Any = None, **kwargs: Any) -> Any:  # fmt: skip
        if url.startswith(MP_API):
            url = self.base + url[len(MP_API) :]
        return super().request(method, url, maxretries, retry_on, backoff_factor, **kwargs)


class MercadoPago:
    """PIX through Mercado Pago's official SDK (synchronous: run off the event loop)."""

    name = "mercadopago"

    def __init__(self, access_token: str, api_url: str | None = None, timeout: float = 10.0,
                 attempts: int = 3) -> None:  # fmt: skip
        client = _Rebased(api_url) if api_url else None
        self.sdk = mercadopago.SDK(access_token, http_client=client)
        self.timeout = timeout
        self.attempts = attempts

    def _options(self, key: str | None = None) -> RequestOptions:
        # Per-call options replace the SDK's defaults entirely: the timeout is set each time.
        headers = {"x-idempotency-key": key} if key else None
        return RequestOptions(connection_timeout=self.timeout, custom_headers=headers, max_retries=2)

    async def _call(self, what: str, fn: Any, *args: Any) -> dict[str, Any]:
        """One SDK call with retries on outages; the body of a 2xx answer."""
        delay = 0.5
        for attempt in range(self.attempts):
            try:
                result = await asyncio.to_thread(fn, *args)
            except Exception as exc:  # requests' and urllib3's errors: no answer
                failure: str = f"{type(exc).__name__}: {exc}"
            else:
                status = int(result.get("status") or 0)
                if 200 <= status < 300:
                    return dict(result.get("response") or {})
                if status in (404,):
                    return {}
                if status != 429 and status < 500:
                    raise ProviderRefused(f"{what}: {status} {json.dumps(result.get('response'))[:300]}")
                failure = f"{status}"
            log.warning(
                "mercado pago %s failed (%s), attempt %d of %d", what, failure, attempt + 1, self.attempts
            )
            if attempt + 1 < self.attempts:
                await asyncio.sleep(delay)
                delay *= 2
        raise ProviderUnavailable(f"mercado pago {what}: {failure}")

    async def create(self, charge: NewCharge) -> IssuedCharge:
        """``POST /v1/payments`` with ``payment_method_id: pix``; a retry reuses the key, so
        Mercado Pago returns the payment it made the first time."""
        body = {
            # The API takes a JSON number; two decimals written from integer cents.
            "transaction_amount": float(Decimal(decimal_text(charge.amount_cents))),
            "payment_method_id": "pix",
            "description": charge.description,
            "external_reference": charge.reference,
            "date_of_expiration": _mp_time(charge.expires_at),
            "payer": {"email": charge.payer_email},
        }
        options = self._options(charge.idempotency_key)
        answer = await self._call("create", self.sdk.payment().create, body, options)
        if not answer:
            raise ProviderRefused("create: no payment in the answer")
        data = (answer.get("point_of_interaction") or {}).get("transaction_data") or {}
        return IssuedCharge(str(answer["id"]), str(answer.get("status")), str(data.get("qr_code") or ""),
                            data.get("ticket_url"))  # fmt: skip

    async def payment(self, payment_id: str) -> ProviderPayment | None:
        """``GET /v1/payments/{id}``."""
        answer = await self._call("get", self.sdk.payment().get, payment_id, self._options())
        if not answer:
            return None
        return ProviderPayment(
            id=str(answer["id"]), status=str(answer.get("status")), amount=str(answer.get("transaction_amount")),
            currency=str(answer.get("currency_id")), external_reference=answer.get("external_reference"),
        )  # fmt: skip


class Simulator:
    """A provider with no account, for ``make run``: its ledger is a table of billing's, its PIX
    codes are valid BR Codes, and a payment is made by ``pay``, which then sends a signed
    notification to the webhook route, exactly as Mercado Pago would."""

    name = "simulator"

    def __init__(self, sessions: async_sessionmaker[AsyncSession], pix_key: str, merchant: str, city: str,
                 webhook_url: str, secret: str) -> None:  # fmt: skip
        self.sessions = sessions
        self.pix_key, self.merchant, self.city = pix_key, merchant, city
        self.webhook_url = webhook_url
        self.secret = secret
        self.sending: set[asyncio.Task[bool]] = set()

    async def create(self, charge: NewCharge) -> IssuedCharge:
        """A pending payment, once per idempotency key."""
        async with self.sessions.begin() as s:
            await s.execute(
                insert(SimulatedPaymentRow)
                .values(idempotency_key=charge.idempotency_key, external_reference=charge.reference,
                        amount_cents=charge.amount_cents, status="pending", qr_code="",
                        date_of_expiration=charge.expires_at)
                .on_conflict_do_nothing()
            )  # fmt: skip
            row = await s.scalar(
                select(SimulatedPaymentRow).where(
                    SimulatedPaymentRow.idempotency_key == charge.idempotency_key
                )
            )
            assert row is not None
            if not row.qr_code:
                row.qr_code = pix.brcode(
                    self.pix_key, self.merchant, self.city, row.amount_cents, f"ZG{row.id}"
                )
            return IssuedCharge(str(row.id), row.status, row.qr_code, None)

    async def payment(self, payment_id: str) -> ProviderPayment | None:
        """The simulated payment, as ``GET /v1/payments/{id}`` would show it."""
        if not payment_id.isdigit():
            return None
        async with self.sessions() as s:
            row = await s.get(SimulatedPaymentRow, int(payment_id))
        if row is None:
            return None
        return ProviderPayment(
            str(row.id), row.status, decimal_text(row.amount_cents), "BRL", row.external_reference
        )

    async def pay(self, payment_id: str, now: datetime) -> bool:
        """The payer paid: approve, then notify the webhook route (in the background, retried
        as Mercado Pago retries). False if there is no such pending payment."""
        async with self.sessions.begin() as s:
            result = await s.execute(
                update(SimulatedPaymentRow)
                .where(SimulatedPaymentRow.id == int(payment_id), SimulatedPaymentRow.status == "pending")
                .values(status="approved", date_approved=now)
            )
            if not result.rowcount:  # type: ignore[attr-defined]
                return False
        task = asyncio.create_task(self.notify(payment_id))
        self.sending.add(task)
        task.add_done_callback(self.sending.discard)
        return True

    async def notify(self, payment_id: str, attempts: int = 8) -> bool:
        """POST one signed ``payment.updated`` notification until the route answers 2xx."""
        request_id = secrets.token_hex(16)
        body = {
            "id": int(time.time() * 1000), "live_mode": False, "type": "payment", "action": "payment.updated",
            "date_created": datetime.now(UTC).isoformat(), "user_id": 0, "api_version": "v1",
            "data": {"id": payment_id},
        }  # fmt: skip
        delay = 0.5
        async with httpx.AsyncClient(timeout=22.0) as client:
            for _ in range(attempts):
                headers = {"x-request-id": request_id,
                           "x-signature": sign(self.secret, payment_id, request_id, int(time.time()))}  # fmt: skip
                try:
                    answer = await client.post(
                        self.webhook_url, params={"data.id": payment_id, "type": "payment"}, json=body,
                        headers=headers,
                    )  # fmt: skip
                    if answer.is_success:
                        return True
                    log.warning("simulated notification of %s answered %d", payment_id, answer.status_code)
                except httpx.HTTPError as exc:
                    log.warning("simulated notification of %s failed: %s", payment_id, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
        return False

    async def close(self) -> None:
        """Wait a moment for notifications in flight."""
        if self.sending:
            await asyncio.wait(self.sending, timeout=5)
