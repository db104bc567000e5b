"""A tiny HTTP server answering ``/health``, ``/ready`` and ``/metrics`` for services without an
HTTP API."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping

from zapgate.common.metrics import exposition

log = logging.getLogger(__name__)

Check = Callable[[], Awaitable[None]]
CHECK_TIMEOUT = 2.0


async def run_checks(checks: Mapping[str, Check]) -> dict[str, str]:
    """Run readiness checks concurrently; the result maps each failing check to why.

    The answer is public (probes call it without a key), so it says only "timed out" or
    "unreachable"; what the error said (hosts, users, paths) goes to the log.
    """

    async def one(name: str, check: Check) -> str | None:
        try:
            async with asyncio.timeout(CHECK_TIMEOUT):
                await check()
        except TimeoutError:
            log.warning("readiness check %s timed out", name)
            return "timed out"
        except Exception as exc:
            log.warning("readiness check %s failed: %s: %s", name, type(exc).__name__, exc)
            return "unreachable"
        return None

    names = list(checks)
    results = await asyncio.gather(*(one(n, checks[n]) for n in names))
    return {name: why for name, why in zip(names, results, strict=True) if why is not None}


class HealthServer:
    """Serves liveness (``/health``) and readiness (``/ready``: 200, or 503 naming what is down)."""

    def __init__(self, service: str, checks: Mapping[str, Check]) -> None:
        self.service = service
        self.checks = dict(checks)
        self._server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        """The port actually bound (useful when asked for port 0)."""
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def start(self, host: str, port: int) -> None:
        """Start listening."""
        self._server = await asyncio.start_server(self._handle, host, port)
        log.info("%s health on http://%s:%d/health", self.service, host, self.port)

    async def stop(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(5):
                request_line = await reader.readline()
                while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass
            parts = request_line.decode("latin-1").split()
            path = parts[1].split("?")[0] if len(parts) >= 2 else ""
            body: dict[str, object]
            if path == "/metrics":
                payload, content_type = exposition()
                writer.write(
                    f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\n"
                    f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode()
                    + payload
                )
                await writer.drain()
                return
            if path == "/health":
                status, body = 200, {"status": "ok", "service": self.service}
            elif path == "/ready":
                down = await run_checks(self.checks)
                status = 503 if down else 200
                body = {"status": "unavailable" if down else "ready", "service": self.service, "down": down}
            else:
                status, body = 404, {"error": {"code": "not_found", "message": f"no route {path}"}}
            payload = json.dumps(body).encode()
            reason = {200: "OK", 404: "Not Found", 503: "Service Unavailable"}[status]
            writer.write(
                f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode()
                + payload
            )
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()
