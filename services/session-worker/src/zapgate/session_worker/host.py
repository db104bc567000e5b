"""Runs the sessions of the partitions a worker holds, driven by each partition's command consumer."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from cryptography.exceptions import InvalidTag
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from nats.js import api as js_api
from pydantic import ValidationError

from zapgate.common import broker, metrics, subjects, tracing
from zapgate.common.crypto import CredentialCipher
from zapgate.common.ids import new_id
from zapgate.common.logs import bind
from zapgate.common.messages import (
    AnyCommand,
    AnyContent,
    CommandRejected,
    ConfigureSession,
    Event,
    LogoutSession,
    MessageReceived,
    MessageState,
    MessageStatusChanged,
    PacingConfig,
    PairingCodeIssued,
    QrCodeIssued,
    RequestPairingCode,
    RestartSession,
    SendMessage,
    SessionConfig,
    SessionStatus,
    SessionStatusChanged,
    SimulateCodeEntry,
    SimulateHang,
    SimulateInbound,
    SimulateScan,
    StartSession,
    StopSession,
    command_adapter,
    encode,
)
from zapgate.common.outages import dependency_away, describe, log_failure
from zapgate.session_worker.adapters.media import TenantMedia
from zapgate.session_worker.adapters.messages import MessageStore, Outgoing
from zapgate.session_worker.adapters.simnet import SimNetwork
from zapgate.session_worker.adapters.spool import EventSpool, Spooled
from zapgate.session_worker.adapters.store import SessionStore
from zapgate.session_worker.adapters.tables import WorkerMessageRow
from zapgate.session_worker.domain.health import HealthPolicy
from zapgate.session_worker.domain.pacing import wa_message_id
from zapgate.session_worker.engines.simulator import SimulatorEngine
from zapgate.session_worker.engines.whatsapp import WhatsAppEngine
from zapgate.session_worker.sender import Ack, AckWriter, Report, Sender
from zapgate.session_worker.tasks import cancel_until_done

log = logging.getLogger(__name__)

HostedEngine = SimulatorEngine | WhatsAppEngine

FETCH_BATCH = 64
MAX_DELIVER = 5
PUBLISH_TRIES = 20
PUBLISH_TIMEOUT = 5.0
SPOOL_AFTER_TRIES = 3  # tries before an event goes to the spool (at once while disconnected)
SPOOL_FLUSH = 0.5
SPOOL_LOOK_EVERY = 20  # flush rounds between looks for what other (dead) workers spooled
EXPIRY_SWEEP = 1.0
OUTBOX_SWEEP_EVERY = 5  # expiry sweeps between kicks of idle senders
CANCEL_TIMEOUT = 5.0
WIND_DOWN_TIMEOUT = 10.0
Key = tuple[str, str]


def pacing_of(config: dict[str, object] | None) -> PacingConfig:
    """The pacing options of a session's stored config (defaults for anything unreadable)."""
    try:
        return SessionConfig.model_validate(config or {}).pacing
    except ValidationError:
        return PacingConfig()


@dataclass
class Partition:
    """A held partition: its epoch, its running sessions, its consumer."""

    number: int
    epoch: int
    sessions: dict[Key, HostedEngine] = field(default_factory=dict)
    senders: dict[Key, Sender] = field(default_factory=dict)
    awaiting: dict[Key, list[WorkerMessageRow]] = field(default_factory=dict)
    task: asyncio.Task[None] | None = None
    rpc: Subscription | None = None
    stopped: bool = False


class UnreadableCredentials(Exception):
    """A session's stored credentials cannot be decrypted or parsed."""


class HostedSession:
    """The engine callbacks of one session: events carry the partition's epoch."""

    def __init__(self, host: SessionHost, partition: Partition, tenant: str, session: str) -> None:
        self.host = host
        self.partition = partition
        self.tenant = tenant
        self.session = session
        self.previous: SessionStatus | None = None
        self.sender: Sender | None = None

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

    async def connected(self) -> None:
        """Send what waited, and await the acks a previous owner was waiting for."""
        key = (self.tenant, self.session)
        engine = self.partition.sessions.get(key)
        for row in self.partition.awaiting.pop(key, []):
            if engine is not None:
                elapsed = (datetime.now(UTC) - row.updated_at).total_seconds() if row.rank < 2 else 0.0
                engine.expect_acks(row.id, row.wa_id, row.chat, str(row.content.get("type")), max(elapsed, 0))
        if self.sender is not None:
            self.sender.kick()

    async def message_status(self, message_id: str, wa_id: str, chat: str, status: MessageState) -> None:
        """Report an ack, then record it, in the worker's next batch."""
        self.host.acks.add(Ack(self.tenant, self.session, message_id, wa_id, chat, status))

    async def received(self, wa_id: str, sender: str, content: AnyContent) -> None:
        """Publish ``message.received``."""
        await self.host.publish(
            MessageReceived(tenant=self.tenant, session=self.session, message_id=new_id(), wa_id=wa_id,
                            chat=sender, sender=sender, content=content),
        )  # fmt: skip


