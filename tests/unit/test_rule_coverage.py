"""Every health state a shipped profile collects is watched by a shipped rule, or is listed as
informational with the reason (monitor/rules/informational.yaml).

A state field is an SNMP column or scalar of `kind: enum` (written, i.e. not `keep: false`), an
SSH field whose values come from a `map` of words, or a field named like a device-given
threshold (threshold, low/high alarm or warning limits). It is watched when a shipped rule's
measurements include the field's measurement and its `when` names the field; a threshold is
also watched when such a rule names the field it limits (cpu_threshold_pct limits cpu_pct,
rx_power_low_alarm_dbm limits rx_power_dbm), whether the rule compares it with the device's own
threshold or with a fixed one."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from monitor.rules.model import RuleSet, load_rules
from monitor.rules.settings import RulesSettings
from probes.snmp import profiles as snmp_profiles
from probes.ssh import profiles as ssh_profiles

ROOT = Path(__file__).resolve().parents[2]
INFORMATIONAL = ROOT / "monitor/rules/informational.yaml"
RULES = load_rules(RulesSettings(dirs=[]))

# threshold, *_threshold_*, *_low_alarm_*, *_high_alarm_*, *_low_warn_*, *_warn_*, *_warning_*
THRESHOLD = re.compile(r"(?:^|_)(?:threshold|(?:low|high)_(?:alarm|warn|warning)|warn|warning)(?=_|$)")


@dataclass(frozen=True)
class StateField:
    where: str          # the profile file, relative to the repository
    measurement: str
    field: str
    kind: str           # why it counts: "kind: enum", "map", "threshold"


def _threshold_or(kind: str, name: str) -> str:
    return "threshold" if THRESHOLD.search(name) else kind


def snmp_state_fields(path: Path) -> list[StateField]:
    profile = snmp_profiles.load_file(path)
    where = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)
    found = []

    def columns(measurement, specs, derived):
        for spec in specs:
            if spec.field is None or not spec.keep:
                continue
            if spec.kind == "enum" or THRESHOLD.search(spec.field):
                found.append(StateField(where, measurement, spec.field, _threshold_or("kind: enum", spec.field)))
        for spec in derived:
            if THRESHOLD.search(spec.field):
                found.append(StateField(where, measurement, spec.field, "threshold"))

    if profile.measurement:
        columns(profile.measurement, profile.scalars, profile.derived)
    for row in profile.scalar_rows:
        columns(row.measurement, row.scalars, ())
    for table in profile.tables:
        columns(table.measurement, table.columns, table.derived)
    return list(dict.fromkeys(found))


def ssh_state_fields(path: Path) -> list[StateField]:
    profile = snmp_profiles.load_file(path, ssh_profiles.SshProfile)
    where = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)
    found = []
    for command in profile.commands:
        parts = [("ssh_command", command.map, re.compile(command.match).groupindex if command.match else {})]
        if command.rows is not None:
            parts.append((command.rows.measurement, command.rows.map, re.compile(command.rows.match).groupindex))
        if command.textfsm is not None:
            parts.append((command.textfsm.measurement, command.textfsm.map, command.textfsm.fields))
        for measurement, value_map, names in parts:
            for name in value_map:
                found.append(StateField(where, measurement, name.lower(), _threshold_or("map", name.lower())))
            for name in names:
                if THRESHOLD.search(name.lower()):
                    found.append(StateField(where, measurement, name.lower(), "threshold"))
    return list(dict.fromkeys(found))


def shipped_state_fields() -> list[StateField]:
    return ([f for path in sorted(snmp_profiles.PACKAGED_PROFILES.glob("*.yaml")) for f in snmp_state_fields(path)]
            + [f for path in sorted(ssh_profiles.PACKAGED_PROFILES.glob("*.yaml")) for f in ssh_state_fields(path)])


def limited_field(name: str) -> str | None:
    """The field a threshold limits: cpu_threshold_pct -> cpu_pct; None for a bare `threshold_c`."""
    limited = THRESHOLD.sub("", name).strip("_").replace("__", "_")
    return limited if limited and limited != name and "_" in limited else None


def watching_rules(state: StateField, rules: RuleSet) -> list[str]:
    names = {state.field}
    if state.kind == "threshold" and limited_field(state.field):
        names.add(limited_field(state.field))
    return [rule.name for rule in rules.rules
            if state.measurement in rule.measurements and names & set(rule.when.names)]


def read_informational(path: Path = INFORMATIONAL) -> dict[tuple[str, str], str]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    entries = {}
    for entry in data["informational"]:
        assert set(entry) == {"measurement", "field", "why"}, f"{path.name}: {entry}: give measurement, field, why"
        assert str(entry["why"]).strip(), f"{path.name}: {entry['measurement']}.{entry['field']}: say why"
        key = (entry["measurement"], entry["field"])
        assert key not in entries, f"{path.name}: {key[0]}.{key[1]} is listed twice"
        entries[key] = entry["why"]
    return entries


def unwatched(fields: list[StateField], rules: RuleSet, informational: dict[tuple[str, str], str]) -> list[str]:
    """One sentence per state field that no rule watches and no informational entry excuses."""
    problems = []
    for state in fields:
        if watching_rules(state, rules) or (state.measurement, state.field) in informational:
            continue
        limited = limited_field(state.field) if state.kind == "threshold" else None
        names = f"{state.field}" + (f" (or {limited}, the field it limits)" if limited else "")
        problems.append(
            f"{state.where}: {state.measurement}.{state.field} ({state.kind}) is watched by no shipped rule. "
            f"Add a rule to monitor/rules/defaults/*.yaml with `measurement: {state.measurement}` and a `when` "
            f"naming {names}, with for/for_samples, clear and severity chosen and commented, a zh_CN "
            f"message and a test in tests/unit/test_rules_shipped_*.py; or, if the field deserves no alarm, "
            f"add `{{measurement: {state.measurement}, field: {state.field}, why: ...}}` to "
            f"monitor/rules/informational.yaml")
    return problems


def stale(fields: list[StateField], rules: RuleSet, informational: dict[tuple[str, str], str]) -> list[str]:
    collected = {(state.measurement, state.field): state for state in fields}
    problems = []
    for key in informational:
        state = collected.get(key)
        if state is None:
            problems.append(f"monitor/rules/informational.yaml: {key[0]}.{key[1]} is a state field of no shipped "
                            "profile: remove the entry (or fix its measurement/field)")
        elif watching_rules(state, rules):
            problems.append(f"monitor/rules/informational.yaml: {key[0]}.{key[1]} is watched by "
                            f"{', '.join(watching_rules(state, rules))}: remove the entry")
    return problems


def test_every_state_field_of_a_shipped_profile_is_watched_or_informational():
    problems = unwatched(shipped_state_fields(), RULES, read_informational())
    assert not problems, "\n".join(problems)


def test_every_informational_entry_is_a_collected_state_field_that_no_rule_watches():
    problems = stale(shipped_state_fields(), RULES, read_informational())
    assert not problems, "\n".join(problems)


def test_the_state_fields_found_include_each_kind():
    found = {(f.measurement, f.field): f.kind for f in shipped_state_fields()}
    assert found[("huawei_fan", "state")] == "kind: enum"
    assert found[("huawei_board", "temperature_threshold_c")] == "threshold"
    assert found[("cisco_temperature", "threshold_c")] == "threshold"
    assert found[("ssh_board", "alarm_status")] == "map"
    assert ("cisco_mempool", "valid") not in found          # keep: false, never written
    assert ("snmp_if", "speed_mbps") not in found
    assert watching_rules(StateField("", "huawei_board", "cpu_threshold_pct", "threshold"), RULES) == ["cpu_high"]
    assert watching_rules(StateField("", "huawei_board", "temperature_threshold_c", "threshold"), RULES) == \
        ["board_overheat_huawei"]


@pytest.mark.parametrize("name, limited", [
    ("cpu_threshold_pct", "cpu_pct"), ("temperature_threshold_c", "temperature_c"),
    ("rx_power_low_alarm_dbm", "rx_power_dbm"), ("bias_high_warn_ma", "bias_ma"), ("threshold_c", None),
])
def test_a_threshold_names_the_field_it_limits(name, limited):
    assert THRESHOLD.search(name)
    assert limited_field(name) == limited


def test_a_new_state_field_without_a_rule_fails_with_what_to_do(tmp_path):
    profile = tmp_path / "acme_pdu.yaml"
    profile.write_text("""name: acme_pdu
