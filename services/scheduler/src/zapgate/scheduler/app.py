"""Scheduler wiring. Scheduling itself arrives with its own issue; this process connects and reports health."""

from __future__ import annotations

from zapgate.common.service import Service
from zapgate.scheduler.settings import Settings


class Scheduler(Service):
    """The scheduler process."""

    name = "scheduler"


def create_app(settings: Settings) -> Scheduler:
    """Build the scheduler from its settings."""
    return Scheduler(settings)
