"""zapgate: tenants and keys, sessions, QR codes, sends, messages, live events and a live
table of sessions, over the REST API and the WebSocket. --url and --key, or ZAPGATE_URL and
ZAPGATE_API_KEY, or a profile (~/.config/zapgate/config.toml); --json for scripts.
Exit codes: 0 done, 1 the API refused (its words are printed), 2 bad usage, 3 unreachable."""

from __future__ import annotations

import base64
import mimetypes
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from zapgate.cli import events as live
from zapgate.cli import qr
from zapgate.cli.client import Api, CliError, Target
from zapgate.cli.output import console, emit, errors

app = typer.Typer(help=__doc__, no_args_is_help=True, pretty_exceptions_enable=False)
sessions_app = typer.Typer(help="A tenant's WhatsApp sessions.", no_args_is_help=True)
tenants_app = typer.Typer(help="Admin: tenants.", no_args_is_help=True)
keys_app = typer.Typer(help="A tenant's API keys.", no_args_is_help=True)
app.add_typer(sessions_app, name="sessions")
app.add_typer(tenants_app, name="tenants")
app.add_typer(keys_app, name="keys")

SESSION_COLUMNS = ["name", "status", "desired", "phone", "worker", "partition", "reason"]
MEDIA_KINDS = ("image", "video", "audio", "document", "sticker")


class State:
    """The options every command shares."""

    api: Api
    as_json: bool = False


state = State()


