"""A device's SNMP health in a few figures, for `netvigil status`: what the shipped profiles
measured in the device's newest poll, reduced to what an operator reads at a glance.

* UPS (profiles `ups`, `apc_ups`): power source (mains, battery, bypass), battery status,
  charge %, runtime in minutes, highest output load %.
* Machine-room sensors (`env_hwg`, `netbotz`, `akcp`): lowest and highest temperature and
  humidity over the device's probes, dry-contact inputs in alarm (leak, smoke, door).
* Network devices, servers, NVRs, Hikvision cameras: ports up of ports written (`if`), highest
  CPU and memory % over boards or processors, lowest and highest board temperature.
* NVRs (`hikvision`): disks, disks in a failed state (the states the shipped rule
  `nvr_disk_abnormal` calls failed), highest disk fill %. Servers with MegaRAID controllers
  (`megaraid`): their disks, and those `raid_disk_failed` calls failed.

Pure: (measurement, tags, fields) of one device's samples in, a dict of figures out (the
shape `status --json` prints under `health`); the words for people are in
monitor/cli/tables.py. Codes are those of the profiles in probes/snmp/packaged/.
"""

from __future__ import annotations

from typing import Iterable, Mapping, Optional

# UPS-MIB upsOutputSource (profile ups): 3 normal = the load is fed from the mains (through
# the inverter of an online UPS), 4 bypass, 5 battery; booster/reducer regulate mains.
_UPS_SOURCE = {1: "other", 2: "none", 3: "mains", 4: "bypass", 5: "battery", 6: "mains", 7: "mains"}
# PowerNet-MIB upsBasicOutputStatus (profile apc_ups): on line, smart boost/trim, eco mode and
# hot standby are mains; on battery (3) and its self-test (15) are battery; the bypasses.
_APC_SOURCE = {2: "mains", 4: "mains", 12: "mains", 13: "mains", 14: "mains", 20: "mains",
               3: "battery", 15: "battery", 6: "bypass", 9: "bypass", 10: "bypass", 16: "bypass", 17: "bypass",
               7: "off", 5: "off", 11: "off", 8: "off", 1: "other", 18: "other", 19: "other"}
# upsBatteryStatus / upsBasicBatteryStatus: the same codes in both MIBs but for 4.
_BATTERY = {"ups": {1: "unknown", 2: "normal", 3: "low", 4: "depleted"},
            "apc_ups": {1: "unknown", 2: "normal", 3: "low", 4: "fault"}}
# hikDiskStatus codes that are failures (as the shipped rule nvr_disk_abnormal has them).
_DISK_FAILED = frozenset({1, 2, 3, 4, 6})
# MegaRAID pdState codes that are failures (as the shipped rule raid_disk_failed has them).
_RAID_DISK_FAILED = frozenset({1, 16, 17})

#: Measurements this module reads (the others of a device are ignored).
MEASUREMENTS = frozenset({
    "ups", "apc_ups", "ups_output", "env_sensor", "env_input", "akcp_temperature", "akcp_humidity", "akcp_switch",
    "snmp_if", "h3c_entity", "huawei_board", "cisco_cpu", "cisco_mempool", "cisco_temperature", "dahua",
    "snmp_host", "snmp_cpu", "hikvision", "hikvision_camera", "nvr_disk", "raid_disk",
})

#: Keys of the result, in the order status shows them.
KEYS = ("power", "battery", "charge_pct", "runtime_min", "load_pct", "temperature_c", "humidity_pct",
        "inputs", "inputs_alarm", "ports", "ports_up", "cpu_pct", "memory_pct", "disks", "disks_failed",
        "disk_used_pct")

Sample = tuple[str, Mapping[str, str], Mapping[str, object]]


def _number(value) -> Optional[float]:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value


class _Figures:
    def __init__(self) -> None:
        self.out: dict = {}
        self.ranges: dict[str, list] = {}

    def first(self, key: str, value) -> None:
        if value is not None and key not in self.out:
            self.out[key] = value

    def highest(self, key: str, value) -> None:
        value = _number(value)
        if value is not None:
            self.out[key] = max(self.out.get(key, value), value)

    def spread(self, key: str, value) -> None:
        value = _number(value)
        if value is not None:
            low, high = self.ranges.get(key, (value, value))
            self.ranges[key] = [min(low, value), max(high, value)]

    def count(self, key: str, yes: bool = True) -> None:
        self.out[key] = self.out.get(key, 0) + (1 if yes else 0)


