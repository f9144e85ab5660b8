"""Benchmark: CPU cost of rule evaluation for a 10,000-device fleet (target: < 5 % of one core).

Run from the repository root:
    .venv/bin/python -m bench.rule_eval [--devices 10000] [--minutes 3] [--failing 0.05]

The fleet mixes the device classes of the deployments netvigil is built for (cameras, switches,
NVRs, codecs, phones, servers, UPS, environment monitors, MCUs, "other"). One simulated minute
of samples, what the daemon hands the engine per minute:
  * ICMP every 30 s for every device (2 samples);
  * SNMP every 60 s for every device except cameras and "other": `snmp` and `snmp_system`;
    10 `snmp_if` rows for switches, routers, MCUs, codecs, NVRs and servers; `snmp_host`,
    2 `snmp_cpu` and 4 `snmp_storage` rows for servers, NVRs and MCUs; `ups`, `ups_input`,
    `ups_output` for UPS; 8 `env_sensor` and 6 `env_input` rows for environment monitors.
A fixed 5 % of the devices fail (unreachable, lossy video, uplink down, UPS on battery, hot
room, full disk), so faults open, update and stay open as in a bad hour. Every shipped rule
is loaded. The figure is the process CPU time spent inside `RuleEngine.evaluate` (and `tick`
once per 10 s) per simulated minute after a warm-up minute, as a share of one core's minute.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from monitor.faults.model import DeviceInfo  # noqa: E402
from monitor.rules.engine import RuleEngine  # noqa: E402
from monitor.rules.model import load_rules  # noqa: E402
from monitor.rules.settings import RulesSettings  # noqa: E402
from probes.base import Sample  # noqa: E402

S = 1_000_000_000
T0 = 1_780_000_000 * S
# (class, share of the fleet) roughly as in the sub-district + video-conference contracts
MIX = (("camera", 0.30), ("switch", 0.15), ("nvr", 0.08), ("codec", 0.08), ("phone", 0.06), ("server", 0.05),
       ("ups", 0.04), ("env_sensor", 0.02), ("mcu", 0.01), ("router", 0.03), ("other", 0.18))
IF_CLASSES = {"switch", "router", "mcu", "codec", "nvr", "server"}
HOST_CLASSES = {"server", "nvr", "mcu"}


def build_fleet(count: int) -> list[DeviceInfo]:
    devices = []
    for index in range(count):
        position, device_class = index / count, MIX[-1][0]
        total = 0.0
        for name, share in MIX:
            total += share
            if position < total:
                device_class = name
                break
        street = f"street-{index % 15:02d}"
        community = f"{street}-c{index % 11:02d}"
        devices.append(DeviceInfo(f"dev-{index:05d}", device_class, ("district", street, community)))
    return devices


def _tags(device: DeviceInfo) -> dict:
    return {"device": device.name, "address": f"10.{device.name[-4:-2]}.{device.name[-2:]}.1",
            "class": device.device_class, "site": device.site, "district": "district",
            "street": device.site_path[1], "community": device.site_path[2]}


def minute_of_samples(devices: list[DeviceInfo], minute: int, failing_every: int) -> list[list[Sample]]:
    """The minute's samples in six 10-second batches (the daemon evaluates as results arrive)."""
    batches: list[list[Sample]] = [[] for _ in range(6)]
    start = T0 + minute * 60 * S
    for index, device in enumerate(devices):
        tags = _tags(device)
        failing = index % failing_every == 0
        kind = device.device_class
        slot = index % 3  # spread over the first half minute
        for half in (0, 1):
            t = start + (slot * 10 + half * 30) * S
            if failing and kind in ("other", "camera", "switch", "phone", "router"):
                fields = {"up": 0, "sent": 20, "received": 0, "loss_pct": 100.0, "result_code": 1}
            elif failing and kind in ("codec", "mcu"):
                fields = {"up": 1, "sent": 20, "received": 17, "loss_pct": 15.0, "rtt_min_ms": 3.0,
                          "rtt_avg_ms": 8.0, "rtt_max_ms": 40.0, "jitter_ms": 35.0, "result_code": 0}
            else:
                fields = {"up": 1, "sent": 20, "received": 20, "loss_pct": 0.0, "rtt_min_ms": 1.1,
                          "rtt_avg_ms": 2.3, "rtt_max_ms": 5.2, "jitter_ms": 0.7, "result_code": 0}
            batches[slot + half * 3].append(Sample("icmp", tags, fields, t))
        if kind in ("camera", "other"):
            continue
        t = start + (index % 6) * 10 * S
        batch = batches[index % 6]
        batch.append(Sample("snmp", tags, {"up": 1, "result_code": 0, "error_code": 0, "duration_ms": 12.5,
                                           "requests": 4, "varbinds": 60, "profiles": 3}, t))
        batch.append(Sample("snmp_system", {**tags, "sys_descr": "Huawei VRP", "sys_object_id": "1.3.6.1.4.1.2011.2.23",
                                            "sys_name": device.name}, {"uptime_s": 86400.0 + minute * 60,
                                                                       "rebooted": 0}, t))
        if kind in IF_CLASSES:
            for port in range(1, 11):
                down = failing and port == 1
                alias = "uplink to core" if port <= 2 else f"access {port}"
                batch.append(Sample("snmp_if", {**tags, "index": str(port), "name": f"GE0/0/{port}",
                                                "descr": f"GigabitEthernet0/0/{port}", "alias": alias, "type": "6"},
                                    {"oper_status": 2 if down else 1, "admin_status": 1, "speed_mbps": 1000,
                                     "in_bps": 1.2e6, "out_bps": 3.4e6, "in_errors_per_s": 0.0,
                                     "out_errors_per_s": 0.0, "in_discards_per_s": 0.0, "out_discards_per_s": 0.0,
                                     "in_util_pct": 0.12, "out_util_pct": 0.34}, t))
        if kind in HOST_CLASSES:
            batch.append(Sample("snmp_host", tags, {"load1": 0.5, "load5": 0.4, "load15": 0.3, "cpu_idle_pct": 93.0,
                                                    "mem_used_pct": 41.0}, t))
            for cpu in range(2):
                batch.append(Sample("snmp_cpu", {**tags, "cpu": str(cpu)}, {"load_pct": 7.0}, t))
            for number, name in enumerate(("Physical memory", "Swap space", "/", "/var")):
                used = 97.0 if failing and name == "/var" else 55.0
                batch.append(Sample("snmp_storage", {**tags, "index": str(number), "name": name},
                                    {"size_bytes": 1e11, "used_bytes": used * 1e9, "used_pct": used}, t))
        if kind == "ups":
            batch.append(Sample("ups", tags, {"battery_status": 2, "seconds_on_battery_s": 120 if failing else 0,
                                              "runtime_remaining_min": 40.0, "charge_pct": 100.0,
                                              "battery_voltage_v": 434.8, "output_source": 5 if failing else 3,
                                              "output_frequency_hz": 50.0, "input_line_bads": 0,
                                              "alarms_present": 1 if failing else 0}, t))
            batch.append(Sample("ups_input", {**tags, "line": "1"}, {"frequency_hz": 50.0, "voltage_v": 229}, t))
            batch.append(Sample("ups_output", {**tags, "line": "1"}, {"voltage_v": 230, "current_a": 4.0,
                                                                      "power_w": 900, "load_pct": 30}, t))
        if kind == "env_sensor":
            for number in range(8):
                unit = "C" if number < 4 else "%RH"
                value = (38.0 if failing and number == 0 else 24.5) if unit == "C" else 45.0
                batch.append(Sample("env_sensor", {**tags, "index": str(number), "name": f"S{number}",
                                                   "unit": unit}, {"value": value, "state": 1}, t))
            for number in range(6):
                batch.append(Sample("env_input", {**tags, "index": str(number), "name": f"Binary {number}"},
                                    {"value": 0, "alarm": 0}, t))
    return batches


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--minutes", type=int, default=3, help="measured minutes, after one warm-up minute")
    parser.add_argument("--failing", type=float, default=0.05, help="share of failing devices")
    options = parser.parse_args()
    rules = load_rules(RulesSettings(dirs=[]))
    devices = build_fleet(options.devices)
    started = time.process_time()
    engine = RuleEngine(rules, devices, RulesSettings(dirs=[]))
    setup_s = time.process_time() - started
    failing_every = max(1, round(1 / options.failing)) if options.failing > 0 else 10**9
    minutes = [minute_of_samples(devices, minute, failing_every) for minute in range(options.minutes + 1)]
    sample_count = sum(len(batch) for batch in minutes[1])
    spent, transitions, opened = 0.0, 0, 0
    gc.collect()
    for minute, batches in enumerate(minutes):
        started = time.process_time()
        produced = []
        for number, batch in enumerate(batches):
            produced += engine.tick(batch[0].time_ns if batch else T0 + (minute * 60 + number * 10) * S)
            produced += engine.evaluate(batch)
        elapsed = time.process_time() - started
        if minute > 0:  # the first minute opens the faults: warm-up
            spent += elapsed
            transitions += len(produced)
        else:
            opened = sum(1 for t in produced if t.action == "open")
    per_minute = spent / options.minutes
    print(f"fleet: {options.devices} devices, {len(rules.rules)} shipped rules, {sample_count} samples per minute, "
          f"{options.failing:.0%} failing ({opened} faults opened in the warm-up minute, {len(engine.firing())} open)")
    print(f"setup (rule table for every device): {setup_s:.2f} s CPU")
    print(f"rule evaluation: {per_minute:.3f} s CPU per minute of samples = {per_minute / 60 * 100:.2f} % of one core "
          f"(target < 5 %)")
    print(f"throughput: {sample_count / per_minute:,.0f} samples/s on one core; "
          f"{transitions / options.minutes:,.0f} transitions per minute (updates of open faults)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
