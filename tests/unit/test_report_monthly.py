"""Every figure of the monthly report over a month of known faults (tests/unit/report_month.py)."""

import datetime as dt
from pathlib import Path

import pytest

from monitor.reports.monthly import ReportInputError, compute, parse_month
from monitor.reports.workdays import WorkCalendar
from tests.unit import report_month as m

ROOT = Path(__file__).resolve().parents[2]
MONTH_S = 30 * 86400


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    store, configs = m.build(tmp_path_factory.mktemp("month"))
    with store:
        return compute(store, 2026, 11, devices=m.DEVICES, settings=m.SETTINGS,
                       reachability_rules={"device_unreachable"},
                       workdays=WorkCalendar.load([ROOT / "config/holidays/cn-2026.yaml"]), now=m.NOW,
                       config_store=configs, top_n=3)


def test_period_and_dates(report):
    assert report.month == "2026-11" and report.complete
    assert report.period_end - report.start == MONTH_S
    assert report.working_days == 21
    assert report.deliver_on == dt.date(2026, 12, 1) and report.due_by == dt.date(2026, 12, 7)


def test_availability_per_device(report):
    rows = {row.device: row for row in report.devices}
    assert [row.device for row in report.devices] == ["codec-b", "codec-a", "core-sw", "srv-1", "ups-1"]
    # codec-a: 1 h carried over from October + 10:00-10:30 once (two overlapping faults).
    assert rows["codec-a"].down_s == 3600 + 1800
    # codec-b: 29.5 min as a symptom of the core switch + 2 h at the month's end (still open).
    assert rows["codec-b"].down_s == 1770 + 7200
    assert rows["core-sw"].down_s == 1800
    assert rows["ups-1"].down_s == 0  # maintenance
    assert rows["srv-1"].down_s == 0  # cpu_high is not a reachability rule
    assert rows["codec-a"].availability_pct == pytest.approx(100 * (1 - 5400 / MONTH_S))
    assert rows["codec-b"].availability_pct == pytest.approx(100 * (1 - 8970 / MONTH_S))
    assert rows["core-sw"].availability_pct == pytest.approx(100 * (1 - 1800 / MONTH_S))
    assert [(r.device, r.site, r.device_class, r.faults) for r in report.devices] == [
        ("codec-b", "街道A", "codec", 1), ("codec-a", "街道A", "codec", 3), ("core-sw", "机房", "switch", 1),
        ("srv-1", "机房", "server", 6), ("ups-1", "机房", "ups", 0)]


def test_availability_per_site_class_and_overall(report):
    assert [(a.key, a.devices, a.down_s, a.device_s) for a in report.sites] == [
        ("机房", 3, 1800, 3 * MONTH_S), ("街道A", 2, 14370, 2 * MONTH_S)]
    assert [(a.key, a.devices, a.down_s) for a in report.classes] == [
        ("codec", 2, 14370), ("server", 1, 0), ("switch", 1, 1800), ("ups", 1, 0)]
    assert report.overall.devices == 5 and report.overall.down_s == 16170
    assert report.overall.pct == pytest.approx(100 * (1 - 16170 / (5 * MONTH_S)))


def test_fault_counts(report):
    assert report.faults == 11 and report.symptom_faults == 1 and report.maintenance_faults == 1
    assert report.by_severity == (("critical", 4), ("major", 7), ("minor", 0), ("warning", 0))
    assert report.by_rule == (("cpu_high", 6), ("device_unreachable", 4), ("packet_loss_video", 1))
    assert report.by_site == (("机房", 7), ("街道A", 4))


def test_contract_clocks(report):
    ack = report.acknowledge
    # Acknowledgement stops at resolution too: the unacknowledged v6 fault stopped after 20 min.
    assert (ack.faults, ack.stopped, ack.breached, ack.running) == (11, 10, 3, 0)
    assert ack.mean_s == pytest.approx((120 * 5 + 300 + 60 + 100 + 1200 + 120) / 10)
    assert ack.max_s == 1200
    assert ack.breached_pct == pytest.approx(300 / 11)
    res = report.resolve
    assert (res.faults, res.stopped, res.breached, res.running) == (11, 9, 3, 0)
    assert res.mean_s == pytest.approx((1800 * 5 + 7200 + 1800 + 1200 + 1200) / 9)
    assert res.max_s == 7200
    assert [(b.device, b.rule, b.clock, b.stopped_at is None) for b in report.breaches] == [
        ("srv-1", "cpu_high", "acknowledge", False),
        ("srv-1", "cpu_high", "resolve", False),
        ("codec-a", "device_unreachable", "acknowledge", False),
        ("codec-b", "device_unreachable", "resolve", True),
        ("codec-a", "packet_loss_video", "acknowledge", True),
        ("codec-a", "packet_loss_video", "resolve", True)]


def test_budget_offenders_changes_and_watch(report):
    assert report.budget == 5 and report.over_budget == (("srv-1", 6),)
    assert [(r.device, r.faults) for r in report.top_offenders] == [("srv-1", 6), ("codec-a", 3), ("codec-b", 1)]
    assert [(c.device, c.version, c.at) for c in report.config_changes] == [("core-sw", 2, m.t(11, 12, 15))]
    assert [(w.name, w.first, w.last) for w in report.watch] == [
        ("major event", dt.date(2026, 11, 9), dt.date(2026, 11, 11)),
        ("year end", dt.date(2026, 11, 30), dt.date(2026, 11, 30))]


def test_current_month_runs_to_now(tmp_path):
    store, _ = m.build(tmp_path)
    with store:
        report = compute(store, 2026, 12, devices=m.DEVICES, settings=m.SETTINGS,
                         reachability_rules={"device_unreachable"}, workdays=WorkCalendar.load([]), now=m.NOW)
    assert not report.complete and report.period_end == m.NOW
    assert report.faults == 1 and report.by_rule == (("cpu_high", 1),)
    # codec-b is still unreachable: down from December's first second until now.
    assert {r.device: r.down_s for r in report.devices}["codec-b"] == m.NOW - report.start


@pytest.mark.parametrize("text, message", [
    ("2026-13", "month '2026-13' is not a month; write it as YYYY-MM, e.g. 2026-11"),
    ("2026/11", "month '2026/11' is not a month; write it as YYYY-MM, e.g. 2026-11"),
    ("Nov", "month 'Nov' is not a month; write it as YYYY-MM, e.g. 2026-11"),
    ("2027-01", "month 2027-01 has not begun yet (today is 2026-12-07); nothing to report"),
])
def test_bad_months(text, message):
    with pytest.raises(ReportInputError) as caught:
        parse_month(text, m.NOW, m.ZONE)
    assert str(caught.value) == message


def test_good_months():
    assert parse_month("2026-11", m.NOW, m.ZONE) == (2026, 11)
    assert parse_month("2026-12", m.NOW, m.ZONE) == (2026, 12)
