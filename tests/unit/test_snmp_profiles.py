"""Shipped SNMP profiles against recorded walks of real devices (LibreNMS recordings in
tests/fixtures/devices and tests/fixtures/snmprec, with the values LibreNMS extracted as the
reference), and the profile engine's own rules."""

from __future__ import annotations

import json
import math

import pytest

from probes.snmp import profiles as sp
from lab import snmprec

PROFILES = sp.load_all([sp.PACKAGED_PROFILES])
TAGS = {"device": "dev", "class": "ups"}
T0 = 1_700_000_000 * 10**9


def _samples(profile: str, recording: str, counters=None):
    return sp.extract(PROFILES[profile], snmprec.read(recording), TAGS, T0, counters or sp.CounterState())


def _by_measurement(samples):
    out: dict = {}
    for sample in samples:
        out.setdefault(sample.measurement, []).append(sample)
    return out


def test_every_shipped_profile_loads_and_names_are_unique():
    assert {"system", "ups", "host"} <= set(PROFILES)
    for path in sp.PACKAGED_PROFILES.glob("*.yaml"):
        assert sp.load_file(path).name == path.stem


def test_ups_profile_on_a_real_three_phase_ups():
    samples = _by_measurement(_samples("ups", "abbups_abbups"))
    ups = samples["ups"][0].fields
    assert ups["battery_status"] == 2          # normal
    assert ups["charge_pct"] == 100
    assert ups["runtime_remaining_min"] == 452
    assert ups["seconds_on_battery_s"] == 0
    assert ups["battery_voltage_v"] == pytest.approx(434.8)
    assert ups["output_source"] == 3           # normal (not on battery, not bypass)
    assert ups["output_frequency_hz"] == pytest.approx(50.0)
    output = {s.tags["line"]: s.fields for s in samples["ups_output"]}
    assert set(output) == {"1", "2", "3"}
    assert [output[line]["load_pct"] for line in "123"] == [6, 6, 4]
    assert [output[line]["current_a"] for line in "123"] == [pytest.approx(0.7), pytest.approx(0.8),
                                                             pytest.approx(0.5)]
    assert [output[line]["voltage_v"] for line in "123"] == [230, 230, 230]
    inputs = {s.tags["line"]: s.fields for s in samples["ups_input"]}
    assert [inputs[line]["voltage_v"] for line in "123"] == [239, 239, 238]
    assert inputs["1"]["frequency_hz"] == pytest.approx(50.0)


def test_ups_values_agree_with_what_librenms_extracted():
    expected = json.loads((snmprec.EXPECTED / "abbups_abbups.json").read_text())
    sensors = {s["sensor_oid"].lstrip("."): s["sensor_current"] for s in expected["sensors"]["discovery"]["sensors"]}
    ups = _by_measurement(_samples("ups", "abbups_abbups"))["ups"][0].fields
    assert ups["charge_pct"] == sensors["1.3.6.1.2.1.33.1.2.4.0"]
    assert ups["runtime_remaining_min"] == sensors["1.3.6.1.2.1.33.1.2.3.0"]
    assert ups["battery_voltage_v"] == pytest.approx(sensors["1.3.6.1.2.1.33.1.2.5.0"])


def test_absurd_ups_readings_are_dropped_not_graphed():
    values = snmprec.read("abbups_abbups")
    values["1.3.6.1.2.1.33.1.2.3.0"] = 65535        # "unknown" runtime some cards report
    values["1.3.6.1.2.1.33.1.2.4.0"] = 255           # charge beyond 100 %
    ups = sp.extract(PROFILES["ups"], values, TAGS, T0, sp.CounterState())[0].fields
    assert "runtime_remaining_min" not in ups and "charge_pct" not in ups
    assert ups["battery_status"] == 2


def test_system_profile_tags_and_reboot_detection():
    counters = sp.CounterState()
    values = snmprec.read("vrp_ar169fgwl")
    first = _by_measurement(sp.extract(PROFILES["system"], values, TAGS, T0, counters))["snmp_system"][0]
    assert first.tags["sys_object_id"] == "1.3.6.1.4.1.2011.2.224.133"
    assert first.tags["sys_descr"].startswith("Huawei AR169FGW-L Huawei Versatile Routing Platform")
    assert first.fields["rebooted"] == 0
    uptime = values["1.3.6.1.2.1.1.3.0"]
    assert first.fields["uptime_s"] == pytest.approx(uptime / 100)
    values["1.3.6.1.2.1.1.3.0"] = 1234                # the device restarted
    second = sp.extract(PROFILES["system"], values, TAGS, T0 + 60 * 10**9, counters)[0]
    assert second.fields["rebooted"] == 1
    third = sp.extract(PROFILES["system"], values | {"1.3.6.1.2.1.1.3.0": 7234}, TAGS, T0 + 120 * 10**9,
                       counters)[0]
    assert third.fields["rebooted"] == 0


HR_SYSTEM_UPTIME, SNMP_ENGINE_TIME = "1.3.6.1.2.1.25.1.1.0", "1.3.6.1.6.3.10.2.1.3.0"


@pytest.mark.parametrize("recording,source,uptime_s", [
    ("aix_net-snmp", 1, 438997609 / 100),       # has all three: sysUpTime wins
    ("openwrt", 2, 3834774601 / 100),           # no sysUpTime: hrSystemUptime (TimeTicks)
    ("Cisco_sfe2000", 3, 4768598),              # neither: snmpEngineTime (seconds)
])
def test_the_uptime_falls_back_to_hr_system_uptime_then_snmp_engine_time(recording, source, uptime_s):
    system = sp.extract(PROFILES["system"], snmprec.read(recording), TAGS, T0, sp.CounterState())[0]
    assert system.fields == {"uptime_s": pytest.approx(uptime_s), "rebooted": 0, "uptime_source": source}
    assert system.tags["sys_object_id"] == snmprec.read(recording)["1.3.6.1.2.1.1.2.0"].lstrip(".")


@pytest.mark.parametrize("recording", ["abbups_abbups", "apc_surt3000xl"])
def test_an_agent_without_any_uptime_still_gets_its_system_sample(recording):
    """Real UPS cards answer sysDescr and sysObjectID but none of the three uptimes: the sample
    keeps the tags (they were lost before), with uptime_source 0 as its field."""
    values = snmprec.read(recording)
    assert not {"1.3.6.1.2.1.1.3.0", HR_SYSTEM_UPTIME, SNMP_ENGINE_TIME} & set(values)
    system = sp.extract(PROFILES["system"], values, TAGS, T0, sp.CounterState())
    assert [(s.measurement, s.fields) for s in system] == [("snmp_system", {"uptime_source": 0})]
    assert system[0].tags["sys_descr"] == values["1.3.6.1.2.1.1.1.0"].decode()
    assert system[0].tags["sys_object_id"] == values["1.3.6.1.2.1.1.2.0"]


def test_nothing_of_the_system_group_writes_no_system_sample():
    assert sp.extract(PROFILES["system"], {}, TAGS, T0, sp.CounterState()) == []


def test_a_reboot_is_seen_through_snmp_engine_time():
    counters = sp.CounterState()
    values = snmprec.read("Cisco_sfe2000")            # no sysUpTime, no hrSystemUptime
    first = sp.extract(PROFILES["system"], values, TAGS, T0, counters)[0]
    later = sp.extract(PROFILES["system"], values | {SNMP_ENGINE_TIME: 4768658}, TAGS, T0 + 60 * 10**9, counters)[0]
    assert (first.fields["rebooted"], later.fields["rebooted"]) == (0, 0)
    booted = sp.extract(PROFILES["system"], values | {SNMP_ENGINE_TIME: 12}, TAGS, T0 + 120 * 10**9, counters)[0]
    assert booted.fields == {"uptime_s": 12, "rebooted": 1, "uptime_source": 3}


def test_a_change_of_uptime_source_is_no_reboot():
    """hrSystemUptime is the host's uptime, sysUpTime the agent's: an agent that starts
    answering sysUpTime (lower than the host's) has not rebooted."""
    counters = sp.CounterState()
    values = snmprec.read("openwrt")
    assert sp.extract(PROFILES["system"], values, TAGS, T0, counters)[0].fields["uptime_source"] == 2
    both = sp.extract(PROFILES["system"], values | {"1.3.6.1.2.1.1.3.0": 500}, TAGS, T0 + 60 * 10**9, counters)[0]
    assert both.fields == {"uptime_s": 5, "rebooted": 0, "uptime_source": 1}
    assert counters.note_uptime(4.0, "1.3.6.1.2.1.1.3.0") is True      # the same source going back is one


