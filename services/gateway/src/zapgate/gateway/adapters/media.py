"""Media in the NATS object store ``zg_media``, one prefix per tenant; fetching media from URLs."""

from __future__ import annotations

import asyncio
import base64
import binascii
import ipaddress
import socket
from typing import IO
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

from zapgate.common import media
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


def address_allowed(address: str, allow_private: bool) -> bool:
    """Whether media may be fetched from ``address``: a globally routable unicast address.

    ``is_global`` leaves out loopback, private, link-local, shared (100.64.0.0/10: CGNAT and
    some clouds' metadata) and reserved ranges; ``is_private`` alone would let 100.64/10 through.
    ``allow_private`` (``ZAPGATE_MEDIA_ALLOW_PRIVATE``) lifts the rule for an operator's own
    networks.
    """
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_multicast or ip.is_unspecified:
        return False
    return allow_private or ip.is_global


def _target(url: str) -> tuple[str, str, int]:
    """The scheme, host and port of a media URL, or a 422."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise MediaError(422, "media.url is not a valid URL (bad port?)") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise MediaError(422, "media.url must be an http or https URL")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)


async def resolve(url: str, allow_private: bool) -> str:
    """Resolve the URL's host once; the address to connect to, or a 422 if any is refused.

    The connection goes to this address (pinned), so a name that answers differently the next
    time (DNS rebinding) cannot take the fetch elsewhere.
    """
    _, host, port = _target(url)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise MediaError(422, f"media.url host {host!r} does not resolve") from None
    addresses = [str(info[4][0]) for info in infos]
    if not addresses or not all(address_allowed(a, allow_private) for a in addresses):
        raise MediaError(
            422,
            f"media.url host {host!r} resolves to a loopback, private, link-local or otherwise non-public address",
        )
    return addresses[0]


def pinned(url: str, address: str) -> tuple[str, dict[str, str], dict[str, str]]:
    """The URL with the address in place of the host; the Host header and TLS name to keep."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    literal = f"[{address}]" if ":" in address else address
    netloc = literal if parts.port is None else f"{literal}:{parts.port}"
    headers = {"Host": parts.netloc.rpartition("@")[2]}
    extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
    return urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, "")), headers, extensions


async def fetch(
    url: str, limit: int, allow_private: bool, seconds: float, sink: IO[bytes]
) -> tuple[int, str | None]:
    """Download media into ``sink``, at most ``limit`` bytes, within ``seconds`` in all.

    Every hop (redirects included) is resolved once, checked, and connected to at that address.
    Returns the size and the content type the server gave.
    """
    try:
        async with (
            asyncio.timeout(seconds),
            httpx.AsyncClient(timeout=seconds, follow_redirects=False) as client,
        ):
            for _ in range(MAX_REDIRECTS + 1):
                address = await resolve(url, allow_private)
                target, headers, extensions = pinned(url, address)
                async with client.stream("GET", target, headers=headers, extensions=extensions) as response:
                    if response.is_redirect and "location" in response.headers:
                        url = urljoin(url, response.headers["location"])
                        continue
                    if response.status_code != 200:
                        raise MediaError(422, f"media.url answered HTTP {response.status_code}")
                    size = 0
                    async for chunk in response.aiter_bytes():
                        size += len(chunk)
                        if size > limit:
                            raise MediaError(
                                413, f"media is larger than the {limit} bytes allowed for this type"
                            )
                        sink.write(chunk)
                    kind = response.headers.get("content-type", "").split(";")[0].strip() or None
                    return size, kind
    except TimeoutError:
        raise MediaError(422, f"media.url took longer than {seconds:g} s to download") from None
    except httpx.HTTPError as exc:
        raise MediaError(422, f"media.url could not be fetched: {type(exc).__name__}") from None
    raise MediaError(422, "media.url redirects too many times")


class MediaStore:
    """Keeps media under ``<tenant>/<id>``, so one tenant can never name another's."""

    def __init__(self, link: NatsLink) -> None:
        self.link = link

    async def put(
        self, tenant: str, media_id: str, data: bytes | IO[bytes], mimetype: str, filename: str | None
    ) -> MediaRef:
        """Store bytes, or a file read in chunks (never whole in memory); the reference travels
        in commands and events. MediaError 507 when the store is full."""
        try:
            return await media.put(self.link.js, tenant, media_id, data, mimetype, filename)
        except media.StoreFull:
            raise MediaError(507, "the media store is full; try again later or ask the operator") from None

    async def get(self, tenant: str, media_id: str) -> tuple[bytes, str, str | None] | None:
        """The tenant's media: bytes, mimetype, filename; None if it has none of that id."""
        return await media.get(self.link.js, tenant, media_id)
