"""The shipped SSH hardware rules (monitor/rules/defaults/ssh_hardware.yaml), each opening on
a realistic bad sample and staying quiet on healthy ones. The samples are real captures
(tests/fixtures/ssh/) run through the shipped profiles, healthy as captured and broken by
changing the one word or number the rule watches, as a failing device would print it."""

from __future__ import annotations

from pathlib import Path

from probes.base import Sample
from probes.ssh.profiles import command_samples, load_profiles
from tests.unit.test_rules_defaults import S, T0, every, opened, tags

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ssh"
PROFILES = load_profiles([])


def capture(profile: str, command: str, path: str, replace: tuple[str, str] = ("", ""),
            device_class: str = "switch"):
    text = (FIXTURES / path).read_text()
    if replace[0]:
        assert replace[0] in text
        text = text.replace(*replace)
    spec = next(c for c in PROFILES[profile].commands if c.name == command)
    return lambda t: command_samples(PROFILES[profile], spec, text, None, 1.0, tags(device_class),
                                     T0 + int(t * S))


def polls(make, count: int = 3) -> list[list[Sample]]:
    return every(300, count, make)  # SSH checks run every 5 minutes by default


def test_ssh_board_offline():
    # The capture itself has a stack member "Offline ... Unregistered": two polls open it.
    offline = capture("huawei_vrp", "device", "huawei_vrp/display_device_all.txt")
    assert opened(polls(offline, 1)) == set()  # one poll is not enough (a member rebooting)
    assert opened(polls(offline, 2)) == {("ssh_board_offline", "switch-1", "2")}
    healthy = capture("huawei_vrp", "device", "huawei_vrp/display_device.txt")
    assert opened(polls(healthy)) == set()
    powered_off = capture("huawei_vrp", "device", "huawei_vrp/display_device.txt",
                          ("12    -      CE-SFUC-S                Present  On ",
                           "12    -      CE-SFUC-S                Present  Off"))
    assert opened(polls(powered_off)) == {("ssh_board_offline", "switch-1", "12")}


def test_ssh_board_abnormal():
    abnormal = capture("huawei_vrp", "device", "huawei_vrp/display_device.txt",
                       ("FAN3  -      FAN-600A-B               Present  On    Registered   Normal",
                        "FAN3  -      FAN-600A-B               Present  On    Registered   Abnormal"))
    assert opened(polls(abnormal)) == {("ssh_board_abnormal", "switch-1", "FAN3")}


def test_ssh_fan_failed():
    failed = capture("h3c_comware", "fan", "h3c_comware/display_fan5.txt",
                     (" Fan 2: \n\n State    : Normal", " Fan 2: \n\n State    : Fault"))
    assert opened(polls(failed)) == {("ssh_fan_failed", "switch-1", "slot 1 fan 2")}
    for name in ("display_fan.txt", "display_fan2.txt", "display_fan4.txt", "display_fan5.txt"):
        assert opened(polls(capture("h3c_comware", "fan", f"h3c_comware/{name}"))) == set()


def test_ssh_power_failed():
    # As captured: "Slot 2 ... Power 1 State : Fault" and "PWR2 fail".
    assert opened(polls(capture("h3c_comware", "power", "h3c_comware/display_power6.txt"))) == {
        ("ssh_power_failed", "switch-1", "slot 2 power 1")}
    assert opened(polls(capture("h3c_comware", "power", "h3c_comware/display_power.txt"))) == {
        ("ssh_power_failed", "switch-1", "slot  power PWR2")}
    assert opened(polls(capture("h3c_comware", "power", "h3c_comware/display_power3.txt"))) == set()


def test_ssh_power_failed_cisco():
    # As captured: "3A  Unknown  Unknown  No Input Power  Bad  Bad  235".
    assert opened(polls(capture("cisco_ios", "power", "cisco_ios/show_environment_power_all.txt"))) == {
        ("ssh_power_failed_cisco", "switch-1", "power supply 3A")}
    # Empty bays ("Not Present") are no failure; 2B "No Input Power" is.
    assert opened(polls(capture("cisco_ios", "power", "cisco_ios/show_environment_power_all-3850-not-pres.txt"))) == {
        ("ssh_power_failed_cisco", "switch-1", "power supply 2B")}
    assert opened(polls(capture("cisco_ios", "power", "cisco_ios/show_environment_power_all-no-poe.txt"))) == set()


def test_ssh_temperature_high():
    # "LPUF41A   0   1    0    NORMAL  63    71    78    50   60   36": at 63 °C it reaches its Minor limit.
    hot = capture("huawei_vrp_temperature", "temperature", "huawei_vrp/display_temperature.txt",
                  ("LPUF41A   0   1    0    NORMAL  63    71    78    50   60   36",
                   "LPUF41A   0   1    0    NORMAL  63    71    78    50   60   63"), device_class="router")
    assert opened(polls(hot)) == {("ssh_temperature_high", "router-1", "slot 2 LPUF41A sensor 0/1/0")}
    near = capture("huawei_vrp_temperature", "temperature", "huawei_vrp/display_temperature.txt",
                   ("LPUF41A   0   1    0    NORMAL  63    71    78    50   60   36",
                    "LPUF41A   0   1    0    NORMAL  63    71    78    50   60   62"), device_class="router")
    assert opened(polls(near)) == set()
    assert opened(polls(capture("huawei_vrp_temperature", "temperature", "huawei_vrp/display_temperature.txt",
                                device_class="router"))) == set()


def test_ssh_temperature_high_cisco():
    # "Inlet Temperature Value: 29 ... Yellow Threshold : 46": at 47 °C and YELLOW it is over.
    text = (FIXTURES / "cisco_ios/show_environment_temperature.txt").read_text()
    assert "Inlet Temperature Value: 29 Degree Celsius\nTemperature State: GREEN" in text
    hot = capture("cisco_ios", "temperature", "cisco_ios/show_environment_temperature.txt",
                  ("Inlet Temperature Value: 29 Degree Celsius\nTemperature State: GREEN",
                   "Inlet Temperature Value: 47 Degree Celsius\nTemperature State: YELLOW"))
    assert opened(polls(hot)) == {("ssh_temperature_high_cisco", "switch-1", "switch 1")}
    assert opened(polls(capture("cisco_ios", "temperature", "cisco_ios/show_environment_temperature.txt"))) == set()


def test_ssh_memory_high():
    # "Used Rate: 36%" as captured; 95 % held for 5 minutes opens it.
    full = capture("h3c_comware", "memory", "h3c_comware/display_memory.txt", ("Used Rate: 36%", "Used Rate: 95%"))
    assert opened(every(60, 7, full)) == {("ssh_memory_high", "switch-1", "")}
    assert opened(every(60, 7, capture("h3c_comware", "memory", "h3c_comware/display_memory2.txt"))) == set()


def test_ssh_state_unknown():
    odd = capture("huawei_vrp", "device", "huawei_vrp/display_device.txt",
                  ("PWR3  -      PHD-3000WA               Present  On    Registered   Normal",
                   "PWR3  -      PHD-3000WA               Present  On    Registered   Minor "))
    assert opened(polls(odd, 1)) == {("ssh_state_unknown", "switch-1", "device")}
    assert opened(polls(capture("huawei_vrp", "device", "huawei_vrp/display_device.txt"))) == set()
