"""Who a message goes to: a phone number or a WhatsApp chat id, normalized to a chat id."""

from __future__ import annotations

import functools
import re

import phonenumbers

from zapgate.common.messages import CHAT_ID_PATTERN

_PHONE = re.compile(r"^\+?[0-9]{1,20}$")
_CHAT = re.compile(CHAT_ID_PATTERN)


class BadRecipient(ValueError):
    """``to`` is neither a valid phone number nor a chat id; the message says why."""


@functools.lru_cache(maxsize=65_536)
def chat_id(to: str) -> str:
    """``5511999999999``, ``+5511999999999`` or ``5511999999999@c.us`` → ``5511999999999@c.us``.

    Cached: parsing a number with ``phonenumbers`` was a tenth of the send route's CPU, and a
    tenant sends to the same contacts again and again (rejections are not cached).
    """
    value = to.strip()
    if "@" in value:
        if not _CHAT.fullmatch(value):
            raise BadRecipient(
                f"{to!r} is not a chat id: expected <digits>@c.us, <digits>@s.whatsapp.net or <digits>-<digits>@g.us"
            )
        number, server = value.split("@", 1)
        return f"{number}@c.us" if server == "s.whatsapp.net" else value
    if not _PHONE.fullmatch(value):
        raise BadRecipient(f"{to!r} is not a phone number: digits only, country code first, optional +")
    digits = value.lstrip("+")
    try:
        parsed = phonenumbers.parse("+" + digits)
    except phonenumbers.NumberParseException as exc:
        raise BadRecipient(f"{to!r} is not a phone number: {exc}") from None
    if not phonenumbers.is_valid_number(parsed):
        raise BadRecipient(
            f"{to!r} is not a valid phone number for its country code (+{parsed.country_code})"
        )
    return f"{digits}@c.us"


_HUMAN_SEPARATORS = re.compile(r"[\s().\-\u00a0]")


def normalize_phone(human: str) -> str:
    """A phone as people write it (``+55 (11) 99999-9999``) to a chat id, checked as ``chat_id`` does."""
    value = human.strip()
    if "@" not in value:
        value = _HUMAN_SEPARATORS.sub("", value)
        if value.startswith("00"):
            value = value[2:]  # the international call prefix many countries dial
    return chat_id(value)


def phone_of(chat: str) -> str | None:
    """The phone number of a one-to-one chat, None for groups and others."""
    number, _, server = chat.partition("@")
    return number if server in ("c.us", "s.whatsapp.net") else None
