"""Media in the NATS object store ``zg_media``, one prefix per tenant; fetching media from URLs."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import ipaddress
import json
import socket
from urllib.parse import urljoin, urlsplit

import httpx
from nats.js import api as js_api
from nats.js.errors import NotFoundError, ObjectNotFoundError

from zapgate.common import subjects
from zapgate.common.ids import new_id
from zapgate.common.messages import MediaRef
from zapgate.gateway.adapters.nats import NatsLink

MAX_REDIRECTS = 3


class MediaError(Exception):
    """Media could not be taken: ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def decode_base64(data: str, limit: int) -> bytes:
    """Base64 (optionally a ``data:`` URL) to bytes, refusing more than ``limit`` bytes."""
    if data.startswith("data:"):
        data = data.partition(",")[2]
    if len(data) * 3 // 4 > limit + 3:
        raise MediaError(413, f"media is larger than the {limit} bytes allowed for this type")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise MediaError(422, "media.data is not valid base64") from None
    if len(raw) > limit:
        raise MediaError(413, f"media is larger than the {limit} bytes allowed for this type")
    return raw


def _refused(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        ip.is_loopback or ip.is_private or ip.is_link_local or ip.is_multicast or ip.is_reserved
        or ip.is_unspecified
    )  # fmt: skip


async def check_host(url: str, allow_private: bool) -> None:
    """Refuse URLs that are not http(s) or resolve to loopback, private or link-local addresses."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise MediaError(422, "media.url must be an http or https URL")
    if allow_private:
        return
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            parts.hostname, parts.port or 443, type=socket.SOCK_STREAM
        )
    except OSError:
        raise MediaError(422, f"media.url host {parts.hostname!r} does not resolve") from None
    if any(_refused(str(info[4][0])) for info in infos):
        raise MediaError(
            422, f"media.url host {parts.hostname!r} resolves to a loopback, private or link-local address"
        )


async def fetch(url: str, limit: int, allow_private: bool, seconds: float) -> tuple[bytes, str | None]:
    """Download media, checking every redirect's host, stopping past ``limit`` bytes."""
    async with httpx.AsyncClient(timeout=seconds, follow_redirects=False) as client:
        for _ in range(MAX_REDIRECTS + 1):
            await check_host(url, allow_private)
            try:
                async with client.stream("GET", url) as response:
                    if response.is_redirect and "location" in response.headers:
                        url = urljoin(url, response.headers["location"])
                        continue
                    if response.status_code != 200:
                        raise MediaError(422, f"media.url answered HTTP {response.status_code}")
                    body = bytearray()
                    async for chunk in response.aiter_bytes():
                        body += chunk
                        if len(body) > limit:
                            raise MediaError(
                                413, f"media is larger than the {limit} bytes allowed for this type"
                            )
                    kind = response.headers.get("content-type", "").split(";")[0].strip() or None
                    return bytes(body), kind
            except httpx.HTTPError as exc:
                raise MediaError(422, f"media.url could not be fetched: {type(exc).__name__}") from None
    raise MediaError(422, "media.url redirects too many times")


class MediaStore:
    """Keeps media under ``<tenant>/<id>``, so one tenant can never name another's."""

    def __init__(self, link: NatsLink) -> None:
        self.link = link

    async def put(self, tenant: str, data: bytes, mimetype: str, filename: str | None) -> MediaRef:
        """Store bytes; the reference travels in commands and events."""
        media_id = new_id()
        store = await self.link.js.object_store(subjects.MEDIA_BUCKET)
        meta = js_api.ObjectMeta(
            name=subjects.media_object(tenant, media_id),
            description=json.dumps({"mimetype": mimetype, "filename": filename}),
        )
        await store.put(meta.name or "", data, meta=meta)
        return MediaRef(
            id=media_id,
            mimetype=mimetype,
            filename=filename,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
        )

    async def get(self, tenant: str, media_id: str) -> tuple[bytes, str, str | None] | None:
        """The tenant's media: bytes, mimetype, filename; None if it has none of that id."""
        try:
            name = subjects.media_object(tenant, media_id)
        except ValueError:
            return None
        store = await self.link.js.object_store(subjects.MEDIA_BUCKET)
        try:
            result = await store.get(name)
        except (ObjectNotFoundError, NotFoundError):
            return None
        meta = json.loads(result.info.description or "{}")
        return (
            result.data or b"",
            str(meta.get("mimetype") or "application/octet-stream"),
            meta.get("filename"),
        )