class SessionHost:
    """The worker's PartitionHandler: starts and stops partitions' sessions and consumers."""

    def __init__(
        self,
        nc: NATS,
        store: SessionStore,
        messages: MessageStore,
        spool: EventSpool,
        cipher: CredentialCipher,
        network: SimNetwork,
        worker_id: str,
        partitions: int,
        sim_speed: float,
    ) -> None:
        self.nc = nc
        self.js = nc.jetstream()
        self.store = store
        self.messages = messages
        self.cipher = cipher
        self.network = network
        self.worker_id = worker_id
        self.partitions = partitions
        self.sim_speed = sim_speed
        self.held: dict[int, Partition] = {}
        self._sweeper: asyncio.Task[None] | None = None
        self.health = HealthPolicy()
        self.whatsapp_store: str | None = None  # whatsmeow's device store (a lib/pq URL)
        self.fence_within = 1.0  # a fenced engine's client stops within this (the lease's margin)
        self._health_task: asyncio.Task[None] | None = None
        self._restarts: dict[Key, int] = {}
        self._recovering: set[Key] = set()
        self.acks = AckWriter(messages, self._report_acks)
        self._winding: set[asyncio.Task[None]] = set()
        self.spool = spool
        self._spooling = True  # until the first flush has looked
        self._adding = 0
        self._flusher: asyncio.Task[None] | None = None

    # ---------------------------------------------------------------- partitions

    async def acquired(self, partition: int, epoch: int) -> None:
        """Start every started session of the partition, then consume its commands.

        The partition can be lost while it starts (its lease deadline passed): every step checks
        that it is still held, and what was started for a lost partition is stopped again.
        """
        part = Partition(partition, epoch)
        self.held[partition] = part
        for waiting in await self.messages.awaiting_acks(partition):
            part.awaiting.setdefault((waiting.tenant, waiting.session), []).append(waiting)
        rows = await self.store.started_in(partition)
        if not self._holds(part):
            return
        engines = []
        for row in rows:
            try:
                engines.append(
                    self._engine(part, row.tenant, row.session, row.credentials, row.config, row.engine)
                )
            except UnreadableCredentials as exc:
                # That one session fails; the partition's others run.
                await self._unreadable(part, row.tenant, row.session, exc)
        await asyncio.gather(*(engine.start(resume=True) for engine in engines))
        if not self._holds(part):
            await asyncio.gather(*(engine.halt() for engine in engines), return_exceptions=True)
            return
        # Create or update: unlimited deliveries. The server's own limit drops a command for
        # good once reached, and a send retried through a database outage (nak) or given back by
        # a partition that moved reaches any small limit. Poison commands are rejected by
        # ``_handle`` after MAX_DELIVER tries instead, to the dead-letter stream.
        durable = subjects.partition_consumer(partition)
        await self.js.add_consumer(
            subjects.COMMANDS_STREAM,
            config=js_api.ConsumerConfig(
                durable_name=durable, filter_subject=subjects.partition_commands(partition),
                ack_policy=js_api.AckPolicy.EXPLICIT, ack_wait=30, max_deliver=-1, max_ack_pending=1000,
            ),
        )  # fmt: skip
        sub = await self.js.pull_subscribe_bind(durable=durable, stream=subjects.COMMANDS_STREAM)
        if not self._holds(part):
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
            return
        part.task = asyncio.create_task(self._consume(part, sub), name=f"partition-{partition}")
        rpc = await self.nc.subscribe(
            subjects.partition_rpc(partition), cb=functools.partial(self._query, part)
        )
        if not self._holds(part):
            with contextlib.suppress(Exception):
                await rpc.unsubscribe()
            return
        part.rpc = rpc

    def _holds(self, part: Partition) -> bool:
        """Whether ``part`` is still this worker's (not lost while it was starting)."""
        return self.held.get(part.number) is part

    async def lost(self, partition: int, epoch: int, reason: str) -> None:
        """Stop consuming and halt the sessions: they move, so no status is reported for them.

        Returns once the partition is fenced; the rest (consumer, senders, network) winds down
        in the background, except on drain, which waits for it. A wind-down can take seconds
        while NATS is in trouble, and the lease manager must not wait that long: it holds its
        lock while releasing, and every claim and release of the worker would wait with it.
        """
        part = self.held.pop(partition, None)
        if part is None:
            return
        # Before any await: from here on these sessions neither send nor answer for their
        # accounts, and the consumer takes no more commands.
        part.stopped = True
        for engine in part.sessions.values():
            engine.fence()
        for sender in part.senders.values():
            sender.fence()
        task = asyncio.create_task(self._wind_down(part, reason), name=f"wind-down-{partition}")
        self._winding.add(task)
        task.add_done_callback(self._winding.discard)
        if reason in ("drain", "close"):
            await asyncio.wait({task}, timeout=WIND_DOWN_TIMEOUT)

    async def _wind_down(self, part: Partition, reason: str) -> None:
        if part.task is not None:
            await cancel_until_done([part.task], CANCEL_TIMEOUT)
        if part.rpc is not None:
            with contextlib.suppress(Exception):
                await part.rpc.unsubscribe()
        await asyncio.gather(*(sender.close() for sender in part.senders.values()), return_exceptions=True)
        await asyncio.gather(*(engine.halt() for engine in part.sessions.values()), return_exceptions=True)
        log.info("partition %d stopped (%s): %d sessions halted", part.number, reason, len(part.sessions))

    def _engine(
        self, part: Partition, tenant: str, session: str, blob: bytes | None,
        config: dict[str, object] | None = None, kind: str = "simulator",
    ) -> HostedEngine:  # fmt: skip
        key = (tenant, session)
        existing = part.sessions.get(key)
        if existing is not None:
            return existing
        hosted = HostedSession(self, part, tenant, session)
        owner = f"{tenant}/{session}"
        try:
            creds = self.cipher.decrypt(blob, tenant, session) if blob else None
            engine: HostedEngine
            if kind == "whatsapp":
                if self.whatsapp_store is None:
                    raise RuntimeError("the whatsapp engine needs the device store (whatsapp_store)")
                proxy = (config or {}).get("proxy")
                engine = WhatsAppEngine(
                    owner, creds, hosted, self.whatsapp_store, str(proxy) if proxy else None,
                    TenantMedia(self.js, tenant), self.fence_within,
                )  # fmt: skip
            else:
                engine = SimulatorEngine(owner, creds, hosted, self.network, self.sim_speed)
        except (InvalidTag, ValueError, KeyError, TypeError) as exc:
            raise UnreadableCredentials(type(exc).__name__) from exc
        part.sessions[key] = engine
        sender = part.senders.get(key)
        if sender is None:
            sender = Sender(
                self.messages, engine, pacing_of(config), self._reporter(tenant, session), tenant, session
            )
            part.senders[key] = sender
        else:
            sender.engine = engine
        hosted.sender = sender
        return engine

    async def _unreadable(
        self, part: Partition, tenant: str, session: str, exc: UnreadableCredentials
    ) -> None:
        """A session whose stored credentials cannot be read: FAILED, saying what to do."""
        log.error("session %s/%s: stored credentials unreadable (%s)", tenant, session, exc)
        await HostedSession(self, part, tenant, session).status(
            SessionStatus.FAILED,
            "stored credentials are unreadable (wrong ZAPGATE_SECRET_KEY or damaged); log out and link the device again",
        )

    def _reporter(self, tenant: str, session: str) -> Report:
        async def report(batch: Sequence[tuple[Outgoing, MessageState, str | None]]) -> None:
            await self.report_statuses(
                MessageStatusChanged(tenant=tenant, session=session, message_id=row.id, status=status,
                                     wa_id=row.wa_id, chat=row.chat, error=error)
                for row, status, error in batch
            )  # fmt: skip

        return report

    # ---------------------------------------------------------------- commands

    async def _consume(self, part: Partition, sub: JetStreamContext.PullSubscription) -> None:
        try:
            # The flag as well as the cancellation: nats-py's waits can swallow a cancel, and a
            # consumer outliving its partition would take commands its new owner never sees.
            while not part.stopped:
                try:
                    msgs = await broker.fetch_ready(sub, FETCH_BATCH)
                except Exception as exc:
                    log.warning("partition %d fetch failed: %s", part.number, exc or type(exc).__name__)
                    await asyncio.sleep(0.5)
                    continue
                try:
                    await self._process(part, msgs)
                except Exception as exc:
                    # An ack or nak lost to a broken connection: whatever was not acknowledged is
                    # redelivered after ack_wait. The consumer must outlive it, or the partition
                    # would look held while nobody takes its commands.
                    log_failure(log, "partition %d: batch interrupted; unacknowledged commands return", exc,
                                part.number)  # fmt: skip
                    await asyncio.sleep(0.5)
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()  # the durable consumer stays for the next owner

    async def _process(self, part: Partition, msgs: list[Msg]) -> None:
        """One fetched batch, in order: sends recorded together, other commands one by one.

        What is left of a batch when the partition is lost goes back (nak) to its new owner.
        """
        again = sum(1 for msg in msgs if (msg.metadata.num_delivered or 1) > 1)
        metrics.COMMANDS_PROCESSED.inc(len(msgs))
        metrics.COMMANDS_REDELIVERED.inc(again)
        if msgs:
            metrics.COMMANDS_PENDING.labels(str(part.number)).set(msgs[-1].metadata.num_pending or 0)
        if again:
            # Read by tests and chaos runs, as below: proof that a fault made commands come back.
            log.info("partition %d: %d commands delivered again", part.number, again)
        sends: list[tuple[Msg, SendMessage]] = []
        for n, msg in enumerate(msgs):
            if part.stopped:
                await _give_back(msgs[n:] + [m for m, _ in sends])
                return
            command = await self._validate(part, msg)
            if command is None:
                continue
            if isinstance(command, SendMessage):
                sends.append((msg, command))
                continue
            await self._accept_sends(part, sends)
            await self._handle(part, msg, command)
        await self._accept_sends(part, sends)

    async def _validate(self, part: Partition, msg: Msg) -> AnyCommand | None:
        """The command, or None after rejecting it."""
        try:
            command = command_adapter.validate_json(msg.data)
        except ValidationError as exc:
            await self._reject(
                msg, "invalid", [{"loc": list(e["loc"]), "msg": e["msg"]} for e in exc.errors()]
            )
            return None
        expected = subjects.command(part.number, command.tenant, command.session, command.verb)
        if msg.subject != expected:
            # The body names another tenant, session or partition than the subject it came on.
            await self._reject(msg, "mismatch", [{"msg": f"body belongs on {expected}"}], command.id)
            return None
        return command

    async def _accept_sends(self, part: Partition, sends: list[tuple[Msg, SendMessage]]) -> None:
        """Record a batch of sends, then acknowledge their commands, then wake their senders."""
        if not sends:
            return
        batch = list(sends)
        sends.clear()
        if part.stopped:
            await _give_back([msg for msg, _ in batch])
            return
        outgoing = [
            (c, Outgoing(c.id, c.to, wa_message_id(c.tenant, c.session, c.id), c.content.model_dump(mode="json"),
                         c.expires_at))
            for _, c in batch
        ]  # fmt: skip
        rows = [
            {"id": o.id, "tenant": c.tenant, "session": c.session, "partition": part.number, "chat": o.chat,
             "wa_id": o.wa_id, "content": o.content, "expires_at": o.expires_at}
            for c, o in outgoing
        ]  # fmt: skip
        try:
            recorded = await self.messages.accept(rows)
        except Exception as exc:
            log_failure(log, "sends of partition %d not recorded; they will be redelivered", exc, part.number)
            for msg, _ in batch:
                await msg.nak(delay=1)
            return
        repeated = len({o.id for _, o in outgoing} - recorded)
        await asyncio.gather(*(msg.ack() for msg, _ in batch), return_exceptions=True)
        if tracing.active():
            _trace_sends(batch)
        # What was recorded now is handed over to the senders. A redelivered command's row was
        # recorded before and may be sent already: its session reads the outbox instead.
        fresh: dict[Key, list[Outgoing] | None] = {}
        for c, o in outgoing:
            key = (c.tenant, c.session)
            handed = fresh.setdefault(key, [])
            if handed is not None:
                if o.id in recorded:
                    recorded.discard(o.id)  # a command twice in one batch is handed over once
                    handed.append(o)
                else:
                    fresh[key] = None
        if repeated:
            # Read by tests and chaos runs: proof that a crash really caused redeliveries.
            log.info("partition %d: %d redelivered sends were recorded before", part.number, repeated)
        for key, rows_of_session in fresh.items():
            sender = part.senders.get(key)
            if sender is not None:
                sender.kick(rows_of_session)

    async def _handle(self, part: Partition, msg: Msg, command: AnyCommand) -> None:
        """Execute, then ack. An outage (database, NATS) is retried for as long as it lasts: the
        API accepted the command. Anything else is a poison command, dead-lettered after
        ``MAX_DELIVER`` tries."""
        try:
            if (parent := tracing.extract(msg.headers)) is not None:
                with tracing.tracer.start_as_current_span(
                    f"execute {command.verb}", context=parent,
                    kind=tracing.SpanKind.CONSUMER, attributes={"zapgate.command": command.id},
                ):  # fmt: skip
                    await self.execute(part, command)
            else:
                await self.execute(part, command)
        except Exception as exc:
            delivered = msg.metadata.num_delivered or 1
            away = dependency_away(exc)
            if away is not None:
                log.warning("command %s on %s waits for %s (delivery %d): %s", command.id, msg.subject, away,
                            delivered, describe(exc))  # fmt: skip
                await msg.nak(delay=retry_delay(delivered))
                return
            log_failure(log, "command %s on %s failed", exc, command.id, msg.subject)
            if delivered >= MAX_DELIVER:
                await self._reject(msg, "failed", [{"msg": "gave up after repeated failures"}], command.id)
            else:
                await msg.nak(delay=1)
            return
        await msg.ack()

    async def execute(self, part: Partition, command: AnyCommand) -> None:
        """Carry out one valid command (its lines logged with its tenant, session and id)."""
        with bind(tenant=command.tenant, session=command.session, command=command.id):
            log.info("%s on partition %d", type(command).__name__, part.number)  # lifecycle: rare
            await self._execute(part, command)

    async def _execute(self, part: Partition, command: AnyCommand) -> None:
        tenant, session = command.tenant, command.session
        if isinstance(command, StartSession | RestartSession):
            self._restarts.pop((tenant, session), None)
            kind = command.engine if isinstance(command, StartSession) else "simulator"
            await self.store.set_desired(tenant, session, part.number, "started", kind)
            if isinstance(command, StartSession) and command.config is not None:
                await self._configure(part, tenant, session, command.config)
            row = await self.store.get(tenant, session)
            try:
                engine = self._engine(
                    part, tenant, session, row.credentials if row else None, row.config if row else None,
                    row.engine if row else kind,
                )  # fmt: skip
            except UnreadableCredentials as exc:
                await self._unreadable(part, tenant, session, exc)
                return
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
            stored = row.engine if row else "simulator"
            try:
                engine = self._engine(part, tenant, session, row.credentials if row else None, None, stored)
            except UnreadableCredentials:
                engine = self._engine(part, tenant, session, None, None, stored)  # logging out needs none
            await engine.logout()
            part.sessions.pop((tenant, session), None)
        elif isinstance(command, RequestPairingCode):
            waiting = part.sessions.get((tenant, session))
            if waiting is None or not await waiting.pair(command.phone):
                await self._refuse(part, command, "not waiting to be linked: start the session first")
        elif isinstance(command, ConfigureSession):
            await self._configure(part, tenant, session, command.config)
        elif isinstance(command, SimulateHang | SimulateInbound | SimulateScan | SimulateCodeEntry):
            await self._simulate(part, command)

    async def _simulate(
        self, part: Partition, command: SimulateHang | SimulateInbound | SimulateScan | SimulateCodeEntry
    ) -> None:
        """The simulator's own commands; one the session's state does not allow is rejected."""
        engine = part.sessions.get((command.tenant, command.session))
        if isinstance(command, SimulateScan):
            done, reason = engine is not None and await engine.scan(command.phone), "not waiting for a scan"
        elif isinstance(command, SimulateCodeEntry):
            done = engine is not None and await engine.enter_code(command.phone, command.code)
            reason = "no such pairing code for this phone (or the session is not waiting to be linked)"
        elif isinstance(command, SimulateHang):
            done, reason = engine is not None and await engine.hang(command.times), "session not connected"
        else:
            done = engine is not None and await engine.inbound(command.sender, command.content)
            reason = "session not connected"
        if not done:
            await self._refuse(part, command, reason)

    async def _refuse(self, part: Partition, command: AnyCommand, reason: str) -> None:
        """Tell the tenant that a valid command cannot be carried out in the session's state."""
        await self.publish(
            CommandRejected(tenant=command.tenant, session=command.session, command_id=command.id, reason=reason,
                            subject=subjects.command(part.number, command.tenant, command.session, command.verb))
        )  # fmt: skip

    async def _query(self, part: Partition, msg: Msg) -> None:
        """Answer a query about a running session (``zg.rpc.<p>.<tenant>.<session>.<verb>``)."""
        tokens = msg.subject.split(".")
        answer: dict[str, object]
        engine = part.sessions.get((tokens[3], tokens[4])) if len(tokens) == 6 else None
        try:
            if engine is None or engine.status != SessionStatus.CONNECTED:
                answer = {"error": "not connected"}
            elif tokens[5] == "exists":
                known = await engine.on_whatsapp(str(json.loads(msg.data)["chat"]))
                answer = {"exists": known is not None, "chat": known}
            else:
                answer = {"error": f"unknown query {tokens[5]!r}"}
        except (ValueError, KeyError, TypeError):
            answer = {"error": "malformed query"}
        if msg.reply:
            with contextlib.suppress(Exception):
                await msg.respond(json.dumps(answer).encode())

    async def _configure(self, part: Partition, tenant: str, session: str, config: dict[str, object]) -> None:
        await self.store.set_config(tenant, session, part.number, config)
        sender = part.senders.get((tenant, session))
        if sender is not None:
            sender.configure(pacing_of(config))

    async def _reject(
        self, msg: Msg, reason: str, errors: list[dict[str, object]], command_id: str | None = None
    ) -> None:
        """Keep the original in the dead-letter stream, tell the tenant, and take it off the queue."""
        log.warning("command on %s rejected: %s %s", msg.subject, reason, errors)
        try:
            await self.js.publish(
                subjects.dead_letter(reason, msg.subject),
                msg.data,
                headers={"Nats-Msg-Id": f"dlq:{msg.reply}"},
                timeout=PUBLISH_TIMEOUT,
            )
        except Exception as exc:
            # Not terminated until the dead-letter stream holds it: it comes back and is
            # rejected again.
            log.warning(
                "dead letter of %s not stored (%s); the command returns", msg.subject, type(exc).__name__
            )
            await msg.nak(delay=retry_delay(msg.metadata.num_delivered or 1))
            return
        metrics.DEAD_LETTERS.labels(reason).inc()
        tokens = msg.subject.split(".")
        if len(tokens) == 6:
            with contextlib.suppress(ValueError, ValidationError):
                await self.publish(
                    CommandRejected(tenant=tokens[3], session=tokens[4], command_id=command_id, subject=msg.subject,
                                    reason=reason, errors=errors)
                )  # fmt: skip
        await msg.term()

    # ---------------------------------------------------------------- events

    async def report_statuses(self, events: Iterable[MessageStatusChanged]) -> None:
        """Publish ``message.status`` events together; raises when the bus stays unreachable, so
        the caller keeps the statuses and reports them again.

        Each event's dedup id is its message and status, so a repeat is dropped by the stream.
        """
        await self._publish_all([(e, status_dedup(e)) for e in list(events)])

    async def publish(self, event: Event) -> None:
        """Publish an event durably (dedup by event id); kept in the spool while NATS is away.

        Returns once NATS or the spool holds the event: nothing received or accepted is dropped.
        """
        item = Spooled(
            subjects.event(event.tenant, event.session, event.type), encode(event), event.id, _trace_of(event)
        )
        if not self._spooling and self.nc.is_connected:
            try:
                await self._publish_items([item], SPOOL_AFTER_TRIES)
                return
            except Exception as exc:
                log.warning("event %s not published (%s); kept in the spool", event.id, type(exc).__name__)
        await self._keep([item])

    async def _keep(self, items: Sequence[Spooled]) -> None:
        """Put events in the spool; with the database away too, whichever comes back first takes them."""
        self._spooling = True
        self._adding += 1
        try:
            delay = 0.1
            while True:
                try:
                    await self.spool.add(items)
                    return
                except Exception as exc:
                    log.error("event spool unavailable (%s); retrying", type(exc).__name__)
                with contextlib.suppress(Exception):
                    await self._publish_items(items, 1)
                    return
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        finally:
            self._adding -= 1

    async def _flush_spool(self) -> None:
        """Publish what the spool holds, oldest first; also what a dead worker left there."""
        rounds = 0
        while True:
            await asyncio.sleep(SPOOL_FLUSH)
            rounds += 1
            if (not self._spooling and rounds % SPOOL_LOOK_EVERY) or not self.nc.is_connected:
                continue
            try:
                while await self.spool.flush(lambda items: self._publish_items(items, SPOOL_AFTER_TRIES)):
                    pass
                if self._adding == 0 and await self.spool.count() == 0:
                    self._spooling = False
            except Exception as exc:
                self._spooling = True  # look again next round
                log.warning("event spool not flushed yet: %s", type(exc).__name__)

    async def _publish_all(self, events: Sequence[tuple[Event, str]]) -> None:
        """Publish events with their dedup ids, retrying through short outages; raises at the end."""
        items = [
            Spooled(subjects.event(e.tenant, e.session, e.type), encode(e), dedup, _trace_of(e))
            for e, dedup in events
        ]
        await self._publish_items(items, PUBLISH_TRIES)
        for event, _ in events:
            if isinstance(event, MessageStatusChanged):
                metrics.MESSAGE_STATUSES.labels(event.status.value).inc()

    async def _publish_items(self, batch: Sequence[Spooled], tries: int) -> None:
        """Publish, retrying ``tries`` times with backoff; raises at the end.

        Their acknowledgements are awaited together: one wait per batch, not per event.
        """
        for attempt in range(tries):
            acks: list[asyncio.Future[js_api.PubAck]] = []
            try:
                for item in batch:
                    acks.append(
                        await self.js.publish_async(
                            item.subject, item.data, wait_stall=PUBLISH_TIMEOUT,
                            headers={"Nats-Msg-Id": item.dedup, **(item.trace or {})},
                        )
                    )  # fmt: skip
                async with asyncio.timeout(PUBLISH_TIMEOUT):
                    await asyncio.gather(*acks)
                return
            except Exception:
                for ack in acks:  # retried as a whole: the stream drops what it already has
                    if not ack.cancel() and not ack.cancelled():
                        ack.exception()
                if attempt == tries - 1:
                    raise
                await asyncio.sleep(min(0.05 * 2**attempt, 1.0))

    async def _report_acks(self, acks: Sequence[Ack]) -> None:
        await self.report_statuses(
            MessageStatusChanged(tenant=a.tenant, session=a.session, message_id=a.message_id, status=a.status,
                                 wa_id=a.wa_id, chat=a.chat)
            for a in acks
        )  # fmt: skip

    def start_sweeper(self) -> None:
        """Fail unsent messages whose ``expires_at`` passed, even while their session is down; write acks."""
        self._sweeper = asyncio.create_task(self._sweep(), name="expiry-sweeper")
        self._health_task = asyncio.create_task(self._check_health(), name="session-health")
        self._flusher = asyncio.create_task(self._flush_spool(), name="event-spool")
        self.acks.start()

    async def _check_health(self) -> None:
        while True:
            await asyncio.sleep(self.health.interval)
            checks = [
                self._check(part, key, engine)
                for part in list(self.held.values())
                for key, engine in list(part.sessions.items())
                if engine.status == SessionStatus.CONNECTED and key not in self._recovering
            ]
            await asyncio.gather(*checks, return_exceptions=True)

    async def _check(self, part: Partition, key: Key, engine: HostedEngine) -> None:
        try:
            async with asyncio.timeout(self.health.timeout):
                await engine.ping()
        except TimeoutError:
            self._recovering.add(key)
            task = asyncio.create_task(self._recover(part, key, engine), name=f"recover:{key[0]}/{key[1]}")
            task.add_done_callback(lambda _: self._recovering.discard(key))
            return
        self._restarts.pop(key, None)  # healthy again: the next failure starts a new count

    async def _recover(self, part: Partition, key: Key, engine: HostedEngine) -> None:
        """Restart an unresponsive session with backoff; after too many tries, FAILED for good."""
        restart = self._restarts.get(key, 0) + 1
        self._restarts[key] = restart
        limit = self.health.max_restarts
        if restart > limit:
            log.error("session %s/%s unresponsive after %d restarts: giving up", *key, limit)
            part.sessions.pop(key, None)
            self._restarts.pop(key, None)
            await engine.give_up(f"unresponsive: gave up after {limit} restarts")
            return
        delay = self.health.backoff(restart)
        log.warning("session %s/%s unresponsive: restart %d of %d in %.1fs", *key, restart, limit, delay)
        await asyncio.sleep(delay)
        if part.sessions.get(key) is engine and self.held.get(part.number) is part:
            await engine.recover(f"unresponsive: restart {restart} of {limit}")

    async def _sweep(self) -> None:
        rounds = 0
        while True:
            await asyncio.sleep(EXPIRY_SWEEP)
            rounds += 1
            if rounds % OUTBOX_SWEEP_EVERY == 0:
                self._kick_idle_senders()
            try:
                await self._expire(await self.messages.expired(list(self.held), datetime.now(UTC)))
            except Exception as exc:
                log.warning("expiry sweep failed: %s", describe(exc))

    async def _expire(self, rows: Sequence[WorkerMessageRow]) -> None:
        """Fail expired unsent messages, except those their sender is submitting right now.

        The outbox row changes first, and only while it is still unsent, so a message ends in
        exactly one state whatever its sender does meanwhile; the ``failed`` events follow and
        go to the spool if NATS is away.
        """
        taken = []
        for row in rows:
            part = self.held.get(row.partition)
            sender = part.senders.get((row.tenant, row.session)) if part is not None else None
            if part is not None and (sender is None or sender.take_expired(row.id)):
                taken.append(row)
        failed = await self.messages.expire([row.id for row in taken])
        events = [
            MessageStatusChanged(tenant=row.tenant, session=row.session, message_id=row.id,
                                 status=MessageState.FAILED, wa_id=row.wa_id, chat=row.chat, error="expired")
            for row in taken if row.id in failed
        ]  # fmt: skip
        try:
            await self.report_statuses(events)
        except Exception:
            await self._keep(
                [Spooled(subjects.event(e.tenant, e.session, e.type), encode(e), status_dedup(e))
                 for e in events]
            )  # fmt: skip

    def _kick_idle_senders(self) -> None:
        """Wake every idle sender of a connected session: a safety net for rows recorded while
        nobody was told, e.g. by a previous owner as its partition moved."""
        for part in list(self.held.values()):
            for key, sender in part.senders.items():
                engine = part.sessions.get(key)
                if sender.idle and engine is not None and engine.status == SessionStatus.CONNECTED:
                    sender.kick()

    async def close(self) -> None:
        """Halt everything (drain already stopped the partitions through the lease manager)."""
        for task in (self._sweeper, self._health_task, self._flusher):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.acks.close()
        for partition in list(self.held):
            await self.lost(partition, self.held[partition].epoch, "close")
        if self._winding:
            await asyncio.wait(self._winding, timeout=WIND_DOWN_TIMEOUT)


