"""Logging set-up: one line per record, as text or (``ZAPGATE_LOG_FORMAT=json``) one JSON object.

What a record is about (tenant, session, command, trace) is bound for the current task with
``bind``; the JSON lines carry it, so a log store can filter one tenant's or one command's lines.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

_CONTEXT: ContextVar[dict[str, str]] = ContextVar("zapgate_log_context", default={})  # noqa: B039 - never mutated


@contextlib.contextmanager
def bind(**fields: str | None) -> Iterator[None]:
    """Attach these fields to every record logged by the current task inside the block."""
    token = _CONTEXT.set({**_CONTEXT.get(), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def bind_for_task(**fields: str | None) -> None:
    """Attach fields for the rest of the current task (a request's handler task)."""
    _CONTEXT.set({**_CONTEXT.get(), **{k: v for k, v in fields.items() if v is not None}})


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "service", "logger", "message", <bound fields>, "error"?}`` per line."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        """One JSON object, no newline inside."""
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
            **_CONTEXT.get(),
        }
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def setup_logging(service: str, level: str = "INFO", fmt: str = "text") -> None:
    """Log to stderr: ``time level service logger: message``, or JSON lines with ``fmt="json"``."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter(service))
    else:
        handler.setFormatter(
            logging.Formatter(f"%(asctime)s %(levelname)s {service} %(name)s: %(message)s", "%H:%M:%S")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # nats-py logs every reconnect attempt at ERROR; our callbacks already say it once.
    logging.getLogger("nats.aio.client").setLevel(logging.CRITICAL)
