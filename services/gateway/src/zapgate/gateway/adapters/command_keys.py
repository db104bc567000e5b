"""Idempotency of lifecycle commands: one key, one command, published once."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from zapgate.common.db import utcnow
from zapgate.common.messages import Command, encode
from zapgate.gateway.adapters.tables import CommandKeyRow


class CommandKeys:
    """``command_keys``: the first command sent under a tenant's key, for every retry of it."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def claim(self, key: str, command: Command) -> CommandKeyRow:
        """Record ``command`` under ``key``, or return what was recorded under it before."""
        values = {
            "tenant_id": command.tenant, "key": key, "session": command.session, "verb": command.verb,
            "command_id": command.id, "command": encode(command), "published": False, "created_at": utcnow(),
        }  # fmt: skip
        query = insert(CommandKeyRow).values(**values).on_conflict_do_nothing()
        async with self.sessions() as db:
            await db.execute(query)
            await db.commit()
            row = await db.get(CommandKeyRow, (command.tenant, key))
        assert row is not None
        return row

    async def published(self, tenant_id: str, key: str) -> None:
        """The command under ``key`` reached the bus: a retry does not publish it again."""
        async with self.sessions() as db:
            await db.execute(
                update(CommandKeyRow)
                .where(CommandKeyRow.tenant_id == tenant_id, CommandKeyRow.key == key)
                .values(published=True)
            )
            await db.commit()
