"""Webhook endpoints and deliveries in PostgreSQL; the signing secrets encrypted at rest."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from zapgate.common.crypto import CredentialCipher
from zapgate.common.db import utcnow
from zapgate.common.ids import new_id
from zapgate.gateway.adapters.tables import WebhookDeliveryRow, WebhookEndpointRow
from zapgate.gateway.domain.webhooks import new_secret

ADMIN = "admin"  # the associated data of the admin's endpoints' secrets
ROTATION = timedelta(hours=24)
LEASE = timedelta(seconds=60)
"""A delivery being sent is not due again for this long: a dispatcher killed mid-send leaves it
to another after the lease (at least once)."""


class WebhookStore:
    """Reads and writes of ``webhook_endpoints`` and ``webhook_deliveries``."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], cipher: CredentialCipher | None) -> None:
        self.sessions = sessions
        self.cipher = cipher

    def _seal(self, secret: str, tenant: str | None, endpoint_id: str) -> bytes:
        if self.cipher is None:
            raise RuntimeError("webhooks need ZAPGATE_SECRET_KEY to keep their signing secrets")
        return self.cipher.encrypt(secret.encode(), tenant or ADMIN, f"webhook/{endpoint_id}")

    def secrets(self, row: WebhookEndpointRow, now: datetime) -> list[str]:
        """The secrets that sign now: the current one, and the previous one during a rotation."""
        assert self.cipher is not None
        owner, bound = row.tenant_id or ADMIN, f"webhook/{row.id}"
        found = [self.cipher.decrypt(row.secret, owner, bound).decode()]
        if row.previous_secret is not None and row.previous_until is not None and now < row.previous_until:
            found.append(self.cipher.decrypt(row.previous_secret, owner, bound).decode())
        return found

    # ------------------------------------------------------------ endpoints

    async def create(self, tenant: str | None, values: dict[str, Any]) -> tuple[WebhookEndpointRow, str]:
        """A new endpoint and its secret (shown once)."""
        endpoint_id, secret, now = new_id(), new_secret(), utcnow()
        row = WebhookEndpointRow(id=endpoint_id, tenant_id=tenant, secret=self._seal(secret, tenant, endpoint_id),
                                 state="active", created_at=now, updated_at=now, **values)  # fmt: skip
        async with self.sessions.begin() as s:
            s.add(row)
        return row, secret

    async def endpoints(self, tenant: str | None) -> list[WebhookEndpointRow]:
        """A tenant's endpoints (None: the admin's), newest first."""
        async with self.sessions() as s:
            owner = (
                WebhookEndpointRow.tenant_id.is_(None)
                if tenant is None
                else WebhookEndpointRow.tenant_id == tenant
            )
            return list(
                (
                    await s.scalars(
                        select(WebhookEndpointRow).where(owner).order_by(WebhookEndpointRow.id.desc())
                    )
                ).all()
            )

    async def get(self, tenant: str | None, endpoint_id: str) -> WebhookEndpointRow | None:
        """One endpoint of the tenant (None: of the admin)."""
        async with self.sessions() as s:
            row = await s.get(WebhookEndpointRow, endpoint_id)
        return row if row is not None and row.tenant_id == tenant else None

    async def change(self, row: WebhookEndpointRow, values: dict[str, Any]) -> WebhookEndpointRow:
        """Change an endpoint (``state: active`` also re-enables a disabled one)."""
        async with self.sessions.begin() as s:
            found = await s.get(WebhookEndpointRow, row.id, with_for_update=True)
            assert found is not None
            for key, value in values.items():
                setattr(found, key, value)
            if values.get("state") == "active":
                found.disabled_reason = None
            found.updated_at = utcnow()
            return found

    async def rotate(self, row: WebhookEndpointRow) -> tuple[WebhookEndpointRow, str]:
        """A new secret; the previous one signs too for ROTATION."""
        secret, now = new_secret(), utcnow()
        async with self.sessions.begin() as s:
            found = await s.get(WebhookEndpointRow, row.id, with_for_update=True)
            assert found is not None
            found.previous_secret, found.previous_until = found.secret, now + ROTATION
            found.secret = self._seal(secret, found.tenant_id, found.id)
            found.updated_at = now
            return found, secret

    async def remove(self, row: WebhookEndpointRow) -> None:
        """Delete an endpoint and its deliveries."""
        async with self.sessions.begin() as s:
            await s.execute(delete(WebhookEndpointRow).where(WebhookEndpointRow.id == row.id))

    async def disable(self, endpoint_id: str, reason: str) -> WebhookEndpointRow | None:
        """Disable an endpoint (410, or the schedule ran out); None if it was not active."""
        async with self.sessions.begin() as s:
            row = await s.get(WebhookEndpointRow, endpoint_id, with_for_update=True)
            if row is None or row.state == "disabled":
                return None
            row.state, row.disabled_reason, row.updated_at = "disabled", reason, utcnow()
            return row

    async def live(self) -> list[WebhookEndpointRow]:
        """Every endpoint that takes events (active, or paused: its events wait)."""
        async with self.sessions() as s:
            return list(
                (
                    await s.scalars(select(WebhookEndpointRow).where(WebhookEndpointRow.state != "disabled"))
                ).all()
            )

    # ------------------------------------------------------------ deliveries

    async def record(self, rows: list[dict[str, Any]], again: bool = False) -> int:
        """Deliveries to make, once per (endpoint, event); ``again``: a replay, which makes a
        delivered one pending again. How many were recorded."""
        if not rows:
            return 0
        now = utcnow()
        values = [{"id": new_id(), "status": "pending", "attempts": 0, "next_at": now, "created_at": now, **r}
                  for r in rows]  # fmt: skip
        stmt = insert(WebhookDeliveryRow).values(values)
        if again:
            stmt = stmt.on_conflict_do_update(
                index_elements=["endpoint_id", "event_id"],
                set_={"status": "pending", "attempts": 0, "next_at": now, "last_error": None},
            )
        else:
            stmt = stmt.on_conflict_do_nothing()
        async with self.sessions.begin() as s:
            result = await s.execute(stmt.returning(WebhookDeliveryRow.id))
            return len(result.all())

    async def claim(
        self, lanes: int, busy: set[str], floor: int, per_lane: int = 16
    ) -> list[tuple[WebhookEndpointRow, list[WebhookDeliveryRow]]]:
        """Due runs of deliveries: for up to ``lanes`` (endpoint, session) pairs whose oldest
        pending delivery is due, that one and the next ones in stream order (up to
        ``per_lane``), so a session's events go out in order; each is leased before it is sent.

        Only events at or below ``floor`` go: every event up to it has been recorded, so no
        earlier event of the session can still turn up (one whose recording was cut short by a
        crash comes again, and a replica's batch can be recorded after a later one)."""
        now = utcnow()
        query = text(
            "WITH heads AS (SELECT DISTINCT ON (d.endpoint_id, d.session) d.endpoint_id, d.session, d.next_at, "
            "d.seq FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id "
            "AND e.state = 'active' WHERE d.status = 'pending' ORDER BY d.endpoint_id, d.session, d.seq, d.id), "
            "due AS (SELECT endpoint_id, session FROM heads WHERE next_at <= :now AND seq <= :floor "
            "LIMIT :lanes) "
            "SELECT x.id FROM due CROSS JOIN LATERAL (SELECT d.id FROM webhook_deliveries d "
            "WHERE d.endpoint_id = due.endpoint_id AND d.session = due.session AND d.status = 'pending' "
            "AND d.next_at <= :now AND d.seq <= :floor ORDER BY d.seq, d.id LIMIT :per_lane) x"
        )  # fmt: skip
        params = {"now": now, "lanes": lanes + len(busy), "per_lane": per_lane, "floor": floor}
        async with self.sessions.begin() as s:
            found = await s.execute(query, params)
            ids = [i for (i,) in found.all() if i not in busy]
            if not ids:
                return []
            rows = (
                await s.scalars(
                    select(WebhookDeliveryRow)
                    .where(WebhookDeliveryRow.id.in_(ids), WebhookDeliveryRow.status == "pending",
                           WebhookDeliveryRow.next_at <= now)
                    .order_by(WebhookDeliveryRow.seq, WebhookDeliveryRow.id)
                    .with_for_update(skip_locked=True)
                )
            ).all()  # fmt: skip
            for row in rows:
                row.next_at = now + LEASE
            endpoints = {e.id: e for e in (await s.scalars(
                select(WebhookEndpointRow).where(WebhookEndpointRow.id.in_({r.endpoint_id for r in rows}))
            )).all()}  # fmt: skip
        runs: dict[tuple[str, str], list[WebhookDeliveryRow]] = {}
        for row in rows:
            if row.endpoint_id in endpoints:
                runs.setdefault((row.endpoint_id, row.session), []).append(row)
        return [(endpoints[e], run) for (e, _), run in list(runs.items())[:lanes]]

    async def finish_many(self, outcomes: list[tuple[str, dict[str, Any]]]) -> None:
        """The outcomes of a run's attempts, in one transaction."""
        if not outcomes:
            return
        async with self.sessions.begin() as s:
            for delivery_id, values in outcomes:
                await s.execute(
                    update(WebhookDeliveryRow).where(WebhookDeliveryRow.id == delivery_id).values(**values)
                )

    async def deliveries(self, endpoint_id: str, limit: int, status: str | None) -> list[WebhookDeliveryRow]:
        """An endpoint's deliveries, newest first."""
        query = select(WebhookDeliveryRow).where(WebhookDeliveryRow.endpoint_id == endpoint_id)
        if status is not None:
            query = query.where(WebhookDeliveryRow.status == status)
        async with self.sessions() as s:
            return list((await s.scalars(query.order_by(WebhookDeliveryRow.id.desc()).limit(limit))).all())

    async def retry(self, endpoint_id: str, delivery_id: str) -> WebhookDeliveryRow | None:
        """Send one delivery again now."""
        async with self.sessions.begin() as s:
            row = await s.get(WebhookDeliveryRow, delivery_id, with_for_update=True)
            if row is None or row.endpoint_id != endpoint_id:
                return None
            row.status, row.attempts, row.next_at, row.last_error = "pending", 0, utcnow(), None
            return row
