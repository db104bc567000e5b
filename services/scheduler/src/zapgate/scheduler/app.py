"""Scheduler wiring: the API it answers over NATS, the event follower and the dispatcher."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from typing import Any

from nats.aio.subscription import Subscription

from zapgate.common import broker, rpc, subjects
from zapgate.common import clock as clocks
from zapgate.common.clock import Clock
from zapgate.common.db import make_sessionmaker
from zapgate.common.service import Service
from zapgate.scheduler.adapters.campaign_store import CampaignStore
from zapgate.scheduler.adapters.campaigns import CampaignRunner
from zapgate.scheduler.adapters.dispatch import Dispatcher, Limits
from zapgate.scheduler.adapters.store import Store
from zapgate.scheduler.handlers.api import Api
from zapgate.scheduler.handlers.campaigns import CampaignApi
from zapgate.scheduler.handlers.events import EventFollower
from zapgate.scheduler.settings import Settings


class Scheduler(Service):
    """The scheduler process: any number of replicas share its work."""

    name = "scheduler"

    def __init__(self, settings: Settings, clock: Clock | None = None, dispatch: bool = True) -> None:
        super().__init__(settings)
        self.settings: Settings = settings
        if clock is None:
            clock = (
                clocks.offset_file(settings.scheduler_clock_file)
                if settings.scheduler_clock_file
                else clocks.real
            )
        self.clock = clock
        self._api_sub: Subscription | None = None
        self._events: EventFollower | None = None
        self._dispatch: asyncio.Task[None] | None = None
        self.dispatcher: Dispatcher | None = None
        self.campaigns: CampaignRunner | None = None
        self._run_dispatch = dispatch

    async def _send(
        self, tenant: str, session: str, message: dict[str, Any], key: str, message_id: str
    ) -> str:
        """Through the gateway's send path: the same checks, history and events as a REST send."""
        result = await rpc.call(
            self.nc, subjects.service_api("gateway"), "messages.send", tenant,
            {"session": session, "message": message, "idempotency_key": key, "message_id": message_id},
            wait=self.settings.scheduler_rpc_timeout,
        )  # fmt: skip
        return str(result["status"])

    async def on_start(self) -> None:
        """Serve the API, follow events, start dispatching."""
        await broker.ensure_topology(self.js, self.settings)
        store = Store(make_sessionmaker(self.engine))
        api = Api(store, self.clock, self.settings.scheduler_catchup_seconds)
        campaign_api = CampaignApi(store, CampaignStore(make_sessionmaker(self.engine)), self.clock)
        ops = {**api.ops(), **campaign_api.ops()}
        self._api_sub = await rpc.serve(self.nc, subjects.service_api(self.name), self.name, ops)
        self._events = EventFollower(self.js, store)
        await self._events.start()
        limits = Limits(
            claim_batch=self.settings.scheduler_claim_batch,
            send_batch=self.settings.scheduler_send_batch,
            deliver_within=timedelta(seconds=self.settings.scheduler_deliver_within),
        )
        self.dispatcher = Dispatcher(make_sessionmaker(self.engine), self._send, self.clock, limits)
        self.campaigns = CampaignRunner(
            make_sessionmaker(self.engine), self.dispatcher, self.js, self.clock, self.settings.scheduler_tick
        )
        if self._run_dispatch:
            self._dispatch = asyncio.create_task(
                self.dispatcher.run(self.settings.scheduler_tick, self.campaigns.run_pass), name="dispatch"
            )

    async def on_stop(self) -> None:
        """Stop taking work; a pass in flight rolls back and another replica takes it."""
        if self._api_sub is not None:
            with contextlib.suppress(Exception):
                await self._api_sub.unsubscribe()
        if self._dispatch is not None:
            self._dispatch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._dispatch
        if self._events is not None:
            await self._events.stop()


def create_app(settings: Settings, clock: Clock | None = None, dispatch: bool = True) -> Scheduler:
    """Build the scheduler from its settings; tests pass a clock, and may drive the dispatcher's
    passes themselves (``dispatch=False``)."""
    return Scheduler(settings, clock, dispatch)
