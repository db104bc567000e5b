"""Who is calling: the admin, or one tenant through one of its keys."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller of a request."""

    is_admin: bool
    tenant_id: str | None = None
    key_id: str | None = None
    key_hash: str | None = None  # the tenant key it came with (also through a ticket)

    def can_see_tenant(self, tenant_id: str) -> bool:
        """Admins see every tenant; a tenant sees only itself."""
        return self.is_admin or self.tenant_id == tenant_id


ADMIN = Principal(is_admin=True)
