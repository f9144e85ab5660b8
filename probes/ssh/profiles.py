"""SSH command profiles: which commands to run on a kind of device and how output becomes fields.

Profiles are data (probes/ssh/packaged/*.yaml, and `probes.ssh.profile_dirs` to add or
replace), like the SNMP profiles, so a NOC engineer can add a vendor's status command
without touching code. A profile says:

* `driver`: `exec` runs each command on its own SSH exec channel (servers, appliances with a
  real shell: exit status available); `cli` drives the vendor's interactive CLI through
  netmiko (`device_type`), which handles prompts, echo and paging (Huawei VRP, H3C Comware,
  Cisco IOS). CLIs have no exit status: `error` patterns (Huawei's "Error: Unrecognized
  command") mark a command as failed.
* per command: `match`, one regular expression whose named groups become fields of the
  `ssh_command` sample (numbers; text only for groups listed in `text`, since several
  InfluxDB-compatible stores turn string fields into 0); `rows`, a regular expression applied to every line that yields one
  sample per matching line (e.g. one per file system of `df -P`); `textfsm`, the rows of a
  TextFSM template from the ntc-templates collection (netmiko's own parser library; chosen
  by platform and command like netmiko's `use_textfsm`); `map`, text-to-number mappings
  (`Normal: 1`) so states can be graphed and compared; `expect` and `forbid` patterns that
  set the command's `ok` field.
* `config`: the command that prints the running configuration and the rule set
  (probes/devconfig/text.py) that normalises and masks it.

Values that read as numbers ("17%", "1,024") become floats; `map` turns states into numbers;
other text is dropped unless the profile lists it in `text`. A TextFSM or rows sample with
labels only (a version, a model) gets the field `info: 1`, its tags being the data.

States are never lost silently. A value of a mapped field that the map does not know (a
release prints `Fault` where the profile expected `Abnormal`) is kept as text in
`<field>_unknown` and counted: the row gets `unknown_states`, and the command's
`ssh_command` sample gets `unknown_states` (0 when all were known; present whenever the
command maps anything) and `unknown_words` ("alarm_status=Fault"), so a shipped rule can
say which word to add. A map entry of `null` says "the device prints this when the state
does not apply" (Huawei's `-` for the power of an offline board): no field, no flag.

More shaping, all optional and in this order: `rename` (TextFSM columns to field names: the
other keys then use the new names), `durations` (text such as "60 weeks, 4 days, 11 hours,
20 minutes" to a number of seconds in `<name>_s`, so a restart shows as uptime going back),
`derive` (`difference: [a, b]` is a - b, `percent: [part, whole]` is 100 * part / whole;
computed when both are there and the field is not already given), so a rule can compare a
reading with the device's own limit (`headroom_c = limit - temperature`).

A `textfsm` section may bring its own template, where ntc-templates has none or one that
loses what matters (a slot, a limit): `template_file` (a file next to the profile, relative
to its directory) or `template` (the text inline). It is compiled when the profile is
loaded, so a broken template is a `file:line` sentence at `netvigil check` and `profiles
list`, not an error at poll time.
"""

from __future__ import annotations

import io
import re
from functools import lru_cache
from pathlib import Path
from typing import Literal, Mapping, Optional, Sequence

import yaml
from pydantic import Field, model_validator

from probes.base import FieldValue, Sample
from probes.snmp.profiles import ProfileError, _Strict, load_file  # noqa: F401 - ProfileError re-exported

PACKAGED_PROFILES = Path(__file__).resolve().parent / "packaged"

_NAME = r"^[a-z][a-z0-9_]*$"
_NUMBER = re.compile(r"^[-+]?(\d[\d,]*)?\.?\d+([eE][-+]?\d+)?$")
ValueMap = dict[str, dict[str, Optional[float]]]
_DURATION = re.compile(r"(\d+)\s*(year|week|day|hour|minute|min|second|sec)s?\b", re.IGNORECASE)
_UNIT_S = {"year": 365 * 86400, "week": 7 * 86400, "day": 86400, "hour": 3600, "minute": 60, "min": 60,
           "second": 1, "sec": 1}


def _compiled(expression: str, what: str, flags: int = 0) -> "re.Pattern[str]":
    try:
        return re.compile(expression, flags)
    except re.error as exc:
        raise ValueError(f"{what}: invalid regular expression {expression!r}: {exc}") from None


