"""The rule engine: samples in, transitions out, with no network and no clock (pure)."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.faults.model import DeviceInfo, Transition
from monitor.rules.engine import RuleEngine
from monitor.rules.model import load_paths
from monitor.rules.settings import RulesSettings
from probes.base import Sample

S = 1_000_000_000  # one second in ns
T0 = 1_780_000_000 * S

CODEC = DeviceInfo("codec-1", "codec", ("district", "street-03"), tags=("vip",))
SWITCH = DeviceInfo("sw-1", "switch", ("district",))


def ruleset(tmp_path: Path, text: str, name: str = "rules.yaml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return load_paths([path])


def engine_for(tmp_path: Path, text: str, devices=(CODEC, SWITCH), **settings) -> RuleEngine:
    return RuleEngine(ruleset(tmp_path, text), devices, RulesSettings(**settings))


def icmp(t: float, device: str = "codec-1", **fields) -> Sample:
    return Sample("icmp", {"device": device, "site": "street-03", "class": "codec"}, fields, T0 + int(t * S))


LOSS = """
rules:
  - name: loss
    measurement: icmp
    match: {classes: [codec]}
    when: "loss_pct > 1 and up == 1"
    for_samples: 3
    clear: "loss_pct < 0.5"
    clear_samples: 2
    severity: major
    message: "{device} at {site}: loss {value}% > {threshold}% for {for} ({class}, {rule}, {nosuch})"
"""


def actions(transitions):
    return [(t.action, t.rule, t.device, t.instance) for t in transitions]


def test_opens_after_for_samples_updates_while_true_and_clears_with_hysteresis(tmp_path):
    engine = engine_for(tmp_path, LOSS)
    assert engine.evaluate([icmp(0, up=1, loss_pct=5.0)]) == []
    assert engine.evaluate([icmp(30, up=1, loss_pct=10.0)]) == []
    [opened] = engine.evaluate([icmp(60, up=1, loss_pct=15.0)])
    assert (opened.action, opened.rule, opened.device, opened.instance) == ("open", "loss", "codec-1", "")
    assert (opened.value, opened.threshold, opened.severity, opened.time_ns) == (15.0, 1.0, "major", T0 + 60 * S)
    assert opened.message == "codec-1 at street-03: loss 15% > 1% for 3 samples (codec, loss, ?)"
    assert opened.higher_is_worse and not opened.reachability
    [update] = engine.evaluate([icmp(90, up=1, loss_pct=2.5)])
    assert (update.action, update.value) == ("update", 2.5)
    # Between the thresholds: neither true nor clearing; nothing is said.
    assert engine.evaluate([icmp(120, up=1, loss_pct=0.8)]) == []
    assert engine.evaluate([icmp(150, up=1, loss_pct=0.0)]) == []          # 1 of 2 clear samples
    assert engine.evaluate([icmp(160, up=1, loss_pct=0.9)]) == []          # run broken
    assert engine.evaluate([icmp(180, up=1, loss_pct=0.0)]) == []
    [cleared] = engine.evaluate([icmp(210, up=1, loss_pct=0.0)])
    assert (cleared.action, cleared.value, cleared.time_ns) == ("clear", None, T0 + 210 * S)
    assert "cleared" in cleared.message
    assert engine.firing() == set()


def test_a_false_sample_restarts_the_pending_count(tmp_path):
    engine = engine_for(tmp_path, LOSS)
    out = []
    for t, loss in enumerate([5.0, 5.0, 0.0, 5.0, 5.0]):
        out += engine.evaluate([icmp(t * 30, up=1, loss_pct=loss)])
    assert out == []
    assert actions(engine.evaluate([icmp(150, up=1, loss_pct=5.0)])) == [("open", "loss", "codec-1", "")]


def test_unknown_samples_change_nothing(tmp_path):
    engine = engine_for(tmp_path, LOSS)
    engine.evaluate([icmp(0, up=1, loss_pct=5.0), icmp(30, up=1, loss_pct=5.0)])
    # No loss_pct: unknown, neither counts nor resets.
    assert engine.evaluate([icmp(45, up=1)]) == []
    assert actions(engine.evaluate([icmp(60, up=1, loss_pct=5.0)])) == [("open", "loss", "codec-1", "")]
    # While open, unknown does not clear either (and is no update).
    assert engine.evaluate([icmp(70, up=1), icmp(80, up=1)]) == []
    assert engine.firing() == {("codec-1", "loss", "")}


def test_without_clear_a_sample_lacking_the_field_leaves_an_open_fault_open(tmp_path):
    # No `clear:`: the default is "when is false". A sample without the rule's field makes
    # `when` unknown, and unknown is not false: an SNMP poll that lost one column, or an
    # ICMP sample of a probe error, must not resolve a fault that nobody fixed.
    engine = engine_for(tmp_path, """
rules:
  - {name: loss, measurement: icmp, when: "loss_pct > 1", severity: major}
""")
    assert actions(engine.evaluate([icmp(0, up=1, loss_pct=5.0)])) == [("open", "loss", "codec-1", "")]
    assert engine.evaluate([icmp(30, up=1), icmp(60, up=0), icmp(90, up=1)]) == []
    assert engine.firing() == {("codec-1", "loss", "")}
    # ...while a sample that answers the question does clear it.
    assert actions(engine.evaluate([icmp(120, up=1, loss_pct=0.0)])) == [("clear", "loss", "codec-1", "")]


def test_rules_apply_only_to_matching_devices_and_measurements(tmp_path):
    engine = engine_for(tmp_path, LOSS)
    for t in range(5):
        assert engine.evaluate([icmp(t * 30, device="sw-1", up=1, loss_pct=50.0)]) == []
        assert engine.evaluate([Sample("snmp", {"device": "codec-1"}, {"up": 1, "loss_pct": 50.0}, T0 + t * S)]) == []
        assert engine.evaluate([icmp(t * 30, device="not-in-inventory", up=1, loss_pct=50.0)]) == []
    assert engine.firing() == set()


def test_for_duration_counts_from_the_first_true_sample(tmp_path):
    engine = engine_for(tmp_path, """
