"""The `reports` section of the settings file."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator

_TIME = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)\Z")


def _time_of_day(value: Any) -> Any:
    # YAML 1.1 reads an unquoted 17:00 as the base-60 number 1020; only the quotes can tell.
    if isinstance(value, int) and not isinstance(value, bool):
        hours, minutes = divmod(value, 60)
        meant = f"'{hours:02d}:{minutes:02d}'" if 0 <= value < 24 * 60 else "'17:00'"
        raise ValueError(f"{value} is a number, not a time (YAML reads an unquoted {meant.strip(chr(39))} as "
                         f"{hours * 60 + minutes}); write the time in quotes, e.g. {meant}")
    if not isinstance(value, str) or not _TIME.match(value.strip()):
        raise ValueError(f"{value!r} is not a time of day; write HH:MM in quotes, e.g. '09:00'")
    hours, minutes = value.strip().split(":")
    return f"{int(hours):02d}:{minutes}"


def clock(text: str) -> dt.time:
    hours, minutes = text.split(":")
    return dt.time(int(hours), int(minutes))


class DeliverySettings(BaseModel):
    """Where the daemon sends the reports it makes on schedule."""

    model_config = ConfigDict(extra="forbid")

    channels: list[str] = Field(
        [], description="notification channels (notifications.channels) that get every scheduled report: e-mail "
                        "(apprise mailto://) with the files attached, any other channel a summary and the paths; "
                        "[]: the files are only written")
    formats: list[str] = Field(["html", "xlsx"], min_length=1, description="files made for a scheduled report: "
                                                                          "html, xlsx, csv")

    @field_validator("channels", mode="before")
    @classmethod
    def _one_or_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("formats")
    @classmethod
    def _formats(cls, formats: list[str]) -> list[str]:
        from monitor.reports.render import FORMATS

        for name in formats:
            if name not in FORMATS:
                raise ValueError(f"unknown format '{name}'; use html, xlsx or csv")
        return list(dict.fromkeys(formats))


class ReportsSettings(BaseModel):
    """Contract reports: the working-day calendar, where report files go, and the daemon's schedule."""

    model_config = ConfigDict(extra="forbid")

    holiday_files: list[Path] = Field(
        [], description="holiday calendars (public holidays and adjusted working days, YAML; "
                        "config/holidays/cn-2026.yaml is the 2026 Chinese example); relative to this file; "
                        "[]: Monday to Friday are working days")
    out_dir: Optional[Path] = Field(None, description="where report files are written; null: <state_dir>/reports; "
                                                      "relative to this file")
    top_offenders: int = Field(10, ge=1, le=1000, description="devices listed as top offenders in the monthly report")
    inspection_times: list[str] = Field(
        ["09:00", "17:00"], description="times of day (faults.timezone, HH:MM in quotes) the daemon makes the "
                                        "inspection record, every day; []: none")
    inspection_window_s: float = Field(
        900.0, gt=0, le=86_400, description="a device not heard of within this many seconds before the inspection "
                                            "has no data")
    monthly_time: Optional[str] = Field(
        "09:00", description="time of day the daemon makes and sends last month's report on the 1st working day "
                             "of the month; null: not scheduled")
    reminder_time: Optional[str] = Field(
        "10:00", description="time of day, on the working day after a fault was resolved, the daemon reminds that "
                             "its written analysis is due that day (if it is still missing); null: no reminders")
    deliver: DeliverySettings = Field(DeliverySettings(), description="where scheduled reports go")

    @field_validator("inspection_times", mode="before")
    @classmethod
    def _times(cls, value: Any) -> Any:
        if isinstance(value, list):
            return sorted(set(_time_of_day(item) for item in value))
        return value

    @field_validator("monthly_time", "reminder_time", mode="before")
    @classmethod
    def _time(cls, value: Any) -> Any:
        return None if value is None else _time_of_day(value)

    def inspection_clocks(self) -> list[dt.time]:
        return [clock(text) for text in self.inspection_times]