@app.callback()
def options(
    url: Annotated[str | None, typer.Option(help="Gateway URL [env ZAPGATE_URL]")] = None,
    key: Annotated[str | None, typer.Option(help="API key [env ZAPGATE_API_KEY]")] = None,
    profile: Annotated[
        str | None, typer.Option(help="Profile of the config file [env ZAPGATE_PROFILE]")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON output, for scripts")] = False,
) -> None:
    """Where to connect, with which key, and how to print."""
    state.api = Api(Target.resolve(url, key, profile))
    state.as_json = as_json


# ---------------------------------------------------------------- tenants and keys


@tenants_app.command("list")
def tenants_list() -> None:
    """Every tenant (admin key)."""
    emit(
        state.api.get("/api/v1/tenants", params={"limit": 500}),
        ["id", "name", "status", "created_at"],
        state.as_json,
    )


@tenants_app.command("create")
def tenants_create(name: str) -> None:
    """A new tenant and its first API key (shown once)."""
    emit(state.api.post("/api/v1/tenants", json={"name": name}), ["id", "name", "api_key"], state.as_json)


@keys_app.command("list")
def keys_list(tenant: str) -> None:
    """A tenant's live keys (prefixes only)."""
    emit(state.api.get(f"/api/v1/tenants/{tenant}/api-keys"), ["id", "prefix", "created_at"], state.as_json)


@keys_app.command("create")
def keys_create(tenant: str) -> None:
    """Another key for the tenant (shown once)."""
    emit(state.api.post(f"/api/v1/tenants/{tenant}/api-keys"), ["id", "api_key", "prefix"], state.as_json)


@keys_app.command("revoke")
def keys_revoke(tenant: str, key_id: str) -> None:
    """Revoke a key (401 from then on, on every gateway)."""
    state.api.delete(f"/api/v1/tenants/{tenant}/api-keys/{key_id}")
    done(f"key {key_id} revoked", {"revoked": key_id})


# ---------------------------------------------------------------- sessions


def done(words: str, data: dict[str, Any]) -> None:
    """A command's outcome in words, or as JSON."""
    if state.as_json:
        emit(data, [], True)
    else:
        console.print(words)


@sessions_app.command("list")
def sessions_list() -> None:
    """The tenant's sessions and their status."""
    emit(state.api.get("/api/v1/sessions", params={"limit": 500}), SESSION_COLUMNS, state.as_json)


@sessions_app.command("get")
def sessions_get(name: str) -> None:
    """One session."""
    emit(state.api.get(f"/api/v1/sessions/{name}"), SESSION_COLUMNS, state.as_json)


@sessions_app.command("create")
def sessions_create(
    name: str, engine: Annotated[str | None, typer.Option(help="simulator or whatsapp")] = None
) -> None:
    """A new session (then ``start`` it)."""
    body: dict[str, Any] = {"name": name} | ({"engine": engine} if engine else {})
    emit(state.api.post("/api/v1/sessions", json=body), SESSION_COLUMNS, state.as_json)


def lifecycle(name: str, verb: str) -> None:
    accepted = state.api.post(f"/api/v1/sessions/{name}/{verb}")
    done(f"{verb} of {name} accepted (command {accepted['command_id']})", accepted)


@sessions_app.command("start")
def sessions_start(name: str) -> None:
    """Start (and keep starting after any restart) until stopped."""
    lifecycle(name, "start")


@sessions_app.command("stop")
def sessions_stop(name: str) -> None:
    """Stop, keeping the credentials."""
    lifecycle(name, "stop")


@sessions_app.command("restart")
def sessions_restart(name: str) -> None:
    """Stop then start."""
    lifecycle(name, "restart")


@sessions_app.command("logout")
def sessions_logout(name: str) -> None:
    """Unlink the device and remove its credentials."""
    lifecycle(name, "logout")


@sessions_app.command("delete")
def sessions_delete(name: str) -> None:
    """Log out and delete the session."""
    state.api.delete(f"/api/v1/sessions/{name}")
    done(f"session {name} deleted", {"deleted": name})


@app.command("qr")
def show_qr(
    name: str,
    wait: Annotated[float, typer.Option(help="Seconds to wait for the session to show a QR code")] = 30.0,
    light_terminal: Annotated[bool, typer.Option(help="Draw for a terminal with a light background")] = False,
) -> None:
    """The session's current QR code, drawn in the terminal (scan it with WhatsApp)."""
    deadline = time.monotonic() + wait
    while True:
        try:
            raw = state.api.get(f"/api/v1/sessions/{name}/qr", params={"format": "raw"})
            break
        except CliError as exc:
            if not exc.message.startswith("409") or time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    if state.as_json:
        emit(raw, [], True)
        return
    print(qr.draw(raw["value"], light_terminal))
    console.print(f"QR {raw['index']} of {name}, until {raw['expires_at']}")


@app.command("pair")
def pair(
    name: str, phone: Annotated[str, typer.Argument(help="The phone number, country code first")]
) -> None:
    """Ask for a pairing code (linking with a phone number instead of a QR code)."""
    accepted = state.api.post(f"/api/v1/sessions/{name}/pairing-code", json={"phone": phone})
    done(f"pairing code requested for {phone}: it arrives as a session.pairing_code event", accepted)


# ---------------------------------------------------------------- messages


@app.command("send")
def send(
    name: str,
    to: Annotated[str, typer.Argument(help="Phone number or chat id")],
    text: Annotated[str | None, typer.Option(help="A text message, or the caption of media")] = None,
    media: Annotated[Path | None, typer.Option(exists=True, dir_okay=False, help="A file to send")] = None,
    kind: Annotated[
        str | None, typer.Option(help=f"The media's type: {', '.join(MEDIA_KINDS)} (by its mimetype)")
    ] = None,
    key: Annotated[str | None, typer.Option("--idempotency-key", help="Retry-safe key")] = None,
) -> None:
    """Send a text, or a file as image, video, audio, document or sticker."""
    body: dict[str, Any] = {"to": to}
    if media is not None:
        mimetype = mimetypes.guess_type(media.name)[0] or "application/octet-stream"
        chosen = kind or next(
            (k for k in ("image", "video", "audio") if mimetype.startswith(k + "/")), "document"
        )
        if chosen not in MEDIA_KINDS:
            raise CliError(f"--kind is one of {', '.join(MEDIA_KINDS)}", 2)
        data = base64.b64encode(media.read_bytes()).decode()
        body |= {"type": chosen, "media": {"data": data, "mimetype": mimetype, "filename": media.name}}
        if text is not None:
            body["caption"] = text
    elif text is not None:
        body |= {"type": "text", "text": text}
    else:
        raise CliError("give --text, or --media with a file", 2)
    headers = {"Idempotency-Key": key} if key else {}
    accepted = state.api.post(f"/api/v1/sessions/{name}/messages", json=body, headers=headers)
    done(f"message {accepted['id']} {accepted['status']}", accepted)


@app.command("messages")
def messages(name: str, limit: Annotated[int, typer.Option(min=1, max=500)] = 50) -> None:
    """A session's messages, newest first, with their status."""
    page = state.api.get(f"/api/v1/sessions/{name}/messages", params={"limit": limit})
    emit(page["items"], ["id", "direction", "chat", "type", "status", "created_at"], state.as_json)


# ---------------------------------------------------------------- live


@app.command("events")
def events(
    since: Annotated[int | None, typer.Option(help="Replay the events after this stream sequence")] = None,
    types: Annotated[
        list[str] | None, typer.Option("--type", help="Only these types (message.*: a family)")
    ] = None,
    session: Annotated[str | None, typer.Option(help="Only this session's events")] = None,
    count: Annotated[int | None, typer.Option(help="Stop after this many events")] = None,
) -> None:
    """Tail the tenant's events (the WebSocket), one line each (JSON with --json)."""
    live.tail(state.api.target, since, types or [], session, count, state.as_json)


@app.command("watch")
def watch(
    every: Annotated[float, typer.Option(help="Seconds between refreshes")] = 1.0,
    times: Annotated[int | None, typer.Option(help="Stop after this many refreshes")] = None,
) -> None:
    """A live table of the tenant's sessions and their status."""
    live.watch(state.api, SESSION_COLUMNS, every, times)


@app.command("cluster")
def cluster() -> None:
    """Admin: the live workers, the partitions each holds, sessions per worker and status."""
    found = state.api.get("/api/v1/cluster")
    if state.as_json:
        emit(found, [], True)
        return
    rows = [
        {"worker": w["id"], "live": w["live"], "partitions": len(w["partitions"]), "sessions": w["sessions"],
         "statuses": ", ".join(f"{k} {v}" for k, v in sorted(w["statuses"].items())) or None}
        for w in found["workers"]
    ]  # fmt: skip
    title = f"{found['partitions']} partitions, {len(found['unheld'])} unheld, {found['sessions']} sessions"
    emit(rows, ["worker", "live", "partitions", "sessions", "statuses"], False, title=title)


def main() -> None:
    """The ``zapgate`` command."""
    try:
        app()
    except CliError as exc:
        errors.print(f"[red]error:[/red] {exc.message}", highlight=False)
        raise SystemExit(exc.code) from None
