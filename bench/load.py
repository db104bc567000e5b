"""A small HTTP/1.1 keep-alive load generator (raw asyncio streams, far lighter than an HTTP client).

The same generator drives the ceiling (a bare Litestar JSON POST) and zapgate, so their ratio
compares the servers, not the clients.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Result:
    """What a load run did."""

    ok: int = 0
    errors: dict[int, int] = field(default_factory=dict)
    seconds: float = 0.0
    bodies: list[dict[str, Any]] = field(default_factory=list)

    @property
    def rate(self) -> float:
        """Successful requests per second."""
        return self.ok / self.seconds if self.seconds else 0.0


def request_bytes(host: str, path: str, headers: dict[str, str], body: dict[str, Any]) -> bytes:
    """One POST request with a JSON body."""
    payload = json.dumps(body).encode()
    head = [f"POST {path} HTTP/1.1", f"Host: {host}", "Content-Type: application/json",
            f"Content-Length: {len(payload)}", *(f"{k}: {v}" for k, v in headers.items())]  # fmt: skip
    return ("\r\n".join(head) + "\r\n\r\n").encode() + payload


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """Status and body of one response (Content-Length framing, as uvicorn answers)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.lower() == "content-length":
            length = int(value.strip())
    return status, await reader.readexactly(length) if length else b""


Make = Callable[[int], tuple[str, dict[str, Any]]]
"""The path and JSON body of the i-th request."""


async def hammer(
    port: int, headers: dict[str, str], make: Make, seconds: float,
    connections: int = 32, keep: bool = False, expect: int = 202,
) -> Result:  # fmt: skip
    """POST as fast as ``connections`` keep-alive connections allow, for ``seconds``."""
    result = Result()
    counter = iter(range(10**9))
    deadline = time.monotonic() + seconds

    async def connection() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.monotonic() < deadline:
                path, body = make(next(counter))
                writer.write(request_bytes(f"127.0.0.1:{port}", path, headers, body))
                status, data = await read_response(reader)
                if status == expect:
                    result.ok += 1
                    if keep:
                        result.bodies.append(json.loads(data))
                else:
                    result.errors[status] = result.errors.get(status, 0) + 1
        finally:
            writer.close()

    started = time.monotonic()
    await asyncio.gather(*(connection() for _ in range(connections)))
    result.seconds = time.monotonic() - started
    return result


@dataclass
class Paced:
    """What a paced run did: (scheduled send time, response body) of each 202, and the rest."""

    sent: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    errors: dict[int, int] = field(default_factory=dict)


async def paced(
    port: int, headers: dict[str, str], make: Make, rate: float,
    count: int, connections: int = 32,
) -> Paced:  # fmt: skip
    """POST ``count`` requests at ``rate`` per second.

    Each request's time is the one the schedule gave it, not when a connection was free to send
    it: a server that falls behind makes the waiting requests late, and that lateness is part
    of their latency (no coordinated omission). Answers other than 202 are counted, never
    dropped.
    """
    queue: asyncio.Queue[tuple[int, float]] = asyncio.Queue()
    result = Paced()

    async def connection() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while True:
                i, scheduled = await queue.get()
                if i < 0:
                    return
                path, body = make(i)
                writer.write(request_bytes(f"127.0.0.1:{port}", path, headers, body))
                status, data = await read_response(reader)
                if status == 202:
                    result.sent.append((scheduled, json.loads(data)))
                else:
                    result.errors[status] = result.errors.get(status, 0) + 1
        finally:
            writer.close()

    workers = [asyncio.create_task(connection()) for _ in range(connections)]
    started, wall = time.monotonic(), time.time()
    for i in range(count):
        delay = started + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait((i, wall + i / rate))
    for _ in workers:
        queue.put_nowait((-1, 0.0))
    await asyncio.gather(*workers)
    return result
