"""Stored rows to the answers of the API (no I/O)."""

from __future__ import annotations

from zapgate.common.scheduling import (
    ContactListView,
    FireMessage,
    FireView,
    MemberView,
    ScheduleView,
    SuppressionView,
    TemplateView,
)
from zapgate.scheduler.adapters.tables import (
    ContactListRow,
    ContactRow,
    DeliveryRow,
    FireRow,
    ScheduleRow,
    SuppressionRow,
    TemplateRow,
)
from zapgate.scheduler.domain import templates


def contact_list(row: ContactListRow, count: int) -> ContactListView:
    """A list and its size."""
    return ContactListView(
        id=row.id, name=row.name, description=row.description, contacts=count, created_at=row.created_at
    )


def contact(row: ContactRow) -> MemberView:
    """A member."""
    return MemberView(
        chat=row.chat, phone=row.phone, name=row.name, fields=row.fields, tags=row.tags, added_at=row.added_at
    )


def suppression(row: SuppressionRow) -> SuppressionView:
    """A suppressed number."""
    source = "keyword" if row.source == "keyword" else "manual"
    return SuppressionView(chat=row.chat, source=source, reason=row.reason, created_at=row.created_at)


def template(row: TemplateRow) -> TemplateView:
    """A template and the placeholders it uses."""
    return TemplateView(
        id=row.id, name=row.name, message=row.message, defaults=row.defaults,
        variables=templates.variables(row.message), created_at=row.created_at,
    )  # fmt: skip


def schedule(row: ScheduleRow) -> ScheduleView:
    """A schedule."""
    kind = "once" if row.kind == "once" else "cron" if row.kind == "cron" else "interval"
    state = "active" if row.state == "active" else "paused" if row.state == "paused" else "completed"
    return ScheduleView(
        id=row.id, name=row.name, session=row.session, kind=kind, state=state, send_at=row.send_at,
        cron=row.cron, interval_seconds=row.interval_seconds, timezone=row.timezone, start_at=row.start_at,
        end_at=row.end_at, max_count=row.max_count, fired=row.fired, next_fire_at=row.next_fire_at,
        to=row.to_chat, list_id=row.list_id, tags=row.tags, message=row.message, template_id=row.template_id,
        variables=row.variables, catchup_seconds=row.catchup_seconds, created_at=row.created_at,
        updated_at=row.updated_at,
    )  # fmt: skip


def fire(row: FireRow, deliveries: list[DeliveryRow]) -> FireView:
    """A fire with its messages."""
    outcome = "fired" if row.outcome == "fired" else "missed"
    messages = [
        FireMessage(to=d.chat, status=d.status, message_id=d.message_id, reason=d.reason) for d in deliveries
    ]
    if row.outcome == "missed":
        messages = []
    late = (row.fired_at - row.nominal_at).total_seconds()
    return FireView(
        nominal_at=row.nominal_at, fired_at=row.fired_at, outcome=outcome, late_seconds=late,
        reason=row.reason, messages=messages,
    )  # fmt: skip
