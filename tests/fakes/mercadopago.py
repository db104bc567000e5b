"""A fake of Mercado Pago's payments API and its webhook notifications, for tests only.

It keeps to the real wire format as the official SDK and Mercado Pago's documents show it:
``POST /v1/payments`` (Bearer token, ``X-Idempotency-Key`` required, the same key answers the
same payment), ``GET``/``PUT /v1/payments/{id}``, PIX payments with
``point_of_interaction.transaction_data.{qr_code, qr_code_base64, ticket_url}``, and
notifications ``{type: "payment", action, data: {id}}`` sent with ``?data.id=&type=payment``,
``x-request-id`` and ``x-signature: ts=<s>,v1=<HMAC-SHA256 of the manifest>``. It can answer
slowly, with 5xx, lose its answer after acting, and notify several times.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from zapgate.billing.domain import pix

TOKEN = "TEST-0000000000000000-120100-00000000000000000000000000000000-000000000"
SECRET = "fake-mercadopago-webhook-secret"


@dataclass
class Faults:
    """What the next requests do instead of answering at once."""

    delay: float = 0.0
    answer: list[int] = field(default_factory=list)
    """Statuses the next requests answer with (and do nothing)."""
    lose_answers: int = 0
    """Requests that act, then answer 500 as if the answer was lost on the way."""


class FakeMercadoPago:
    """The fake server, in a thread of its own."""

    def __init__(self, token: str = TOKEN, secret: str = SECRET) -> None:
        self.token, self.secret = token, secret
        self.payments: dict[int, dict[str, Any]] = {}
        self.by_key: dict[str, int] = {}
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.faults = Faults()
        self.ids = itertools.count(1_300_000_001)
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self, method: str) -> None:
                size = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(size) if size else b""
                status, body = fake.handle(method, self.path, dict(self.headers.items()), raw)
                self._answer(status, body)

            def do_GET(self) -> None:
                self._handle("GET")

            def do_POST(self) -> None:
                self._handle("POST")

            def do_PUT(self) -> None:
                self._handle("PUT")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # ------------------------------------------------------------ the API

    def handle(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, Any]:
        headers = {k.lower(): v for k, v in headers.items()}
        self.requests.append((method, path, headers))
        if self.faults.delay:
            time.sleep(self.faults.delay)
        if headers.get("authorization") != f"Bearer {self.token}":
            return 401, {
                "message": "invalid access token",
                "error": "unauthorized",
                "status": 401,
                "cause": [],
            }
        with self.lock:
            if self.faults.answer:
                status = self.faults.answer.pop(0)
                return status, {
                    "message": "internal_error",
                    "error": "internal_error",
                    "status": status,
                    "cause": [],
                }
            status, body = self._act(method, path.split("?")[0], headers, raw)
            if self.faults.lose_answers:
                self.faults.lose_answers -= 1
                return 500, {
                    "message": "internal_error",
                    "error": "internal_error",
                    "status": 500,
                    "cause": [],
                }
            return status, body

    def _act(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, Any]:
        if method == "POST" and path == "/v1/payments":
            return self._create(headers, raw)
        if path.startswith("/v1/payments/"):
            tail = path.rsplit("/", 1)[1]
            payment = self.payments.get(int(tail)) if tail.isdigit() else None
            if payment is None:
                return 404, {"message": "Payment not found", "error": "not_found", "status": 404, "cause": []}
            if method == "PUT":
                change = json.loads(raw or b"{}")
                if change.get("status") == "cancelled" and payment["status"] in ("pending", "in_process"):
                    payment["status"] = "cancelled"
            return 200, payment
        return 404, {"message": "not found", "error": "not_found", "status": 404, "cause": []}

    def _create(self, headers: dict[str, str], raw: bytes) -> tuple[int, Any]:
        key = headers.get("x-idempotency-key")
        if not key or not 1 <= len(key) <= 64:
            return 400, {"message": "header X-Idempotency-Key is required", "error": "bad_request", "status": 400,
                         "cause": [{"code": 4292, "description": "Header X-Idempotency-Key can't be null"}]}  # fmt: skip
        if key in self.by_key:
            return 201, self.payments[self.by_key[key]]
        body = json.loads(raw, parse_float=Decimal)
        amount = body.get("transaction_amount")
        if body.get("payment_method_id") != "pix" or not isinstance(amount, Decimal | int) or amount <= 0:
            return 400, {"message": "invalid parameters", "error": "bad_request", "status": 400, "cause": []}
        if not (body.get("payer") or {}).get("email"):
            return 400, {
                "message": "payer.email is required",
                "error": "bad_request",
                "status": 400,
                "cause": [],
            }
        payment_id = next(self.ids)
        cents = int(Decimal(amount) * 100)
        code = pix.brcode("fake-mp@example.com", "MERCADO PAGO FAKE", "SAO PAULO", cents, f"MP{payment_id}")
        self.payments[payment_id] = {
            "id": payment_id, "status": "pending", "status_detail": "pending_waiting_transfer",
            "payment_method_id": "pix", "payment_type_id": "bank_transfer", "currency_id": "BRL",
            "transaction_amount": float(amount), "description": body.get("description"),
            "external_reference": body.get("external_reference"),
            "date_created": datetime.now(UTC).isoformat(), "date_approved": None,
            "date_of_expiration": body.get("date_of_expiration"), "live_mode": False,
            "payer": {"email": body["payer"]["email"]},
            "point_of_interaction": {"type": "OPENPLATFORM", "transaction_data": {
                "qr_code": code, "qr_code_base64": base64.b64encode(code.encode()).decode(),
                "ticket_url": f"https://www.mercadopago.com.br/payments/{payment_id}/ticket?caller_id=0",
            }},
        }  # fmt: skip
        self.by_key[key] = payment_id
        return 201, self.payments[payment_id]

    # ------------------------------------------------------------ the payer and the webhook

    def approve(self, payment_id: int | str, amount: float | None = None) -> None:
        """The payer paid (``amount``: a payment that does not match its charge)."""
        with self.lock:
            payment = self.payments[int(payment_id)]
            payment["status"], payment["status_detail"] = "approved", "accredited"
            payment["date_approved"] = datetime.now(UTC).isoformat()
            if amount is not None:
                payment["transaction_amount"] = amount

    def notification(self, payment_id: int | str, request_id: str | None = None, ts: int | None = None,
                     secret: str | None = None) -> tuple[dict[str, str], dict[str, str], dict[str, Any]]:  # fmt: skip
        """(query, headers, body) of a signed ``payment.updated`` notification."""
        data_id = str(payment_id)
        request_id = request_id or secrets.token_hex(16)
        ts = int(time.time()) if ts is None else ts
        manifest = f"id:{data_id};request-id:{request_id};ts:{ts};"
        digest = hmac.new((secret or self.secret).encode(), manifest.encode(), hashlib.sha256).hexdigest()
        headers = {"x-request-id": request_id, "x-signature": f"ts={ts},v1={digest}"}
        body = {"id": next(self.ids), "live_mode": False, "type": "payment", "action": "payment.updated",
                "date_created": datetime.now(UTC).isoformat(), "user_id": 123456, "api_version": "v1",
                "data": {"id": data_id}}  # fmt: skip
        return {"data.id": data_id, "type": "payment"}, headers, body

    def notify(
        self, webhook_url: str, payment_id: int | str, times: int = 1, **kw: Any
    ) -> list[httpx.Response]:
        """Deliver the same notification ``times`` times (Mercado Pago retries)."""
        query, headers, body = self.notification(payment_id, **kw)
        return [
            httpx.post(webhook_url, params=query, headers=headers, json=body, timeout=30)
            for _ in range(times)
        ]
