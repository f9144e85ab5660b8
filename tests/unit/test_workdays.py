"""Working days with the real 2026 Chinese calendar (State Council notice of 4 November 2025)."""

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.reports.workdays import CalendarFileError, WorkCalendar

ROOT = Path(__file__).resolve().parents[2]
CN_2026 = ROOT / "config" / "holidays" / "cn-2026.yaml"
D = dt.date


@pytest.fixture(scope="module")
def cal() -> WorkCalendar:
    return WorkCalendar.load([CN_2026])


@pytest.mark.parametrize("day", [D(2026, 1, 4), D(2026, 2, 14), D(2026, 2, 28), D(2026, 5, 9), D(2026, 9, 20),
                                 D(2026, 10, 10)])
def test_adjusted_weekend_days_are_working_days(cal, day):
    assert day.weekday() >= 5  # every one is a Saturday or Sunday
    assert cal.is_working_day(day)


@pytest.mark.parametrize("day", [D(2026, 1, 1), D(2026, 1, 2), D(2026, 2, 16), D(2026, 2, 23), D(2026, 4, 6),
                                 D(2026, 5, 4), D(2026, 5, 5), D(2026, 6, 19), D(2026, 9, 25), D(2026, 10, 1),
                                 D(2026, 10, 7)])
def test_holiday_weekdays_are_days_off(cal, day):
    assert day.weekday() < 5
    assert not cal.is_working_day(day)


def test_days_off_count_and_names(cal):
    assert len(cal.holidays) == 3 + 9 + 3 + 5 + 3 + 3 + 7
    assert cal.holiday_name(D(2026, 2, 17)) == "春节"
    assert cal.holiday_name(D(2026, 2, 24)) is None
    assert cal.is_working_day(D(2026, 2, 24))  # the Tuesday after the Spring Festival
    assert not cal.is_working_day(D(2026, 3, 7))  # an ordinary Saturday


def test_adjusted_working_days_keep_their_names(cal):
    assert cal.working_days[D(2026, 2, 14)] == "春节调休"
    assert cal.working_days[D(2026, 10, 10)] == "国庆节调休"
    assert len(cal.working_days) == 6


def test_nth_working_day(cal):
    # Monthly reports are due by the 5th working day of the next month.
    assert cal.nth_working_day(2026, 1, 1) == D(2026, 1, 4)  # a Sunday, worked for New Year
    assert cal.nth_working_day(2026, 1, 5) == D(2026, 1, 8)
    assert cal.nth_working_day(2026, 10, 1) == D(2026, 10, 8)
    assert cal.nth_working_day(2026, 10, 3) == D(2026, 10, 10)  # the adjusted Saturday
    assert cal.nth_working_day(2026, 10, 5) == D(2026, 10, 13)
    assert cal.nth_working_day(2026, 12, 1) == D(2026, 12, 1)
    assert cal.nth_working_day(2026, 12, 5) == D(2026, 12, 7)
    with pytest.raises(ValueError, match="only 23 working days"):
        cal.nth_working_day(2026, 12, 24)
    with pytest.raises(ValueError, match=r"\An counts from 1\Z"):
        cal.nth_working_day(2026, 12, 0)


def test_add_working_days(cal):
    # A fault resolved on the eve of the Spring Festival: its analysis is due a working day later.
    assert cal.add_working_days(D(2026, 2, 13), 1) == D(2026, 2, 14)
    assert cal.add_working_days(D(2026, 2, 14), 1) == D(2026, 2, 24)
    assert cal.add_working_days(D(2026, 9, 30), 1) == D(2026, 10, 8)
    assert cal.add_working_days(D(2026, 10, 8), -1) == D(2026, 9, 30)
    assert cal.add_working_days(D(2026, 10, 3), 0) == D(2026, 10, 8)
    assert cal.add_working_days(D(2026, 10, 9), 0) == D(2026, 10, 9)


def test_working_days_per_month(cal):
    assert [cal.working_days_in(2026, m) for m in range(1, 13)] == [
        21, 16, 22, 21, 19, 21, 23, 21, 22, 18, 21, 23]  # counted by hand from the notice
    assert sum(cal.working_days_in(2026, m) for m in range(1, 13)) == 248


def test_covers(cal):
    assert cal.covers(2026) and not cal.covers(2027)


def test_without_files_only_weekends_are_off():
    cal = WorkCalendar.load([])
    assert not cal.is_working_day(D(2026, 1, 3)) and cal.is_working_day(D(2026, 1, 1))


@pytest.mark.parametrize("text, message", [
    ("holidays: [{name: x, start: 2026-01-05, end: 2026-01-02}]", "holidays.0: Value error, end 2026-01-02 is before start"),
    # PyYAML itself refuses month 13; the message is the first line of its own.
    ("holidays: [{name: x, start: 2026-13-01, end: 2026-01-02}]", "not valid YAML: month must be in 1..12"),
    ("working_days: [{name: x, day: 2026-01-04}]", "working_days.0.date: Field required"),
    ("holidays: [{name: x, start: 2026-01-03, end: 2026-01-04}]\nworking_days: [{name: y, date: 2026-01-04}]",
     "2026-01-04 is listed both as a holiday and as a working day"),
    ("holidays: [", "not valid YAML: while parsing a flow node"),
])
def test_broken_files_are_one_line(tmp_path, text, message):
    path = tmp_path / "h.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CalendarFileError) as caught:
        WorkCalendar.load([path])
    assert str(caught.value).startswith(f"{path}: ") and message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_missing_file_is_one_line(tmp_path):
    path = tmp_path / "cn-2027.yaml"
    with pytest.raises(CalendarFileError) as caught:
        WorkCalendar.load([path])
    assert str(caught.value) == f"{path}: cannot read the holiday file: No such file or directory"


def test_files_are_read_as_utf8_whatever_the_locale():
    # A daemon started without a UTF-8 locale (an ASCII C locale here; GBK on many Chinese
    # servers) must still read the holiday names, which are Chinese.
    package_root = Path(sys.modules[WorkCalendar.__module__].__file__).resolve().parents[2]
    env = {**os.environ, "LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0",
           "PYTHONPATH": str(package_root)}
    script = ("import datetime, locale, sys; from monitor.reports.workdays import WorkCalendar; "
              "print(locale.getpreferredencoding(False)); "
              "print(WorkCalendar.load([sys.argv[1]]).holiday_name(datetime.date(2026, 2, 17)) == '\\u6625\\u8282')")
    done = subprocess.run([sys.executable, "-c", script, str(CN_2026)], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    encoding, same = done.stdout.split()
    assert encoding.lower() not in ("utf-8", "utf8")  # the locale really is not UTF-8
    assert same == "True"
