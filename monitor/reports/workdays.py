"""Working days: Monday to Friday, minus public holidays, plus adjusted working days.

China moves weekend days to make long holidays (调休): a Saturday or Sunday can be a working
day and a weekday a holiday, so "the 5th working day of the month" (when the monthly report is
due) needs the year's official calendar. Each calendar file is YAML:

    name: ...
    holidays:      [{name: 春节, start: 2026-02-15, end: 2026-02-23}]   # both ends included
    working_days:  [{name: 春节调休, date: 2026-02-14}]

`config/holidays/cn-2026.yaml` is the shipped example with the State Council's 2026 notice.
A day listed as both is a contradiction and refused. Outside the years the files cover,
only weekends are days off: a missing year is a weaker answer, not an error.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

_DAY = dt.timedelta(days=1)


class CalendarFileError(Exception):
    """A holiday file that cannot be used; the message is one line naming the file."""


class _Holiday(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(..., min_length=1)
    start: dt.date
    end: dt.date

    @model_validator(mode="after")
    def _ordered(self) -> "_Holiday":
        if self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        return self


class _WorkingDay(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(..., min_length=1)
    date: dt.date


class _CalendarFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = ""
    holidays: list[_Holiday] = []
    working_days: list[_WorkingDay] = []


@dataclass(frozen=True)
class WorkCalendar:
    """Days off and adjusted working days; every question is about local calendar dates."""

    holidays: dict[dt.date, str] = field(default_factory=dict)
    working_days: dict[dt.date, str] = field(default_factory=dict)

    @classmethod
    def load(cls, paths: Iterable[Path]) -> "WorkCalendar":
        holidays: dict[dt.date, str] = {}
        working: dict[dt.date, str] = {}
        for path in paths:
            try:
                raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
                parsed = _CalendarFile.model_validate(raw or {})
            except OSError as exc:
                raise CalendarFileError(f"{path}: cannot read the holiday file: {exc.strerror}") from None
            except (yaml.YAMLError, ValueError) as exc:  # PyYAML raises ValueError for 2026-13-01
                if isinstance(exc, ValidationError):
                    error = exc.errors()[0]
                    where = ".".join(str(part) for part in error["loc"])
                    raise CalendarFileError(f"{path}: {where}: {error['msg']}") from None
                raise CalendarFileError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None
            for holiday in parsed.holidays:
                day = holiday.start
                while day <= holiday.end:
                    holidays[day] = holiday.name
                    day += _DAY
            for working_day in parsed.working_days:
                working[working_day.date] = working_day.name
            both = sorted(set(holidays) & set(working))
            if both:
                raise CalendarFileError(f"{path}: {both[0]} is listed both as a holiday and as a working day")
        return cls(holidays, working)

    def covers(self, year: int) -> bool:
        """Whether any file lists a day of that year (else only weekends are days off)."""
        return any(day.year == year for day in (*self.holidays, *self.working_days))

    def is_working_day(self, day: dt.date) -> bool:
        if day in self.working_days:
            return True
        if day in self.holidays:
            return False
        return day.weekday() < 5

    def holiday_name(self, day: dt.date) -> Optional[str]:
        return self.holidays.get(day)

    def nth_working_day(self, year: int, month: int, n: int) -> dt.date:
        """The n-th working day (n >= 1) of that month; ValueError if the month has fewer."""
        if n < 1:
            raise ValueError("n counts from 1")
        day, seen = dt.date(year, month, 1), 0
        while day.month == month:
            if self.is_working_day(day):
                seen += 1
                if seen == n:
                    return day
            day += _DAY
        raise ValueError(f"{year}-{month:02d} has only {seen} working days")

    def add_working_days(self, day: dt.date, n: int) -> dt.date:
        """The working day n working days after `day` (before it for negative n); n = 0 is
        `day` itself if it is a working day, else the next working day."""
        step = _DAY if n >= 0 else -_DAY
        if n == 0:
            while not self.is_working_day(day):
                day += _DAY
            return day
        remaining = abs(n)
        while remaining:
            day += step
            if self.is_working_day(day):
                remaining -= 1
        return day

    def working_days_in(self, year: int, month: int) -> int:
        day, count = dt.date(year, month, 1), 0
        while day.month == month:
            count += self.is_working_day(day)
            day += _DAY
        return count
