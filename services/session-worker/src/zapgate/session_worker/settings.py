"""Settings of the session-worker (environment prefix ``ZAPGATE_``)."""

from __future__ import annotations

from pydantic import Field

from zapgate.common.settings import CommonSettings


class Settings(CommonSettings):
    """session-worker settings; the shared ones come from CommonSettings."""

    session_health_interval: float = Field(
        15.0, gt=0, description="Seconds between pings of each CONNECTED session's engine"
    )
    session_health_timeout: float = Field(
        5.0, gt=0, description="A ping slower than this means the engine hangs"
    )
    session_max_restarts: int = Field(
        5, ge=1, description="Restarts of an unresponsive session (with backoff) before it is FAILED"
    )
