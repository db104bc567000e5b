"""Contacts as people hand them over: phones in any format, CSV files, opt-out keywords."""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from dataclasses import dataclass

from pydantic import ValidationError

from zapgate.common.recipients import BadRecipient, normalize_phone
from zapgate.common.scheduling import ContactIn

DEFAULT_OPTOUT = ("SAIR", "PARAR", "STOP")
MAX_IMPORT_LINES = 50_000
TAG_SEPARATORS = re.compile(r"[;,|]")


@dataclass(frozen=True)
class Member:
    """A contact ready to store: its phone checked and normalised."""

    chat: str
    phone: str
    name: str | None
    fields: dict[str, str]
    tags: list[str]


def member(contact: ContactIn) -> Member:
    """A checked member, or BadRecipient saying why the phone is not one."""
    chat = normalize_phone(contact.phone)
    return Member(chat, chat.split("@", 1)[0], contact.name, dict(contact.fields), sorted(set(contact.tags)))


@dataclass(frozen=True)
class Rejection:
    """A line or item not taken."""

    line: int
    phone: str | None
    reason: str


def members(contacts: list[ContactIn], first_line: int = 0) -> tuple[list[Member], list[Rejection]]:
    """Check each contact; the last of two with the same number wins."""
    taken: dict[str, Member] = {}
    rejected: list[Rejection] = []
    for n, contact in enumerate(contacts, start=first_line):
        try:
            m = member(contact)
        except BadRecipient as exc:
            rejected.append(Rejection(n, contact.phone, str(exc)))
            continue
        taken[m.chat] = m
    return list(taken.values()), rejected


def parse_csv(text: str) -> tuple[list[Member], list[Rejection]]:
    """A CSV with a header: ``phone`` (required), ``name``, ``tags`` (separated by ``;``), and
    any other column as a template field. Line numbers count the header as line 1."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        return [], [Rejection(1, None, "the file is empty; the first line names the columns")]
    if "phone" not in header:
        return [], [Rejection(1, None, "no 'phone' column in the header")]
    contacts: list[ContactIn] = []
    lines: list[int] = []
    rejected: list[Rejection] = []
    for n, row in enumerate(reader, start=2):
        if n - 1 > MAX_IMPORT_LINES:
            rejected.append(Rejection(n, None, f"more than {MAX_IMPORT_LINES} lines; the rest not read"))
            break
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            rejected.append(Rejection(n, None, f"{len(row)} columns where the header has {len(header)}"))
            continue
        cells = dict(zip(header, (c.strip() for c in row), strict=True))
        phone = cells.pop("phone")
        name = cells.pop("name", "") or None
        tags = [t.strip() for t in TAG_SEPARATORS.split(cells.pop("tags", "")) if t.strip()]
        fields = {re.sub(r"[^a-z0-9_]", "_", k): v for k, v in cells.items() if k and v}
        try:
            contacts.append(ContactIn(phone=phone, name=name, fields=fields, tags=tags))
            lines.append(n)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            where = ".".join(str(p) for p in first["loc"])
            rejected.append(Rejection(n, phone or None, f"{where}: {first['msg']}"))
    taken: dict[str, Member] = {}
    for n, contact in zip(lines, contacts, strict=True):
        try:
            m = member(contact)
        except BadRecipient as exc:
            rejected.append(Rejection(n, contact.phone, str(exc)))
            continue
        taken[m.chat] = m
    rejected.sort(key=lambda r: r.line)
    return list(taken.values()), rejected


def keyword_form(text: str) -> str:
    """How an opt-out keyword is compared: trimmed, upper case, accents and trailing punctuation gone."""
    folded = unicodedata.normalize("NFKD", text.strip()).encode("ascii", "ignore").decode()
    return folded.upper().rstrip(".!?").strip()


def is_optout(text: str, keywords: list[str]) -> bool:
    """Whether an inbound text is exactly one of the keywords."""
    return keyword_form(text) in {keyword_form(k) for k in keywords}
