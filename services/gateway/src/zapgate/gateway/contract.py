"""The NATS contract as the gateway serves it (``/asyncapi.json``, docs/asyncapi.json): the
shared commands and events, and the ingress subjects, whose bodies are the REST bodies."""

from __future__ import annotations

from typing import Any

from zapgate.common import contract, subjects
from zapgate.gateway import lifecycle
from zapgate.gateway.ingress import IngressCommand, IngressSend

REPLY = (
    " Request/reply (core NATS) answered by one gateway replica: {result} (what the REST route "
    "answers) or {error: {status, code, message, details}} with the REST route's status. A refusal "
    "(4xx) is also kept in ZG_DLQ (zg.dlq.<code>.<subject>) and told to the tenant as a "
    "command.rejected event; a 503 is neither (retry). A tenant's NATS user may publish only "
    "zg.in.<its tenant>.> and must use the inbox prefix _INBOX_<its tenant>."
)


def channels() -> list[contract.Channel]:
    """The ingress subjects."""
    send = contract.Channel(
        subjects.ingress_template("send"), "IngressSend", IngressSend,
        (IngressSend.__doc__ or "").strip() + REPLY,
    )  # fmt: skip
    described = (IngressCommand.__doc__ or "").strip() + REPLY
    commands = [
        contract.Channel(subjects.ingress_template(verb), f"Ingress{verb.title()}", IngressCommand, described)
        for verb in lifecycle.VERBS
    ]
    return [send, *commands]


def asyncapi() -> dict[str, Any]:
    """The whole NATS contract."""
    return contract.asyncapi(channels())
