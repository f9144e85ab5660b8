"""Every shipped rule, with all shipped rules loaded at once: it opens on a realistic bad
sample and stays quiet on a healthy one. Where an SNMP profile has a recording of a real
device, the samples are that recording run through the profile (as tests/unit/
test_snmp_profiles.py does), healthy as recorded and broken by changing the one value the
rule watches."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable, Iterable

import pytest

from monitor.faults.model import DeviceInfo
from monitor.rules.engine import RuleEngine
from monitor.rules.model import load_rules
from monitor.rules.settings import RulesSettings
from probes.snmp import profiles as sp
from probes.base import Sample
from lab import snmprec

PROFILES = sp.load_all([sp.PACKAGED_PROFILES])
RULES = load_rules(RulesSettings(dirs=[]))
S = 1_000_000_000
T0 = 1_780_000_000 * S
CLASSES = ("mcu", "codec", "phone", "switch", "router", "ups", "nvr", "camera", "server", "env_sensor", "other")
DEVICES = [DeviceInfo(f"{cls}-1", cls, ("district", "machine-room")) for cls in CLASSES]


def tags(device_class: str) -> dict:
    return {"device": f"{device_class}-1", "class": device_class, "site": "machine-room"}


def profile_samples(profile: str, recording: str, device_class: str, changes: dict | None = None,
                    time_s: float = 0, counters: sp.CounterState | None = None) -> list[Sample]:
    values = snmprec.read(recording)
    values.update(changes or {})
    return sp.extract(PROFILES[profile], values, tags(device_class), T0 + int(time_s * S),
                      counters or sp.CounterState())


def opened(timeline: Iterable[list[Sample]]) -> set[tuple[str, str, str]]:
    """(rule, device, instance) of every fault that opened (ticking between batches)."""
    engine = RuleEngine(RULES, DEVICES, RulesSettings(dirs=[]))
    found = set()
    for batch in timeline:
        if batch:
            found |= {(t.rule, t.device, t.instance) for t in engine.tick(batch[0].time_ns) if t.action == "open"}
        found |= {(t.rule, t.device, t.instance) for t in engine.evaluate(batch) if t.action == "open"}
    return found


def every(seconds: float, count: int, make: Callable[[float], list[Sample]]) -> list[list[Sample]]:
    return [make(i * seconds) for i in range(count)]


def rules_of(found) -> set[str]:
    return {rule for rule, _device, _instance in found}


def test_every_shipped_rule_is_covered_here():
    # here, or in a tests/unit/test_rules_shipped_*.py file (one per rule file, e.g. hardware)
    names = set(globals())
    for path in Path(__file__).parent.glob("test_rules_shipped*.py"):
        names |= set(re.findall(r"^def (test_\w+)", path.read_text(), re.MULTILINE))
    tested = {name.removeprefix("test_").split("__")[0] for name in names if name.startswith("test_")}
    assert set(RULES.by_name) <= tested, set(RULES.by_name) - tested


# -- reachability and video ------------------------------------------------------------------------

def icmp(device_class: str, t: float, **fields) -> list[Sample]:
    base = {"up": 1, "sent": 20, "received": 20, "loss_pct": 0.0, "rtt_min_ms": 1.2, "rtt_avg_ms": 2.1,
            "rtt_max_ms": 4.0, "jitter_ms": 0.6, "result_code": 0}
    base.update(fields)
    return [Sample("icmp", tags(device_class), base, T0 + int(t * S))]


def test_device_unreachable():
    samples = [[Sample("icmp", tags("switch"), {"up": 0, "sent": 20, "received": 0, "loss_pct": 100.0,
                                                 "result_code": 1}, T0)]]
    assert opened(samples) == {("device_unreachable", "switch-1", "")}
    assert opened(every(30, 10, lambda t: icmp("switch", t))) == set()


def test_packet_loss_video():
    # 2 of 20 echoes lost (10 %) on three runs in a row at a codec: open on the third.
    lossy = every(30, 3, lambda t: icmp("codec", t, received=18, loss_pct=10.0))
    assert opened(lossy) == {("packet_loss_video", "codec-1", "")}
    assert opened(lossy[:2]) == set()
    assert opened(every(30, 10, lambda t: icmp("codec", t))) == set()
    # the same loss at a printer ("other") is no video problem
    assert opened(every(30, 5, lambda t: icmp("other", t, received=18, loss_pct=10.0))) == set()


def test_jitter_video():
    assert opened(every(30, 3, lambda t: icmp("mcu", t, jitter_ms=45.0))) == {("jitter_video", "mcu-1", "")}
    assert opened(every(30, 10, lambda t: icmp("mcu", t, jitter_ms=12.0))) == set()


def test_rtt_high():
    assert opened(every(30, 5, lambda t: icmp("router", t, rtt_avg_ms=180.0))) == {("rtt_high", "router-1", "")}
    assert opened(every(30, 10, lambda t: icmp("router", t, rtt_avg_ms=35.0))) == set()


# -- UPS (abbups_abbups: RFC 1628; apc_surt3000xl: PowerNet) ------------------------------------------

UPS_MIB = "1.3.6.1.2.1.33.1."


def ups(changes=None, t=0):
    return profile_samples("ups", "abbups_abbups", "ups", changes, t)


def apc(changes=None, t=0):
    return profile_samples("apc_ups", "apc_surt3000xl", "ups", changes, t)


def test_healthy_recorded_ups_units_open_nothing():
    assert opened(every(60, 10, lambda t: ups(t=t) + apc(t=t))) == set()


def test_ups_on_battery():
    assert opened([ups({UPS_MIB + "4.1.0": 5, UPS_MIB + "2.2.0": 40})]) == {("ups_on_battery", "ups-1", "")}


def test_ups_on_battery_apc():
    assert opened([apc({"1.3.6.1.4.1.318.1.1.1.4.1.1.0": 3})]) == {("ups_on_battery_apc", "ups-1", "")}


def test_ups_battery_low():
    assert rules_of(opened([ups({UPS_MIB + "2.1.0": 3})])) == {"ups_battery_low"}
    # APC: upsBasicBatteryStatus 4 = inFaultCondition (the recorded card lacks the object: added)
    assert rules_of(opened([apc({"1.3.6.1.4.1.318.1.1.1.2.1.1.0": 4})])) == {"ups_battery_low"}
    assert opened([apc({"1.3.6.1.4.1.318.1.1.1.2.1.1.0": 2})]) == set()


def test_ups_runtime_short():
    short = every(60, 2, lambda t: ups({UPS_MIB + "2.3.0": 6}, t))
    assert opened(short) == {("ups_runtime_short", "ups-1", "")}
    # APC runtime is TimeTicks: 6 minutes = 36,000 ticks
    assert rules_of(opened(every(60, 2, lambda t: apc({"1.3.6.1.4.1.318.1.1.1.2.2.3.0": 36000}, t)))) == \
        {"ups_runtime_short"}


def test_ups_alarm():
    assert opened(every(60, 2, lambda t: ups({UPS_MIB + "6.1.0": 1}, t))) == {("ups_alarm", "ups-1", "")}


def test_ups_replace_battery():
    assert opened([apc({"1.3.6.1.4.1.318.1.1.1.2.2.4.0": 2})]) == {("ups_replace_battery", "ups-1", "")}


# -- environment (hwg-poseidon, apc_netbotz, akcp_serverprobe8) ------------------------------------

HWG_SENSOR = "1.3.6.1.4.1.21796.3.3.3.1."
NETBOTZ_POD = "1.3.6.1.4.1.318.1.1.10.5.1.1.1."
AKCP = "1.3.6.1.4.1.3854.1.2.2.1."


def env(profile, recording, changes=None, t=0):
    return profile_samples(profile, recording, "env_sensor", changes, t)


def test_healthy_recorded_environment_monitors_open_nothing():
    # The recorded rooms read up to 31.1 °C at rack rears and 20.6 % RH: within range.
    assert opened(every(60, 15, lambda t: env("env_hwg", "hwg-poseidon", t=t) + env("netbotz", "apc_netbotz", t=t)
                        + env("akcp", "akcp_serverprobe8", t=t))) == set()


def test_room_temperature():
    hot = every(60, 6, lambda t: env("netbotz", "apc_netbotz", {NETBOTZ_POD + "5.1": 382}, t))   # 38.2 °C
    assert opened(hot) == {("room_temperature", "env_sensor-1", "THUM-01-A3-F")}
    assert opened(hot[:5]) == set()  # 4 minutes: not yet
    cold = every(60, 6, lambda t: env("akcp", "akcp_serverprobe8", {AKCP + "16.1.14.0": 65}, t))  # 6.5 °C
    assert opened(cold) == {("room_temperature", "env_sensor-1", "Temp.Sensor Carrier")}


def test_room_temperature_hwg():
    hot = every(60, 6, lambda t: env("env_hwg", "hwg-poseidon", {HWG_SENSOR + "6.6": 372}, t))   # T.C4c 37.2 °C
    assert opened(hot) == {("room_temperature_hwg", "env_sensor-1", "T.C4c")}


def test_room_humidity():
    wet = every(60, 11, lambda t: env("akcp", "akcp_serverprobe8", {AKCP + "17.1.3.6": 86}, t))
    assert opened(wet) == {("room_humidity", "env_sensor-1", "Custom Descr 2")}
    dry = every(60, 11, lambda t: env("netbotz", "apc_netbotz", {NETBOTZ_POD + "8.2": 15}, t))
    assert opened(dry) == {("room_humidity", "env_sensor-1", "THUM-02-A6-F")}


def test_room_humidity_hwg():
    wet = every(60, 11, lambda t: env("env_hwg", "hwg-poseidon", {HWG_SENSOR + "6.1": 850}, t))   # 85.0 %RH
    assert opened(wet) == {("room_humidity_hwg", "env_sensor-1", "H.Servidores")}


def test_leak_smoke_alarm():
    leak = env("env_hwg", "hwg-poseidon", {"1.3.6.1.4.1.21796.3.3.1.1.5.3": 1, "1.3.6.1.4.1.21796.3.3.1.1.2.3": 1})
    assert opened([leak]) == {("leak_smoke_alarm", "env_sensor-1", "Binary 3")}


def test_leak_smoke_alarm_netbotz():
    # The recorded fire-alarm inputs read alarm 1 (normal); 3 is critical.
    fire = env("netbotz", "apc_netbotz", {"1.3.6.1.4.1.318.1.1.10.4.3.2.1.7.0.1": 3})
    assert opened([fire]) == {("leak_smoke_alarm_netbotz", "env_sensor-1", "Fire Alarm")}


def test_leak_smoke_alarm_akcp():
    contact = env("akcp", "akcp_serverprobe8", {AKCP + "18.1.3.3": 4})
    assert opened([contact]) == {("leak_smoke_alarm_akcp", "env_sensor-1", "48V Gleichrichter 230V ausgefallen")}


# -- storage -------------------------------------------------------------------------------------------

HIK_DISK_STATUS = "1.3.6.1.4.1.50001.1.241.1.3.1.0"   # hikDiskStatus of the recorded disk (row 1.0)


def test_nvr_disk_abnormal():
    def nvr(status, t):
        return profile_samples("hikvision", "hikvision-nvr", "nvr", {HIK_DISK_STATUS: status}, t)
    assert opened(every(60, 2, lambda t: nvr(3, t))) == {("nvr_disk_abnormal", "nvr-1", "1.0")}   # SMART failed
    assert opened(every(60, 1, lambda t: nvr(3, t))) == set()                                     # one poll: not yet
    # normal, idle (asleep) and the recorder's own disk use (70 %: it records in overwrite mode)
    assert opened(every(60, 4, lambda t: nvr(0, t)) + every(60, 4, lambda t: nvr(5, t + 300))) == set()


def test_storage_almost_full():
    # openwrt: /overlay 88.3 % used (below 90), /rom 100 % (a read-only image): both quiet.
    assert opened(every(60, 3, lambda t: profile_samples("host", "openwrt", "server", time_s=t))) == set()
    full = every(60, 2, lambda t: profile_samples("host", "openwrt", "server",
                                                  {"1.3.6.1.2.1.25.2.3.1.6.33": 5900}, t))   # 98.9 %
    assert opened(full) == {("storage_almost_full", "server-1", "/overlay")}


def test_storage_almost_full_ssh():
    def df(used_pct, t, mount="/var"):
        return [Sample("ssh_disk", {**tags("server"), "filesystem": "/dev/sda3", "mount": mount},
                       {"size_kb": 102687672, "used_kb": int(102687672 * used_pct / 100), "used_pct": used_pct},
                       T0 + int(t * S))]
    assert opened(every(300, 2, lambda t: df(96, t))) == {("storage_almost_full_ssh", "server-1", "/var")}
    assert opened(every(300, 2, lambda t: df(61, t)) + every(300, 2, lambda t: df(100, t + 900, "/snap/core/1"))) \
        == set()


# -- ports (Cisco_sfe2000: port 1 down, port 2 up) -----------------------------------------------------

IF_ALIAS = "1.3.6.1.2.1.31.1.1.1.18."
IF_ADMIN = "1.3.6.1.2.1.2.2.1.7."


def ports(device_class, changes):
    return profile_samples("if", "Cisco_sfe2000", device_class, changes)


def test_important_port_down():
    uplink_down = ports("switch", {IF_ALIAS + "1": b"Uplink to core-sw-01", IF_ADMIN + "1": 1})
    assert opened([uplink_down]) == {("important_port_down", "switch-1", "e1")}
    # the same down port without an important description, or shut on purpose: quiet
    assert opened([ports("switch", {IF_ALIAS + "1": b"printer 3F", IF_ADMIN + "1": 1})]) == set()
    assert opened([ports("switch", {IF_ALIAS + "1": b"uplink", IF_ADMIN + "1": 2})]) == set()
    assert opened([ports("switch", {IF_ALIAS + "2": b"to MCU"})]) == set()      # port 2 is up


def test_conference_port_down():
    assert opened([ports("codec", {IF_ADMIN + "1": 1})]) == {("conference_port_down", "codec-1", "e1")}
    assert opened([ports("codec", {IF_ADMIN + "1": 2})]) == set()


# -- CPU and memory ---------------------------------------------------------------------------------

HUAWEI = "1.3.6.1.4.1.2011.5.25.31.1.1.1.1."


def five_minutes(make):
    return every(60, 6, make)


def test_healthy_recorded_devices_open_no_load_rule():
    def healthy(t):
        return (profile_samples("huawei_vrp", "vrp_ar169fgwl", "router", time_s=t)
                + profile_samples("h3c_comware", "comware", "switch", time_s=t)
                + profile_samples("cisco_ios", "ios_2960x", "switch", time_s=t)
                + profile_samples("host", "aix_net-snmp", "server", time_s=t)
                + profile_samples("hikvision", "hikvision-nvr", "nvr", time_s=t)
                + profile_samples("dahua", "dahua-nvr", "nvr", time_s=t))
    assert opened(five_minutes(healthy)) == set()


def test_cpu_high():
    busy = five_minutes(lambda t: profile_samples("huawei_vrp", "vrp_ar169fgwl", "router", {HUAWEI + "5.9": 97}, t))
    assert opened(busy) == {("cpu_high", "router-1", "SRU Board 0")}
    assert opened(busy[:5]) == set()
    ssh = five_minutes(lambda t: [Sample("ssh_command", {**tags("switch"), "command": "display cpu-usage"},
                                         {"ok": 1, "cpu_pct": 93.0}, T0 + int(t * S))])
    assert opened(ssh) == {("cpu_high", "switch-1", "")}


def test_cpu_high_cisco():
    busy = five_minutes(lambda t: profile_samples("cisco_ios", "ios_2960x", "switch",
                                                  {"1.3.6.1.4.1.9.9.109.1.1.1.1.8.1": 96}, t))
    assert opened(busy) == {("cpu_high_cisco", "switch-1", "1")}


def test_cpu_high_host():
    busy = five_minutes(lambda t: profile_samples("host", "aix_net-snmp", "server",
                                                  {"1.3.6.1.4.1.2021.11.11.0": 3}, t))
    assert opened(busy) == {("cpu_high_host", "server-1", "")}


def test_memory_high():
    full = five_minutes(lambda t: profile_samples("h3c_comware", "comware", "switch",
                                                  {"1.3.6.1.4.1.25506.2.6.1.1.1.1.8.42": 94}, t))
    assert opened(full) == {("memory_high", "switch-1", "Board 0")}


def test_memory_high_host():
    # AIX: 8 GiB total, 300 MiB available -> 96 % used
    full = five_minutes(lambda t: profile_samples("host", "aix_net-snmp", "server",
                                                  {"1.3.6.1.4.1.2021.4.6.0": 307200}, t))
    assert opened(full) == {("memory_high_host", "server-1", "")}
    nvr = five_minutes(lambda t: profile_samples("hikvision", "hikvision-nvr", "nvr",
                                                 {"1.3.6.1.4.1.50001.1.221.0": 97}, t))
    assert opened(nvr) == {("memory_high_host", "nvr-1", "")}


def test_memory_high_cisco():
    full = five_minutes(lambda t: profile_samples("cisco_ios", "ios_2960x", "switch",
                                                  {"1.3.6.1.4.1.9.9.48.1.1.1.6.2": 200000}, t))   # I/O pool 98 %
    assert opened(full) == {("memory_high_cisco", "switch-1", "I/O")}


# -- events --------------------------------------------------------------------------------------------

def test_device_rebooted():
    counters = sp.CounterState()
    first = profile_samples("system", "vrp_ar169fgwl", "router", time_s=0, counters=counters)
    later = profile_samples("system", "vrp_ar169fgwl", "router", time_s=60, counters=counters)
    assert later[0].fields["rebooted"] == 0
    assert opened([first, later]) == set()
    rebooted = profile_samples("system", "vrp_ar169fgwl", "router", {"1.3.6.1.2.1.1.3.0": 1200}, 120, counters)
    assert rebooted[0].fields["rebooted"] == 1
    assert opened([first, later, rebooted]) == {("device_rebooted", "router-1", "")}


def test_config_changed():
    change = Sample("config_changed", tags("switch"), {
        "version": 8, "previous_version": 7, "added": 2, "removed": 1,
        "diff": "--- 7\n+++ 8\n@@ -12 +12,2 @@\n-interface GigabitEthernet0/0/1\n+interface GigabitEthernet0/0/2\n"
                "+ description uplink\n"}, T0)
    engine = RuleEngine(RULES, DEVICES, RulesSettings(dirs=[]))
    [fault] = engine.evaluate([change])
    assert (fault.action, fault.rule, fault.severity) == ("open", "config_changed", "warning")
    assert fault.message == ("switch-1 at machine-room: configuration changed, version 7 -> 8 (+2 / -1 lines); "
                             "check it was approved: netvigil config diff switch-1")
    # manual: a day later it is still open
    assert engine.tick(T0 + 86400 * S) == [] and engine.firing() == {("switch-1", "config_changed", "")}
    backup_ok = Sample("ssh_config", tags("switch"), {"ok": 1, "error_code": 0, "changed": 0, "version": 8}, T0)
    assert opened([[backup_ok]]) == set()


def test_ssh_host_key_changed():
    ssh = lambda code, t: [Sample("ssh", tags("switch"), {"up": 1, "result_code": 4 if code else 0,  # noqa: E731
                                                          "error_code": code}, T0 + int(t * S))]
    assert opened([ssh(7, 0)]) == {("ssh_host_key_changed", "switch-1", "")}
    assert opened(every(300, 3, lambda t: ssh(0, t))) == set()


@pytest.mark.parametrize("rule", sorted(RULES.by_name))
def test_every_shipped_rule_is_documented(rule):
    text = RULES.by_name[rule]
    assert text.spec.description and text.spec.message != "" and "{device}" in text.spec.message


def _snmp(code: int, t: float) -> list[Sample]:
    return [Sample("snmp", tags("ups"), {"up": 0 if code == 1 else 1, "result_code": 1 if code == 1 else 0,
                                         "error_code": code, "duration_ms": 12.0}, T0 + int(t * S))]


def test_snmp_not_answering():
    assert opened(every(60, 2, lambda t: _snmp(1, t))) == {("snmp_not_answering", "ups-1", "")}
    assert opened(every(60, 1, lambda t: _snmp(1, t))) == set()  # one lost poll is not a fault
    assert opened(every(60, 5, lambda t: _snmp(0, t))) == set()


def test_snmp_auth_failed():
    assert opened(every(60, 2, lambda t: _snmp(4, t))) == {("snmp_auth_failed", "ups-1", "")}
    assert opened(every(60, 5, lambda t: _snmp(0, t))) == set()


def test_ssh_login_failed():
    ssh = lambda code, t: [Sample("ssh", tags("switch"), {"up": 1, "result_code": 4 if code else 0,  # noqa: E731
                                                          "error_code": code}, T0 + int(t * S))]
    assert opened(every(300, 2, lambda t: ssh(4, t))) == {("ssh_login_failed", "switch-1", "")}
    assert opened(every(300, 3, lambda t: ssh(0, t))) == set()


def _snmp_poll(code: int, t: float, empty: tuple[str, ...] = ()) -> list[Sample]:
    """An `snmp` sample as the poller writes it for an agent that answered (tests/integration/
    test_snmp_poller.py checks the poller writes exactly this)."""
    fields = {"up": 1, "result_code": 4 if code else 0, "error_code": code, "duration_ms": 9.0, "requests": 3,
              "varbinds": 6, "profiles": 2, "rows": 0, "tables_dropped": 0, "wrong_type": 0,
              "profiles_empty": len(empty)}
    return [Sample("snmp", {**tags("ups"), **({"empty_profiles": ",".join(empty)} if empty else {})}, fields,
                   T0 + int(t * S))]


def test_snmp_no_data():
    no_data = lambda t: _snmp_poll(14, t, ("ups",))  # noqa: E731 - the UPS card speaks another MIB
    assert opened(every(60, 3, no_data)) == {("snmp_no_data", "ups-1", "")}
    assert opened(every(60, 2, no_data)) == set()  # an agent starting up, a reload: not yet
    assert opened(every(60, 5, lambda t: _snmp_poll(0, t))) == set()
    # Some profiles finding nothing while another finds data is normal (no ENTITY-SENSOR-MIB).
    assert opened(every(60, 5, lambda t: _snmp_poll(0, t, ("entity_sensor",)))) == set()


def test_snmp_no_data__clears_when_data_comes_back_and_says_which_profiles():
    engine = RuleEngine(RULES, DEVICES, RulesSettings(dirs=[]))
    opened_now = [t for i in range(3) for t in engine.evaluate(_snmp_poll(14, 60 * i, ("ups",)))]
    assert [(t.action, t.rule) for t in opened_now] == [("open", "snmp_no_data")]
    assert opened_now[0].message.startswith("ups-1 at machine-room: SNMP answers, but the profiles ups found nothing")
    assert [(t.action, t.rule) for t in engine.evaluate(_snmp_poll(0, 180))] == [("clear", "snmp_no_data")]


def test_snmp_no_system_group():
    assert opened(every(60, 2, lambda t: _snmp_poll(15, t))) == {("snmp_no_system_group", "ups-1", "")}
    assert opened(every(60, 1, lambda t: _snmp_poll(15, t))) == set()
    assert opened(every(60, 5, lambda t: _snmp_poll(0, t))) == set()
    assert opened(every(60, 5, lambda t: _snmp_poll(14, t, ("ups",)))) == {("snmp_no_data", "ups-1", "")}
# -- RAID controllers and video recorders (devices.yaml) ----------------------------------------------

LSI = "1.3.6.1.4.1.3582.4.1.4"
VD_DEGRADED, VD_OFFLINE = f"{LSI}.1.2.1.19", f"{LSI}.1.2.1.20"    # adapterPropertiesTable, per controller
PD_STATE, PD_TEMPERATURE, PD_PRED_FAIL = f"{LSI}.2.1.2.1.10", f"{LSI}.2.1.2.1.36", f"{LSI}.2.1.2.1.9"
ROC_TEMPERATURE = f"{LSI}.1.2.1.42"
BBU_STATE, BBU_REPLACE, BBU_TEMPERATURE = f"{LSI}.1.6.2.1.29", f"{LSI}.1.6.2.1.27", f"{LSI}.1.6.2.1.16"


def raid(changes=None, t=0):
    """The recorded server with three MegaRAID controllers, 92 disks and two CacheVaults."""
    return profile_samples("megaraid", "linux_lsi", "server", changes, t)


def test_healthy_recorded_raid_server_and_dahua_nvr_open_nothing():
    # As recorded: every array optimal, 90 JBOD disks and a mirrored pair online, 32-42 °C
    # disks, 55-74 °C controllers, both CacheVaults operational (replacement flag -1: unknown).
    assert opened(every(300, 6, lambda t: raid(t=t))) == set()
    assert opened(every(60, 4, lambda t: profile_samples("dahua", "dahua-nvr", "nvr", time_s=t))) == set()


def test_raid_virtual_drive_degraded():
    degraded = every(60, 2, lambda t: raid({f"{VD_DEGRADED}.0": 1}, t))
    assert opened(degraded) == {("raid_virtual_drive_degraded", "server-1", "0")}
    assert opened(every(60, 1, lambda t: raid({f"{VD_DEGRADED}.0": 1}, t))) == set()        # one poll: not yet
    assert opened(every(60, 2, lambda t: raid({f"{VD_OFFLINE}.2": 1}, t))) == {
        ("raid_virtual_drive_degraded", "server-1", "2")}


def test_raid_disk_failed():
    assert opened(every(60, 2, lambda t: raid({f"{PD_STATE}.1": 17}, t))) == {("raid_disk_failed", "server-1", "1")}
    assert opened(every(60, 2, lambda t: raid({f"{PD_STATE}.40": 16}, t))) == {("raid_disk_failed", "server-1", "40")}
    # A rebuild onto the replacement disk, a hot spare: not faults.
    assert opened(every(60, 4, lambda t: raid({f"{PD_STATE}.1": 20, f"{PD_STATE}.2": 2}, t))) == set()


def test_raid_disk_predictive_failure():
    assert opened(every(60, 2, lambda t: raid({f"{PD_PRED_FAIL}.5": 3}, t))) == {
        ("raid_disk_predictive_failure", "server-1", "5")}


def test_raid_disk_temperature_high():
    hot = every(120, 6, lambda t: raid({f"{PD_TEMPERATURE}.10": 58}, t))                     # 10 minutes at 58 °C
    assert opened(hot) == {("raid_disk_temperature_high", "server-1", "10")}
    assert opened(every(120, 6, lambda t: raid({f"{PD_TEMPERATURE}.10": 54}, t))) == set()  # warm, within spec
    assert opened(every(120, 3, lambda t: raid({f"{PD_TEMPERATURE}.10": 58}, t))) == set()  # 4 minutes: a burst


def test_raid_controller_temperature_high():
    assert opened(every(120, 6, lambda t: raid({f"{ROC_TEMPERATURE}.2": 98}, t))) == {
        ("raid_controller_temperature_high", "server-1", "2")}
    assert opened(every(120, 6, lambda t: raid({f"{ROC_TEMPERATURE}.2": 90}, t))) == set()


def test_raid_bbu_failed():
    assert opened(every(60, 2, lambda t: raid({f"{BBU_STATE}.1": b"Non-Operational"}, t))) == {
        ("raid_bbu_failed", "server-1", "1")}


def test_raid_bbu_replace():
    assert opened(every(60, 2, lambda t: raid({f"{BBU_REPLACE}.0": 1}, t))) == {("raid_bbu_replace", "server-1", "0")}
    assert opened(every(60, 4, lambda t: raid({f"{BBU_REPLACE}.0": 0}, t))) == set()


def test_raid_bbu_temperature_high():
    assert opened(every(120, 6, lambda t: raid({f"{BBU_TEMPERATURE}.0": b"53 (High)"}, t))) == {
        ("raid_bbu_temperature_high", "server-1", "0")}
    assert opened(every(120, 6, lambda t: raid({f"{BBU_TEMPERATURE}.0": b"45 (Normal)"}, t))) == set()


def test_raid_enclosure_fault():
    # The recorded server's four enclosures (device ids 8, 9, 63, 85) report no fault.
    assert opened(every(60, 2, lambda t: raid({"1.3.6.1.4.1.3582.4.1.5.2.1.10.2": 1}, t))) == {
        ("raid_enclosure_fault", "server-1", "63")}


def test_dahua_status_bad():
    def dahua(status, t):
        return profile_samples("dahua", "dahua-nvr", "nvr", {"1.3.6.1.4.1.1004849.2.1.2.8.0": status}, t)
    assert opened(every(60, 2, lambda t: dahua(0, t))) == {("dahua_status_bad", "nvr-1", "")}
    assert opened(every(60, 1, lambda t: dahua(0, t))) == set()
