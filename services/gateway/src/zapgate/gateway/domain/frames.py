"""The frame of an event, as the WebSocket and webhooks send it (pure)."""

from __future__ import annotations

import json
from typing import Any

from nats.aio.msg import Msg

UNREADABLE = "event.unreadable"


def frame(msg: Msg) -> dict[str, Any]:
    """The frame of an event message: ``{id, seq, type, tenant, session, time, data}``.

    A message of the tenant's subjects that is not a JSON object still gets a frame, of type
    ``event.unreadable`` with its subject, so a client sees every sequence number: a gap in
    ``seq`` always means a filter, never a silent drop.
    """
    try:
        event = json.loads(msg.data)
        if not isinstance(event, dict):
            raise ValueError("not an object")
    except ValueError:
        tokens = msg.subject.split(".")
        return {
            "id": None, "seq": msg.metadata.sequence.stream, "type": UNREADABLE,
            "tenant": tokens[2] if len(tokens) > 2 else None, "session": tokens[3] if len(tokens) > 3 else None,
            "time": None, "data": {"subject": msg.subject},
        }  # fmt: skip
    envelope = {"id", "tenant", "session", "time", "type", "schema_version"}
    return {
        "id": event.get("id"),
        "seq": msg.metadata.sequence.stream,
        "type": event.get("type"),
        "tenant": event.get("tenant"),
        "session": event.get("session"),
        "time": event.get("time"),
        "data": _data({k: v for k, v in event.items() if k not in envelope}),
    }


def _data(data: dict[str, Any]) -> dict[str, Any]:
    """Message events name their message ``id`` in frames (``message_id`` on the wire, as ``id`` is the event's)."""
    if "message_id" in data:
        data = {"id": data.pop("message_id"), **data}
    return data
