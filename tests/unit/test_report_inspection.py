"""The inspection record over known states: samples fed to the daemon's own DeviceStates and
LatestReadings, the same samples in a real embedded store (read back at a past moment), and
faults in a real fault store. Every figure is worked out by hand below."""

import datetime as dt
from pathlib import Path

import pytest
from openpyxl import load_workbook

from monitor import config as config_module
from monitor.cli import main
from monitor.faults.model import DeviceInfo
from monitor.faults.settings import SlaSettings
from monitor.faults.store import FaultStore
from monitor.outputs.embedded import EmbeddedStore
from monitor.reports.build import inspection_record
from monitor.reports.inspection import inspect, inspection_tables, previous_slot, summary_line
from monitor.reports.readings import LatestReadings, parse_time, read_embedded, snapshot_from_rows
from monitor.state import DeviceStates
from probes.base import Sample
from tests.unit.report_month import ZONE

SLA = SlaSettings()
AT = dt.datetime(2026, 12, 7, 9, 0, tzinfo=ZONE).timestamp()  # Monday 09:00
PREVIOUS = dt.datetime(2026, 12, 6, 17, 0, tzinfo=ZONE).timestamp()
TIMES = [dt.time(9), dt.time(17)]

INVENTORY = """
sites:
  - {name: 机房}
  - {name: 街道A}
devices:
  - {name: core-sw, address: 192.0.2.1, class: switch, site: 机房}
  - {name: ups-1, address: 192.0.2.2, class: ups, site: 机房}
  - {name: ups-apc, address: 192.0.2.3, class: ups, site: 机房}
  - {name: ups-silent, address: 192.0.2.4, class: ups, site: 机房}
  - {name: env-1, address: 192.0.2.5, class: env_sensor, site: 机房}
  - {name: env-nb, address: 192.0.2.6, class: env_sensor, site: 机房}
  - {name: nvr-1, address: 192.0.2.7, class: nvr, site: 街道A}
  - {name: nvr-dahua, address: 192.0.2.8, class: nvr, site: 街道A}
  - {name: codec-a, address: 192.0.2.9, class: codec, site: 街道A}
  - {name: codec-stale, address: 192.0.2.10, class: codec, site: 街道A}
  - {name: codec-never, address: 192.0.2.11, class: codec, site: 街道A}
"""


def _ns(at: float) -> int:
    return int(at * 1e9)


def _samples(at: float) -> list[Sample]:
    """What the probes said one minute before `at` (and an hour before, for codec-stale)."""
    t = _ns(at - 60)

    def s(measurement, device, fields, **tags):
        return Sample(measurement, {"device": device, **tags}, fields, t)

    up = {"up": 1, "rtt_avg_ms": 1.25, "loss_pct": 0.0, "jitter_ms": 0.1}
    samples = [s("icmp", name, up) for name in ("core-sw", "ups-1", "ups-apc", "ups-silent", "env-1", "env-nb",
                                               "nvr-1", "nvr-dahua")]
    samples += [
        s("icmp", "codec-a", {"up": 0, "loss_pct": 100.0}),
        Sample("icmp", {"device": "codec-stale"}, up, _ns(at - 3600)),
        s("snmp", "ups-silent", {"error_code": 1}),  # timeout
        s("snmp", "nvr-dahua", {"error_code": 0}),
        s("snmp", "ups-1", {"error_code": 0}),
        s("ups", "ups-1", {"output_source": 3, "battery_status": 2, "charge_pct": 100, "runtime_remaining_min": 42}),
        s("ups_output", "ups-1", {"load_pct": 31, "voltage_v": 220}, line="1"),
        s("ups_output", "ups-1", {"load_pct": 47, "voltage_v": 221}, line="2"),
        s("ups_input", "ups-1", {"voltage_v": 221}, line="1"),
        s("ups_input", "ups-1", {"voltage_v": 218}, line="2"),
        s("apc_ups", "ups-apc", {"output_status": 3, "battery_status": 2, "capacity_pct": 87.5,
                                 "runtime_remaining_min": 25, "output_load_pct": 40.0, "input_voltage_v": 0.0}),
        s("env_sensor", "env-1", {"value": 24.5, "state": 1}, index="1", name="机柜温度", unit="C"),
        s("env_sensor", "env-1", {"value": 45.0, "state": 1}, index="2", name="湿度", unit="%RH"),
        s("env_sensor", "env-1", {"value": 230.0, "state": 1}, index="3", name="电压", unit="V"),
        s("env_sensor", "env-nb", {"temperature_c": 36.2, "humidity_pct": 30, "comm_status": 1}, index="nb1",
          name="Rack 3"),
        s("nvr_disk", "nvr-1", {"status": 0, "free_mb": 1000000, "capacity_mb": 3815447, "used_pct": 73.79},
          disk="1.0", name="HDD1"),
        s("nvr_disk", "nvr-1", {"status": 3, "free_mb": 5, "capacity_mb": 3815447, "used_pct": 99.99},
          disk="2.0", name="HDD2"),
    ]
    return samples


