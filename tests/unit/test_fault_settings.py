"""monitor.faults.settings: defaults from the contracts, formats, and each validation sentence."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest
from pydantic import BaseModel, ValidationError

from monitor.faults.settings import (FaultsSettings, HeightenedWatchSettings, MaintenanceSettings, Recurrence,
                                     SlaSettings, WatchPeriod)


def problem(model: type[BaseModel], data: dict) -> tuple[str, str]:
    """(location, message) of the only validation error."""
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)
    errors = caught.value.errors()
    assert len(errors) == 1, errors
    return ".".join(str(part) for part in errors[0]["loc"]), errors[0]["msg"].removeprefix("Value error, ")


def test_defaults_are_the_contract_terms():
    settings = FaultsSettings()
    assert (settings.sla.acknowledge_s, settings.sla.resolve_s) == (180, 7200)
    assert settings.heightened_watch.sla.resolve_s == 3600
    assert settings.heightened_watch.sla.acknowledge_s == 180
    assert settings.budget.faults_per_month == 5 and settings.budget.classes == []
    assert settings.keep_days == 400 and settings.reopen_window_s == 600
    [flood] = settings.heightened_watch.periods
    assert (flood.name, flood.start, flood.end, flood.yearly) == ("flood season", "06-01", "10-07", True)


def test_empty_periods_mean_none_and_defaults_are_not_shared():
    assert FaultsSettings.model_validate({"heightened_watch": {"periods": []}}).heightened_watch.periods == []
    assert len(FaultsSettings.model_validate({"heightened_watch": {}}).heightened_watch.periods) == 1
    first, second = HeightenedWatchSettings(), HeightenedWatchSettings()
    first.periods.clear()
    assert len(second.periods) == 1


def test_every_settings_field_has_a_description():
    seen = 0
    for model in (FaultsSettings, SlaSettings, HeightenedWatchSettings, MaintenanceSettings, WatchPeriod, Recurrence):
        for name, info in model.model_fields.items():
            assert info.description, f"{model.__name__}.{name} has no description"
            seen += 1
    assert seen > 30


def test_durations_with_units():
    sla = SlaSettings(acknowledge_s="5m", resolve_s="1h", warn_before_ack_s=30, warn_before_resolve_s="10m")
    assert (sla.acknowledge_s, sla.resolve_s, sla.warn_before_ack_s, sla.warn_before_resolve_s) == (300, 3600, 30, 600)
    assert FaultsSettings(reopen_window_s="15m").reopen_window_s == 900
    assert problem(SlaSettings, {"acknowledge_s": "soon"}) == (
        "acknowledge_s", "'soon' is not a duration; write e.g. 90s, 5m, 2h or 1d")


@pytest.mark.parametrize("data, message", [
    ({"warn_before_ack_s": 180}, "warn_before_ack_s must be shorter than acknowledge_s"),
    ({"resolve_s": "10m"}, "warn_before_resolve_s must be shorter than resolve_s"),
])
def test_warning_lead_shorter_than_deadline(data, message):
    assert problem(SlaSettings, data) == ("", message)


def test_timezone_is_checked_with_a_hint():
    assert FaultsSettings(timezone="Asia/Shanghai").zone() == zoneinfo.ZoneInfo("Asia/Shanghai")
    assert problem(FaultsSettings, {"timezone": "Asia/Shangai"}) == (
        "timezone", "unknown time zone 'Asia/Shangai' (did you mean 'Asia/Shanghai'?); "
                    "use an IANA name such as Asia/Shanghai")
    assert FaultsSettings().zone() is not None  # the machine's own zone


def test_watch_periods_yearly_once_and_dates_from_yaml():
    once = WatchPeriod(name="National Day", start=dt.date(2026, 10, 1), end=dt.date(2026, 10, 7))
    assert (once.start, once.end, once.yearly) == ("2026-10-01", "2026-10-07", False)
    assert WatchPeriod(name="new year", start="12-25", end="01-05").yearly  # wrapping is allowed yearly


@pytest.mark.parametrize("start, end, message", [
    ("06-01", "2026-10-07", "start and end must both be MM-DD (every year) or both YYYY-MM-DD (once)"),
    ("2026-10-07", "2026-10-01", "end 2026-10-01 is before start 2026-10-07"),
    ("02-29", "03-05", "02-29 only exists in leap years; use 02-28 or 03-01 for a yearly period"),
    ("06-31", "07-01", "'06-31' is not a day of the calendar"),
    ("June 1", "07-01", "'June 1' is not a day; write MM-DD for every year (06-01) or YYYY-MM-DD once (2026-10-01)"),
])
def test_watch_period_problems(start, end, message):
    location, text = problem(WatchPeriod, {"name": "p", "start": start, "end": end})
    assert text == message


def test_maintenance_once_and_recurring():
    once = MaintenanceSettings(name="relocation", match={"sites": "street-03"},
                               start="2026-03-10T20:00", end="2026-03-11 06:00")
    assert once.recurrence() is None and once.match.sites == ["street-03"]
    weekly = MaintenanceSettings(name="upgrade", match={"classes": ["mcu"]}, every="week",
                                 weekdays=["Saturday", "sun"], start_time="23:00", duration="3h")
    assert weekly.recurrence() == Recurrence(every="week", weekdays=["sat", "sun"], start_time=dt.time(23),
                                             duration_s=10800)
    monthly = MaintenanceSettings(name="m", match={}, every="month", days=[1, 31], start_time="02:30",
                                  duration="2h", first_date="2026-01-01", last_date="2026-12-31")
    assert monthly.recurrence().days == [1, 31]


@pytest.mark.parametrize("data, location, message", [
    ({"start": "2026-03-10T20:00"}, "", "a one-off window needs both start and end"),
    ({"start": "2026-03-10T20:00", "end": "2026-03-10T19:00"}, "",
     "end 2026-03-10T19:00:00 is not after start 2026-03-10T20:00:00"),
    ({"start": "2026-03-10T20:00+08:00", "end": "2026-03-10T22:00"}, "",
     "start and end must both have a UTC offset or both have none"),
    ({"start": "2026-03-10T20:00", "end": "2026-03-10T22:00", "every": "day"}, "",
     "give either start and end (once) or every, start_time and duration (recurring), not both (found every)"),
    ({}, "", "give start and end (once) or every, start_time and duration (recurring)"),
    ({"every": "day", "start_time": "23:00"}, "", "a recurring window needs duration"),
    ({"every": "week", "start_time": "23:00", "duration": "3h"}, "",
     "every: week needs weekdays, e.g. weekdays: [sat]"),
    ({"every": "day", "weekdays": ["sat"], "start_time": "23:00", "duration": "3h"}, "",
     "weekdays only apply to every: week (this window repeats every day)"),
    ({"every": "month", "start_time": "23:00", "duration": "3h"}, "",
     "every: month needs days of the month, e.g. days: [1, 15]"),
    ({"every": "day", "start_time": "23:00", "duration": "25h"}, "",
     "a window that repeats every day can last at most 1 day(s)"),
    ({"every": "day", "start_time": 1380, "duration": "3h"}, "start_time",
     'write the time in quotes, e.g. "23:00" (YAML reads 23:00 without quotes as a number)'),
    ({"every": "day", "start_time": "25:00", "duration": "3h"}, "start_time",
     "'25:00' is not a time of day; write HH:MM, e.g. \"23:00\""),
    ({"every": "week", "weekdays": ["sunday", "funday"], "start_time": "23:00", "duration": "3h"}, "weekdays.1",
     "Input should be 'mon', 'tue', 'wed', 'thu', 'fri', 'sat' or 'sun'"),
    ({"every": "month", "days": [0], "start_time": "23:00", "duration": "3h"}, "days.0",
     "Input should be greater than or equal to 1"),
    ({"every": "day", "start_time": "01:00", "duration": "1h", "first_date": "2026-05-02",
      "last_date": "2026-05-01"}, "", "last_date 2026-05-01 is before first_date 2026-05-02"),
])
def test_maintenance_problems(data, location, message):
    assert problem(MaintenanceSettings, {"name": "w", "match": {}, **data}) == (location, message)


def test_maintenance_needs_an_explicit_match():
    # A forgotten match must not silence every device: `match: {}` says so on purpose.
    assert problem(MaintenanceSettings, {"name": "w", "every": "day", "start_time": "01:00", "duration": "1h"}) == (
        "match", "Field required")


def test_probe_intervals_positive_and_with_units():
    assert HeightenedWatchSettings(probe_intervals={"icmp": 10, "snmp": "30s"}).probe_intervals == {
        "icmp": 10, "snmp": 30}
    assert problem(HeightenedWatchSettings, {"probe_intervals": {"icmp": 0}}) == (
        "probe_intervals", "the interval of icmp must be more than 0 seconds")


def test_unknown_keys_are_refused():
    location, message = problem(FaultsSettings, {"heightened_watch": {"period": []}})
    assert (location, message) == ("heightened_watch.period", "Extra inputs are not permitted")


# -- faults.database ---------------------------------------------------------------------------

def test_database_is_sqlite_by_default_and_takes_short_forms():
    assert not FaultsSettings().database.postgresql
    assert not FaultsSettings(database="sqlite").database.postgresql
    short = FaultsSettings(database="postgresql://netvigil@db.example:5432/netvigil?sslmode=verify-full").database
    assert (short.postgresql, short.password, short.connect_timeout_s) == (True, None, 5.0)
    # What logs and sentences show: no options (they may name files), never a password.
    assert short.shown() == "postgresql://netvigil@db.example:5432/netvigil"
    full = FaultsSettings(database={"url": "postgres://nv@10.0.0.5/faults", "password": "pw-1234"}).database
    assert full.shown() == "postgres://nv@10.0.0.5/faults" and full.password.get_secret_value() == "pw-1234"
    assert "pw-1234" not in repr(full)


@pytest.mark.parametrize("database, where, sentence", [
    ("mysql://db/x", "database", "must be sqlite (the file state_dir/faults.db) or a PostgreSQL server, e.g. "
                                 "{url: postgresql://netvigil@db.example:5432/netvigil, password: ...}"),
    ({"url": "http://db/x"}, "database.url", "must be a postgresql:// URL, e.g. "
                                             "postgresql://netvigil@db.example:5432/netvigil"),
    ({"url": "postgresql://db.example:5432/"}, "database.url", "names no database; add it after the host, e.g. "
                                                               "postgresql://netvigil@db.example:5432/netvigil"),
    ({"url": "postgresql://db/x?password=pw"}, "database.url",
     "must not contain a password (URLs are logged); put the password in faults.database.password, a secret (a "
     "secret file named faults__database__password, or NETVIGIL_FAULTS__DATABASE__PASSWORD)"),
    ({"password": "pw-1234"}, "database", "password is set but url is not: the password is for a PostgreSQL server "
                                          "(url: postgresql://netvigil@db.example:5432/netvigil); remove it to keep "
                                          "the SQLite file"),
    ({"url": "postgresql://db/x", "connect_timeout_s": 0}, "database.connect_timeout_s",
     "Input should be greater than 0"),
])
def test_database_sentences(database, where, sentence):
    assert problem(FaultsSettings, {"database": database}) == (where, sentence)
