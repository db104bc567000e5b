"""The scheduler's schema migrations."""

from __future__ import annotations

from pathlib import Path

from zapgate.common.migrations import upgrade

MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "alembic_version_scheduler"


def migrate(database_url: str) -> None:
    """Bring the scheduler's tables up to date (blocking)."""
    upgrade(database_url, MIGRATIONS, VERSION_TABLE)
