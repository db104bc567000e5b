"""Contact lists and the opt-out list: a facade over the scheduler, which owns them."""

from __future__ import annotations

import json
from typing import Annotated

from litestar import Controller, delete, get, post, put
from litestar.params import JSONBody, PathParameter, QueryParameter

from zapgate.common.ids import ID_PATTERN
from zapgate.common.scheduling import (
    ContactListCreate,
    ContactListPage,
    ContactListView,
    ContactsAdd,
    ImportReport,
    MemberPage,
    OptOutKeywords,
    Suppressed,
    SuppressionAdd,
    SuppressionPage,
)
from zapgate.gateway.auth import tenant_only
from zapgate.gateway.controllers.sessions import PageLimit, TenantRequest, tenant_of
from zapgate.gateway.errors import ApiError, error_responses
from zapgate.gateway.openapi import CsvBodyOperation
from zapgate.gateway.state import GatewayDep

ListId = Annotated[str, PathParameter(description="Contact list id", pattern=ID_PATTERN)]
Phone = Annotated[str, PathParameter(description="A phone number or chat id", min_length=1, max_length=64)]
MAX_CSV = 8 << 20


def csv_of_json(body: bytes) -> bytes:
    """The CSV of a JSON body ``{"csv": "<the file>"}`` (for clients that send JSON only)."""
    try:
        value = json.loads(body)
    except ValueError:
        raise ApiError(400, "bad_request", "the body is not JSON") from None
    if not isinstance(value, dict) or set(value) != {"csv"} or not isinstance(value["csv"], str):
        raise ApiError(422, "validation_error", 'a JSON body is {"csv": "<the file>"}')
    return str(value["csv"]).encode()


class ContactListController(Controller):
    """``/api/v1/contact-lists``: members with a phone, a name, template fields and tags."""

    path = "/api/v1/contact-lists"
    tags = ["contacts"]
    guards = [tenant_only]

    @post("/", status_code=201, responses=error_responses(401, 403, 422))
    async def create_list(
        self, data: JSONBody[ContactListCreate], gateway: GatewayDep, request: TenantRequest
    ) -> ContactListView:
        """A new, empty contact list."""
        result = await gateway.scheduler.call(
            "lists.create", tenant_of(request), data.model_dump(mode="json")
        )
        return ContactListView.model_validate(result)

    @get("/", responses=error_responses(401, 403, parameters=False))
    async def list_lists(self, gateway: GatewayDep, request: TenantRequest) -> ContactListPage:
        """The tenant's contact lists with their sizes."""
        return ContactListPage.model_validate(await gateway.scheduler.call("lists.list", tenant_of(request)))

    @get("/{list_id:str}", responses=error_responses(401, 403, 404))
    async def get_list(self, list_id: ListId, gateway: GatewayDep, request: TenantRequest) -> ContactListView:
        """One contact list."""
        result = await gateway.scheduler.call("lists.get", tenant_of(request), {"list_id": list_id})
        return ContactListView.model_validate(result)

    @delete("/{list_id:str}", status_code=204, responses=error_responses(401, 403, 404, 409))
    async def delete_list(self, list_id: ListId, gateway: GatewayDep, request: TenantRequest) -> None:
        """Delete a list and its members; 409 while an unfinished schedule sends to it."""
        await gateway.scheduler.call("lists.delete", tenant_of(request), {"list_id": list_id})

    @post("/{list_id:str}/contacts", status_code=200, responses=error_responses(401, 403, 404, 422))
    async def add_members(
        self, list_id: ListId, data: JSONBody[ContactsAdd], gateway: GatewayDep, request: TenantRequest
    ) -> ImportReport:
        """Add members (a member with the same number is replaced); every rejected item and why.

        Phones in any human format (``+55 (11) 99999-9999``) are normalised and checked as the
        send route does.
        """
        args = {"list_id": list_id, "body": data.model_dump(mode="json")}
        return ImportReport.model_validate(
            await gateway.scheduler.call("contacts.add", tenant_of(request), args)
        )

    @post(
        "/{list_id:str}/import", status_code=200, operation_class=CsvBodyOperation,
        responses=error_responses(401, 403, 404, 413, 415, 422),
    )  # fmt: skip
    async def import_csv(self, list_id: ListId, gateway: GatewayDep, request: TenantRequest) -> ImportReport:
        """Import a CSV (``Content-Type: text/csv``, or JSON ``{"csv": "..."}``): a ``phone`` column (required), ``name``,
        ``tags`` (separated by ``;``), and any other column as a template field. The report lists
        every rejected line and why."""
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        data = await request.body()
        if content_type == "application/json":
            data = csv_of_json(data)
        elif content_type not in ("text/csv", "text/plain", "application/csv"):
            raise ApiError(415, "unsupported_media_type", 'send the file as text/csv, or JSON {"csv": "..."}')
        if len(data) > MAX_CSV:
            raise ApiError(413, "payload_too_large", f"a CSV import is at most {MAX_CSV} bytes")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ApiError(422, "validation_error", f"the CSV is not UTF-8 (byte {exc.start})") from None
        args = {"list_id": list_id, "csv": text}
        return ImportReport.model_validate(
            await gateway.scheduler.call("contacts.import", tenant_of(request), args)
        )

    @get("/{list_id:str}/contacts", responses=error_responses(401, 403, 404))
    async def list_members(
        self, list_id: ListId, gateway: GatewayDep, request: TenantRequest,
        after: Annotated[str | None, QueryParameter(max_length=128, description="`next` of the previous page")] = None,
        limit: PageLimit = 100,
    ) -> MemberPage:  # fmt: skip
        """Members in chat-id order, a page at a time."""
        args = {"list_id": list_id, "after": after, "limit": limit}
        return MemberPage.model_validate(
            await gateway.scheduler.call("contacts.list", tenant_of(request), args)
        )

    @delete("/{list_id:str}/contacts/{phone:str}", status_code=204, responses=error_responses(401, 403, 404))
    async def remove_member(
        self, list_id: ListId, phone: Phone, gateway: GatewayDep, request: TenantRequest
    ) -> None:
        """Remove one member."""
        await gateway.scheduler.call(
            "contacts.remove", tenant_of(request), {"list_id": list_id, "phone": phone}
        )


