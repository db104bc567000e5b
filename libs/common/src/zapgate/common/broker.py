"""NATS connection and the JetStream topology of the design, created idempotently at start-up."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Any

import nats
import nats.errors
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js import api as js_api
from nats.js.errors import APIError, BadRequestError, NotFoundError

from zapgate.common import subjects
from zapgate.common.settings import CommonSettings

log = logging.getLogger(__name__)

DUPLICATE_WINDOW = 120.0
DLQ_MAX_AGE = 30 * 24 * 3600.0
COMMANDS_MAX_AGE = 7 * 24 * 3600.0
MAX_COMMAND_SIZE = 1024 * 1024


async def connect(settings: CommonSettings, name: str, **callbacks: Any) -> NATS:
    """Connect to NATS, reconnecting forever; pings every few seconds so a dead link shows fast.

    ``callbacks`` (and any other nats.connect option) override the defaults."""

    async def _error(exc: Exception) -> None:
        log.warning("nats error: %s", exc)

    async def _disconnected() -> None:
        log.warning("nats disconnected")

    async def _reconnected() -> None:
        log.info("nats reconnected")

    options: dict[str, Any] = {
        "error_cb": _error,
        "disconnected_cb": _disconnected,
        "reconnected_cb": _reconnected,
        "allow_reconnect": True,
        "max_reconnect_attempts": -1,
        "reconnect_time_wait": 0.5,
        # nats-py's default is 120 s: a dead connection would go unnoticed for minutes.
        "ping_interval": max(1, int(settings.lease_ttl / 3)),
        "max_outstanding_pings": 2,
    }
    if settings.nats_user:
        # Its own inbox: its user may subscribe to no other (deploy/k8s/base/nats-auth.conf).
        options["user"] = settings.nats_user
        options["inbox_prefix"] = subjects.inbox_prefix(settings.nats_user)
        if settings.nats_password is not None:
            options["password"] = settings.nats_password.get_secret_value()
    options.update(callbacks)
    return await nats.connect(
        servers=settings.nats_servers,
        name=f"{name}@{settings.worker_id}",
        connect_timeout=int(max(1, settings.nats_connect_timeout)),
        **options,
    )


def stream_configs(settings: CommonSettings) -> list[js_api.StreamConfig]:
    """The streams of the design: commands (work queue), events (limits), dead letters.

    Each is bounded in bytes and age. Commands refuse new messages when full (the publisher
    gets an error and answers 503), so nothing accepted is dropped; events and dead letters
    lose their oldest first.
    """
    return [
        js_api.StreamConfig(
            name=subjects.COMMANDS_STREAM,
            subjects=[subjects.COMMANDS_ALL],
            retention=js_api.RetentionPolicy.WORK_QUEUE,
            storage=js_api.StorageType.FILE,
            duplicate_window=DUPLICATE_WINDOW,
            max_age=COMMANDS_MAX_AGE,
            max_msg_size=MAX_COMMAND_SIZE,
            max_bytes=settings.commands_max_bytes,
            discard=js_api.DiscardPolicy.NEW,
            num_replicas=settings.nats_replicas,
        ),
        js_api.StreamConfig(
            name=subjects.EVENTS_STREAM,
            subjects=[subjects.EVENTS_ALL],
            retention=js_api.RetentionPolicy.LIMITS,
            storage=js_api.StorageType.FILE,
            duplicate_window=DUPLICATE_WINDOW,
            max_age=settings.events_max_age,
            max_bytes=settings.events_max_bytes,
            discard=js_api.DiscardPolicy.OLD,
            num_replicas=settings.nats_replicas,
        ),
        js_api.StreamConfig(
            name=subjects.DLQ_STREAM,
            subjects=[subjects.DLQ_ALL],
            retention=js_api.RetentionPolicy.LIMITS,
            storage=js_api.StorageType.FILE,
            max_age=DLQ_MAX_AGE,
            max_bytes=settings.dlq_max_bytes,
            discard=js_api.DiscardPolicy.OLD,
            num_replicas=settings.nats_replicas,
        ),
    ]


async def _ensure_stream(js: JetStreamContext, config: js_api.StreamConfig) -> None:
    assert config.name is not None
    try:
        await js.stream_info(config.name)
    except NotFoundError:
        await js.add_stream(config)
        log.info("created stream %s", config.name)
        return
    await js.update_stream(config)


async def _ensure_kv(js: JetStreamContext, bucket: str, ttl: float, replicas: int = 1) -> None:
    config = js_api.KeyValueConfig(
        bucket=bucket,
        history=1,
        ttl=ttl,
        storage=js_api.StorageType.FILE,
        replicas=replicas,
        # An expired key leaves a marker, so watchers see expiry as a delete.
        limit_marker_ttl=max(1.0, ttl),
    )
    try:
        await js.create_key_value(config)
        return
    except BadRequestError:
        pass  # exists with another TTL (settings changed): update the stream in place
    stream = f"KV_{bucket}"
    info = await js.stream_info(stream)
    updated = dataclasses.replace(
        info.config,
        max_age=ttl,
        duplicate_window=min(DUPLICATE_WINDOW, ttl),
        subject_delete_marker_ttl=max(1.0, ttl),
        num_replicas=replicas,
    )
    await js.update_stream(updated)
    log.info("updated bucket %s to ttl=%ss", bucket, ttl)


INSUFFICIENT_STORAGE = 10047


class StorageTooSmall(RuntimeError):
    """nats-server cannot reserve the stores' max_bytes on its disk."""


