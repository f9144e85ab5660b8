"""The monthly report's files (HTML, XLSX, CSV) and `netvigil report monthly` end to end, over
the month of known faults in tests/unit/report_month.py."""

import csv
import datetime as dt
import re
from pathlib import Path

import pytest
from openpyxl import load_workbook

from monitor.cli import main
from monitor.reports.monthly import compute
from monitor.reports.render import html_document, write
from monitor.reports.tables import monthly_tables
from monitor.reports.workdays import WorkCalendar
from tests.unit import report_month as m

ROOT = Path(__file__).resolve().parents[2]
MONTH_S = 30 * 86400


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    directory = tmp_path_factory.mktemp("report")
    store, configs = m.build(directory)
    with store:
        report = compute(store, 2026, 11, devices=m.DEVICES, settings=m.SETTINGS,
                         reachability_rules={"device_unreachable"},
                         workdays=WorkCalendar.load([ROOT / "config/holidays/cn-2026.yaml"]), now=m.NOW,
                         config_store=configs, top_n=3)
    paths = write(directory / "out", "monthly-2026-11", ["html", "xlsx", "csv"], "Monthly report 2026-11",
                  "generated", monthly_tables(report))
    return {p.name: p for p in paths}


def _sheet_rows(book, name):
    return [tuple(cell for cell in row) for row in book[name].iter_rows(min_row=3, values_only=True)]


def test_xlsx_figures(files):
    book = load_workbook(files["monthly-2026-11.xlsx"])
    assert book.sheetnames == ["summary", "availability-site", "availability-class", "availability-device",
                               "faults-severity", "faults-rule", "faults-site", "clocks", "breaches", "over-budget",
                               "top-offenders", "config-changes", "watch"]
    summary = dict(_sheet_rows(book, "summary"))
    assert summary["Month"] == "2026-11" and summary["Time zone of every time in this report"] == "Asia/Shanghai"
    assert summary["Delivered on (1st working day of the next month)"] == dt.datetime(2026, 12, 1)
    assert summary["Due by (5th working day of the next month)"] == dt.datetime(2026, 12, 7)
    assert summary["Working days in the month"] == 21
    assert summary["Devices"] == 5
    assert summary["Availability, all devices (%)"] == round(100 * (1 - 16170 / (5 * MONTH_S)), 3)
    assert summary["Faults (root faults opened in the month)"] == 11
    assert summary["Symptom faults (behind a failed parent)"] == 1
    assert summary["Faults in maintenance windows"] == 1
    assert summary["Acknowledge clock breached (count)"] == 3
    assert summary["Acknowledge clock breached (%)"] == round(300 / 11, 3)
    assert summary["Mean time to acknowledge (min)"] == round(2380 / 10 / 60, 1)
    assert summary["Resolve clock breached (count)"] == 3
    assert summary["Mean time to resolve (min)"] == round(20400 / 9 / 60, 1)
    assert summary["Devices over the budget"] == 1 and summary["Configuration changes"] == 1
    assert _sheet_rows(book, "availability-site") == [
        ("机房", 3, 30, round(100 * (1 - 1800 / (3 * MONTH_S)), 3)),
        ("街道A", 2, 239.5, round(100 * (1 - 14370 / (2 * MONTH_S)), 3))]
    assert [row[:5] for row in _sheet_rows(book, "availability-device")] == [
        ("codec-b", "街道A", "codec", 1, 149.5), ("codec-a", "街道A", "codec", 3, 90),
        ("core-sw", "机房", "switch", 1, 30), ("srv-1", "机房", "server", 6, 0), ("ups-1", "机房", "ups", 0, 0)]
    assert _sheet_rows(book, "faults-severity") == [("critical", 4), ("major", 7), ("minor", 0), ("warning", 0)]
    assert _sheet_rows(book, "faults-rule") == [("cpu_high", 6), ("device_unreachable", 4), ("packet_loss_video", 1)]
    assert _sheet_rows(book, "faults-site") == [("机房", 7), ("街道A", 4)]
    assert _sheet_rows(book, "clocks") == [("acknowledge", 11, 10, 3, round(300 / 11, 3), 0, 4, 20),
                                           ("resolve", 11, 9, 3, round(300 / 11, 3), 0, 37.8, 120)]
    breaches = _sheet_rows(book, "breaches")
    assert [row[1:4] for row in breaches] == [
        ("srv-1", "cpu_high", "acknowledge"), ("srv-1", "cpu_high", "resolve"),
        ("codec-a", "device_unreachable", "acknowledge"), ("codec-b", "device_unreachable", "resolve"),
        ("codec-a", "packet_loss_video", "acknowledge"), ("codec-a", "packet_loss_video", "resolve")]
    assert breaches[0][4] == dt.datetime(2026, 11, 4, 10, 3) and breaches[0][5] == dt.datetime(2026, 11, 4, 10, 5)
    assert breaches[-1][5] == "still running"
    assert _sheet_rows(book, "over-budget") == [("srv-1", 6)]
    assert [row[0] for row in _sheet_rows(book, "top-offenders")] == ["srv-1", "codec-a", "codec-b"]
    assert _sheet_rows(book, "config-changes") == [("core-sw", 2, dt.datetime(2026, 11, 12, 15))]
    assert _sheet_rows(book, "watch") == [("major event", dt.datetime(2026, 11, 9), dt.datetime(2026, 11, 11), 3),
                                          ("year end", dt.datetime(2026, 11, 30), dt.datetime(2026, 11, 30), 1)]


