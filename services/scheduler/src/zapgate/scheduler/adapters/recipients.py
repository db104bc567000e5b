"""Recipients of a fire or a campaign: rendered per contact, or skipped with the reason."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from zapgate.scheduler.adapters.tables import ContactRow, SuppressionRow, TemplateRow
from zapgate.scheduler.domain import templates


@dataclass(frozen=True)
class Rendered:
    """One recipient's message, or why it gets none."""

    chat: str
    message: dict[str, Any] | None
    reason: str | None


async def body_of(
    s: AsyncSession, message: dict[str, Any] | None, template_id: str | None
) -> tuple[dict[str, Any] | None, dict[str, str]]:
    """The message (or the template's) and the template's defaults; None if the template is gone."""
    if template_id is None:
        return message, {}
    template = await s.get(TemplateRow, template_id)
    return (None, {}) if template is None else (template.message, template.defaults)


async def members(s: AsyncSession, tenant: str, list_id: str, tags: list[str] | None) -> list[ContactRow]:
    """A list's members (with any of ``tags``), in chat-id order."""
    query = select(ContactRow).where(ContactRow.list_id == list_id, ContactRow.tenant_id == tenant)
    if tags:
        query = query.where(ContactRow.tags.overlap(tags))
    return list((await s.scalars(query.order_by(ContactRow.chat))).all())


async def suppressed(s: AsyncSession, tenant: str, chats: Iterable[str]) -> set[str]:
    """Which of ``chats`` no schedule or campaign may message."""
    wanted = list(chats)
    if not wanted:
        return set()
    query = select(SuppressionRow.chat).where(
        SuppressionRow.tenant_id == tenant, SuppressionRow.chat.in_(wanted)
    )
    return set((await s.scalars(query)).all())


def render(
    recipients: Iterable[tuple[str, str | None, Mapping[str, str]]],
    message: dict[str, Any] | None,
    defaults: Mapping[str, str],
    variables: Mapping[str, str],
    blocked: set[str],
    seed: str,
) -> list[Rendered]:
    """Each recipient's message, or the reason it is skipped (opted out, a missing value, ...)."""
    out = []
    for chat, name, fields in recipients:
        if chat in blocked:
            out.append(Rendered(chat, None, "opted_out"))
            continue
        if message is None:
            out.append(Rendered(chat, None, "template_deleted"))
            continue
        values = templates.contact_values(defaults, variables, chat.split("@", 1)[0], name, fields)
        try:
            out.append(Rendered(chat, templates.render(message, values, f"{seed}:{chat}"), None))
        except templates.MissingVariable as exc:
            out.append(Rendered(chat, None, f"missing_variable: {exc}"))
        except templates.TooLong as exc:
            out.append(Rendered(chat, None, f"too_long: {exc}"))
    return out
