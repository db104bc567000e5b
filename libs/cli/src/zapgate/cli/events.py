"""Live views: the tenant's events over the WebSocket, and a refreshing table of its sessions."""

from __future__ import annotations

import fnmatch
import json
import time
from typing import Any

from rich.live import Live
from rich.table import Table
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from zapgate.cli.client import EXIT_UNREACHABLE, Api, CliError, Target
from zapgate.cli.output import cell, console


def socket_url(target: Target, since: int | None) -> str:
    """The WebSocket's URL on the gateway (``since``: replay from there)."""
    url = target.url.replace("https://", "wss://", 1).replace("http://", "ws://", 1) + "/api/v1/ws"
    return url + (f"?since={since}" if since is not None else "")


def wanted(frame: dict[str, Any], types: list[str], session: str | None) -> bool:
    """Whether a frame passes the filters (types may be patterns such as ``message.*``)."""
    if session is not None and frame.get("session") != session:
        return False
    return not types or any(fnmatch.fnmatchcase(str(frame.get("type")), t) for t in types)


def line(frame: dict[str, Any]) -> str:
    """A frame in one line for people."""
    data = frame.get("data") or {}
    brief = ", ".join(f"{k}={cell(v)}" for k, v in data.items() if v is not None)[:160]
    return f"{frame.get('seq')} {frame.get('time')} {frame.get('session')} {frame.get('type')} {brief}"


def tail(
    target: Target, since: int | None, types: list[str], session: str | None, count: int | None, as_json: bool
) -> None:
    """Print the tenant's events as they come (after ``since`` first), until ``count`` or Ctrl-C."""
    headers = {"X-Api-Key": target.key} if target.key else {}
    shown = 0
    try:
        with connect(socket_url(target, since), additional_headers=headers, open_timeout=15) as socket:
            for message in socket:
                frame = json.loads(message)
                if not wanted(frame, types, session):
                    continue
                print(json.dumps(frame) if as_json else line(frame), flush=True)
                shown += 1
                if count is not None and shown >= count:
                    return
    except InvalidStatus as exc:
        raise CliError(f"the WebSocket was refused: HTTP {exc.response.status_code}") from None
    except ConnectionClosed as exc:
        raise CliError(f"the WebSocket closed: {exc.rcvd.reason if exc.rcvd else 'no reason'}") from None
    except OSError as exc:
        raise CliError(f"cannot reach {target.url}: {exc}", EXIT_UNREACHABLE) from None


def watch(api: Api, columns: list[str], every: float, times: int | None) -> None:
    """Redraw the table of sessions every ``every`` seconds (seed 001's monitor)."""

    def table() -> Table:
        rows = api.get("/api/v1/sessions", params={"limit": 500})
        drawn = Table(title=f"sessions at {time.strftime('%H:%M:%S')}")
        for column in columns:
            drawn.add_column(column)
        for row in rows:
            drawn.add_row(*(cell(row.get(c)) for c in columns))
        return drawn

    with Live(table(), console=console, auto_refresh=False) as view:
        shown = 1
        while times is None or shown < times:
            time.sleep(every)
            view.update(table(), refresh=True)
            shown += 1