def test_host_profile_on_openwrt_matches_librenms():
    samples = _by_measurement(_samples("host", "openwrt"))
    host = samples["snmp_host"][0].fields
    assert host["load1"] == pytest.approx(0.16)
    assert host["cpu_idle_pct"] == 97
    # No UCD memory group in this walk: memory from hrStorage, without buffers and page cache,
    # as LibreNMS reads it: "Physical memory" used 50,618,368 B = (72852 - 2204 - 21216) x 1024.
    assert host["mem_used_pct"] == pytest.approx((72852 - 2204 - 21216) / 509384 * 100)
    [physical] = [m for m in json.loads((snmprec.EXPECTED / "openwrt.json").read_text())["mempools"]["discovery"]
                  ["mempools"] if m["mempool_descr"] == "Physical memory"]
    assert physical["mempool_used"] == (72852 - 2204 - 21216) * 1024
    assert round(host["mem_used_pct"]) == physical["mempool_perc"] == 10
    cpus = sorted(s.fields["load_pct"] for s in samples["snmp_cpu"])
    assert cpus == [2, 3]
    storage = {s.tags["name"]: s.fields for s in samples["snmp_storage"]}
    assert storage["/overlay"]["used_pct"] == pytest.approx(5268 / 5963 * 100)
    expected = json.loads((snmprec.EXPECTED / "openwrt.json").read_text())
    overlay = [s for s in expected["storage"]["discovery"]["storage"] if s["storage_descr"] == "/overlay"][0]
    assert round(storage["/overlay"]["used_pct"]) == round(overlay["storage_perc"])
    assert storage["/overlay"]["size_bytes"] == 5963 * 4096


def test_host_profile_on_aix_drops_the_minus_one_storage_and_computes_memory():
    samples = _by_measurement(_samples("host", "aix_net-snmp"))
    host = samples["snmp_host"][0].fields
    assert host["load1"] == pytest.approx(0.57)
    # UCD total minus free: this AIX agent reports no memBuffer/memCached (and hrStorage has no
    # buffers or cache rows), so nothing is subtracted.
    assert host["mem_used_pct"] == pytest.approx((8388608 - 6073992) / 8388608 * 100)
    assert "mem_total_kb" not in host and "ram_row" not in host   # inputs of derived fields are not written
    storage = {s.tags["name"]: s.fields for s in samples["snmp_storage"]}
    assert "used_pct" not in storage.get("/aha", {})   # size and used are -1: no reading, not 100 %
    assert storage["Physical memory"]["used_bytes"] == 578654 * 4096


def test_host_memory_of_a_linux_server_leaves_buffers_and_cache_out_as_librenms_does():
    """linux_lsi (a net-snmp Linux server, no UCD memory group): hrStorage "Physical memory"
    87,508,416 kB used of 131,714,596, of which 215,652 "Memory buffers" and 763,148 "Cached
    memory". LibreNMS (tests/data/linux_lsi.json @ 828adb1a) reads 88,606,326,784 B used, 66 %."""
    [host] = _by_measurement(_samples("host", "linux_lsi"))["snmp_host"]
    used_kb = 87508416 - 215652 - 763148
    assert used_kb * 1024 == 88606326784
    assert host.fields == {"mem_used_pct": pytest.approx(used_kb / 131714596 * 100)}
    assert round(host.fields["mem_used_pct"]) == 66
    # The same figures from UCD-SNMP-MIB (memTotalReal, memAvailReal = MemFree, memBuffer,
    # memCached, kB) win over hrStorage, and give the same answer.
    ucd = snmprec.read("linux_lsi") | {"1.3.6.1.4.1.2021.4.5.0": 131714596,
                                       "1.3.6.1.4.1.2021.4.6.0": 131714596 - 87508416,
                                       "1.3.6.1.4.1.2021.4.14.0": 215652, "1.3.6.1.4.1.2021.4.15.0": 763148}
    [from_ucd] = [s for s in sp.extract(PROFILES["host"], ucd, TAGS, T0, sp.CounterState())
                  if s.measurement == "snmp_host"]
    assert from_ucd.fields["mem_used_pct"] == pytest.approx(used_kb / 131714596 * 100)
    # Another agent's row 1 that is not RAM (a Windows server lists its disks first) gives no figure.
    windows = snmprec.read("linux_lsi") | {"1.3.6.1.2.1.25.2.3.1.2.1": "1.3.6.1.2.1.25.2.1.4"}   # hrStorageFixedDisk
    assert [s for s in sp.extract(PROFILES["host"], windows, TAGS, T0, sp.CounterState())
            if s.measurement == "snmp_host"] == []


def test_counter_rates_wrap_reset_and_missing_samples():
    state = sp.CounterState()
    assert state.rate("c", 100, 0, 32) is None                       # first reading
    assert state.rate("c", 1100, 10 * 10**9, 32) == 100.0            # 1000 in 10 s
    assert state.rate("c", 50, 20 * 10**9, 32) is None               # went down from the lower half: a reset
    state.rate("c", (1 << 32) - 500, 30 * 10**9, 32)
    assert state.rate("c", 500, 40 * 10**9, 32) == 100.0             # 32-bit wrap
    state.rate("h", 2**63, 0, 64)
    assert state.rate("h", 5, 10 * 10**9, 64) is None                # a 64-bit counter never wraps: reset
    assert state.rate("c", 600, 40 * 10**9, 32) is None              # no time passed
    assert state.rate("c", 1600, 60 * 10**9, 32) == 50.0             # a missed poll: rate over the whole gap
    assert state.note_uptime(1000) is False
    assert state.note_uptime(10) is True and state.readings == {}    # reboot clears counter state