class SuppressionController(Controller):
    """``/api/v1/suppressions``: numbers no schedule or campaign ever messages."""

    path = "/api/v1/suppressions"
    tags = ["contacts"]
    guards = [tenant_only]

    @get("/", responses=error_responses(401, 403, parameters=False))
    async def list_suppressions(self, gateway: GatewayDep, request: TenantRequest) -> SuppressionPage:
        """Suppressed numbers: opted out by keyword, or added by hand."""
        return SuppressionPage.model_validate(
            await gateway.scheduler.call("suppressions.list", tenant_of(request))
        )

    @post("/", status_code=201, responses=error_responses(401, 403, 422))
    async def add_suppression(
        self, data: JSONBody[SuppressionAdd], gateway: GatewayDep, request: TenantRequest
    ) -> Suppressed:
        """Suppress a number by hand."""
        result = await gateway.scheduler.call(
            "suppressions.add", tenant_of(request), data.model_dump(mode="json")
        )
        return Suppressed.model_validate(result)

    @delete("/{phone:str}", status_code=204, responses=error_responses(401, 403, 404))
    async def remove_suppression(self, phone: Phone, gateway: GatewayDep, request: TenantRequest) -> None:
        """Lift a suppression."""
        await gateway.scheduler.call("suppressions.remove", tenant_of(request), {"phone": phone})

    @get("/keywords", responses=error_responses(401, 403, parameters=False))
    async def get_keywords(self, gateway: GatewayDep, request: TenantRequest) -> OptOutKeywords:
        """The opt-out keywords (default SAIR, PARAR, STOP)."""
        return OptOutKeywords.model_validate(await gateway.scheduler.call("keywords.get", tenant_of(request)))

    @put("/keywords", responses=error_responses(401, 403, 422))
    async def set_keywords(
        self, data: JSONBody[OptOutKeywords], gateway: GatewayDep, request: TenantRequest
    ) -> OptOutKeywords:
        """Replace the opt-out keywords: an inbound text that is exactly one of them (case, accents and
        final punctuation ignored) suppresses its sender."""
        result = await gateway.scheduler.call(
            "keywords.set", tenant_of(request), data.model_dump(mode="json")
        )
        return OptOutKeywords.model_validate(result)
