"""Alembic environment of the session worker."""

from zapgate.common.migrations import run_env
from zapgate.session_worker.adapters.tables import Base

run_env(Base.metadata)
