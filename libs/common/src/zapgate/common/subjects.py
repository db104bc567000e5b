"""The one place NATS subject and resource names are built.

Layout (see docs/architecture.md):

- commands  ``zg.cmd.<partition>.<tenant>.<session>.<verb>`` in stream ``ZG_COMMANDS``
- events    ``zg.evt.<tenant>.<session>.<type>`` (type may hold dots) in stream ``ZG_EVENTS``
- dead letters ``zg.dlq.<reason>.<original subject>`` in stream ``ZG_DLQ``
- ingress   ``zg.in.<tenant>.<session>.<verb>``: request/reply, answered by the gateway; how
  another service sends and runs lifecycle commands (no partition to compute; what a tenant's
  NATS user may publish)

``partition = crc32("<tenant>/<session>") % P`` (zlib's CRC-32, unsigned), so a service in any
language can compute where a session's commands go.
"""

from __future__ import annotations

import re
import zlib

COMMANDS_STREAM = "ZG_COMMANDS"
EVENTS_STREAM = "ZG_EVENTS"
DLQ_STREAM = "ZG_DLQ"
LEASES_BUCKET = "zg_leases"
WORKERS_BUCKET = "zg_workers"
MEDIA_BUCKET = "zg_media"

COMMANDS_ALL = "zg.cmd.>"
EVENTS_ALL = "zg.evt.>"
DLQ_ALL = "zg.dlq.>"

# A token must not contain the separators or wildcards of NATS subjects.
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_TYPE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")


def _token(value: str, what: str) -> str:
    if not _TOKEN.fullmatch(value):
        raise ValueError(f"{what} {value!r} is not a valid subject token")
    return value


def partition_of(tenant: str, session: str, partitions: int) -> int:
    """The partition of a session: CRC-32 of ``"<tenant>/<session>"`` modulo P."""
    if partitions < 1:
        raise ValueError("partitions must be at least 1")
    return zlib.crc32(f"{tenant}/{session}".encode()) % partitions


def command(partition: int, tenant: str, session: str, verb: str) -> str:
    """Subject of a command to one session."""
    return (
        f"zg.cmd.{partition}.{_token(tenant, 'tenant')}.{_token(session, 'session')}.{_token(verb, 'verb')}"
    )


def partition_commands(partition: int) -> str:
    """Filter subject of one partition's durable consumer."""
    return f"zg.cmd.{partition}.>"


def partition_consumer(partition: int) -> str:
    """Durable name of one partition's command consumer."""
    return f"part-{partition}"


def event(tenant: str, session: str, event_type: str) -> str:
    """Subject of an event of one session."""
    if not _TYPE.fullmatch(event_type):
        raise ValueError(f"event type {event_type!r} is not valid")
    return f"zg.evt.{_token(tenant, 'tenant')}.{_token(session, 'session')}.{event_type}"


def command_template(verb: str) -> str:
    """The subject of every command of one verb, its variable tokens in braces (AsyncAPI)."""
    return f"zg.cmd.{{partition}}.{{tenant}}.{{session}}.{_token(verb, 'verb')}"


def event_template(event_type: str) -> str:
    """The subject of every event of one type, its variable tokens in braces (AsyncAPI)."""
    if not _TYPE.fullmatch(event_type):
        raise ValueError(f"event type {event_type!r} is not valid")
    return f"zg.evt.{{tenant}}.{{session}}.{event_type}"


TENANT_SESSION = "_tenant"
"""The session token of events about a tenant itself (billing's alerts): no session can have
this name, as a session name starts with a letter or digit."""


def tenant_event(tenant: str, event_type: str) -> str:
    """Subject of an event about a tenant, not one of its sessions."""
    return event(tenant, TENANT_SESSION, event_type)


def tenant_events(tenant: str) -> str:
    """Filter subject of every event of one tenant."""
    return f"zg.evt.{_token(tenant, 'tenant')}.>"


def session_events(tenant: str, session: str) -> str:
    """Filter subject of every event of one session."""
    return f"zg.evt.{_token(tenant, 'tenant')}.{_token(session, 'session')}.>"


def dead_letter(reason: str, original_subject: str) -> str:
    """Subject under which a rejected message is kept for inspection."""
    return f"zg.dlq.{_token(reason, 'reason')}.{original_subject}"


def lease_key(partition: int) -> str:
    """KV key of a partition's lease."""
    return f"p.{partition}"


def worker_key(worker_id: str) -> str:
    """KV key of a worker's membership heartbeat (``host:pid`` made key-safe)."""
    return "w." + re.sub(r"[^A-Za-z0-9_=-]", "_", worker_id)


def service_health(service: str) -> str:
    """Core NATS subject a service answers health requests on."""
    return f"zg.svc.{_token(service, 'service')}.health"


SIMNET_STREAM = "ZG_SIMNET"
"""What the simulator's contacts received; ``Nats-Msg-Id`` is the WhatsApp id, so a repeat is dropped."""


def sim_delivery(tenant: str, session: str) -> str:
    """Subject of a message a simulated contact received from one session."""
    return f"zg.sim.dlv.{_token(tenant, 'tenant')}.{_token(session, 'session')}"


SIM_DELIVERIES_ALL = "zg.sim.dlv.>"


def media_object(tenant: str, media_id: str) -> str:
    """Object name of a media file in ``zg_media``: the tenant's prefix keeps tenants apart."""
    return f"{_token(tenant, 'tenant')}/{_token(media_id, 'media id')}"


def rpc(partition: int, tenant: str, session: str, verb: str) -> str:
    """Core NATS request subject answered by the worker holding the session (queries, not commands)."""
    return (
        f"zg.rpc.{partition}.{_token(tenant, 'tenant')}.{_token(session, 'session')}.{_token(verb, 'verb')}"
    )


