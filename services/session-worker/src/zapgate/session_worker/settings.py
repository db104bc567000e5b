"""Settings of the session-worker (environment prefix ``ZAPGATE_``)."""

from __future__ import annotations

from zapgate.common.settings import CommonSettings


class Settings(CommonSettings):
    """session-worker settings; the shared ones come from CommonSettings."""
