"""The shipped optics rules (monitor/rules/defaults/optics.yaml) on the recordings of real
devices run through their profiles, as tests/unit/test_rules_defaults.py does: healthy as
recorded they open nothing; with the one value a rule watches changed they open one fault per
port, after 3 polls and 5 minutes, and clear 1 dB back inside."""

from __future__ import annotations

from tests.unit.test_rules_defaults import opened, profile_samples, every

HW = "1.3.6.1.4.1.2011.5.25.31.1.1.3.1."
H3C = "1.3.6.1.4.1.25506.2.70.1.1.1."
SENSOR = "1.3.6.1.2.1.99.1.1.1."
POLL = 60


def huawei(changes=None, t=0, recording="vrp_ne8000-m8"):
    return [s for s in profile_samples("huawei_optics", recording, "switch", changes, t) if s.measurement == "optic"]


def h3c(changes=None, t=0):
    return [s for s in profile_samples("h3c_optics", "comware_transceivers", "switch", changes, t)
            if s.measurement == "optic"]


def arista(changes=None, t=0):
    return profile_samples("entity_sensor_optics", "arista_eos", "switch", changes, t)


def cisco(changes=None, t=0):
    return profile_samples("cisco_optics", "iosxe_c9600-svl", "switch", changes, t)


def test_healthy_recorded_transceivers_open_nothing():
    # The NE8000's GigabitEthernet0/7/3 reads -40 dBm (no light: nothing at the far end) and
    # three Arista ports likewise: not a weak fibre, so no fault.
    assert opened(every(POLL, 10, lambda t: huawei(t=t) + huawei(t=t, recording="vrp_5720") + h3c(t=t)
                        + arista(t=t) + cisco(t=t))) == set()


def test_optic_rx_power_low():
    # GigabitEthernet0/7/1: low alarm -26.02 dBm; the lane column (.32) and .8 carry the reading
    weak = {HW + "32.17240322": b"-2700", HW + "8.17240322": -2700}          # -27 dBm
    assert opened(every(POLL, 7, lambda t: huawei(weak, t))) == {("optic_rx_power_low", "switch-1",
                                                                  "GigabitEthernet0/7/1")}
    assert opened(every(POLL, 5, lambda t: huawei(weak, t))) == set()       # 4 minutes: not yet
    # H3C: Ten-GigabitEthernet8/0/16 at -14.85 dBm drifts to -20.5, below the module's -20.00
    dim = {H3C + "12.51": -2050}
    assert opened(every(POLL, 6, lambda t: h3c(dim, t))) == {("optic_rx_power_low", "switch-1",
                                                              "Ten-GigabitEthernet8/0/16")}


def test_optic_rx_power_low__clears_with_hysteresis_and_stays_open_when_the_light_goes():
    from monitor.rules.engine import RuleEngine
    from monitor.rules.settings import RulesSettings
    from tests.unit.test_rules_defaults import DEVICES, RULES

    engine = RuleEngine(RULES, DEVICES, RulesSettings(dirs=[]))
    actions = []

    def feed(level: bytes, polls: int, start: int):
        for i in range(polls):
            batch = huawei({HW + "32.17240322": level}, (start + i) * POLL)
            actions.extend((t.rule, t.action) for t in engine.evaluate(batch) if t.rule == "optic_rx_power_low")

    feed(b"-2700", 7, 0)
    assert [action for _rule, action in actions][0] == "open"
    feed(b"-4000", 3, 7)                     # the fibre goes dark: still open
    feed(b"-2550", 4, 10)                    # 0.52 dB above the alarm: not clear yet
    assert "clear" not in [action for _rule, action in actions]
    feed(b"-2400", 2, 14)                    # 2 dB above, 2 polls: not yet
    assert "clear" not in [action for _rule, action in actions]
    feed(b"-2400", 1, 16)                    # the third: clears
    assert [action for _rule, action in actions][-1] == "clear"


def test_optic_rx_power_warn():
    # GigabitEthernet0/7/0: warning -15.00, alarm -16.00; -15.5 dBm is between them
    between = {HW + "32.17240321": b"-1550"}
    assert opened(every(POLL, 7, lambda t: huawei(between, t))) == {("optic_rx_power_warn", "switch-1",
                                                                     "GigabitEthernet0/7/0")}
    below = {HW + "32.17240321": b"-1700"}          # below the alarm too: only the alarm rule
    assert opened(every(POLL, 7, lambda t: huawei(below, t))) == {("optic_rx_power_low", "switch-1",
                                                                   "GigabitEthernet0/7/0")}


def test_optic_rx_power_low_default():
    # Arista Ethernet1 receives 0.0001 mW (-40 dBm); 0.0120 mW is -19.2 dBm: weak, some light
    weak = {SENSOR + "4.100301213": 120}
    assert opened(every(POLL, 7, lambda t: arista(weak, t))) == {("optic_rx_power_low_default", "switch-1",
                                                                  "Ethernet1")}
    # Catalyst 9600 Twe2/1/0/48 at -2.9 dBm (raw -29, precision 1) drops to -21.5 dBm
    assert opened(every(POLL, 7, lambda t: cisco({"1.3.6.1.4.1.9.9.91.1.1.1.1.4.7961": -215}, t))) == {
        ("optic_rx_power_low_default", "switch-1", "Twe2/1/0/48")}
    fine = {SENSOR + "4.100301213": 500}             # 0.05 mW = -13 dBm
    assert opened(every(POLL, 7, lambda t: arista(fine, t))) == set()
    # modules with thresholds of their own are left to optic_rx_power_low: -19 dBm on the
    # H3C module whose alarm is -20 dBm opens nothing
    assert opened(every(POLL, 7, lambda t: h3c({H3C + "12.51": -1900}, t))) == set()


def test_optic_module_status():
    broken = {SENSOR + "5.100302213": 3}              # Ethernet2's receive sensor nonoperational
    assert opened(every(POLL, 2, lambda t: arista(broken, t))) == {("optic_module_status", "switch-1",
                                                                    "Ethernet2")}
    assert opened(every(POLL, 1, lambda t: arista(broken, t))) == set()
    assert opened(every(POLL, 3, lambda t: arista({SENSOR + "5.100302213": 2}, t))) == set()   # unavailable
    # Cisco entSensorStatus of Twe1/1/0/47's receive power sensor
    assert opened(every(POLL, 2, lambda t: cisco({"1.3.6.1.4.1.9.9.91.1.1.1.1.5.1943": 3}, t))) == {
        ("optic_module_status", "switch-1", "Twe1/1/0/47")}