class DeriveSpec(_Strict):
    difference: Optional[tuple[str, str]] = Field(None, description="[a, b]: a - b")
    percent: Optional[tuple[str, str]] = Field(None, description="[part, whole]: 100 * part / whole")

    @model_validator(mode="after")
    def _one(self) -> "DeriveSpec":
        if (self.difference is None) == (self.percent is None):
            raise ValueError("give one of difference: [a, b] or percent: [part, whole]")
        return self


class _Shaping(_Strict):
    """How values become fields: shared by `match`, `rows` and `textfsm` (module docstring)."""

    map: ValueMap = {}
    text: tuple[str, ...] = Field((), description="fields kept as text even when they read as numbers")
    durations: tuple[str, ...] = Field((), description="text durations to seconds, in field <name>_s")
    derive: dict[str, DeriveSpec] = {}

    @model_validator(mode="after")
    def _derived_names(self) -> "_Shaping":
        for name in self.derive:
            if not re.match(_NAME, name):
                raise ValueError(f"derive: {name!r} is not a field name (lower case, digits, _)")
        return self

    def _names_from(self, groups: Mapping[str, int], where: str) -> None:
        """A map, text, duration or derive naming no group of the regular expression is a typo."""
        named = {*self.map, *self.text, *self.durations}
        named |= {part for derive in self.derive.values() for part in (derive.difference or derive.percent or ())}
        unknown = sorted(named - set(groups) - set(self.derive))
        if unknown:
            raise ValueError(f"{where}: {', '.join(unknown)} not named groups of the regular expression "
                             f"(it has {', '.join(sorted(groups)) or 'none'})")


class RowsSpec(_Shaping):
    measurement: str = Field(..., pattern=_NAME)
    match: str = Field(..., description="regular expression with named groups, tried on every line")
    labels: tuple[str, ...] = Field((), description="groups that become tags (the rest become fields)")

    @model_validator(mode="after")
    def _groups(self) -> "RowsSpec":
        groups = _compiled(self.match, "rows.match").groupindex
        missing = [label for label in self.labels if label not in groups]
        if missing:
            raise ValueError(f"rows.labels {missing} are not named groups of rows.match")
        self._names_from(groups, "rows")
        return self


class TextFsmSpec(_Shaping):
    measurement: str = Field(..., pattern=_NAME)
    labels: tuple[str, ...] = Field((), description="template columns that become tags (lower case)")
    fields: tuple[str, ...] = Field((), description="template columns that become fields (empty: all but labels; "
                                                    "none at all: an `info: 1` field)")
    rename: dict[str, str] = Field({}, description="template column -> field or tag name (applied first)")
    template: Optional[str] = Field(None, description="the profile's own TextFSM template, inline")
    template_file: Optional[str] = Field(None, description="the profile's own TextFSM template, a file next to it")

    @model_validator(mode="after")
    def _one_template(self) -> "TextFsmSpec":
        if self.template is not None and self.template_file is not None:
            raise ValueError("give template or template_file, not both")
        for new in self.rename.values():
            if not re.match(_NAME, new):
                raise ValueError(f"rename: {new!r} is not a field name (lower case, digits, _)")
        return self


class CommandSpec(_Shaping):
    name: str = Field(..., pattern=_NAME, description="the `command` tag of its samples")
    command: str = Field(..., min_length=1)
    match: Optional[str] = Field(None, description="regular expression; named groups become fields")
    expect: tuple[str, ...] = Field((), description="each must be found for ok=1")
    forbid: tuple[str, ...] = Field((), description="none may be found for ok=1")
    rows: Optional[RowsSpec] = None
    textfsm: Optional[TextFsmSpec] = None

    @model_validator(mode="after")
    def _patterns(self) -> "CommandSpec":
        if self.match is not None:
            self._names_from(_compiled(self.match, f"{self.name}.match", re.MULTILINE).groupindex, self.name)
        elif self.map or self.text or self.durations or self.derive:
            raise ValueError(f"{self.name}: map, text, durations and derive shape what `match` finds; this command "
                             "has no match (put them under its rows or textfsm)")
        for key in ("expect", "forbid"):
            for expression in getattr(self, key):
                _compiled(expression, f"{self.name}.{key}", re.MULTILINE)
        return self


class ConfigSpec(_Strict):
    command: Optional[str] = Field(None, min_length=1, description="prints the running configuration (null: "
                                   "the device's backup_command says what to back up, e.g. a server's files)")
    rules: str = Field("generic", description="rule set of probes/devconfig/text.py (vendor secret catalogue)")
    volatile: tuple[str, ...] = Field((), description="more lines that change by themselves")
    secrets: tuple[str, ...] = Field((), description="more secret patterns (group `secret` is masked)")

    @model_validator(mode="after")
    def _rules_exist(self) -> "ConfigSpec":
        from probes.devconfig.text import rules_for

        rules_for(self.rules, self.volatile, self.secrets)  # ValueError names the problem
        return self


