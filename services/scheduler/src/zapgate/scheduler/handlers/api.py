"""The scheduler's request/reply operations, which the gateway's REST routes forward.

Thin: validate the arguments with the shared models, call the store or the domain, answer a
model. Errors are RpcErrors carrying the HTTP status the gateway answers with.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from zapgate.common.clock import Clock
from zapgate.common.ids import ID_PATTERN, new_id
from zapgate.common.recipients import BadRecipient, normalize_phone
from zapgate.common.rpc import Handler, RpcError, invalid, not_found, validation_error
from zapgate.common.scheduling import (
    ContactListCreate,
    ContactsAdd,
    FirePage,
    ImportReport,
    MemberPage,
    NextFires,
    OptOutKeywords,
    PreviewRequest,
    PreviewView,
    Rejected,
    ScheduleCreate,
    SchedulePage,
    ScheduleUpdate,
    SuppressionAdd,
    TemplateCreate,
)
from zapgate.scheduler.adapters.store import Store
from zapgate.scheduler.adapters.tables import ScheduleRow
from zapgate.scheduler.domain import contacts, recurrence, templates, views


def arg_id(args: dict[str, Any], key: str) -> str:
    value = args.get(key)
    if not isinstance(value, str) or not re.fullmatch(ID_PATTERN, value):
        raise RpcError(
            422,
            "validation_error",
            f"{key} is not an id",
            [{"key": key, "message": "not an id", "source": "path"}],
        )
    return value


def _chat(phone: str, key: str) -> str:
    try:
        return normalize_phone(phone)
    except BadRecipient as exc:
        raise invalid(str(exc), key) from None


def _report(added: int, updated: int, rejected: list[contacts.Rejection]) -> ImportReport:
    return ImportReport(
        added=added,
        updated=updated,
        rejected=[Rejected(line=r.line, phone=r.phone, reason=r.reason) for r in rejected],
    )


class Api:
    """Every operation, bound to the store and the clock."""

    def __init__(self, store: Store, clock: Clock, default_catchup: int) -> None:
        self.store = store
        self.clock = clock
        self.default_catchup = default_catchup

    def ops(self) -> dict[str, Handler]:
        """Operation name to handler."""
        return {
            "lists.create": self.create_list, "lists.list": self.list_lists, "lists.get": self.get_list,
            "lists.delete": self.delete_list, "contacts.add": self.add_contacts,
            "contacts.import": self.import_contacts, "contacts.list": self.list_contacts,
            "contacts.remove": self.remove_contact, "suppressions.list": self.list_suppressions,
            "suppressions.add": self.add_suppression, "suppressions.remove": self.remove_suppression,
            "keywords.get": self.get_keywords, "keywords.set": self.set_keywords,
            "templates.create": self.create_template, "templates.list": self.list_templates,
            "templates.get": self.get_template, "templates.replace": self.replace_template,
            "templates.delete": self.delete_template, "templates.preview": self.preview,
            "schedules.create": self.create_schedule, "schedules.list": self.list_schedules,
            "schedules.get": self.get_schedule, "schedules.update": self.update_schedule,
            "schedules.delete": self.delete_schedule, "schedules.pause": self.pause,
            "schedules.resume": self.resume, "schedules.next": self.next_fires, "schedules.fires": self.fires,
        }  # fmt: skip

    # ------------------------------------------------------------ lists

    async def create_list(self, tenant: str, args: dict[str, Any]) -> Any:
        body = ContactListCreate.model_validate(args)
        return views.contact_list(await self.store.create_list(tenant, body.name, body.description), 0)

    async def list_lists(self, tenant: str, args: dict[str, Any]) -> Any:
        return {
            "items": [
                views.contact_list(r, n).model_dump(mode="json") for r, n in await self.store.lists(tenant)
            ]
        }

    async def _list(self, tenant: str, args: dict[str, Any]) -> str:
        list_id = arg_id(args, "list_id")
        if await self.store.get_list(tenant, list_id) is None:
            raise not_found(f"contact list {list_id!r}")
        return list_id

    async def get_list(self, tenant: str, args: dict[str, Any]) -> Any:
        found = await self.store.get_list(tenant, arg_id(args, "list_id"))
        if found is None:
            raise not_found(f"contact list {args['list_id']!r}")
        return views.contact_list(*found)

    async def delete_list(self, tenant: str, args: dict[str, Any]) -> Any:
        list_id = arg_id(args, "list_id")
        if await self.store.list_in_use(tenant, list_id):
            raise RpcError(
                409, "conflict", "an active or paused schedule sends to this list; delete it first"
            )
        if not await self.store.delete_list(tenant, list_id):
            raise not_found(f"contact list {list_id!r}")
        return {"deleted": True}

    async def add_contacts(self, tenant: str, args: dict[str, Any]) -> Any:
        list_id = await self._list(tenant, args)
        body = ContactsAdd.model_validate(args.get("body"))
        taken, rejected = contacts.members(list(body.contacts))
        added, updated = await self.store.upsert_members(tenant, list_id, taken)
        return _report(added, updated, rejected)

    async def import_contacts(self, tenant: str, args: dict[str, Any]) -> Any:
        list_id = await self._list(tenant, args)
        text = args.get("csv")
        if not isinstance(text, str):
            raise invalid("the body is a CSV file", "body")
        taken, rejected = contacts.parse_csv(text)
        added, updated = await self.store.upsert_members(tenant, list_id, taken)
        return _report(added, updated, rejected)

    async def list_contacts(self, tenant: str, args: dict[str, Any]) -> Any:
        list_id = await self._list(tenant, args)
        limit = int(args.get("limit") or 100)
        after = args.get("after")
        rows = await self.store.members(tenant, list_id, after if isinstance(after, str) else None, limit + 1)
        page = rows[:limit]
        return MemberPage(
            items=[views.contact(r) for r in page], next=page[-1].chat if len(rows) > limit else None
        )

    async def remove_contact(self, tenant: str, args: dict[str, Any]) -> Any:
        list_id = await self._list(tenant, args)
        chat = _chat(str(args.get("phone", "")), "phone")
        if not await self.store.remove_member(tenant, list_id, chat):
            raise not_found(f"{chat} in this list")
        return {"deleted": True}

    # ------------------------------------------------------------ opt-out

    async def list_suppressions(self, tenant: str, args: dict[str, Any]) -> Any:
        return {
            "items": [
                views.suppression(r).model_dump(mode="json") for r in await self.store.suppressions(tenant)
            ]
        }

    async def add_suppression(self, tenant: str, args: dict[str, Any]) -> Any:
        body = SuppressionAdd.model_validate(args)
        chat = _chat(body.phone, "phone")
        await self.store.suppress(tenant, chat, "manual", body.reason)
        return {"chat": chat, "suppressed": True}

    async def remove_suppression(self, tenant: str, args: dict[str, Any]) -> Any:
        chat = _chat(str(args.get("phone", "")), "phone")
        if not await self.store.unsuppress(tenant, chat):
            raise not_found(f"{chat} among the suppressed numbers")
        return {"deleted": True}

    async def get_keywords(self, tenant: str, args: dict[str, Any]) -> Any:
        return OptOutKeywords(keywords=await self.store.keywords(tenant))

    async def set_keywords(self, tenant: str, args: dict[str, Any]) -> Any:
        body = OptOutKeywords.model_validate(args)
        keywords = list(dict.fromkeys(k.strip() for k in body.keywords if contacts.keyword_form(k)))
        await self.store.set_keywords(tenant, keywords)
        return OptOutKeywords(keywords=keywords)

    # ------------------------------------------------------------ templates

    async def create_template(self, tenant: str, args: dict[str, Any]) -> Any:
        body = TemplateCreate.model_validate(args)
        return views.template(
            await self.store.create_template(tenant, body.name, body.message, body.defaults)
        )

    async def list_templates(self, tenant: str, args: dict[str, Any]) -> Any:
        return {
            "items": [views.template(r).model_dump(mode="json") for r in await self.store.templates(tenant)]
        }

    async def get_template(self, tenant: str, args: dict[str, Any]) -> Any:
        row = await self.store.template(tenant, arg_id(args, "template_id"))
        if row is None:
            raise not_found(f"template {args['template_id']!r}")
        return views.template(row)

    async def replace_template(self, tenant: str, args: dict[str, Any]) -> Any:
        template_id = arg_id(args, "template_id")
        body = TemplateCreate.model_validate(args.get("body") or {})
        row = await self.store.replace_template(tenant, template_id, body.name, body.message, body.defaults)
        if row is None:
            raise not_found(f"template {template_id!r}")
        return views.template(row)

    async def delete_template(self, tenant: str, args: dict[str, Any]) -> Any:
        template_id = arg_id(args, "template_id")
        if await self.store.template_in_use(tenant, template_id):
            raise RpcError(
                409, "conflict", "an active or paused schedule uses this template; delete it first"
            )
        if not await self.store.delete_template(tenant, template_id):
            raise not_found(f"template {template_id!r}")
        return {"deleted": True}

    async def preview(self, tenant: str, args: dict[str, Any]) -> Any:
        row = await self.store.template(tenant, arg_id(args, "template_id"))
        if row is None:
            raise not_found(f"template {args['template_id']!r}")
        body = PreviewRequest.model_validate(args.get("body") or {})
        name, fields, phone = None, dict(body.fields), None
        if body.phone is not None:
            chat = _chat(body.phone, "phone")
            phone = chat.split("@", 1)[0]
            if body.list_id is not None:
                members = await self.store.member(tenant, body.list_id, chat)
                if members is None:
                    raise not_found(f"{chat} in list {body.list_id!r}")
                name, fields = members.name, {**members.fields, **fields}
        values = templates.contact_values(row.defaults, body.variables, phone, name, fields)
        try:
            return PreviewView(message=templates.render(row.message, values, f"preview:{phone}"))
        except templates.MissingVariable as exc:
            raise invalid(
                f"{exc}: give it in fields, variables or the template's defaults", exc.name
            ) from None
        except templates.TooLong as exc:
            raise invalid(str(exc), "message") from None

    # ------------------------------------------------------------ schedules

    async def _checked(self, tenant: str, body: ScheduleCreate, now: datetime) -> dict[str, Any]:
        """The columns of a valid schedule, or a 422 saying what is wrong."""
        kind = recurrence.kind_of(body.send_at, body.cron, body.interval_seconds)
        timing = recurrence.Timing(
            kind=kind, send_at=body.send_at, cron=body.cron, interval_seconds=body.interval_seconds,
            timezone=body.timezone, start_at=body.start_at, end_at=body.end_at, max_count=body.max_count,
            anchor=now,
        )  # fmt: skip
        try:
            recurrence.check(timing)
        except recurrence.BadTiming as exc:
            raise invalid(str(exc), exc.field) from None
        catchup = body.catchup_seconds if body.catchup_seconds is not None else self.default_catchup
        if body.send_at is not None and now - body.send_at > timedelta(seconds=catchup):
            raise invalid(f"send_at is in the past by more than the catch-up window ({catchup}s)", "send_at")
        first = recurrence.first_fire(timing, now)
        if first is None:
            raise invalid("this schedule would never fire (end_at is before its first time)", "end_at")
        to_chat = _chat(body.to, "to") if body.to is not None else None
        message, defaults = body.message, {}
        if body.template_id is not None:
            template = await self.store.template(tenant, body.template_id)
            if template is None:
                raise invalid(f"template {body.template_id!r} not found", "template_id")
            message, defaults = template.message, template.defaults
        assert message is not None
        known = {**defaults, **body.variables}
        if body.list_id is not None:
            if await self.store.get_list(tenant, body.list_id) is None:
                raise invalid(f"contact list {body.list_id!r} not found", "list_id")
            # A member may fill a placeholder from its own fields; one no member can fill is an error.
            known.update(dict.fromkeys(await self.store.field_names(tenant, body.list_id), "x"))
            known.update({"name": "x", "first_name": "x", "phone": "x"})
        else:
            known["phone"] = "x"
        missing = templates.missing(message, known)
        if missing:
            raise invalid(
                f"no value for {', '.join('{{' + m + '}}' for m in missing)}: give it in variables, the "
                "template's defaults or the contacts' fields",
                "variables",
            )
        return {
            "name": body.name, "session": body.session, "kind": kind, "send_at": body.send_at,
            "cron": body.cron, "interval_seconds": body.interval_seconds, "timezone": body.timezone,
            "start_at": body.start_at, "end_at": body.end_at, "max_count": body.max_count,
            "next_fire_at": first, "to_chat": to_chat, "list_id": body.list_id, "tags": body.tags,
            "message": body.message, "template_id": body.template_id, "variables": dict(body.variables),
            "catchup_seconds": catchup,
        }  # fmt: skip

    async def create_schedule(self, tenant: str, args: dict[str, Any]) -> Any:
        body = ScheduleCreate.model_validate(args)
        now = self.clock()
        columns = await self._checked(tenant, body, now)
        row = ScheduleRow(
            id=new_id(), tenant_id=tenant, state="active", fired=0, created_at=now, updated_at=now, **columns
        )
        return views.schedule(await self.store.add_schedule(row))

    async def _schedule(self, tenant: str, args: dict[str, Any]) -> ScheduleRow:
        row = await self.store.schedule(tenant, arg_id(args, "schedule_id"))
        if row is None:
            raise not_found(f"schedule {args['schedule_id']!r}")
        return row

    async def list_schedules(self, tenant: str, args: dict[str, Any]) -> Any:
        return SchedulePage(items=[views.schedule(r) for r in await self.store.schedules(tenant)])

    async def get_schedule(self, tenant: str, args: dict[str, Any]) -> Any:
        return views.schedule(await self._schedule(tenant, args))

    async def update_schedule(self, tenant: str, args: dict[str, Any]) -> Any:
        row = await self._schedule(tenant, args)
        change = ScheduleUpdate.model_validate(args.get("body") or {})
        given = change.model_dump(exclude_unset=True)
        stored = views.schedule(row).model_dump()
        merged = {k: stored[k] for k in ScheduleCreate.model_fields if k in stored}
        merged["to"] = row.to_chat
        timing_keys = {"send_at", "cron", "interval_seconds"}
        if timing_keys & given.keys():
            for key in timing_keys:
                merged[key] = None  # the new timing replaces the old one
        if {"message", "template_id"} & given.keys():
            merged["message"] = merged["template_id"] = None
        merged.update(given)
        try:
            body = ScheduleCreate.model_validate(merged)
        except ValidationError as exc:
            raise validation_error(exc) from None
        now = self.clock()
        columns = await self._checked(tenant, body, now)
        retimed = bool(given.keys() & {*timing_keys, "timezone", "start_at", "end_at", "max_count"})
        if not retimed:
            columns["next_fire_at"] = row.next_fire_at
        elif row.state == "completed":
            columns["state"] = "active"
        updated = await self.store.change_schedule(tenant, row.id, columns)
        assert updated is not None
        return views.schedule(updated)

    async def delete_schedule(self, tenant: str, args: dict[str, Any]) -> Any:
        if not await self.store.delete_schedule(tenant, arg_id(args, "schedule_id")):
            raise not_found(f"schedule {args['schedule_id']!r}")
        return {"deleted": True}

    async def pause(self, tenant: str, args: dict[str, Any]) -> Any:
        row = await self._schedule(tenant, args)
        if row.state == "completed":
            raise RpcError(409, "conflict", "the schedule is completed; change its timing to run it again")
        updated = await self.store.change_schedule(tenant, row.id, {"state": "paused"})
        assert updated is not None
        return views.schedule(updated)

    async def resume(self, tenant: str, args: dict[str, Any]) -> Any:
        row = await self._schedule(tenant, args)
        if row.state == "completed":
            raise RpcError(409, "conflict", "the schedule is completed; change its timing to run it again")
        values: dict[str, Any] = {"state": "active"}
        now = self.clock()
        timing = recurrence.timing_of(row)
        if (
            row.state == "paused"
            and row.kind != "once"
            and row.next_fire_at is not None
            and row.next_fire_at < now
        ):
            # Times that passed while paused were not missed: they were paused. Go on from now.
            values["next_fire_at"] = recurrence.next_fire(timing, now, row.fired)
            if values["next_fire_at"] is None:
                values["state"] = "completed"
        updated = await self.store.change_schedule(tenant, row.id, values)
        assert updated is not None
        return views.schedule(updated)

    async def next_fires(self, tenant: str, args: dict[str, Any]) -> Any:
        row = await self._schedule(tenant, args)
        count = max(1, min(int(args.get("count") or 5), 100))
        if row.state == "completed" or row.next_fire_at is None:
            return NextFires(times=[], local=[])
        timing = recurrence.timing_of(row)
        times = [row.next_fire_at, *recurrence.upcoming(timing, row.next_fire_at, row.fired + 1, count - 1)]
        return NextFires(times=times, local=recurrence.local_times(times, row.timezone))

    async def fires(self, tenant: str, args: dict[str, Any]) -> Any:
        row = await self._schedule(tenant, args)
        limit = max(1, min(int(args.get("limit") or 50), 500))
        return FirePage(items=[views.fire(f, d) for f, d in await self.store.fires(tenant, row.id, limit)])