@pytest.fixture
def cfg(tmp_path):
    (tmp_path / "inventory.yaml").write_text(INVENTORY, encoding="utf-8")
    (tmp_path / "netvigil.yaml").write_text(
        "inventory: [inventory.yaml]\nstate_dir: state\nfaults: {timezone: Asia/Shanghai}\nrules: {dirs: []}\n",
        encoding="utf-8")
    (tmp_path / "state").mkdir()
    return config_module.load(tmp_path / "netvigil.yaml")


def _faults(path: Path) -> None:
    def t(day, hour, minute=0):
        return dt.datetime(2026, 12, day, hour, minute, tzinfo=ZONE).timestamp()

    def device(name, cls, site):
        return DeviceInfo(name, cls, (site,))

    with FaultStore(path) as store:
        def fault(dev, rule, opened, resolved=None):
            made, _ = store.open(dev, rule, severity="major", message=f"{rule} on {dev.name}", at=opened, sla=SLA,
                                 reopen_window_s=0)
            if resolved is not None:
                store.resolve_auto(dev.name, rule, at=resolved)
            return made.id

        fault(device("core-sw", "switch", "机房"), "device_unreachable", t(6, 16), t(6, 16, 30))  # 1: before
        fault(device("codec-a", "codec", "街道A"), "device_unreachable", t(6, 18))  # 2: open, new
        fault(device("ups-apc", "ups", "机房"), "ups_on_battery_apc", t(7, 8, 58))  # 3: open, new
        fault(device("env-nb", "env_sensor", "机房"), "room_temperature", t(6, 12), t(7, 8))  # 4: neither
        fault(device("nvr-1", "nvr", "街道A"), "nvr_disk_abnormal", t(7, 8), t(7, 8, 30))  # 5: new, resolved
        fault(device("core-sw", "switch", "机房"), "cpu_high", t(4, 10))  # 6: open since Friday, not new
        fault(device("codec-a", "codec", "街道A"), "jitter_high", t(7, 9, 30))  # 7: after the inspection


def _daemon_snapshot(cfg):
    states, readings = DeviceStates(), LatestReadings()
    states.set_inventory(cfg.inventory.devices)
    samples = _samples(AT)
    states.update(samples)
    readings.update(samples)
    return snapshot_from_rows(AT, states.rows(), readings.rows(), "daemon", 900)


def test_previous_slot():
    assert previous_slot(AT, TIMES, ZONE) == PREVIOUS  # 09:00 stands for the night since 17:00
    assert previous_slot(AT + 3600, TIMES, ZONE) == AT  # an inspection at 10:00: since 09:00
    assert previous_slot(PREVIOUS + 8 * 3600, TIMES, ZONE) == PREVIOUS  # 01:00: since yesterday 17:00
    assert previous_slot(AT, [], ZONE) == AT - 86_400


