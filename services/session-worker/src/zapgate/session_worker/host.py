"""Runs the sessions of the partitions a worker holds, driven by each partition's command consumer."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import datetime

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js import api as js_api
from pydantic import ValidationError

from zapgate.common import broker, subjects
from zapgate.common.messages import (
    AnyCommand,
    CommandRejected,
    Event,
    LogoutSession,
    PairingCodeIssued,
    QrCodeIssued,
    RequestPairingCode,
    RestartSession,
    SessionStatus,
    SessionStatusChanged,
    SimulateScan,
    StartSession,
    StopSession,
    command_adapter,
    encode,
)
from zapgate.session_worker.adapters.simnet import SimNetwork
from zapgate.session_worker.adapters.store import SessionStore
from zapgate.session_worker.domain.crypto import CredentialCipher
from zapgate.session_worker.engines.simulator import SimulatorEngine

log = logging.getLogger(__name__)

FETCH_BATCH = 64
MAX_DELIVER = 5
PUBLISH_TRIES = 20


@dataclass
class Partition:
    """A held partition: its epoch, its running sessions, its consumer."""

    number: int
    epoch: int
    sessions: dict[tuple[str, str], SimulatorEngine] = field(default_factory=dict)
    task: asyncio.Task[None] | None = None


class HostedSession:
    """The engine callbacks of one session: events carry the partition's epoch."""

    def __init__(self, host: SessionHost, partition: Partition, tenant: str, session: str) -> None:
        self.host = host
        self.partition = partition
        self.tenant = tenant
        self.session = session
        self.previous: SessionStatus | None = None

    async def status(
        self, status: SessionStatus, reason: str | None = None, phone: str | None = None
    ) -> None:
        """Publish ``session.status``."""
        event = SessionStatusChanged(
            tenant=self.tenant, session=self.session, status=status, previous=self.previous, reason=reason,
            worker=self.host.worker_id, phone=phone, epoch=self.partition.epoch,
        )  # fmt: skip
        self.previous = status
        await self.host.publish(event)

    async def qr(self, value: str, index: int, expires_at: datetime) -> None:
        """Publish ``session.qr``."""
        await self.host.publish(
            QrCodeIssued(tenant=self.tenant, session=self.session, value=value, index=index,
                         expires_at=expires_at, epoch=self.partition.epoch)
        )  # fmt: skip

    async def pairing_code(self, code: str) -> None:
        """Publish ``session.pairing_code``."""
        await self.host.publish(
            PairingCodeIssued(tenant=self.tenant, session=self.session, code=code, epoch=self.partition.epoch)
        )

    async def credentials(self, creds: bytes | None) -> None:
        """Store the credentials encrypted."""
        blob = self.host.cipher.encrypt(creds, self.tenant, self.session) if creds is not None else None
        await self.host.store.save_credentials(self.tenant, self.session, blob)


