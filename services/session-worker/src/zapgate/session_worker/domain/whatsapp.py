"""What the whatsapp engine decides without I/O: reasons a person understands, receipts, numbers."""

from __future__ import annotations

import re
from urllib.parse import urlencode, urlsplit, urlunsplit

from zapgate.common.messages import MessageState

QR_FIRST_SECONDS = 60.0
QR_NEXT_SECONDS = 20.0
"""whatsmeow shows its first code 60 s and each next one 20 s (about 160 s in all)."""

USER_SERVER = "s.whatsapp.net"

# whatsmeow's receipt types (types.ReceiptType as neonize numbers them).
_RECEIPTS = {1: MessageState.DELIVERED, 4: MessageState.READ, 6: MessageState.PLAYED}

# LoggedOut / ConnectFailure reasons (neonize's ConnectFailureReason numbering).
_LOGOUT_REASONS = {
    2: "logged out from the phone",
    3: "temporarily banned by WhatsApp",
    4: "the phone's main device is gone",
    5: "logged out by WhatsApp",
    6: "WhatsApp refused this client version as outdated: update neonize",
    7: "WhatsApp refused the client's user agent",
    8: "WhatsApp had an internal error",
    10: "WhatsApp is unavailable",
}


def qr_seconds(index: int) -> float:
    """How long the code number ``index`` (from 0) is valid."""
    return QR_FIRST_SECONDS if index == 0 else QR_NEXT_SECONDS


def receipt_state(receipt_type: int) -> MessageState | None:
    """The status a receipt moves a sent message to, or None (retries, server errors, self)."""
    return _RECEIPTS.get(receipt_type)


def unreachable_reason(error: str) -> str:
    """A failed connect, as a person reads it: ``cannot reach WhatsApp: network is unreachable``."""
    detail = error.rsplit(": ", 1)[-1].strip() or error.strip() or "unknown error"
    return f"cannot reach WhatsApp: {detail}"


def logout_reason(code: int) -> str:
    """Why WhatsApp ended the link, from a LoggedOut or ConnectFailure reason code."""
    return _LOGOUT_REASONS.get(code, f"WhatsApp ended the session (reason {code})")


def is_logout(code: int) -> bool:
    """Whether a ConnectFailure reason means the device is unlinked (credentials are void)."""
    return code in (2, 4, 5)


_BAN_CAUSES = {
    1: "messages sent to too many people",
    2: "blocked by too many users",
    3: "too many groups created",
    4: "the same message sent too many times",
    5: "broadcast lists",
}


def temporary_ban_reason(code: int, expire_seconds: int) -> str:
    """A temporary ban, with its cause and how long it lasts."""
    hours = max(1, round(expire_seconds / 3600)) if expire_seconds else None
    lasting = f" for about {hours} h" if hours else ""
    cause = _BAN_CAUSES.get(code, f"code {code}")
    return f"temporarily banned by WhatsApp{lasting} ({cause}): stop sending and try again later"


def phone_variants(number: str) -> list[str]:
    """The forms of a number WhatsApp may know it by: a Brazilian mobile (55 + area code) is
    registered with or without the ninth digit, older accounts without it."""
    digits = re.sub(r"\D", "", number)
    m = re.fullmatch(r"55(\d{2})(9?)(\d{8})", digits)
    if not m:
        return [digits]
    area, nine, rest = m.groups()
    if rest[0] not in "6789":  # landlines have no ninth digit
        return [digits]
    with_nine, without = f"55{area}9{rest}", f"55{area}{rest}"
    return [with_nine, without] if nine else [without, with_nine]


def chat_user(chat: str) -> str:
    """The number of a chat id ``<number>@c.us``."""
    return chat.split("@", 1)[0]


def jid_server(chat: str) -> str:
    """whatsmeow's server of a zapgate chat id: ``c.us`` (WAHA's and zapgate's) is ``s.whatsapp.net``."""
    server = chat.partition("@")[2] or "c.us"
    return USER_SERVER if server == "c.us" else server


def chat_of(user: str, server: str = USER_SERVER) -> str:
    """zapgate's chat id of a WhatsApp user: ``<number>@c.us``."""
    return f"{user}@{'c.us' if server in ('', USER_SERVER) else server}"


def registered_form(variants: list[str], registered: list[bool]) -> str | None:
    """The form of a number WhatsApp knows, from the answers for each of ``variants``."""
    return next((v for v, known in zip(variants, registered, strict=True) if known), None)


def vcard(name: str, phone: str) -> str:
    """A vCard 3.0 of one contact, as WhatsApp's contact messages carry it."""
    digits = re.sub(r"\D", "", phone)
    safe = re.sub(r"[\r\n;]", " ", name)
    return (
        "BEGIN:VCARD\nVERSION:3.0\n"
        f"N:;{safe};;;\nFN:{safe}\n"
        f"TEL;type=CELL;type=VOICE;waid={digits}:+{digits}\nEND:VCARD"
    )


def store_url(database_url: str) -> str:
    """whatsmeow's store URL (lib/pq) for zapgate's database URL (SQLAlchemy, asyncpg driver).

    lib/pq needs ``sslmode`` said outright; it is ``disable`` unless the URL names one.
    """
    parts = urlsplit(database_url)
    scheme = "postgres"
    query = dict(p.split("=", 1) for p in parts.query.split("&") if "=" in p)
    query.setdefault("sslmode", query.pop("ssl", "disable"))
    return urlunsplit((scheme, parts.netloc, parts.path, urlencode(query), ""))
