"""Partition leases and worker membership in NATS KV."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any

from nats.js import JetStreamContext
from nats.js.errors import (
    BadRequestError,
    BucketNotFoundError,
    KeyDeletedError,
    KeyNotFoundError,
    KeyWrongLastSequenceError,
    NoKeysError,
)
from nats.js.kv import KeyValue

from zapgate.common import subjects

log = logging.getLogger(__name__)

WRONG_LAST_SEQUENCE = 10071
SNAPSHOT_TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class Holder:
    """Who holds a partition, as the bucket says."""

    worker: str
    revision: int


def _decode(value: bytes | None) -> dict[str, Any] | None:
    if not value:
        return None
    try:
        data = json.loads(value)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


async def live_entries(kv: KeyValue, prefix: str) -> dict[str, tuple[dict[str, Any], int]]:
    """Every key under ``prefix`` that holds a JSON object (markers and deletes left out).

    In bounded time: nats-py's ``keys()`` waits without a limit for the end of its snapshot,
    and on a bucket whose leases expire all the time that end was seen never to come; the
    balancer waited with it for minutes.
    """
    found: dict[str, tuple[dict[str, Any], int]] = {}
    async with asyncio.timeout(SNAPSHOT_TIMEOUT):
        try:
            keys = await kv.keys()
        except NoKeysError:
            return found
        for key in keys:
            if not key.startswith(prefix):
                continue
            try:
                entry = await kv.get(key)
            except (KeyNotFoundError, KeyDeletedError):
                continue
            data = _decode(entry.value)
            if data is not None:
                found[key] = (data, int(entry.revision or 0))
    return found


class LeaseStore:
    """Claim, renew and release partition leases with compare-and-set on revisions."""

    def __init__(self, kv: KeyValue, worker_id: str) -> None:
        self.kv = kv
        self.worker_id = worker_id
        self._value = json.dumps({"worker": worker_id}).encode()

    @classmethod
    async def open(cls, js: JetStreamContext, worker_id: str) -> LeaseStore:
        """Bind to the leases bucket (created by ``ensure_topology``)."""
        return cls(await js.key_value(subjects.LEASES_BUCKET), worker_id)

    async def claim(self, partition: int) -> int | None:
        """Take a free partition; its revision (the epoch), or None if someone holds it."""
        key = subjects.lease_key(partition)
        try:
            return int(await self.kv.create(key, self._value))
        except KeyWrongLastSequenceError:
            pass
        # The last entry may be the marker an expired lease leaves (MaxAge); create refuses to
        # go over it, so compare-and-set on the marker's revision instead.
        try:
            entry = await self.kv.get(key)
        except (KeyNotFoundError, KeyDeletedError):
            return await self._create_or_none(key)
        if _decode(entry.value) is not None:
            return None  # a live lease
        try:
            return int(await self.kv.update(key, self._value, last=entry.revision))
        except KeyWrongLastSequenceError:
            return None  # a peer got there first

    async def _create_or_none(self, key: str) -> int | None:
        try:
            return int(await self.kv.create(key, self._value))
        except KeyWrongLastSequenceError:
            return None

    async def renew(self, partition: int, revision: int) -> int | None:
        """Extend a held lease; its new revision, or None if it is no longer ours."""
        key = subjects.lease_key(partition)
        try:
            return int(await self.kv.update(key, self._value, last=revision))
        except KeyWrongLastSequenceError:
            pass
        current = await self._still_ours(key, revision)
        return None if current is None else await self.renew(partition, current)

    async def release(self, partition: int, revision: int) -> bool:
        """Give a lease up so a peer can claim it at once; False if it was not ours anymore."""
        key = subjects.lease_key(partition)
        try:
            await self.kv.delete(key, last=revision)
        except (KeyWrongLastSequenceError, BadRequestError) as exc:
            # nats-py raises the plain error for a delete's failed compare-and-set.
            if isinstance(exc, BadRequestError) and exc.err_code != WRONG_LAST_SEQUENCE:
                raise
            current = await self._still_ours(key, revision)
            return False if current is None else await self.release(partition, current)
        return True

    async def _still_ours(self, key: str, revision: int) -> int | None:
        """The lease's newer revision if it still names this worker, else None.

        A renewal whose reply was lost (a timed-out or cancelled round) still moved the
        revision on. The value naming this worker means nobody claimed it since: claims
        overwrite it.
        """
        try:
            entry = await self.kv.get(key)
        except (KeyNotFoundError, KeyDeletedError):
            return None
        data = _decode(entry.value)
        current = int(entry.revision or 0)
        if data is None or data.get("worker") != self.worker_id or current <= revision:
            return None
        return current

    async def holders(self) -> dict[int, Holder]:
        """Every live lease of the bucket."""
        entries = await live_entries(self.kv, "p.")
        return {int(key[2:]): Holder(str(data.get("worker")), rev) for key, (data, rev) in entries.items()}


class Membership:
    """Worker heartbeats in KV ``zg_workers``; a key expires TTL after a worker's last beat."""

    def __init__(self, kv: KeyValue, worker_id: str) -> None:
        self.kv = kv
        self.worker_id = worker_id
        self.key = subjects.worker_key(worker_id)

    @classmethod
    async def open(cls, js: JetStreamContext, worker_id: str) -> Membership:
        """Bind to the workers bucket."""
        try:
            return cls(await js.key_value(subjects.WORKERS_BUCKET), worker_id)
        except BucketNotFoundError as exc:
            raise RuntimeError("bucket zg_workers missing: run ensure_topology first") from exc

    async def beat(self, held: int) -> None:
        """Say this worker is alive, and how many partitions it holds."""
        await self.kv.put(self.key, json.dumps({"worker": self.worker_id, "held": held}).encode())

    async def live(self) -> dict[str, int]:
        """The workers whose heartbeat has not expired, with the partitions each holds."""
        entries = await live_entries(self.kv, "w.")
        return {str(data.get("worker")): int(data.get("held", 0)) for data, _ in entries.values()}

    async def leave(self) -> None:
        """Remove this worker's heartbeat (drain)."""
        try:
            await self.kv.delete(self.key)
        except Exception as exc:  # the bucket TTL removes it anyway
            log.debug("could not delete membership key: %s", exc)
