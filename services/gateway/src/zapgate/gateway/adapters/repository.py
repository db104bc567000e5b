"""Tenant and API-key persistence."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from zapgate.common.db import utcnow
from zapgate.common.ids import new_id
from zapgate.gateway.adapters.quotas import locked_quotas
from zapgate.gateway.adapters.tables import ApiKeyRow, TenantRow
from zapgate.gateway.domain.api_keys import display_prefix, generate_key, hash_key
from zapgate.gateway.domain.quotas import Quotas, check


class NameTaken(Exception):
    """A tenant with that name exists already."""


@dataclass(frozen=True, slots=True)
class KeyOwner:
    """What a valid key resolves to."""

    key_id: str
    tenant_id: str


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A key as created: the plain key exists only here, once."""

    id: str
    api_key: str
    prefix: str
    created_at: datetime


class TenantRepository:
    """Reads and writes tenants and their keys."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], quotas: Quotas) -> None:
        self.sessions = sessions
        self.quotas = quotas

    @staticmethod
    def _new_key(tenant_id: str) -> tuple[ApiKeyRow, IssuedKey]:
        key = generate_key()
        row = ApiKeyRow(
            id=new_id(),
            tenant_id=tenant_id,
            key_hash=hash_key(key),
            prefix=display_prefix(key),
            created_at=utcnow(),
        )
        return row, IssuedKey(id=row.id, api_key=key, prefix=row.prefix, created_at=row.created_at)

    async def create_tenant(self, name: str) -> tuple[TenantRow, IssuedKey]:
        """Create a tenant with its first key."""
        tenant = TenantRow(id=new_id(), name=name, status="active", created_at=utcnow())
        key_row, issued = self._new_key(tenant.id)
        async with self.sessions() as db:
            db.add(tenant)
            try:
                await db.flush()  # the only unique column a new tenant can collide on is its name
            except IntegrityError as exc:
                raise NameTaken(name) from exc
            db.add(key_row)
            await db.commit()
        return tenant, issued

    async def list_tenants(self, limit: int, after: str | None) -> list[TenantRow]:
        """Tenants in creation order (ids are ULIDs), after a cursor."""
        query = select(TenantRow).order_by(TenantRow.id).limit(limit)
        if after:
            query = query.where(TenantRow.id > after)
        async with self.sessions() as db:
            return list((await db.scalars(query)).all())

    async def get_tenant(self, tenant_id: str) -> TenantRow | None:
        """One tenant, or None."""
        async with self.sessions() as db:
            return await db.get(TenantRow, tenant_id)

    async def issue_key(self, tenant_id: str) -> IssuedKey:
        """Add a key to a tenant; QuotaExceeded past its API-key quota."""
        row, issued = self._new_key(tenant_id)
        async with self.sessions() as db:
            quotas = await locked_quotas(db, tenant_id, self.quotas)
            live = await db.scalar(
                select(func.count()).where(ApiKeyRow.tenant_id == tenant_id, ApiKeyRow.revoked_at.is_(None))
            )
            check("api_keys", quotas.api_keys, int(live or 0))
            db.add(row)
            await db.commit()
        return issued

    async def list_keys(self, tenant_id: str) -> list[ApiKeyRow]:
        """The live keys of a tenant (hashes are never returned to clients)."""
        query = (
            select(ApiKeyRow)
            .where(ApiKeyRow.tenant_id == tenant_id, ApiKeyRow.revoked_at.is_(None))
            .order_by(ApiKeyRow.id)
        )
        async with self.sessions() as db:
            return list((await db.scalars(query)).all())

    async def revoke_key(self, tenant_id: str, key_id: str) -> str | None:
        """Revoke a key; returns its hash (to evict caches), or None if there was no such live key."""
        query = (
            update(ApiKeyRow)
            .where(ApiKeyRow.id == key_id, ApiKeyRow.tenant_id == tenant_id, ApiKeyRow.revoked_at.is_(None))
            .values(revoked_at=utcnow())
            .returning(ApiKeyRow.key_hash)
        )
        async with self.sessions() as db:
            key_hash = (await db.execute(query)).scalar_one_or_none()
            await db.commit()
        return key_hash

    async def resolve_key(self, key_hash: str) -> KeyOwner | None:
        """The live key with this hash whose tenant is active, or None."""
        query = (
            select(ApiKeyRow.id, ApiKeyRow.tenant_id)
            .join(TenantRow, TenantRow.id == ApiKeyRow.tenant_id)
            .where(
                ApiKeyRow.key_hash == key_hash, ApiKeyRow.revoked_at.is_(None), TenantRow.status == "active"
            )
        )
        async with self.sessions() as db:
            row = (await db.execute(query)).first()
        return KeyOwner(key_id=row[0], tenant_id=row[1]) if row else None
