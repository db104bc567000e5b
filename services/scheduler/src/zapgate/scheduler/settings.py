"""Settings of the scheduler (environment prefix ``ZAPGATE_``)."""

from __future__ import annotations

from zapgate.common.settings import CommonSettings


class Settings(CommonSettings):
    """scheduler settings; the shared ones come from CommonSettings."""
