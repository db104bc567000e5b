"""The webhook dispatcher: ``zapgate-gateway webhooks``, a process role of the gateway package.

Two loops. The recorder follows every event with one durable consumer (``webhooks``) shared by
the replicas, and records a delivery per matching endpoint (unique per endpoint and event)
before it acknowledges the event: an event is never lost between the stream and the table,
and one given twice is recorded once. The sender claims due deliveries, each the oldest pending
one of its endpoint and session and at or below the consumer's ack floor (so a session's events
arrive in order, even when a crash or another replica records an earlier one late), leases it, and POSTs
it signed as Standard Webhooks says; each delivery is its own task, so a slow or dead endpoint
holds up only its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from nats.js import api as js_api
from standardwebhooks import Webhook

from zapgate.common import broker, subjects
from zapgate.common.crypto import CredentialCipher
from zapgate.common.db import make_sessionmaker, utcnow
from zapgate.common.ids import new_id as new_lane
from zapgate.common.messages import WebhookDisabled, encode
from zapgate.common.runtime import cancel_and_wait
from zapgate.common.service import Service
from zapgate.gateway.adapters.media import pinned, resolve
from zapgate.gateway.adapters.tables import WebhookDeliveryRow, WebhookEndpointRow
from zapgate.gateway.adapters.webhooks import WebhookStore
from zapgate.gateway.domain import webhooks
from zapgate.gateway.domain.frames import frame
from zapgate.gateway.settings import Settings

log = logging.getLogger(__name__)
logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per delivery; the table has them

DURABLE = "webhooks"
BATCH = 256
CONCURRENCY = 64
MAX_RESPONSE = 4096
REFRESH = 2.0
# An event fetched by a dispatcher that died comes again after this; until then the ack floor,
# and so every endpoint's sending, waits for it (the price of keeping a session's order).
ACK_WAIT = 10


def signatures(secrets: list[str], msg_id: str, at: datetime, body: str) -> str:
    """``webhook-signature``: one ``v1,<base64>`` per secret that signs now (a rotation: two)."""
    return " ".join(Webhook(s).sign(msg_id, at, body) for s in secrets)


class Dispatcher(Service):
    """Records and sends webhook deliveries."""

    name = "webhooks"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.settings: Settings = settings
        self.store: WebhookStore | None = None
        self.endpoints: list[WebhookEndpointRow] = []
        self._refreshed = 0.0
        self._tasks: list[asyncio.Task[None]] = []
        self._sending: dict[str, asyncio.Task[None]] = {}
        self._runs: dict[str, list[str]] = {}
        self._secret_cache: dict[tuple[str, datetime, bool], list[str]] = {}
        self._slots = asyncio.Semaphore(CONCURRENCY)
        self._wake = asyncio.Event()
        self._stopping = False
        self.client = httpx.AsyncClient(follow_redirects=False, timeout=settings.webhook_timeout)

    async def on_start(self) -> None:
        """Bind the consumer and start both loops."""
        await broker.ensure_topology(self.js, self.settings)
        key = self.settings.secret_key
        cipher = CredentialCipher(key.get_secret_value()) if key is not None else None
        self.store = WebhookStore(make_sessionmaker(self.engine), cipher)
        config = js_api.ConsumerConfig(
            durable_name=DURABLE, ack_policy=js_api.AckPolicy.EXPLICIT, deliver_policy=js_api.DeliverPolicy.NEW,
            filter_subject=subjects.EVENTS_ALL, ack_wait=ACK_WAIT, max_ack_pending=10_000,
        )  # fmt: skip
        sub = await self.js.pull_subscribe(
            subjects.EVENTS_ALL, durable=DURABLE, stream=subjects.EVENTS_STREAM, config=config
        )
        self._tasks = [
            asyncio.create_task(self._record(sub), name="webhooks-record"),
            asyncio.create_task(self._send_loop(), name="webhooks-send"),
        ]

    async def on_stop(self) -> None:
        """Stop both loops; deliveries in flight keep their lease and are retried after it."""
        self._stopping = True  # the loops end even if a cancellation is lost in a timed wait
        await cancel_and_wait(*self._tasks, *self._sending.values())
        await self.client.aclose()

    # ------------------------------------------------------------ recording

    async def _live(self) -> list[WebhookEndpointRow]:
        assert self.store is not None
        if time.monotonic() - self._refreshed > REFRESH:
            self.endpoints = await self.store.live()
            self._refreshed = time.monotonic()
        return self.endpoints

    async def _record(self, sub: Any) -> None:
        assert self.store is not None
        while not self._stopping:
            msgs: list[Any] = []
            try:
                msgs = await broker.fetch_ready(sub, BATCH)
                if not msgs:
                    continue
                endpoints = await self._live()
                rows = [d for m in msgs for d in webhooks.deliveries_of(frame(m), endpoints)]
                if rows:
                    await self.store.record(rows)
                await asyncio.gather(*(m.ack() for m in msgs), return_exceptions=True)
                if rows:
                    # The sender goes by the consumer's ack floor: let the acks reach the server first.
                    await self.nc.flush(timeout=5)
                    self._wake.set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # Given back at once (another replica may record them; the ack floor, and so all
                # sending, waits for them), or after ack_wait if the nak is lost. Recorded once.
                log.warning("webhook events not recorded (%s: %s); they come again", type(exc).__name__, exc)
                await asyncio.gather(*(m.nak() for m in msgs), return_exceptions=True)
                await asyncio.sleep(1)

    # ------------------------------------------------------------ sending

    async def _send_loop(self) -> None:
        assert self.store is not None
        while not self._stopping:
            try:
                free = CONCURRENCY - len(self._sending)
                busy = {i for run in self._runs.values() for i in run}
                claimed = await self.store.claim(free, busy, await self._floor()) if free > 0 else []
                for endpoint, run in claimed:
                    key = new_lane()
                    self._runs[key] = [d.id for d in run]
                    self._sending[key] = asyncio.create_task(self._deliver_run(key, endpoint, run))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("webhook claim failed (%s: %s); next pass", type(exc).__name__, exc)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), 0.25)

    async def _floor(self) -> int:
        """The stream sequence up to which every event has been recorded: the shared consumer's
        ack floor (an event is acknowledged only after its deliveries are in the table)."""
        info = await self.js.consumer_info(subjects.EVENTS_STREAM, DURABLE)
        return int(info.ack_floor.stream_seq if info.ack_floor is not None else 0)

    async def _deliver_run(
        self, key: str, endpoint: WebhookEndpointRow, run: list[WebhookDeliveryRow]
    ) -> None:
        """A session's deliveries to one endpoint, in order; the first that fails stops the run
        (its retry holds the later ones back), and the rest are released at once."""
        assert self.store is not None
        outcomes: list[tuple[str, dict[str, Any]]] = []
        try:
            for n, delivery in enumerate(run):
                values, ok = await self._attempt(endpoint, delivery)
                outcomes.append((delivery.id, values))
                if not ok:
                    outcomes += [(d.id, {"next_at": utcnow()}) for d in run[n + 1 :]]
                    break
            await self.store.finish_many(outcomes)
        except Exception as exc:
            log.warning(
                "webhook deliveries of %s not finished (%s); retried after their lease", endpoint.id, exc
            )
        finally:
            self._sending.pop(key, None)
            self._runs.pop(key, None)
            self._wake.set()

    async def _attempt(
        self, endpoint: WebhookEndpointRow, delivery: WebhookDeliveryRow
    ) -> tuple[dict[str, Any], bool]:
        """One delivery's attempt: the row's new values, and whether it was delivered."""
        status, error, retry_after, latency = await self.post(endpoint, delivery.event_id, delivery.body)
        attempts = delivery.attempts + 1
        verdict = webhooks.verdict(status, retry_after)
        values: dict[str, Any] = {"attempts": attempts, "response_status": status, "latency_ms": latency,
                                  "last_error": error}  # fmt: skip
        if verdict.delivered:
            return values | {"status": "succeeded", "delivered_at": utcnow()}, True
        wait = webhooks.delay(attempts)
        if verdict.disable or wait is None:
            values["status"] = "failed"
            reason = "410 Gone" if verdict.disable else f"failed {attempts} times: {error or status}"
            await self._disable(endpoint, reason)
        else:
            values["next_at"] = utcnow() + max(wait, timedelta(seconds=verdict.wait))
        return values, False

    def _secrets(self, endpoint: WebhookEndpointRow, now: datetime) -> list[str]:
        """The endpoint's signing secrets, decrypted once per version of the endpoint."""
        assert self.store is not None
        key = (
            endpoint.id,
            endpoint.updated_at,
            endpoint.previous_until is not None and now < endpoint.previous_until,
        )
        found = self._secret_cache.get(key)
        if found is None:
            if len(self._secret_cache) > 10_000:
                self._secret_cache.clear()
            found = self._secret_cache[key] = self.store.secrets(endpoint, now)
        return found

    async def post(
        self, endpoint: WebhookEndpointRow, msg_id: str, body: str
    ) -> tuple[int | None, str | None, str | None, int]:
        """One signed POST: (status or None, error, Retry-After, milliseconds)."""
        assert self.store is not None
        started = time.monotonic()
        now = datetime.now(UTC)
        headers = {
            "content-type": "application/json", "user-agent": "zapgate-webhooks",
            "webhook-id": msg_id, "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": signatures(self._secrets(endpoint, now), msg_id, now, body),
        }  # fmt: skip
        host = urlsplit(endpoint.url).hostname or ""
        try:
            # Connected to the address that was checked (pinned), so a name that resolves
            # elsewhere the next time (DNS rebinding) cannot send the request inside.
            address = await resolve(endpoint.url, self.settings.webhook_allow_private)
            target, host_header, extensions = pinned(endpoint.url, address)
            async with (
                self._slots,
                self.client.stream(
                    "POST", target, content=body, headers={**headers, **host_header}, extensions=extensions
                ) as answer,
            ):
                read = 0
                async for chunk in answer.aiter_bytes():
                    read += len(chunk)
                    if read >= MAX_RESPONSE:
                        break  # the rest of a response is never read: a huge one costs nothing
                status = answer.status_code
                retry_after = answer.headers.get("retry-after")
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"[:300] or type(exc).__name__
            log.info("webhook %s to %s failed: %s", msg_id, host, reason)
            return None, reason, None, int((time.monotonic() - started) * 1000)
        error = None if 200 <= status < 300 else f"HTTP {status}"
        return status, error, retry_after, int((time.monotonic() - started) * 1000)

    async def _disable(self, endpoint: WebhookEndpointRow, reason: str) -> None:
        assert self.store is not None
        disabled = await self.store.disable(endpoint.id, reason)
        if disabled is None:
            return
        log.warning("webhook endpoint %s disabled: %s", endpoint.id, reason)
        self._refreshed = 0.0
        if disabled.tenant_id is not None:
            event = WebhookDisabled(
                tenant=disabled.tenant_id, endpoint_id=disabled.id, url=disabled.url, reason=reason
            )
            with contextlib.suppress(Exception):
                await self.js.publish(
                    subjects.tenant_event(disabled.tenant_id, event.type), encode(event),
                    headers={"Nats-Msg-Id": f"webhook-disabled:{disabled.id}:{disabled.updated_at.isoformat()}"},
                )  # fmt: skip


def create_dispatcher(settings: Settings) -> Dispatcher:
    """The dispatcher of ``settings`` (tests pass theirs)."""
    return Dispatcher(settings)
