"""Settings of fault records, contract clocks and calendars (`faults:` in the settings file).

Durations may be written as seconds (`180`) or with a unit (`3m`, `2h`, `1d`), because
contract clauses are worded in minutes and hours. Calendar dates and times are local to
`faults.timezone` (the machine's zone when it is not set): a flood season starts at local
midnight of June 1, wherever the server's clock thinks it is.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
import zoneinfo
from typing import Annotated, Any, Literal, Optional

from urllib.parse import parse_qsl, urlsplit

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, field_validator, model_validator

from monitor.faults.model import Selector, parse_duration

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # index = date.weekday()


# A number of seconds, or a duration with a unit; parse_duration words the error.
Seconds = Annotated[float, BeforeValidator(parse_duration)]


def _clock_time(value: Any) -> Any:
    # YAML 1.1 reads an unquoted 23:00 as the base-60 number 1380; say how to write it
    # rather than guessing what the number meant.
    if isinstance(value, int) and not isinstance(value, bool):
        raise ValueError('write the time in quotes, e.g. "23:00" (YAML reads 23:00 without quotes as a number)')
    if isinstance(value, str):
        try:
            parsed = dt.time.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"{value!r} is not a time of day; write HH:MM, e.g. \"23:00\"") from None
        if parsed.tzinfo is not None:
            raise ValueError("a time of day has no UTC offset here; times are local to faults.timezone")
        return parsed
    return value


ClockTime = Annotated[dt.time, BeforeValidator(_clock_time)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def zone_named(name: Optional[str]) -> dt.tzinfo:
    """The zone `faults.timezone` names, or the machine's own zone for None.

    tzlocal reads /etc/localtime (or $TZ) into a real ZoneInfo, so local-zone arithmetic is
    as DST-safe as a named zone."""
    if name is None:
        import tzlocal  # only needed when no zone is configured

        return tzlocal.get_localzone()
    return zoneinfo.ZoneInfo(name)


class SlaSettings(_Strict):
    """Contract clocks of one fault: time to acknowledge and time to resolve."""

    acknowledge_s: Seconds = Field(180.0, gt=0, description="acknowledge within this long after a fault opens "
                                                           "(contracts: 3 minutes); e.g. 180 or 3m")
    resolve_s: Seconds = Field(7200.0, gt=0, description="resolve within this long after a fault opens "
                                                        "(contracts: 1-2 hours); e.g. 7200 or 2h")
    warn_before_ack_s: Seconds = Field(60.0, ge=0, description="warn this long before the acknowledge deadline; "
                                                              "0: no warning")
    warn_before_resolve_s: Seconds = Field(900.0, ge=0, description="warn this long before the resolve deadline; "
                                                                   "0: no warning")

    @model_validator(mode="after")
    def _warnings_before_deadlines(self) -> "SlaSettings":
        # A warning lead as long as the deadline would fire the moment the fault opens.
        if self.warn_before_ack_s >= self.acknowledge_s:
            raise ValueError("warn_before_ack_s must be shorter than acknowledge_s")
        if self.warn_before_resolve_s >= self.resolve_s:
            raise ValueError("warn_before_resolve_s must be shorter than resolve_s")
        return self


class BudgetSettings(_Strict):
    """Fault budget per device and calendar month (contracts: 5 per server; the 6th costs a penalty)."""

    faults_per_month: int = Field(5, ge=0, description="a device with more root faults than this in one "
                                                      "calendar month is over budget")
    classes: list[str] = Field([], description="device classes the budget applies to (e.g. [server]); "
                                               "empty: every class")


def _date_text(value: Any) -> Any:
    # YAML builds a date from an unquoted 2026-10-01; keep one spelling for both forms.
    if isinstance(value, dt.datetime):
        raise ValueError("a whole day is expected (YYYY-MM-DD or MM-DD), not a date and time")
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


DayText = Annotated[str, BeforeValidator(_date_text)]


def parse_day(text: str) -> tuple[Optional[int], int, int]:
    """`"2026-10-01"` -> (2026, 10, 1); `"06-01"` -> (None, 6, 1) for every year."""
    found = re.fullmatch(r"\s*(?:(\d{4})-)?(\d{1,2})-(\d{1,2})\s*", text)
    if found is None:
        raise ValueError(f"{text!r} is not a day; write MM-DD for every year (06-01) or YYYY-MM-DD once (2026-10-01)")
    year = int(found.group(1)) if found.group(1) else None
    month, day = int(found.group(2)), int(found.group(3))
    if year is None and (month, day) == (2, 29):
        raise ValueError("02-29 only exists in leap years; use 02-28 or 03-01 for a yearly period")
    try:
        dt.date(year or 2001, month, day)  # 2001: any non-leap year, to check the day exists
    except ValueError:
        raise ValueError(f"{text!r} is not a day of the calendar") from None
    return year, month, day


class WatchPeriod(_Strict):
    """Whole local days of heightened watch: every year (MM-DD) or once (YYYY-MM-DD); both ends included."""

    name: str = Field(..., min_length=1, description="shown in alerts and status, e.g. flood season")
    start: DayText = Field(..., description="first day: MM-DD every year (06-01) or YYYY-MM-DD once (2026-10-01)")
    end: DayText = Field(..., description="last day, included: MM-DD every year (10-07) or YYYY-MM-DD once; "
                                          "a yearly range may wrap the new year (12-25 .. 01-05)")

    @field_validator("start", "end")
    @classmethod
    def _day(cls, value: str) -> str:
        parse_day(value)
        return value.strip()

    @model_validator(mode="after")
    def _same_kind(self) -> "WatchPeriod":
        start_year, end_year = parse_day(self.start)[0], parse_day(self.end)[0]
        if (start_year is None) != (end_year is None):
            raise ValueError("start and end must both be MM-DD (every year) or both YYYY-MM-DD (once)")
        if start_year is not None and parse_day(self.end) < parse_day(self.start):
            raise ValueError(f"end {self.end} is before start {self.start}")
        return self

    @property
    def yearly(self) -> bool:
        return parse_day(self.start)[0] is None


FLOOD_SEASON = WatchPeriod(name="flood season", start="06-01", end="10-07")


class HeightenedWatchSettings(_Strict):
    """Holidays, major events and flood season: stricter clocks, faster probes, more recipients."""

    periods: list[WatchPeriod] = Field(
        default_factory=lambda: [FLOOD_SEASON.model_copy()],
        description="heightened-watch periods; default: flood season every year 06-01 .. 10-07; "
                    "[] means none")
    sla: SlaSettings = Field(default_factory=lambda: SlaSettings(resolve_s=3600, warn_before_resolve_s=600),
                             description="contract clocks of faults opened during heightened watch "
                                         "(contracts: resolve within 1 hour)")
    probe_intervals: dict[str, Seconds] = Field(
        {}, description="shorter probe intervals during heightened watch, by probe kind, e.g. {icmp: 10, snmp: 30}")
    extra_groups: list[str] = Field([], description="notification groups added to every alert during heightened watch")

    @field_validator("probe_intervals")
    @classmethod
    def _positive_intervals(cls, intervals: dict[str, float]) -> dict[str, float]:
        for kind, seconds in intervals.items():
            if seconds <= 0:
                raise ValueError(f"the interval of {kind} must be more than 0 seconds")
        return intervals


Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_WEEKDAY_NAMES = {name: name[:3] for name in
                  ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")}


def _weekdays(value: Any) -> Any:
    # `weekdays: sat` and `Saturday` are what people write; store the short form.
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return value
    return [_WEEKDAY_NAMES.get(v.strip().lower(), v.strip().lower()) if isinstance(v, str) else v for v in value]


Weekdays = Annotated[list[Weekday], BeforeValidator(_weekdays)]
DaysOfMonth = Annotated[list[Annotated[int, Field(ge=1, le=31)]],
                        BeforeValidator(lambda value: [value] if isinstance(value, int) else value)]
_PERIOD_S = {"day": 86400.0, "week": 7 * 86400.0, "month": 28 * 86400.0}


def _check_recurrence(every: str, weekdays: list[str], days: list[int], duration_s: float) -> None:
    """The rules shared by configured and CLI-added recurring windows; ValueError in words."""
    if every == "week" and not weekdays:
        raise ValueError("every: week needs weekdays, e.g. weekdays: [sat]")
    if every != "week" and weekdays:
        raise ValueError(f"weekdays only apply to every: week (this window repeats every {every})")
    if every == "month" and not days:
        raise ValueError("every: month needs days of the month, e.g. days: [1, 15]")
    if every != "month" and days:
        raise ValueError(f"days only apply to every: month (this window repeats every {every})")
    if duration_s <= 0:
        raise ValueError("duration must be more than 0")
    # Longer than the repeat period would keep the window open for ever.
    if duration_s > _PERIOD_S[every]:
        raise ValueError(f"a window that repeats every {every} can last at most {_PERIOD_S[every] / 86400:g} day(s)")


class Recurrence(_Strict):
    """When a recurring maintenance window opens; each occurrence lasts `duration_s` of elapsed time.

    Elapsed time, not wall-clock: a 3 h window that starts at 01:00 on the night clocks go
    forward still lasts 3 hours."""

    every: Literal["day", "week", "month"] = Field(..., description="day, week or month")
    weekdays: Weekdays = Field([], description="every: week: the days it opens (mon .. sun)")
    days: DaysOfMonth = Field([], description="every: month: days of the month it opens "
                                               "(1 .. 31; a month without that day is skipped)")
    start_time: ClockTime = Field(..., description='local time it opens, "HH:MM" in quotes')
    duration_s: Seconds = Field(..., gt=0, description="how long each occurrence lasts, e.g. 3h")

    @model_validator(mode="after")
    def _fits(self) -> "Recurrence":
        _check_recurrence(self.every, self.weekdays, self.days, self.duration_s)
        return self

    def opens_on(self, day: dt.date) -> bool:
        if self.every == "week":
            return WEEKDAYS[day.weekday()] in self.weekdays
        if self.every == "month":
            return day.day in self.days
        return True


class MaintenanceSettings(_Strict):
    """A maintenance window: faults are recorded, marked in maintenance, and do not alert.

    Once:      start and end (ISO date-times; local to faults.timezone without a UTC offset).
    Recurring: every (day | week | month), weekdays or days, start_time, duration, and
               optionally first_date / last_date to bound the series."""

    name: str = Field(..., min_length=1, description="shown in fault records and status, e.g. relocation street-03")
    match: Selector = Field(..., description="devices it covers (devices, sites, classes, tags); {} means every device")
    start: Optional[dt.datetime] = Field(None, description="once: when it opens, e.g. 2026-03-10T20:00")
    end: Optional[dt.datetime] = Field(None, description="once: when it closes, e.g. 2026-03-11T06:00")
    every: Optional[Literal["day", "week", "month"]] = Field(None, description="recurring: day, week or month")
    weekdays: Weekdays = Field([], description="recurring every week: the days it opens (mon .. sun)")
    days: DaysOfMonth = Field([], description="recurring every month: days of the month it opens (1 .. 31; "
                                               "a month without that day is skipped)")
    start_time: Optional[ClockTime] = Field(None, description='recurring: local time it opens, "HH:MM" in quotes')
    duration: Optional[Seconds] = Field(None, description="recurring: how long each occurrence lasts, e.g. 3h")
    first_date: Optional[dt.date] = Field(None, description="recurring: first day the series may open "
                                                            "(default: always)")
    last_date: Optional[dt.date] = Field(None, description="recurring: last day the series may open "
                                                           "(default: for ever)")

    @model_validator(mode="after")
    def _once_or_recurring(self) -> "MaintenanceSettings":
        recurring_keys = ([key for key in ("every", "start_time", "duration", "first_date", "last_date")
                           if getattr(self, key) is not None]
                          + [key for key in ("weekdays", "days") if getattr(self, key)])
        if self.start is not None or self.end is not None:
            if recurring_keys:
                raise ValueError(f"give either start and end (once) or every, start_time and duration "
                                 f"(recurring), not both (found {', '.join(recurring_keys)})")
            if self.start is None or self.end is None:
                raise ValueError("a one-off window needs both start and end")
            if (self.start.tzinfo is None) != (self.end.tzinfo is None):
                raise ValueError("start and end must both have a UTC offset or both have none")
            if self.end <= self.start:
                raise ValueError(f"end {self.end.isoformat()} is not after start {self.start.isoformat()}")
            return self
        if self.every is None:
            raise ValueError("give start and end (once) or every, start_time and duration (recurring)")
        missing = [key for key in ("start_time", "duration") if getattr(self, key) is None]
        if missing:
            raise ValueError(f"a recurring window needs {' and '.join(missing)}")
        _check_recurrence(self.every, self.weekdays, self.days, self.duration)
        if self.first_date and self.last_date and self.last_date < self.first_date:
            raise ValueError(f"last_date {self.last_date} is before first_date {self.first_date}")
        return self

    def recurrence(self) -> Optional[Recurrence]:
        if self.every is None:
            return None
        return Recurrence(every=self.every, weekdays=list(self.weekdays), days=list(self.days),
                          start_time=self.start_time, duration_s=self.duration)


_DATABASE_EXAMPLE = "postgresql://netvigil@db.example:5432/netvigil"
_PASSWORD_GOES = ("put the password in faults.database.password, a secret (a secret file named "
                  "faults__database__password, or NETVIGIL_FAULTS__DATABASE__PASSWORD)")


def _database_shorthand(value: Any) -> Any:
    # `database: sqlite` names today's default, `database: postgresql://...` is the URL alone.
    if isinstance(value, str):
        text = value.strip()
        if text == "sqlite":
            return {}
        if text.startswith(("postgresql://", "postgres://")):
            return {"url": text}
        raise ValueError(f"must be sqlite (the file state_dir/faults.db) or a PostgreSQL server, e.g. "
                         f"{{url: {_DATABASE_EXAMPLE}, password: ...}}")
    return value


class DatabaseSettings(_Strict):
    """Where the fault records live: SQLite in state_dir (one server) or a PostgreSQL server
    that several pollers share (docs/operations.md, "Fault records on PostgreSQL")."""

    url: Optional[str] = Field(None, description="null: SQLite, the file state_dir/faults.db; or a PostgreSQL "
                                                 f"server shared by several pollers, e.g. {_DATABASE_EXAMPLE} "
                                                 "(libpq options such as ?sslmode=verify-full may follow)")
    password: Optional[SecretStr] = Field(None, description="the PostgreSQL role's password (secret); null: none, "
                                                            "or from ~/.pgpass, PGPASSWORD or a client certificate")
    connect_timeout_s: float = Field(5.0, gt=0, le=300, description="longest a connection attempt may take before "
                                                                    "the server counts as unreachable")

    @field_validator("url")
    @classmethod
    def _url(cls, url: Optional[str]) -> Optional[str]:
        if url is None:
            return None
        url = url.strip()
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises on a port that is not a number
        except ValueError:
            parts = None
        if parts is None or parts.scheme not in ("postgresql", "postgres"):
            raise ValueError(f"must be a postgresql:// URL, e.g. {_DATABASE_EXAMPLE}")
        # The URL is shown in logs, `status` and error sentences; the password never is.
        if parts.password is not None or any(key == "password" for key, _ in parse_qsl(parts.query)):
            raise ValueError(f"must not contain a password (URLs are logged); {_PASSWORD_GOES}")
        if not parts.path.strip("/"):
            raise ValueError(f"names no database; add it after the host, e.g. {_DATABASE_EXAMPLE}")
        return url

    @model_validator(mode="after")
    def _password_needs_url(self) -> "DatabaseSettings":
        if self.url is None and self.password is not None:
            raise ValueError("password is set but url is not: the password is for a PostgreSQL server "
                             f"(url: {_DATABASE_EXAMPLE}); remove it to keep the SQLite file")
        return self

    @property
    def postgresql(self) -> bool:
        return self.url is not None

    def shown(self) -> str:
        """The URL without its query (options may name files or hosts people need not see)."""
        if self.url is None:
            return "sqlite"
        parts = urlsplit(self.url)
        user = f"{parts.username}@" if parts.username else ""
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{user}{parts.hostname or ''}{port}{parts.path}"


class FaultsSettings(_Strict):
    """Fault records, contract clocks, monthly budget and calendars."""

    database: Annotated[DatabaseSettings, BeforeValidator(_database_shorthand)] = Field(
        default_factory=DatabaseSettings,
        description="where the fault records are kept: sqlite (default, state_dir/faults.db) or "
                    "{url: postgresql://..., password: ...} shared by several pollers")

    reopen_window_s: Seconds = Field(600.0, ge=0, description="a condition that returns within this long after "
                                                             "its fault resolved reopens that fault; 0: never")
    sla: SlaSettings = Field(default_factory=SlaSettings, description="contract clocks outside heightened watch")
    budget: BudgetSettings = Field(default_factory=BudgetSettings, description="monthly fault budget per device")
    keep_days: int = Field(400, ge=1, description="closed faults older than this are deleted "
                                                  "(monthly and annual reports need a year)")
    timezone: Optional[str] = Field(None, description="IANA zone of calendars and monthly counts, e.g. Asia/Shanghai; "
                                                      "empty: the machine's zone")
    maintenance: list[MaintenanceSettings] = Field([], description="maintenance windows from configuration")
    heightened_watch: HeightenedWatchSettings = Field(default_factory=HeightenedWatchSettings,
                                                      description="heightened-watch periods and what changes in them")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: Optional[str]) -> Optional[str]:
        if name is None:
            return None
        try:
            zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            close = difflib.get_close_matches(name, sorted(zoneinfo.available_timezones()), n=1, cutoff=0.6)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise ValueError(f"unknown time zone {name!r}{hint}; use an IANA name such as Asia/Shanghai") from None
        return name

    def zone(self) -> dt.tzinfo:
        return zone_named(self.timezone)
