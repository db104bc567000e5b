"""Templates and schedules: a facade over the scheduler, which owns them and fires them.

The gateway checks what it knows (the session exists, a message body has the shape the send
route takes); the scheduler checks the rest (timing, placeholders, lists) and answers.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, delete, get, patch, post, put
from litestar.params import JSONBody, PathParameter, QueryParameter
from pydantic import ValidationError

from zapgate.common.ids import ID_PATTERN
from zapgate.common.scheduling import (
    FirePage,
    NextFires,
    PreviewRequest,
    PreviewView,
    ScheduleCreate,
    SchedulePage,
    ScheduleUpdate,
    ScheduleView,
    TemplateCreate,
    TemplatePage,
    TemplateView,
)
from zapgate.gateway.auth import tenant_only
from zapgate.gateway.controllers.sessions import TenantRequest, tenant_of
from zapgate.gateway.errors import ApiError, error_responses
from zapgate.gateway.lifecycle import existing
from zapgate.gateway.schemas import SendBody
from zapgate.gateway.state import GatewayDep

TemplateId = Annotated[str, PathParameter(description="Template id", pattern=ID_PATTERN)]
ScheduleId = Annotated[str, PathParameter(description="Schedule id", pattern=ID_PATTERN)]


def check_message(message: dict[str, Any], field: str = "message") -> None:
    """422 unless ``message`` is a body the send route takes, without ``to``."""
    if "to" in message:
        raise ApiError(
            422, "validation_error", f"{field} has no `to`: the schedule or campaign names the recipients",
            details=[{"key": f"{field}.to", "message": "not allowed here", "source": "body"}],
        )  # fmt: skip
    try:
        SendBody.model_validate({**message, "to": "0"})
    except ValidationError as exc:
        details = [
            {
                "key": ".".join([field, *(str(p) for p in err["loc"][1:])]),
                "message": err["msg"],
                "source": "body",
            }
            for err in exc.errors(include_url=False, include_input=False)
        ]
        raise ApiError(422, "validation_error", f"{field} is not a message body", details) from None


class TemplateController(Controller):
    """``/api/v1/templates``: messages with ``{{placeholders}}`` and ``{a|b}`` variations."""

    path = "/api/v1/templates"
    tags = ["scheduling"]
    guards = [tenant_only]

    @post("/", status_code=201, responses=error_responses(401, 403, 422))
    async def create_template(
        self, data: JSONBody[TemplateCreate], gateway: GatewayDep, request: TenantRequest
    ) -> TemplateView:
        """A template of any message type; ``{{name}}`` in text and captions is filled per recipient
        from the contact's fields, the schedule's variables, then the template's defaults."""
        check_message(data.message)
        result = await gateway.scheduler.call(
            "templates.create", tenant_of(request), data.model_dump(mode="json")
        )
        return TemplateView.model_validate(result)

    @get("/", responses=error_responses(401, 403, parameters=False))
    async def list_templates(self, gateway: GatewayDep, request: TenantRequest) -> TemplatePage:
        """The tenant's templates."""
        return TemplatePage.model_validate(await gateway.scheduler.call("templates.list", tenant_of(request)))

    @get("/{template_id:str}", responses=error_responses(401, 403, 404))
    async def get_template(
        self, template_id: TemplateId, gateway: GatewayDep, request: TenantRequest
    ) -> TemplateView:
        """One template."""
        result = await gateway.scheduler.call(
            "templates.get", tenant_of(request), {"template_id": template_id}
        )
        return TemplateView.model_validate(result)

    @put("/{template_id:str}", responses=error_responses(401, 403, 404, 422))
    async def replace_template(
        self,
        template_id: TemplateId,
        data: JSONBody[TemplateCreate],
        gateway: GatewayDep,
        request: TenantRequest,
    ) -> TemplateView:
        """Replace a template; fires already made keep what they rendered."""
        check_message(data.message)
        args = {"template_id": template_id, "body": data.model_dump(mode="json")}
        return TemplateView.model_validate(
            await gateway.scheduler.call("templates.replace", tenant_of(request), args)
        )

    @delete("/{template_id:str}", status_code=204, responses=error_responses(401, 403, 404, 409))
    async def delete_template(
        self, template_id: TemplateId, gateway: GatewayDep, request: TenantRequest
    ) -> None:
        """Delete a template; 409 while an unfinished schedule uses it."""
        await gateway.scheduler.call("templates.delete", tenant_of(request), {"template_id": template_id})

    @post("/{template_id:str}/preview", status_code=200, responses=error_responses(401, 403, 404, 422))
    async def preview(
        self,
        template_id: TemplateId,
        data: JSONBody[PreviewRequest],
        gateway: GatewayDep,
        request: TenantRequest,
    ) -> PreviewView:
        """The message one contact would receive: a list member (``list_id`` and ``phone``) or the
        ``fields`` given; 422 naming a placeholder with no value."""
        args = {"template_id": template_id, "body": data.model_dump(mode="json")}
        return PreviewView.model_validate(
            await gateway.scheduler.call("templates.preview", tenant_of(request), args)
        )


