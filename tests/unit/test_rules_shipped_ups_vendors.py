"""The shipped rules of monitor/rules/defaults/ups_vendors.yaml, with every shipped rule loaded:
each opens on a realistic bad sample and stays quiet on a healthy one; and power.yaml's UPS
rules act on a Megatec/PPC card's samples as on an RFC 1628 card's. The samples are the
recordings of real cards (netagent2: XPPC-MIB; eatonups: XUPS-MIB; abbups_abbups: RFC 1628) run through their
profiles, healthy as recorded and broken by changing the value a rule watches."""

from __future__ import annotations

from tests.unit.test_rules_defaults import every, opened, profile_samples, rules_of

XPPC = "1.3.6.1.4.1.935.1.1.1."
XUPS = "1.3.6.1.4.1.534.1."
UPS_MIB = "1.3.6.1.2.1.33.1."


def ppc(changes=None, t=0):
    return profile_samples("megatec_ups", "netagent2", "ups", changes, t)


def xups(changes=None, t=0):
    return profile_samples("eaton_xups", "eatonups", "ups", changes, t)


def rfc1628(changes=None, t=0):
    return profile_samples("ups", "abbups_abbups", "ups", changes, t)


def test_a_healthy_netagent_ups_opens_nothing():
    # On line (2) is the quiet case; the recorded unit is on buck (9, reducer), also quiet.
    assert opened(every(60, 10, lambda t: ppc({XPPC + "4.1.1.0": 2}, t))) == set()
    assert opened(every(60, 10, lambda t: ppc(t=t))) == set()


def test_a_healthy_eaton_ups_opens_nothing():
    # As recorded (no state objects), and with the states of a healthy unit on mains.
    assert opened(every(60, 10, lambda t: xups(t=t))) == set()
    healthy = {XUPS + "4.5.0": 3, XUPS + "2.10.0": 2, XUPS + "2.5.0": 3, XUPS + "2.1.0": 3155, XUPS + "7.1.0": 0}
    assert opened(every(60, 10, lambda t: xups(healthy, t))) == set()


def test_a_healthy_huawei_ups2000_opens_nothing():
    # RFC 1628 under Huawei's sysObjectID: profile `ups`; its runtime "unknown" (2^32-1) is no reading.
    assert opened(every(60, 10, lambda t: profile_samples("ups", "huaweiups_ups2000", "ups", None, t))) == set()


def test_power_yaml_rules_act_on_a_netagent_ups():
    on_battery = every(60, 2, lambda t: ppc({XPPC + "4.1.1.0": 3, XPPC + "2.2.4.0": 300}, t))
    assert rules_of(opened(on_battery)) == {"ups_on_battery", "ups_runtime_short"}   # 5 min left
    assert rules_of(opened([ppc({XPPC + "2.1.1.0": 3})])) == {"ups_battery_low"}


def test_power_yaml_rules_act_on_an_eaton_ups():
    on_battery = every(60, 2, lambda t: xups({XUPS + "4.5.0": 5, XUPS + "2.1.0": 420}, t))   # 7 min left
    assert rules_of(opened(on_battery)) == {"ups_on_battery", "ups_runtime_short"}
    assert rules_of(opened([xups({XUPS + "2.10.0": 1})])) == {"ups_battery_low"}
    assert rules_of(opened(every(60, 2, lambda t: xups({XUPS + "7.1.0": 1}, t)))) == {"ups_alarm"}


def test_ups_output_off():
    # XPPC sleeping (5) -> RFC 1628 none; the RFC 1628 card's own code 2 the same.
    assert opened(every(60, 2, lambda t: ppc({XPPC + "4.1.1.0": 5}, t))) == {("ups_output_off", "ups-1", "")}
    assert opened(every(60, 2, lambda t: rfc1628({UPS_MIB + "4.1.0": 2}, t))) == {("ups_output_off", "ups-1", "")}
    # One poll of "none" during a transfer is not a fault.
    assert opened([ppc({XPPC + "4.1.1.0": 5}), ppc(t=60)]) == set()


def test_ups_on_bypass():
    bypass = every(60, 6, lambda t: ppc({XPPC + "4.1.1.0": 6}, t))
    assert opened(bypass) == {("ups_on_bypass", "ups-1", "")}
    assert opened(bypass[:3]) == set()                                   # 2 minutes: a transfer
    assert opened(every(60, 6, lambda t: rfc1628({UPS_MIB + "4.1.0": 4}, t))) == {("ups_on_bypass", "ups-1", "")}


def test_ups_replace_battery_vendor():
    assert opened([ppc({XPPC + "2.2.5.0": 2})]) == {("ups_replace_battery_vendor", "ups-1", "")}
    assert opened(every(60, 3, lambda t: ppc({XPPC + "2.2.5.0": 1}, t))) == set()


def test_ups_leak_alarm():
    assert opened([ppc({XPPC + "9.1.3.0": 2})]) == {("ups_leak_alarm", "ups-1", "")}
    assert opened(every(60, 3, lambda t: ppc({XPPC + "9.1.3.0": 1}, t))) == set()


def test_ups_smoke_alarm():
    assert opened([ppc({XPPC + "9.1.4.0": 2})]) == {("ups_smoke_alarm", "ups-1", "")}
    assert opened(every(60, 3, lambda t: ppc({XPPC + "9.1.4.0": 1}, t))) == set()


def test_ups_battery_check():
    # xupsBatteryAbmStatus 8 checkBattery, 6 disconnected; two polls.
    assert opened(every(60, 2, lambda t: xups({XUPS + "2.5.0": 8}, t))) == {("ups_battery_check", "ups-1", "")}
    assert opened(every(60, 2, lambda t: xups({XUPS + "2.5.0": 6}, t))) == {("ups_battery_check", "ups-1", "")}
    assert opened([xups({XUPS + "2.5.0": 6}), xups({XUPS + "2.5.0": 1}, 60)]) == set()
    # Eaton's maintenance bypass (11) is a bypass like any other.
    assert opened(every(60, 6, lambda t: xups({XUPS + "4.5.0": 11}, t))) == {("ups_on_bypass", "ups-1", "")}