def test_every_figure_from_the_daemon_state(cfg):
    _faults(cfg.settings.state_dir / "faults.db")
    record = inspection_record(cfg.settings, _daemon_snapshot(cfg), previous_slot(AT, TIMES, ZONE))
    assert (record.count("up"), record.count("down"), record.count("no data")) == (8, 1, 2)
    assert [(d.device, d.reason) for d in record.no_data] == [
        ("codec-never", "no probe result yet"), ("codec-stale", "nothing heard since 2026-12-07 08:00")]
    assert [d.site for d in record.devices] == ["机房"] * 6 + ["街道A"] * 5  # grouped by site
    ups = {u.device: u for u in record.ups}
    assert (ups["ups-1"].source, ups["ups-1"].battery, ups["ups-1"].charge_pct, ups["ups-1"].runtime_min,
            ups["ups-1"].load_pct, ups["ups-1"].input_v) == ("normal", "normal", 100, 42, 47, 218)
    assert (ups["ups-apc"].source, ups["ups-apc"].charge_pct, ups["ups-apc"].load_pct) == ("on_battery", 87.5, 40)
    assert ups["ups-silent"].at is None and ups["ups-silent"].note == "UPS: no readings (SNMP: timeout)"
    assert [u.normal for u in record.ups] == [True, False, False]
    sensors = [(s.device, s.sensor, s.temperature_c, s.humidity_pct, s.state) for s in record.sensors]
    assert sensors == [("env-1", "机柜温度", 24.5, None, "normal"), ("env-1", "湿度", None, 45.0, "normal"),
                       ("env-nb", "Rack 3", 36.2, 30.0, "active")]  # the 230 V input is not the room's climate
    disks = [(d.device, d.disk, d.name, d.status, d.capacity_gb, d.used_pct, d.note) for d in record.disks]
    assert disks == [
        ("nvr-1", "1.0", "HDD1", "normal", 3726.0, 73.8, ""),
        ("nvr-1", "2.0", "HDD2", "smart_failed", 3726.0, 100.0, ""),
        ("nvr-dahua", "", "", None, None, None,
         "disks: no readings (SNMP answers, but no profile reads these values from this model)")]
    assert record.abnormal() == {"ups": 2, "env": 0, "disks": 2}
    assert [f.id for f in record.open_faults] == [6, 2, 3]
    assert [f.id for f in record.new_faults] == [2, 5, 3]
    assert summary_line(record) == (
        "11 devices: 8 up, 1 down, 2 with no data; 3 open faults, 3 new since 2026-12-06 17:00; UPS not normal: 2; "
        "sensors not normal: 0; disks not normal: 2")
    tables = {table.slug: table for table in inspection_tables(record)}
    assert tables["sites"].rows == (("机房", 6, 6, 0, 0), ("街道A", 5, 2, 1, 2))
    summary = dict(tables["summary"].rows)
    assert summary["Inspection time"] == dt.datetime(2026, 12, 7, 9, 0)
    assert summary["Previous inspection"] == dt.datetime(2026, 12, 6, 17, 0)
    assert summary["Values older than this do not count (min)"] == 15
    assert [row[0] for row in tables["sign-off"].rows] == ["Inspector", "Signature", "Date and time signed", "Remarks"]
    assert list(tables) == ["summary", "sites", "devices", "environment", "ups", "nvr-disks", "open-faults",
                            "new-faults", "no-data", "sign-off"]


def test_the_embedded_history_gives_the_same_record_at_a_past_moment(cfg):
    """The same samples in a real embedded store, with newer ones after the moment that must
    not count: read at 09:00, the record equals the daemon's (apart from the source and the
    state's start, which only the daemon keeps)."""
    store = EmbeddedStore(cfg.settings.state_dir / "metrics.db", retention_days=3650)
    later = [Sample(s.measurement, s.tags, {**s.fields, **({"charge_pct": 50} if s.measurement == "ups" else {})},
                    s.time_ns + _ns(600)) for s in _samples(AT) if s.time_ns + _ns(600) > _ns(AT)]
    store.write(_samples(AT) + later + [Sample("icmp", {"device": "codec-never"}, {"up": 1}, _ns(AT + 300))])
    store.close()
    snapshot = read_embedded(cfg.settings.state_dir / "metrics.db", cfg.inventory.devices, AT, 900)
    from_history = inspect(snapshot, [], previous_at=PREVIOUS, zone=ZONE, window_s=900)
    from_daemon = inspect(_daemon_snapshot(cfg), [], previous_at=PREVIOUS, zone=ZONE, window_s=900)
    assert [d.__class__(**{**vars(d), "since": None}) for d in from_daemon.devices] == list(from_history.devices)
    assert (from_daemon.ups, from_daemon.sensors, from_daemon.disks) == (
        from_history.ups, from_history.sensors, from_history.disks)
    assert from_history.source.startswith("the embedded store's history")


