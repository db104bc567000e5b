"""The scheduler's data: contact lists, opt-outs, templates, schedules and their fires."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Executable, delete, func, literal_column, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from zapgate.common.ids import new_id
from zapgate.scheduler.adapters.tables import (
    ContactListRow,
    ContactRow,
    DeliveryRow,
    FireRow,
    ScheduleRow,
    SuppressionRow,
    TemplateRow,
    TenantSettingsRow,
)
from zapgate.scheduler.domain.contacts import DEFAULT_OPTOUT, Member


class Store:
    """Reads and writes of the scheduler's tables; every call names its tenant."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions

    # ------------------------------------------------------------ lists and members

    async def create_list(self, tenant: str, name: str, description: str | None) -> ContactListRow:
        """A new empty list."""
        row = ContactListRow(id=new_id(), tenant_id=tenant, name=name, description=description)
        async with self.sessions.begin() as s:
            s.add(row)
        return row

    async def lists(self, tenant: str) -> list[tuple[ContactListRow, int]]:
        """The tenant's lists with their member counts, newest first."""
        count = select(func.count()).where(ContactRow.list_id == ContactListRow.id).scalar_subquery()
        async with self.sessions() as s:
            rows = await s.execute(
                select(ContactListRow, count)
                .where(ContactListRow.tenant_id == tenant)
                .order_by(ContactListRow.id.desc())
            )
            return [(r[0], r[1]) for r in rows.all()]

    async def get_list(self, tenant: str, list_id: str) -> tuple[ContactListRow, int] | None:
        """One list and its member count."""
        async with self.sessions() as s:
            row = await s.get(ContactListRow, list_id)
            if row is None or row.tenant_id != tenant:
                return None
            n = await s.scalar(select(func.count()).where(ContactRow.list_id == list_id))
            return row, int(n or 0)

    async def delete_list(self, tenant: str, list_id: str) -> bool:
        """Delete a list and its members."""
        async with self.sessions.begin() as s:
            result = await s.execute(
                delete(ContactListRow).where(ContactListRow.id == list_id, ContactListRow.tenant_id == tenant)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    async def upsert_members(self, tenant: str, list_id: str, members: Sequence[Member]) -> tuple[int, int]:
        """Add members, replacing those already there by chat id; (added, updated)."""
        added = 0
        async with self.sessions.begin() as s:
            for start in range(0, len(members), 1000):
                chunk = members[start : start + 1000]
                stmt = insert(ContactRow).values(
                    [
                        {"list_id": list_id, "chat": m.chat, "tenant_id": tenant, "phone": m.phone,
                         "name": m.name, "fields": m.fields, "tags": m.tags}
                        for m in chunk
                    ]
                )  # fmt: skip
                upsert: Executable = stmt.on_conflict_do_update(
                    index_elements=["list_id", "chat"],
                    set_={
                        "name": stmt.excluded.name,
                        "fields": stmt.excluded.fields,
                        "tags": stmt.excluded.tags,
                    },
                ).returning(literal_column("xmax = 0"))
                # PostgreSQL's xmax is 0 on a row this statement inserted, not on one it updated.
                added += sum(1 for (new,) in (await s.execute(upsert)).all() if new)
        return added, len(members) - added

    async def members(
        self, tenant: str, list_id: str, after: str | None, limit: int, tags: Iterable[str] | None = None
    ) -> list[ContactRow]:
        """Members in chat-id order after ``after``; with ``tags``, those with any of them."""
        query = select(ContactRow).where(ContactRow.list_id == list_id, ContactRow.tenant_id == tenant)
        if after is not None:
            query = query.where(ContactRow.chat > after)
        if tags:
            query = query.where(ContactRow.tags.overlap(list(tags)))
        async with self.sessions() as s:
            return list((await s.scalars(query.order_by(ContactRow.chat).limit(limit))).all())

    async def member(self, tenant: str, list_id: str, chat: str) -> ContactRow | None:
        """One member of a list."""
        async with self.sessions() as s:
            row = await s.get(ContactRow, (list_id, chat))
            return row if row is not None and row.tenant_id == tenant else None

    async def field_names(self, tenant: str, list_id: str) -> list[str]:
        """Every field name some member of the list has."""
        async with self.sessions() as s:
            keys = func.jsonb_object_keys(ContactRow.fields)
            rows = await s.execute(
                select(keys).where(ContactRow.list_id == list_id, ContactRow.tenant_id == tenant).distinct()
            )
            return [r[0] for r in rows.all()]

    async def list_in_use(self, tenant: str, list_id: str) -> bool:
        """Whether an unfinished schedule sends to the list."""
        async with self.sessions() as s:
            n = await s.scalar(
                select(func.count()).where(
                    ScheduleRow.tenant_id == tenant,
                    ScheduleRow.list_id == list_id,
                    ScheduleRow.state != "completed",
                )
            )
            return bool(n)

    async def remove_member(self, tenant: str, list_id: str, chat: str) -> bool:
        """Remove one member."""
        async with self.sessions.begin() as s:
            result = await s.execute(
                delete(ContactRow).where(
                    ContactRow.list_id == list_id, ContactRow.tenant_id == tenant, ContactRow.chat == chat
                )
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    # ------------------------------------------------------------ opt-out

    async def suppressions(self, tenant: str) -> list[SuppressionRow]:
        """The tenant's suppressed numbers, newest first."""
        async with self.sessions() as s:
            query = select(SuppressionRow).where(SuppressionRow.tenant_id == tenant)
            return list((await s.scalars(query.order_by(SuppressionRow.created_at.desc()))).all())

    async def suppress(self, tenant: str, chat: str, source: str, reason: str | None) -> bool:
        """Suppress a number; False if it already was."""
        async with self.sessions.begin() as s:
            stmt = insert(SuppressionRow).values(tenant_id=tenant, chat=chat, source=source, reason=reason)
            result = await s.execute(stmt.on_conflict_do_nothing())
            return bool(result.rowcount)  # type: ignore[attr-defined]

    async def unsuppress(self, tenant: str, chat: str) -> bool:
        """Lift a suppression."""
        async with self.sessions.begin() as s:
            result = await s.execute(
                delete(SuppressionRow).where(SuppressionRow.tenant_id == tenant, SuppressionRow.chat == chat)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    async def keywords(self, tenant: str) -> list[str]:
        """The tenant's opt-out keywords."""
        async with self.sessions() as s:
            row = await s.get(TenantSettingsRow, tenant)
            return list(row.optout_keywords) if row is not None else list(DEFAULT_OPTOUT)

    async def set_keywords(self, tenant: str, keywords: list[str]) -> None:
        """Replace the tenant's opt-out keywords."""
        async with self.sessions.begin() as s:
            stmt = insert(TenantSettingsRow).values(tenant_id=tenant, optout_keywords=keywords)
            await s.execute(
                stmt.on_conflict_do_update(index_elements=["tenant_id"], set_={"optout_keywords": keywords})
            )

    # ------------------------------------------------------------ templates

    async def create_template(
        self, tenant: str, name: str, message: dict[str, Any], defaults: dict[str, str]
    ) -> TemplateRow:
        """A new template."""
        row = TemplateRow(id=new_id(), tenant_id=tenant, name=name, message=message, defaults=defaults)
        async with self.sessions.begin() as s:
            s.add(row)
        return row

    async def templates(self, tenant: str) -> list[TemplateRow]:
        """The tenant's templates, newest first."""
        async with self.sessions() as s:
            query = select(TemplateRow).where(TemplateRow.tenant_id == tenant).order_by(TemplateRow.id.desc())
            return list((await s.scalars(query)).all())

    async def template(self, tenant: str, template_id: str) -> TemplateRow | None:
        """One template of the tenant."""
        async with self.sessions() as s:
            row = await s.get(TemplateRow, template_id)
            return row if row is not None and row.tenant_id == tenant else None

    async def replace_template(
        self, tenant: str, template_id: str, name: str, message: dict[str, Any], defaults: dict[str, str]
    ) -> TemplateRow | None:
        """Change a template (fires already made keep what they rendered)."""
        async with self.sessions.begin() as s:
            row = await s.get(TemplateRow, template_id)
            if row is None or row.tenant_id != tenant:
                return None
            row.name, row.message, row.defaults = name, message, defaults
            return row

    async def delete_template(self, tenant: str, template_id: str) -> bool:
        """Delete a template."""
        async with self.sessions.begin() as s:
            result = await s.execute(
                delete(TemplateRow).where(TemplateRow.id == template_id, TemplateRow.tenant_id == tenant)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    async def template_in_use(self, tenant: str, template_id: str) -> bool:
        """Whether an unfinished schedule uses the template."""
        async with self.sessions() as s:
            n = await s.scalar(
                select(func.count()).where(
                    ScheduleRow.tenant_id == tenant,
                    ScheduleRow.template_id == template_id,
                    ScheduleRow.state != "completed",
                )
            )
            return bool(n)

    # ------------------------------------------------------------ schedules

    async def add_schedule(self, row: ScheduleRow) -> ScheduleRow:
        """Store a new schedule."""
        async with self.sessions.begin() as s:
            s.add(row)
        return row

    async def schedule(self, tenant: str, schedule_id: str) -> ScheduleRow | None:
        """One schedule of the tenant."""
        async with self.sessions() as s:
            row = await s.get(ScheduleRow, schedule_id)
            return row if row is not None and row.tenant_id == tenant else None

    async def schedules(self, tenant: str, limit: int = 500) -> list[ScheduleRow]:
        """The tenant's schedules, newest first."""
        async with self.sessions() as s:
            query = select(ScheduleRow).where(ScheduleRow.tenant_id == tenant)
            return list((await s.scalars(query.order_by(ScheduleRow.id.desc()).limit(limit))).all())

    async def change_schedule(
        self, tenant: str, schedule_id: str, values: dict[str, Any]
    ) -> ScheduleRow | None:
        """Set columns of a schedule; the row after, or None. Waits for a claim in flight to end, so
        a change never lands in the middle of a fire."""
        async with self.sessions.begin() as s:
            row = await s.get(ScheduleRow, schedule_id, with_for_update=True)
            if row is None or row.tenant_id != tenant:
                return None
            for key, value in values.items():
                setattr(row, key, value)
            row.updated_at = func.now()
        async with self.sessions() as s:
            return await s.get(ScheduleRow, schedule_id)

    async def delete_schedule(self, tenant: str, schedule_id: str) -> bool:
        """Delete a schedule, its fires and its unsent messages (sent ones stay in the gateway)."""
        async with self.sessions.begin() as s:
            result = await s.execute(
                delete(ScheduleRow).where(ScheduleRow.id == schedule_id, ScheduleRow.tenant_id == tenant)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    async def fires(
        self, tenant: str, schedule_id: str, limit: int
    ) -> list[tuple[FireRow, list[DeliveryRow]]]:
        """A schedule's fires, newest first, each with its messages."""
        async with self.sessions() as s:
            fires = list(
                (
                    await s.scalars(
                        select(FireRow)
                        .where(FireRow.schedule_id == schedule_id, FireRow.tenant_id == tenant)
                        .order_by(FireRow.nominal_at.desc())
                        .limit(limit)
                    )
                ).all()
            )
            if not fires:
                return []
            deliveries = (
                await s.scalars(
                    select(DeliveryRow)
                    .where(DeliveryRow.fire_id.in_([f.id for f in fires]))
                    .order_by(DeliveryRow.chat)
                )
            ).all()
        by_fire: dict[str, list[DeliveryRow]] = {}
        for d in deliveries:
            assert d.fire_id is not None
            by_fire.setdefault(d.fire_id, []).append(d)
        return [(f, by_fire.get(f.id, [])) for f in fires]

    async def fire_counts(self, schedule_id: str) -> dict[str, int]:
        """How many fires of each outcome a schedule has."""
        async with self.sessions() as s:
            rows = await s.execute(
                select(FireRow.outcome, func.count())
                .where(FireRow.schedule_id == schedule_id)
                .group_by(FireRow.outcome)
            )
            return {outcome: int(n) for outcome, n in rows.all()}

    async def replied(self, tenant: str, session: str, sender: str) -> None:
        """A contact wrote to a session: campaign messages it had from that session count a reply."""
        number, _, server = sender.partition("@")
        chat = f"{number}@c.us" if server == "s.whatsapp.net" else sender
        async with self.sessions.begin() as s:
            await s.execute(
                update(DeliveryRow)
                .where(
                    DeliveryRow.tenant_id == tenant, DeliveryRow.chat == chat, DeliveryRow.session == session,
                    DeliveryRow.campaign_id.is_not(None), DeliveryRow.message_id.is_not(None),
                    DeliveryRow.replied_at.is_(None),
                    DeliveryRow.status.in_(("queued", "sent", "delivered", "read", "played")),
                )
                .values(replied_at=func.now())
            )  # fmt: skip

    async def set_status(self, message_id: str, status: str, rank: int, reason: str | None) -> None:
        """A message a delivery produced moved on (only ever forward)."""
        async with self.sessions.begin() as s:
            await s.execute(
                update(DeliveryRow)
                .where(DeliveryRow.message_id == message_id, DeliveryRow.rank < rank)
                .values(status=status, rank=rank, reason=reason, updated_at=func.now())
            )
