"""Prometheus metrics of every service, defined in one place so their names stay one set.

Each process exposes its own (the gateway at ``/metrics``, the other services on their health
port); no metric carries a tenant label: tenants are isolated, and the operator graphs totals.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, Histogram, generate_latest

# gateway
SESSIONS = Gauge("zapgate_sessions", "Sessions by status and the worker that runs them", ["status", "worker"])
MESSAGES_ACCEPTED = Counter("zapgate_messages_accepted_total", "Sends accepted (202) by this gateway")
WEBSOCKET_CLIENTS = Gauge("zapgate_websocket_clients", "Open WebSockets on this gateway")
WEBSOCKET_SLOW_CLOSES = Counter(
    "zapgate_websocket_slow_closes_total", "WebSockets closed (4008) because the client read too slowly"
)

# session worker
PARTITIONS_HELD = Gauge("zapgate_partitions_held", "Partitions this worker holds a lease on")
LEASE_RENEWAL = Histogram(
    "zapgate_lease_renewal_seconds", "Time of one renewal round of every held lease",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)  # fmt: skip
COMMANDS_PENDING = Gauge(
    "zapgate_commands_pending", "Commands waiting in a held partition's consumer", ["partition"]
)
COMMANDS_PROCESSED = Counter("zapgate_commands_total", "Commands taken from the stream")
COMMANDS_REDELIVERED = Counter(
    "zapgate_commands_redelivered_total", "Commands that came again (a fault or a partition move)"
)
DEAD_LETTERS = Counter("zapgate_dead_letters_total", "Commands put in ZG_DLQ, by reason", ["reason"])
MESSAGE_STATUSES = Counter(
    "zapgate_message_statuses_total", "Status events of outgoing messages emitted, by status", ["status"]
)


def exposition() -> tuple[bytes, str]:
    """This process's metrics in the Prometheus text format, and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
