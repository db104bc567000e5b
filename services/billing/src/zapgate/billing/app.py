"""Billing wiring. Plans and metering arrive with their own issue; this process connects and reports health."""

from __future__ import annotations

from zapgate.billing.settings import Settings
from zapgate.common.service import Service


class Billing(Service):
    """The billing process."""

    name = "billing"


def create_app(settings: Settings) -> Billing:
    """Build billing from its settings."""
    return Billing(settings)
