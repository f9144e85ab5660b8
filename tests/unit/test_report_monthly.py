"""Every figure of the monthly report over a month of known faults (tests/unit/report_month.py)."""

import datetime as dt
import time
from pathlib import Path

import pytest

from monitor.config_store import ConfigStore
from monitor.faults.model import DeviceInfo
from monitor.faults.settings import FaultsSettings
from monitor.faults.store import FaultStore
from monitor.reports.monthly import Availability, ReportInputError, compute, parse_month
from monitor.reports.workdays import WorkCalendar
from tests.unit import report_month as m

ROOT = Path(__file__).resolve().parents[2]
CN_2026 = ROOT / "config/holidays/cn-2026.yaml"
MONTH_S = 30 * 86400
START = m.t(11, 1, 0)  # November's first second in Shanghai
DECEMBER = m.t(12, 1, 0)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    return november(tmp_path_factory.mktemp("month"))


def november(directory: Path):
    store, configs = m.build(directory)
    with store:
        return compute(store, 2026, 11, devices=m.DEVICES, settings=m.SETTINGS,
                       reachability_rules={"device_unreachable"}, workdays=WorkCalendar.load([CN_2026]), now=m.NOW,
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
    assert report.overall == Availability("", 5, 16170, 5 * MONTH_S)
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
    # Fault ids count in the order report_month.build() opens the faults.
    assert [(b.fault_id, b.device, b.rule, b.clock, b.stopped_at is None) for b in report.breaches] == [
        (4, "srv-1", "cpu_high", "acknowledge", False),
        (6, "srv-1", "cpu_high", "resolve", False),
        (12, "codec-a", "device_unreachable", "acknowledge", False),
        (14, "codec-b", "device_unreachable", "resolve", True),
        (13, "codec-a", "packet_loss_video", "acknowledge", True),
        (13, "codec-a", "packet_loss_video", "resolve", True)]


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
    # These three once escaped as a datetime traceback.
    ("0000-01", "month 0000-01 is before 1970: no fault record is that old; nothing to report"),
    ("0001-01", "month 0001-01 is before 1970: no fault record is that old; nothing to report"),
    ("1969-12", "month 1969-12 is before 1970: no fault record is that old; nothing to report"),
    ("9999-12", "month 9999-12 has not begun yet (today is 2026-12-07); nothing to report"),
])
def test_bad_months(text, message):
    with pytest.raises(ReportInputError) as caught:
        parse_month(text, m.NOW, m.ZONE)
    assert str(caught.value) == message


def test_good_months():
    assert parse_month("1970-01", m.NOW, m.ZONE) == (1970, 1)
    assert parse_month("2026-11", m.NOW, m.ZONE) == (2026, 11)
    assert parse_month("2026-12", m.NOW, m.ZONE) == (2026, 12)


def test_a_month_begins_at_its_first_second():
    assert parse_month("2026-12", DECEMBER, m.ZONE) == (2026, 12)
    with pytest.raises(ReportInputError) as caught:
        parse_month("2026-12", DECEMBER - 1, m.ZONE)
    assert str(caught.value) == "month 2026-12 has not begun yet (today is 2026-11-30); nothing to report"


def test_a_report_at_its_months_first_second_has_nothing_down(tmp_path):
    # codec-b has been unreachable since 22:00 the evening before.
    store = FaultStore(tmp_path / "faults.db", clock=lambda: DECEMBER)
    with store:
        store.open(m.CODEC_B, "device_unreachable", severity="critical", at=m.t(11, 30, 22), sla=m.SLA,
                   reopen_window_s=600)
        report = compute(store, 2026, 12, devices=m.DEVICES, settings=m.SETTINGS,
                         reachability_rules={"device_unreachable"}, workdays=WorkCalendar.load([]), now=DECEMBER)
        with pytest.raises(ReportInputError) as caught:
            compute(store, 2026, 12, devices=m.DEVICES, settings=m.SETTINGS,
                    reachability_rules={"device_unreachable"}, workdays=WorkCalendar.load([]), now=DECEMBER - 1)
    assert str(caught.value) == "month 2026-12 has not begun yet; nothing to report"
    assert report.period_end == report.start == DECEMBER and not report.complete
    assert report.overall == Availability("", 5, 0, 0) and report.overall.pct == 100
    assert {row.availability_pct for row in report.devices} == {100}
    assert report.faults == 0 and report.breaches == ()


