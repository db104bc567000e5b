"""Alembic environment of billing."""

from zapgate.billing.adapters.tables import Base
from zapgate.common.migrations import run_env

run_env(Base.metadata)
