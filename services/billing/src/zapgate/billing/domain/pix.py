"""PIX "copia e cola" codes (BR Code): EMV QRCPS merchant-presented, as the Central Bank specifies.

A code is a list of ID-length-value fields ending in a CRC-16/CCITT-FALSE checksum over
everything before it, "6304" included. What a bank app reads from it: the receiver's key, name
and city, the amount, and the transaction id.
"""

from __future__ import annotations

import re
import unicodedata

from zapgate.billing.domain.money import decimal_text

GUI = "br.gov.bcb.pix"
_TXID = re.compile(r"^[A-Za-z0-9]{1,25}$")


def _field(tag: str, value: str) -> str:
    if len(value) > 99:
        raise ValueError(f"field {tag} is longer than 99 characters")
    return f"{tag}{len(value):02d}{value}"


def crc16(payload: str) -> str:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF) of the payload, as 4 upper-case hex digits."""
    crc = 0xFFFF
    for byte in payload.encode():
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return f"{crc:04X}"


def _plain(text: str, limit: int) -> str:
    """Upper-case ASCII without accents, cut to ``limit`` (what the name and city fields allow)."""
    ascii_only = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Za-z0-9 .-]", "", ascii_only).upper()[:limit] or "NA"


def brcode(key: str, name: str, city: str, amount_cents: int, txid: str) -> str:
    """A static PIX code for ``amount_cents`` to the PIX key ``key``, carrying ``txid``."""
    if not _TXID.fullmatch(txid):
        raise ValueError("txid is 1 to 25 letters and digits")
    if amount_cents <= 0:
        raise ValueError("a PIX charge has a positive amount")
    account = _field("00", GUI) + _field("01", key)
    body = (
        _field("00", "01")
        + _field("26", account)
        + _field("52", "0000")
        + _field("53", "986")
        + _field("54", decimal_text(amount_cents))
        + _field("58", "BR")
        + _field("59", _plain(name, 25))
        + _field("60", _plain(city, 15))
        + _field("62", _field("05", txid))
        + "6304"
    )
    return body + crc16(body)


def parse(code: str) -> dict[str, str]:
    """The top-level fields of a code (``"26"`` and ``"62"`` still nested); ValueError if its
    checksum or its layout is wrong."""
    if len(code) < 8 or crc16(code[:-4]) != code[-4:]:
        raise ValueError("the checksum does not match")
    fields: dict[str, str] = {}
    at = 0
    while at < len(code):
        tag, size = code[at : at + 2], int(code[at + 2 : at + 4])
        fields[tag] = code[at + 4 : at + 4 + size]
        at += 4 + size
    if at != len(code):
        raise ValueError("a field runs past the end")
    return fields


def nested(value: str) -> dict[str, str]:
    """The sub-fields of a template field (``26``, ``62``)."""
    out: dict[str, str] = {}
    at = 0
    while at < len(value):
        tag, size = value[at : at + 2], int(value[at + 2 : at + 4])
        out[tag] = value[at + 4 : at + 4 + size]
        at += 4 + size
    return out
