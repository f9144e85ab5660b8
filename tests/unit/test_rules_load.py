"""Loading rule files: shipped + site rules, replacement, disabling, and every problem as
`file:line: rules[i].key: message` (pinned exactly for tests/data/rules/broken/)."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.rules.model import SHIPPED_RULES, RulesError, load_paths, load_rules
from monitor.rules.settings import SITE_RULES, RulesSettings
from lab.support import REPO

DATA = REPO / "tests" / "data" / "rules"
BROKEN = DATA / "broken"


def problems_of(*paths: Path, **settings) -> list[str]:
    with pytest.raises(RulesError) as caught:
        if settings:
            load_rules(RulesSettings(**settings))
        else:
            load_paths(list(paths))
    return caught.value.problems


def test_every_problem_of_a_broken_file_is_reported_once_in_line_order():
    name = str(BROKEN / "problems.yaml")
    assert problems_of(BROKEN / "problems.yaml") == [
        f"{name}:2: rules[0].name: 'Bad-Name' is not a rule name; use lower case letters, digits and _ "
        "(e.g. 'bad_name')",
        f"{name}:10: rules[1].clera: unknown key 'clera' (did you mean 'clear'?)",
        f"{name}:13: rules[2].when: not a valid condition (invalid syntax) at column 4; to compare, write == (not =)",
        f"{name}:18: rules[3].severity: must be one of 'critical', 'major', 'minor' or 'warning' (got 'critcal') "
        "(did you mean 'critical'?)",
        f"{name}:21: rules[4].match.clases: unknown key 'clases' (did you mean 'classes'?)",
        f"{name}:28: rules[5].message: {{device.name}}: fields are plain names (no . or [ ]), e.g. {{value}} or "
        "{name}",
        f"{name}:32: rules[6].clear: `manual` never clears by itself; remove clear_for / clear_samples / "
        "clear_after, or give a clear condition",
        f"{name}:38: rules[7].for: 'soon' is not a duration; write e.g. 90s, 5m, 2h or 1d",
        f"{name}:40: rules[8].name: 'flapping' is the name of the engine's own flapping faults; choose another",
        f"{name}:44: rules[9]: a rule is a mapping (name, measurement, when, severity, ...)",
    ]


def test_unknown_top_level_key_and_yaml_syntax_errors(tmp_path):
    assert problems_of(BROKEN / "top_level.yaml") == [
        f"{BROKEN / 'top_level.yaml'}:1: unknown key 'rule' (did you mean 'rules'?)"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - name: x\n    when: [unclosed\n")
    [problem] = problems_of(bad)
    assert problem.startswith(f"{bad}:") and "YAML syntax error" in problem
    bad.write_text("- a\n- b\n")
    assert problems_of(bad) == [f"{bad}:1: a rule file is a mapping with a `rules:` list"]


def test_required_keys_are_named(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("rules:\n  - name: x\n    measurement: icmp\n")
    assert problems_of(path) == [f"{path}:2: rules[0].when: required", f"{path}:2: rules[0].severity: required"]


def test_an_empty_file_has_no_rules(tmp_path):
    (tmp_path / "empty.yaml").write_text("# nothing yet\n")
    assert load_paths([tmp_path]).rules == ()


def test_shipped_rules_load_and_are_listed_with_their_place():
    ruleset = load_rules(RulesSettings(dirs=[]))
    names = [rule.name for rule in ruleset.rules]
    assert len(names) == len(set(names)) >= 25
    assert all(row.status == "shipped" for row in ruleset.listing)
    unreachable = ruleset.by_name["device_unreachable"]
    assert unreachable.reachability and unreachable.severity == "critical"
    text = (SHIPPED_RULES / "reachability.yaml").read_text().splitlines()
    line = int(unreachable.source.rsplit(":", 1)[1])
    assert unreachable.source.startswith("defaults/reachability.yaml:") and "device_unreachable" in text[line - 1]


def test_a_site_rule_replaces_the_shipped_rule_of_the_same_name_and_disable_turns_rules_off():
    ruleset = load_rules(RulesSettings(dirs=[DATA / "site"], disable=["rtt_high", "mcu_port_errors"]))
    loss = ruleset.by_name["packet_loss_video"]
    assert loss.layer == "site" and loss.severity == "critical" and loss.threshold == 0
    assert loss.source == f"{DATA / 'site' / 'video.yaml'}:4"
    assert "rtt_high" not in ruleset.by_name and "mcu_port_errors" not in ruleset.by_name
    status = {(row.name, row.status): row for row in ruleset.listing}
    assert status[("packet_loss_video", "replaced")].note == f"by {loss.source}"
    assert status[("packet_loss_video", "site")].note.startswith("replaces the shipped rule at defaults/")
    assert ("rtt_high", "disabled") in status and ("mcu_port_errors", "disabled") in status
    assert ("device_unreachable", "shipped") in status


def test_duplicate_names_within_site_files_name_both_places(tmp_path):
    for name in ("a.yaml", "b.yml"):
        (tmp_path / name).write_text(
            "rules:\n  - {name: dup, measurement: icmp, when: 'up == 0', severity: minor}\n")
    (tmp_path / "ignored.txt").write_text("not a rule file")
    assert problems_of(dirs=[tmp_path]) == [
        f"{tmp_path / 'b.yml'}:2: rules[0].name: rule 'dup' is already defined at {tmp_path / 'a.yaml'}:2; "
        "rule names must be unique, rename or remove one"]


def test_unknown_disabled_rule_and_missing_configured_directory(tmp_path):
    missing = tmp_path / "nope"
    assert problems_of(dirs=[missing], disable=["rtt_hihg"]) == [
        f"rules.dirs[0]: '{missing}' does not exist; create it or remove it from the list",
        "rules.disable[0]: unknown rule 'rtt_hihg' (did you mean 'rtt_high'?); `netvigil rules list` shows every rule",
    ]


def test_the_default_site_directory_may_be_missing():
    assert RulesSettings().dirs == [SITE_RULES]
    if not SITE_RULES.exists():
        assert load_rules(RulesSettings()).rules


def test_settings_places_are_named_through_the_callback(tmp_path):
    with pytest.raises(RulesError) as caught:
        load_rules(RulesSettings(dirs=[tmp_path / "x"]), place=lambda loc: "netvigil.yaml:7")
    assert caught.value.problems == [
        f"netvigil.yaml:7: rules.dirs[0]: '{tmp_path / 'x'}' does not exist; create it or remove it from the list"]


def test_durations_defaults_and_derived_values(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("""
rules:
  - name: r
    measurement: [a, b, a]
    when: "10 > runtime and x == 1"
    for: 90s
    for_samples: 3
    clear_for: 2m
    clear_after: 1h
    severity: minor
    flap: {changes: 3, window: 10m}
""")
    rule = load_paths([path]).by_name["r"]
    assert rule.measurements == ("a", "b")
    assert (rule.for_ns, rule.for_samples, rule.clear_for_ns, rule.clear_after_ns) == (
        90 * 10**9, 3, 120 * 10**9, 3600 * 10**9)
    assert rule.event and not rule.manual
    assert (rule.value_field, rule.threshold, rule.higher_is_worse) == ("runtime", 10.0, False)
    assert rule.flap == (3, 600.0) and rule.for_text == "1m 30s and 3 samples"
