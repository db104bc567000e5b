"""The simulator's contacts' inboxes (stream ``ZG_SIMNET``), read a bounded page at a time."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime

from nats.js import JetStreamContext
from nats.js import api as js_api
from nats.js.errors import NotFoundError

from zapgate.common import broker, subjects

FETCH_WAIT = 2.0


@dataclass(frozen=True, slots=True)
class Received:
    """One WhatsApp message as the contacts got it; ``count`` > 1 within a page is a duplicate."""

    seq: int
    wa_id: str
    to: str
    type: str
    text: str | None
    count: int
    delivered_at: datetime


async def read_page(
    js: JetStreamContext, tenant: str, session: str, after: int, limit: int
) -> tuple[list[Received], int | None]:
    """At most ``limit`` deliveries of the session stored after stream sequence ``after``, merged
    by WhatsApp id, and the sequence to read on from (None: none are left). Reads only those
    records: the server filters by subject and starts after ``after``."""
    subject = subjects.sim_delivery(tenant, session)
    try:
        last = (await js.get_last_msg(subjects.SIMNET_STREAM, subject)).seq or 0
    except NotFoundError:  # no simulator has run yet, or nothing was delivered from this session
        return [], None
    if last <= after:
        return [], None
    config = js_api.ConsumerConfig(
        deliver_policy=js_api.DeliverPolicy.BY_START_SEQUENCE,
        opt_start_seq=after + 1,
        ack_policy=js_api.AckPolicy.NONE,
        inactive_threshold=30.0,  # the server removes it if this request dies before unsubscribing
    )
    sub = await js.pull_subscribe(subject, stream=subjects.SIMNET_STREAM, config=config)
    found: dict[str, Received] = {}
    read = 0
    reached = after
    try:
        while read < limit:
            msgs = await broker.fetch_ready(sub, limit - read, wait=FETCH_WAIT)
            if not msgs:
                break
            for msg in msgs:
                read += 1
                reached = msg.metadata.sequence.stream
                record = json.loads(msg.data)
                seen = found.get(record["wa_id"])
                if seen is not None:
                    found[record["wa_id"]] = replace(seen, count=seen.count + 1)
                else:
                    found[record["wa_id"]] = Received(
                        seq=msg.metadata.sequence.stream, wa_id=record["wa_id"], to=record["to"],
                        type=record["type"], text=record.get("text"), count=1,
                        delivered_at=datetime.fromisoformat(record["time"]),
                    )  # fmt: skip
            if msgs[-1].metadata.sequence.stream >= last or (msgs[-1].metadata.num_pending or 0) == 0:
                break
    finally:
        await sub.unsubscribe()
    return list(found.values()), (reached if reached < last else None)
