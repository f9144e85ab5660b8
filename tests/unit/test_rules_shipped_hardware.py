"""The shipped hardware and environment-sensor status rules (monitor/rules/defaults/hardware.yaml
and the sensor-limit rules of environment.yaml), with all shipped rules loaded at once: each opens
on a realistic failure and stays quiet on the healthy recording. Samples are recordings of real
devices run through the shipped profiles (as tests/unit/test_rules_defaults.py does), healthy as
recorded and broken by changing the one value the rule watches; the SSH rows are the recorded
`display device` of a CloudEngine chassis, parsed by the huawei_vrp SSH profile."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from monitor import lineproto
from monitor.cli import rules as rules_cli
from monitor.rules.engine import RuleEngine
from monitor.rules.settings import RulesSettings
from probes.base import Sample
from probes.ssh import profiles as ssh_profiles
from tests.unit import test_rules_defaults as D

opened, every, profile_samples, rules_of = D.opened, D.every, D.profile_samples, D.rules_of
S, T0 = D.S, D.T0

ENVMON = "1.3.6.1.4.1.9.9.13.1."                      # CISCO-ENVMON-MIB tables
HUAWEI_BOARD = "1.3.6.1.4.1.2011.5.25.31.1.1.1.1."
HUAWEI_FAN = "1.3.6.1.4.1.2011.5.25.31.1.1.10.1.7."   # hwEntityFanState
H3C = "1.3.6.1.4.1.25506.2.6.1.1.1.1."
SENSOR_STATUS = "1.3.6.1.2.1.99.1.1.1.5."             # entPhySensorOperStatus
AKCP = "1.3.6.1.4.1.3854.1.2.2.1."
HWG_STATE = "1.3.6.1.4.1.21796.3.3.3.1.4."
NETBOTZ_POD_COMM = "1.3.6.1.4.1.318.1.1.10.5.1.1.1.11."
NETBOTZ_INPUT_COMM = "1.3.6.1.4.1.318.1.1.10.4.3.2.1.8."


def cli_run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="netvigil")
    rules_cli.add_rules_parser(parser.add_subparsers(dest="command", required=True))
    return rules_cli.rules_test_command(parser.parse_args(list(argv)))


def cisco(changes=None, t=0):
    return profile_samples("cisco_ios", "ios_2960x", "switch", changes, t)


def huawei(changes=None, t=0):
    # The recorded AR169 has no fan table; two fans are added as an S5700 reports them (index
    # slot.fan, 1 normal), so the rule sees a real board table next to them.
    fans = {HUAWEI_FAN + "0.0": 1, HUAWEI_FAN + "0.1": 1}
    return profile_samples("huawei_vrp", "vrp_ar169fgwl", "router", {**fans, **(changes or {})}, t)


def h3c(changes=None, t=0):
    # The recorded FF 5700 walk has neither threshold nor error status: its 27 sensors get the
    # 75 °C threshold and its boards the normal (2) status those columns read on such a switch.
    added = {H3C + "13." + index: 75 for index in ("436", "509", "538", "556")}
    added.update({H3C + "19." + index: 2 for index in ("42", "46", "47")})
    return profile_samples("h3c_comware", "comware", "switch", {**added, **(changes or {})}, t)


def arista(changes=None, t=0):
    return profile_samples("entity_sensor", "arista_eos", "switch", changes, t)


def env(profile, recording, changes=None, t=0):
    return profile_samples(profile, recording, "env_sensor", changes, t)


def test_healthy_recorded_hardware_opens_nothing():
    # 2960-X stack: 3 fans, 3 supplies normal, 43-44 °C of 68; AR169 SRU 56 °C of 74; FF 5700
    # sensors 22-58 °C; Arista: 211 sensors ok.
    assert opened(every(60, 6, lambda t: cisco(t=t) + huawei(t=t) + h3c(t=t) + arista(t=t))) == set()
    assert opened(every(300, 3, lambda t: board_rows(t=t))) == set()


# -- fans and power supplies ---------------------------------------------------------------------

def test_fan_failed_huawei():
    broken = every(60, 2, lambda t: huawei({HUAWEI_FAN + "0.1": 2}, t))
    assert opened(broken) == {("fan_failed_huawei", "router-1", "0.1")}
    assert opened(broken[:1]) == set()                     # one poll: a tray being swapped


def test_fan_failed_cisco():
    broken = every(60, 2, lambda t: cisco({ENVMON + "4.1.3.2007": 3}, t))   # critical
    assert opened(broken) == {("fan_failed_cisco", "switch-1", "Switch#2, Fan#1")}
    assert opened(every(60, 4, lambda t: cisco({ENVMON + "4.1.3.2007": 5}, t))) == set()   # no tray in the bay


def test_power_supply_failed_cisco():
    broken = every(60, 2, lambda t: cisco({ENVMON + "5.1.3.1006": 6}, t))   # not functioning
    assert opened(broken) == {("power_supply_failed_cisco", "switch-1", "Sw1, PS1 Normal, RPS NotExist")}
    assert opened(every(60, 4, lambda t: cisco({ENVMON + "5.1.3.3006": 5}, t))) == set()


def test_a_failed_supply_message_names_the_supply_and_its_state():
    engine = RuleEngine(D.RULES, D.DEVICES, RulesSettings(dirs=[]))
    for t in (0, 60):
        found = engine.evaluate(cisco({ENVMON + "5.1.3.2006": 3}, t))
    [fault] = found
    assert (fault.action, fault.severity, fault.instance) == ("open", "major", "Sw2, PS1 Normal, RPS NotExist")
    assert fault.message == ("switch-1 at machine-room: power supply Sw2, PS1 Normal, RPS NotExist state 3 "
                             "(2 warning, 3 critical, 4 shutdown, 6 not functioning) for 2 samples; check its "
                             "feed, then replace it")


# -- temperatures against the device's own threshold ----------------------------------------------

def test_temperature_warning_cisco():
    warm = every(60, 2, lambda t: cisco({ENVMON + "3.1.6.1008": 2, ENVMON + "3.1.3.1008": 58}, t))
    assert opened(warm) == {("temperature_warning_cisco", "switch-1", "SW#1, Sensor#1, GREEN")}


def test_temperature_critical_cisco():
    engine = RuleEngine(D.RULES, D.DEVICES, RulesSettings(dirs=[]))
    [fault] = engine.evaluate(cisco({ENVMON + "3.1.3.3008": 69}))   # 69 °C, its threshold is 68
    assert (fault.rule, fault.severity, fault.instance, fault.value, fault.threshold) == \
        ("temperature_critical_cisco", "critical", "SW#3, Sensor#1, GREEN", 69, 68)
    assert fault.message == ("switch-1 at machine-room: SW#3, Sensor#1, GREEN 69 °C, at the device's own limit of "
                             "68 °C (state 1: 3 critical, 4 shutdown); the device may power off, act now")
    # 66 °C is within 3 °C of the limit: still open; 64 °C twice clears it
    assert engine.evaluate(cisco({ENVMON + "3.1.3.3008": 66}, 60)) == []
    assert engine.evaluate(cisco({ENVMON + "3.1.3.3008": 64}, 120)) == []
    assert [t.action for t in engine.evaluate(cisco({ENVMON + "3.1.3.3008": 64}, 180))] == ["clear"]
    # the device's own state says shutdown
    assert rules_of(opened([cisco({ENVMON + "3.1.6.2008": 4})])) == {"temperature_critical_cisco"}


def test_board_overheat_huawei():
    engine = RuleEngine(D.RULES, D.DEVICES, RulesSettings(dirs=[]))
    assert engine.evaluate(huawei({HUAWEI_BOARD + "11.9": 76})) == []
    [fault] = engine.evaluate(huawei({HUAWEI_BOARD + "11.9": 76}, 60))
    assert (fault.rule, fault.severity, fault.instance, fault.value, fault.threshold) == \
        ("board_overheat_huawei", "major", "SRU Board 0", 76, 74)
    assert fault.message == ("router-1 at machine-room: SRU Board 0 76 °C >= its own threshold 74 °C for 2 samples; "
                             "check fans and room cooling")
    # hysteresis: 72 °C is under the threshold but not 3 °C under: stays open
    assert engine.evaluate(huawei({HUAWEI_BOARD + "11.9": 72}, 120) + huawei({HUAWEI_BOARD + "11.9": 72}, 180)) == []
    cleared = [engine.evaluate(huawei(t=t)) for t in (240, 300)]
    assert [t.action for batch in cleared for t in batch] == ["clear"]
    # a board that reports no threshold (0) is never "over" it
    assert opened(every(60, 3, lambda t: huawei({HUAWEI_BOARD + "12.9": 0}, t))) == set()


def test_board_overheat_h3c():
    hot = every(60, 2, lambda t: h3c({H3C + "13.538": 55}, t))     # sensor 0.11.4 reads 58 °C
    assert opened(hot) == {("board_overheat_h3c", "switch-1", "sensor 0.11.4")}
    # no threshold column at all (the recorded walk): never over it
    assert opened(every(60, 3, lambda t: profile_samples("h3c_comware", "comware", "switch", time_s=t))) == set()


def test_entity_error_h3c():
    broken = every(60, 2, lambda t: h3c({H3C + "19.46": 41}, t))   # fanError on the master board
    assert opened(broken) == {("entity_error_h3c", "switch-1", "Master Board 4")}
    absent = every(60, 3, lambda t: h3c({H3C + "19.47": 4}, t))    # entityAbsent: an empty slot
    assert opened(absent) == set()


# -- sensor status ----------------------------------------------------------------------------------

def test_sensor_not_operational():
    broken = every(60, 3, lambda t: arista({SENSOR_STATUS + "100006001": 3}, t))
    assert opened(broken) == {("sensor_not_operational", "switch-1", "Cpu temp sensor")}
    assert opened(broken[:2]) == set()


def test_fan_stopped_sensor():
    # Fan Tray 3 Fan 1 Sensor 1 (entPhysicalIndex 100603111, 8,450 rpm as recorded) reads 0
    stopped = every(60, 2, lambda t: arista({"1.3.6.1.2.1.99.1.1.1.4.100603111": 0}, t))
    assert opened(stopped) == {("fan_stopped_sensor", "switch-1", "Fan Tray 3 Fan 1 Sensor 1")}
    assert opened(stopped[:1]) == set()


def test_temperature_limit_akcp():
    hot = every(60, 2, lambda t: env("akcp", "akcp_serverprobe8", {AKCP + "16.1.4.7": 4}, t))   # highCritical
    assert opened(hot) == {("temperature_limit_akcp", "env_sensor-1", "Temp.Sensor 1")}


def test_temperature_warning_akcp():
    warm = every(60, 6, lambda t: env("akcp", "akcp_serverprobe8", {AKCP + "16.1.4.6": 3}, t))  # highWarning
    assert opened(warm) == {("temperature_warning_akcp", "env_sensor-1", "Temp.Sensor 2")}
    assert opened(warm[:5]) == set()


def test_humidity_limit_akcp():
    wet = every(60, 2, lambda t: env("akcp", "akcp_serverprobe8", {AKCP + "17.1.4.0": 6}, t))   # lowCritical
    assert opened(wet) == {("humidity_limit_akcp", "env_sensor-1", "Custom Descr 1")}


def test_humidity_warning_akcp():
    dry = every(60, 6, lambda t: env("akcp", "akcp_serverprobe8", {AKCP + "17.1.4.7": 5}, t))   # lowWarning
    assert opened(dry) == {("humidity_warning_akcp", "env_sensor-1", "Custom Descr 3")}


def test_sensor_error_akcp():
    broken = every(60, 3, lambda t: env("akcp", "akcp_serverprobe8", {AKCP + "18.1.3.5": 7}, t))
    assert opened(broken) == {("sensor_error_akcp", "env_sensor-1", "USV Koax Stoerung")}


def test_sensor_limit_hwg():
    # T.Servidores reads 23.6 °C: alarmHigh means the site set a tighter limit on the unit
    alarm = env("env_hwg", "hwg-poseidon", {HWG_STATE + "8": 5})
    assert opened([alarm]) == {("sensor_limit_hwg", "env_sensor-1", "T.Servidores")}
    outside = every(60, 4, lambda t: env("env_hwg", "hwg-poseidon", {HWG_STATE + "8": 3}, t))  # within its delay
    assert opened(outside) == set()


def test_sensor_error_hwg():
    broken = every(60, 3, lambda t: env("env_hwg", "hwg-poseidon", {HWG_STATE + "2": 0}, t))
    assert opened(broken) == {("sensor_error_hwg", "env_sensor-1", "H.Network")}


def test_sensor_lost_netbotz():
    lost = every(60, 3, lambda t: env("netbotz", "apc_netbotz", {NETBOTZ_POD_COMM + "5": 0}, t))
    assert opened(lost) == {("sensor_lost_netbotz", "env_sensor-1", "THUM-05-B12-F")}


def test_input_lost_netbotz():
    lost = every(60, 3, lambda t: env("netbotz", "apc_netbotz", {NETBOTZ_INPUT_COMM + "0.2": 3}, t))
    assert opened(lost) == {("input_lost_netbotz", "env_sensor-1", "Fault Fire Alarm")}


# -- boards and stack members over SSH (`display device`) -------------------------------------------

DISPLAY_DEVICE = (Path(__file__).resolve().parents[1] / "fixtures/ssh/huawei_vrp/display_device.txt").read_text()
HUAWEI_SSH = ssh_profiles.load_profiles([ssh_profiles.PACKAGED_PROFILES])["huawei_vrp"]
DEVICE_COMMAND = next(spec for spec in HUAWEI_SSH.commands if spec.name == "device")


def board_rows(replace: tuple[str, str] | None = None, t: float = 0) -> list[Sample]:
    output = DISPLAY_DEVICE if replace is None else DISPLAY_DEVICE.replace(*replace)
    assert replace is None or output != DISPLAY_DEVICE
    return ssh_profiles.command_samples(HUAWEI_SSH, DEVICE_COMMAND, output, None, 850.0, D.tags("switch"),
                                        T0 + int(t * S))


PWR2 = "PWR2  -      PHD-3000WA               Present  On    Registered   Normal"
MPU10 = "10    -      CE-MPUA-S                Present  On    Registered  "
MPU10_ROW = "10    -      CE-MPUA-S                Present  On    Registered   Normal    Slave"


def test_ssh_board_abnormal():
    alarm = board_rows((PWR2, PWR2.replace("Normal", "Abnormal")))
    assert opened([alarm]) == {("ssh_board_abnormal", "switch-1", "PWR2")}
    engine = RuleEngine(D.RULES, D.DEVICES, RulesSettings(dirs=[]))
    [fault] = engine.evaluate(alarm)
    assert fault.message == ("switch-1 at machine-room: slot PWR2 (PHD-3000WA) reports Abnormal; see "
                             "`display alarm active` on the device")


def test_ssh_board_offline():
    down = every(300, 2, lambda t: board_rows((MPU10, MPU10.replace("Registered  ", "Unregistered")), t))
    assert opened(down) == {("ssh_board_offline", "switch-1", "10")}
    assert opened(down[:1]) == set()                      # a board restarting: one check is not enough
    off = every(300, 2, lambda t: board_rows((MPU10, MPU10.replace("On ", "Off")), t))
    assert opened(off) == {("ssh_board_offline", "switch-1", "10")}
    # a stack member that left the stack, as VRP prints it (Offline, power and alarm `-`)
    gone = every(300, 2, lambda t: board_rows((MPU10_ROW, "10    -      CE-MPUA-S                Offline  -     "
                                                          "Unregistered -         NA   "), t))
    assert opened(gone) == {("ssh_board_offline", "switch-1", "10")}


# -- the same through `netvigil rules test` ------------------------------------------------------------

def test_netvigil_rules_test_opens_a_failed_fan_supply_and_overheating(tmp_path, capsys):
    # What the daemon writes for a recorded 2960-X stack whose fan 2 dies and supply 1 stops at
    # minute 1 and whose sensor 3 reaches 69 °C (its threshold 68) at minute 2, and for a
    # recorded AR169 whose SRU board reads 76 °C (its threshold 74) from minute 1.
    samples = []
    for minute in range(4):
        changes = {ENVMON + "4.1.3.2007": 3, ENVMON + "5.1.3.1006": 6} if minute >= 1 else {}
        if minute >= 2:
            changes[ENVMON + "3.1.3.3008"] = 69
        samples += [s for s in cisco(changes, minute * 60) if s.measurement.startswith(("cisco_fan", "cisco_power",
                                                                                        "cisco_temp"))]
        samples += [s for s in huawei({HUAWEI_BOARD + "11.9": 76} if minute >= 1 else None, minute * 60)
                    if s.measurement == "huawei_board"]
    written = tmp_path / "hardware.lp"
    written.write_text("".join(lineproto.encode(sample) + "\n" for sample in samples))
    (tmp_path / "rules.d").mkdir()                               # no site rules: the shipped ones alone
    assert cli_run("rules", "test", "--with-shipped", "--json", str(tmp_path / "rules.d"), str(written)) == 0
    opens = [(t["time"], t["severity"], t["device"], t["rule"], t["instance"], t["value"], t["threshold"])
             for t in json.loads(capsys.readouterr().out)["transitions"] if t["action"] == "open"]
    assert sorted(opens) == [
        ("2026-05-28T20:28:40Z", "critical", "switch-1", "temperature_critical_cisco", "SW#3, Sensor#1, GREEN", 69, 68),
        ("2026-05-28T20:28:40Z", "major", "router-1", "board_overheat_huawei", "SRU Board 0", 76, 74),
        ("2026-05-28T20:28:40Z", "major", "switch-1", "fan_failed_cisco", "Switch#2, Fan#1", 3, None),
        ("2026-05-28T20:28:40Z", "major", "switch-1", "power_supply_failed_cisco", "Sw1, PS1 Normal, RPS NotExist", 6,
         None)]