class SshProfile(_Strict):
    name: str = Field(..., pattern=_NAME)
    description: str = ""
    driver: Literal["exec", "cli"]
    device_type: str = Field("generic", description="netmiko device type (driver cli)")
    platform: Optional[str] = Field(None, description="ntc-templates platform (default: device_type)")
    error: tuple[str, ...] = Field((), description="CLI output meaning the command failed (cli has no exit status)")
    commands: tuple[CommandSpec, ...] = ()
    config: Optional[ConfigSpec] = None

    @model_validator(mode="after")
    def _known_driver(self) -> "SshProfile":
        for expression in self.error:
            _compiled(expression, "error", re.MULTILINE)
        names = [command.name for command in self.commands]
        if len(set(names)) != len(names):
            raise ValueError(f"command names must be unique (got {names})")
        return self

    @property
    def textfsm_platform(self) -> str:
        return self.platform or self.device_type


def load_profiles(directories: Sequence[Path], check_drivers: bool = False) -> dict[str, SshProfile]:
    """Shipped profiles, then those of `directories` (same name: replaced); their own TextFSM
    templates read and compiled now (a broken one is a ProfileError naming file and line).

    `check_drivers`: also check that every `cli` profile names a netmiko device type. That
    imports netmiko (about 0.2 s of CPU), which `status` and other quick commands that load
    the configuration should not pay; `check`, `profiles list` and the daemon ask for it."""
    profiles: dict[str, SshProfile] = {}
    for directory in [PACKAGED_PROFILES, *directories]:
        if directory.is_dir():
            for path in sorted(directory.glob("*.yaml")):
                profile = _with_templates(load_file(path, SshProfile), path)
                profiles[profile.name] = profile
    if check_drivers:
        from netmiko.ssh_dispatcher import CLASS_MAPPER

        for profile in profiles.values():
            if profile.driver == "cli" and profile.device_type not in CLASS_MAPPER:
                raise ProfileError(f"SSH profile {profile.name}: device_type {profile.device_type!r} is not a netmiko "
                                   "device type (e.g. huawei, hp_comware, cisco_ios, linux, generic)")
    return profiles


def _with_templates(profile: SshProfile, path: Path) -> SshProfile:
    """The profile with its own templates' text inline (read from `template_file`), each one
    compiled once here so that a mistake is found at load, with its file and line."""
    commands, changed = [], False
    for index, command in enumerate(profile.commands):
        spec = command.textfsm
        if spec is None or (spec.template is None and spec.template_file is None):
            commands.append(command)
            continue
        where = f"commands[{index}].textfsm"
        if spec.template_file is not None:
            template_path = (path.parent / spec.template_file)
            try:
                text = template_path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise ProfileError(f"{path}: {where}.template_file: cannot read {template_path}: "
                                   f"{getattr(exc, 'strerror', None) or exc}") from None
            _check_template(text, spec, str(template_path), 0)
        else:
            text = spec.template or ""
            _check_template(text, spec, str(path), _inline_offset(path, index))
        commands.append(command.model_copy(update={"textfsm": spec.model_copy(update={"template": text})}))
        changed = True
    return profile.model_copy(update={"commands": tuple(commands)}) if changed else profile


def _inline_offset(path: Path, index: int) -> int:
    """Line of the profile file just before the first line of an inline block template (`template: |`)."""
    try:
        root = yaml.compose(path.read_text(encoding="utf-8"))
        commands = next(v for k, v in root.value if k.value == "commands")
        textfsm = next(v for k, v in commands.value[index].value if k.value == "textfsm")
        node = next(v for k, v in textfsm.value if k.value == "template")
        return node.start_mark.line + 1 if node.style in ("|", ">") else node.start_mark.line
    except Exception:  # noqa: BLE001 - only the line number is lost: the message still names the file
        return 0