rules:
  - {name: hot, measurement: env, when: "temperature_c > 35", for: 5m, severity: major,
     clear_for: 2m, message: "{device} {value} for {for}"}
""")
    env = lambda t, v: Sample("env", {"device": "sw-1"}, {"temperature_c": v}, T0 + t * S)  # noqa: E731
    assert engine.evaluate([env(0, 36), env(120, 37), env(299, 38)]) == []
    [opened] = engine.evaluate([env(300, 39)])
    assert opened.message == "sw-1 39 for 5m"
    assert engine.evaluate([env(360, 20)]) == []
    assert engine.evaluate([env(470, 20)]) == []
    assert actions(engine.evaluate([env(480, 20)])) == [("clear", "hot", "sw-1", "")]


def test_instances_give_one_fault_per_port(tmp_path):
    engine = engine_for(tmp_path, """
rules:
  - name: port_down
    measurement: snmp_if
    when: 'oper_status == 2 and alias =~ "(?i)uplink"'
    instance: "{name}"
    severity: major
    message: "{device}: port {instance} ({alias}) down"
""")

    def port(name, alias, status):
        return Sample("snmp_if", {"device": "sw-1", "name": name, "alias": alias}, {"oper_status": status}, T0)
    out = engine.evaluate([port("Gi0/1", "Uplink core", 2), port("Gi0/2", "printer", 2), port("Gi0/3", "UPLINK b", 1)])
    assert [(t.action, t.instance, t.message) for t in out] == [
        ("open", "Gi0/1", "sw-1: port Gi0/1 (Uplink core) down")]
    assert engine.firing() == {("sw-1", "port_down", "Gi0/1")}


EVENT = """
rules:
  - name: rebooted
    measurement: snmp_system
    when: "rebooted == 1"
    clear_after: 1h
    value: uptime_s
    severity: warning
    message: "{device} restarted, up {value} s"
"""


def test_events_open_on_a_trigger_and_clear_by_tick_after_clear_after(tmp_path):
    engine = engine_for(tmp_path, EVENT)
    system = lambda t, rebooted, up: Sample("snmp_system", {"device": "sw-1"},  # noqa: E731
                                            {"rebooted": rebooted, "uptime_s": up}, T0 + t * S)
    [opened] = engine.evaluate([system(0, 1, 42)])
    assert (opened.action, opened.value, opened.message) == ("open", 42, "sw-1 restarted, up 42 s")
    assert engine.evaluate([system(60, 0, 102)]) == []   # the next poll does not clear an event
    assert engine.tick(T0 + 1800 * S) == []
    [again] = engine.evaluate([system(1800, 1, 5)])      # another reboot: update, clock restarts
    assert again.action == "update"
    assert engine.tick(T0 + 3600 * S) == []
    [cleared] = engine.tick(T0 + 5400 * S)
    assert (cleared.action, cleared.time_ns) == ("clear", T0 + 5400 * S)
    assert "no new trigger for 1h" in cleared.message
    assert engine.firing() == set()


def test_manual_rules_never_clear_by_themselves_until_reset(tmp_path):
    engine = engine_for(tmp_path, """
rules:
  - {name: hostkey, measurement: ssh, when: "error_code == 7", clear: manual, severity: critical}
""")
    ssh = lambda t, code: Sample("ssh", {"device": "sw-1"}, {"error_code": code}, T0 + t * S)  # noqa: E731
    assert actions(engine.evaluate([ssh(0, 7)])) == [("open", "hostkey", "sw-1", "")]
    assert engine.evaluate([ssh(60, 0), ssh(120, 0)]) == []
    assert engine.tick(T0 + 86400 * S) == []
    assert engine.firing() == {("sw-1", "hostkey", "")}
    engine.reset(("sw-1", "hostkey", ""))
    assert engine.firing() == set()
    assert engine.evaluate([ssh(200, 0)]) == []
    assert actions(engine.evaluate([ssh(260, 7)])) == [("open", "hostkey", "sw-1", "")]


def test_reset_of_a_condition_still_true_reopens_after_for(tmp_path):
    engine = engine_for(tmp_path, LOSS)
    for t in range(3):
        engine.evaluate([icmp(t * 30, up=1, loss_pct=5.0)])
    engine.reset(("codec-1", "loss", ""))
    assert engine.evaluate([icmp(90, up=1, loss_pct=5.0), icmp(120, up=1, loss_pct=5.0)]) == []
    assert actions(engine.evaluate([icmp(150, up=1, loss_pct=5.0)])) == [("open", "loss", "codec-1", "")]


def test_restored_keys_clear_when_the_condition_is_false_now(tmp_path):
    engine = engine_for(tmp_path, LOSS)
    unknown = engine.restore([("codec-1", "loss", ""), ("codec-1", "gone_rule", ""), ("nobody", "loss", "")], T0)
    assert unknown == [("codec-1", "gone_rule", ""), ("nobody", "loss", "")]
    assert engine.firing() == {("codec-1", "loss", "")}
    [update] = engine.evaluate([icmp(10, up=1, loss_pct=3.0)])
    assert update.action == "update"
    engine.evaluate([icmp(20, up=1, loss_pct=0.0)])
    assert actions(engine.evaluate([icmp(30, up=1, loss_pct=0.0)])) == [("clear", "loss", "codec-1", "")]


FLAPPY = """
rules:
  - name: down
    measurement: icmp
    when: "up == 0"
    severity: critical
    reachability: true
    flap: {changes: 4, window: 10m}
