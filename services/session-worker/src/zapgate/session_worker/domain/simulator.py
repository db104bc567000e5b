"""What the simulator shows, as WhatsApp shows it: QR payloads, their schedule, pairing codes."""

from __future__ import annotations

import base64
import os
import secrets

from zapgate.session_worker.domain import whatsapp

QR_SCHEDULE = (60.0, 20.0, 20.0, 20.0, 20.0, 20.0)
PAIRING_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTVWXYZ"
PLATFORM = "zapgate"


def _b64(n: int) -> str:
    return base64.b64encode(os.urandom(n)).decode()


def qr_payload(noise_key: str, identity_key: str, adv_secret: str) -> str:
    """A linked-devices QR payload: ``…#<ref>,<noiseKey>,<identityKey>,<adv>,<platform>``.

    A new ``ref`` per code, the same device keys for the whole pairing attempt.
    """
    ref = "2@" + _b64(48)
    return f"https://wa.me/settings/linked_devices#{ref},{noise_key},{identity_key},{adv_secret},{PLATFORM}"


def device_keys() -> tuple[str, str, str]:
    """Keys of a pairing attempt: noise key, identity key, ADV secret (base64)."""
    return _b64(32), _b64(32), _b64(32)


def qr_durations(speed: float) -> list[float]:
    """How long each of the six codes is shown, scaled by the simulator speed."""
    return [d / speed for d in QR_SCHEDULE]


def pairing_code() -> str:
    """Eight characters of WhatsApp's pairing alphabet, shown as ``XXXX-XXXX``."""
    code = "".join(secrets.choice(PAIRING_ALPHABET) for _ in range(8))
    return f"{code[:4]}-{code[4:]}"


ACK_DELAYS = (("delivered", 0.4), ("read", 1.5))
"""When a simulated contact acknowledges a message, seconds after it was sent (÷ speed)."""
PLAYED_DELAY = 2.5
"""A voice note is played this long after it was sent (÷ speed)."""


def on_whatsapp(chat: str) -> bool:
    """Whether a chat's number has WhatsApp: in the simulator, every number not ending in 0000."""
    return registered_form(chat) is not None


def registered_form(chat: str) -> str | None:
    """The chat id the simulated WhatsApp knows a number under, or None.

    Numbers ending in 0000 have no account. Brazilian mobiles ending in 1111 are older accounts,
    registered without the ninth digit; the others with it, whichever form is asked for.
    """
    number, _, server = chat.partition("@")
    server = server or "c.us"
    if number.endswith("0000"):
        return None
    variants = whatsapp.phone_variants(number)
    if len(variants) < 2:
        return f"{number}@{server}"
    with_nine = next(v for v in variants if len(v) == 13)
    without = next(v for v in variants if len(v) == 12)
    return f"{without if number.endswith('1111') else with_nine}@{server}"


def ack_schedule(kind: str, speed: float) -> list[tuple[str, float]]:
    """The acknowledgements a contact sends for a message of ``kind``: (status, delay) pairs."""
    acks = list(ACK_DELAYS)
    if kind == "voice":
        acks.append(("played", PLAYED_DELAY))
    return [(status, delay / speed) for status, delay in acks]


def inbound_wa_id() -> str:
    """A WhatsApp id of a message sent from a phone: ``3A`` and 18 upper-case hex digits."""
    return "3A" + secrets.token_hex(9).upper()