match: {sysobjectid: [1.3.6.1.4.1.99999]}
tables:
  - measurement: acme_outlet
    columns:
      - {oid: 1.3.6.1.4.1.99999.1.1.2, tag: name, kind: text}
      - {oid: 1.3.6.1.4.1.99999.1.1.3, field: state, kind: enum, enum: {1: "on", 2: "off", 3: fault}}
      - {oid: 1.3.6.1.4.1.99999.1.1.4, field: current_a}
      - {oid: 1.3.6.1.4.1.99999.1.1.5, field: current_high_alarm_a}
""")
    ssh = tmp_path / "acme_cli.yaml"
    ssh.write_text("""name: acme_cli
driver: cli
commands:
  - name: psu
    command: show psu
    rows:
      measurement: acme_psu
      match: '^(?P<unit>PSU\\d)\\s+(?P<status>\\w+)'
      labels: [unit]
      map: {status: {OK: 1, Failed: 0}}
""")
    fields = snmp_state_fields(profile) + ssh_state_fields(ssh)
    assert [(f.measurement, f.field, f.kind) for f in fields] == [
        ("acme_outlet", "state", "kind: enum"), ("acme_outlet", "current_high_alarm_a", "threshold"),
        ("acme_psu", "status", "map")]
    problems = unwatched(fields, RULES, {("acme_outlet", "state"): "switched by hand"})
    assert problems == [
        f"{tmp_path}/acme_pdu.yaml: acme_outlet.current_high_alarm_a (threshold) is watched by no shipped rule. Add "
        "a rule to monitor/rules/defaults/*.yaml with `measurement: acme_outlet` and a `when` naming "
        "current_high_alarm_a (or current_a, the field it limits), with for/for_samples, clear and severity chosen "
        "and commented, a zh_CN message and a test in tests/unit/test_rules_shipped_*.py; or, if the field "
        "deserves no alarm, add `{measurement: acme_outlet, field: current_high_alarm_a, why: ...}` to "
        "monitor/rules/informational.yaml",
        f"{tmp_path}/acme_cli.yaml: acme_psu.status (map) is watched by no shipped rule. Add a rule to "
        "monitor/rules/defaults/*.yaml with `measurement: acme_psu` and a `when` naming status, with "
        "for/for_samples, clear and severity chosen and commented, a zh_CN message and a test in "
        "tests/unit/test_rules_shipped_*.py; or, if the field deserves no alarm, add "
        "`{measurement: acme_psu, field: status, why: ...}` to monitor/rules/informational.yaml"]
    assert stale(fields, RULES, {("acme_psu", "status"): "x", ("acme_psu", "speed"): "y"}) == [
        "monitor/rules/informational.yaml: acme_psu.speed is a state field of no shipped profile: remove the entry "
        "(or fix its measurement/field)"]
