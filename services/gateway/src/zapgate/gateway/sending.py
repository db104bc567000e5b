"""Accepting a message: validate, store media, record it idempotently, queue the send command."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import tempfile
from datetime import UTC, datetime, timedelta
from typing import IO

from pydantic import TypeAdapter

from zapgate.common import metrics
from zapgate.common.ids import new_id
from zapgate.common.messages import AnyContent, MediaContent, MediaRef, SendMessage
from zapgate.common.recipients import BadRecipient, chat_id
from zapgate.gateway import enforcement
from zapgate.gateway.adapters.media import MediaError, decode_base64, fetch
from zapgate.gateway.adapters.tables import MessageRow
from zapgate.gateway.errors import ApiError
from zapgate.gateway.schemas import MediaInput, MessageAccepted, SendMedia, SendRequest
from zapgate.gateway.state import GatewayState

log = logging.getLogger(__name__)

content_adapter: TypeAdapter[AnyContent] = TypeAdapter(AnyContent)


def recipient(to: str, field: str = "to", source: str = "body") -> str:
    """The chat id of ``to``, or a 422 naming the field (in ``source``: body, query, path) and why."""
    try:
        return chat_id(to)
    except BadRecipient as exc:
        raise ApiError(
            422, "validation_error", str(exc), details=[{"key": field, "message": str(exc), "source": source}]
        ) from None


async def store_media(gateway: GatewayState, tenant: str, kind: str, media: MediaInput) -> MediaRef:
    """Take media from base64 or a URL, check its size for ``kind`` and against the tenant's media
    quota, keep it in the object store."""
    limit = gateway.settings.media_limit(kind)
    try:
        if media.data is not None:
            raw = decode_base64(media.data, limit)
            return await _keep(gateway, tenant, raw, len(raw), media)
        assert media.url is not None
        # Downloads are bounded in number, in time (one deadline for every hop) and in memory: a
        # body goes to a file past 1 MiB and from there into the object store in chunks.
        with tempfile.SpooledTemporaryFile(max_size=1 << 20) as sink:
            settings = gateway.settings
            async with asyncio.timeout(settings.media_fetch_timeout):
                await gateway.media_fetches.acquire()
            try:
                size, _ = await fetch(
                    media.url, limit, settings.media_allow_private, settings.media_fetch_timeout, sink
                )
            finally:
                gateway.media_fetches.release()
            sink.seek(0)
            return await _keep(gateway, tenant, sink, size, media)
    except TimeoutError:
        raise ApiError(
            503,
            "unavailable",
            "too many media downloads at once; retry shortly",
            headers={"Retry-After": "1"},
        ) from None
    except MediaError as exc:
        code = {413: "payload_too_large", 507: "storage_full"}.get(exc.status, "validation_error")
        raise ApiError(
            exc.status,
            code,
            exc.message,
            details=[{"key": "media", "message": exc.message, "source": "body"}],
        ) from None


async def _keep(
    gateway: GatewayState, tenant: str, data: bytes | IO[bytes], size: int, media: MediaInput
) -> MediaRef:
    """Reserve ``size`` bytes of the tenant's media quota, then store; a failed store gives them back."""
    media_id = new_id()
    await gateway.quotas.reserve_media(tenant, media_id, size)
    try:
        return await gateway.media.put(tenant, media_id, data, media.mimetype, media.filename)
    except BaseException:
        await gateway.quotas.release_media(media_id)
        raise


async def content_of(gateway: GatewayState, tenant: str, body: SendRequest) -> AnyContent:
    """The wire content of a request body (media stored first)."""
    if isinstance(body, SendMedia):
        ref = await store_media(gateway, tenant, body.type, body.media)
        return MediaContent(type=body.type, media=ref, caption=body.caption)
    return content_adapter.validate_python(body.model_dump(mode="json", exclude={"to", "expires_at"}))


def command_of(row: MessageRow) -> SendMessage:
    """The send command of a recorded message (the same command every time: same id)."""
    return SendMessage(
        id=row.id, tenant=row.tenant_id, session=row.session, to=row.chat,
        content=content_adapter.validate_python(row.content), expires_at=row.expires_at,
    )  # fmt: skip


