"""Settings of the billing (environment prefix ``ZAPGATE_``)."""

from __future__ import annotations

from zapgate.common.settings import CommonSettings


class Settings(CommonSettings):
    """billing settings; the shared ones come from CommonSettings."""
