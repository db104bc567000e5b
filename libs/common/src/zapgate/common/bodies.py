"""Bases of the request and answer bodies services share with the gateway's REST API."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from zapgate.common.messages import no_nul


def no_nul_anywhere(value: Any) -> Any:
    """Refuse NUL characters in a value, its list items and its mappings' keys and values
    (PostgreSQL stores none, in text or in JSON)."""
    if isinstance(value, dict):
        for key, item in value.items():
            no_nul_anywhere(key)
            no_nul_anywhere(item)
    elif isinstance(value, list | tuple):
        for item in value:
            no_nul_anywhere(item)
    else:
        no_nul(value)
    return value


class In(BaseModel):
    """Base of request bodies: unknown fields are an error; no NUL characters, however deep."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    _no_nul = field_validator("*", mode="after")(no_nul_anywhere)


class Out(BaseModel):
    """Base of answers."""

    model_config = ConfigDict(frozen=True)
