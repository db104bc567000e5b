"""A real session worker against commands published straight onto NATS."""

from __future__ import annotations

import asyncio
import json
import time

import nats

from zapgate.common import subjects
from zapgate.common.messages import StartSession, encode
from zapgate.session_worker.app import create_app
from zapgate.session_worker.settings import Settings


async def eventually(check, within: float, what: str):
    deadline = time.monotonic() + within
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.05)


async def messages(js, stream: str, subject: str) -> list:
    info = await js.stream_info(stream, subjects_filter=subject)
    found = []
    for name in info.state.subjects or {}:
        msg = await js.get_last_msg(stream, name)
        found.append(msg)
    return found


async def test_bad_commands_are_rejected_to_the_dlq_and_good_ones_still_run(
    clean_nats: str, database_url: str
) -> None:
    settings = Settings(
        nats_url=clean_nats,
        database_url=database_url,
        partitions=2,
        lease_ttl=3,
        secret_key="k" * 32,
        sim_speed=50,
    )
    worker = create_app(settings)
    await worker.start()
    nc = await nats.connect(clean_nats)
    js = nc.jetstream()
    try:
        await eventually(lambda: asyncio.sleep(0, len(worker.manager.held) == 2), 10, "both partitions held")
        p = subjects.partition_of("T1", "main", 2)
        await js.publish(subjects.command(p, "T1", "main", "start"), b"{not json")
        await js.publish(
            subjects.command(p, "T1", "main", "explode"), b'{"tenant":"T1","session":"main","verb":"explode"}'
        )
        await js.publish(subjects.command(p, "T1", "main", "start"), b'{"tenant":"T1"}')
        # A body naming another tenant than its subject: refused, never executed for T2.
        forged = StartSession(tenant="T2", session="victim")
        await js.publish(subjects.command(p, "T1", "main", "start"), encode(forged))
        await js.publish(subjects.command(p, "T1", "main", "start"), b"x" * 900_000)
        good = StartSession(tenant="T1", session="main")
        await js.publish(subjects.command(p, "T1", "main", "start"), encode(good))

        async def dead_letters() -> int:
            info = await js.stream_info(subjects.DLQ_STREAM)
            return info.state.messages if info.state.messages >= 5 else 0

        assert await eventually(dead_letters, 10, "five dead letters") == 5
        rejected = await eventually(
            lambda: _events(js, "zg.evt.T1.main.command.rejected"), 10, "command.rejected events"
        )
        assert {json.loads(m.data)["reason"] for m in rejected} == {"invalid", "mismatch"}

        # The good command still ran: the session is waiting for a scan.
        async def scanning() -> bool:
            statuses = await _events(js, "zg.evt.T1.main.session.status")
            return "SCAN_QR" in [json.loads(m.data)["status"] for m in statuses]

        await eventually(scanning, 10, "the good command to start the session")
        assert await _events(js, "zg.evt.T2.>") == []  # the forged body started nothing for T2
        assert len(worker.manager.held) == 2  # the worker kept running its partitions
    finally:
        await nc.close()
        await worker.stop()


async def _events(js, subject: str) -> list:
    sub = await js.subscribe(
        subject, stream=subjects.EVENTS_STREAM, ordered_consumer=True, deliver_policy=None
    )
    found = []
    try:
        while True:
            try:
                found.append(await sub.next_msg(timeout=0.3))
            except Exception:
                break
    finally:
        await sub.unsubscribe()
    return found
