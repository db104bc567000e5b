"""Messages: send, history, chats, contacts, media, and the simulator's contacts."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import PurePosixPath
from typing import Annotated, Any, Literal
from urllib.parse import quote

from litestar import Controller, Response, get, post
from litestar.params import JSONBody, PathParameter, QueryParameter
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout

from zapgate.common import subjects
from zapgate.common.ids import ID_PATTERN
from zapgate.common.messages import MediaContent, SimulateHang, SimulateInbound, TextContent
from zapgate.common.recipients import phone_of
from zapgate.gateway.adapters.deliveries import read_page
from zapgate.gateway.adapters.nats import NatsUnavailable
from zapgate.gateway.adapters.tables import MessageRow
from zapgate.gateway.auth import tenant_only
from zapgate.gateway.controllers.sessions import IdempotencyKey, Name, TenantRequest, simulated, tenant_of
from zapgate.gateway.errors import ApiError, error_responses, unavailable
from zapgate.gateway.lifecycle import existing
from zapgate.gateway.schemas import (
    ChatRead,
    ChatView,
    CommandAccepted,
    ContactView,
    Delivery,
    DeliveryPage,
    HangRequest,
    InboundRequest,
    MessageAccepted,
    MessagePage,
    MessageView,
    NumberExists,
    SendBody,
)
from zapgate.gateway.sending import accept_message, recipient, store_media
from zapgate.gateway.state import GatewayDep

ChatId = Annotated[str, PathParameter(description="Chat id (or a phone number)", max_length=128)]
EXISTS_TIMEOUT = 3.0


def to_view(row: MessageRow) -> MessageView:
    """Row to response body."""
    return MessageView(
        id=row.id, session=row.session, direction="in" if row.direction == "in" else "out", chat=row.chat,
        type=row.type, content=row.content, status=row.status, wa_id=row.wa_id, error=row.error,
        created_at=row.created_at, updated_at=row.updated_at,
    )  # fmt: skip


class MessageController(Controller):
    """Sending and history under ``/api/v1``."""

    path = "/api/v1"
    tags = ["messages"]
    guards = [tenant_only]

    @post(
        "/sessions/{name:str}/messages", status_code=202,
        responses=error_responses(400, 401, 403, 404, 409, 413, 422, 503, 507),
    )  # fmt: skip
    async def send_message(
        self, name: Name, data: JSONBody[SendBody], gateway: GatewayDep, request: TenantRequest,
        idempotency_key: IdempotencyKey = None,
    ) -> MessageAccepted:  # fmt: skip
        """Queue a message; it waits durably while the session is not connected.

        With an ``Idempotency-Key`` a retry answers with the first message's id; the key reused
        for a different request is a 409.
        """
        return await accept_message(gateway, tenant_of(request), name, data.root, idempotency_key)

    @get("/sessions/{name:str}/messages", responses=error_responses(401, 403, 404, 422))
    async def list_messages(
        self, name: Name, gateway: GatewayDep, request: TenantRequest,
        chat: Annotated[str | None, QueryParameter(max_length=128)] = None,
        direction: Annotated[Literal["in", "out"] | None, QueryParameter()] = None,
        before: Annotated[str | None, QueryParameter(pattern=ID_PATTERN, description="Cursor: `next` of the previous page")] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 50,
    ) -> MessagePage:  # fmt: skip
        """The session's messages, newest first, a page at a time."""
        tenant = tenant_of(request)
        await existing(gateway, tenant, name)
        chat_id = recipient(chat, "chat", "query") if chat else None
        rows = await gateway.messages.history(tenant, name, chat_id, direction, before, limit + 1)
        more = len(rows) > limit
        rows = rows[:limit]
        return MessagePage(items=[to_view(r) for r in rows], next=rows[-1].id if more else None)

    @get("/messages/{message_id:str}", responses=error_responses(401, 403, 404))
    async def get_message(
        self, message_id: Annotated[str, PathParameter(pattern=ID_PATTERN)], gateway: GatewayDep,
        request: TenantRequest,
    ) -> MessageView:  # fmt: skip
        """One message of the tenant, with its delivery status."""
        row = await gateway.messages.get(tenant_of(request), message_id)
        if row is None:
            raise ApiError(404, "not_found", f"message {message_id!r} not found")
        return to_view(row)

    @get("/sessions/{name:str}/chats", responses=error_responses(401, 403, 404))
    async def list_chats(
        self, name: Name, gateway: GatewayDep, request: TenantRequest,
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
    ) -> list[ChatView]:  # fmt: skip
        """Conversations, most recent first, with unread counts."""
        tenant = tenant_of(request)
        await existing(gateway, tenant, name)
        return [
            ChatView(chat=c.chat, phone=phone_of(c.chat), last_message_id=c.last_message_id,
                     last_message_at=c.last_message_at, messages=c.messages, unread=c.unread)
            for c in await gateway.messages.chats(tenant, name, limit)
        ]  # fmt: skip

    @get("/sessions/{name:str}/contacts", responses=error_responses(401, 403, 404))
    async def list_contacts(
        self, name: Name, gateway: GatewayDep, request: TenantRequest,
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 100,
    ) -> list[ContactView]:  # fmt: skip
        """The people this session has talked with (one-to-one chats)."""
        tenant = tenant_of(request)
        await existing(gateway, tenant, name)
        result = []
        for c in await gateway.messages.chats(tenant, name, limit):
            phone = phone_of(c.chat)
            if phone is not None:
                result.append(ContactView(id=c.chat, phone=phone, last_message_at=c.last_message_at))
        return result

    @post(
        "/sessions/{name:str}/chats/{chat:str}/read",
        status_code=200,
        responses=error_responses(401, 403, 404, 422),
    )
    async def read_chat(
        self, name: Name, chat: ChatId, gateway: GatewayDep, request: TenantRequest
    ) -> ChatRead:
        """Mark the chat's incoming messages read."""
        tenant = tenant_of(request)
        await existing(gateway, tenant, name)
        chat_id = recipient(chat, "chat", "path")
        return ChatRead(chat=chat_id, marked=await gateway.messages.mark_read(tenant, name, chat_id))

    @get(
        "/sessions/{name:str}/contacts/{phone:str}/exists",
        responses=error_responses(401, 403, 404, 409, 422, 503),
    )  # fmt: skip
    async def check_number(
        self, name: Name, phone: Annotated[str, PathParameter(max_length=32)], gateway: GatewayDep,
        request: TenantRequest,
    ) -> NumberExists:  # fmt: skip
        """Ask WhatsApp, through the session, whether a number has an account."""
        tenant = tenant_of(request)
        row = await existing(gateway, tenant, name)
        chat = recipient(phone, "phone", "path")
        subject = subjects.rpc(row.partition, tenant, name, "exists")
        try:
            reply = await gateway.nats.nc.request(
                subject, json.dumps({"chat": chat}).encode(), timeout=EXISTS_TIMEOUT
            )
        except NatsUnavailable:
            raise unavailable("the message bus is unavailable; retry shortly", "nats") from None
        except (NoRespondersError, NatsTimeout):
            raise unavailable(
                "no worker is answering for this session; retry shortly", "session-worker"
            ) from None
        answer: dict[str, Any] = json.loads(reply.data)
        if "error" in answer:
            raise ApiError(409, "conflict", f"session {name!r}: {answer['error']}")
        exists = bool(answer.get("exists"))
        # The form WhatsApp knows the number under (a Brazilian number with or without its ninth digit).
        known = str(answer.get("chat") or chat) if exists else None
        return NumberExists(phone=chat.split("@")[0], exists=exists, chat_id=known)

    @post(
        "/sessions/{name:str}/simulator/inbound", status_code=202,
        responses=error_responses(401, 403, 404, 409, 413, 422, 503, 507),
    )  # fmt: skip
    async def simulator_inbound(
        self, name: Name, data: JSONBody[InboundRequest], gateway: GatewayDep, request: TenantRequest
    ) -> CommandAccepted:
        """Simulator only: a contact sends the session a message (it arrives as ``message.received``)."""
        tenant = tenant_of(request)
        await simulated(gateway, tenant, name, "CONNECTED")
        sender = recipient(data.from_, "from")
        if data.media is not None:
            kind = data.media.mimetype.split("/")[0]
            kind = kind if kind in ("image", "video", "audio") else "document"
            ref = await store_media(gateway, tenant, kind, data.media)
            content: TextContent | MediaContent = MediaContent(type=kind, media=ref, caption=data.caption)
        else:
            assert data.text is not None
            content = TextContent(text=data.text)
        command = SimulateInbound(tenant=tenant, session=name, sender=sender, content=content)
        return CommandAccepted(command_id=await gateway.commands.send(command))

    @post(
        "/sessions/{name:str}/simulator/hang", status_code=202,
        responses=error_responses(401, 403, 404, 409, 422, 503),
    )  # fmt: skip
    async def simulator_hang(
        self, name: Name, data: JSONBody[HangRequest], gateway: GatewayDep, request: TenantRequest
    ) -> CommandAccepted:
        """Simulator only: the connection stops answering (``times`` connections in a row) while CONNECTED."""
        tenant = tenant_of(request)
        await simulated(gateway, tenant, name, "CONNECTED")
        command = SimulateHang(tenant=tenant, session=name, times=data.times)
        return CommandAccepted(command_id=await gateway.commands.send(command))

    @get("/sessions/{name:str}/simulator/deliveries", responses=error_responses(401, 403, 404, 422, 503))
    async def simulator_deliveries(
        self, name: Name, gateway: GatewayDep, request: TenantRequest,
        after: Annotated[int, QueryParameter(ge=0, description="Cursor: the `seq` after which to read")] = 0,
        limit: Annotated[int, QueryParameter(ge=1, le=10_000, description="Most deliveries read")] = 1000,
    ) -> DeliveryPage:  # fmt: skip
        """Simulator only: what the contacts received from this session, in order, at most ``limit``
        deliveries a page; ``next`` is the ``after`` of the next page (null: this one reached the
        end). ``count`` > 1 is a duplicate within the page; a ``wa_id`` on two pages is one too."""
        tenant = tenant_of(request)
        await simulated(gateway, tenant, name)
        try:
            js = gateway.nats.js
        except NatsUnavailable:
            raise unavailable("the message bus is unavailable; retry shortly", "nats") from None
        page, following = await read_page(js, tenant, name, after, limit)
        return DeliveryPage(items=[Delivery(**asdict(r)) for r in page], next=following)

    @get(
        "/media/{media_id:str}",
        responses=error_responses(401, 403, 404),
        media_type="application/octet-stream",
    )
    async def get_media(
        self,
        media_id: Annotated[str, PathParameter(pattern=ID_PATTERN)],
        gateway: GatewayDep,
        request: TenantRequest,
    ) -> Response[bytes]:
        """Download media of the tenant (of incoming or outgoing messages)."""
        try:
            found = await gateway.media.get(tenant_of(request), media_id)
        except NatsUnavailable:
            raise unavailable("the media store is unavailable; retry shortly", "nats") from None
        if found is None:
            raise ApiError(404, "not_found", f"media {media_id!r} not found")
        data, mimetype, filename = found
        # Always a download, never rendered: media is whatever a tenant's contact or a URL gave,
        # so an HTML or SVG file must not run as a page of the API's origin.
        name = quote(PurePosixPath(filename).name if filename else media_id)
        headers = {
            "Content-Disposition": f"attachment; filename*=UTF-8''{name}",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "sandbox; default-src 'none'",
        }
        return Response(data, media_type=mimetype, headers=headers)