def _check_template(text: str, spec: TextFsmSpec, where: str, offset: int) -> None:
    """Compile a template; its mistakes and columns a profile names that it lacks are
    ProfileErrors `file:line: ...` (line of the file, not of the template, for inline ones)."""
    import textfsm

    try:
        parser = textfsm.TextFSM(io.StringIO(text))
    except textfsm.TextFSMTemplateError as exc:
        message = str(exc).rstrip(".")
        found = re.search(r"\s*Line:?\s*(\d+)$", message)
        if found:
            line, message = int(found.group(1)), message[:found.start()]
        else:  # "State 'Recrod' not found": the first line that names it
            named = re.findall(r"'([^']+)'", message)
            lines = text.splitlines()
            line = next((number for number, content in enumerate(lines, 1) if named and named[0] in content
                         and not content.lstrip().startswith("#")), 1)
        raise ProfileError(f"{where}:{line + offset}: TextFSM template: {message}") from None
    original = {column.lower() for column in parser.header}
    columns = {spec.rename.get(column, column) for column in original}
    named = [*spec.labels, *spec.fields, *spec.map, *spec.text, *spec.durations,
             *(part for derive in spec.derive.values() for part in (derive.difference or derive.percent or ()))]
    unknown = sorted(({name.lower() for name in named} - columns - set(spec.derive))
                     | {old.lower() for old in spec.rename if old.lower() not in original})
    if unknown:
        raise ProfileError(f"{where}:{offset + 1}: TextFSM template has no column {', '.join(unknown)} "
                           f"(it has {', '.join(sorted(columns))}); the profile's labels, fields, map, text, durations "
                           "and derive name its columns (after rename), rename its columns before")


# -- turning output into samples ------------------------------------------------------------

class _Unknown:
    """Values of mapped fields the map did not know, over one command's output."""

    def __init__(self) -> None:
        self.words: list[str] = []


def _value(text: str, mapping: Optional[Mapping[str, Optional[float]]], keep_text: bool = False) -> Optional[FieldValue]:
    """A number (mapped, or read as one), the text when asked to keep text, else None (dropped):
    several InfluxDB-compatible stores turn string fields into 0, so text is written only
    where a profile says it wants it."""
    text = text.strip()
    if mapping is not None and text in mapping:
        mapped = mapping[text]
        return None if mapped is None else float(mapped)
    if keep_text:
        return text
    bare = text[:-1] if text.endswith("%") else text
    if _NUMBER.match(bare):
        return float(bare.replace(",", ""))
    return None


def _seconds(text: str) -> Optional[float]:
    """"60 weeks, 4 days, 11 hours, 20 minutes" in seconds; None when no unit is found."""
    parts = _DURATION.findall(text)
    if not parts:
        return None
    return float(sum(int(number) * _UNIT_S[unit.lower()] for number, unit in parts))


def _fields(groups: Mapping[str, Optional[str]], shaping: _Shaping, unknown: Optional[_Unknown] = None,
            skip: Sequence[str] = (), where: str = "") -> dict:
    fields: dict[str, FieldValue] = {}
    value_map = {key.lower(): value for key, value in shaping.map.items()}
    text = {name.lower() for name in shaping.text}
    durations = {name.lower() for name in shaping.durations}
    row_unknown = 0
    for name, raw in groups.items():
        if raw is None or name in skip:
            continue
        if name in durations:
            seconds = _seconds(raw)
            if seconds is not None:
                fields[f"{name}_s"] = seconds
            continue
        mapping = value_map.get(name)
        stripped = raw.strip()
        if mapping is not None and stripped and stripped not in mapping:
            # A state the profile does not know: kept as text and flagged, never dropped.
            fields[f"{name}_unknown"] = stripped
            row_unknown += 1
            if unknown is not None:
                unknown.words.append(f"{name}={stripped}{where}")
            continue
        value = _value(raw, mapping, name in text)
        if value is not None:
            fields[name] = value
    for name, derive in shaping.derive.items():
        if name in fields:
            continue
        a, b = derive.difference or derive.percent  # type: ignore[misc]
        first, second = fields.get(a), fields.get(b)
        if isinstance(first, float) and isinstance(second, float):
            if derive.difference is not None:
                fields[name] = round(first - second, 6)
            elif second:
                fields[name] = round(100.0 * first / second, 3)
    if row_unknown:
        fields["unknown_states"] = row_unknown
    return fields


def _maps(spec: "CommandSpec") -> bool:
    return bool(spec.map or (spec.rows is not None and spec.rows.map) or (spec.textfsm is not None and spec.textfsm.map))


def command_ok(spec: CommandSpec, output: str, failed: bool) -> bool:
    if failed:
        return False
    if any(re.search(expression, output, re.MULTILINE) is None for expression in spec.expect):
        return False
    return not any(re.search(expression, output, re.MULTILINE) for expression in spec.forbid)


def cli_error(profile: SshProfile, output: str) -> bool:
    """Whether a CLI's output says the command failed (the CLI has no exit status)."""
    return any(re.search(expression, output, re.MULTILINE) for expression in profile.error)