def test_december_runs_to_now_with_clocks_running_and_is_due_in_january(tmp_path):
    store, _ = m.build(tmp_path)
    with store:
        # Two ports went down one and one and a half minutes ago: both clocks still inside their deadlines.
        for instance, ago in (("ge-0/0/1", 60), ("ge-0/0/2", 90)):
            store.open(m.CORE, "port_down", instance, severity="major", at=m.NOW - ago, sla=m.SLA,
                       reopen_window_s=600)
        report = compute(store, 2026, 12, devices=m.DEVICES, settings=m.SETTINGS,
                         reachability_rules={"device_unreachable"}, workdays=WorkCalendar.load([CN_2026]),
                         now=m.NOW)
    assert report.generated_at == m.NOW and report.zone == m.ZONE
    assert report.working_days == 23
    # No file covers 2027, so only weekends are off: Friday 1 January, then 4 to 7 January.
    assert report.deliver_on == dt.date(2027, 1, 1) and report.due_by == dt.date(2027, 1, 7)
    assert report.faults == 3 and report.by_rule == (("port_down", 2), ("cpu_high", 1))
    for clock in (report.acknowledge, report.resolve):
        assert (clock.faults, clock.stopped, clock.breached, clock.running) == (3, 0, 1, 2)
        assert clock.mean_s is None and clock.max_s is None
    # December's cpu_high fault on srv-1 (the 15th opened) was never acknowledged or resolved.
    assert [(b.fault_id, b.clock, b.deadline - m.t(12, 1, 9), b.stopped_at) for b in report.breaches] == [
        (15, "acknowledge", 180, None), (15, "resolve", 3600, None)]


# A second month with the edge cases of each figure: a fault opened at the month's first second
# on a device since removed from the inventory, acknowledged exactly at its deadline; three
# overlapping outages of one camera; rules and sites whose counts tie; a budget for servers only;
# configuration versions saved at the month's first second and at the next month's.
EDGE_SETTINGS = FaultsSettings.model_validate({
    "timezone": "Asia/Shanghai", "sla": m.SLA.model_dump(), "budget": {"faults_per_month": 1, "classes": ["server"]},
    "heightened_watch": {"periods": [{"name": "expo", "start": "10-30", "end": "11-02"}]}})
AP = DeviceInfo("ap-9", "ap", ("街道B",))  # removed from the inventory since
SRV2 = DeviceInfo("srv-2", "server", ("机房",))
CAM = DeviceInfo("cam-1", "camera", ("街道B",))
NAS = DeviceInfo("nas-1", "storage", ("东区",))
EDGE_DEVICES = (SRV2, CAM, NAS, DeviceInfo("aa-sw", "switch", ("机房",)), DeviceInfo("zz-fw", "firewall", ("机房",)),
                DeviceInfo("mm-rt", "router", ("机房",)))


def edge_month(directory: Path):
    store = FaultStore(directory / "faults.db", clock=lambda: m.NOW)
    with store:
        def fault(device, rule, at, instance="", *, severity="critical", ack_s=60, resolve_s=600):
            opened, how = store.open(device, rule, instance, severity=severity, at=at, sla=m.SLA,
                                     reopen_window_s=600)
            assert how == "opened"
            store.acknowledge(opened.id, "wang", at=at + ack_s)
            store.resolve(opened.id, "wang", at=at + resolve_s)

        fault(AP, "device_unreachable", START, ack_s=180)  # the deadline is 180 s: met
        fault(SRV2, "link_down", m.t(11, 3, 9), severity="major")
        fault(SRV2, "cpu_high", m.t(11, 4, 9), severity="major")
        fault(CAM, "device_unreachable", m.t(11, 12, 10), resolve_s=1800)  # 10:00-10:30
        fault(CAM, "device_unreachable", m.t(11, 12, 10, 10), "v6", resolve_s=1800)  # 10:10-10:40
        fault(CAM, "device_unreachable", m.t(11, 12, 10, 20), "mgmt", resolve_s=900)  # 10:20-10:35
        fault(NAS, "disk_full", m.t(11, 14, 9), "d1", severity="minor")
        fault(NAS, "disk_full", m.t(11, 15, 9), "d2", severity="minor")
        fault(SRV2, "cpu_high", m.t(12, 1, 7), severity="major")  # December in Shanghai, still November in UTC
        configs = ConfigStore(directory / "configs")
        for device, changed_at in (("aa-sw", m.t(11, 20, 3)), ("zz-fw", START), ("mm-rt", DECEMBER)):
            configs.save(device, "first backup\n", fetched_at=m.t(10, 1, 3))
            configs.save(device, "changed\n", fetched_at=changed_at)
        return compute(store, 2026, 11, devices=EDGE_DEVICES, settings=EDGE_SETTINGS,
                       reachability_rules={"device_unreachable"}, workdays=WorkCalendar.load([CN_2026]), now=m.NOW,
                       config_store=configs, top_n=3)


