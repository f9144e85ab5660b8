"""The `reports` section of the settings file."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from pydantic import BaseModel, ConfigDict, Field


class ReportsSettings(BaseModel):
    """Contract reports: the working-day calendar and where report files go."""

    model_config = ConfigDict(extra="forbid")

    holiday_files: list[Path] = Field(
        [], description="holiday calendars (public holidays and adjusted working days, YAML; "
                        "config/holidays/cn-2026.yaml is the 2026 Chinese example); relative to this file; "
                        "[]: Monday to Friday are working days")
    out_dir: Optional[Path] = Field(None, description="where report files are written; null: <state_dir>/reports; "
                                                      "relative to this file")
    top_offenders: int = Field(10, ge=1, le=1000, description="devices listed as top offenders in the monthly report")