"""


def test_flapping_replaces_a_stream_of_alerts_and_ends_after_a_quiet_window(tmp_path):
    engine = engine_for(tmp_path, FLAPPY)
    out = []
    for i, up in enumerate([0, 1, 0]):
        out += engine.evaluate([icmp(i * 30, up=up)])
    assert [t.action for t in out] == ["open", "clear", "open"]
    assert out[0].reachability
    # The 4th change in 10 minutes: the open key clears (saying why) and one flapping fault opens.
    flapping = engine.evaluate([icmp(90, up=1)])
    assert actions(flapping) == [("clear", "down", "codec-1", ""), ("open", "flapping", "codec-1", "down")]
    assert "flapping" in flapping[0].message
    assert flapping[1].severity == "critical" and flapping[1].message == "codec-1: down flapping, 4 changes in 10m"
    out = engine.evaluate([icmp(120, up=0)])
    assert out == []  # quiet while flapping: no open, no update
    out = []
    for i in range(5, 24):
        out += engine.evaluate([icmp(i * 30, up=0 if i % 2 else 1)])
    assert out == []
    assert engine.firing() == {("codec-1", "flapping", "down")}
    # From the last change (t=690, down) a whole window (600 s) without change ends flapping;
    # the condition holds at that moment, so the key opens normally.
    assert engine.tick(T0 + 1289 * S) == []
    ended = engine.tick(T0 + 1290 * S)
    assert actions(ended) == [("clear", "flapping", "codec-1", "down"), ("open", "down", "codec-1", "")]
    assert engine.firing() == {("codec-1", "down", "")}


def test_flapping_ends_on_a_sample_that_then_decides_whether_the_key_opens(tmp_path):
    text = FLAPPY.replace("changes: 4", "changes: 3")
    engine = engine_for(tmp_path, text)
    out = []
    for i, up in enumerate([0, 1, 0]):
        out += engine.evaluate([icmp(i * 30, up=up)])
    # The third change is an open: not shown, the flapping fault is.
    assert actions(out) == [("open", "down", "codec-1", ""), ("clear", "down", "codec-1", ""),
                            ("open", "flapping", "codec-1", "down")]
    # A window after the last change (t=60), a sample that still says down: flapping ends and
    # the key opens normally.
    assert actions(engine.evaluate([icmp(660, up=0)])) == [("clear", "flapping", "codec-1", "down"),
                                                           ("open", "down", "codec-1", "")]
    # Same story, but the deciding sample says up: flapping ends and nothing opens.
    engine = engine_for(tmp_path, text)
    for i, up in enumerate([0, 1, 0]):
        engine.evaluate([icmp(i * 30, up=up)])
    assert actions(engine.evaluate([icmp(660, up=1)])) == [("clear", "flapping", "codec-1", "down")]
    assert engine.firing() == set()


def test_reset_of_a_flapping_fault_starts_the_key_afresh(tmp_path):
    engine = engine_for(tmp_path, FLAPPY.replace("changes: 4", "changes: 3"))
    for i, up in enumerate([0, 1, 0]):
        engine.evaluate([icmp(i * 30, up=up)])
    engine.reset(("codec-1", "flapping", "down"))
    assert engine.firing() == set()
    assert actions(engine.evaluate([icmp(100, up=0)])) == [("open", "down", "codec-1", "")]


def test_flap_detection_can_be_turned_off(tmp_path):
    engine = engine_for(tmp_path, FLAPPY.replace("flap: {changes: 4, window: 10m}", "flap: false"))
    out = []
    for i in range(10):
        out += engine.evaluate([icmp(i * 30, up=i % 2)])
    assert [t.action for t in out] == ["open", "clear"] * 5


def test_default_flap_settings_come_from_rules_settings(tmp_path):
    engine = engine_for(tmp_path, FLAPPY.replace("    flap: {changes: 4, window: 10m}\n", ""),
                        flap_changes=2, flap_window_s=60)
    out = engine.evaluate([icmp(0, up=0)]) + engine.evaluate([icmp(10, up=1)])
    assert actions(out) == [("open", "down", "codec-1", ""), ("clear", "down", "codec-1", ""),
                            ("open", "flapping", "codec-1", "down")]
    assert "2 changes in 1m" in out[-1].message
    assert "flapping" in out[1].message



def test_a_reload_with_new_settings_prepares_the_rules_with_the_new_flap_defaults(tmp_path):
    text = FLAPPY.replace("    flap: {changes: 4, window: 10m}\n", "")
    engine = engine_for(tmp_path, text)  # default: 5 changes in 30 minutes
    assert engine.set_rules(ruleset(tmp_path, text, "reloaded.yaml"), RulesSettings(flap_changes=2,
                                                                                   flap_window_s=60)) == []
    out = engine.evaluate([icmp(0, up=0)]) + engine.evaluate([icmp(10, up=1)])
    assert actions(out)[-1] == ("open", "flapping", "codec-1", "down")
    assert "2 changes in 1m" in out[-1].message
    # Without settings a reload keeps those in force.
    engine.set_rules(ruleset(tmp_path, text, "again.yaml"))
    out = engine.evaluate([icmp(20, device="sw-1", up=0)]) + engine.evaluate([icmp(30, device="sw-1", up=1)])
    assert actions(out)[-1] == ("open", "flapping", "sw-1", "down")


def test_rule_names_and_the_reachability_rules(tmp_path):
    engine = engine_for(tmp_path, FLAPPY + LOSS.replace("rules:\n", ""))
    assert engine.rule_names() == {"down", "loss"}
    assert engine.reachability_rule_names() == {"down"}
    engine.set_rules(ruleset(tmp_path, LOSS, "other.yaml"))
    assert (engine.rule_names(), engine.reachability_rule_names()) == ({"loss"}, set())

DURING = """
rules:
  - {name: loss_watch, measurement: icmp, when: "loss_pct > 1", during: heightened_watch, severity: major}
  - {name: loss_normal, measurement: icmp, when: "loss_pct > 1", for_samples: 3, during: normal, severity: minor}