async def accept_message(
    gateway: GatewayState,
    tenant: str,
    session: str,
    body: SendRequest,
    idempotency_key: str | None,
    message_id: str | None = None,
) -> MessageAccepted:
    """Record and queue a message; the same idempotency key always answers with the same id.

    ``message_id``: the id to give a new message (another service's, chosen before it asks, so it
    knows its message's events however the answer goes); a new ULID when not given.
    """
    chat = recipient(body.to)
    if body.expires_at is not None and body.expires_at.tzinfo is None:
        raise ApiError(422, "validation_error", "expires_at needs a time zone, e.g. 2026-01-01T12:00:00Z")
    fingerprint = request_hash(session, body) if idempotency_key is not None else None
    try:
        enforcement.check(gateway, tenant, "send")
    except ApiError:
        # A retry of a message accepted before the limit was reached is that message, not a refusal.
        earlier = await gateway.messages.by_key(tenant, idempotency_key) if idempotency_key else None
        if earlier is None:
            raise
        return await _again(gateway, earlier, fingerprint)
    if idempotency_key is not None and isinstance(body, SendMedia):
        # A retry must not upload its media again; other bodies find the key on insert.
        earlier = await gateway.messages.by_key(tenant, idempotency_key)
        if earlier is not None:
            return await _again(gateway, earlier, fingerprint)
    content = await content_of(gateway, tenant, body)
    row = {
        "id": message_id or new_id(), "tenant_id": tenant, "session": session, "chat": chat, "type": content.type,
        "content": content.model_dump(mode="json"), "idempotency_key": idempotency_key,
        "request_hash": fingerprint, "expires_at": expires_utc(body.expires_at),
    }  # fmt: skip
    if not await gateway.messages.record(row):
        earlier = await gateway.messages.by_key(tenant, idempotency_key) if idempotency_key else None
        if earlier is not None:
            return await _again(gateway, earlier, fingerprint)
        # No key conflict, so the session was missing; it may have been created meanwhile.
        if await gateway.sessions_repo.get(tenant, session) is None or not await gateway.messages.record(row):
            raise ApiError(404, "not_found", f"session {session!r} not found")
    command = SendMessage(
        id=row["id"], tenant=tenant, session=session, to=chat, content=content, expires_at=row["expires_at"]
    )
    try:
        await gateway.commands.send(command)
    except ApiError:
        await _not_published(gateway, tenant, command.id, idempotency_key)
        raise
    metrics.MESSAGES_ACCEPTED.inc()
    gateway.entitlements.accepted(tenant)
    return MessageAccepted(id=command.id, status="queued")


async def _not_published(gateway: GatewayState, tenant: str, message_id: str, key: str | None) -> None:
    """The command did not reach the bus and the client is told 503.

    Without a key the client cannot name this message again: it is not accepted, and goes. With
    one it stays, marked, and is published later even if the client never retries.
    """
    try:
        if key is None:
            await gateway.messages.discard(tenant, message_id)
        else:
            await gateway.messages.mark_unpublished(message_id)
    except Exception as exc:  # the database is away too: a retry with the key finds the row
        log.warning("send %s left queued unmarked (%s)", message_id, type(exc).__name__)


def request_hash(session: str, body: SendRequest) -> str:
    """A fingerprint of a send request: a key reused for another request is refused."""
    canonical = json.dumps({"session": session, "body": body.model_dump(mode="json")}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def expires_utc(expires_at: datetime | None) -> datetime | None:
    """``expires_at`` in UTC; a 422 for a time that cannot be expressed in UTC."""
    if expires_at is None:
        return None
    try:
        return expires_at.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ApiError(
            422, "validation_error", "expires_at is out of range",
            details=[{"key": "expires_at", "message": "out of range", "source": "body"}],
        ) from None  # fmt: skip


async def _again(gateway: GatewayState, row: MessageRow, fingerprint: str | None) -> MessageAccepted:
    """A retry: queue the same command again (the bus or the worker drops the repeat)."""
    if row.request_hash is not None and row.request_hash != fingerprint:
        raise ApiError(409, "conflict", "Idempotency-Key already used for a different request; use a new key")
    if row.status == "queued":
        await gateway.commands.send(command_of(row))
        await gateway.messages.published([row.id])
    return MessageAccepted(id=row.id, status=row.status)


REQUEUE_BATCH = 500


async def requeue_stuck(gateway: GatewayState) -> int:
    """Publish the commands of sends whose publish failed (marked when the client got a 503),
    once ``requeue_after`` has passed; how many.

    The client may never retry. The command is the same every time (same id): the bus and the
    worker's outbox drop it if they had it.
    """
    after = timedelta(seconds=gateway.settings.requeue_after)
    rows = await gateway.messages.unpublished(datetime.now(UTC) - after, REQUEUE_BATCH)
    for row in rows:
        if row.status == "queued":
            await gateway.commands.send(command_of(row))
    await gateway.messages.published([row.id for row in rows])
    return len(rows)


async def requeue_forever(gateway: GatewayState) -> None:
    """``requeue_stuck`` every ``requeue_interval``; an outage only delays it."""
    while True:
        await asyncio.sleep(gateway.settings.requeue_interval)
        try:
            if requeued := await requeue_stuck(gateway):
                log.info("published the commands of %d sends whose publish had failed", requeued)
        except Exception as exc:
            log.warning("unpublished sends not published yet (%s)", type(exc).__name__)
