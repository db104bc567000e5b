"""Webhook benchmarks on a real stack: deliveries per second and the delay from event to delivery.

- ``webhook_rate``: N events published onto one tenant's stream at once (over 32 sessions, as a
  worker publishes them), until the receiver (in this process, answering 200 at once) has each;
  as a ratio to a bare loop of the same number of signed POSTs from this process to the same
  receiver, 64 in flight (the dispatcher's concurrency), in the same run.
- ``webhook_latency``: events at a steady rate; the delay from the event's time to its arrival,
  p50 and p99.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import nats

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "deploy/local"), str(ROOT)]

from bench import run
from bench.sessions import Stack, boot, new_tenant, pct
from zapgate.common import subjects
from zapgate.common.messages import MessageState, MessageStatusChanged, encode
from zapgate.gateway.dispatcher import signatures

SESSIONS = 32


class Receiver:
    """A minimal HTTP/1.1 server that answers 200 at once and notes when each webhook-id came."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._conn, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                headers = {}
                for line in head.decode("latin-1").split("\r\n")[1:]:
                    if ":" in line:
                        k, v = line.split(":", 1)
                        headers[k.strip().lower()] = v.strip()
                await reader.readexactly(int(headers.get("content-length", "0")))
                self.arrived.setdefault(headers.get("webhook-id", ""), time.time())
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


async def setup(stack: Stack, receiver: Receiver) -> str:
    key = await new_tenant(stack, f"bench-hooks-{int(time.time())}")
    async with httpx.AsyncClient(base_url=stack.system.url, headers={"X-Api-Key": key}) as http:
        made = await http.post(
            "/api/v1/webhooks", json={"url": f"http://127.0.0.1:{receiver.port}/", "events": ["*"]}
        )
        made.raise_for_status()
        return str((await http.get("/api/v1/me")).json()["id"])


async def publish(nc: Any, tenant: str, n: int) -> list[MessageStatusChanged]:
    events = [
        MessageStatusChanged(
            tenant=tenant, session=f"s{i % SESSIONS:02d}", message_id=f"01J{i:023d}", status=MessageState.SENT
        )
        for i in range(n)
    ]
    js = nc.jetstream()
    await asyncio.gather(
        *(js.publish(subjects.event(e.tenant, e.session, e.type), encode(e)) for e in events)
    )
    return events


async def bare_ceiling(port: int, n: int) -> float:
    """Signed POSTs per second from one process to the receiver, 64 in flight."""
    receiver_url = f"http://127.0.0.1:{port}/"
    secret = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = json.dumps({"id": "x", "seq": 1, "type": "message.status", "data": {}})
    slots = asyncio.Semaphore(64)
    async with httpx.AsyncClient() as client:

        async def one(i: int) -> None:
            async with slots:
                now = datetime.now(UTC)
                headers = {"content-type": "application/json", "webhook-id": f"bare-{i}",
                           "webhook-timestamp": str(int(now.timestamp())),
                           "webhook-signature": signatures([secret], f"bare-{i}", now, body)}  # fmt: skip
                (await client.post(receiver_url, content=body, headers=headers)).raise_for_status()

        started = time.monotonic()
        await asyncio.gather(*(one(i) for i in range(n)))
        return n / (time.monotonic() - started)


async def webhook_rate(n: int = 5000) -> dict[str, Any]:
    """Deliveries per second of one dispatcher, against the bare loop's."""
    receiver = Receiver()
    await receiver.start()
    stack = boot(workers=1, ttl=10, partitions=8, extra={"ZAPGATE_WEBHOOK_ALLOW_PRIVATE": "true"})
    try:
        tenant = await setup(stack, receiver)
        await asyncio.sleep(3)  # the dispatcher reads the endpoints every 2 s
        nc = await nats.connect(stack.system.info["nats_url"])
        started = time.time()
        events = await publish(nc, tenant, n)
        ids = {e.id for e in events}
        deadline = time.monotonic() + 300
        while not ids <= set(receiver.arrived) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        got = ids & set(receiver.arrived)
        rate = len(got) / (max(receiver.arrived[i] for i in got) - started)
        await nc.close()
    finally:
        stack.system.stop()
    ceiling = await bare_ceiling(receiver.port, n)
    return {"events": n, "delivered": len(got), "deliveries_per_s": round(rate), "bare_posts_per_s": round(ceiling),
            "ratio": round(rate / ceiling, 3), "target_ratio": 0.5}  # fmt: skip


async def webhook_latency(rate: float = 200.0, seconds: float = 10.0) -> dict[str, Any]:
    """Event to delivery at a steady rate: p50, p99."""
    receiver = Receiver()
    await receiver.start()
    stack = boot(workers=1, ttl=10, partitions=8, extra={"ZAPGATE_WEBHOOK_ALLOW_PRIVATE": "true"})
    try:
        tenant = await setup(stack, receiver)
        await asyncio.sleep(3)
        nc = await nats.connect(stack.system.info["nats_url"])
        js = nc.jetstream()
        sent: dict[str, float] = {}
        start = time.monotonic()
        for i in range(int(rate * seconds)):
            due = start + i / rate
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            e = MessageStatusChanged(
                tenant=tenant,
                session=f"s{i % SESSIONS:02d}",
                message_id=f"01J{i:023d}",
                status=MessageState.SENT,
            )
            sent[e.id] = time.time()
            await js.publish(subjects.event(e.tenant, e.session, e.type), encode(e))
        deadline = time.monotonic() + 60
        while not set(sent) <= set(receiver.arrived) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        delays = [receiver.arrived[i] - t for i, t in sent.items() if i in receiver.arrived]
        await nc.close()
    finally:
        stack.system.stop()
    return {"rate_per_s": rate, "events": len(sent), "delivered": len(delays),
            "p50_s": round(pct(delays, 50), 3), "p99_s": round(pct(delays, 99), 3)}  # fmt: skip


BENCHES = {"webhook_rate": webhook_rate, "webhook_latency": webhook_latency}


def main(names: list[str]) -> dict[str, Any]:
    """Run the named benchmarks (all when none) and return their figures."""
    return run(BENCHES, names)  # type: ignore[arg-type]


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:]), indent=2))