"""


def test_during_selects_rules_by_heightened_watch_and_a_mode_change_clears_the_others(tmp_path):
    engine = engine_for(tmp_path, DURING)
    [opened] = engine.evaluate([icmp(0, loss_pct=5.0)], heightened=True)
    assert opened.rule == "loss_watch"
    out = engine.evaluate([icmp(30, loss_pct=5.0)], heightened=False)
    assert actions(out) == [("clear", "loss_watch", "codec-1", "")]
    assert out[0].message == "codec-1: loss_watch cleared (heightened watch ended)"
    engine.evaluate([icmp(60, loss_pct=5.0)])
    assert actions(engine.evaluate([icmp(90, loss_pct=5.0)])) == [("open", "loss_normal", "codec-1", "")]


def test_set_rules_keeps_state_of_unchanged_rules_and_clears_removed_ones(tmp_path):
    text = LOSS + """
  - {name: down, measurement: icmp, when: "up == 0", severity: critical}
"""
    engine = engine_for(tmp_path, text)
    for t in range(2):
        engine.evaluate([icmp(t * 30, up=1, loss_pct=5.0)])
    engine.evaluate([icmp(40, device="sw-1", up=0)])
    assert engine.firing() == {("sw-1", "down", "")}
    # `loss` unchanged (its pending count survives), `down` removed: its open key is cleared.
    out = engine.set_rules(ruleset(tmp_path, LOSS, "other.yaml"))
    assert actions(out) == [("clear", "down", "sw-1", "")]
    assert "rule removed" in out[0].message
    assert actions(engine.evaluate([icmp(60, up=1, loss_pct=5.0)])) == [("open", "loss", "codec-1", "")]
    # A changed rule: its open key stays open (a false condition still clears it), counters restart.
    changed = ruleset(tmp_path, LOSS.replace("loss_pct > 1", "loss_pct > 2"), "changed.yaml")
    assert engine.set_rules(changed) == []
    assert engine.firing() == {("codec-1", "loss", "")}
    engine.evaluate([icmp(90, up=1, loss_pct=0.0)])
    assert actions(engine.evaluate([icmp(120, up=1, loss_pct=0.0)])) == [("clear", "loss", "codec-1", "")]


def test_set_devices_drops_state_of_removed_devices(tmp_path):
    engine = engine_for(tmp_path, FLAPPY.replace("flap: {changes: 4, window: 10m}", "flap: false"))
    engine.evaluate([icmp(0, up=0), icmp(0, device="sw-1", up=0)])
    assert engine.firing() == {("codec-1", "down", ""), ("sw-1", "down", "")}
    out = engine.set_devices([SWITCH])
    assert actions(out) == [("clear", "down", "codec-1", "")]
    assert engine.firing() == {("sw-1", "down", "")}
    assert engine.evaluate([icmp(30, up=0)]) == []  # no longer in the inventory


def test_devices_matched_by_site_subtree_tag_and_name_pattern(tmp_path):
    text = """
rules:
  - {name: by_site, measurement: m, when: "x > 0", match: {sites: [district]}, severity: minor}
  - {name: by_street, measurement: m, when: "x > 0", match: {sites: [street-03]}, severity: minor}
  - {name: by_tag, measurement: m, when: "x > 0", match: {tags: [vip]}, severity: minor}
  - {name: by_name, measurement: m, when: "x > 0", match: {devices: ["sw-*"]}, severity: minor}
"""
    engine = engine_for(tmp_path, text)
    out = engine.evaluate([Sample("m", {"device": d}, {"x": 1}, T0) for d in ("codec-1", "sw-1")])
    assert sorted((t.device, t.rule) for t in out) == [
        ("codec-1", "by_site"), ("codec-1", "by_street"), ("codec-1", "by_tag"), ("sw-1", "by_name"),
        ("sw-1", "by_site")]


def test_only_keys_out_of_the_normal_state_are_kept(tmp_path):
    engine = engine_for(tmp_path, LOSS)
    engine.evaluate([icmp(t, up=1, loss_pct=0.0) for t in range(100)])
    assert engine._states == {}
    engine.evaluate([icmp(200, up=1, loss_pct=3.0)])
    assert len(engine._states) == 1
    engine.evaluate([icmp(230, up=1, loss_pct=0.0)])
    assert engine._states == {}


def test_a_lower_is_worse_rule_says_so(tmp_path):
    engine = engine_for(tmp_path, """
rules:
  - {name: runtime, measurement: ups, when: "runtime_remaining_min < 10", severity: critical}
