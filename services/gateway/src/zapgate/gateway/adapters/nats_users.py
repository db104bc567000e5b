"""Tenants' NATS users: issued by the admin, kept as a hash, checked by the auth callout."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from zapgate.common.db import utcnow
from zapgate.common.ids import new_id
from zapgate.gateway.adapters.tables import NatsUserRow

USER_PREFIX = "zgt_"
"""A tenant NATS user's name: the prefix and its id (the services' users never look like it)."""
PASSWORD_PREFIX = "zgnats_"


def user_name(user_id: str) -> str:
    """The name a tenant's NATS user connects with."""
    return USER_PREFIX + user_id


def _hash(password: str) -> str:
    return hashlib.sha256(password.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedUser:
    """A new NATS user with its password, shown once."""

    row: NatsUserRow
    password: str


class NatsUserStore:
    """``nats_users``."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    async def issue(self, tenant_id: str, description: str | None) -> IssuedUser:
        """A new user of the tenant; its password is random and kept only as its hash."""
        password = PASSWORD_PREFIX + secrets.token_urlsafe(24)
        row = NatsUserRow(
            id=new_id(), tenant_id=tenant_id, password_hash=_hash(password), description=description,
            created_at=utcnow(),
        )  # fmt: skip
        async with self.sessions.begin() as s:
            s.add(row)
        return IssuedUser(row, password)

    async def live(self, tenant_id: str) -> list[NatsUserRow]:
        """The tenant's users that are not revoked, oldest first."""
        async with self.sessions() as s:
            query = (
                select(NatsUserRow)
                .where(NatsUserRow.tenant_id == tenant_id, NatsUserRow.revoked_at.is_(None))
                .order_by(NatsUserRow.id)
            )
            return list((await s.scalars(query)).all())

    async def revoke(self, tenant_id: str, user_id: str, at: datetime | None = None) -> bool:
        """Revoke one; whether it was live."""
        async with self.sessions.begin() as s:
            result = await s.execute(
                update(NatsUserRow)
                .where(NatsUserRow.id == user_id, NatsUserRow.tenant_id == tenant_id,
                       NatsUserRow.revoked_at.is_(None))
                .values(revoked_at=at or utcnow())
                .returning(NatsUserRow.id)
            )  # fmt: skip
            return result.first() is not None

    async def authenticate(self, user: str, password: str) -> str | None:
        """The tenant of a live user whose password matches; None otherwise."""
        if not user.startswith(USER_PREFIX) or not password:
            return None
        async with self.sessions() as s:
            row = await s.get(NatsUserRow, user[len(USER_PREFIX) :])
        if row is None or row.revoked_at is not None:
            return None
        return row.tenant_id if hmac.compare_digest(row.password_hash, _hash(password)) else None