@pytest.fixture(scope="module")
def edges(tmp_path_factory):
    return edge_month(tmp_path_factory.mktemp("edges"))


def test_edges_availability(edges):
    assert [(r.device, r.site, r.device_class, r.faults, r.down_s) for r in edges.devices] == [
        ("cam-1", "街道B", "camera", 3, 2400),  # 10:00-10:40 once, though three outages overlap
        ("ap-9", "街道B", "ap", 1, 600),  # not in the inventory any more, but it failed this month
        ("nas-1", "东区", "storage", 2, 0), ("srv-2", "机房", "server", 2, 0),
        ("aa-sw", "机房", "switch", 0, 0), ("mm-rt", "机房", "router", 0, 0), ("zz-fw", "机房", "firewall", 0, 0)]
    assert [(a.key, a.devices, a.down_s) for a in edges.sites] == [("东区", 1, 0), ("机房", 4, 0), ("街道B", 2, 3000)]
    assert [(a.key, a.devices, a.down_s) for a in edges.classes] == [
        ("ap", 1, 600), ("camera", 1, 2400), ("firewall", 1, 0), ("router", 1, 0), ("server", 1, 0),
        ("storage", 1, 0), ("switch", 1, 0)]
    assert edges.overall == Availability("", 7, 3000, 7 * MONTH_S)


def test_edges_fault_counts_and_ties(edges):
    assert edges.faults == 8 and edges.symptom_faults == 0 and edges.maintenance_faults == 0
    assert edges.by_severity == (("critical", 4), ("major", 2), ("minor", 2), ("warning", 0))
    # Most first; a tie goes by name, not by which came first (link_down and 机房 did).
    assert edges.by_rule == (("device_unreachable", 4), ("disk_full", 2), ("cpu_high", 1), ("link_down", 1))
    assert edges.by_site == (("街道B", 4), ("东区", 2), ("机房", 2))
    assert [(r.device, r.faults) for r in edges.top_offenders] == [("cam-1", 3), ("nas-1", 2), ("srv-2", 2)]


def test_edges_clocks(edges):
    ack, res = edges.acknowledge, edges.resolve
    # ap-9 was acknowledged at its deadline to the second: in time.
    assert (ack.faults, ack.stopped, ack.breached, ack.running) == (8, 8, 0, 0)
    assert ack.mean_s == (180 + 7 * 60) / 8 and ack.max_s == 180
    assert (res.faults, res.stopped, res.breached, res.running) == (8, 8, 0, 0)
    assert res.mean_s == (5 * 600 + 1800 + 1800 + 900) / 8 and res.max_s == 1800
    assert edges.breaches == ()


def test_edges_budget_changes_and_watch(edges):
    # Only servers have a budget: the camera's three faults are not over it.
    assert edges.budget == 1 and edges.over_budget == (("srv-2", 2),)
    # At the month's first second counts, at the next month's does not; by time, not by name.
    assert [(c.device, c.version, c.at) for c in edges.config_changes] == [("zz-fw", 2, START),
                                                                           ("aa-sw", 2, m.t(11, 20, 3))]
    assert [(w.name, w.first, w.last) for w in edges.watch] == [("expo", dt.date(2026, 11, 1), dt.date(2026, 11, 2))]


@pytest.fixture
def machine_in_honolulu(monkeypatch):
    monkeypatch.setenv("TZ", "Pacific/Honolulu")
    time.tzset()
    assert time.timezone == 10 * 3600  # the zone exists here, so the test means something
    yield
    monkeypatch.undo()
    time.tzset()


def test_the_machine_time_zone_changes_nothing(report, edges, tmp_path, machine_in_honolulu):
    # Every figure is in faults.timezone (Shanghai); Honolulu is 18 hours behind it, so a date or
    # a month's bounds taken in the machine's zone would land on another day.
    assert november(tmp_path / "month") == report
    assert edge_month(tmp_path / "edges") == edges
    at_eight = m.t(12, 1, 8)  # 1 December in Shanghai, still 30 November in Honolulu
    assert parse_month("2026-12", at_eight, m.ZONE) == (2026, 12)
    with pytest.raises(ReportInputError) as caught:
        parse_month("2027-01", at_eight, m.ZONE)
    assert str(caught.value) == "month 2027-01 has not begun yet (today is 2026-12-01); nothing to report"