class SessionHost:
    """The worker's PartitionHandler: starts and stops partitions' sessions and consumers."""

    def __init__(
        self,
        js: JetStreamContext,
        store: SessionStore,
        cipher: CredentialCipher,
        network: SimNetwork,
        worker_id: str,
        partitions: int,
        sim_speed: float,
    ) -> None:
        self.js = js
        self.store = store
        self.cipher = cipher
        self.network = network
        self.worker_id = worker_id
        self.partitions = partitions
        self.sim_speed = sim_speed
        self.held: dict[int, Partition] = {}

    # ---------------------------------------------------------------- partitions

    async def acquired(self, partition: int, epoch: int) -> None:
        """Start every started session of the partition, then consume its commands."""
        part = Partition(partition, epoch)
        self.held[partition] = part
        rows = await self.store.started_in(partition)
        engines = [self._engine(part, row.tenant, row.session, row.credentials) for row in rows]
        await asyncio.gather(*(engine.start() for engine in engines))
        sub = await self.js.pull_subscribe(
            subjects.partition_commands(partition),
            durable=subjects.partition_consumer(partition),
            stream=subjects.COMMANDS_STREAM,
            config=js_api.ConsumerConfig(
                ack_policy=js_api.AckPolicy.EXPLICIT, ack_wait=30, max_deliver=MAX_DELIVER,
                max_ack_pending=1000,
            ),
        )  # fmt: skip
        part.task = asyncio.create_task(self._consume(part, sub), name=f"partition-{partition}")

    async def lost(self, partition: int, epoch: int, reason: str) -> None:
        """Stop consuming and halt the sessions: they move, so no status is reported for them."""
        part = self.held.pop(partition, None)
        if part is None:
            return
        if part.task is not None:
            part.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await part.task
        await asyncio.gather(*(engine.halt() for engine in part.sessions.values()), return_exceptions=True)
        log.info("partition %d stopped (%s): %d sessions halted", partition, reason, len(part.sessions))

    def _engine(self, part: Partition, tenant: str, session: str, blob: bytes | None) -> SimulatorEngine:
        key = (tenant, session)
        existing = part.sessions.get(key)
        if existing is not None:
            return existing
        creds = self.cipher.decrypt(blob, tenant, session) if blob else None
        engine = SimulatorEngine(
            f"{tenant}/{session}",
            creds,
            HostedSession(self, part, tenant, session),
            self.network,
            self.sim_speed,
        )
        part.sessions[key] = engine
        return engine

    # ---------------------------------------------------------------- commands

    async def _consume(self, part: Partition, sub: JetStreamContext.PullSubscription) -> None:
        try:
            while True:
                try:
                    msgs = await broker.fetch_ready(sub, FETCH_BATCH)
                except Exception as exc:
                    log.warning("partition %d fetch failed: %s", part.number, exc or type(exc).__name__)
                    await asyncio.sleep(0.5)
                    continue
                for msg in msgs:
                    await self._handle(part, msg)
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()  # the durable consumer stays for the next owner

    async def _handle(self, part: Partition, msg: Msg) -> None:
        try:
            command = command_adapter.validate_json(msg.data)
        except ValidationError as exc:
            await self._reject(
                msg, "invalid", [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]
            )
            return
        expected = subjects.command(part.number, command.tenant, command.session, command.verb)
        if msg.subject != expected:
            # The body names another tenant, session or partition than the subject it came on.
            await self._reject(msg, "mismatch", [{"msg": f"body belongs on {expected}"}], command.id)
            return
        try:
            await self.execute(part, command)
        except Exception:
            log.exception("command %s on %s failed", command.id, msg.subject)
            if (msg.metadata.num_delivered or 1) >= MAX_DELIVER:
                await self._reject(msg, "failed", [{"msg": "gave up after repeated failures"}], command.id)
            else:
                await msg.nak(delay=1)
            return
        await msg.ack()

    async def execute(self, part: Partition, command: AnyCommand) -> None:
        """Carry out one valid command."""
        tenant, session = command.tenant, command.session
        if isinstance(command, StartSession | RestartSession):
            await self.store.set_desired(tenant, session, part.number, "started", "simulator")
            row = await self.store.get(tenant, session)
            engine = self._engine(part, tenant, session, row.credentials if row else None)
            if isinstance(command, RestartSession):
                await engine.stop()
            await engine.start()
        elif isinstance(command, StopSession):
            await self.store.set_desired(tenant, session, part.number, "stopped", "simulator")
            running = part.sessions.pop((tenant, session), None)
            if running is not None:
                await running.stop()
        elif isinstance(command, LogoutSession):
            await self.store.set_desired(tenant, session, part.number, "stopped", "simulator")
            row = await self.store.get(tenant, session)
            engine = self._engine(part, tenant, session, row.credentials if row else None)
            await engine.logout()
            part.sessions.pop((tenant, session), None)
        elif isinstance(command, RequestPairingCode):
            engine = part.sessions.get((tenant, session)) or self._engine(part, tenant, session, None)
            await engine.pair(command.phone)
        elif isinstance(command, SimulateScan):
            waiting = part.sessions.get((tenant, session))
            if waiting is None or not await waiting.scan(command.phone):
                await self.publish(
                    CommandRejected(tenant=tenant, session=session, command_id=command.id,
                                    subject=subjects.command(part.number, tenant, session, command.verb),
                                    reason="not waiting for a scan")
                )  # fmt: skip

    async def _reject(
        self, msg: Msg, reason: str, errors: list[dict[str, object]], command_id: str | None = None
    ) -> None:
        """Keep the original in the dead-letter stream, tell the tenant, and take it off the queue."""
        log.warning("command on %s rejected: %s %s", msg.subject, reason, errors)
        with contextlib.suppress(Exception):
            await self.js.publish(
                subjects.dead_letter(reason, msg.subject),
                msg.data,
                headers={"Nats-Msg-Id": f"dlq:{msg.reply}"},
            )
        tokens = msg.subject.split(".")
        if len(tokens) == 6:
            with contextlib.suppress(ValueError, ValidationError):
                await self.publish(
                    CommandRejected(tenant=tokens[3], session=tokens[4], command_id=command_id, subject=msg.subject,
                                    reason=reason, errors=errors)
                )  # fmt: skip
        await msg.term()

    # ---------------------------------------------------------------- events

    async def publish(self, event: Event) -> None:
        """Publish an event durably, retrying through short outages (dedup by event id)."""
        subject = subjects.event(event.tenant, event.session, event.type)
        data = encode(event)
        for attempt in range(PUBLISH_TRIES):
            try:
                await self.js.publish(subject, data, headers={"Nats-Msg-Id": event.id})
                return
            except Exception as exc:
                if attempt == PUBLISH_TRIES - 1:
                    log.error("event %s on %s lost: %s", event.id, subject, exc)
                    return
                await asyncio.sleep(min(0.05 * 2**attempt, 1.0))

    async def close(self) -> None:
        """Halt everything (drain already stopped the partitions through the lease manager)."""
        for partition in list(self.held):
            await self.lost(partition, self.held[partition].epoch, "close")