# Anything that would make a browser fetch something: the file must be whole on its own.
_EXTERNAL = re.compile(r"(?i)(https?:|//[a-z]|\bsrc\s*=|<link\b|<script\b|@import|url\s*\(|<img\b|<iframe\b)")


def test_html_is_one_self_contained_file(files):
    text = files["monthly-2026-11.html"].read_text(encoding="utf-8")
    assert _EXTERNAL.search(text) is None
    assert text.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in text
    assert "<h2 id=\"breaches\">Contract clocks breached</h2>" in text
    assert '<td>街道A</td><td class="num">2</td><td class="num">239.5</td>' in text
    assert "@page { size: A4" in text


def test_html_escapes_names():
    from monitor.reports.tables import Table
    text = html_document("t<", "s&", [Table("x", "X", ("Device",), (("<script>alert(1)</script>",),))])
    assert "<script>" not in text and "&lt;script&gt;" in text and "<title>t&lt;</title>" in text


def test_csv_files(files):
    with files["monthly-2026-11-faults-rule.csv"].open(encoding="utf-8-sig", newline="") as handle:
        assert list(csv.reader(handle)) == [["Rule", "Faults"], ["cpu_high", "6"], ["device_unreachable", "4"],
                                            ["packet_loss_video", "1"]]
    assert files["monthly-2026-11-summary.csv"].read_bytes().startswith(b"\xef\xbb\xbf")  # Excel reads UTF-8


INVENTORY = """
sites:
  - {name: 机房}
  - {name: 街道A}
devices:
  - {name: core-sw, address: 127.0.61.1, class: switch, site: 机房}
  - {name: srv-1, address: 127.0.61.2, class: server, site: 机房}
  - {name: ups-1, address: 127.0.61.3, class: ups, site: 机房}
  - {name: codec-a, address: 127.0.61.4, class: codec, site: 街道A}
  - {name: codec-b, address: 127.0.61.5, class: codec, site: 街道A}
"""


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "inventory.yaml").write_text(INVENTORY, encoding="utf-8")
    settings = tmp_path / "netvigil.yaml"
    settings.write_text(
        "inventory: [inventory.yaml]\nstate_dir: state\nrules: {dirs: []}\n"
        "faults: {timezone: Asia/Shanghai, sla: {acknowledge_s: 180, resolve_s: 3600, warn_before_resolve_s: 600}}\n"
        f"reports: {{holiday_files: [{ROOT / 'config/holidays/cn-2026.yaml'}]}}\n", encoding="utf-8")
    (tmp_path / "state").mkdir()
    return settings


def run(capsys, *argv):
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_writes_the_files(site, capsys):
    store, _ = m.build(site.parent / "state")
    store.disconnect()
    code, out, err = run(capsys, "report", "monthly", "--month", "2026-11", "-c", str(site), "--format", "xlsx,csv")
    assert (code, err) == (0, "")
    written = [Path(line) for line in out.splitlines()]
    assert written[0] == site.parent / "state" / "reports" / "monthly-2026-11.xlsx"
    assert len(written) == 15 and all(path.exists() for path in written)  # 14 tables (network-device last)
    summary = dict(_sheet_rows(load_workbook(written[0]), "summary"))
    assert summary["Faults (root faults opened in the month)"] == 11 and summary["Devices"] == 5
    # The shipped rules say which rules mean "unreachable": device_unreachable is one.
    assert summary["Availability, all devices (%)"] == round(100 * (1 - 16170 / (5 * MONTH_S)), 3)


def test_cli_warns_when_no_calendar_covers_the_due_day(site, capsys):
    store, _ = m.build(site.parent / "state")
    store.disconnect()
    code, out, err = run(capsys, "report", "monthly", "--month", "2026-12", "-c", str(site), "--format", "csv")
    assert code == 0 and out
    assert err == ("warning: no holiday file covers 2027: the delivery and due days (2027-01-01, 2027-01-07) count "
                   "only weekends as days off; add that year's calendar to reports.holiday_files\n")


@pytest.mark.parametrize("argv, code, message", [
    (["--month", "2026-13"], 2, "month '2026-13' is not a month; write it as YYYY-MM, e.g. 2026-11\n"),
    (["--month", "2999-01"], 2, "month 2999-01 has not begun yet (today is "),
    (["--month", "2026-11", "--format", "pdf"], 2,
     "--format 'pdf': use one or more of html, xlsx, csv, separated by commas\n"),
])
def test_cli_bad_input_is_one_sentence(site, capsys, argv, code, message):
    got, out, err = run(capsys, "report", "monthly", "-c", str(site), *argv)
    assert got == code and out == "" and err.startswith(message) and err.count("\n") == 1


def test_cli_without_records(site, capsys):
    code, out, err = run(capsys, "report", "monthly", "--month", "2026-11", "-c", str(site))
    assert code == 1 and err.startswith("no fault records at ") and err.count("\n") == 1


def test_cli_broken_holiday_file(site, capsys):
    (site.parent / "holidays.yaml").write_text("holidays: [{name: x, start: 2026-01-02, end: 2026-01-01}]\n")
    site.write_text(site.read_text().replace(str(ROOT / "config/holidays/cn-2026.yaml"), "holidays.yaml"))
    expected = (f"{site}:5: reports.holiday_files: {site.parent / 'holidays.yaml'}: holidays.0: Value error, "
                "end 2026-01-01 is before start 2026-01-02\n")
    assert run(capsys, "report", "monthly", "--month", "2026-11", "-c", str(site)) == (2, "", expected)
    # `netvigil check` finds it before a report is due.
    code, out, err = run(capsys, "check", "-c", str(site))
    assert code == 2 and expected in err
