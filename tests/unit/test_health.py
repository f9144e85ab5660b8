"""SNMP health in `status` (monitor/health.py, the words in monitor/cli/tables.py, the state
kept by monitor/state.py, the embedded store's fallback): figures from the shipped profiles'
samples of recordings of real devices, and the failures an operator must not miss."""

from __future__ import annotations

from types import SimpleNamespace

from lab import snmprec
from monitor.cli.tables import health_text, render_health
from monitor.health import summarise
from monitor.outputs.embedded import EmbeddedStore
from monitor.state import DeviceStates
from probes.base import Sample
from probes.snmp import profiles as sp
from tests.unit.test_state import _Device

PROFILES = sp.load_all([sp.PACKAGED_PROFILES])
T0 = 1_700_000_000 * 10**9


def _poll(recording: str, device_class: str, device: str = "dev", time_ns: int = T0) -> list[Sample]:
    """The samples one poll of a device of `device_class` gets from the recording: the profiles
    the poller would select by class and sysObjectID, each extracted."""
    values = snmprec.read(recording)
    chosen = sp.select(PROFILES, device_class, values.get("1.3.6.1.2.1.1.2.0"))
    samples = []
    for profile in chosen:
        samples += sp.extract(profile, values, {"device": device}, time_ns, sp.CounterState())
    return samples


def _health(recording: str, device_class: str) -> dict:
    return summarise((s.measurement, s.tags, s.fields) for s in _poll(recording, device_class))


def test_ups_on_mains_from_a_real_three_phase_ups():
    health = _health("abbups_abbups", "ups")
    assert health == {"power": "mains", "battery": "normal", "charge_pct": 100, "runtime_min": 452,
                      "load_pct": 6, "cpu_pct": 17}  # CPU: the network card's (HOST-RESOURCES)
    assert health_text(health) == "on mains, battery normal, charge 100 %, runtime 452 min, load 6 %, CPU 17 %"


def test_machine_room_sensor_temperatures_humidity_and_inputs():
    health = _health("hwg-poseidon", "env_sensor")
    assert health == {"temperature_c": [23.6, 31.1], "humidity_pct": [20.6, 30.3], "inputs": 6, "inputs_alarm": 0}
    assert health_text(health) == "temperature 23.6-31.1 °C, humidity 20.6-30.3 %RH, 6 inputs, none in alarm"


def test_core_switch_boards_and_access_switch_ports():
    core = _health("comware", "switch")
    assert core == {"temperature_c": [22, 58], "cpu_pct": 21, "memory_pct": 20}
    assert health_text(core) == "temperature 22-58 °C, CPU 21 %, memory 20 %"
    access = _health("Cisco_sfe2000", "switch")
    assert access == {"ports": 52, "ports_up": 14}
    assert health_text(access) == "ports 14 up of 52"


def test_nvr_disks_and_memory():
    health = _health("hikvision-nvr", "nvr")
    assert health == {"memory_pct": 5, "disks": 1, "disks_failed": 0, "disk_used_pct": 28.8}
    assert health_text(health) == "memory 5 %, disks 1, fullest 28.8 %"


def test_camera_without_a_system_group_and_server_memory_without_cache():
    camera = _health("hikvision-cam", "camera")            # HIK-DEVICE-MIB only, no system group
    assert camera == {"cpu_pct": 15, "memory_pct": 83}
    assert health_text(camera) == "CPU 15 %, memory 83 %"
    server = _health("linux_lsi", "server")                # buffers and page cache are not "used"
    assert server == {"ports": 3, "ports_up": 3, "cpu_pct": 9, "memory_pct": 65.7, "disks": 92,
                      "disks_failed": 0}                   # disks: behind its MegaRAID controllers
    assert health_text(server) == "ports 3 up of 3, CPU 9 %, memory 65.7 %, disks 92"
    failed = summarise([("raid_disk", {"disk": "1"}, {"state": 17}), ("raid_disk", {"disk": "2"}, {"state": 24})])
    assert health_text(failed) == "disks 2, 1 FAILED"


def test_failures_are_written_so_that_they_stand_out():
    health = summarise([
        ("ups", {}, {"output_source": 5, "battery_status": 3, "charge_pct": 41, "runtime_remaining_min": 7}),
        ("ups_output", {"line": "1"}, {"load_pct": 55}),
        ("nvr_disk", {"disk": "1"}, {"status": 0, "used_pct": 99.0}),
        ("nvr_disk", {"disk": "2"}, {"status": 3, "used_pct": 12.5}),
        ("env_input", {"name": "leak"}, {"value": 1, "alarm": 1}),
        ("env_input", {"name": "smoke"}, {"value": 0, "alarm": 0}),
        ("snmp_if", {"index": "1"}, {"oper_status": 2}),
    ])
    assert health_text(health) == ("ON BATTERY, battery LOW, charge 41 %, runtime 7 min, load 55 %, 2 inputs, "
                                    "1 IN ALARM, ports 0 up of 1, disks 2, 1 FAILED, fullest 99 %")


