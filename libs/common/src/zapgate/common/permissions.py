"""Per-service NATS users: each may publish and subscribe to only the subjects it uses.

The one source of the nats-server ``authorization`` block that ``make run``, compose and
Kubernetes load (``python -m zapgate.common.permissions`` prints it; ``make nats-auth`` writes
deploy/k8s/base/nats-auth.conf). A service connects as its user (``ZAPGATE_NATS_USER``,
``ZAPGATE_NATS_PASSWORD``) with its own inbox prefix, so no other user can read its replies.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass

from zapgate.common import subjects

SERVICES = ("gateway", "session-worker", "scheduler", "billing")
ADMIN = "admin"
"""The operator's user (nats CLI, backups, the test harness): every subject."""


@dataclass(frozen=True)
class Permissions:
    """What one user may publish and subscribe to; ``respond``: answer requests it received."""

    publish: list[str]
    subscribe: list[str]
    respond: bool = False


def _topology() -> list[str]:
    """Every service runs ``ensure_topology`` at start (safe from every replica)."""
    streams = [subjects.COMMANDS_STREAM, subjects.EVENTS_STREAM, subjects.DLQ_STREAM]
    streams += [subjects.kv_stream(b) for b in (subjects.LEASES_BUCKET, subjects.WORKERS_BUCKET)]
    streams.append(subjects.object_stream(subjects.MEDIA_BUCKET))
    return [s for stream in streams for s in subjects.js_manage(stream)]


def _kv(bucket: str) -> list[str]:
    """Create, read, write and watch one KV bucket."""
    stream = subjects.kv_stream(bucket)
    return [
        subjects.kv_keys(bucket), *subjects.js_manage(stream), *subjects.js_read(stream),
        *subjects.js_consume(stream),
    ]  # fmt: skip


def _media() -> list[str]:
    """Read and write the media object store."""
    stream = subjects.object_stream(subjects.MEDIA_BUCKET)
    return [
        *subjects.js_read(stream), *subjects.js_consume(stream), subjects.JS_STREAM_NAMES,
        subjects.object_subjects(subjects.MEDIA_BUCKET), subjects.js_purge(stream),
    ]  # fmt: skip


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def permissions(service: str) -> Permissions:
    """The permissions of one service's user."""
    inbox = [subjects.inbox_prefix(service) + ".>"]
    jetstream = [subjects.JS_ACCOUNT_INFO]
    if service == "gateway":
        publish = [
            *jetstream,
            subjects.COMMANDS_ALL,
            subjects.dead_letter("unreadable", ">"),
            subjects.RPC_ALL,
            *_topology(),
            *subjects.js_consume(subjects.EVENTS_STREAM),  # the projector and the WebSockets
            *subjects.js_read(subjects.SIMNET_STREAM),  # the simulator's deliveries, read back
            *subjects.js_consume(subjects.SIMNET_STREAM),
            *_kv(subjects.REVOKED_KEYS_BUCKET),
            *_kv(subjects.TICKETS_BUCKET),
            *_media(),
        ]
        return Permissions(_unique(publish), inbox)
    if service == "session-worker":
        publish = [
            *jetstream,
            subjects.EVENTS_ALL,
            subjects.DLQ_ALL,
            subjects.SIM_DELIVERIES_ALL,
            *_topology(),
            *subjects.js_consume(subjects.COMMANDS_STREAM),
            *_kv(subjects.LEASES_BUCKET),
            *_kv(subjects.WORKERS_BUCKET),
            *_kv(subjects.SIMNET_BUCKET),
            *subjects.js_manage(subjects.SIMNET_STREAM),
            *_media(),  # media of a send read, a contact's media kept (whatsapp engine)
        ]
        return Permissions(_unique(publish), [*inbox, subjects.RPC_ALL], respond=True)
    if service in SERVICES:
        # Connected for health only until their issues give them work.
        return Permissions([], inbox)
    raise ValueError(f"unknown service {service!r}")


def password_variable(user: str) -> str:
    """The environment variable nats-server reads a user's password from."""
    return "ZAPGATE_NATS_PASSWORD_" + user.upper().replace("-", "_")


def _user(user: str, password: str | None, perms: Permissions | None) -> str:
    value = json.dumps(password) if password is not None else "$" + password_variable(user)
    lines = [f"    {{user: {json.dumps(user)}, password: {value}"]
    if perms is not None:
        # An empty allow list would allow everything: "deny everything" is said outright.
        publish = {"allow": perms.publish} if perms.publish else {"deny": [">"]}
        body: dict[str, object] = {"publish": publish, "subscribe": {"allow": perms.subscribe}}
        if perms.respond:
            body["allow_responses"] = True
        lines.append(f"      permissions: {json.dumps(body, indent=2)}".replace("\n", "\n      "))
    lines.append("    }")
    return "\n".join(lines)


def authorization_conf(passwords: Mapping[str, str] | None = None) -> str:
    """nats-server's ``authorization`` block for every service user and the admin.

    With ``passwords`` (user -> password) they are written in; without, each is read from the
    server's environment (``$ZAPGATE_NATS_PASSWORD_<USER>``), as Kubernetes and compose pass it.
    """
    users = [_user(ADMIN, passwords[ADMIN] if passwords else None, None)]
    users += [_user(s, passwords[s] if passwords else None, permissions(s)) for s in SERVICES]
    head = "# Generated from libs/common/src/zapgate/common/permissions.py (make nats-auth): do not edit.\n"
    return head + "authorization {\n  users: [\n" + "\n".join(users) + "\n  ]\n}\n"


if __name__ == "__main__":
    sys.stdout.write(authorization_conf())
