"""`netvigil report fault ID`: the timeline, the clocks, the analysis due one working day
after the resolution (holiday calendar), over a real fault store and notification outbox."""

import datetime as dt
from pathlib import Path

import pytest
from openpyxl import load_workbook

from monitor.cli import main
from monitor.faults.model import DeviceInfo
from monitor.faults.settings import SlaSettings
from monitor.faults.store import FaultStore
from monitor.notify.message import Message
from monitor.notify.outbox import Outbox
from monitor.reports.fault import fault_tables
from monitor.reports.workdays import WorkCalendar
from tests.unit.report_month import ZONE

ROOT = Path(__file__).resolve().parents[2]
CN_2026 = ROOT / "config" / "holidays" / "cn-2026.yaml"
SLA = SlaSettings(acknowledge_s=180, resolve_s=7200)


def t(month, day, hour, minute=0):
    return dt.datetime(2026, month, day, hour, minute, tzinfo=ZONE).timestamp()


def _eve_of_national_day(state: Path) -> None:
    """A core switch fails on the afternoon before the National Day holiday (1-7 October 2026):
    the analysis is due on Thursday 8 October, the first working day after."""
    with FaultStore(state / "faults.db") as store:
        core, _ = store.open(DeviceInfo("core-sw", "switch", ("机房",)), "device_unreachable", severity="critical",
                             message="core-sw does not answer ping", value=100.0, at=t(9, 30, 16), sla=SLA,
                             reopen_window_s=600)
        store.open(DeviceInfo("codec-a", "codec", ("街道A",)), "device_unreachable", severity="critical",
                   at=t(9, 30, 16, 1), sla=SLA, reopen_window_s=600, symptom_of=core.id)
        store.acknowledge(core.id, "zhang", note="on my way", at=t(9, 30, 16, 2))
        store.resolve(core.id, "zhang", note="power supply replaced", at=t(9, 30, 17, 30))
        store.resolve_auto("codec-a", "device_unreachable", at=t(9, 30, 17, 30))
    outbox = Outbox(state / "notifications.db")
    message_id = outbox.enqueue("oncall-mail", [(core.id, "fault 1 open tier 1 channel oncall-mail")], "open",
                                lambda ids: Message("core-sw down", "core-sw does not answer ping"), t(9, 30, 16))
    outbox.mark_sent(message_id, t(9, 30, 16, 0) + 5)
    outbox.close()


def test_tables(tmp_path):
    _eve_of_national_day(tmp_path)
    with FaultStore(tmp_path / "faults.db") as store:
        fault, symptoms = store.get(1), store.symptoms_of(1)
    outbox = Outbox(tmp_path / "notifications.db")
    notices = outbox.notices(1)
    outbox.close()
    tables = fault_tables(fault, symptoms, notices, WorkCalendar.load([CN_2026]), ZONE, now=t(10, 9, 9))
    items = dict(tables[0].rows)
    assert items["Acknowledge clock"] == "met" and items["Resolve clock"] == "met"
    assert items["Time to acknowledge (min)"] == 2 and items["Time to resolve (min)"] == 90
    assert items["Analysis due by (one working day after resolution)"] == dt.date(2026, 10, 8)
    assert items["Analysis overdue"] == "yes"
    assert items["Site"] == "机房" and items["Worst value"] == 100.0
    local = lambda at: dt.datetime.fromtimestamp(at, ZONE).replace(tzinfo=None)  # noqa: E731
    assert tables[1].rows == (
        (local(t(9, 30, 16)), "opened", "", "critical: core-sw does not answer ping"),
        (local(t(9, 30, 16) + 5), "notification", "", "open -> oncall-mail (sent)"),
        (local(t(9, 30, 16, 2)), "acknowledged", "zhang", ""),
        (local(t(9, 30, 16, 2)), "note", "zhang", "on my way"),
        (local(t(9, 30, 16, 3)), "acknowledge deadline", "", ""),
        (local(t(9, 30, 17, 30)), "note", "zhang", "power supply replaced"),
        (local(t(9, 30, 17, 30)), "resolved", "zhang", ""),
        (local(t(9, 30, 18)), "resolve deadline", "", ""))
    assert [row[:3] for row in tables[2].rows] == [(2, "codec-a", "街道A")]
    assert tables[3].rows == (("Cause", "not written yet"), ("Resolution", "not written yet"),
                              ("Prevention", "not written yet"))


def test_closed_in_time_is_not_overdue(tmp_path):
    _eve_of_national_day(tmp_path)
    with FaultStore(tmp_path / "faults.db") as store:
        store.close(1, "zhang", cause="PSU failed", resolution="PSU replaced", prevention="spare PSU on site",
                    at=t(10, 8, 10))
        fault = store.get(1)
    tables = fault_tables(fault, [], [], WorkCalendar.load([CN_2026]), ZONE, now=t(10, 9, 9))
    items = dict(tables[0].rows)
    assert items["State"] == "closed" and items["Analysis overdue"] == "no"
    assert tables[1].rows[-1][1:3] == ("closed", "zhang")
    assert tables[3].rows == (("Cause", "PSU failed"), ("Resolution", "PSU replaced"),
                              ("Prevention", "spare PSU on site"))


@pytest.fixture
def site(tmp_path: Path) -> Path:
    settings = tmp_path / "netvigil.yaml"
    (tmp_path / "inventory.yaml").write_text("sites: [{name: 机房}]\ndevices: []\n", encoding="utf-8")
    settings.write_text(f"inventory: [inventory.yaml]\nstate_dir: state\nrules: {{dirs: []}}\n"
                        f"faults: {{timezone: Asia/Shanghai}}\nreports: {{holiday_files: [{CN_2026}]}}\n",
                        encoding="utf-8")
    (tmp_path / "state").mkdir()
    return settings


def run(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli(site, capsys):
    _eve_of_national_day(site.parent / "state")
    code, out, err = run(capsys, "report", "fault", "1", "-c", str(site), "--out", str(site.parent / "out"))
    assert (code, err) == (0, "")
    assert out.splitlines() == [str(site.parent / "out" / "fault-1.html"), str(site.parent / "out" / "fault-1.xlsx")]
    book = load_workbook(site.parent / "out" / "fault-1.xlsx")
    assert book.sheetnames == ["fault", "timeline", "symptoms", "analysis"]
    assert book["timeline"]["B3"].value == "opened"
    html = (site.parent / "out" / "fault-1.html").read_text(encoding="utf-8")
    assert "Fault analysis report: 1 core-sw device_unreachable" in html and "http" not in html


def test_cli_unknown_fault_is_one_sentence(site, capsys):
    _eve_of_national_day(site.parent / "state")
    code, out, err = run(capsys, "report", "fault", "99", "-c", str(site))
    assert (code, out, err) == (1, "", "there is no fault 99\n")
