"""How many whatsapp-engine sessions one worker process holds, and what each costs Python.

neonize's real Python client and the engine run as in a worker; the Go library is the test fake
(tests/fakes/whatsmeow.py), so the figures are the Python side only: whatsmeow's own memory (a
few MB per device in Go, by its authors' accounts) comes on top and is not measured here.

- ``engine_capacity``: N sessions with stored devices connected in one process with the
  executor sized as the worker sizes it (``ZAPGATE_ENGINE_THREADS``): the time until all are
  CONNECTED, as a ratio to the same N no-op executor calls scheduled on the same loop (the
  ceiling: what connecting costs with nothing behind it), the Python heap and resident memory per
  session, and the threads they hold. Then the same N with asyncio's default executor
  (min(32, CPUs + 4) threads): how many connect before the executor starves.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import threading
import time
import tracemalloc
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]

from fakes.whatsmeow import FakeWhatsmeow, installed

from bench import run
from zapgate.common.messages import SessionStatus
from zapgate.session_worker.engines.whatsapp import WhatsAppEngine

STORE = "postgres://bench@127.0.0.1/zapgate?sslmode=disable"
SESSIONS = 200


class Quiet:
    """EngineEvents that only notes when a session is connected."""

    def __init__(self, connected: asyncio.Event, count: list[int], total: int) -> None:
        self._connected, self._count, self._total = connected, count, total

    async def status(
        self, status: SessionStatus, reason: str | None = None, phone: str | None = None
    ) -> None:
        if status == SessionStatus.CONNECTED:
            self._count[0] += 1
            if self._count[0] == self._total:
                self._connected.set()

    async def qr(self, *_: Any) -> None: ...
    async def pairing_code(self, *_: Any) -> None: ...
    async def credentials(self, *_: Any) -> None: ...
    async def message_status(self, *_: Any) -> None: ...
    async def received(self, *_: Any) -> None: ...
    async def connected(self) -> None: ...


def _rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


async def _connect(n: int, fake: FakeWhatsmeow, within: float) -> tuple[int, float, list[WhatsAppEngine]]:
    done = asyncio.Event()
    count = [0]
    engines = []
    for i in range(n):
        phone = f"55119{i:08d}"
        fake.devices[(STORE, phone)] = phone
        creds = json.dumps({"jid": {"User": phone, "Server": "s.whatsapp.net", "Device": 1}, "phone": phone})
        engines.append(WhatsAppEngine(f"bench/s{i}", creds.encode(), Quiet(done, count, n), STORE))
    began = time.perf_counter()
    await asyncio.gather(*(e.start(resume=True) for e in engines))
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(done.wait(), within)
    return count[0], time.perf_counter() - began, engines


async def engine_capacity() -> dict[str, Any]:
    """N sessions in one process: time to connect against a no-op ceiling, memory, threads."""
    loop = asyncio.get_running_loop()
    threads = SESSIONS + 32
    loop.set_default_executor(ThreadPoolExecutor(max_workers=threads, thread_name_prefix="engine"))
    began = time.perf_counter()
    await asyncio.gather(*(asyncio.to_thread(time.sleep, 0) for _ in range(SESSIONS)))
    ceiling = time.perf_counter() - began
    with installed(FakeWhatsmeow(receipt_delay=3600)) as fake:
        rss_before, threads_before = _rss(), threading.active_count()
        tracemalloc.start()
        heap_before = tracemalloc.get_traced_memory()[0]
        connected, took, engines = await _connect(SESSIONS, fake, 60)
        heap = tracemalloc.get_traced_memory()[0] - heap_before
        tracemalloc.stop()
        rss, held = _rss() - rss_before, threading.active_count() - threads_before
        await asyncio.gather(*(e.stop() for e in engines))
    figures: dict[str, Any] = {
        "sessions": SESSIONS, "connected": connected, "connect_all_s": round(took, 3),
        "ceiling_s": round(ceiling, 3), "ratio_to_ceiling": round(took / ceiling, 1) if ceiling else None,
        "python_heap_per_session_kib": round(heap / SESSIONS / 1024, 1),
        "rss_per_session_kib": round(rss / SESSIONS / 1024, 1), "threads_held": held,
    }  # fmt: skip
    # The same with asyncio's default executor: each session's client holds one of its threads.
    loop.set_default_executor(ThreadPoolExecutor())
    with installed(FakeWhatsmeow(receipt_delay=3600)) as fake:
        starved, _, engines = await _connect(64, fake, 5)
        figures["default_executor_connected_of_64"] = starved
        for engine in engines:
            engine.fence()
    return figures


BENCHES = {"engine_capacity": engine_capacity}


def main(names: list[str]) -> dict[str, Any]:
    """Run the named engine benchmarks."""
    return run(BENCHES, names)


if __name__ == "__main__":
    main(sys.argv[1:])