def test_parse_time():
    now = AT + 3600
    assert parse_time("09:00", now, ZONE) == AT
    assert parse_time("2026-12-06 17:00", now, ZONE) == PREVIOUS
    with pytest.raises(ValueError, match="is not a time"):
        parse_time("9 o'clock", now, ZONE)
    with pytest.raises(ValueError, match="in the future"):
        parse_time("2026-12-08 09:00", now, ZONE)


def test_command_from_the_embedded_store(cfg, tmp_path, capsys):
    _faults(cfg.settings.state_dir / "faults.db")
    store = EmbeddedStore(cfg.settings.state_dir / "metrics.db", retention_days=3650)
    store.write(_samples(AT))
    store.close()
    out = tmp_path / "out"
    code = main(["report", "inspection", "--at", "2026-12-07 09:00", "-c", str(cfg.path), "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    assert capsys.readouterr().out.split() == [str(out / "inspection-2026-12-07-0900.html"),
                                               str(out / "inspection-2026-12-07-0900.xlsx")]
    book = load_workbook(out / "inspection-2026-12-07-0900.xlsx")
    summary = {row[0]: row[1] for row in book["summary"].iter_rows(min_row=3, values_only=True)}
    assert (summary["Devices up"], summary["Devices down"], summary["Devices with no data"]) == (8, 1, 2)
    assert [row[0] for row in book["open-faults"].iter_rows(min_row=3, values_only=True)] == [6, 2, 3]
    html = (out / "inspection-2026-12-07-0900.html").read_text(encoding="utf-8")
    assert "Sign-off" in html and "http" not in html


@pytest.mark.parametrize("at, code, sentence", [
    ("half past nine", 2, "--at 'half past nine' is not a time; write HH:MM (today) or YYYY-MM-DD HH:MM"),
    ("2099-01-01 09:00", 2, "--at 2099-01-01 09:00: that is in the future"),
    ("2026-12-07 09:00", 1, "an inspection of a past moment is made from the embedded store's history, and there is no"),
])
def test_command_refusals(cfg, capsys, at, code, sentence):
    assert main(["report", "inspection", "--at", at, "-c", str(cfg.path)]) == code
    err = capsys.readouterr().err
    assert sentence in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_the_record_reads_in_chinese(cfg):
    from monitor.i18n import using

    _faults(cfg.settings.state_dir / "faults.db")
    with using("zh-CN"):
        record = inspection_record(cfg.settings, _daemon_snapshot(cfg), PREVIOUS)
        tables = {table.slug: table for table in inspection_tables(record)}
        line = summary_line(record)
    assert tables["summary"].title == "概要" and tables["sign-off"].rows[0] == ("巡检人", "")
    assert tables["ups"].columns[:3] == ("站点", "设备", "输出来源")
    assert dict(tables["summary"].rows)["在线设备"] == 8
    assert {row[4] for row in tables["devices"].rows} == {"在线", "离线", "无数据"}
    assert [row[4] for row in tables["no-data"].rows] == ["尚无探测结果", "自 2026-12-07 08:00 起无应答"]
    assert line.startswith("共 11 台设备：在线 8，离线 1，无数据 2")
    english = {table.slug: table for table in inspection_tables(record)}
    for slug, table in tables.items():  # every heading translated (units and names like SNMP, UPS stay)
        same = [text for text, theirs in zip((table.title, *table.columns), (english[slug].title,
                                                                            *english[slug].columns)) if text == theirs]
        assert set(same) <= {"SNMP", "SSH", "UPS"}, (slug, same)
