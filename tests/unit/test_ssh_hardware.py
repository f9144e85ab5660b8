"""The vendor CLI profiles' hardware states on real captures (tests/fixtures/ssh/SOURCES.md):
Huawei boards with an offline stack member, master/slave, uptime and board temperatures per
sensor; H3C Comware memory, fans and power supplies in every layout the captures show;
Cisco IOS memory, uptime, temperatures and power supplies. Expected values are read off the
captures by eye (quoted next to each assertion). And the profiles' own TextFSM templates: a
broken one is a `file:line` sentence when profiles are loaded and at `netvigil check`."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor import cli
from probes.ssh.profiles import ProfileError, SshProfile, command_samples, load_profiles

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ssh"
PROFILES = load_profiles([])
TAGS = {"device": "d"}


def run(profile: str, command: str, capture: str) -> tuple[dict, list]:
    """(the ssh_command fields, [(tags without device, fields) of every row sample])."""
    spec = next(c for c in PROFILES[profile].commands if c.name == command)
    samples = command_samples(PROFILES[profile], spec, (FIXTURES / capture).read_text(), None, 1.0, TAGS, 1)
    rows = [({k: v for k, v in s.tags.items() if k != "device"}, s.fields) for s in samples[1:]]
    return samples[0].fields, rows


# -- Huawei VRP --------------------------------------------------------------------------------------

def test_huawei_offline_stack_member_keeps_its_states():
    # "2     -      *CE6850-48S4Q-EI    Offline  -     Unregistered -         NA"
    command, rows = run("huawei_vrp", "device", "huawei_vrp/display_device_all.txt")
    assert command["ok"] == 1 and command["unknown_states"] == 0
    assert rows[0] == ({"slot": "1", "card": "-", "pid": "CE6850-48S4Q-EI"},
                       {"online_status": 1.0, "power_status": 1.0, "register_status": 1.0, "alarm_status": 1.0,
                        "role": 1.0})
    assert rows[-1] == ({"slot": "2", "card": "-", "pid": "CE6850-48S4Q-EI"},
                        {"online_status": 0.0, "register_status": 0.0})  # power and alarm `-`: do not apply
    assert [r[0]["card"] for r in rows] == ["-", "FAN1", "FAN2", "PWR2", "-"]


def test_huawei_unknown_state_word_is_kept_and_flagged():
    text = (FIXTURES / "huawei_vrp/display_device_all.txt").read_text()
    text = text.replace("PWR2   W1PA04BF0           Present  On    Registered   Normal ",
                        "PWR2   W1PA04BF0           Present  On    Registered   Minor  ")
    spec = next(c for c in PROFILES["huawei_vrp"].commands if c.name == "device")
    samples = command_samples(PROFILES["huawei_vrp"], spec, text, None, 1.0, TAGS, 1)
    psu = next(s for s in samples if s.tags.get("card") == "PWR2")
    assert "alarm_status" not in psu.fields
    assert (psu.fields["alarm_status_unknown"], psu.fields["unknown_states"]) == ("Minor", 1)
    assert (samples[0].fields["unknown_states"], samples[0].fields["unknown_words"]) == (
        1, "alarm_status=Minor (1 PWR2 W1PA04BF0)")


def test_huawei_uptime_in_seconds():
    # "Huawei AR6280 Router uptime is 60 weeks, 4 days, 11 hours, 20 minutes"
    _command, [(tags, fields)] = run("huawei_vrp", "version", "huawei_vrp/display_version.txt")
    assert tags["model"] == "AR6280" and tags["vrp_version"] == "5.170"
    assert fields == {"uptime_s": 60 * 604800 + 4 * 86400 + 11 * 3600 + 20 * 60}


def test_huawei_temperature_per_sensor_with_the_boards_own_limits():
    _command, rows = run("huawei_vrp_temperature", "temperature", "huawei_vrp/display_temperature.txt")
    # nine sensors; "SlotID25 :", "SlotID26 :" and "SlotID31 : No temp sensors." give no row
    assert len(rows) == 9 and len({tuple(t.values()) for t, _f in rows}) == 9
    # "LPUF41A   0   1    0    NORMAL  63    71    78    50   60   36" under "SlotID2 :"
    assert rows[1] == ({"slot": "2", "pcb": "LPUF41A", "i2c": "0", "addr": "1", "chl": "0"},
                       {"status": 1.0, "minor_c": 63.0, "major_c": 71.0, "fatal_c": 78.0, "temperature_c": 36.0,
                        "headroom_c": 27.0})
    # "FAN   1   0    0    NORMAL  70    80    95    32   45   25" under "SlotID27 :"
    assert rows[-1][0]["slot"] == "27" and rows[-1][1]["temperature_c"] == 25.0 and rows[-1][1]["headroom_c"] == 45.0


# -- H3C Comware -------------------------------------------------------------------------------------

def test_h3c_memory_comware5_and_comware7():
    # "Used Rate: 36%"
    assert run("h3c_comware", "memory", "h3c_comware/display_memory.txt")[1] == [
        ({"slot": ""}, {"mem_total_bytes": 389817120.0, "mem_used_bytes": 140703796.0, "mem_pct": 36.0})]
    # "Mem:       1028192    611416    416776         0      1752    227956       46.0%"
    # "-/+ Buffers/Cache:    381708    646484": programs hold 381708 of 1028192 KB
    [(tags, fields)] = run("h3c_comware", "memory", "h3c_comware/display_memory2.txt")[1]
    assert tags == {"slot": "0"}
    assert (fields["mem_total_kb"], fields["mem_app_used_kb"], fields["mem_free_pct"]) == (1028192.0, 381708.0, 46.0)
    assert fields["mem_pct"] == round(100 * 381708 / 1028192, 3) == 37.124


@pytest.mark.parametrize("capture, expected", [
    ("display_fan.txt", [({"slot": "1", "fan": "1"}, {"state": 1.0})]),           # "Slot 1 / FAN 1 / State : Normal"
    ("display_fan2.txt", [({"slot": "", "fan": "1"}, {"state": 1.0, "speed_level": 1.0})]),  # "1  Normal  1"
    ("display_fan3.txt", [({"slot": "1", "fan": "1"}, {"state": 1.0})]),
    ("display_fan4.txt", [({"slot": "", "fan": "1"}, {"state": 1.0})]),           # "Fan \t1 State: Normal"
    ("display_fan5.txt", [({"slot": "1", "fan": "1"}, {"state": 1.0}), ({"slot": "1", "fan": "2"}, {"state": 1.0})]),
])
def test_h3c_fans_in_every_layout(capture, expected):
    command, rows = run("h3c_comware", "fan", f"h3c_comware/{capture}")
    assert rows == expected and command["unknown_states"] == 0 and command["ok"] == 1


@pytest.mark.parametrize("capture, expected", [
    ("display_power.txt", [("", "PWR1", 1.0), ("", "PWR2", 0.0)]),                # "PWR1 normal", "PWR2 fail"
    ("display_power2.txt", [("1", "1", 1.0)]),
    ("display_power3.txt", [("1", "1", 1.0), ("1", "2", 1.0)]),
    ("display_power4.txt", [("", "1", 1.0), ("", "2", 1.0)]),                     # "Power        1 State: Normal"
    ("display_power5.txt", [("1", "1", 1.0), ("1", "2", 1.0)]),                   # "1  Normal  AC  --  --  --"
    ("display_power6.txt", [("1", "1", 1.0), ("1", "2", 1.0), ("2", "1", 0.0), ("2", "2", 1.0)]),  # Slot 2 Power 1 Fault
])
def test_h3c_power_supplies_in_every_layout(capture, expected):
    command, rows = run("h3c_comware", "power", f"h3c_comware/{capture}")
    assert [(t["slot"], t["power"], f["state"]) for t, f in rows] == expected
    assert command["unknown_states"] == 0


# -- Cisco IOS ---------------------------------------------------------------------------------------

def test_cisco_memory():
    # "Processor Pool Total:  919638648 Used:  236752096 Free:  682886552"
    fields, rows = run("cisco_ios", "memory", "cisco_ios/show_processes_memory_sorted_include.txt")
    assert rows == [] and fields["ok"] == 1
    assert (fields["mem_total_b"], fields["mem_used_b"], fields["mem_free_b"]) == (919638648.0, 236752096.0, 682886552.0)
    assert fields["mem_pct"] == round(100 * 236752096 / 919638648, 3) == 25.744


def test_cisco_temperatures_against_the_switchs_thresholds():
    _command, rows = run("cisco_ios", "temperature", "cisco_ios/show_environment_temperature.txt")
    # Switch 1: inlet 29 (yellow 46, red 56) GREEN; hotspot 67 (yellow 105, red 125) GREEN; SYSTEM TEMPERATURE is OK
    assert rows[0] == ({"switch": "1"}, {"system_status": 1.0, "inlet_c": 29.0, "inlet_status": 1.0,
                                         "inlet_yellow_c": 46.0, "inlet_red_c": 56.0, "hotspot_c": 67.0,
                                         "hotspot_status": 1.0, "hotspot_yellow_c": 105.0, "hotspot_red_c": 125.0,
                                         "inlet_headroom_c": 17.0, "hotspot_headroom_c": 38.0})
    assert rows[1][0] == {"switch": "2"} and (rows[1][1]["inlet_c"], rows[1][1]["hotspot_c"]) == (28.0, 69.0)


def test_cisco_power_supplies():
    # "3A  Unknown  Unknown  No Input Power  Bad  Bad  235"
    _command, rows = run("cisco_ios", "power", "cisco_ios/show_environment_power_all.txt")
    assert [(t["power"], f["status"], f["sys_pwr"]) for t, f in rows] == [
        ("1A", 1.0, 1.0), ("1B", 1.0, 1.0), ("2A", 1.0, 1.0), ("2B", 1.0, 1.0), ("3A", 0.0, 0.0), ("3B", 1.0, 1.0)]
    # "1B  Not Present": an empty bay, no state
    _command, rows = run("cisco_ios", "power", "cisco_ios/show_environment_power_all-3850-not-pres.txt")
    assert [(t["power"], f.get("status")) for t, f in rows] == [
        ("1A", 1.0), ("1B", None), ("2A", None), ("2B", 0.0), ("3A", 1.0), ("3B", None)]
    # "1A  PWR-C1-1100WAC  ABC123456AB  OK  Good  n/a  1100": no PoE, no poe_pwr
    _command, rows = run("cisco_ios", "power", "cisco_ios/show_environment_power_all-no-poe.txt")
    assert rows[0] == ({"power": "1A"}, {"status": 1.0, "sys_pwr": 1.0, "watts": 1100.0})


# -- a profile's own templates -------------------------------------------------------------------------

TEMPLATE = "Value SLOT (\\d+)\nValue STATE (\\S+)\n\nStart\n  ^${SLOT}\\s+${STATE} -> Record\n"


def _profile(directory: Path, textfsm: str) -> Path:
    path = directory / "site_cli.yaml"
    path.write_text("name: site_cli\ndriver: cli\ndevice_type: huawei\ncommands:\n  - name: boards\n"
                    "    command: display boards\n    textfsm:\n      measurement: ssh_board\n" + textfsm)
    return path


def test_a_template_file_next_to_the_profile_is_used(tmp_path):
    (tmp_path / "boards.textfsm").write_text(TEMPLATE)
    _profile(tmp_path, "      template_file: boards.textfsm\n      labels: [slot]\n      map: {state: {Up: 1, Down: 0}}\n")
    profile = load_profiles([tmp_path])["site_cli"]
    samples = command_samples(profile, profile.commands[0], "1 Up\n2 Down\n3 Booting\n", None, 1.0, TAGS, 1)
    assert [(s.tags.get("slot"), s.fields) for s in samples[1:]] == [
        ("1", {"state": 1.0}), ("2", {"state": 0.0}), ("3", {"state_unknown": "Booting", "unknown_states": 1})]
    assert samples[0].fields["unknown_words"] == "state=Booting (3)"


def test_an_inline_template_is_used(tmp_path):
    inline = "".join(f"        {line}\n" for line in TEMPLATE.splitlines())
    _profile(tmp_path, f"      labels: [slot]\n      template: |\n{inline}")
    profile = load_profiles([tmp_path])["site_cli"]
    samples = command_samples(profile, profile.commands[0], "4 Up\n", None, 1.0, TAGS, 1)
    assert samples[1].tags["slot"] == "4"


@pytest.mark.parametrize("template, line, says", [
    ("Value SLOT (\\d+)\nValue SLOT (\\d+)\n\nStart\n  ^${SLOT} -> Record\n", 2, "Duplicate declarations for Value 'SLOT'"),
    ("Value SLOT (\\d+)\n\nStart\n  ^${SLOT} -> Recrod\n", 4, "State 'Recrod' not found"),
    ("Value SLOT (\\d+)\n\nStart\n  ^${SLOT} -> Next.Record Start Extra\n", 4, "Badly formatted rule"),
    ("Value SLOT (\\d+\n\nStart\n  ^${SLOT} -> Record\n", 1, "Value"),
])
def test_a_broken_template_file_is_named_with_its_line(tmp_path, template, line, says):
    (tmp_path / "boards.textfsm").write_text(template)
    _profile(tmp_path, "      template_file: boards.textfsm\n")
    with pytest.raises(ProfileError) as caught:
        load_profiles([tmp_path])
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'boards.textfsm'}:{line}: TextFSM template: ") and says in message


def test_a_broken_inline_template_is_named_with_the_profile_files_line(tmp_path):
    inline = "        Value SLOT (\\d+)\n\n        Start\n          ^${SLOT} -> Recrod\n"
    path = _profile(tmp_path, f"      template: |\n{inline}")
    with pytest.raises(ProfileError) as caught:
        load_profiles([tmp_path])
    line = path.read_text().splitlines().index("          ^${SLOT} -> Recrod") + 1
    assert str(caught.value).startswith(f"{path}:{line}: TextFSM template: State 'Recrod' not found")


def test_a_missing_template_file_or_column_is_a_sentence(tmp_path):
    _profile(tmp_path, "      template_file: nowhere.textfsm\n")
    with pytest.raises(ProfileError, match=r"site_cli.yaml: commands\[0\].textfsm.template_file: cannot read "
                                           r".*nowhere.textfsm: No such file or directory"):
        load_profiles([tmp_path])
    (tmp_path / "boards.textfsm").write_text(TEMPLATE)
    _profile(tmp_path, "      template_file: boards.textfsm\n      labels: [slto]\n")
    with pytest.raises(ProfileError, match=r"boards.textfsm:1: TextFSM template has no column slto \(it has slot, state\)"):
        load_profiles([tmp_path])
    with pytest.raises(ValueError, match="give template or template_file, not both"):
        SshProfile.model_validate({"name": "x", "driver": "cli", "commands": [{"name": "c", "command": "c", "textfsm": {
            "measurement": "m", "template": TEMPLATE, "template_file": "t.textfsm"}}]})


def test_check_and_profiles_list_refuse_a_broken_template_with_exit_2(tmp_path, monkeypatch, capsys):
    profiles = tmp_path / "ssh_profiles"
    profiles.mkdir()
    (profiles / "boards.textfsm").write_text("Value SLOT (\\d+)\n\nStart\n  ^${SLOT} -> Recrod\n")
    _profile(profiles, "      template_file: boards.textfsm\n")
    (tmp_path / "inventory.yaml").write_text("sites:\n  - {name: d, level: district}\ndevices:\n"
                                             "  - {name: sw, address: 192.0.2.1, class: switch, site: d}\n")
    (tmp_path / "netvigil.yaml").write_text(f"inventory: [inventory.yaml]\nstate_dir: {tmp_path / 'state'}\n"
                                            f"probes:\n  ssh:\n    profile_dirs: [{profiles}]\n")
    monkeypatch.chdir(tmp_path)
    assert cli.main(["check", "-c", "netvigil.yaml"]) == 2
    err = capsys.readouterr().err
    assert f"{profiles / 'boards.textfsm'}:4: TextFSM template: State 'Recrod' not found" in err
    assert "Traceback" not in err
    assert cli.main(["profiles", "list", "-c", "netvigil.yaml"]) == 2
    err = capsys.readouterr().err
    assert f"{profiles / 'boards.textfsm'}:4: TextFSM template: State 'Recrod' not found" in err and "Traceback" not in err


def test_names_that_match_nothing_are_refused_at_load(tmp_path):
    def refused(command: dict) -> str:
        with pytest.raises(ValueError) as caught:
            SshProfile.model_validate({"name": "x", "driver": "exec", "commands": [{"name": "c", "command": "c",
                                                                                    **command}]})
        return str(caught.value)

    assert "c: sate not named groups of the regular expression (it has state)" in refused(
        {"match": "(?P<state>\\w+)", "map": {"sate": {"Up": 1}}})
    assert "rows: total not named groups of the regular expression (it has used)" in refused(
        {"rows": {"measurement": "m", "match": "(?P<used>\\d+)", "derive": {"pct": {"percent": ["used", "total"]}}}})
    assert "c: map, text, durations and derive shape what `match` finds" in refused({"map": {"s": {"Up": 1}}})
    (tmp_path / "boards.textfsm").write_text(TEMPLATE)
    _profile(tmp_path, "      template_file: boards.textfsm\n      rename: {stat: state_word}\n")
    with pytest.raises(ProfileError, match="boards.textfsm:1: TextFSM template has no column stat "):
        load_profiles([tmp_path])
