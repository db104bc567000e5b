"""The simulated WhatsApp network, shared by every worker through NATS KV ``zg_simnet``.

``acct.<tenant>.<phone>`` names the connection currently registered for an account. Connecting
overwrites it; the session that held it sees the overwrite through its worker's watcher and is
kicked, as WhatsApp kicks the older connection ("StreamReplaced"). Only a live session can
notice, so ``stats.replaced`` counts real double connections, not the leftovers of a dead
process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable

from nats.js import JetStreamContext
from nats.js import api as js_api
from nats.js.api import PubAck
from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from zapgate.common import subjects
from zapgate.session_worker.tasks import cancel_until_done

log = logging.getLogger(__name__)

BUCKET = subjects.SIMNET_BUCKET
REPLACED = "stats.replaced"
REPEATS = "stats.repeats"
DEDUP_WINDOW = 600.0
"""Seconds the network remembers a WhatsApp message id (repeats inside it are dropped)."""
SUBMIT_TIMEOUT = 5.0

OnReplaced = Callable[[], Awaitable[None]]


class SimNetwork:
    """One per worker: registers its sessions' connections and watches for replacements."""

    def __init__(self, kv: KeyValue) -> None:
        self.kv = kv
        self.js: JetStreamContext | None = None
        self._local: dict[str, tuple[str, OnReplaced]] = {}
        self._task: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, js: JetStreamContext, replicas: int = 1) -> SimNetwork:
        """Create or bind the bucket and start watching it."""
        kv = await js.create_key_value(js_api.KeyValueConfig(bucket=BUCKET, history=1, replicas=replicas))
        await broker_stream(js, replicas)
        network = cls(kv)
        network.js = js
        network._task = asyncio.create_task(network._watch(), name="simnet-watch")
        return network

    async def close(self) -> None:
        """Stop watching (cancelled again if nats-py swallows it while the watch is being set up)."""
        if self._task is not None:
            await cancel_until_done([self._task], 5.0)

    async def connect(self, account: str, conn_id: str, owner: str, on_replaced: OnReplaced) -> None:
        """Register a connection of ``account``, replacing whichever was registered.

        A connection of the same account on this worker is replaced here: the watcher compares
        against this worker's own record, which the new connection overwrites.
        """
        earlier = self._local.get(account)
        self._local[account] = (conn_id, on_replaced)
        await self.kv.put(f"acct.{account}", json.dumps({"conn": conn_id, "owner": owner}).encode())
        if earlier is not None and earlier[0] != conn_id:
            log.warning(
                "account %s connected again on this worker: the earlier connection is replaced", account
            )
            await self._increment(REPLACED)
            await earlier[1]()

    async def disconnect(self, account: str, conn_id: str) -> None:
        """Remove a connection if it is still the registered one."""
        self.forget(account, conn_id)
        with contextlib.suppress(KeyNotFoundError, Exception):
            entry = await self.kv.get(f"acct.{account}")
            if entry.value and json.loads(entry.value).get("conn") == conn_id:
                await self.kv.delete(f"acct.{account}", last=entry.revision)

    async def submit(
        self, tenant: str, session: str, wa_id: str, record: dict[str, object]
    ) -> asyncio.Future[PubAck]:
        """Hand a message to its contact without waiting: messages leave in submission order.

        ``taken`` awaits the returned acknowledgement.
        """
        assert self.js is not None
        return await self.js.publish_async(
            subjects.sim_delivery(tenant, session),
            json.dumps(record).encode(),
            wait_stall=SUBMIT_TIMEOUT,
            headers={"Nats-Msg-Id": wa_id},
        )

    async def taken(self, ack: asyncio.Future[PubAck], wa_id: str) -> bool:
        """True once the network took a submitted message; False when the id was seen before
        (dropped and counted)."""
        if (await asyncio.wait_for(ack, SUBMIT_TIMEOUT)).duplicate:
            log.info("repeated message id %s dropped by the network", wa_id)
            await self._increment(REPEATS)
            return False
        return True

    def forget(self, account: str, conn_id: str) -> None:
        """Stop watching a connection at once (its session is being halted)."""
        local = self._local.get(account)
        if local is not None and local[0] == conn_id:
            del self._local[account]

    async def set_hang(self, account: str, times: int) -> None:
        """The next ``times`` connections of ``account`` hang (stop answering) once connected."""
        await self.kv.put(f"hang.{account}", str(times).encode())

    async def take_hang(self, account: str) -> bool:
        """Whether this new connection of ``account`` hangs (one of the counted ones)."""
        while True:
            try:
                entry = await self.kv.get(f"hang.{account}")
            except KeyNotFoundError:
                return False
            left = int(entry.value or b"0")
            if left <= 0:
                return False
            try:
                await self.kv.update(f"hang.{account}", str(left - 1).encode(), last=entry.revision)
                return True
            except KeyWrongLastSequenceError:
                continue

    async def replaced_count(self) -> int:
        """How many live connections were kicked by a second connection of their account."""
        try:
            entry = await self.kv.get(REPLACED)
        except KeyNotFoundError:
            return 0
        return int(entry.value or b"0")

    async def _increment(self, key: str) -> None:
        while True:
            try:
                entry = await self.kv.get(key)
                await self.kv.update(key, str(int(entry.value or b"0") + 1).encode(), last=entry.revision)
                return
            except KeyNotFoundError:
                try:
                    await self.kv.create(key, b"1")
                    return
                except KeyWrongLastSequenceError:
                    continue
            except KeyWrongLastSequenceError:
                continue

    async def _watch(self) -> None:
        while True:
            try:
                watcher = await self.kv.watch("acct.>", include_history=False)
                async for entry in watcher:
                    if entry is None or not entry.value:
                        continue
                    account = entry.key.removeprefix("acct.")
                    local = self._local.get(account)
                    if local is None or json.loads(entry.value).get("conn") == local[0]:
                        continue
                    del self._local[account]
                    log.warning("account %s connected elsewhere: this connection is replaced", account)
                    await self._increment(REPLACED)
                    await local[1]()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.debug("simnet watch interrupted: %s", exc)
                await asyncio.sleep(0.5)


SIMNET_MAX_BYTES = 256 << 20  # the simulator's inboxes, oldest dropped first


async def broker_stream(js: JetStreamContext, replicas: int = 1) -> None:
    """The deliveries stream: the contacts' inboxes, deduplicated by WhatsApp message id."""
    config = js_api.StreamConfig(
        name=subjects.SIMNET_STREAM,
        subjects=[subjects.SIM_DELIVERIES_ALL],
        retention=js_api.RetentionPolicy.LIMITS,
        storage=js_api.StorageType.FILE,
        max_age=7 * 24 * 3600.0,
        max_bytes=SIMNET_MAX_BYTES,
        duplicate_window=DEDUP_WINDOW,
        num_replicas=replicas,
    )
    try:
        await js.add_stream(config)
    except Exception:
        await js.update_stream(config)
