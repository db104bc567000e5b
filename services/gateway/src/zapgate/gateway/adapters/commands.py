"""Publishing commands onto the partition subjects of ``ZG_COMMANDS``."""

from __future__ import annotations

import asyncio
import logging

from zapgate.common import subjects, tracing
from zapgate.common.messages import Command, encode
from zapgate.gateway.adapters.nats import NatsLink, NatsUnavailable
from zapgate.gateway.errors import ApiError, unavailable

log = logging.getLogger(__name__)

PUBLISH_TIMEOUT = 5.0


class CommandBus:
    """Sends a command to the worker that holds its session's partition."""

    def __init__(self, link: NatsLink, partitions: int) -> None:
        self.link = link
        self.partitions = partitions

    def partition(self, tenant: str, session: str) -> int:
        """The session's partition."""
        return subjects.partition_of(tenant, session, self.partitions)

    async def send(self, command: Command) -> str:
        """Publish durably; JetStream drops a repeat with the same ``Nats-Msg-Id`` (the command
        id). Returns the id."""
        subject = subjects.command(
            self.partition(command.tenant, command.session), command.tenant, command.session, command.verb
        )
        if tracing.sampled():
            with tracing.tracer.start_as_current_span(
                f"publish {command.verb}", kind=tracing.SpanKind.PRODUCER,
                attributes={"zapgate.tenant": command.tenant, "zapgate.session": command.session,
                            "zapgate.command": command.id, "messaging.destination.name": subject},
            ):  # fmt: skip
                return await self._publish(subject, command, tracing.headers_for({"Nats-Msg-Id": command.id}))
        return await self._publish(subject, command, {"Nats-Msg-Id": command.id})

    async def _publish(self, subject: str, command: Command, headers: dict[str, str]) -> str:
        try:
            # publish_async: the acknowledgement comes back on one shared reply subscription,
            # cheaper than nats-py's request machinery per message.
            ack = await self.link.js.publish_async(
                subject, encode(command), wait_stall=PUBLISH_TIMEOUT, headers=headers
            )
            await asyncio.wait_for(ack, PUBLISH_TIMEOUT)
        except (NatsUnavailable, TimeoutError, OSError) as exc:
            raise _unavailable(exc) from exc
        except Exception as exc:  # nats errors: no responders, timeouts while reconnecting
            if type(exc).__module__.startswith("nats"):
                raise _unavailable(exc) from exc
            raise
        return command.id


def _unavailable(exc: Exception) -> ApiError:
    log.warning("command not published: %s", exc or type(exc).__name__)
    return unavailable("the message bus is unavailable; retry shortly", "nats")
