"""Settings of the scheduler (`scheduler`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class SchedulerSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    slot_s: float = Field(
        1.0, gt=0, le=3600,
        description="start times of one interval group are spread over slots this wide, "
                    "so 7,000 devices do not fire at once")
    lag_warn_s: float = Field(2.0, gt=0, le=3600, description="log a warning when a run starts this late")
    # At most 10 s: the unit's TimeoutStopSec=15 must never SIGKILL a flush in progress.
    shutdown_timeout_s: float = Field(8.0, gt=0, le=10, description="SIGTERM: wait this long for runs and outputs")
