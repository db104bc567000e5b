"""Per-service NATS users: each service may use its own subjects and nothing else (real nats-server)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import nats
import pytest
from helpers import ServerProcess, refused_by_nats, start_nats
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.errors import NoServersError

from zapgate.common import broker, natsauth, permissions, subjects
from zapgate.common.settings import CommonSettings

PASSWORDS = {user: f"pw-{user}" for user in (permissions.ADMIN, *permissions.SERVICES)}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    root = tmp_path_factory.mktemp("nats-auth")
    conf = root / "auth.conf"
    conf.write_text(permissions.authorization_conf(PASSWORDS, natsauth.issuer_of(natsauth.new_issuer_seed())))
    nats_server = start_nats(root / "store", config=conf)
    yield nats_server
    nats_server.stop()


class Client:
    """A connection as one user that records what the server refused."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.nc: NATS | None = None

    async def connect(self, url: str, user: str, password: str | None = None) -> Client:
        async def on_error(exc: Exception) -> None:
            self.errors.append(str(exc).lower())

        settings = CommonSettings(nats_url=url, nats_user=user, nats_password=password or PASSWORDS[user])
        self.nc = await broker.connect(settings, user, error_cb=on_error, allow_reconnect=False)
        return self

    async def refused(self, what: str, subject: str) -> bool:
        """Whether the server answered with a violation of ``what`` (publish, subscription) on ``subject``."""
        assert self.nc is not None
        await self.nc.flush()
        return await refused_by_nats(self.errors, what, subject)


@pytest.fixture
async def connect(server: ServerProcess) -> AsyncIterator[object]:
    clients: list[Client] = []

    async def open_as(user: str) -> Client:
        client = await Client().connect(server.url, user)
        clients.append(client)
        return client

    yield open_as
    for client in clients:
        if client.nc is not None:
            await client.nc.close()


def test_the_generated_file_is_the_committed_one() -> None:
    committed = Path(__file__).resolve().parents[2] / "deploy" / "k8s" / "base" / "nats-auth.conf"
    assert committed.read_text() == permissions.authorization_conf(), "run make nats-auth"


async def test_each_service_sets_up_what_it_uses_and_works_on_its_own_subjects(connect: object) -> None:
    gateway = await connect("gateway")  # type: ignore[operator]
    worker = await connect("session-worker")  # type: ignore[operator]
    settings = CommonSettings()
    for client in (gateway, worker):
        await broker.ensure_topology(client.nc.jetstream(), settings)
    # The gateway's command reaches the worker's partition consumer, and its reply inbox is its own.
    command = subjects.command(3, "t1", "s1", "send")
    ack = await gateway.nc.jetstream().publish(command, b"{}")
    assert ack.stream == subjects.COMMANDS_STREAM
    js = worker.nc.jetstream()
    await js.add_consumer(
        subjects.COMMANDS_STREAM,
        nats.js.api.ConsumerConfig(durable_name=subjects.partition_consumer(3),
                                   filter_subject=subjects.partition_commands(3)),
    )  # fmt: skip
    sub = await js.pull_subscribe_bind(
        durable=subjects.partition_consumer(3), stream=subjects.COMMANDS_STREAM
    )
    [msg] = await sub.fetch(1, timeout=5)
    assert msg.subject == command
    await msg.ack()
    assert msg.reply.startswith(f"$JS.ACK.{subjects.COMMANDS_STREAM}.")

    # A query answered by the worker over the gateway's private inbox.
    async def answer(request: Msg) -> None:
        await request.respond(b"yes")

    rpc = await worker.nc.subscribe(subjects.partition_rpc(3), cb=answer)
    await worker.nc.flush()  # the server has the subscription before the request comes
    reply = await gateway.nc.request(subjects.rpc(3, "t1", "s1", "exists"), b"", timeout=5)
    assert reply.data == b"yes"
    await rpc.unsubscribe()
    leases = await worker.nc.jetstream().key_value(subjects.LEASES_BUCKET)
    await leases.put(subjects.lease_key(3), b"me")
    assert gateway.errors == [] and worker.errors == []


async def test_a_service_is_refused_what_belongs_to_another(connect: object) -> None:
    gateway = await connect("gateway")  # type: ignore[operator]
    await broker.ensure_topology(gateway.nc.jetstream(), CommonSettings())
    # The gateway may not take a partition's lease nor speak for a worker.
    await gateway.nc.publish(f"$KV.{subjects.LEASES_BUCKET}.{subjects.lease_key(0)}", b"stolen")
    assert await gateway.refused("publish", f"$KV.{subjects.LEASES_BUCKET}.{subjects.lease_key(0)}")
    await gateway.nc.publish(subjects.event("t1", "s1", "session.status"), b"{}")
    assert await gateway.refused("publish", subjects.event("t1", "s1", "session.status"))

    worker = await connect("session-worker")  # type: ignore[operator]
    # A worker may not issue commands, nor read the gateway's replies.
    await worker.nc.publish(subjects.command(0, "t1", "s1", "send"), b"{}")
    assert await worker.refused("publish", subjects.command(0, "t1", "s1", "send"))
    await worker.nc.subscribe(subjects.inbox_prefix("gateway") + ".>")
    assert await worker.refused("subscription", subjects.inbox_prefix("gateway") + ".>")

    scheduler = await connect("scheduler")  # type: ignore[operator]
    await scheduler.nc.subscribe(subjects.EVENTS_ALL)
    assert await scheduler.refused("subscription", subjects.EVENTS_ALL)
    # It sends through the gateway's send path only: never a command of its own, nor a worker's query.
    await scheduler.nc.publish(subjects.command(0, "t1", "s1", "send"), b"{}")
    assert await scheduler.refused("publish", subjects.command(0, "t1", "s1", "send"))
    await scheduler.nc.publish(subjects.rpc(0, "t1", "s1", "exists"), b"{}")
    assert await scheduler.refused("publish", subjects.rpc(0, "t1", "s1", "exists"))


async def test_a_wrong_password_does_not_connect(server: ServerProcess) -> None:
    with pytest.raises((NoServersError, nats.errors.Error, OSError)):
        await Client().connect(server.url, "gateway", "not-the-password")
