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
    engine_threads: int = Field(
        288,
        ge=8,
        le=4096,
        description="Threads for the engines: each whatsapp-engine session holds one; keep 32 spare "
        "(so a worker runs up to ZAPGATE_ENGINE_THREADS - 32 of them)",
    )
