"""The machine-room inspection record (机房巡检记录) the contract's inspector signs, twice a day.

`inspect()` turns a `Snapshot` (monitor/reports/readings.py: device states and the newest
readings at the moment) and the fault records into figures; `inspection_tables()` into the
titled tables every renderer draws. Definitions:

* A device has **no data** when nothing was heard of it within the window before the moment
  (`reports.inspection_window_s`), or no probe has a result yet, or no probe that tells
  reachability is on. Else it is **up** or **down** as `netvigil status` judges it.
* **UPS** rows: every `ups` (RFC 1628) and `apc_ups` series, plus a row for every device of
  class `ups` without one. Load is the highest output line's load, input voltage the lowest
  input line's (RFC 1628 has one row per line; the worst line is what the inspector must see).
  Not normal: output source other than normal / on_line, or battery status other than normal;
  a UPS without readings. A value the device does not publish is unknown, not "not normal".
* **Sensors**: every `env_sensor` (HW group: `unit` C or %RH; NetBotz: temperature_c and
  humidity_pct), `akcp_temperature` and `akcp_humidity` series, plus a row for every
  `env_sensor` device without one. Not normal: a state or status other than normal / active.
* **NVR disks**: every `nvr_disk` series, plus a row for every `nvr` device without one (Dahua
  NVRs publish no disk table over SNMP). Not normal: status other than normal / idle.
* **Open faults**: opened before the moment and not resolved at it. **Faults since the last
  inspection**: opened after the previous inspection slot and up to the moment.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from typing import Optional, Sequence

from monitor import words
from monitor.faults.store import Fault
from monitor.i18n import _
from monitor.reports import texts as T
from monitor.reports.readings import Reading, Snapshot, label
from monitor.reports.tables import Cell, Table

_NORMAL = frozenset({"normal", "on_line", "active", "idle"})


def _fine(value: Optional[str]) -> bool:
    # A value the device does not publish (None) is unknown, not an alarm.
    return value is None or value in _NORMAL


@dataclass(frozen=True)
class DeviceLine:
    device: str
    site: str
    device_class: str
    address: str
    state: str  # up, down, no data
    since: Optional[float]
    rtt_ms: Optional[float]
    loss_pct: Optional[float]
    jitter_ms: Optional[float]
    snmp: Optional[str]
    ssh: Optional[str]
    last_probe: Optional[float]
    reason: str = ""  # why no data


@dataclass(frozen=True)
class SensorLine:
    device: str
    site: str
    sensor: str
    temperature_c: Optional[float]
    humidity_pct: Optional[float]
    state: str
    at: Optional[float]

    @property
    def normal(self) -> bool:
        return self.at is not None and _fine(self.state or None)


@dataclass(frozen=True)
class UpsLine:
    device: str
    site: str
    source: Optional[str]
    battery: Optional[str]
    charge_pct: Optional[float]
    runtime_min: Optional[float]
    load_pct: Optional[float]
    input_v: Optional[float]
    at: Optional[float]
    note: str = ""

    @property
    def normal(self) -> bool:
        return self.at is not None and _fine(self.source) and _fine(self.battery)


@dataclass(frozen=True)
class DiskLine:
    device: str
    site: str
    disk: str
    name: str
    status: Optional[str]
    capacity_gb: Optional[float]
    used_pct: Optional[float]
    at: Optional[float]
    note: str = ""

    @property
    def normal(self) -> bool:
        return self.at is not None and _fine(self.status)


@dataclass(frozen=True)
class Inspection:
    at: float
    previous_at: float
    zone: dt.tzinfo
    source: str
    window_s: float
    devices: tuple[DeviceLine, ...]  # by site, then device
    sensors: tuple[SensorLine, ...]
    ups: tuple[UpsLine, ...]
    disks: tuple[DiskLine, ...]
    open_faults: tuple[Fault, ...]  # oldest first
    new_faults: tuple[Fault, ...]  # oldest first

    def count(self, state: str) -> int:
        return sum(1 for line in self.devices if line.state == state)

    @property
    def no_data(self) -> tuple[DeviceLine, ...]:
        return tuple(line for line in self.devices if line.state == T.STATE_NO_DATA)

    def abnormal(self) -> dict[str, int]:
        return {"ups": sum(not line.normal for line in self.ups), "env": sum(not line.normal for line in self.sensors),
                "disks": sum(not line.normal for line in self.disks)}


def _unix(iso_text: Optional[str]) -> Optional[float]:
    return None if not iso_text else dt.datetime.fromisoformat(iso_text).timestamp()


def _round(value, digits: int = 1) -> Optional[float]:
    return None if value is None else round(float(value), digits)


def _device_lines(snapshot: Snapshot, window_s: float, zone: dt.tzinfo) -> list[DeviceLine]:
    lines = []
    for row in snapshot.devices:
        last = _unix(row.get("last_probe"))
        state, reason, measured = row["state"], "", True
        if state == "unmonitored":
            state, reason = T.STATE_NO_DATA, _(T.R_UNMONITORED)
        elif last is not None and last < snapshot.at - window_s:
            state, measured = T.STATE_NO_DATA, False  # the figures are from then, not from now
            reason = _(T.R_STALE).format(time=f"{dt.datetime.fromtimestamp(last, zone):%Y-%m-%d %H:%M}")
        elif last is None or state == "pending":
            state, reason = T.STATE_NO_DATA, _(T.R_NEVER)
        figures = [row.get(key) if measured else None for key in ("rtt_avg_ms", "loss_pct", "jitter_ms", "snmp", "ssh")]
        lines.append(DeviceLine(row["device"], row.get("site") or "", row.get("class") or "", row.get("address") or "",
                                state, _unix(row.get("since")) if measured else None, *figures, last, reason))
    return sorted(lines, key=lambda line: (line.site, line.device))


def _why_no_readings(line: Optional[DeviceLine]) -> str:
    if line is None or line.state == T.STATE_NO_DATA:
        return line.reason if line is not None else _(T.R_NEVER)
    if line.snmp is None:
        return _(T.R_SNMP_NOT_POLLED)
    if line.snmp != "ok":
        return _(T.R_SNMP_SAID).format(state=line.snmp)
    return _(T.R_SNMP_WITHOUT)


def _sensor_lines(readings: Sequence[Reading], sites: dict[str, str]) -> list[SensorLine]:
    lines = []
    for r in readings:
        f, name = r.fields, r.tags.get("name") or r.tags.get("index", "")
        temperature = humidity = None
        state = None
        if r.measurement == "env_sensor":
            unit = r.tags.get("unit")
            if unit == "C":
                temperature = f.get("value")
            elif unit == "%RH":
                humidity = f.get("value")
            elif "value" in f:
                continue  # volts, amperes ... of a multi-purpose monitor: not the room's climate
            temperature = f.get("temperature_c", temperature)
            humidity = f.get("humidity_pct", humidity)
            state = label(r.measurement, "state", f["state"]) if "state" in f else \
                label(r.measurement, "comm_status", f.get("comm_status"))
        elif r.measurement in ("akcp_temperature", "akcp_humidity"):
            temperature, humidity = f.get("temperature_c"), f.get("humidity_pct")
            state = label(r.measurement, "status", f.get("status"))
        else:
            continue
        lines.append(SensorLine(r.device, sites.get(r.device, ""), name, _round(temperature), _round(humidity),
                                state or "", r.time_ns / 1e9))
    return lines


def _ups_lines(readings: Sequence[Reading], sites: dict[str, str]) -> list[UpsLine]:
    lines = []
    by_device: dict[str, dict[str, list[Reading]]] = {}
    for r in readings:
        by_device.setdefault(r.device, {}).setdefault(r.measurement, []).append(r)
    for device, kinds in by_device.items():
        for r in kinds.get("ups", ()):
            f = r.fields
            loads = [o.fields["load_pct"] for o in kinds.get("ups_output", ()) if "load_pct" in o.fields]
            volts = [i.fields["voltage_v"] for i in kinds.get("ups_input", ()) if "voltage_v" in i.fields]
            lines.append(UpsLine(device, sites.get(device, ""), label("ups", "output_source", f.get("output_source")),
                                 label("ups", "battery_status", f.get("battery_status")), _round(f.get("charge_pct")),
                                 _round(f.get("runtime_remaining_min")), _round(max(loads, default=None)),
                                 _round(min(volts, default=None)), r.time_ns / 1e9))
        for r in kinds.get("apc_ups", ()):
            f = r.fields
            lines.append(UpsLine(device, sites.get(device, ""),
                                 label("apc_ups", "output_status", f.get("output_status")),
                                 label("apc_ups", "battery_status", f.get("battery_status")),
                                 _round(f.get("capacity_pct")), _round(f.get("runtime_remaining_min")),
                                 _round(f.get("output_load_pct")), _round(f.get("input_voltage_v")), r.time_ns / 1e9))
    return lines


def _disk_lines(readings: Sequence[Reading], sites: dict[str, str]) -> list[DiskLine]:
    lines = []
    for r in readings:
        if r.measurement != "nvr_disk":
            continue
        f = r.fields
        capacity = None if f.get("capacity_mb") is None else round(f["capacity_mb"] / 1024, 1)
        lines.append(DiskLine(r.device, sites.get(r.device, ""), r.tags.get("disk", ""), r.tags.get("name", ""),
                              label("nvr_disk", "status", f.get("status")), capacity, _round(f.get("used_pct")),
                              r.time_ns / 1e9))
    return lines


def inspect(snapshot: Snapshot, faults: Sequence[Fault], *, previous_at: float, zone: dt.tzinfo,
            window_s: float) -> Inspection:
    """The record's figures. `faults`: at least every fault open at some time in
    [previous_at, snapshot.at] (FaultStore.overlapping); others are ignored."""
    devices = _device_lines(snapshot, window_s, zone)
    by_name = {line.device: line for line in devices}
    sites = {line.device: line.site for line in devices}
    readings = [r for r in snapshot.readings if r.device in by_name]
    sensors = _sensor_lines(readings, sites)
    ups = _ups_lines(readings, sites)
    disks = _disk_lines(readings, sites)
    # Every device whose class promises readings gets a line, so a silent UPS is seen, not missing.
    for line in devices:
        why = _why_no_readings(line)
        if line.device_class == "ups" and not any(u.device == line.device for u in ups):
            ups.append(UpsLine(line.device, line.site, None, None, None, None, None, None, None,
                               _(T.R_NO_READINGS).format(what=_(T.WHAT_UPS), why=why)))
        if line.device_class == "env_sensor" and not any(s.device == line.device for s in sensors):
            sensors.append(SensorLine(line.device, line.site, _(T.R_NO_READINGS).format(what=_(T.WHAT_ENV), why=why),
                                      None, None, "", None))
        if line.device_class == "nvr" and not any(d.device == line.device for d in disks):
            disks.append(DiskLine(line.device, line.site, "", "", None, None, None, None,
                                  _(T.R_NO_READINGS).format(what=_(T.WHAT_DISKS), why=why)))
    at = snapshot.at
    open_faults = [f for f in faults if f.opened_at <= at and (f.resolved_at is None or f.resolved_at > at)]
    new_faults = [f for f in faults if previous_at < f.opened_at <= at]
    order = lambda f: (f.opened_at, f.id)  # noqa: E731
    return Inspection(
        at, previous_at, zone, snapshot.source, window_s, tuple(devices),
        tuple(sorted(sensors, key=lambda s: (s.site, s.device, s.sensor))),
        tuple(sorted(ups, key=lambda u: (u.site, u.device))),
        tuple(sorted(disks, key=lambda d: (d.site, d.device, d.disk))),
        tuple(sorted(open_faults, key=order)), tuple(sorted(new_faults, key=order)))


def _state(code: Optional[str]) -> Optional[str]:
    """An SNMP or SSH state as `status` shows it (`ok`, `timeout`: 正常, 超时 in Chinese)."""
    return words.probe_state(code) if code else code


def inspection_tables(record: Inspection) -> list[Table]:
    def local(at: Optional[float]) -> Optional[dt.datetime]:
        return None if at is None else dt.datetime.fromtimestamp(at, record.zone).replace(tzinfo=None)

    abnormal = record.abnormal()
    summary: list[tuple[str, Cell]] = [
        (_(T.I_AT), local(record.at)), (_(T.I_ZONE), str(record.zone)), (_(T.I_PREVIOUS), local(record.previous_at)),
        (_(T.I_SOURCE), record.source), (_(T.I_WINDOW), round(record.window_s / 60, 1)),
        (_(T.I_DEVICES_COUNT), len(record.devices)), (_(T.I_UP), record.count(T.STATE_UP)),
        (_(T.I_DOWN), record.count(T.STATE_DOWN)), (_(T.I_NODATA_COUNT), record.count(T.STATE_NO_DATA)),
        (_(T.I_OPEN_COUNT), len(record.open_faults)), (_(T.I_NEW_COUNT), len(record.new_faults)),
        (_(T.I_UPS_ABNORMAL), abnormal["ups"]), (_(T.I_ENV_ABNORMAL), abnormal["env"]),
        (_(T.I_DISK_ABNORMAL), abnormal["disks"]),
    ]
    per_site: dict[str, Counter] = {}
    for line in record.devices:
        per_site.setdefault(line.site, Counter())[line.state] += 1
    sites = tuple((site, sum(c.values()), c[T.STATE_UP], c[T.STATE_DOWN], c[T.STATE_NO_DATA])
                  for site, c in sorted(per_site.items()))

    def fault_row(f: Fault) -> tuple:
        return (f.id, f.device, "/".join(f.site_path) or f.site, f.rule, words.severity(f.severity),
                words.fault_state(f.state), local(f.opened_at),
                local(f.resolved_at), f.symptom_of, f.message)

    def columns(*texts: str) -> tuple[str, ...]:
        return tuple(_(text) for text in texts)

    fault_columns = columns(T.IC_FAULT, T.IC_DEVICE, T.IC_SITE, T.IC_RULE, T.IC_SEVERITY, T.C_STATE, T.IC_OPENED,
                            T.IC_RESOLVED, T.C_SYMPTOM_OF, T.IC_DETAIL)
    return [
        Table("summary", _(T.I_SUMMARY), columns(T.I_ITEM, T.I_VALUE), tuple(summary)),
        Table("sites", _(T.I_SITES), columns(T.IC_SITE, T.IC_DEVICES, T.C_UP, T.C_DOWN, T.C_NODATA), sites),
        Table("devices", _(T.I_DEVICES),
              columns(T.IC_SITE, T.IC_DEVICE, T.IC_CLASS, T.C_ADDRESS, T.C_STATE, T.C_SINCE, T.C_RTT, T.C_LOSS,
                      T.C_JITTER, T.C_SNMP, T.C_SSH, T.C_LAST_PROBE),
              tuple((d.site, d.device, words.device_class(d.device_class), d.address, _(d.state), local(d.since),
                     _round(d.rtt_ms, 2),
                     _round(d.loss_pct), _round(d.jitter_ms, 2), _state(d.snmp), _state(d.ssh), local(d.last_probe))
                    for d in record.devices)),
        Table("environment", _(T.I_ENV),
              columns(T.IC_SITE, T.IC_DEVICE, T.C_SENSOR, T.C_TEMPERATURE, T.C_HUMIDITY, T.C_STATE, T.C_READ_AT),
              tuple((s.site, s.device, s.sensor, s.temperature_c, s.humidity_pct, s.state, local(s.at))
                    for s in record.sensors)),
        Table("ups", _(T.I_UPS),
              columns(T.IC_SITE, T.IC_DEVICE, T.C_SOURCE, T.C_BATTERY, T.C_CHARGE, T.C_RUNTIME, T.C_LOAD, T.C_INPUT_V,
                      T.C_READ_AT, T.IC_DETAIL),
              tuple((u.site, u.device, u.source, u.battery, u.charge_pct, u.runtime_min, u.load_pct, u.input_v,
                     local(u.at), u.note) for u in record.ups)),
        Table("nvr-disks", _(T.I_DISKS),
              columns(T.IC_SITE, T.IC_DEVICE, T.C_DISK, T.C_DISK_NAME, T.C_DISK_STATUS, T.C_CAPACITY, T.C_USED,
                      T.C_READ_AT, T.IC_DETAIL),
              tuple((d.site, d.device, d.disk, d.name, d.status, d.capacity_gb, d.used_pct, local(d.at), d.note)
                    for d in record.disks)),
        Table("open-faults", _(T.I_OPEN), fault_columns, tuple(fault_row(f) for f in record.open_faults)),
        Table("new-faults", _(T.I_NEW), fault_columns, tuple(fault_row(f) for f in record.new_faults)),
        Table("no-data", _(T.I_NO_DATA), columns(T.IC_SITE, T.IC_DEVICE, T.IC_CLASS, T.C_ADDRESS, T.C_REASON),
              tuple((d.site, d.device, words.device_class(d.device_class), d.address, d.reason)
                    for d in record.no_data)),
        Table("sign-off", _(T.I_SIGN), columns(T.I_ITEM, T.I_VALUE), tuple((_(item), "") for item in T.SIGN_ROWS)),
    ]


def summary_line(record: Inspection) -> str:
    """One line for a notification: the counts an on-call engineer looks at first."""
    abnormal = record.abnormal()
    previous = dt.datetime.fromtimestamp(record.previous_at, record.zone)
    return _(T.M_INSPECTION_LINE).format(
        devices=len(record.devices), up=record.count(T.STATE_UP), down=record.count(T.STATE_DOWN),
        no_data=record.count(T.STATE_NO_DATA), open=len(record.open_faults), new=len(record.new_faults),
        previous=f"{previous:%Y-%m-%d %H:%M}", ups=abnormal["ups"], env=abnormal["env"], disks=abnormal["disks"])


def previous_slot(at: float, times: Sequence[dt.time], zone: dt.tzinfo) -> float:
    """The inspection slot before `at` (strictly): the last configured time of day before it,
    yesterday's last when `at` is before today's first. No times: 24 hours before. The daemon
    passes the slot a record stands for (09:00 -> yesterday's 17:00), not the minute it ran."""
    if not times:
        return at - 86_400
    moment = dt.datetime.fromtimestamp(at, zone)
    candidates = [dt.datetime.combine(moment.date() - dt.timedelta(days=back), t, tzinfo=zone).timestamp()
                  for back in (0, 1) for t in times]
    return max(c for c in candidates if c < at)