def test_apc_ups_and_netbotz_and_akcp_readings():
    assert summarise([("apc_ups", {}, {"output_status": 3, "battery_status": 4, "capacity_pct": 80.0,
                                       "runtime_remaining_min": 25.0, "output_load_pct": 31.0})]) == {
        "power": "battery", "battery": "fault", "charge_pct": 80.0, "runtime_min": 25.0, "load_pct": 31.0}
    rooms = summarise([("env_sensor", {"name": "pod1"}, {"temperature_c": 30.7, "humidity_pct": 41.0}),
                       ("env_input", {"name": "fire"}, {"alarm": 2, "comm_status": 2}),
                       ("akcp_temperature", {"name": "rack"}, {"temperature_c": 19.5}),
                       ("akcp_switch", {"name": "door"}, {"status": 2})])
    assert rooms == {"temperature_c": [19.5, 30.7], "humidity_pct": [41.0, 41.0], "inputs": 2, "inputs_alarm": 1}
    assert health_text({"humidity_pct": [41.0, 41.0]}) == "humidity 41 %RH"


def test_nothing_of_interest_is_no_health():
    assert summarise([("snmp_system", {}, {"uptime_s": 5.0}), ("icmp", {}, {"up": 1})]) == {}
    assert render_health([{"device": "a", "health": None}]) == ""


def _snmp(device: str, time_ns: int, error_code: int = 0) -> Sample:
    return Sample("snmp", {"device": device}, {"up": int(error_code != 1), "error_code": error_code}, time_ns)


def test_status_rows_carry_the_newest_poll_and_forget_a_silent_agent():
    states = DeviceStates()
    states.set_inventory([_Device("sw", "127.0.0.1", "switch", ("d",), snmp=SimpleNamespace(active=True)),
                          _Device("ups", "127.0.0.2", "ups", ("d",), snmp=SimpleNamespace(active=True))])
    states.update([_snmp("sw", T0), *_poll("Cisco_sfe2000", "switch", "sw"),
                   _snmp("ups", T0), *_poll("abbups_abbups", "ups", "ups")])
    rows = {row["device"]: row for row in states.rows()}
    assert rows["sw"]["health"] == {"ports": 52, "ports_up": 14}
    assert rows["ups"]["health"]["power"] == "mains"
    # A port gone from the next poll is gone from the figures (a table is replaced whole).
    states.update([_snmp("sw", T0 + 1), Sample("snmp_if", {"device": "sw", "index": "1"}, {"oper_status": 1}, T0 + 1)])
    assert {row["device"]: row for row in states.rows()}["sw"]["health"] == {"ports": 1, "ports_up": 1}
    # An agent that stops answering keeps no figures that would pass for current ones.
    states.update([_snmp("ups", T0 + 1, error_code=1)])
    rows = {row["device"]: row for row in states.rows()}
    assert rows["ups"]["health"] is None
    table = render_health(states.rows())
    assert table.splitlines() == ["SNMP health (newest poll)", "  sw  ports 1 up of 1"]


def test_embedded_store_gives_every_row_of_the_newest_poll(tmp_path):
    store = EmbeddedStore(tmp_path / "metrics.db", retention_days=1)
    try:
        store.write(_poll("hwg-poseidon", "env_sensor", "env", T0))
        newer = [s for s in _poll("hwg-poseidon", "env_sensor", "env", T0 + 10**9) if s.tags.get("index") != "8"]
        store.write(newer)
    finally:
        store.close()
    rows = EmbeddedStore.read_newest_rows(tmp_path / "metrics.db", ["env_sensor", "env_input"])
    assert {row.time_ns for row in rows} == {T0 + 10**9}
    sensors = sorted(row.tags["name"] for row in rows if row.measurement == "env_sensor")
    assert sensors == ["H.Ambiente", "H.C4c", "H.Network", "H.Servidores", "T.Ambiente", "T.C4c", "T.Network"]
    assert len([row for row in rows if row.measurement == "env_input"]) == 6
    assert EmbeddedStore.read_newest_rows(tmp_path / "none.db", ["env_sensor"]) == []


def test_health_words_in_chinese():
    from monitor.i18n import using

    with using("zh-CN"):
        assert health_text(_health("abbups_abbups", "ups")) == "市电供电，电池正常，电量 100 %，续航 452 分钟，负载 6 %，CPU 17 %"
        assert health_text(_health("Cisco_sfe2000", "switch")) == "端口 52 个，其中 14 个 up"
        assert render_health([{"device": "东街道-环境-01", "health": {"inputs": 6, "inputs_alarm": 1}}]).splitlines() == [
            "SNMP 健康状况（最近一次采集）", "  东街道-环境-01  开关量输入 6 路，1 路告警"]
    assert health_text({"inputs": 6, "inputs_alarm": 1}) == "6 inputs, 1 IN ALARM"