""")
    [opened] = engine.evaluate([Sample("ups", {"device": "sw-1"}, {"runtime_remaining_min": 4}, T0)])
    assert (opened.value, opened.threshold, opened.higher_is_worse) == (4, 10.0, False)


@pytest.mark.parametrize("heightened", [False, True])
def test_tick_without_samples_is_harmless(tmp_path, heightened):
    engine = engine_for(tmp_path, LOSS)
    assert engine.tick(T0, heightened) == []
    assert engine.evaluate([], heightened) == []


# -- every field of a transition, and the paths that only a mutation run found untested ----------

def test_flapping_transitions_carry_their_time_and_say_what_flapped(tmp_path):
    engine = engine_for(tmp_path, FLAPPY.replace("changes: 4", "changes: 3"))
    out = []
    for i, up in enumerate([0, 1, 0]):
        out += engine.evaluate([icmp(i * 30, up=up)])
    assert out[1] == Transition("clear", "down", "codec-1", "", "critical", T0 + 30 * S, None, 0.0,
                                "codec-1: down cleared (back to normal)", True, True)
    assert out[2] == Transition("open", "flapping", "codec-1", "down", "critical", T0 + 60 * S, None, None,
                                "codec-1: down flapping, 3 changes in 10m", True, False)
    ended = engine.tick(T0 + 660 * S)
    assert ended == [
        Transition("clear", "flapping", "codec-1", "down", "critical", T0 + 660 * S, None, None,
                   "codec-1: down no longer flapping (stable for a whole window)", True, False),
        # the key's condition still holds: it opens, at the tick's time, with the last sample's value
        Transition("open", "down", "codec-1", "", "critical", T0 + 660 * S, 0, 0.0, "codec-1: down 0 (threshold 0)", True, True)]


PORT_FLAPPY = """
rules:
  - {name: port_down, measurement: snmp_if, when: "oper_status == 2", instance: "{name}", severity: major,
     flap: {changes: 3, window: 10m}, message: "{device}: port {instance} down"}
"""


def port(t: float, name: str, status: int, device: str = "sw-1") -> Sample:
    return Sample("snmp_if", {"device": device, "name": name}, {"oper_status": status}, T0 + int(t * S))


def test_an_instance_shows_in_cleared_and_flapping_messages(tmp_path):
    engine = engine_for(tmp_path, PORT_FLAPPY)
    out = []
    for i, status in enumerate([2, 1, 2]):
        out += engine.evaluate([port(i * 30, "Gi0/1", status)])
    assert [(t.action, t.rule, t.instance, t.message) for t in out] == [
        ("open", "port_down", "Gi0/1", "sw-1: port Gi0/1 down"),
        ("clear", "port_down", "Gi0/1", "sw-1: port_down Gi0/1 cleared (back to normal)"),
        ("open", "flapping", "port_down/Gi0/1", "sw-1: port_down Gi0/1 flapping, 3 changes in 10m")]
    assert engine.firing() == {("sw-1", "flapping", "port_down/Gi0/1")}
    engine.reset(("sw-1", "flapping", "port_down/Gi0/1"))  # the port name itself has a "/"
    assert engine.firing() == set()


def test_restored_flapping_faults_stay_open_until_a_quiet_window_passes(tmp_path):
    engine = engine_for(tmp_path, PORT_FLAPPY)
    keys = [("sw-1", "flapping", "port_down/Gi0/1"), ("sw-1", "flapping", "gone_rule/Gi0/2"), ("sw-1", "flapping", "gone")]
    assert engine.restore(keys, T0) == keys[1:]  # returned as the store knows them
    assert engine.firing() == {("sw-1", "flapping", "port_down/Gi0/1")}
    assert engine.tick(T0 + 60 * S) == []  # kept although it has no recent change on record
    assert engine.firing() == {("sw-1", "flapping", "port_down/Gi0/1")}
    [ended] = engine.tick(T0 + 600 * S)
    assert (ended.action, ended.rule, ended.instance, ended.time_ns) == ("clear", "flapping", "port_down/Gi0/1",
                                                                         T0 + 600 * S)
    assert engine.firing() == set() and engine._states == {}


def test_restore_refuses_a_rule_that_does_not_apply_to_the_device(tmp_path):
    engine = engine_for(tmp_path, LOSS)  # matches class codec only; sw-1 is a switch
    assert engine.restore([("sw-1", "loss", "")], T0) == [("sw-1", "loss", "")]
    assert engine.firing() == set()


def test_a_restored_key_updates_and_clears_with_the_samples_time(tmp_path):
    engine = engine_for(tmp_path, LOSS)
    engine.restore([("codec-1", "loss", "")], T0)
    [update] = engine.evaluate([icmp(10, up=1, loss_pct=3.0)])
    assert (update.action, update.time_ns, update.value) == ("update", T0 + 10 * S, 3.0)


def test_an_event_clears_clear_after_the_last_trigger_not_the_first(tmp_path):
    engine = engine_for(tmp_path, EVENT)
    system = lambda t, rebooted: Sample("snmp_system", {"device": "sw-1"},  # noqa: E731
                                        {"rebooted": rebooted, "uptime_s": 5}, T0 + t * S)
    engine.evaluate([system(0, 1)])
    [update] = engine.evaluate([system(1800, 1)])
    assert (update.action, update.time_ns, update.value) == ("update", T0 + 1800 * S, 5)
    assert engine.tick(T0 + 3601 * S) == []  # an hour after the first trigger, not after the last
    [cleared] = engine.tick(T0 + 5400 * S)
    assert cleared.message == "sw-1: rebooted cleared (no new trigger for 1h)"
    # Opening again after the clear starts from nothing: one trigger opens it.
    assert actions(engine.evaluate([system(6000, 1)])) == [("open", "rebooted", "sw-1", "")]


def test_a_pending_count_survives_a_tick(tmp_path):
    engine = engine_for(tmp_path, LOSS)
    engine.evaluate([icmp(0, up=1, loss_pct=5.0), icmp(30, up=1, loss_pct=5.0)])
    assert engine.tick(T0 + 45 * S) == []
    assert actions(engine.evaluate([icmp(60, up=1, loss_pct=5.0)])) == [("open", "loss", "codec-1", "")]


def test_clear_samples_count_afresh_after_each_clear(tmp_path):
    engine = engine_for(tmp_path, LOSS)  # for_samples 3, clear_samples 2
    for cycle in range(2):
        t = cycle * 300
        opened = engine.evaluate([icmp(t + i * 30, up=1, loss_pct=5.0) for i in range(3)])
        assert actions(opened) == [("open", "loss", "codec-1", "")], cycle
        assert engine.evaluate([icmp(t + 90, up=1, loss_pct=0.0)]) == [], cycle  # 1 of 2
        assert actions(engine.evaluate([icmp(t + 120, up=1, loss_pct=0.0)])) == [("clear", "loss", "codec-1", "")]


def test_a_change_exactly_one_window_old_no_longer_counts_towards_flapping(tmp_path):
    engine = engine_for(tmp_path, FLAPPY.replace("{changes: 4, window: 10m}", "{changes: 3, window: 1m}"))
    out = engine.evaluate([icmp(0, up=0), icmp(30, up=1), icmp(60, up=0)])
    # At t=60 the change at t=0 is a whole window old: two changes in the window, no flapping.
    assert actions(out) == [("open", "down", "codec-1", ""), ("clear", "down", "codec-1", ""),
                            ("open", "down", "codec-1", "")]


def test_change_history_is_forgotten_once_a_window_passed(tmp_path):
    engine = engine_for(tmp_path, FLAPPY)
    engine.evaluate([icmp(0, up=0), icmp(30, up=1)])
    assert engine._states  # two recent changes are remembered for flap detection
    engine.tick(T0 + 631 * S)
    assert engine._states == {}


def test_the_default_flap_window_ends_flapping(tmp_path):
    engine = engine_for(tmp_path, FLAPPY.replace("    flap: {changes: 4, window: 10m}\n", ""),
                        flap_changes=2, flap_window_s=60)
    engine.evaluate([icmp(0, up=0), icmp(10, up=1)])
    assert engine.tick(T0 + 69 * S) == []
    assert actions(engine.tick(T0 + 70 * S)) == [("clear", "flapping", "codec-1", "down")]


def test_a_tick_in_heightened_watch_clears_rules_of_normal_times(tmp_path):
    engine = engine_for(tmp_path, DURING)
    opened = engine.evaluate([icmp(i * 30, loss_pct=5.0) for i in range(3)])
    assert actions(opened) == [("open", "loss_normal", "codec-1", "")]
    assert engine.tick(T0 + 100 * S) == []  # a tick outside heightened watch changes nothing
    [cleared] = engine.tick(T0 + 120 * S, heightened=True)
    assert cleared.message == "codec-1: loss_normal cleared (heightened watch began)"
    assert cleared.time_ns == T0 + 120 * S


def test_a_rule_removed_while_flapping_clears_the_flapping_fault(tmp_path):
    engine = engine_for(tmp_path, FLAPPY.replace("changes: 4", "changes: 3"))
    engine.evaluate([icmp(0, up=0), icmp(30, up=1), icmp(60, up=0)])
    out = engine.set_rules(ruleset(tmp_path, LOSS, "other.yaml"))
    assert out == [Transition("clear", "flapping", "codec-1", "down", "critical", T0 + 60 * S, None, None,
                              "codec-1: down no longer flapping (rule removed from the configuration)", True, False)]
    assert engine.firing() == set()


def test_a_rule_whose_match_no_longer_covers_the_device_clears_its_fault(tmp_path):
    engine = engine_for(tmp_path, LOSS)
    engine.evaluate([icmp(i * 30, up=1, loss_pct=5.0) for i in range(3)])
    out = engine.set_rules(ruleset(tmp_path, LOSS.replace("classes: [codec]", "classes: [mcu]"), "other.yaml"))
    assert out == [Transition("clear", "loss", "codec-1", "", "major", T0 + 60 * S, None, 1.0,
                              "codec-1: loss cleared (the rule no longer applies to this device)", True, False)]


def test_a_device_whose_class_changed_has_its_fault_cleared_saying_so(tmp_path):
    engine = engine_for(tmp_path, LOSS)
    engine.evaluate([icmp(i * 30, up=1, loss_pct=5.0) for i in range(3)])
    out = engine.set_devices([DeviceInfo("codec-1", "mcu", ("district", "street-03")), SWITCH])
    assert [t.message for t in out] == ["codec-1: loss cleared (the rule no longer applies to this device)"]
    out = engine.set_devices([SWITCH])
    assert out == []  # nothing was open any more
    engine = engine_for(tmp_path, LOSS)
    engine.evaluate([icmp(i * 30, up=1, loss_pct=5.0) for i in range(3)])
    assert [t.message for t in engine.set_devices([SWITCH])] == [
        "codec-1: loss cleared (device removed from the inventory)"]


def test_messages_take_site_and_class_from_the_inventory_and_fields_from_the_sample(tmp_path):
    engine = engine_for(tmp_path, """
