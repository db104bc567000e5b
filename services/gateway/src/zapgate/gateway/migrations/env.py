"""Alembic environment of the gateway."""

from zapgate.common.migrations import run_env
from zapgate.gateway.adapters.tables import Base

run_env(Base.metadata)
