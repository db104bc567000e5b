"""Billing wiring: plans and subscriptions over NATS, metering, the lifecycle, entitlements."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import secrets
from datetime import datetime, timedelta

from nats.aio.subscription import Subscription

from zapgate.billing.adapters.alerts import Alerts
from zapgate.billing.adapters.charge_store import ChargeStore
from zapgate.billing.adapters.entitlements import Publisher, open_bucket
from zapgate.billing.adapters.payments import MercadoPago, Provider, Simulator
from zapgate.billing.adapters.store import Store
from zapgate.billing.domain import lifecycle
from zapgate.billing.domain.entitlements import entitlements
from zapgate.billing.handlers.api import Api
from zapgate.billing.handlers.events import Meter
from zapgate.billing.handlers.payments import Payments
from zapgate.billing.settings import Settings
from zapgate.common import broker, rpc, subjects
from zapgate.common import clock as clocks
from zapgate.common.clock import Clock
from zapgate.common.db import make_sessionmaker
from zapgate.common.service import Service

log = logging.getLogger(__name__)


class Billing(Service):
    """The billing process."""

    name = "billing"

    def __init__(self, settings: Settings, clock: Clock | None = None, background: bool = True) -> None:
        super().__init__(settings)
        self.settings: Settings = settings
        if clock is None:
            clock = (
                clocks.offset_file(settings.billing_clock_file)
                if settings.billing_clock_file
                else clocks.real
            )
        self.clock = clock
        self.grace = timedelta(days=settings.billing_grace_days)
        self._background = background
        self._tasks: list[asyncio.Task[None]] = []
        self._api_sub: Subscription | None = None
        self.meter: Meter | None = None
        self.publisher: Publisher | None = None
        self.store: Store | None = None
        self.api: Api | None = None
        self.provider: Provider | None = None
        self.payments: Payments | None = None
        self.alerts: Alerts | None = None

    def changed(self, tenant: str | None) -> None:
        """A tenant's entitlements changed (None: every tenant's, a plan changed)."""
        if self.publisher is not None:
            self.publisher.dirty.add(tenant or "*")

    async def on_start(self) -> None:
        """Seed the default plan, serve the API, meter, run the lifecycle and publish."""
        await broker.ensure_topology(self.js, self.settings)
        self.store = store = Store(make_sessionmaker(self.engine))
        default = await store.ensure_default_plan(
            self.settings.billing_default_plan,
            self.settings.billing_default_price_cents,
            self.settings.billing_trial_days,
        )
        self.publisher = Publisher(await open_bucket(self.js, self.settings.nats_replicas))
        self.alerts = Alerts(store.sessions, self.js)
        self.api = api = Api(store, self.clock, self.settings.billing_grace_days, self.changed)
        api.default = default
        self.provider = provider = self._provider()
        self.payments = payments = Payments(
            api, ChargeStore(store.sessions), provider, self._webhook_secret(), self.settings.billing_webhook_tolerance,
            self.settings.billing_charge_hours, self.settings.billing_payer_email,
        )  # fmt: skip
        ops = {**api.ops(), **payments.ops()}
        self._api_sub = await rpc.serve(self.nc, subjects.service_api(self.name), self.name, ops)
        if self.settings.billing_metering:
            self.meter = Meter(self.js, store, self.clock, lambda t: api.ensure(t, {}), self.changed)
            await self.meter.start()
        if self._background:
            self._tasks = [
                asyncio.create_task(
                    self._every(self.settings.billing_tick, self.lifecycle_pass), name="lifecycle"
                ),
                asyncio.create_task(
                    self._every(self.settings.billing_publish_interval, self.publish_pass), name="publish"
                ),
            ]

    def _webhook_secret(self) -> str:
        """The secret notifications are signed with: configured, or (simulator) derived from the
        deployment's key so every replica agrees."""
        if self.settings.billing_webhook_secret is not None:
            return self.settings.billing_webhook_secret.get_secret_value()
        if self.settings.secret_key is not None:
            key = self.settings.secret_key.get_secret_value().encode()
            return hmac.new(key, b"zapgate billing simulator webhook", hashlib.sha256).hexdigest()
        log.warning(
            "no ZAPGATE_BILLING_WEBHOOK_SECRET nor ZAPGATE_SECRET_KEY: a random one (one replica only)"
        )
        return secrets.token_hex(32)

    def _provider(self) -> Provider:
        s = self.settings
        if s.billing_provider == "mercadopago":
            assert s.billing_mercadopago_access_token is not None
            return MercadoPago(
                s.billing_mercadopago_access_token.get_secret_value(), s.billing_mercadopago_api_url
            )
        assert self.store is not None
        url = (
            s.billing_simulator_webhook_url
            or f"http://127.0.0.1:{s.gateway_port}/api/v1/billing/webhooks/simulator"
        )
        return Simulator(self.store.sessions, s.billing_pix_key, s.billing_merchant_name, s.billing_merchant_city,
                         url, self._webhook_secret())  # fmt: skip

    async def _every(self, seconds: float, work: object) -> None:
        while True:
            try:
                await work()  # type: ignore[operator]
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("billing pass failed (%s: %s); next one", type(exc).__name__, exc)
            await asyncio.sleep(seconds)

    async def lifecycle_pass(self) -> int:
        """Move every subscription whose period ended unpaid on (past due, then suspended)."""
        assert self.store is not None
        now = self.clock()
        moved = 0
        for sub in await self.store.all_subscriptions():
            cur = lifecycle.current(
                lifecycle.Subscription(sub.status, sub.period_start, sub.period_end), now, self.grace
            )
            if cur.status == sub.status:
                continue
            # A pass that finds a period long over records each step (past due, then suspended).
            steps = (
                [lifecycle.PAST_DUE, cur.status]
                if sub.status in (lifecycle.TRIALING, lifecycle.ACTIVE)
                else [cur.status]
            )
            for status in dict.fromkeys(steps):
                await self.store.update(sub.tenant_id, f"became_{status}", {"status": status}, now)
            self.changed(sub.tenant_id)
            moved += 1
        await self.alert_pass(now)
        return moved

    async def alert_pass(self, now: datetime) -> None:
        """Record the alerts now due: the trial ending, past due, suspended, 80 % and 100 % of the
        period's messages (each once: its key names the period)."""
        assert self.store is not None and self.alerts is not None
        subs = await self.store.all_subscriptions()
        plans = {p.id: p for p in await self.store.plans()}
        sessions = await self._session_counts(
            [s.tenant_id for s in subs if plans[s.plan_id].sessions_limit is not None]
        )
        for sub in subs:
            cur = lifecycle.current(
                lifecycle.Subscription(sub.status, sub.period_start, sub.period_end), now, self.grace
            )
            plan = plans[sub.plan_id]
            details: dict[str, object] = {"plan": plan.name, "period_end": cur.period_end.isoformat(),
                       "suspends_at": (cur.period_end + self.grace).isoformat()}  # fmt: skip
            due = lifecycle.alerts_due(cur, now, self.grace)
            if plan.messages_limit is not None:
                used = await self.store.used(sub.tenant_id, sub.period_start)
                period = sub.period_start.isoformat()
                due += lifecycle.usage_alerts(used, plan.messages_limit, period, "messages")
                details |= {"limit": plan.messages_limit, "used": used}
            if plan.sessions_limit is not None and sub.tenant_id in sessions:
                count = sessions[sub.tenant_id]
                due += lifecycle.usage_alerts(
                    count, plan.sessions_limit, sub.period_start.isoformat(), "sessions"
                )
                details |= {"sessions": count, "sessions_limit": plan.sessions_limit}
            for alert in due:
                await self.alerts.add(sub.tenant_id, alert.kind, alert.key, details, now)

    async def _session_counts(self, tenants: list[str]) -> dict[str, int]:
        """Sessions of each tenant, as the gateway counts them; {} while it does not answer."""
        counts: dict[str, int] = {}
        for at in range(0, len(tenants), 1000):
            try:
                answer = await rpc.call(self.nc, subjects.service_api("gateway"), "sessions.count", "billing",
                                        {"tenants": tenants[at : at + 1000]}, 5)  # fmt: skip
            except Exception as exc:
                log.info(
                    "session counts unavailable (%s); session alerts wait for the next pass",
                    type(exc).__name__,
                )
                return {}
            counts.update({t: int(n) for t, n in answer["counts"].items()})
        return counts

    async def publish_pass(self) -> int:
        """Publish the entitlements of the tenants that changed; how many were published."""
        assert self.store is not None and self.publisher is not None
        dirty, self.publisher.dirty = self.publisher.dirty, set()
        if "*" in dirty:
            dirty = {s.tenant_id for s in await self.store.all_subscriptions()} | (dirty - {"*"})
        published = 0
        for tenant in dirty:
            sub = await self.store.subscription(tenant)
            if sub is None:
                continue
            plan = await self.store.plan(sub.plan_id)
            assert plan is not None
            status = sub.status
            if status != lifecycle.CANCELLED:
                status = lifecycle.current(
                    lifecycle.Subscription(sub.status, sub.period_start, sub.period_end),
                    self.clock(),
                    self.grace,
                ).status
            value = entitlements(
                tenant, status, plan.name, plan.sessions_limit, plan.messages_limit,
                await self.store.used(tenant, sub.period_start), sub.period_start, sub.period_end, sub.revision,
            )  # fmt: skip
            if await self.publisher.put(value):
                published += 1
            else:
                self.publisher.dirty.add(tenant)
        assert self.alerts is not None
        await self.alerts.publish(self.clock())
        return published

    async def on_stop(self) -> None:
        """Stop serving, metering and the passes."""
        if self._api_sub is not None:
            with contextlib.suppress(Exception):
                await self._api_sub.unsubscribe()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.meter is not None:
            await self.meter.stop()
        if isinstance(self.provider, Simulator):
            await self.provider.close()


def create_app(settings: Settings, clock: Clock | None = None, background: bool = True) -> Billing:
    """Build billing from its settings; tests pass a clock and may drive the passes themselves."""
    return Billing(settings, clock, background)