rules:
  - {name: slow, measurement: icmp, when: "rtt_ms > 100", severity: minor,
     message: "{device} ({class} at {site}): {rtt_ms} ms, {loss_pct}% loss"}
""")
    sample = Sample("icmp", {"device": "codec-1"}, {"rtt_ms": 150.0, "loss_pct": 2}, T0)  # no site/class tags
    [opened] = engine.evaluate([sample])
    assert opened.message == "codec-1 (codec at street-03): 150 ms, 2% loss"


def test_the_value_of_a_rule_on_a_tag_comes_from_the_tag(tmp_path):
    engine = engine_for(tmp_path, """
rules:
  - {name: high_index, measurement: snmp_if, when: "index > 10", instance: "{index}", severity: minor,
     message: "{device}: index {value}", flap: false}
""")
    sample = lambda t: Sample("snmp_if", {"device": "sw-1", "index": "12"}, {"x": 1}, T0 + t * S)  # noqa: E731
    [opened] = engine.evaluate([sample(0)])
    assert (opened.value, opened.message) == (12.0, "sw-1: index 12")
    [update] = engine.evaluate([sample(30)])
    assert update.value == 12.0


def test_a_healthy_sample_forgets_changes_older_than_the_flap_window(tmp_path):
    engine = engine_for(tmp_path, FLAPPY)
    engine.evaluate([icmp(0, up=0), icmp(30, up=1)])
    engine.evaluate([icmp(400, up=1)])
    assert engine._states  # the changes at 0 and 30 are inside the 10-minute window
    engine.evaluate([icmp(631, up=1)])  # no tick needed: the sample itself forgets them
    assert engine._states == {}


INSTANCES = """
rules:
  - {name: by_name, measurement: snmp_if, when: "oper_status == 2", instance: "{name}", severity: minor}
  - {name: by_text, measurement: snmp_if, when: "oper_status == 2", instance: "port {name}", severity: minor}
  - {name: by_two, measurement: snmp_if, when: "oper_status == 2", instance: "{slot}/{port}", severity: minor}
  - {name: by_spec, measurement: snmp_if, when: "oper_status == 2", instance: "{index:0>3}", severity: minor}
