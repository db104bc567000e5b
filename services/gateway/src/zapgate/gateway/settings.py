"""Gateway settings (environment prefix ``ZAPGATE_``)."""

from __future__ import annotations

from pydantic import Field

from zapgate.common.settings import CommonSettings


class Settings(CommonSettings):
    """Gateway settings; the shared ones come from CommonSettings."""

    max_body_size: int = Field(
        2 * 1024 * 1024, ge=1024, description="Largest request body accepted, bytes (413 above)"
    )
    api_key_cache_ttl: float = Field(
        30.0, ge=0, description="Seconds a verified API key is cached; revocations are broadcast"
    )
