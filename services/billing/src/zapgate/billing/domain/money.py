"""Money is integer cents of BRL: never a float, from the request to the PIX code."""

from __future__ import annotations

import re

_AMOUNT = re.compile(r"^(0|[1-9][0-9]{0,12})(\.[0-9]{1,2})?$")


def decimal_text(cents: int) -> str:
    """``1990`` → ``"19.90"``: how a PIX code and Mercado Pago write an amount."""
    if cents < 0:
        raise ValueError("an amount is never negative")
    return f"{cents // 100}.{cents % 100:02d}"


def brl(cents: int) -> str:
    """``1990`` → ``"R$ 19,90"``, for people (alerts, WhatsApp reminders)."""
    units = f"{cents // 100:,}".replace(",", ".")
    return f"R$ {units},{cents % 100:02d}"


def cents_of(text: str) -> int:
    """``"19.9"`` or ``"19.90"`` → ``1990``, read as text (a provider's amount), never through a float."""
    if not _AMOUNT.fullmatch(text):
        raise ValueError(f"{text!r} is not an amount with at most two decimals")
    whole, _, frac = text.partition(".")
    return int(whole) * 100 + int((frac + "00")[:2])