"""


def test_instances_follow_their_template(tmp_path):
    engine = engine_for(tmp_path, INSTANCES)
    tags = {"device": "sw-1", "name": "Gi0/1", "slot": "1", "port": "7", "index": "7"}
    out = engine.evaluate([Sample("snmp_if", tags, {"oper_status": 2}, T0)])
    assert [(t.rule, t.instance) for t in out] == [("by_name", "Gi0/1"), ("by_text", "port Gi0/1"),
                                                   ("by_two", "1/7"), ("by_spec", "007")]
    # A tag the sample lacks is left empty, never "None".
    out = engine.evaluate([Sample("snmp_if", {"device": "codec-1"}, {"oper_status": 2}, T0)])
    assert [(t.rule, t.instance) for t in out] == [("by_name", ""), ("by_text", "port "), ("by_two", "/"),
                                                   ("by_spec", "")]


def test_a_changed_rule_restarts_pending_keys_and_a_removed_one_still_clears(tmp_path):
    text = LOSS + """
  - {name: down, measurement: icmp, when: "up == 0", severity: critical}
"""
    engine = engine_for(tmp_path, text)
    engine.evaluate([icmp(0, up=1, loss_pct=5.0), icmp(30, up=1, loss_pct=5.0)])  # loss: 2 of 3, pending
    engine.evaluate([icmp(40, device="sw-1", up=0)])                               # down: open
    changed = ruleset(tmp_path, LOSS.replace("loss_pct > 1", "loss_pct > 2"), "changed.yaml")
    assert [t.message for t in engine.set_rules(changed)] == [
        "sw-1: down cleared (rule removed from the configuration)"]
    # The pending count of the changed rule starts again: two more samples are not enough.
    assert engine.evaluate([icmp(60, up=1, loss_pct=5.0), icmp(90, up=1, loss_pct=5.0)]) == []
    assert actions(engine.evaluate([icmp(120, up=1, loss_pct=5.0)])) == [("open", "loss", "codec-1", "")]


def test_an_open_event_whose_rule_changed_still_clears_by_time(tmp_path):
    engine = engine_for(tmp_path, EVENT)
    engine.evaluate([Sample("snmp_system", {"device": "sw-1"}, {"rebooted": 1, "uptime_s": 5}, T0)])
    assert engine.set_rules(ruleset(tmp_path, EVENT.replace("restarted", "was restarted"), "changed.yaml")) == []
    assert engine.tick(T0 + 1800 * S) == []
    assert actions(engine.tick(T0 + 3600 * S)) == [("clear", "rebooted", "sw-1", "")]
    assert engine._states  # its change is remembered for flap detection (default window 30 min) ...
    engine.tick(T0 + 5401 * S)
    assert engine._states == {}  # ... and then nothing is left behind


def test_a_restored_event_clears_by_time_and_a_restored_flapping_twin_shares_the_key(tmp_path):
    engine = engine_for(tmp_path, EVENT + FLAPPY.replace("rules:\n", ""))
    unknown = engine.restore([("sw-1", "rebooted", ""), ("codec-1", "down", ""), ("codec-1", "flapping", "down"),
                              ("sw-1", "flapping", "gone_rule/CAM-X")], T0)
    assert unknown == [("sw-1", "flapping", "gone_rule/CAM-X")]
    assert engine.firing() == {("sw-1", "rebooted", ""), ("codec-1", "down", ""), ("codec-1", "flapping", "down")}
    engine.reset(("nobody", "rebooted", ""))  # resetting what the engine does not know is harmless
    # An hour on: the event clears, and the flapping fault ends (quiet for a window); the key
    # behind it was restored open, so it opens again.
    assert actions(engine.tick(T0 + 3600 * S)) == [("clear", "rebooted", "sw-1", ""),
                                                   ("clear", "flapping", "codec-1", "down"),
                                                   ("open", "down", "codec-1", "")]
    assert engine.firing() == {("codec-1", "down", "")}


def test_rules_of_normal_times_survive_inventory_reloads_and_restore(tmp_path):
    engine = engine_for(tmp_path, DURING)
    engine.evaluate([icmp(i * 30, loss_pct=5.0) for i in range(3)])
    assert engine.firing() == {("codec-1", "loss_normal", "")}
    assert engine.set_devices([CODEC, SWITCH]) == []
    assert engine.firing() == {("codec-1", "loss_normal", "")}
    engine = engine_for(tmp_path, DURING)
    assert engine.restore([("codec-1", "loss_normal", "")], T0) == []


def test_heightened_watch_beginning_clears_rules_of_normal_times_and_keeps_its_own(tmp_path):
    engine = engine_for(tmp_path, DURING)
    engine.evaluate([icmp(i * 30, loss_pct=5.0) for i in range(3)])
    out = engine.evaluate([icmp(90, loss_pct=5.0)], heightened=True)
    assert [(t.action, t.rule, t.message) for t in out] == [
        ("clear", "loss_normal", "codec-1: loss_normal cleared (heightened watch began)"),
        ("open", "loss_watch", "codec-1: loss_watch 5 (threshold 1)")]
    [update] = engine.evaluate([icmp(120, loss_pct=6.0)], heightened=True)
    assert (update.action, update.rule, update.value) == ("update", "loss_watch", 6.0)


def test_a_key_reopened_by_the_sample_that_ends_flapping_then_updates(tmp_path):
    engine = engine_for(tmp_path, FLAPPY.replace("changes: 4", "changes: 3"))
    for i, up in enumerate([0, 1, 0]):
        engine.evaluate([icmp(i * 30, up=up)])
    out = engine.evaluate([icmp(660, up=0)])
    assert out[1] == Transition("open", "down", "codec-1", "", "critical", T0 + 660 * S, 0, 0.0,
                                "codec-1: down 0 (threshold 0)", True, True)
    assert actions(engine.evaluate([icmp(690, up=0)])) == [("update", "down", "codec-1", "")]


def test_the_clear_when_flapping_starts_is_a_whole_transition(tmp_path):
    engine = engine_for(tmp_path, FLAPPY)
    for i, up in enumerate([0, 1, 0]):
        engine.evaluate([icmp(i * 30, up=up)])
    cleared, _flapping = engine.evaluate([icmp(90, up=1)])
    assert cleared == Transition("clear", "down", "codec-1", "", "critical", T0 + 90 * S, None, 0.0,
                                 "codec-1: down cleared (flapping)", True, True)


def test_turning_flap_detection_off_for_a_flapping_rule_ends_it_after_the_default_window(tmp_path):
    # The rule no longer has a window of its own: the flapping fault ends after RulesSettings'.
    engine = engine_for(tmp_path, FLAPPY.replace("changes: 4", "changes: 3"), flap_window_s=120)
    for i, up in enumerate([0, 1, 1, 0]):  # flapping from t=90
        engine.evaluate([icmp(i * 30, up=up)])
    off = ruleset(tmp_path, FLAPPY.replace("flap: {changes: 4, window: 10m}", "flap: false"), "off.yaml")
    assert engine.set_rules(off) == []
    assert engine.tick(T0 + 209 * S) == []
    # The reloaded rule's key starts afresh (not firing), so nothing opens with it.
    assert actions(engine.tick(T0 + 210 * S)) == [("clear", "flapping", "codec-1", "down")]


TAG_VALUE_FLAPPY = """
rules:
  - {name: high_index, measurement: snmp_if, when: "index > 10", severity: minor, flap: {changes: 3, window: 1m}}
