"""The vendor CLI profiles' hardware commands through real SSH sessions and netmiko's own
drivers (`huawei`, `hp_comware`, `cisco_ios`), against the CLI simulator replaying real
captures (tests/fixtures/ssh/SOURCES.md): an offline stack member, master/slave, uptime
and router temperatures (Huawei), memory, fans and power supplies in Comware 7 layouts (H3C),
memory, temperatures and power supplies (Cisco). Expected values are read off the captures
(quoted next to each assertion), never computed with netvigil's own code."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.sshsim import CliSim, default_outputs
from probes.base import Target
from probes.ssh.hostkeys import HostKeyStore
from probes.ssh.prober import SshProber
from probes.ssh.profiles import load_profiles
from probes.ssh.settings import SshSettings

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ssh"
PROFILES = load_profiles([])
USER = {"username": "admin", "password": "Admin@123"}


class CiscoSim(CliSim):
    """The simulator with an IOS prompt (`SW-CORE-01#`) for netmiko's cisco_ios driver."""

    @property
    def prompt(self) -> str:
        return f"{self.hostname}#"


def read(path: str) -> str:
    return (FIXTURES / path).read_text()


async def probe(sim: CliSim, profiles: list[str], tmp_path: Path):
    settings = SshSettings.model_validate({
        "credentials": {"c": USER}, "credential": "c", "port": sim.port, "profiles": profiles, "known_hosts": [],
        "connect_timeout_s": 5, "auth_timeout_s": 5, "command_timeout_s": 10, "session_timeout_s": 40})
    known = tmp_path / "known_hosts"
    known.write_text(sim.known_hosts_line() + "\n")
    prober = SshProber(settings, PROFILES, HostKeyStore([known], None))
    errors: list = []
    try:
        samples = await prober.probe([Target("sw", "127.0.0.1", {"device": "sw"})], lambda _n: settings,
                                     on_error=lambda _t, e: errors.append(e.detail))
    finally:
        prober.close()
        await sim.stop()
    by: dict = {}
    for sample in samples[1:]:
        key = sample.tags.get("command") if sample.measurement == "ssh_command" else sample.measurement
        by.setdefault(key, []).append(({k: v for k, v in sample.tags.items() if k != "device"}, sample.fields))
    return samples[0].fields, by, errors


async def test_huawei_offline_member_role_uptime_and_temperatures(tmp_path):
    outputs = default_outputs()
    outputs["display device"] = read("huawei_vrp/display_device_all.txt")
    sim = await CliSim(outputs=outputs).start()
    summary, by, errors = await probe(sim, ["huawei_vrp", "huawei_vrp_temperature"], tmp_path)
    assert errors == [] and summary["error_code"] == 0 and summary["commands_ok"] == summary["commands"] == 5
    # "1     -      CE6850-48S4Q-EI     Present  On    Registered   Normal    Master"
    # "2     -      *CE6850-48S4Q-EI    Offline  -     Unregistered -         NA"
    boards = by["ssh_board"]
    assert boards[0] == ({"slot": "1", "card": "-", "pid": "CE6850-48S4Q-EI"},
                         {"online_status": 1.0, "power_status": 1.0, "register_status": 1.0, "alarm_status": 1.0,
                          "role": 1.0})
    assert boards[-1] == ({"slot": "2", "card": "-", "pid": "CE6850-48S4Q-EI"},
                          {"online_status": 0.0, "register_status": 0.0})
    assert by["device"][0][1]["unknown_states"] == 0 and by["device"][0][1]["ok"] == 1
    # "Huawei AR6280 Router uptime is 60 weeks, 4 days, 11 hours, 20 minutes"
    assert by["ssh_version"][0][1] == {"uptime_s": 36674400.0}
    # SlotID2 "LPUF41A   7   175  0    NORMAL  89    94    105   76   86   55"
    temperatures = {tuple(tags.values()): fields for tags, fields in by["ssh_temperature"]}
    assert len(temperatures) == 9
    assert temperatures[("2", "LPUF41A", "7", "175", "0")] == {
        "status": 1.0, "minor_c": 89.0, "major_c": 94.0, "fatal_c": 105.0, "temperature_c": 55.0, "headroom_c": 34.0}