class ScheduleController(Controller):
    """``/api/v1/schedules``: one-off and recurring messages to a chat or a contact list."""

    path = "/api/v1/schedules"
    tags = ["scheduling"]
    guards = [tenant_only]

    @post("/", status_code=201, responses=error_responses(401, 403, 404, 422))
    async def create_schedule(
        self, data: JSONBody[ScheduleCreate], gateway: GatewayDep, request: TenantRequest
    ) -> ScheduleView:
        """Schedule a message: ``send_at`` once, a ``cron`` in a ``timezone``, or every
        ``interval_seconds``; to ``to`` or a contact list; a ``message`` or a ``template_id``.

        Each fire is sent through the send path with an idempotency key of (schedule, time,
        recipient): it is sent once, whatever crashes. A fire later than ``catchup_seconds`` (after
        an outage) is skipped and recorded in the fires. 404 if the session does not exist.
        """
        tenant = tenant_of(request)
        await existing(gateway, tenant, data.session)
        if data.message is not None:
            check_message(data.message)
        result = await gateway.scheduler.call("schedules.create", tenant, data.model_dump(mode="json"))
        return ScheduleView.model_validate(result)

    @get("/", responses=error_responses(401, 403, parameters=False))
    async def list_schedules(self, gateway: GatewayDep, request: TenantRequest) -> SchedulePage:
        """The tenant's schedules, newest first."""
        return SchedulePage.model_validate(await gateway.scheduler.call("schedules.list", tenant_of(request)))

    @get("/{schedule_id:str}", responses=error_responses(401, 403, 404))
    async def get_schedule(
        self, schedule_id: ScheduleId, gateway: GatewayDep, request: TenantRequest
    ) -> ScheduleView:
        """One schedule: its state, how often it fired, its next fire."""
        result = await gateway.scheduler.call(
            "schedules.get", tenant_of(request), {"schedule_id": schedule_id}
        )
        return ScheduleView.model_validate(result)

    @patch("/{schedule_id:str}", responses=error_responses(401, 403, 404, 422))
    async def update_schedule(
        self,
        schedule_id: ScheduleId,
        data: JSONBody[ScheduleUpdate],
        gateway: GatewayDep,
        request: TenantRequest,
    ) -> ScheduleView:
        """Change a schedule; a new timing counts from now (a completed schedule runs again)."""
        if data.message is not None:
            check_message(data.message)
        args = {"schedule_id": schedule_id, "body": data.model_dump(mode="json", exclude_unset=True)}
        return ScheduleView.model_validate(
            await gateway.scheduler.call("schedules.update", tenant_of(request), args)
        )

    @delete("/{schedule_id:str}", status_code=204, responses=error_responses(401, 403, 404))
    async def delete_schedule(
        self, schedule_id: ScheduleId, gateway: GatewayDep, request: TenantRequest
    ) -> None:
        """Delete a schedule and its history; messages already sent stay in the session's history."""
        await gateway.scheduler.call("schedules.delete", tenant_of(request), {"schedule_id": schedule_id})

    @post("/{schedule_id:str}/pause", status_code=200, responses=error_responses(401, 403, 404, 409))
    async def pause(
        self, schedule_id: ScheduleId, gateway: GatewayDep, request: TenantRequest
    ) -> ScheduleView:
        """Stop firing until resumed."""
        result = await gateway.scheduler.call(
            "schedules.pause", tenant_of(request), {"schedule_id": schedule_id}
        )
        return ScheduleView.model_validate(result)

    @post("/{schedule_id:str}/resume", status_code=200, responses=error_responses(401, 403, 404, 409))
    async def resume(
        self, schedule_id: ScheduleId, gateway: GatewayDep, request: TenantRequest
    ) -> ScheduleView:
        """Fire again; times that passed while paused are not sent."""
        result = await gateway.scheduler.call(
            "schedules.resume", tenant_of(request), {"schedule_id": schedule_id}
        )
        return ScheduleView.model_validate(result)

    @get("/{schedule_id:str}/next", responses=error_responses(401, 403, 404))
    async def next_fires(
        self, schedule_id: ScheduleId, gateway: GatewayDep, request: TenantRequest,
        count: Annotated[int, QueryParameter(ge=1, le=100)] = 5,
    ) -> NextFires:  # fmt: skip
        """The next fire times, as UTC instants and as wall-clock times in the schedule's zone
        (across daylight-saving changes)."""
        args = {"schedule_id": schedule_id, "count": count}
        return NextFires.model_validate(
            await gateway.scheduler.call("schedules.next", tenant_of(request), args)
        )

    @get("/{schedule_id:str}/fires", responses=error_responses(401, 403, 404))
    async def fires(
        self, schedule_id: ScheduleId, gateway: GatewayDep, request: TenantRequest,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 50,
    ) -> FirePage:  # fmt: skip
        """Fires, newest first: each nominal time, how late it fired, or why it was missed, and the
        messages it produced with their current status (or the reason a recipient was skipped)."""
        args = {"schedule_id": schedule_id, "limit": limit}
        return FirePage.model_validate(
            await gateway.scheduler.call("schedules.fires", tenant_of(request), args)
        )