"""


@pytest.mark.parametrize("ended_by", ["tick", "sample"])
def test_a_value_from_a_tag_survives_flapping(tmp_path, ended_by):
    engine = engine_for(tmp_path, TAG_VALUE_FLAPPY)
    sample = lambda t, index: Sample("snmp_if", {"device": "sw-1", "index": index}, {"x": 1}, T0 + t * S)  # noqa
    for t, index in ((0, "12"), (10, "5"), (20, "12")):
        engine.evaluate([sample(t, index)])
    assert engine.firing() == {("sw-1", "flapping", "high_index")}
    out = engine.tick(T0 + 80 * S) if ended_by == "tick" else engine.evaluate([sample(80, "13")])
    assert [(t.action, t.rule, t.value) for t in out] == [("clear", "flapping", None),
                                                          ("open", "high_index", 12.0 if ended_by == "tick" else 13.0)]


def test_every_sample_of_a_batch_counts_whatever_comes_before_it(tmp_path):
    engine = engine_for(tmp_path, """
rules:
  - {name: loss, measurement: icmp, when: "loss_pct > 1", severity: major}
  - {name: slow, measurement: icmp, when: "rtt_ms > 100", severity: minor}
""")
    batch = [icmp(0, device="not-in-inventory", loss_pct=50.0, rtt_ms=500.0),  # no rule applies
             Sample("snmp", {"device": "codec-1"}, {"loss_pct": 50.0}, T0),       # no rule for snmp
             icmp(0, device="codec-1", loss_pct=0.0, rtt_ms=500.0),               # loss healthy, slow not
             icmp(0, device="sw-1", loss_pct=9.0, rtt_ms=1.0)]
    assert sorted(actions(engine.evaluate(batch))) == [("open", "loss", "sw-1", ""), ("open", "slow", "codec-1", "")]


def test_a_threshold_read_from_the_sample_is_the_faults_threshold(tmp_path):
    engine = engine_for(tmp_path, """
rules:
  - name: rx_low
    measurement: optics
    when: "rx_dbm < rx_low_alarm_dbm + 1"
    clear: "rx_dbm > rx_low_alarm_dbm + 2"
    instance: "{port}"
    severity: major
    message: "{device}: {instance} rx {value} dBm < {threshold} dBm (module alarm {rx_low_alarm_dbm} dBm)"
""")

    def optics(t, rx, low):
        return [Sample("optics", {"device": "sw-1", "port": "Gi0/1"}, {"rx_dbm": rx, "rx_low_alarm_dbm": low},
                       T0 + int(t * S))]
    assert engine.evaluate(optics(0, -12.0, -15.0)) == []
    [opened] = engine.evaluate(optics(60, -14.5, -15.0))
    assert (opened.value, opened.threshold, opened.higher_is_worse) == (-14.5, -14.0, False)
    assert opened.message == "sw-1: Gi0/1 rx -14.5 dBm < -14 dBm (module alarm -15 dBm)"
    assert engine.evaluate(optics(120, -13.5, -15.0)) == []            # not yet 2 dB above the alarm
    assert actions(engine.evaluate(optics(180, -12.5, -15.0))) == [("clear", "rx_low", "sw-1", "Gi0/1")]