RPC_ALL = "zg.rpc.>"


def partition_rpc(partition: int) -> str:
    """What the holder of a partition listens to for queries."""
    return f"zg.rpc.{partition}.>"


REVOKED_KEYS_BUCKET = "zg_revoked_keys"
"""KV bucket of API keys revoked recently (``k.<sha256>``), watched by every gateway replica:
durable, so a replica that was away when a key was revoked still hears of it."""


def revoked_key(key_hash: str) -> str:
    """KV key of a revoked API key."""
    return f"k.{_token(key_hash, 'key hash')}"


TICKETS_BUCKET = "zg_ws_tickets"
"""KV bucket of one-use WebSocket tickets (the gateway's)."""

SIMNET_BUCKET = "zg_simnet"
"""KV bucket of the simulated network: accounts, connections, counters (the simulator's)."""


def kv_stream(bucket: str) -> str:
    """The stream behind a KV bucket."""
    return f"KV_{bucket}"


def object_stream(bucket: str) -> str:
    """The stream behind an object store."""
    return f"OBJ_{bucket}"


def inbox_prefix(service: str) -> str:
    """Where a service's replies come back: its own inbox, so no other user can read them."""
    return f"_INBOX.{_token(service, 'service')}"


# The JetStream API subjects a client uses on one stream, for the per-service permissions of
# nats-server (docs/operations.md). The API is request/reply on ``$JS.API.<verb>.<stream>...``.


def js_manage(stream: str) -> list[str]:
    """Create, update and inspect one stream (``ensure_topology``)."""
    return [f"$JS.API.STREAM.{verb}.{stream}" for verb in ("CREATE", "UPDATE", "INFO")]


def js_read(stream: str) -> list[str]:
    """Read single messages of one stream (KV gets, last message of a subject)."""
    return [
        f"$JS.API.STREAM.INFO.{stream}",
        f"$JS.API.STREAM.MSG.GET.{stream}",
        f"$JS.API.DIRECT.GET.{stream}",
        f"$JS.API.DIRECT.GET.{stream}.>",
    ]


def js_consume(stream: str) -> list[str]:
    """Create, pull from, acknowledge and remove consumers of one stream (KV watches too)."""
    api = "$JS.API.CONSUMER"
    return [
        f"$JS.API.STREAM.INFO.{stream}",
        f"{api}.CREATE.{stream}",
        f"{api}.CREATE.{stream}.>",
        f"{api}.DURABLE.CREATE.{stream}.>",
        f"{api}.INFO.{stream}.>",
        f"{api}.DELETE.{stream}.>",
        f"{api}.MSG.NEXT.{stream}.>",
        f"$JS.ACK.{stream}.>",
        f"$JS.FC.{stream}.>",
    ]


def js_purge(stream: str) -> str:
    """Purge (part of) one stream: an object store deletes an object's chunks so."""
    return f"$JS.API.STREAM.PURGE.{stream}"


JS_ACCOUNT_INFO = "$JS.API.INFO"
"""The account's JetStream limits and usage (read at start-up)."""

JS_STREAM_NAMES = "$JS.API.STREAM.NAMES"
"""Which stream holds a subject (nats-py asks it when a subscription names no stream)."""


def kv_keys(bucket: str) -> str:
    """Every key of a KV bucket, as the subjects a put or delete publishes on."""
    return f"$KV.{bucket}.>"


def object_subjects(bucket: str) -> str:
    """Every chunk and metadata subject of an object store."""
    return f"$O.{bucket}.>"


def service_api(service: str) -> str:
    """Core NATS subject a service answers request/reply operations on (``zapgate.common.rpc``)."""
    return f"zg.svc.{_token(service, 'service')}.api"


def events_of_type(event_type: str) -> str:
    """Filter subject of one event type, every tenant and session."""
    if not _TYPE.fullmatch(event_type):
        raise ValueError(f"event type {event_type!r} is not valid")
    return f"zg.evt.*.*.{event_type}"


def event_family(prefix: str) -> str:
    """Filter subject of every event type under ``prefix`` (``campaign``: campaign.progress, ...)."""
    if not _TYPE.fullmatch(prefix):
        raise ValueError(f"event type prefix {prefix!r} is not valid")
    return f"zg.evt.*.*.{prefix}.>"


ENTITLEMENTS_BUCKET = "zg_entitlements"
"""KV bucket of each tenant's entitlements (billing's; the gateways watch it)."""


def entitlement_key(tenant: str) -> str:
    """KV key of a tenant's entitlements."""
    return f"t.{_token(tenant, 'tenant')}"


INGRESS_ALL = "zg.in.*.*.*"
INGRESS_DEAD_LETTERS = "zg.dlq.*.zg.in.>"
"""Dead letters of ingress requests (the gateway's right to keep them)."""


def ingress(tenant: str, session: str, verb: str) -> str:
    """Subject on which another service asks the gateway to run ``verb`` on a session."""
    return f"zg.in.{_token(tenant, 'tenant')}.{_token(session, 'session')}.{_token(verb, 'verb')}"


def tenant_ingress(tenant: str) -> str:
    """Filter subject of every ingress request of one tenant (a tenant NATS user's publish right)."""
    return f"zg.in.{_token(tenant, 'tenant')}.>"


def ingress_template(verb: str) -> str:
    """The ingress subject of one verb, its variable tokens in braces (AsyncAPI)."""
    return f"zg.in.{{tenant}}.{{session}}.{_token(verb, 'verb')}"


def tenant_inbox(tenant: str) -> str:
    """The inbox prefix a tenant's NATS user must use: its replies, and nobody else's."""
    return f"_INBOX_{_token(tenant, 'tenant')}"
