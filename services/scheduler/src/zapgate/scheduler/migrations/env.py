"""Alembic environment of the scheduler."""

from zapgate.common.migrations import run_env
from zapgate.scheduler.adapters.tables import Base

run_env(Base.metadata)
