"""monitor.faults.calendar: heightened-watch days (flood season, holidays, new-year wrap), one-off
and recurring maintenance windows (across midnight and DST), CLI-added windows, next_change."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from monitor.faults.calendar import Calendar
from monitor.faults.model import DeviceInfo, Selector
from monitor.faults.settings import FaultsSettings, Recurrence
from monitor.faults.store import FaultStore

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")

MCU = DeviceInfo("mcu-01", "mcu", ("district", "machine-room-1"), tags=("core",))
CODEC = DeviceInfo("community-7-codec", "codec", ("district", "street-03", "community-7"))
CAMERA = DeviceInfo("street-05-cam-12", "camera", ("district", "street-05"), tags=("video", "outdoor"))


def at(zone, *parts) -> float:
    """Unix seconds of a local wall-clock time."""
    return dt.datetime(*parts, tzinfo=zone).timestamp()


def calendar(zone: str = "Asia/Shanghai", **faults) -> Calendar:
    return Calendar(FaultsSettings.model_validate({"timezone": zone, **faults}))


# -- heightened watch --------------------------------------------------------------------------

@pytest.mark.parametrize("moment, expected", [
    ((2026, 5, 31, 23, 59, 59), None),
    ((2026, 6, 1, 0, 0, 0), "flood season"),
    ((2026, 8, 15, 12, 0, 0), "flood season"),
    ((2026, 10, 7, 23, 59, 59), "flood season"),
    ((2026, 10, 8, 0, 0, 0), None),
    ((2027, 6, 1, 0, 0, 0), "flood season"),  # every year
    ((2027, 1, 15, 0, 0, 0), None),
])
def test_flood_season_boundaries_are_local_midnights(moment, expected):
    assert calendar().heightened(at(SHANGHAI, *moment)) == expected


def test_flood_season_follows_the_configured_zone():
    # 2026-05-31 17:00 UTC is already June 1, 01:00 in Shanghai but still May 31 in Berlin.
    moment = dt.datetime(2026, 5, 31, 17, 0, tzinfo=dt.timezone.utc).timestamp()
    assert calendar("Asia/Shanghai").heightened(moment) == "flood season"
    assert calendar("Europe/Berlin").heightened(moment) is None


def test_heightened_sla_applies_during_watch():
    watch = calendar()
    assert watch.sla(at(SHANGHAI, 2026, 7, 1, 10, 0)).resolve_s == 3600
    assert watch.sla(at(SHANGHAI, 2026, 3, 1, 10, 0)).resolve_s == 7200


def test_one_off_holiday():
    holiday = calendar(heightened_watch={"periods": [
        {"name": "National Day 2026", "start": dt.date(2026, 10, 1), "end": "2026-10-07"}]})
    assert holiday.heightened(at(SHANGHAI, 2026, 9, 30, 23, 59, 59)) is None
    assert holiday.heightened(at(SHANGHAI, 2026, 10, 1)) == "National Day 2026"
    assert holiday.heightened(at(SHANGHAI, 2026, 10, 7, 23, 59, 59)) == "National Day 2026"
    assert holiday.heightened(at(SHANGHAI, 2026, 10, 8)) is None
    assert holiday.heightened(at(SHANGHAI, 2027, 10, 1)) is None  # once, not every year
    assert holiday.next_change(at(SHANGHAI, 2026, 9, 1)) == at(SHANGHAI, 2026, 10, 1)
    assert holiday.next_change(at(SHANGHAI, 2026, 10, 1)) == at(SHANGHAI, 2026, 10, 8)
    assert holiday.next_change(at(SHANGHAI, 2026, 10, 8)) is None


def test_the_first_listed_period_names_an_overlap():
    both = calendar(heightened_watch={"periods": [
        {"name": "National Day 2026", "start": "2026-10-01", "end": "2026-10-07"},
        {"name": "flood season", "start": "06-01", "end": "10-07"}]})
    assert both.heightened(at(SHANGHAI, 2026, 10, 3)) == "National Day 2026"
    assert both.heightened(at(SHANGHAI, 2026, 9, 30)) == "flood season"


def test_yearly_range_wrapping_the_new_year():
    winter = calendar(heightened_watch={"periods": [{"name": "new year", "start": "12-25", "end": "01-05"}]})
    assert winter.heightened(at(SHANGHAI, 2026, 12, 24, 23, 59, 59)) is None
    assert winter.heightened(at(SHANGHAI, 2026, 12, 25)) == "new year"
    assert winter.heightened(at(SHANGHAI, 2027, 1, 1, 12)) == "new year"
    assert winter.heightened(at(SHANGHAI, 2027, 1, 5, 23, 59, 59)) == "new year"
    assert winter.heightened(at(SHANGHAI, 2027, 1, 6)) is None
    assert winter.heightened(at(SHANGHAI, 2026, 7, 1)) is None
    assert winter.next_change(at(SHANGHAI, 2026, 12, 1)) == at(SHANGHAI, 2026, 12, 25)
    assert winter.next_change(at(SHANGHAI, 2026, 12, 30)) == at(SHANGHAI, 2027, 1, 6)
    assert winter.next_change(at(SHANGHAI, 2027, 1, 2)) == at(SHANGHAI, 2027, 1, 6)  # the span from last year


def test_no_periods_means_never():
    quiet = calendar(heightened_watch={"periods": []})
    assert quiet.heightened(at(SHANGHAI, 2026, 7, 1)) is None
    assert quiet.next_change(at(SHANGHAI, 2026, 5, 1)) is None


def test_next_change_walks_the_flood_season():
    watch = calendar()
    assert watch.next_change(at(SHANGHAI, 2026, 5, 31, 23, 59, 59)) == at(SHANGHAI, 2026, 6, 1)
    assert watch.next_change(at(SHANGHAI, 2026, 6, 1)) == at(SHANGHAI, 2026, 10, 8)
    assert watch.next_change(at(SHANGHAI, 2026, 10, 8)) == at(SHANGHAI, 2027, 6, 1)


# -- maintenance from configuration ------------------------------------------------------------

def test_one_off_window_local_times_and_selectors():
    cal = calendar(maintenance=[
        {"name": "relocation street-03", "match": {"sites": ["street-03"]},
         "start": "2026-03-10T20:00", "end": "2026-03-11T06:00"},
        {"name": "core upgrade", "match": {"tags": ["core"], "classes": ["mcu"]},
         "start": "2026-03-10T12:00:00+00:00", "end": "2026-03-10T13:00:00+00:00"},  # 20:00-21:00 Shanghai
    ])
    assert cal.maintenance_for(CODEC, at(SHANGHAI, 2026, 3, 10, 19, 59, 59)) is None
    assert cal.maintenance_for(CODEC, at(SHANGHAI, 2026, 3, 10, 20)) == "relocation street-03"
    assert cal.maintenance_for(CODEC, at(SHANGHAI, 2026, 3, 11, 5, 59, 59)) == "relocation street-03"
    assert cal.maintenance_for(CODEC, at(SHANGHAI, 2026, 3, 11, 6)) is None  # [start, end)
    assert cal.maintenance_for(MCU, at(SHANGHAI, 2026, 3, 10, 20, 30)) == "core upgrade"
    assert cal.maintenance_for(MCU, at(SHANGHAI, 2026, 3, 10, 21)) is None
    assert cal.maintenance_for(CAMERA, at(SHANGHAI, 2026, 3, 10, 20, 30)) is None
    names = [w.name for w in cal.active_windows(at(SHANGHAI, 2026, 3, 10, 20, 30))]
    assert names == ["relocation street-03", "core upgrade"]
    start = at(SHANGHAI, 2026, 3, 1)
    assert cal.next_change(start) == at(SHANGHAI, 2026, 3, 10, 20)
    assert cal.next_change(at(SHANGHAI, 2026, 3, 10, 20)) == at(SHANGHAI, 2026, 3, 10, 21)
    assert cal.next_change(at(SHANGHAI, 2026, 3, 10, 21)) == at(SHANGHAI, 2026, 3, 11, 6)


def test_answers_follow_the_clock_in_both_directions():
    # The cached set of open windows must not outlive a boundary, nor answer for an earlier time.
    cal = calendar(maintenance=[{"name": "w", "match": {}, "start": "2026-03-10T20:00", "end": "2026-03-10T21:00"}])
    moments = [(2026, 3, 10, 20, 30), (2026, 3, 10, 21), (2026, 3, 10, 20, 59), (2026, 3, 10, 19), (2026, 3, 10, 20)]
    assert [cal.maintenance_for(CAMERA, at(SHANGHAI, *m)) for m in moments] == ["w", None, "w", None, "w"]


def test_weekly_window_across_midnight():
    cal = calendar("Europe/Berlin", maintenance=[
        {"name": "mcu upgrade", "match": {"classes": "mcu"}, "every": "week", "weekdays": ["sat"],
         "start_time": "23:00", "duration": "3h"}], heightened_watch={"periods": []})
    # 2026-03-14 is a Saturday.
    assert cal.maintenance_for(MCU, at(BERLIN, 2026, 3, 13, 23, 30)) is None  # Friday
    assert cal.maintenance_for(MCU, at(BERLIN, 2026, 3, 14, 22, 59, 59)) is None
    assert cal.maintenance_for(MCU, at(BERLIN, 2026, 3, 14, 23)) == "mcu upgrade"
    assert cal.maintenance_for(MCU, at(BERLIN, 2026, 3, 15, 1, 59, 59)) == "mcu upgrade"  # Sunday morning
    assert cal.maintenance_for(MCU, at(BERLIN, 2026, 3, 15, 2)) is None
    assert cal.maintenance_for(CODEC, at(BERLIN, 2026, 3, 14, 23, 30)) is None
    [window] = cal.active_windows(at(BERLIN, 2026, 3, 15, 0, 30))
    assert (window.starts_at, window.ends_at) == (at(BERLIN, 2026, 3, 14, 23), at(BERLIN, 2026, 3, 15, 2))
    assert cal.next_change(at(BERLIN, 2026, 3, 15, 2)) == at(BERLIN, 2026, 3, 21, 23)
    assert cal.next_change(at(BERLIN, 2026, 3, 14, 23)) == at(BERLIN, 2026, 3, 15, 2)


def test_recurring_windows_keep_local_time_across_dst():
    # Berlin moves to summer time on Sunday 2026-03-29 at 02:00.
    cal = calendar("Europe/Berlin", maintenance=[
        {"name": "nightly", "match": {}, "every": "day", "start_time": "23:00", "duration": "30m"},
        {"name": "weekly", "match": {}, "every": "week", "weekdays": "sat", "start_time": "23:00",
         "duration": "3h"}], heightened_watch={"periods": []})
    before, after = at(BERLIN, 2026, 3, 28, 23), at(BERLIN, 2026, 3, 29, 23)
    assert after - before == 23 * 3600  # the short day
    for opens in (before, after):
        assert cal.maintenance_for(CAMERA, opens - 1) is None
        assert cal.maintenance_for(CAMERA, opens) == "nightly"
    # Three hours of elapsed time from 23:00 CET end at 03:00 CEST on the wall clock.
    [weekly] = [w for w in cal.active_windows(before + 3600) if w.name == "weekly"]
    assert weekly.ends_at == before + 3 * 3600 == at(BERLIN, 2026, 3, 29, 3)
    assert cal.next_change(at(BERLIN, 2026, 3, 29, 3)) == after


def test_monthly_window_skips_months_without_the_day_and_respects_dates():
    cal = calendar(maintenance=[
        {"name": "month end", "match": {}, "every": "month", "days": [31], "start_time": "02:00",
         "duration": "2h", "first_date": "2026-01-01", "last_date": "2026-05-30"}],
        heightened_watch={"periods": []})
    assert cal.maintenance_for(CAMERA, at(SHANGHAI, 2026, 1, 31, 3)) == "month end"
    assert cal.maintenance_for(CAMERA, at(SHANGHAI, 2025, 12, 31, 3)) is None  # before first_date
    assert cal.next_change(at(SHANGHAI, 2026, 2, 1)) == at(SHANGHAI, 2026, 3, 31, 2)  # no Feb 31
    assert cal.next_change(at(SHANGHAI, 2026, 4, 1)) is None  # May 31 is after last_date
    assert cal.maintenance_for(CAMERA, at(SHANGHAI, 2026, 5, 31, 3)) is None


# -- maintenance from the store (CLI / API) ----------------------------------------------------

def test_windows_from_the_store(tmp_path):
    start = at(SHANGHAI, 2026, 4, 1, 9)
    with FaultStore(tmp_path / "faults.db", clock=lambda: start) as store:
        relocation = store.maintenance.add("relocation", Selector(devices=["street-05-cam-*"]), start,
                                           start + 8 * 3600, by="li.wei")
        nightly = store.maintenance.add("nightly backup", Selector(classes=["mcu"]), start, start + 3 * 86400,
                                        by="li.wei", recurrence=Recurrence(every="day", start_time="01:00",
                                                                           duration_s=3600))
        cal = calendar(heightened_watch={"periods": []})
        assert cal.maintenance_for(CAMERA, start + 60) is None
        cal.set_store_windows(store.maintenance.list())
        assert cal.maintenance_for(CAMERA, start + 60) == f"relocation (#{relocation.id})"
        assert cal.active_windows(start + 60)[0].window_id == relocation.id
        # Occurrences only within the series: April 2, 3 and 4 at 01:00 (April 1 01:00 is before it starts).
        # April 5 01:00 is after the series ends (April 4 09:00).
        opens = [at(SHANGHAI, 2026, 4, day, 1) for day in (1, 2, 3, 4, 5)]
        backup = f"nightly backup (#{nightly.id})"
        assert [cal.maintenance_for(MCU, moment + 60) for moment in opens] == [None, backup, backup, backup, None]
        # Ended early by hand: from that moment it covers nothing.
        ended_at = start + 3600
        store.maintenance.end(relocation.id, at=ended_at, by="li.wei")
        cal.set_store_windows(store.maintenance.list(include_ended=True))
        assert cal.maintenance_for(CAMERA, ended_at - 1) == f"relocation (#{relocation.id})"
        assert cal.maintenance_for(CAMERA, ended_at) is None
        assert cal.next_change(start + 60) == ended_at


def test_many_devices_at_one_moment_see_the_same_windows():
    cal = calendar(maintenance=[
        {"name": "street-05 cameras", "match": {"sites": ["street-05"], "classes": ["camera"]},
         "start": "2026-03-10T20:00", "end": "2026-03-11T06:00"}], heightened_watch={"periods": []})
    moment = at(SHANGHAI, 2026, 3, 10, 22)
    fleet = [DeviceInfo(f"cam-{n}", "camera", ("district", f"street-0{n % 7}")) for n in range(700)]
    covered = [device.name for device in fleet if cal.maintenance_for(device, moment)]
    assert covered == [device.name for device in fleet if device.site == "street-05"]
    assert len(covered) == 100
