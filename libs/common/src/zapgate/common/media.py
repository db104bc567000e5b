"""Media in the object store ``zg_media``: one format for the gateway and the workers.

An object is ``<tenant>/<id>`` (subjects.media_object), its description the JSON
``{"mimetype", "filename"}``; its reference (MediaRef) travels in commands and events.
"""

from __future__ import annotations

import base64
import io
import json
from typing import IO, cast

from nats.js import JetStreamContext
from nats.js import api as js_api
from nats.js.errors import APIError, NotFoundError, ObjectNotFoundError

from zapgate.common import subjects
from zapgate.common.messages import MediaRef

STORE_FULL = 10077  # JetStream: maximum bytes exceeded


class StoreFull(Exception):
    """The media store reached its bound (ZAPGATE_MEDIA_STORE_MAX_BYTES)."""


async def put(
    js: JetStreamContext,
    tenant: str,
    media_id: str,
    data: bytes | IO[bytes],
    mimetype: str,
    filename: str | None,
) -> MediaRef:
    """Store bytes, or a file read in chunks (never whole in memory). StoreFull when it is full
    (nats-py purges the chunks it had stored of it)."""
    store = await js.object_store(subjects.MEDIA_BUCKET)
    meta = js_api.ObjectMeta(
        name=subjects.media_object(tenant, media_id),
        description=json.dumps({"mimetype": mimetype, "filename": filename}),
    )
    try:
        # nats-py reads a file in chunks (``readinto``) and digests what it stores.
        body = data if isinstance(data, bytes) else cast(io.BufferedIOBase, data)
        info = await store.put(meta.name or "", body, meta=meta)
    except APIError as exc:
        if exc.err_code == STORE_FULL:
            raise StoreFull from None
        raise
    digest = base64.urlsafe_b64decode((info.digest or "").partition("=")[2] + "==")
    return MediaRef(
        id=media_id, mimetype=mimetype, filename=filename, size=int(info.size or 0), sha256=digest.hex()
    )


async def get(js: JetStreamContext, tenant: str, media_id: str) -> tuple[bytes, str, str | None] | None:
    """The tenant's media: bytes, mimetype, filename; None if it has none of that id."""
    try:
        name = subjects.media_object(tenant, media_id)
    except ValueError:
        return None
    store = await js.object_store(subjects.MEDIA_BUCKET)
    try:
        result = await store.get(name)
    except (ObjectNotFoundError, NotFoundError):
        return None
    meta = json.loads(result.info.description or "{}")
    return result.data or b"", str(meta.get("mimetype") or "application/octet-stream"), meta.get("filename")