def summarise(samples: Iterable[Sample]) -> dict:
    """The figures of one device's newest samples (an empty dict when none is of interest)."""
    f = _Figures()
    for measurement, tags, fields in samples:
        if measurement in ("ups", "apc_ups"):
            source = fields.get("output_source" if measurement == "ups" else "output_status")
            table = _UPS_SOURCE if measurement == "ups" else _APC_SOURCE
            if isinstance(source, int):
                f.first("power", table.get(source, str(source)))
            battery = fields.get("battery_status")
            if isinstance(battery, int):
                f.first("battery", _BATTERY[measurement].get(battery, str(battery)))
            f.first("charge_pct", _number(fields.get("charge_pct", fields.get("capacity_pct"))))
            f.first("runtime_min", _number(fields.get("runtime_remaining_min")))
            f.highest("load_pct", fields.get("output_load_pct"))
        elif measurement == "ups_output":
            f.highest("load_pct", fields.get("load_pct"))
        elif measurement == "env_sensor":
            unit = tags.get("unit")
            if "value" in fields and unit == "C":                      # HW group: value with a unit tag
                f.spread("temperature_c", fields["value"])
            elif "value" in fields and unit == "%RH":
                f.spread("humidity_pct", fields["value"])
            f.spread("temperature_c", fields.get("temperature_c"))     # NetBotz pods
            f.spread("humidity_pct", fields.get("humidity_pct"))
        elif measurement == "akcp_temperature":
            f.spread("temperature_c", fields.get("temperature_c"))
        elif measurement == "akcp_humidity":
            f.spread("humidity_pct", fields.get("humidity_pct"))
        elif measurement in ("env_input", "akcp_switch"):
            # As the shipped leak_smoke_alarm rules read them: HW group alarm 1 (its inputs have a
            # `value`), NetBotz alarm 2 or 3, AKCP status 4 or 6.
            if measurement == "akcp_switch":
                alarm = fields.get("status") in (4, 6)
            elif "value" in fields:
                alarm = fields.get("alarm") == 1
            else:
                alarm = fields.get("alarm") in (2, 3)
            f.count("inputs")
            f.count("inputs_alarm", alarm)
        elif measurement == "snmp_if":
            f.count("ports")
            f.count("ports_up", fields.get("oper_status") == 1)
        elif measurement in ("h3c_entity", "huawei_board", "dahua"):
            f.highest("cpu_pct", fields.get("cpu_pct"))
            f.highest("memory_pct", fields.get("mem_pct"))
            f.spread("temperature_c", fields.get("temperature_c"))
        elif measurement == "cisco_cpu":
            f.highest("cpu_pct", fields.get("load_1min_pct"))
        elif measurement == "cisco_mempool":
            f.highest("memory_pct", fields.get("used_pct"))
        elif measurement == "cisco_temperature":
            f.spread("temperature_c", fields.get("temperature_c"))
        elif measurement == "snmp_host":
            idle = _number(fields.get("cpu_idle_pct"))
            f.highest("cpu_pct", None if idle is None else 100 - idle)
            f.highest("memory_pct", fields.get("mem_used_pct"))
        elif measurement == "snmp_cpu":
            f.highest("cpu_pct", fields.get("load_pct"))
        elif measurement == "hikvision":
            f.highest("memory_pct", fields.get("mem_used_pct"))
        elif measurement == "hikvision_camera":
            f.highest("cpu_pct", fields.get("cpu_pct"))
            f.highest("memory_pct", fields.get("mem_used_pct"))
        elif measurement == "nvr_disk":
            f.count("disks")
            f.count("disks_failed", fields.get("status") in _DISK_FAILED)
            f.highest("disk_used_pct", fields.get("used_pct"))
        elif measurement == "raid_disk":
            f.count("disks")
            f.count("disks_failed", fields.get("state") in _RAID_DISK_FAILED)
    figures = {**f.out, **f.ranges}
    if "ports" in figures:
        figures.setdefault("ports_up", 0)
    return {key: _rounded(figures[key]) for key in KEYS if key in figures}


def _rounded(value):
    if isinstance(value, float):
        return round(value, 1)
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value
