"""Settings of the scheduler (environment prefix ``ZAPGATE_``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from zapgate.common.settings import CommonSettings


class Settings(CommonSettings):
    """Scheduler settings; the shared ones come from CommonSettings."""

    scheduler_tick: float = Field(1.0, gt=0, le=3600, description="Seconds between claims of due work")
    scheduler_catchup_seconds: int = Field(
        900, ge=0, le=7 * 86400, description="Default catch-up window: a fire later than this is skipped"
    )
    scheduler_deliver_within: float = Field(
        86400, gt=0, description="Seconds a fire's message is retried while the gateway cannot take it"
    )
    scheduler_claim_batch: int = Field(200, ge=1, le=10_000)
    scheduler_send_batch: int = Field(200, ge=1, le=10_000)
    scheduler_rpc_timeout: float = Field(5.0, gt=0, le=60)
    scheduler_clock_file: Path | None = Field(
        None, description="Tests only: a file of seconds added to the clock (see zapgate.common.clock)"
    )
