"""Per-tenant quotas: the operator's defaults, a tenant's overrides, and the check (pure)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

# The quotas there are, in the order they are shown.
NAMES = ("sessions", "api_keys", "media_bytes", "tickets_per_minute")


@dataclass(frozen=True, slots=True)
class Quotas:
    """What one tenant may hold or do; ``None`` is unlimited."""

    sessions: int | None = 100
    api_keys: int | None = 20
    media_bytes: int | None = 1024 * 1024 * 1024
    tickets_per_minute: int | None = 60

    def with_overrides(self, overrides: dict[str, Any] | None) -> Quotas:
        """These defaults with a tenant's own values put over them (``None`` there: unlimited)."""
        known = {f.name for f in fields(self)}
        changes = {k: v for k, v in (overrides or {}).items() if k in known}
        return replace(self, **changes)

    def as_dict(self) -> dict[str, int | None]:
        """The quotas as JSON."""
        return asdict(self)


class QuotaExceeded(Exception):
    """Taking ``wanted`` more of ``quota`` would pass the tenant's limit."""

    def __init__(self, quota: str, limit: int, used: int, wanted: int = 1) -> None:
        super().__init__(f"{quota}: {used} used of {limit}")
        self.quota = quota
        self.limit = limit
        self.used = used
        self.wanted = wanted

    def details(self) -> dict[str, Any]:
        """What the client is told: which quota, the limit, what is used."""
        return {"quota": self.quota, "limit": self.limit, "used": self.used, "requested": self.wanted}


def check(quota: str, limit: int | None, used: int, wanted: int = 1) -> None:
    """Raise QuotaExceeded unless ``used + wanted`` stays within ``limit``."""
    if limit is not None and used + wanted > limit:
        raise QuotaExceeded(quota, limit, used, wanted)