TOPOLOGY_ATTEMPTS = 5


async def ensure_topology(js: JetStreamContext, settings: CommonSettings) -> None:
    """Create or update every stream, KV bucket and object store; safe to call from every replica.

    On a cluster, replicas starting together queue their creates behind the meta leader's and a
    request can time out while the stream is being placed: each step is idempotent, so it is tried
    again (a few times, a second apart) rather than failing the service's start.
    """
    try:
        for attempt in range(1, TOPOLOGY_ATTEMPTS + 1):
            try:
                await _ensure_all(js, settings)
                return
            except (TimeoutError, nats.errors.TimeoutError):
                if attempt == TOPOLOGY_ATTEMPTS:
                    raise
                log.warning("JetStream did not answer while setting up the topology; trying again")
                await asyncio.sleep(1.0)
    except APIError as exc:
        if exc.err_code != INSUFFICIENT_STORAGE:
            raise
        raise StorageTooSmall(
            "nats-server cannot reserve the JetStream limits on its disk (it allows 75 % of the free "
            "space): lower ZAPGATE_EVENTS_MAX_BYTES, ZAPGATE_MEDIA_STORE_MAX_BYTES, "
            "ZAPGATE_COMMANDS_MAX_BYTES or ZAPGATE_DLQ_MAX_BYTES, or give the server more disk"
        ) from exc


async def _ensure_all(js: JetStreamContext, settings: CommonSettings) -> None:
    for config in stream_configs(settings):
        await _ensure_stream(js, config)
    await _ensure_kv(js, subjects.LEASES_BUCKET, settings.lease_ttl, settings.nats_replicas)
    await _ensure_kv(js, subjects.WORKERS_BUCKET, settings.lease_ttl, settings.nats_replicas)
    await _ensure_object_store(js, settings)


async def _ensure_object_store(js: JetStreamContext, settings: CommonSettings) -> None:
    """``zg_media``, bounded in bytes and age; an existing store takes changed limits in place."""
    try:
        await js.create_object_store(
            subjects.MEDIA_BUCKET,
            config=js_api.ObjectStoreConfig(
                storage=js_api.StorageType.FILE,
                max_bytes=settings.media_store_max_bytes,
                ttl=settings.media_max_age,
                replicas=settings.nats_replicas,
            ),
        )
        return
    except BadRequestError:
        pass  # exists with other limits
    info = await js.stream_info(f"OBJ_{subjects.MEDIA_BUCKET}")
    wanted = dataclasses.replace(
        info.config,
        max_bytes=settings.media_store_max_bytes,
        max_age=settings.media_max_age,
        num_replicas=settings.nats_replicas,
    )
    if wanted != info.config:
        await js.update_stream(wanted)
        log.info("updated object store %s limits", subjects.MEDIA_BUCKET)


async def fetch_ready(sub: JetStreamContext.PullSubscription, max_batch: int, wait: float = 1.0) -> list[Msg]:
    """The next messages of a pull consumer, as soon as there is one.

    nats-py's ``fetch(n)`` with n > 1, once its first message arrives on a long poll, waits
    for the other n - 1 until the timeout: a lone command would sit for up to ``wait``. So:
    wait for one message, then take exactly what the server says is pending behind it, which
    the no-wait step of ``fetch`` returns at once. Returns [] when nothing came in ``wait``.
    """
    try:
        msgs: list[Msg] = await sub.fetch(1, timeout=wait)
    except (TimeoutError, nats.errors.TimeoutError):
        return []
    while len(msgs) < max_batch:
        pending = msgs[-1].metadata.num_pending or 0
        if pending <= 0:
            break
        try:
            msgs.extend(await sub.fetch(min(pending, max_batch - len(msgs)), timeout=wait))
        except (TimeoutError, nats.errors.TimeoutError):
            break
    return msgs


async def entitlements_bucket(js: JetStreamContext, replicas: int) -> Any:
    """The KV bucket of each tenant's entitlements (created if missing, the same way by billing,
    which writes it, and the gateways, which watch it): one value per tenant, kept until replaced."""
    return await js.create_key_value(
        js_api.KeyValueConfig(bucket=subjects.ENTITLEMENTS_BUCKET, history=1, replicas=replicas)
    )
