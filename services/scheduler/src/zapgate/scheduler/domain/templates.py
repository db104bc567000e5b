"""Message templates: ``{{variable}}`` placeholders and ``{a|b|c}`` variations, rendered safely.

No template language runs here: a placeholder is a name looked up in a dictionary, a variation
is one of its literal options. So a user's template cannot run code, read attributes or grow
without bound (the output is capped), and the same (template, seed) always renders the same
text, so a retry sends what the first attempt would have.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Mapping
from typing import Any

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_SLOT = "\x00{}\x00"  # NUL never reaches here: every input refuses it
_SLOT_RE = re.compile("\x00([0-9]+)\x00")
VARIATION = re.compile(r"\{([^{}]*\|[^{}]*)\}")
TEXT_FIELDS = ("text", "caption")
MAX_TEXT = 4096


class MissingVariable(ValueError):
    """A placeholder has no value."""

    def __init__(self, name: str) -> None:
        super().__init__(f"no value for {{{{{name}}}}}")
        self.name = name


class TooLong(ValueError):
    """The rendered text is longer than a message may be."""


def variables(message: Mapping[str, Any]) -> list[str]:
    """The placeholders of a message body, in order of first use."""
    names: dict[str, None] = {}
    for field in TEXT_FIELDS:
        value = message.get(field)
        if isinstance(value, str):
            names.update(dict.fromkeys(m.group(1) for m in PLACEHOLDER.finditer(value)))
    return list(names)


def render_text(text: str, values: Mapping[str, str], seed: str) -> str:
    """Fill ``text``: variations picked by ``seed``, then placeholders from ``values``."""
    names: list[str] = []

    def hide(match: re.Match[str]) -> str:
        names.append(match.group(1))
        return _SLOT.format(len(names) - 1)

    # Placeholders are set aside first so a variation may hold one ({Olá {{name}}|Oi}) and a
    # value that holds braces or bars is never read as a variation.
    hidden = PLACEHOLDER.sub(hide, text)
    pick = random.Random(hashlib.sha256(seed.encode()).digest())
    varied = VARIATION.sub(lambda m: pick.choice(m.group(1).split("|")), hidden)

    def fill(match: re.Match[str]) -> str:
        name = names[int(match.group(1))]
        value = values.get(name)
        if value is None or value == "":
            raise MissingVariable(name)
        return value

    out = _SLOT_RE.sub(fill, varied)
    if len(out) > MAX_TEXT:
        raise TooLong(f"rendered text is {len(out)} characters, more than {MAX_TEXT}")
    return out


def render(message: Mapping[str, Any], values: Mapping[str, str], seed: str) -> dict[str, Any]:
    """A message body with its text and caption rendered."""
    out = dict(message)
    for field in TEXT_FIELDS:
        value = out.get(field)
        if isinstance(value, str):
            out[field] = render_text(value, values, f"{seed}/{field}")
    return out


def contact_values(
    defaults: Mapping[str, str],
    variables_: Mapping[str, str],
    phone: str | None,
    name: str | None,
    fields: Mapping[str, str],
) -> dict[str, str]:
    """What placeholders are filled from: the contact's fields over the schedule's variables over
    the template's defaults, with ``name``, ``first_name`` and ``phone`` of the contact built in."""
    values = {**defaults, **variables_}
    if phone:
        values["phone"] = phone
    if name:
        values["name"] = name
        values["first_name"] = name.split()[0]
    values.update({k: v for k, v in fields.items() if v != ""})
    return values


def missing(message: Mapping[str, Any], values: Mapping[str, str]) -> list[str]:
    """Placeholders of ``message`` that ``values`` cannot fill."""
    return [name for name in variables(message) if not values.get(name)]
