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
"""

from __future__ import annotations

import io
import re
from functools import lru_cache
from pathlib import Path
from typing import Literal, Mapping, Optional, Sequence

from pydantic import Field, model_validator

from probes.base import FieldValue, Sample
from probes.snmp.profiles import ProfileError, _Strict, load_all  # noqa: F401 - ProfileError re-exported

PACKAGED_PROFILES = Path(__file__).resolve().parent / "packaged"

_NAME = r"^[a-z][a-z0-9_]*$"
_NUMBER = re.compile(r"^[-+]?(\d[\d,]*)?\.?\d+([eE][-+]?\d+)?$")
ValueMap = dict[str, dict[str, float]]


def _compiled(expression: str, what: str, flags: int = 0) -> "re.Pattern[str]":
    try:
        return re.compile(expression, flags)
    except re.error as exc:
        raise ValueError(f"{what}: invalid regular expression {expression!r}: {exc}") from None


class RowsSpec(_Strict):
    measurement: str = Field(..., pattern=_NAME)
    match: str = Field(..., description="regular expression with named groups, tried on every line")
    labels: tuple[str, ...] = Field((), description="groups that become tags (the rest become fields)")
    map: ValueMap = {}
    text: tuple[str, ...] = Field((), description="fields kept as text even when they read as numbers")

    @model_validator(mode="after")
    def _groups(self) -> "RowsSpec":
        groups = _compiled(self.match, "rows.match").groupindex
        missing = [label for label in self.labels if label not in groups]
        if missing:
            raise ValueError(f"rows.labels {missing} are not named groups of rows.match")
        return self


class TextFsmSpec(_Strict):
    measurement: str = Field(..., pattern=_NAME)
    labels: tuple[str, ...] = Field((), description="template columns that become tags (lower case)")
    fields: tuple[str, ...] = Field((), description="template columns that become fields (empty: all but labels; "
                                                    "none at all: an `info: 1` field)")
    map: ValueMap = {}
    text: tuple[str, ...] = Field((), description="columns kept as text even when they read as numbers (versions)")


class CommandSpec(_Strict):
    name: str = Field(..., pattern=_NAME, description="the `command` tag of its samples")
    command: str = Field(..., min_length=1)
    match: Optional[str] = Field(None, description="regular expression; named groups become fields")
    map: ValueMap = {}
    text: tuple[str, ...] = Field((), description="groups kept as text even when they read as numbers")
    expect: tuple[str, ...] = Field((), description="each must be found for ok=1")
    forbid: tuple[str, ...] = Field((), description="none may be found for ok=1")
    rows: Optional[RowsSpec] = None
    textfsm: Optional[TextFsmSpec] = None

    @model_validator(mode="after")
    def _patterns(self) -> "CommandSpec":
        if self.match is not None:
            _compiled(self.match, f"{self.name}.match", re.MULTILINE)
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
    """Shipped profiles, then those of `directories` (same name: replaced).

    `check_drivers`: also check that every `cli` profile names a netmiko device type. That
    imports netmiko (about 0.2 s of CPU), which `status` and other quick commands that load
    the configuration should not pay; `check`, `profiles list` and the daemon ask for it."""
    profiles = load_all([PACKAGED_PROFILES, *directories], SshProfile)
    if check_drivers:
        from netmiko.ssh_dispatcher import CLASS_MAPPER

        for profile in profiles.values():
            if profile.driver == "cli" and profile.device_type not in CLASS_MAPPER:
                raise ProfileError(f"SSH profile {profile.name}: device_type {profile.device_type!r} is not a netmiko "
                                   "device type (e.g. huawei, hp_comware, cisco_ios, linux, generic)")
    return profiles


# -- turning output into samples ------------------------------------------------------------

def _value(text: str, mapping: Optional[Mapping[str, float]], keep_text: bool = False) -> Optional[FieldValue]:
    """A number (mapped, or read as one), the text when asked to keep text, else None (dropped):
    several InfluxDB-compatible stores turn string fields into 0, so text is written only
    where a profile says it wants it."""
    text = text.strip()
    if mapping is not None and text in mapping:
        return float(mapping[text])
    if keep_text:
        return text
    bare = text[:-1] if text.endswith("%") else text
    if _NUMBER.match(bare):
        return float(bare.replace(",", ""))
    return None


def _fields(groups: Mapping[str, Optional[str]], value_map: ValueMap, skip: Sequence[str] = (),
            text: Sequence[str] = ()) -> dict:
    fields = {}
    for name, raw in groups.items():
        if raw is not None and name not in skip:
            value = _value(raw, value_map.get(name), name in text)
            if value is not None:
                fields[name] = value
    return fields


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
    fields: dict[str, FieldValue] = {"exit_status": exit_status if exit_status is not None else 0,
                                     "duration_ms": round(duration_ms, 3), "output_bytes": len(output)}
    if spec.match is not None:
        found = re.search(spec.match, output, re.MULTILINE)
        if found is not None:
            fields.update(_fields(found.groupdict(), spec.map, text=spec.text))
        else:
            failed = True  # the output is not what the profile expects: a changed CLI is a failed check
    fields["ok"] = int(command_ok(spec, output, failed))
    samples = [Sample("ssh_command", {**tags, "command": spec.name}, fields, time_ns)]
    if spec.rows is not None:
        samples += _rows(spec.rows, output, tags, time_ns)
    if spec.textfsm is not None:
        samples += _textfsm_rows(spec.textfsm, profile.textfsm_platform, spec.command, output, tags, time_ns)
    return samples


def _rows(rows: RowsSpec, output: str, tags: Mapping[str, str], time_ns: int) -> list[Sample]:
    pattern = re.compile(rows.match)
    samples = []
    for line in output.splitlines():
        found = pattern.search(line)
        if found is None:
            continue
        groups = found.groupdict()
        row_tags = {**tags, **{label: (groups[label] or "").strip() for label in rows.labels}}
        fields = _fields(groups, rows.map, skip=rows.labels, text=rows.text) or {"info": 1}
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


def textfsm_table(platform: str, command: str, output: str) -> list[dict[str, str]]:
    """Rows of the ntc-templates parse of `output` (column names in lower case)."""
    import textfsm

    template = _template_text(platform, command)
    if template is None:
        raise ValueError(f"ntc-templates has no template for {platform} `{command}`")
    parser = textfsm.TextFSM(io.StringIO(template))
    header = [column.lower() for column in parser.header]
    return [dict(zip(header, (" ".join(v) if isinstance(v, list) else v for v in row)))
            for row in parser.ParseText(output)]


def _textfsm_rows(spec: TextFsmSpec, platform: str, command: str, output: str, tags: Mapping[str, str],
                  time_ns: int) -> list[Sample]:
    samples = []
    labels = [label.lower() for label in spec.labels]
    wanted = [column.lower() for column in spec.fields]
    value_map = {key.lower(): value for key, value in spec.map.items()}
    for row in textfsm_table(platform, command, output):
        row_tags = {**tags, **{label: row.get(label, "") for label in labels}}
        columns = {key: value for key, value in row.items()
                   if key not in labels and (not wanted or key in wanted) and value != ""}
        # A row of labels only (a version, a model) is an "info" sample: its tags are the data.
        fields = _fields(columns, value_map, text=[column.lower() for column in spec.text]) or {"info": 1}
        samples.append(Sample(spec.measurement, row_tags, fields, time_ns))
    return samples
