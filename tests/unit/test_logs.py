"""JSON log lines: one object per record, with what the task bound (tenant, session, command)."""

import json
import logging

from zapgate.common.logs import JsonFormatter, bind


def record(message: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord("zapgate.test", logging.WARNING, __file__, 1, message, args, None)


def test_a_record_is_one_json_object_with_the_bound_fields_only_inside_the_block() -> None:
    formatter = JsonFormatter("session-worker")
    with bind(tenant="T1", session="main", command="C1"), bind(session="other", trace=None):
        inside = json.loads(formatter.format(record("sent %d\nmessages", 3)))
    outside = json.loads(formatter.format(record("idle")))
    assert inside["message"] == "sent 3\nmessages" and inside["level"] == "WARNING"
    assert (inside["service"], inside["tenant"], inside["session"], inside["command"]) == (
        "session-worker", "T1", "other", "C1",
    )  # fmt: skip
    assert "trace" not in inside  # a None field is left out
    assert "tenant" not in outside and outside["message"] == "idle"
    assert "\n" not in formatter.format(record("a\nb"))  # one line per record