def command_samples(profile: SshProfile, spec: CommandSpec, output: str, exit_status: Optional[int],
                    duration_ms: float, tags: Mapping[str, str], time_ns: int) -> list[Sample]:
    """The `ssh_command` sample of one command, and its row samples."""
    failed = exit_status not in (0, None)
    unknown = _Unknown()
    fields: dict[str, FieldValue] = {"exit_status": exit_status if exit_status is not None else 0,
                                     "duration_ms": round(duration_ms, 3), "output_bytes": len(output)}
    if spec.match is not None:
        found = re.search(spec.match, output, re.MULTILINE)
        if found is not None:
            matched = _fields(found.groupdict(), spec, unknown)
            matched.pop("unknown_states", None)  # counted for the whole command below
            fields.update(matched)
        else:
            failed = True  # the output is not what the profile expects: a changed CLI is a failed check
    fields["ok"] = int(command_ok(spec, output, failed))
    command = Sample("ssh_command", {**tags, "command": spec.name}, fields, time_ns)
    samples = [command]
    if spec.rows is not None:
        samples += _rows(spec.rows, output, tags, time_ns, unknown)
    if spec.textfsm is not None:
        samples += _textfsm_rows(spec.textfsm, profile.textfsm_platform, spec.command, output, tags, time_ns,
                                 unknown)
    if _maps(spec):
        fields["unknown_states"] = len(unknown.words)
        if unknown.words:
            fields["unknown_words"] = ", ".join(unknown.words[:10])
    return samples


def _rows(rows: RowsSpec, output: str, tags: Mapping[str, str], time_ns: int,
          unknown: Optional[_Unknown] = None) -> list[Sample]:
    pattern = re.compile(rows.match)
    samples = []
    for line in output.splitlines():
        found = pattern.search(line)
        if found is None:
            continue
        groups = found.groupdict()
        row_tags = {**tags, **{label: (groups[label] or "").strip() for label in rows.labels}}
        where = " (" + " ".join(row_tags[label] for label in rows.labels) + ")" if rows.labels else ""
        fields = _fields(groups, rows, unknown, skip=rows.labels, where=where) or {"info": 1}
        samples.append(Sample(rows.measurement, row_tags, fields, time_ns))
    return samples


@lru_cache(maxsize=256)
def _template_text(platform: str, command: str) -> Optional[str]:
    """The ntc-templates template for a platform and command, found through its index once."""
    from ntc_templates.parse import _get_template_dir
    from textfsm import clitable

    table = clitable.CliTable("index", _get_template_dir())
    row = table.index.GetRowMatch({"Platform": platform, "Command": command})
    if row == 0:
        return None
    name = table.index.index[row]["Template"].split(":")[0]
    return (Path(_get_template_dir()) / name).read_text()


def textfsm_table(platform: str, command: str, output: str, template: Optional[str] = None) -> list[dict[str, str]]:
    """Rows of the TextFSM parse of `output` (column names in lower case): with the profile's
    own `template`, else the ntc-templates one for the platform and command."""
    import textfsm

    if template is None:
        template = _template_text(platform, command)
        if template is None:
            raise ValueError(f"ntc-templates has no template for {platform} `{command}`")
    parser = textfsm.TextFSM(io.StringIO(template))
    header = [column.lower() for column in parser.header]
    return [dict(zip(header, (" ".join(v) if isinstance(v, list) else v for v in row)))
            for row in parser.ParseText(output)]


def _textfsm_rows(spec: TextFsmSpec, platform: str, command: str, output: str, tags: Mapping[str, str],
                  time_ns: int, unknown: Optional[_Unknown] = None) -> list[Sample]:
    samples = []
    labels = [label.lower() for label in spec.labels]
    wanted = {column.lower() for column in spec.fields}
    wanted |= {name.lower() for name in spec.durations} if wanted else set()
    rename = {key.lower(): value for key, value in spec.rename.items()}
    for parsed in textfsm_table(platform, command, output, spec.template):
        row = {rename.get(key, key): value for key, value in parsed.items()}
        row_tags = {**tags, **{label: row.get(label, "") for label in labels}}
        columns = {key: value for key, value in row.items()
                   if key not in labels and (not wanted or key in wanted) and value != ""}
        where = " (" + " ".join(row_tags[label] for label in labels) + ")" if labels else ""
        # A row of labels only (a version, a model) is an "info" sample: its tags are the data.
        fields = _fields(columns, spec, unknown, where=where) or {"info": 1}
        samples.append(Sample(spec.measurement, row_tags, fields, time_ns))
    return samples