@pytest.mark.parametrize("text,problem", [
    ("name: Bad\n", "name: String should match pattern"),
    ("name: x\nscalars: [{oid: 1.3.6, field: a}]\n", "scalars need a measurement"),
    ("name: x\nmeasurement: m\nscalars: [{oid: 1.3.6, field: a, tag: b}]\n", "give exactly one of field or tag"),
    ("name: x\nmeasurement: m\nscalars: [{oid: 1.3.6, field: a}]\nderived: [{field: b, expr: __import__('os')}]\n",
     "expr may call log10 with one argument only"),
    ("name: x\nmeasurement: m\nscalars: [{oid: 'iso.3.6', field: a}]\n", "scalars.0.oid: String should match"),
    ("name: x\nmatch: {classes: [server], requires_oid: LSI-MegaRAID-SAS-MIB::adapterID-APT.0}\n",
     "match.requires_oid: String should match pattern"),
])
def test_a_broken_profile_is_a_sentence_naming_file_and_key(tmp_path, text, problem):
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    with pytest.raises(sp.ProfileError) as caught:
        sp.load_file(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert problem in str(caught.value)


def test_profiles_are_selected_by_class_and_sysobjectid_prefix():
    names = lambda cls, oid: sorted(p.name for p in sp.select(PROFILES, cls, oid))  # noqa: E731
    assert names("ups", "1.3.6.1.4.1.8072.3.2.10") == ["host", "system", "ups"]
    assert names("switch", "1.3.6.1.4.1.9.6.1.70.2000.1") == ["entity_sensor", "entity_sensor_optics", "if", "system"]
    assert names("other", ".1.3.6.1.4.1.8072.3.2.15") == ["host", "system"]
    assert names("other", "1.3.6.1.4.1.8072.3.20") == ["system"]    # a prefix match is per sub-identifier


def test_if_profile_on_a_real_switch_status_rates_and_utilisation():
    counters = sp.CounterState()
    values = snmprec.read("Cisco_sfe2000")
    first = {s.tags["name"]: s.fields for s in sp.extract(PROFILES["if"], values, TAGS, T0, counters)}
    assert len(first) == 52                              # every port of the 24+4-port switch's table
    assert first["e1"]["oper_status"] == 2 and first["e2"]["oper_status"] == 1
    assert "in_bps" not in first["g4"]                   # one reading: no rate yet
    later = dict(values)
    later["1.3.6.1.2.1.31.1.1.1.6.52"] = 568747945780 + 125_000_000 * 60    # 1 Gbit/s ... in 60 s
    later["1.3.6.1.2.1.31.1.1.1.10.52"] = 488457317721 + 1_250_000 * 60     # 10 Mbit/s out
    second = {s.tags["name"]: s.fields for s in sp.extract(PROFILES["if"], later, TAGS, T0 + 60 * 10**9, counters)}
    g4 = second["g4"]
    assert g4["in_bps"] == pytest.approx(1e9)
    assert g4["out_bps"] == pytest.approx(1e7)
    assert g4["speed_mbps"] == 100
    assert "in_util_pct" not in g4                       # 1 Gbit/s on a 100 Mbit/s port is implausible: dropped
    assert g4["out_util_pct"] == pytest.approx(10.0)


def test_a_device_selects_its_ports_by_name_alias_or_type():
    values = snmprec.read("Cisco_sfe2000")
    uplinks_only = {"snmp_if": sp.RowFilter(include={"name": r"^g\d+$"})}
    names = {s.tags["name"] for s in sp.extract(PROFILES["if"], values, TAGS, T0, sp.CounterState(), uplinks_only)}
    assert names == {"g1", "g2", "g3", "g4"}
    values["1.3.6.1.2.1.2.2.1.3.5"] = 24                # pretend port 5 is a loopback
    names = {s.tags["index"] for s in sp.extract(PROFILES["if"], values, TAGS, T0, sp.CounterState())}
    assert "5" not in names and "6" in names


def test_the_corrupted_portlist_values_of_the_recording_do_not_break_extraction():
    values = snmprec.read("Cisco_sfe2000")
    assert any(len(v) > 300 for v in values.values() if isinstance(v, bytes))   # the 353-byte junk is there
    for profile in PROFILES.values():
        sp.extract(profile, values, TAGS, T0, sp.CounterState())  # must not raise


def test_environment_monitor_probes_and_inputs():
    samples = _by_measurement(_samples("env_hwg", "hwg-poseidon"))
    sensors = {s.tags["name"]: (s.tags["unit"], s.fields) for s in samples["env_sensor"]}
    assert len(sensors) == 8
    assert sensors["H.Servidores"][0] == "%RH" and sensors["H.Servidores"][1]["value"] == pytest.approx(30.3)
    assert sensors["T.C4c"][0] == "C" and sensors["T.C4c"][1]["value"] == pytest.approx(31.1)
    assert sensors["T.Servidores"][1]["value"] == pytest.approx(23.6)
    assert all(fields["state"] == 1 for _unit, fields in sensors.values())
    inputs = {s.tags["name"]: s.fields for s in samples["env_input"]}
    assert set(inputs) == {f"Binary {i}" for i in range(1, 7)}
    assert inputs["Binary 1"] == {"value": 0, "alarm": 0}
    expected = json.loads((snmprec.EXPECTED / "hwg-poseidon.json").read_text())
    reference = {s["sensor_descr"]: s["sensor_current"] for s in expected["sensors"]["discovery"]["sensors"]
                 if s["sensor_class"] in ("temperature", "humidity")}
    for name, (_unit, fields) in sensors.items():
        assert fields["value"] == pytest.approx(reference[name]), name


def test_huawei_vrp_board_health_from_a_real_router():
    samples = _by_measurement(_samples("huawei_vrp", "vrp_ar169fgwl"))
    boards = {s.tags["name"]: s.fields for s in samples["huawei_board"]}
    assert list(boards) == ["SRU Board 0"]            # ports (all zeros) are not written
    sru = boards["SRU Board 0"]
    assert (sru["cpu_pct"], sru["mem_pct"], sru["temperature_c"]) == (20, 27, 56)
    assert sru["mem_size_bytes"] == 191890528
    assert sru["temperature_threshold_c"] == 74
    assert "huawei_fan" not in samples                # this recording has no fan table


# -- profiles verified on the project's own recordings (tests/fixtures/snmprec/SOURCES.md) ------

def test_apc_ups_on_a_real_smart_ups_matches_librenms():
    """Smart-UPS RT 3000 XL (apc_surt3000xl). The reference values are LibreNMS's sensors in
    tests/data/apc_surt3000xl.json @ 00a6ceb9: runtime 325.43333 min (TimeTicks / 6000), battery
    charge 100, internal temperature 21, battery bus 218 V, input 223 V / 50 Hz, output 230 V /
    50 Hz, output current 4 A, replace indicator 1, output status 2 (onLine), last failure cause 9."""
    samples = _samples("apc_ups", "apc_surt3000xl")
    assert [s.measurement for s in samples] == ["apc_ups"]
    ups = samples[0]
    assert ups.tags["model"] == "Smart-UPS RT 3000 XL"
    assert ups.fields == {
        "capacity_pct": 100.0, "runtime_remaining_min": pytest.approx(325.433333), "battery_temperature_c": 21.0,
        "battery_voltage_v": 218.0, "replace_battery": 1, "input_voltage_v": 223.0, "input_frequency_hz": 50.0,
        "last_transfer_cause": 9, "output_status": 2, "output_voltage_v": 230.0, "output_frequency_hz": 50.0,
        "output_current_a": 4.0}
    # upsAdvBatteryNumOfBadBattPacks is -1 on this card ("unknown"), and it has no load or
    # basic battery status objects: those fields are absent, not zero.
    assert not {"bad_battery_packs", "output_load_pct", "battery_status"} & set(ups.fields)


def test_apc_integer_objects_stand_in_and_absurd_values_are_dropped():
    values = snmprec.read("apc_surt3000xl")
    del values["1.3.6.1.4.1.318.1.1.1.2.3.1.0"]            # no upsHighPrecBatteryCapacity ...
    values["1.3.6.1.4.1.318.1.1.1.2.2.1.0"] = 97            # ... so upsAdvBatteryCapacity is used
    values["1.3.6.1.4.1.318.1.1.1.2.2.2.0"] = 35            # integer temperature: the tenths one still wins
    values["1.3.6.1.4.1.318.1.1.1.2.2.3.0"] = 2**31 - 1     # "unknown" runtime: 357,913 minutes
    values["1.3.6.1.4.1.318.1.1.1.4.1.1.0"] = 3             # on battery
    ups = sp.extract(PROFILES["apc_ups"], values, TAGS, T0, sp.CounterState())[0].fields
    assert ups["capacity_pct"] == 97
    assert ups["battery_temperature_c"] == 21.0
    assert "runtime_remaining_min" not in ups
    assert ups["output_status"] == 3


def test_netbotz_sensor_pods_and_dry_contacts_match_librenms():
    """NetBotz 250 (apc_netbotz). Reference: tests/data/apc_netbotz.json @ a2154cef (temperature
    divisor 10, humidity as is, per sensor name)."""
    samples = _by_measurement(_samples("netbotz", "apc_netbotz"))
    sensors = {s.tags["name"]: s.fields for s in samples["env_sensor"]}
    assert len(sensors) == 18
    librenms_temperature = {"THUM-01-A3-F": 23.8, "THUM-04-B6-F": 23.8, "THUM-05-B12-F": 25.2, "THUM-06-C3-F": 23.0,
                            "THUM-07-C7-F": 23.6, "THUM-08-C12-F": 25.1, "THUM-09-D6-F": 22.2, "THUM-10-D11-F": 23.2,
                            "TEMP-11-A8-R": 30.7, "TEMP-12-B5-R": 28.2, "TEMP-13-B12-R": 31.0, "TEMP-14-C9-R": 27.1}
    librenms_humidity = {"THUM-01-A3-F": 45, "THUM-02-A6-F": 40, "THUM-03-A11-F": 36, "THUM-04-B6-F": 44,
                         "THUM-05-B12-F": 42, "THUM-06-C3-F": 47, "THUM-07-C7-F": 44, "THUM-08-C12-F": 42,
                         "THUM-09-D6-F": 50, "THUM-10-D11-F": 46}
    for name, value in librenms_temperature.items():
        assert sensors[name]["temperature_c"] == pytest.approx(value), name
    assert {name for name, fields in sensors.items() if "humidity_pct" in fields} == set(librenms_humidity)
    for name, value in librenms_humidity.items():
        assert sensors[name]["humidity_pct"] == value, name
    # The temperature-only pods report humidity -1, the silent external pod -2147483647: no reading.
    assert sensors["Hall1-Wireless-Ext"] == {"comm_status": 1}
    assert all(fields["comm_status"] == 1 for fields in sensors.values())
    inputs = {s.tags["index"]: (s.tags["name"], s.fields) for s in samples["env_input"]}
    assert inputs == {"0.1": ("Fire Alarm", {"state": 2, "alarm": 1, "comm_status": 2}),
                      "0.2": ("Fault Fire Alarm", {"state": 2, "alarm": 1, "comm_status": 2}),
                      "0.3": ("Plant Rm Fire Alarm", {"state": 2, "alarm": 1, "comm_status": 2})}


def test_hikvision_nvr_memory_and_disk():
    """Hikvision NVR (hikvision-nvr). LibreNMS (tests/data/hikvision-nvr.json @ 00a6ceb9) reads the
    memory only: 5 % of 177,209,344 bytes (169 MiB). The disk row is recorded as column.1.0."""
    samples = _by_measurement(_samples("hikvision", "hikvision-nvr"))
    assert samples["hikvision"][0].fields == {"mem_used_pct": 5, "mem_total_mb": 169}
    assert 169 * 1048576 == 177209344
    [disk] = samples["nvr_disk"]
    assert disk.tags["disk"] == "1.0"
    assert (disk.fields["capacity_mb"], disk.fields["free_mb"]) == (3815447, 2715648)
    assert disk.fields["used_pct"] == pytest.approx((3815447 - 2715648) / 3815447 * 100)
    assert "status" not in disk.fields        # hikDiskStatus is not in the recording
    # The `hikvision` recording of tests/fixtures/devices is detection only: no sample rather than zeros.
    assert _samples("hikvision", "hikvision") == []


def test_dahua_nvr_cpu_and_identity_matches_librenms():
    """Dahua DH-NVR4108HS (dahua-nvr). LibreNMS (tests/data/dahua-nvr.json @ 03f5cc48) reports
    version 3.212.0000.1, serial 2M00D2APAZTL62J, hardware DH-NVR4108HS-8P-4KS2."""
    [sample] = _samples("dahua", "dahua-nvr")
    # deviceStatus 1: good, LibreNMS's "Device Status" state sensor (current 1, "Good").
    assert sample.fields == {"cpu_pct": 6, "status": 1}
    assert (sample.tags["software"], sample.tags["serial"], sample.tags["model"]) == \
        ("3.212.0000.1", "2M00D2APAZTL62J", "DH-NVR4108HS-8P-4KS2")
    # No disk table, no HOST-RESOURCES on this recorder: the host profile finds nothing either.
    assert _samples("host", "dahua-nvr") == []


def test_a_port_without_ifhighspeed_gets_its_speed_and_utilisation_from_ifspeed():
    """The Dahua NVR's agent has no ifXTable (no ifHighSpeed, no ifName, no HC counters):
    eth0's ifSpeed 100000000 bit/s is 100 Mbit/s (LibreNMS, tests/data/dahua-nvr.json @
    03f5cc48, polls ifSpeed 100000000 and no ifHighSpeed), its 32-bit
    octet counters give the rates, and so utilisation."""
    counters = sp.CounterState()
    values = snmprec.read("dahua-nvr")
    assert not any(oid.startswith("1.3.6.1.2.1.31.1.1.1.") for oid in values)
    [eth0] = sp.extract(PROFILES["if"], values, TAGS, T0, counters)      # lo (type 24) is left out
    assert eth0.tags == {**TAGS, "index": "2", "descr": "eth0", "type": "6"}
    assert eth0.fields == {"oper_status": 1, "admin_status": 1, "speed_mbps": 100}
    later = values | {"1.3.6.1.2.1.2.2.1.10.2": 1797133182 + 1_250_000 * 60,    # 10 Mbit/s in, for 60 s
                      "1.3.6.1.2.1.2.2.1.16.2": (3937058151 + 125_000 * 60) % 2**32}   # 1 Mbit/s out, wrapped
    [eth0] = sp.extract(PROFILES["if"], later, TAGS, T0 + 60 * 10**9, counters)
    assert (eth0.fields["in_bps"], eth0.fields["out_bps"]) == (pytest.approx(1e7), pytest.approx(1e6))
    assert (eth0.fields["in_util_pct"], eth0.fields["out_util_pct"]) == (pytest.approx(10.0), pytest.approx(1.0))
    # ifHighSpeed wins where both are there; ifSpeed's 4294967295 ("faster than that") is no speed.
    both = values | {"1.3.6.1.2.1.31.1.1.1.15.2": 1000}
    assert sp.extract(PROFILES["if"], both, TAGS, T0, sp.CounterState())[0].fields["speed_mbps"] == 1000
    saturated = values | {"1.3.6.1.2.1.2.2.1.5.2": 4294967295}
    assert "speed_mbps" not in sp.extract(PROFILES["if"], saturated, TAGS, T0, sp.CounterState())[0].fields
    assert sp.extract(PROFILES["if"], saturated | {"1.3.6.1.2.1.31.1.1.1.15.2": 10000}, TAGS, T0,
                      sp.CounterState())[0].fields["speed_mbps"] == 10000


def test_hikvision_camera_without_a_system_group_cpu_memory_and_sd_card():
    """hikvision-cam: a Hikvision DS-2CD2185FWD-I on firmware V5.5.3 build 171025 whose agent
    has no system group at all (no sysDescr, sysObjectID or sysUpTime), only HIK-DEVICE-MIB,
    every value text with its unit. LibreNMS (tests/data/hikvision-cam.json @ 58aa4b82): version
    "V5.5.3 build 171025", hardware "DS-2CD2185FWD-I", processor usage 15; its memory pool reads
    0 (it does not parse "83 PERCENT"), its storage 0 (no SD card: "0.0 GB")."""
    values = snmprec.read("hikvision-cam")
    assert "1.3.6.1.2.1.1.2.0" not in values
    assert [p.name for p in sp.select(PROFILES, "camera", None, values)] == ["hikvision_camera", "system"]
    [sample] = _samples("hikvision_camera", "hikvision-cam")
    assert (sample.tags["model"], sample.tags["software"]) == ("DS-2CD2185FWD-I", "V5.5.3 build 171025")
    assert sample.fields == {"cpu_pct": 15, "mem_used_pct": 83, "mem_total_mb": 512, "sd_size_gb": 0,
                             "sd_used_pct": 0}
    assert _samples("system", "hikvision-cam") == []      # nothing to say, rather than empty tags
    # Another camera (a Dahua, no HIK-DEVICE-MIB) does not get the profile once its answer is known.
    assert "hikvision_camera" not in [p.name for p in sp.select(PROFILES, "camera", None, snmprec.read("dahua-nvr"))]


def test_megaraid_controllers_disks_and_bbus_of_a_real_server_match_librenms():
    """linux_lsi: a Linux server with three LSI MegaRAID controllers (a ROMB and two SAS
    9286CV-8e), 92 disks and two CacheVault modules. LibreNMS (tests/data/linux_lsi.json @
    828adb1a): controller temperatures 55, 71, 74 °C; BBU 33 and 34 °C; disk slot.0 32 °C,
    slot.1 34, slot.10 40; virtual disks 1, 0, 0, none degraded; failed and critical (predictive
    failure) disks 0 on each controller."""
    samples = _by_measurement(_samples("megaraid", "linux_lsi"))
    controllers = {s.tags["controller"]: (s.tags["name"], s.fields) for s in samples["raid_controller"]}
    assert {c: (name, f["temperature_c"]) for c, (name, f) in controllers.items()} == {
        "0": ("LSI MegaRAID ROMB", 55), "1": ("LSI MegaRAID SAS 9286CV-8e", 71), "2": ("LSI MegaRAID SAS 9286CV-8e", 74)}
    assert [controllers[c][1]["vd_count"] for c in "012"] == [1, 0, 0]
    assert [controllers[c][1]["disk_count"] for c in "012"] == [2, 45, 45]
    for _, fields in controllers.values():
        assert (fields["vd_degraded"], fields["vd_offline"], fields["disks_failed"],
                fields["disks_predictive_failure"]) == (0, 0, 0, 0)
    disks = {s.tags["disk"]: s for s in samples["raid_disk"]}
    assert len(disks) == 92
    assert [disks[d].fields["temperature_c"] for d in ("0", "1", "10")] == [32, 34, 40]
    assert disks["0"].tags == {**TAGS, "disk": "0", "device_id": "8", "enclosure": "252"}
    assert disks["0"].fields["state"] == 24                      # online: the ROMB's mirrored pair
    assert sum(d.fields["state"] == 64 for d in disks.values()) == 90   # system (JBOD) behind the 9286s
    assert "enclosure" not in disks["79"].tags                     # 13 disks have no enclDeviceId recorded
    assert max(d.fields["temperature_c"] for d in disks.values()) == 42
    bbus = {s.tags["bbu"]: s for s in samples["raid_bbu"]}
    assert {b: (s.tags["controller"], s.tags["state"], s.fields) for b, s in bbus.items()} == {
        "0": ("1", "Operational", {"temperature_c": 33}), "1": ("2", "Operational", {"temperature_c": 34})}
    # batteryReplacement -1 ("not known" on a CacheVault) is no reading, not a state.
    enclosures = {s.tags["enclosure"]: s.fields for s in samples["raid_enclosure"]}
    assert enclosures == {"8": {"fault": 0, "disk_count": 21}, "9": {"fault": 0, "disk_count": 24},
                          "63": {"fault": 0, "disk_count": 21}, "85": {"fault": 0, "disk_count": 24}}


def test_megaraid_goes_only_to_servers_whose_agent_has_the_mib():
    lsi, aix = snmprec.read("linux_lsi"), snmprec.read("aix_net-snmp")
    assert "megaraid" in [p.name for p in sp.select(PROFILES, "server", lsi["1.3.6.1.2.1.1.2.0"], lsi)]
    assert "megaraid" not in [p.name for p in sp.select(PROFILES, "server", aix["1.3.6.1.2.1.1.2.0"], aix)]
    assert "megaraid" not in [p.name for p in sp.select(PROFILES, "router", lsi["1.3.6.1.2.1.1.2.0"], lsi)]
    assert sp.required_oids(PROFILES) == ("1.3.6.1.4.1.39165.1.1.0", "1.3.6.1.4.1.3582.4.1.4.1.2.1.1.0")


def test_cisco_telepresence_codec_model_and_software_from_sysdescr():
    """vccodec: "Cisco Codec SoftW: TC7.3.5.a93bdb1 MCU: Cisco TelePresence SX20 ..." with
    sysObjectID 1.3.6.1.4.1.5596.150.6.4.1 (TANDBERG): a Cisco TelePresence SX20 on TC 7.3.5."""
    [sample] = _samples("cisco_tp", "vccodec")
    assert sample.measurement == "codec"
    assert (sample.tags["model"], sample.tags["software"]) == ("SX20", "TC7.3.5.a93bdb1")
    assert sample.fields == {"software_major": 7, "software_minor": 3}


def test_akcp_sensorprobe_online_probes_and_contacts_match_librenms():
    """AKCP sensorProbe8 (akcp_serverprobe8, a trimmed extract: SOURCES.md). LibreNMS
    (tests/data/akcp_serverprobe8.json @ 048fd0f6) found the three online temperature probes from
    sensorProbeTempDegreeRaw / 10: "Temp.Sensor Carrier" 19.9, "Temp.Sensor 2" 20, "Temp.Sensor 1"
    22.1; and the probe status 2 (normal). Its humidity sensors are the five offline ports' raw
    column (83 ... 86.9, ports that are not humidity probes: their sensorProbeHumidityIndex is
    -1); the three online humidity probes read 42, 41 and 39 % in sensorProbeHumidityPercent, and
    those are what this profile writes. The five named dry contacts are online and normal (2)."""
    samples = _by_measurement(_samples("akcp", "akcp_serverprobe8"))
    [probe] = samples["akcp_probe"]
    assert (probe.tags["model"], probe.fields) == ("sensorProbe8 v2.0", {"status": 2})
    temperature = {s.tags["name"]: s.fields for s in samples["akcp_temperature"]}
    assert temperature == {"Temp.Sensor Carrier": {"temperature_c": 19.9, "status": 2},
                           "Temp.Sensor 2": {"temperature_c": 20.0, "status": 2},
                           "Temp.Sensor 1": {"temperature_c": 22.1, "status": 2}}
    humidity = {s.tags["index"]: (s.tags["name"], s.fields) for s in samples["akcp_humidity"]}
    assert humidity == {"0": ("Custom Descr 1", {"humidity_pct": 42, "status": 2}),
                        "6": ("Custom Descr 2", {"humidity_pct": 41, "status": 2}),
                        "7": ("Custom Descr 3", {"humidity_pct": 39, "status": 2})}
    switches = {s.tags["index"]: (s.tags["name"], s.fields) for s in samples["akcp_switch"]}
    assert switches == {"1": ("USV Carrier 230V ausgefallen", {"status": 2}),
                        "2": ("USV Carrier Stoerung", {"status": 2}),
                        "3": ("48V Gleichrichter 230V ausgefallen", {"status": 2}),
                        "4": ("48V Gleichrichter Stoerung", {"status": 2}),
                        "5": ("USV Koax Stoerung", {"status": 2})}     # 63 offline ports: not written


def test_akcp_fahrenheit_probe_whole_degrees_and_an_alarm():
    values = snmprec.read("akcp_serverprobe8")
    base = "1.3.6.1.4.1.3854.1.2.2.1.16.1."
    values[base + "12.6"] = 0                  # probe 6 set to Fahrenheit ...
    values[base + "14.6"] = 770                # ... 77.0 °F
    values[base + "14.7"] = 0                  # probe 7 without the raw column: whole degrees
    values[base + "4.7"] = 4                   # highCritical
    values["1.3.6.1.4.1.3854.1.2.2.1.18.1.3.3"] = 4   # the rectifier's mains contact in alarm
    samples = _by_measurement(sp.extract(PROFILES["akcp"], values, TAGS, T0, sp.CounterState()))
    temperature = {s.tags["index"]: s.fields for s in samples["akcp_temperature"]}
    assert temperature["6"]["temperature_c"] == pytest.approx(25.0)
    assert temperature["7"] == {"temperature_c": 22, "status": 4}
    assert {s.tags["index"]: s.fields["status"] for s in samples["akcp_switch"]}["3"] == 4


def test_cisco_ios_cpu_memory_and_environment_of_a_2960x_stack_match_librenms():
    """A stack of three Catalyst 2960-X (ios_2960x, a trimmed extract: SOURCES.md), IOS
    15.0(2a)EX5. LibreNMS (tests/data/ios_2960x.json @ 03f5cc48) reads the CISCO-ENVMON-MIB
    temperatures "SW#1, Sensor#1, GREEN" 44 °C, "SW#2 ..." 43 °C, "SW#3 ..." 43 °C, each with a
    limit of 68, and after polling every fan and supply state 1 (normal). It has no processor
    or mempool section for this device; those values are the recording's own:
    cpmCPUTotal5secRev 67, 1minRev 63, 5minRev 53; Processor pool 50,661,572 bytes used and
    392,203,472 free."""
    samples = _by_measurement(_samples("cisco_ios", "ios_2960x"))
    [cpu] = samples["cisco_cpu"]
    assert cpu.tags["cpu"] == "1" and "name" not in cpu.tags     # cpmCPUTotalPhysicalIndex is 0
    assert cpu.fields == {"load_5s_pct": 67, "load_1min_pct": 63, "load_5min_pct": 53}
    pools = {s.tags["name"]: s.fields for s in samples["cisco_mempool"]}
    assert set(pools) == {"Processor", "I/O", "Driver text"}
    assert pools["Processor"]["used_bytes"] == 50661572 and pools["Processor"]["free_bytes"] == 392203472
    assert pools["Processor"]["used_pct"] == pytest.approx(50661572 / (50661572 + 392203472) * 100)
    assert pools["I/O"]["used_pct"] == pytest.approx(12622768 / (12622768 + 4154448) * 100)
    temperature = {s.tags["name"]: s.fields for s in samples["cisco_temperature"]}
    assert temperature == {f"SW#{n}, Sensor#1, GREEN": {"temperature_c": t, "threshold_c": 68, "state": 1}
                           for n, t in ((1, 44), (2, 43), (3, 43))}
    assert {s.tags["name"]: s.fields for s in samples["cisco_fan"]} == {
        f"Switch#{n}, Fan#1": {"state": 1} for n in (1, 2, 3)}
    assert {s.tags["name"]: s.fields for s in samples["cisco_power_supply"]} == {
        f"Sw{n}, PS1 Normal, RPS NotExist": {"state": 1, "source": 2} for n in (1, 2, 3)}    # ac


def test_cisco_cpu_name_through_its_physical_index_and_older_objects():
    values = snmprec.read("ios_2960x")
    values["1.3.6.1.4.1.9.9.109.1.1.1.1.2.1"] = 1002         # the CPU of stack member 1's module
    for column in (6, 7, 8):                                 # an old release: no *Rev objects
        del values[f"1.3.6.1.4.1.9.9.109.1.1.1.1.{column}.1"]
    values["1.3.6.1.4.1.9.9.48.1.1.1.4.20"] = 2              # a pool marked not valid
    samples = _by_measurement(sp.extract(PROFILES["cisco_ios"], values, TAGS, T0, sp.CounterState()))
    [cpu] = samples["cisco_cpu"]
    assert cpu.tags["name"] == "Switch 1 - WS-C2960X-48FPS-L - Fixed Module 0"
    assert cpu.fields == {"load_5s_pct": 67, "load_1min_pct": 63, "load_5min_pct": 52}
    assert {s.tags["name"] for s in samples["cisco_mempool"]} == {"Processor", "I/O"}
    values["1.3.6.1.4.1.9.9.109.1.1.1.1.2.1"] = 4242         # points at no entity: no name
    [cpu] = [s for s in sp.extract(PROFILES["cisco_ios"], values, TAGS, T0, sp.CounterState())
             if s.measurement == "cisco_cpu"]
    assert "name" not in cpu.tags


def test_entity_sensor_on_an_arista_7050_matches_librenms():
    """Arista DCS-7050TX-128, EOS 4.15.3F (arista_eos, a trimmed extract: SOURCES.md). LibreNMS
    (tests/data/arista_eos.json @ edeecc12) reads from ENTITY-SENSOR-MIB, among others: "Cpu" 53.3 °C,
    "CPU board" 42, "Back-panel" 36.5, "Front-panel" 24.6, "Jericho0 ambient" 43, "Jericho0 on-die"
    64.8, "Jericho1 ambient" 52, "Jericho1 on-die" 64, the DOM temperatures of Ethernet1 25.8 and
    Ethernet2 33.7; fans 8287, 8450 and 8310 rpm (trays 2-4), 7968 and 8304 (PSU 1 and 2); TX bias
    of Ethernet1-14 in A; TX power of Ethernet28/29/30/47/48 as -6.103/-6.167/-6.278/-1.19/-1.558 dBm
    and RX power of Ethernet47 -40 dBm (it converts the recorded mW to dBm; this profile keeps W).
    Every entPhysicalName is empty on this agent: the names are entPhysicalDescr."""
    samples = _samples("entity_sensor", "arista_eos")
    assert {s.measurement for s in samples} == {"entity_sensor"}
    sensors = {s.tags["index"]: (s.tags["name"], s.tags["type"], s.fields) for s in samples}
    # 211 sensors in the table; the 29 receivers without light (-1000000000) have no reading.
    assert len(sensors) == 211 - 29
    assert sensors["100006001"] == ("Cpu temp sensor", "celsius", {"value": 53.3, "oper_status": 1})
    assert sensors["100601111"] == ("Fan Tray 1 Fan 1 Sensor 1", "rpm", {"value": 8426, "oper_status": 1})
    value = {index: fields["value"] for index, (_, _, fields) in sensors.items()}
    librenms_celsius = {"100006001": 53.3, "100006014": 42, "100006015": 36.5, "100006016": 24.6,
                        "100006017": 43, "100006018": 64.8, "100006019": 52, "100006020": 64,
                        "100301201": 25.8, "100302201": 33.7}
    librenms_rpm = {"100602111": 8287, "100603111": 8450, "100604111": 8310, "100711211": 7968, "100721211": 8304}
    librenms_amperes = {"100301211": 0.03345, "100302211": 0.0182, "100303211": 0.02265, "100304211": 0.0225,
                        "100305211": 0.02225, "100306211": 0.01915, "100307211": 0.02, "100308211": 0.01835,
                        "100309211": 0.0206, "100310211": 0.024, "100311211": 0.0238, "100312211": 0.0151,
                        "100313211": 0.0224, "100314211": 0.02395}
    for expected, unit in ((librenms_celsius, "celsius"), (librenms_rpm, "rpm"), (librenms_amperes, "amperes")):
        for index, reading in expected.items():
            assert sensors[index][1] == unit and value[index] == pytest.approx(reading), index
    librenms_dbm = {"100328212": -6.103, "100329212": -6.167, "100330212": -6.278, "100347212": -1.19,
                    "100347213": -40, "100348212": -1.558}
    for index, dbm in librenms_dbm.items():
        assert sensors[index][1] == "watts"
        assert 10 * math.log10(value[index] * 1000) == pytest.approx(dbm, abs=0.001), index
    assert value["100347213"] == 1e-07          # 0.1 uW: kept, not rounded to 0
    assert "100328213" not in sensors           # Ethernet28's dark receiver (LibreNMS: 0)
    # Voltages as the agent types them (its board rails say voltsAC), precision 2:
    assert sensors["100006002"][:2] == ("CpucardPwrCon Rail1 12V standby", "voltsAC") and value["100006002"] == 11.98
    assert sensors["100711105"][:2] == ("Input voltage sensor", "voltsAC") and value["100711105"] == 229.25
    assert sensors["100301202"][1] == "voltsDC" and value["100301202"] == 3.31
    assert {fields["oper_status"] for _, _, fields in sensors.values()} == {1}
    # Entities that are no sensors (the chassis, ports, slots, containers) are not written.
    assert not {"1", "100100001", "100301000", "100301100", "1100006000"} & set(sensors)


def test_entity_sensor_prefers_entphysicalname_and_keeps_unknown_codes():
    values = snmprec.read("arista_eos")
    values["1.3.6.1.2.1.47.1.1.1.1.7.100006001"] = b"CPU"            # an agent that fills entPhysicalName
    values["1.3.6.1.2.1.99.1.1.1.1.100006014"] = 15                   # a type code not in the list
    values["1.3.6.1.2.1.99.1.1.1.5.100006015"] = 3                    # nonoperational
    values["1.3.6.1.2.1.99.1.1.1.2.100006016"] = 99                   # a scale no agent should send
    samples = {s.tags["index"]: s for s in sp.extract(PROFILES["entity_sensor"], values, TAGS, T0, sp.CounterState())}
    assert samples["100006001"].tags["name"] == "CPU"
    assert samples["100006002"].tags["name"] == "CpucardPwrCon Rail1 12V standby"
    assert samples["100006014"].tags["type"] == "15"
    assert samples["100006015"].fields == {"value": 36.5, "oper_status": 3}
    assert "100006016" not in samples                                  # no value: not written


def test_h3c_comware_boards_and_sensors_of_an_ff5700_match_librenms():
    """HP FF 5700-40XG-2QSFP, Comware 7.1.045 (comware, a trimmed extract: SOURCES.md).
    LibreNMS (tests/data/comware.json @ e45b10c0) reads from hh3cEntityExtStateTable the
    processors and memory pools of eleven boards, named by entPhysicalName: "Board 0" 6 % CPU /
    13 % memory, "Board 1" 5/13, "Board 2" 4/13, "Master Board 4" 21/20, "Slave Board 5" 4/20,
    "Board 8" 7/13, "Board 9" 6/13, "Board 10" to "Board 13" 6/10, 6/10, 5/10, 6/10. It lists
    no temperature sensors for this device; the temperatures are the recording's own: 27
    entities named "sensor 0.<slot>.<n>" read 22-58 °C, every other row 65535."""
    samples = _samples("h3c_comware", "comware")
    assert {s.measurement for s in samples} == {"h3c_entity"}
    rows = {s.tags["name"]: s.fields for s in samples}
    assert len(samples) == len(rows) == 11 + 27
    librenms = {"Board 0": (6, 13), "Board 1": (5, 13), "Board 2": (4, 13), "Master Board 4": (21, 20),
                "Slave Board 5": (4, 20), "Board 8": (7, 13), "Board 9": (6, 13), "Board 10": (6, 10),
                "Board 11": (6, 10), "Board 12": (5, 10), "Board 13": (6, 10)}
    for board, (cpu, mem) in librenms.items():
        assert rows[board] == {"cpu_pct": cpu, "mem_pct": mem}, board    # 65535: no temperature field
    assert {s.tags["name"]: s.tags["entity"] for s in samples}["Master Board 4"] == "46"
    # A sensor entity reports CPU and memory 0 (it has neither) and its reading.
    assert rows["sensor 0.0.1"] == {"cpu_pct": 0, "mem_pct": 0, "temperature_c": 34}
    assert rows["sensor 0.11.4"]["temperature_c"] == 58
    assert rows["sensor 0.4.1"]["temperature_c"] == 22
    temperatures = [f["temperature_c"] for f in rows.values() if "temperature_c" in f]
    assert len(temperatures) == 27 and min(temperatures) == 22 and max(temperatures) == 58
    # The chassis, the fan tray and the ports: 0 %, 0 %, 65535 - not written.
    assert not {"HP 10508", "Fan 0", "GigabitEthernet0/0/1", "M-GigabitEthernet0/0/0"} & set(rows)


def test_h3c_comware_threshold_error_status_and_the_older_huawei_3com_table():
    """The recorded walk has no hh3cEntityExtTemperatureThreshold (.13) or ErrorStatus (.19):
    values put in for one board and one sensor. An agent under 2011.10 (Huawei-3Com) has the
    same table at 1.3.6.1.4.1.2011.10.2.6.1.1.1.1: the recording's rows moved there read the same."""
    hh3c, h3c = "1.3.6.1.4.1.25506.2.6.1.1.1.1.", "1.3.6.1.4.1.2011.10.2.6.1.1.1.1."
    values = snmprec.read("comware")
    values[hh3c + "13.436"] = 70
    values[hh3c + "13.46"] = 65535                   # no threshold for the board: left out
    values[hh3c + "19.46"] = 71                      # moduleFaulty
    values[hh3c + "19.1"] = 2                        # normal, but the chassis has no reading: not written
    rows = {s.tags["entity"]: s.fields for s in sp.extract(PROFILES["h3c_comware"], values, TAGS, T0, sp.CounterState())}
    assert rows["436"] == {"cpu_pct": 0, "mem_pct": 0, "temperature_c": 34, "temperature_threshold_c": 70}
    assert rows["46"] == {"cpu_pct": 21, "mem_pct": 20, "error_status": 71}
    assert "1" not in rows
    older = {(h3c + oid[len(hh3c):] if oid.startswith(hh3c) else oid): value
             for oid, value in snmprec.read("comware").items()}
    assert not any(oid.startswith(hh3c) for oid in older)
    assert sp.extract(PROFILES["h3c_comware"], older, TAGS, T0, sp.CounterState()) == _samples("h3c_comware", "comware")
    # Selected for either vendor subtree; Huawei's own VRP subtree (2011.2) is another profile.
    assert "h3c_comware" in [p.name for p in sp.select(PROFILES, "other", "1.3.6.1.4.1.2011.10.1.7")]
    assert "h3c_comware" not in [p.name for p in sp.select(PROFILES, "other", "1.3.6.1.4.1.2011.2.224.133")]
    assert "h3c_comware" not in [p.name for p in sp.select(PROFILES, "other", "1.3.6.1.4.1.255060.1")]


# -- engine: pattern, divisor ----------------------------------------------------------------------

def _profile(text: str) -> sp.Profile:
    import yaml
    return sp.Profile.model_validate(yaml.safe_load(text))


def test_pattern_picks_a_group_out_of_a_text_value_and_a_miss_leaves_it_out():
    profile = _profile("""
name: x
measurement: m
scalars:
  - {oid: 1.3.6.1.2.1.1.1.0, tag: version, kind: text, pattern: "Version ([0-9.]+)"}
  - {oid: 1.3.6.1.2.1.1.1.0, tag: vendor, kind: text, pattern: "^[A-Za-z]+"}
  - {oid: 1.3.6.1.2.1.1.1.0, tag: serial, kind: text, pattern: "S/N: (\\\\S+)"}
  - {oid: 1.3.6.1.2.1.1.1.0, field: release, pattern: "\\\\((V\\\\d+)R(\\\\d+)"}
  - {oid: 1.3.6.1.2.1.1.1.0, field: release_number, pattern: "R(\\\\d+)C"}
""")
    values = snmprec.read("vrp")      # "Huawei AR1220 ... Version 5.120 (AR1220 V200R003C01SPC900) ..."
    [sample] = sp.extract(profile, values, {}, T0, sp.CounterState())
    assert sample.tags == {"version": "5.120", "vendor": "Huawei"}      # no S/N in this sysDescr: no tag
    assert sample.fields == {"release_number": 3}                      # "V200" is not a number: no field
    assert profile.scalar_oids() == ["1.3.6.1.2.1.1.1.0"]              # fetched once for five specs


def test_divisor_is_exact_where_a_scale_would_not_be():
    profile = _profile("name: x\nmeasurement: m\nscalars: [{oid: 1.3.6.1.2.1.1.3.0, field: up_min, divisor: 6000}]\n")
    [sample] = sp.extract(profile, {"1.3.6.1.2.1.1.3.0": 1952600}, {}, T0, sp.CounterState())
    assert sample.fields["up_min"] == pytest.approx(325.433333)
    [sample] = sp.extract(profile, {"1.3.6.1.2.1.1.3.0": 360000}, {}, T0, sp.CounterState())
    assert sample.fields["up_min"] == 60


def test_require_keeps_only_rows_with_the_tables_own_values_and_power_scales_by_an_exponent():
    """A table joined with entPhysicalName by index has a row for every entity; `require`
    writes only those with the table's own reading. `**` lets a sibling column carry the
    exponent (as ENTITY-SENSOR-MIB's scale and precision do)."""
    profile = _profile("""
name: x
tables:
  - measurement: m
    require: [raw]
    columns:
      - {oid: 1.3.6.1.2.1.47.1.1.1.1.7, tag: name, kind: text}
      - {oid: 1.9.1, field: raw, keep: false}
      - {oid: 1.9.2, field: scale, keep: false}
      - {oid: 1.9.3, field: precision, keep: false}
    derived:
      - {field: value, expr: raw * 1000 ** (scale - 9) / 10 ** precision}
""")
    values = {"1.3.6.1.2.1.47.1.1.1.1.7.1": b"chassis", "1.3.6.1.2.1.47.1.1.1.1.7.2": b"PSU 1 input",
              "1.3.6.1.2.1.47.1.1.1.1.7.3": b"PSU 1 current",
              "1.9.1.2": 2305, "1.9.2.2": 9, "1.9.3.2": 1,        # 230.5 V: units, one decimal
              "1.9.1.3": 1500, "1.9.2.3": 8, "1.9.3.3": 0}        # 1500 mA
    samples = {s.tags["name"]: s.fields for s in sp.extract(profile, values, {}, T0, sp.CounterState())}
    assert samples == {"PSU 1 input": {"value": pytest.approx(230.5)}, "PSU 1 current": {"value": pytest.approx(1.5)}}
    values["1.9.2.3"] = 10**6                                 # a broken exponent: no value, not a hang ...
    samples = {s.tags["name"]: s.fields for s in sp.extract(profile, values, {}, T0, sp.CounterState())}
    assert set(samples) == {"PSU 1 input"}                    # ... and a row without fields is not written


def test_the_first_spec_with_a_value_gives_a_tag_and_small_values_are_not_rounded_away():
    """Like a field, a tag given by several specs comes from the first that has a value: the
    later ones are fallbacks (entPhysicalName, empty on some agents, then entPhysicalDescr).
    A base tag (device, class ...) is still replaced by a spec of the same name. Floats keep 12
    significant digits, not 6 decimals: 1e-07 W is a reading, not 0."""
    profile = _profile("""
name: x
tables:
  - measurement: m
    columns:
      - {oid: 1.9.7, tag: name, kind: text}
      - {oid: 1.9.2, tag: name, kind: text}
      - {oid: 1.9.3, tag: class, kind: text}
      - {oid: 1.9.4, field: raw, keep: false}
      - {oid: 1.9.5, field: scaled, scale: 0.0000001}
    derived:
      - {field: watts, expr: raw / 10000000}
""")
    values = {"1.9.7.1": b"", "1.9.2.1": b"descr 1", "1.9.7.2": b"name 2", "1.9.2.2": b"descr 2",
              "1.9.3.1": b"sensor", "1.9.4.1": 1, "1.9.4.2": 199, "1.9.5.1": 3}
    samples = {s.tags["index"]: s for s in sp.extract(profile, values, {"class": "switch"}, T0, sp.CounterState())}
    assert samples["1"].tags == {"class": "sensor", "index": "1", "name": "descr 1"}
    assert samples["2"].tags == {"class": "switch", "index": "2", "name": "name 2"}
    assert samples["1"].fields == {"watts": 1e-07, "scaled": 3e-07}
    assert samples["2"].fields == {"watts": 1.99e-05}                   # not 1.9899999999999998e-05


@pytest.mark.parametrize("text,problem", [
    ("name: x\nmeasurement: m\nscalars: [{oid: 1.3.6, tag: a, kind: text, pattern: '(unclosed'}]\n", "bad pattern"),
    ("name: x\nmeasurement: m\nscalars: [{oid: 1.3.6.0, tag: a, kind: text, index_from: 1.3.7}]\n",
     "index_from is for table columns"),
    ("name: x\nmeasurement: m\nscalars: [{oid: 1.3.6, field: a}]\nderived: [{field: b, expr: \"a + 'x'\"}]\n",
     "expr may use numbers only"),
    ("name: x\nmeasurement: m\nscalars: [{oid: 1.3.6, field: a, divisor: 0}]\n", "greater than 0"),
])
def test_broken_pattern_or_divisor_is_named(tmp_path, text, problem):
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    with pytest.raises(sp.ProfileError, match=problem):
        sp.load_file(path)


# -- every shipped profile is exercised by a recording, and selects on it ------------------------

#: profile -> (recording, device class the inventory would give it). Each pair is asserted in
#: detail by a test above; here: it selects, and gives samples.
PROFILE_RECORDINGS = {
    "system": ("vrp_ar169fgwl", "router"),
    "if": ("Cisco_sfe2000", "switch"),
    "host": ("openwrt", "server"),
    "ups": ("abbups_abbups", "ups"),
    "env_hwg": ("hwg-poseidon", "env_sensor"),
    "huawei_vrp": ("vrp_ar169fgwl", "router"),
    "apc_ups": ("apc_surt3000xl", "ups"),
    "netbotz": ("apc_netbotz", "env_sensor"),
    "hikvision": ("hikvision-nvr", "nvr"),
    "dahua": ("dahua-nvr", "nvr"),
    "cisco_tp": ("vccodec", "codec"),
    "akcp": ("akcp_serverprobe8", "env_sensor"),
    "cisco_ios": ("ios_2960x", "switch"),
    "entity_sensor": ("arista_eos", "switch"),
    "entity_sensor_optics": ("arista_eos", "switch"),
    "cisco_optics": ("iosxe_c9600-svl", "switch"),
    "huawei_optics": ("vrp_5720", "switch"),
    "h3c_optics": ("comware_transceivers", "switch"),
    "h3c_comware": ("comware", "switch"),
    "hikvision_camera": ("hikvision-cam", "camera"),
    "megaraid": ("linux_lsi", "server"),
    "megatec_ups": ("netagent2", "ups"),
    "eaton_xups": ("eatonups", "ups"),
}

#: What each recording's sysObjectID selects for a device of class `other` (reachability only).
SELECTED_BY_SYSOBJECTID = {
    "Cisco_sfe2000": ["system"],
    "abbups_abbups": ["host", "system"],          # a net-snmp agent on the ABB card
    "akcp_serverprobe8": ["akcp", "system"],
    "aix_net-snmp": ["host", "system"],
    "aix_net-snmp-nosysuptime": ["host", "system"],
    "apc_netbotz": ["apc_ups", "netbotz", "system"],   # every APC card; a NetBotz has no UPS values
    "apc_surt3000xl": ["apc_ups", "system"],
    "netagent2": ["megatec_ups", "system"],
    "eatonups": ["eaton_xups", "system"],
    "huaweiups_ups2000": ["system"],              # a Huawei UPS2000 card: RFC 1628 only, `ups` by class
    "arista_eos": ["system"],                     # entity_sensor goes by class (switch, router)
    "comware": ["h3c_comware", "h3c_optics", "system"],
    "comware_h3c": ["h3c_comware", "h3c_optics", "system"],     # an HP V1910 (25506.11.1.85): sysDescr and sysObjectID only
    "comware_transceivers": ["h3c_comware", "h3c_optics", "system"],
    "dahua-nvr": ["dahua", "system"],
    "hikvision": ["hikvision", "system"],
    "hikvision-cam": ["system"],                  # no sysObjectID: a camera gets its profile by class
    "hikvision-nvr": ["hikvision", "system"],
    "hwg-poseidon": ["env_hwg", "system"],
    "ios_2960x": ["cisco_ios", "cisco_optics", "system"],
    "iosxe_c9600-svl": ["cisco_ios", "cisco_optics", "system"],
    "linux_lsi": ["host", "system"],              # megaraid goes by class (server)
    "openwrt": ["host", "system"],
    "vccodec": ["cisco_tp", "system"],
    "vrp": ["huawei_optics", "huawei_vrp", "system"],
    "vrp_ar169fgwl": ["huawei_optics", "huawei_vrp", "system"],
    "vrp_5720": ["huawei_optics", "huawei_vrp", "system"],
    "vrp_ne8000-m8": ["huawei_optics", "huawei_vrp", "system"],
}


def test_every_shipped_profile_is_exercised_by_a_recording():
    assert set(PROFILE_RECORDINGS) == set(PROFILES)
    for name, (recording, device_class) in PROFILE_RECORDINGS.items():
        values = snmprec.read(recording)
        selected = [p.name for p in sp.select(PROFILES, device_class, values.get("1.3.6.1.2.1.1.2.0"), values)]
        assert name in selected, (name, recording)
        assert sp.extract(PROFILES[name], values, TAGS, T0, sp.CounterState()), (name, recording)
        # The poller fetches only scalar_oids() and walks walk_roots(): everything the samples
        # came from must be under those.
        fetched = {oid: value for oid, value in values.items()
                   if oid in PROFILES[name].scalar_oids()
                   or any(oid.startswith(root + ".") for root in PROFILES[name].walk_roots())}
        assert sp.extract(PROFILES[name], fetched, TAGS, T0, sp.CounterState()) == \
            sp.extract(PROFILES[name], values, TAGS, T0, sp.CounterState()), name


def test_each_recording_selects_its_profiles_by_sysobjectid():
    assert set(SELECTED_BY_SYSOBJECTID) == set(snmprec.names())
    for recording, expected in SELECTED_BY_SYSOBJECTID.items():
        values = snmprec.read(recording)
        oid = values.get("1.3.6.1.2.1.1.2.0")
        assert sorted(p.name for p in sp.select(PROFILES, "other", oid, values)) == expected, recording


# -- values of the wrong type ------------------------------------------------------------------------

def test_a_value_a_field_cannot_use_is_counted_and_the_first_kept():
    """abbups (a real UPS recording) with its charge as text and its battery voltage as an OID
    (firmware bugs of the kind seen on UPS cards): both fields are left out, both are counted."""
    values = snmprec.read("abbups_abbups")
    values["1.3.6.1.2.1.33.1.2.4.0"] = b"full"
    values["1.3.6.1.2.1.33.1.2.5.0"] = "1.3.6.1.4.1.1"
    wrong = sp.WrongTypes()
    [ups] = sp.extract(PROFILES["ups"], values, TAGS, T0, sp.CounterState(), wrong_types=wrong)[:1]
    assert "charge_pct" not in ups.fields and "battery_voltage_v" not in ups.fields
    assert ups.fields["runtime_remaining_min"] == 452
    assert wrong.count == 2
    assert wrong.first == ("1.3.6.1.2.1.33.1.2.4.0", "ups", "charge_pct", b"full")


def test_no_reading_is_not_a_wrong_type():
    """What the recordings of real devices send for "no value" is not counted: empty text,
    text holding a number ("-87 dBm"), noSuchObject (None), and anything in a row that is not
    live (the AKCP's 63 offline contact ports)."""
    values = snmprec.read("abbups_abbups")
    values["1.3.6.1.2.1.33.1.2.4.0"] = b""
    values["1.3.6.1.2.1.33.1.2.5.0"] = b" 54.3 V"
    values["1.3.6.1.2.1.33.1.2.6.0"] = None
    wrong = sp.WrongTypes()
    ups = sp.extract(PROFILES["ups"], values, TAGS, T0, sp.CounterState(), wrong_types=wrong)[0].fields
    assert ups["battery_voltage_v"] == pytest.approx(5.43) and "charge_pct" not in ups
    akcp = snmprec.read("akcp_serverprobe8")
    status, online = "1.3.6.1.4.1.3854.1.2.2.1.18.1.3.", "1.3.6.1.4.1.3854.1.2.2.1.18.1.4."
    offline = [oid[len(online):] for oid, value in akcp.items() if oid.startswith(online) and value == 2]
    assert len(offline) == 63
    for index in offline:
        akcp[status + index] = b"N/A"
    sp.extract(PROFILES["akcp"], akcp, TAGS, T0, sp.CounterState(), wrong_types=wrong)
    assert wrong.count == 0


def test_extract_writes_only_the_tables_and_rows_it_is_given():
    values = snmprec.read("openwrt")
    everything = {s.tags["index"] for s in sp.extract(PROFILES["if"], values, TAGS, T0, sp.CounterState())}
    assert len(everything) > 2
    chosen = sorted(everything)[:2]
    assert {s.tags["index"] for s in sp.extract(PROFILES["if"], values, TAGS, T0, sp.CounterState(),
                                                indexes=lambda table: chosen)} == set(chosen)
    assert sp.extract(PROFILES["if"], values, TAGS, T0, sp.CounterState(), indexes=lambda table: None) == []


WRAP_S = (1 << 32) / 100  # 32-bit TimeTicks of 1/100 s: 497.1 days


@pytest.mark.parametrize("recording,oid", [("vrp_ar169fgwl", "1.3.6.1.2.1.1.3.0"), ("openwrt", HR_SYSTEM_UPTIME)])
def test_the_timeticks_roll_over_after_497_days_is_no_reboot(recording, oid):
    """sysUpTime and hrSystemUptime are 32-bit TimeTicks: a device up for 497.1 days reads 0
    again. That is no restart (a false device_rebooted fault, and its counters' rates thrown
    away); a real restart just before or after is still one."""
    counters = sp.CounterState()
    values = snmprec.read(recording)
    before = (1 << 32) - 3000                      # 30 s before the roll-over
    first = sp.extract(PROFILES["system"], values | {oid: before}, TAGS, T0, counters)[0]
    assert first.fields["rebooted"] == 0
    after = sp.extract(PROFILES["system"], values | {oid: 3000}, TAGS, T0 + 60 * 10**9, counters)[0]
    assert (after.fields["rebooted"], after.fields["uptime_s"]) == (0, 30)   # 30 s + 30 s = one minute later
    later = sp.extract(PROFILES["system"], values | {oid: 9000}, TAGS, T0 + 120 * 10**9, counters)[0]
    assert later.fields["rebooted"] == 0
    restarted = sp.extract(PROFILES["system"], values | {oid: 500}, TAGS, T0 + 180 * 10**9, counters)[0]
    assert restarted.fields["rebooted"] == 1  # low and going back, far from a roll-over: a restart


@pytest.mark.parametrize("uptime_after, seconds_later, rebooted", [
    (WRAP_S - 100, 60, 1),          # went back by 100 s, nowhere near rolling over: a restart
    (30 + 5 * 3600, 60, 1),         # after the roll-over point, but far from where it would read
    (30, 60, 0),                    # exactly where the roll-over puts it
    (30 + 59, 60, 0),               # within a minute of it (clocks, poll timing)
    (2 * 86400 - 30 + 1000, 2 * 86400, 0),  # two days of polls missed: within 1 % (29 min) of it
    (86400, 2 * 86400, 1),          # two days missed, and up only one day: a restart
])
def test_a_roll_over_is_told_from_a_restart_by_where_the_uptime_should_be(uptime_after, seconds_later, rebooted):
    counters = sp.CounterState()
    assert not counters.note_uptime(WRAP_S - 30, "up", T0, wrap=WRAP_S)
    assert counters.note_uptime(uptime_after, "up", T0 + seconds_later * 10**9, wrap=WRAP_S) == bool(rebooted)
    assert counters.uptime == uptime_after  # the next reading compares with this one either way


def test_a_low_uptime_before_the_counter_could_have_rolled_over_is_a_restart():
    """Ten days between two polls allow 2.4 hours of slack, but the counter was still 1,000 s
    short of its roll-over when expected: a low reading is a restart."""
    counters = sp.CounterState()
    counters.note_uptime(WRAP_S - 10 * 86400 - 1000, "up", T0, wrap=WRAP_S)
    assert counters.note_uptime(500, "up", T0 + 10 * 86400 * 10**9, wrap=WRAP_S)


def test_without_a_known_roll_over_point_going_back_is_a_restart():
    counters = sp.CounterState()
    counters.note_uptime(WRAP_S - 30, "up", T0)
    assert counters.note_uptime(30, "up", T0 + 60 * 10**9)
