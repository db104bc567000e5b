"""zapgate's message contents as WhatsApp's protobuf messages (neonize's classes), both ways."""

from __future__ import annotations

import time
from typing import Any

from neonize.proto.Neonize_pb2 import JID
from neonize.proto.waCommon.WACommon_pb2 import MessageKey
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import (
    AudioMessage,
    ContactMessage,
    ContextInfo,
    DocumentMessage,
    ExtendedTextMessage,
    ImageMessage,
    LocationMessage,
    Message,
    ReactionMessage,
    VideoMessage,
)
from neonize.utils.enum import MediaType

from zapgate.common.messages import (
    AnyContent,
    ContactCard,
    ContactContent,
    LocationContent,
    MediaContent,
    ReactionContent,
    TextContent,
)
from zapgate.session_worker.domain import whatsapp as wa
from zapgate.session_worker.engines.base import SendError

UPLOAD_TYPE = {
    "image": MediaType.MediaImage, "video": MediaType.MediaVideo, "audio": MediaType.MediaAudio,
    "voice": MediaType.MediaAudio, "document": MediaType.MediaDocument,
}  # fmt: skip
_INBOUND_MEDIA = (
    ("imageMessage", "image"), ("videoMessage", "video"), ("audioMessage", "audio"),
    ("documentMessage", "document"),
)  # fmt: skip


def jid_of(chat: str) -> JID:
    """whatsmeow's JID of a zapgate chat id (``@c.us`` is ``s.whatsapp.net``)."""
    return JID(
        User=wa.chat_user(chat), Server=wa.jid_server(chat), RawAgent=0, Device=0, Integrator=0, IsEmpty=False
    )


def device_jid(device: dict[str, Any]) -> JID:
    """The JID of a linked device as zapgate keeps it (``{"User", "Server", "Device"}``)."""
    return JID(User=device["User"], Server=device["Server"], Device=device.get("Device", 0), RawAgent=0,
               Integrator=0, IsEmpty=False)  # fmt: skip


def _jid_text(chat: str) -> str:
    return f"{wa.chat_user(chat)}@{wa.jid_server(chat)}"


def message_of(content: AnyContent, chat: str) -> Message:
    """The WhatsApp message of a text, location or contact (text as a plain conversation: no mentions)."""
    if isinstance(content, TextContent):
        if content.reply_to:
            context = ContextInfo(stanzaID=content.reply_to, participant=_jid_text(chat))
            return Message(extendedTextMessage=ExtendedTextMessage(text=content.text, contextInfo=context))
        return Message(conversation=content.text)
    if isinstance(content, LocationContent):
        return Message(locationMessage=LocationMessage(
            degreesLatitude=content.latitude, degreesLongitude=content.longitude, name=content.name or ""))  # fmt: skip
    if isinstance(content, ContactContent):
        card = content.contact
        return Message(
            contactMessage=ContactMessage(displayName=card.name, vcard=wa.vcard(card.name, card.phone))
        )
    raise SendError(f"{content.type} messages are not supported by the whatsapp engine")


def reaction_message(content: ReactionContent, chat: str, mine: bool) -> Message:
    """A reaction to message ``content.message_id`` of the chat (``mine``: one the session sent)."""
    key = MessageKey(remoteJID=_jid_text(chat), fromMe=mine, ID=content.message_id)
    return Message(reactionMessage=ReactionMessage(key=key, text=content.emoji,
                                                   senderTimestampMS=int(time.time() * 1000)))  # fmt: skip


def media_message(content: MediaContent, up: Any) -> Message:
    """The message of media uploaded to WhatsApp (``up``: neonize's UploadResponse)."""
    common = {"URL": up.url, "directPath": up.DirectPath, "mediaKey": up.MediaKey, "fileLength": up.FileLength,
              "fileSHA256": up.FileSHA256, "fileEncSHA256": up.FileEncSHA256,
              "mimetype": content.media.mimetype}  # fmt: skip
    caption = {"caption": content.caption} if content.caption else {}
    if content.type == "image":
        return Message(imageMessage=ImageMessage(**common, **caption))
    if content.type == "video":
        return Message(videoMessage=VideoMessage(**common, **caption))
    if content.type in ("audio", "voice"):
        return Message(audioMessage=AudioMessage(**common, PTT=content.type == "voice"))
    name = content.media.filename or content.media.id
    return Message(documentMessage=DocumentMessage(**common, **caption, fileName=name, title=name))


def inbound_media(message: Any) -> tuple[str, Any] | None:
    """The kind (image, video, audio, voice, document) and part of an inbound media message."""
    for field, kind in _INBOUND_MEDIA:
        if message.HasField(field):
            part = getattr(message, field)
            return ("voice" if kind == "audio" and part.PTT else kind), part
    return None


def content_of(message: Any) -> AnyContent | None:
    """zapgate's content of an inbound text, location or contact, or None for other kinds."""
    if message.conversation:
        return TextContent(text=message.conversation)
    if message.HasField("extendedTextMessage") and message.extendedTextMessage.text:
        quoted = message.extendedTextMessage.contextInfo.stanzaID or None
        return TextContent(text=message.extendedTextMessage.text, reply_to=quoted)
    if message.HasField("locationMessage"):
        loc = message.locationMessage
        return LocationContent(
            latitude=loc.degreesLatitude, longitude=loc.degreesLongitude, name=loc.name or None
        )
    if message.HasField("contactMessage"):
        card = message.contactMessage
        phone = next((line.split(":")[-1] for line in card.vcard.splitlines() if line.startswith("TEL")), "")
        if phone:
            return ContactContent(contact=ContactCard(name=card.displayName or phone, phone=phone))
    return None