async def test_h3c_comware_memory_fans_power_through_hp_comware(tmp_path):
    sim = CliSim(hostname="SW-ACC-07", outputs={
        "screen-length disable": "", "display cpu-usage": read("h3c_comware/display_cpu-usage2.txt"),
        "display memory": read("h3c_comware/display_memory2.txt"), "display fan": read("h3c_comware/display_fan5.txt"),
        "display power": read("h3c_comware/display_power6.txt")})
    sim.paging_off_commands.add("screen-length disable")  # hp_comware's session preparation
    await sim.start()
    summary, by, errors = await probe(sim, ["h3c_comware"], tmp_path)
    assert errors == [] and summary["error_code"] == 0 and summary["commands_ok"] == 4
    assert by["cpu"][0][1]["cpu_pct"] == 7.0  # "7% in last 1 minute"
    # "Mem: 1028192 611416 416776 0 1752 227956 46.0%", "-/+ Buffers/Cache: 381708 646484"
    [(tags, memory)] = by["ssh_memory"]
    assert tags == {"slot": "0"} and (memory["mem_total_kb"], memory["mem_app_used_kb"]) == (1028192.0, 381708.0)
    assert memory["mem_pct"] == 37.124
    assert by["ssh_fan"] == [({"slot": "1", "fan": "1"}, {"state": 1.0}), ({"slot": "1", "fan": "2"}, {"state": 1.0})]
    # " Slot 2 ... Power    1 / State    : Fault"
    assert [(t["slot"], t["power"], f["state"]) for t, f in by["ssh_power"]] == [
        ("1", "1", 1.0), ("1", "2", 1.0), ("2", "1", 0.0), ("2", "2", 1.0)]
    assert "screen-length disable" in sim.commands_seen


async def test_cisco_ios_memory_temperature_power_through_cisco_ios(tmp_path):
    sim = CiscoSim(hostname="SW-CORE-01", config="", outputs={
        "terminal width 511": "", "terminal length 0": "",
        "show processes cpu | include CPU utilization": read("cisco_ios/show_processes_cpu_include.txt"),
        "show processes memory sorted | include Processor Pool":
            read("cisco_ios/show_processes_memory_sorted_include.txt"),
        "show version": read("cisco_ios/show_version.txt"),
        "show environment temperature": read("cisco_ios/show_environment_temperature.txt"),
        "show environment power all": read("cisco_ios/show_environment_power_all-3850-not-pres.txt")})
    sim.paging_off_commands.add("terminal length 0")
    await sim.start()
    summary, by, errors = await probe(sim, ["cisco_ios"], tmp_path)
    assert errors == [] and summary["error_code"] == 0 and summary["commands_ok"] == 5
    # "Processor Pool Total:  919638648 Used:  236752096 Free:  682886552"
    memory = by["memory"][0][1]
    assert (memory["mem_total_b"], memory["mem_used_b"], memory["mem_pct"]) == (919638648.0, 236752096.0, 25.744)
    # "router1 uptime is 2 years, 31 weeks, 6 days, 9 hours, 55 minutes"
    assert by["ssh_version"][0][1]["uptime_s"] == 82374900.0
    # "Switch 2: ... Inlet Temperature Value: 28 ... Hotspot Temperature Value: 69"
    switch2 = by["ssh_temperature"][1]
    assert switch2[0] == {"switch": "2"} and (switch2[1]["inlet_c"], switch2[1]["hotspot_c"]) == (28.0, 69.0)
    assert switch2[1]["inlet_yellow_c"] == 46.0 and switch2[1]["inlet_headroom_c"] == 18.0
    # "2B  PWR-C1-715WAC  DCB22222222  No Input Power  Bad  Bad  715"; "1B  Not Present"
    power = {tags["power"]: fields for tags, fields in by["ssh_power"]}
    assert power["2B"] == {"status": 0.0, "sys_pwr": 0.0, "poe_pwr": 0.0, "watts": 715.0}
    assert power["1B"] == {"info": 1}