def status_dedup(event: MessageStatusChanged) -> str:
    """The dedup id of a ``message.status`` event: its message and status, so a repeat is dropped."""
    return f"msg:{event.message_id}:{event.status.value}"


def retry_delay(delivered: int) -> float:
    """Seconds before a command that met an outage is tried again: 1 s for the first tries (a
    restart is over in seconds), then 2, 4, 8 ... up to 30."""
    return float(min(2 ** max(delivered - MAX_DELIVER + 1, 0), 30))


async def _give_back(msgs: list[Msg]) -> None:
    """Return commands to the stream at once (nak), for whoever holds the partition now."""
    await asyncio.gather(*(msg.nak() for msg in msgs), return_exceptions=True)


def _trace_sends(batch: Sequence[tuple[Msg, SendMessage]]) -> None:
    """An ``accept send`` span per send that carries a trace; its status events continue it."""
    for msg, command in batch:
        parent = tracing.extract(msg.headers)
        if parent is None:
            continue
        span = tracing.tracer.start_span(
            "accept send", context=parent, kind=tracing.SpanKind.CONSUMER,
            attributes={"zapgate.message": command.id, "zapgate.session": command.session},
        )  # fmt: skip
        tracing.remembered.keep(command.id, span.get_span_context())
        span.end()


def _trace_of(event: Event) -> dict[str, str] | None:
    """The ``traceparent`` an event goes out with: a status continues its message's trace, any
    other event the span it is published in. A short ``publish`` span marks each."""
    if not tracing.active():
        return None
    parent = tracing.remembered.context(event.message_id) if isinstance(event, MessageStatusChanged) else None
    if parent is None and not tracing.sampled():
        return None  # not part of a traced (and sampled) request
    span = tracing.tracer.start_span(f"publish {event.type}", context=parent, kind=tracing.SpanKind.PRODUCER)
    span.end()
    return tracing.headers_for({}, tracing.context_of(span.get_span_context()))
