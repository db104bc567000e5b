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

from zapgate.common import natsauth, subjects

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
            subjects.service_api("scheduler"),  # the REST facade of schedules and contacts
            subjects.service_api("billing"),  # the REST facade of plans and subscriptions
            *_kv(subjects.ENTITLEMENTS_BUCKET),  # watched: each tenant's entitlements, checked in memory
            subjects.event_family("webhook"),  # webhook.disabled, from the dispatcher role
            # The cluster view (GET /api/v1/cluster): the leases and heartbeats, read only.
            *[
                s
                for b in (subjects.LEASES_BUCKET, subjects.WORKERS_BUCKET)
                for s in (
                    *subjects.js_read(subjects.kv_stream(b)),
                    *subjects.js_consume(subjects.kv_stream(b)),
                )
            ],
            subjects.INGRESS_DEAD_LETTERS,  # refused ingress requests, kept
            subjects.events_of_type("command.rejected"),  # ... and told to their tenant
        ]
        # It answers the other services' sends (zapgate.gateway.internal), the ingress requests
        # (zapgate.gateway.ingress) and the server's questions about tenant users (auth callout).
        answers = [subjects.service_api("gateway"), subjects.INGRESS_ALL, natsauth.CALLOUT_SUBJECT]
        return Permissions(_unique(publish), [*inbox, *answers], respond=True)
    if service == "scheduler":
        publish = [
            *jetstream,
            *_topology(),
            *subjects.js_consume(subjects.EVENTS_STREAM),  # message statuses and opt-out replies
            subjects.service_api("gateway"),  # sends through the gateway's send path
            subjects.event_family("campaign"),  # campaign.progress and campaign.completed
        ]
        return Permissions(_unique(publish), [*inbox, subjects.service_api("scheduler")], respond=True)
    if service == "billing":
        publish = [
            *jetstream,
            *_topology(),
            *subjects.js_consume(subjects.EVENTS_STREAM),  # metering: message statuses
            *_kv(subjects.ENTITLEMENTS_BUCKET),  # each tenant's entitlements, for the gateways
            subjects.event_family("billing"),  # billing.alert, on each tenant's stream
            subjects.service_api("gateway"),  # sessions.count, for the alerts of a session limit
        ]
        return Permissions(_unique(publish), [*inbox, subjects.service_api("billing")], respond=True)
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


def tenant_permissions(tenant: str) -> Permissions:
    """What a tenant's NATS user may do: its own ingress requests, its own events (live), and the
    replies in its own inbox (``_INBOX_<tenant>``, which its client names as its inbox prefix)."""
    return Permissions(
        [subjects.tenant_ingress(tenant)],
        [subjects.tenant_events(tenant), subjects.tenant_inbox(tenant) + ".>"],
    )


CALLOUT_ISSUER_VARIABLE = "ZAPGATE_NATS_CALLOUT_ISSUER"
"""The environment variable nats-server reads the callout's issuer (public account key) from."""


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


def authorization_conf(passwords: Mapping[str, str] | None = None, issuer: str | None = None) -> str:
    """nats-server's ``authorization`` block for every service user and the admin, and the auth
    callout that asks the gateway about every other user (tenants' NATS users).

    With ``passwords`` (user -> password) they are written in; without, each is read from the
    server's environment (``$ZAPGATE_NATS_PASSWORD_<USER>``), as Kubernetes and compose pass it.
    ``issuer``: the public account key that signs the gateway's answers (the public half of
    ``ZAPGATE_NATS_CALLOUT_SEED``); without, ``$ZAPGATE_NATS_CALLOUT_ISSUER``.
    """
    users = [_user(ADMIN, passwords[ADMIN] if passwords else None, None)]
    users += [_user(s, passwords[s] if passwords else None, permissions(s)) for s in SERVICES]
    head = "# Generated from libs/common/src/zapgate/common/permissions.py (make nats-auth): do not edit.\n"
    callout = (
        "  auth_callout {\n"
        f"    issuer: {json.dumps(issuer) if issuer else '$' + CALLOUT_ISSUER_VARIABLE}\n"
        f"    auth_users: {json.dumps([ADMIN, *SERVICES])}\n"
        "  }\n"
    )
    return head + "authorization {\n  users: [\n" + "\n".join(users) + "\n  ]\n" + callout + "}\n"


if __name__ == "__main__":
    sys.stdout.write(authorization_conf())
