"""Declarative SNMP device profiles: which OIDs to fetch and how they become samples.

A profile is data (YAML under probes/snmp/packaged/, extendable from /etc/netvigil/profiles/),
not code: scalars and table columns, each mapped to a field (with unit in its name, a
scale, a plausible range) or to a tag. This module loads profiles, says which OIDs a set
of profiles needs, and turns fetched values into `Sample`s. Rates from counters keep a
little state per device (`CounterState`), so the wrap of 32-bit counters, counter resets
after a reboot and missing polls are handled in one place.

Values come in as a mapping OID -> value, where a value is an int, a float, bytes (OCTET
STRING), a str (an OID), or None (noSuchObject / noSuchInstance / endOfMibView / absent).
"""

from __future__ import annotations

import ast
import functools
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Literal, Mapping, Optional, Sequence, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from probes.base import Sample

PACKAGED_PROFILES = Path(__file__).resolve().parent / "packaged"
SITE_PROFILES = Path("/etc/netvigil/profiles")

_NAME = r"^[a-z][a-z0-9_]*$"
_OID = r"^\d+(\.\d+)+$"

Number = Union[int, float]
RawValue = Union[int, float, bytes, str, None]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ValueSpec(_Strict):
    """One value: a scalar (full OID with its instance, e.g. `...1.3.0`) or a table column
    (the column OID without the index). It becomes a field or a tag. Several specs may give
    the same field or tag: the first that has a value wins, the later ones are fallbacks
    (a 64-bit counter before its 32-bit twin; entPhysicalName before entPhysicalDescr)."""

    oid: str = Field(..., pattern=_OID)
    field: Optional[str] = Field(None, pattern=_NAME, description="field name, unit in the name")
    tag: Optional[str] = Field(None, pattern=_NAME, description="or: a tag carrying the text value")
    kind: Literal["gauge", "enum", "counter", "text", "uptime"] = Field(
        "gauge", description="uptime: the device's uptime (scale it to seconds); going backwards adds rebooted=1 "
                             "and resets counter state (not the roll-over of a 32-bit value, e.g. TimeTicks "
                             "after 497 days). Several uptime specs are fallbacks in order; "
                             "`uptime_source` says which one gave the value (1 the first, 0 none)")
    scale: float = Field(1.0, description="multiply the raw value (e.g. 0.1 for tenths)")
    divisor: float = Field(1.0, gt=0, description="then divide (e.g. 6000: TimeTicks to minutes), exact where "
                                                   "a scale like 1/6000 is not")
    pattern: Optional[str] = Field(None, description="regular expression on the text value: its first group "
                                                     "(or the whole match) is the value, e.g. a model in sysDescr")
    counter_bits: Literal[32, 64] = 64
    enum: Optional[dict[int, str]] = Field(None, description="meaning of the codes (the field keeps the code)")
    map: Optional[dict[int, int]] = Field(
        None, description="enum only: the device's code -> the code written, so a vendor MIB's states land on a "
                          "standard MIB's codes (`enum` then names the written codes); a code not listed is dropped")
    valid: Optional[tuple[float, float]] = Field(None, description="values outside are dropped, not graphed")
    invalid: tuple[float, ...] = Field((), description="vendor 'no reading' markers, dropped")
    keep: bool = Field(True, description="false: only an input of `derived` fields, not written")
    labels: Optional[dict[int, str]] = Field(None, description="for a tag: code -> text (e.g. unit codes)")
    index_from: Optional[str] = Field(
        None, pattern=_OID,
        description="table columns only: read this column at the index that column `index_from` (of the same "
                    "row) holds, not at the row's own index; e.g. a CPU's name from entPhysicalName through "
                    "cpmCPUTotalPhysicalIndex. Such a column never makes rows by itself")

    @model_validator(mode="after")
    def _one_target(self) -> "ValueSpec":
        if (self.field is None) == (self.tag is None):
            raise ValueError("give exactly one of field or tag")
        if self.tag is not None and self.kind != "text":
            raise ValueError("a tag takes kind: text")
        if self.kind == "enum" and not self.enum:
            raise ValueError("kind enum needs an enum mapping")
        if self.map is not None:
            if self.kind != "enum":
                raise ValueError("map is for kind: enum (codes onto codes)")
            unnamed = sorted(set(self.map.values()) - set(self.enum))
            if unnamed:
                raise ValueError(f"map writes codes {unnamed} that enum does not name")
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"bad pattern {self.pattern!r}: {exc}") from None
        return self


_ALLOWED_NODES = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Name, ast.Load, ast.Constant,
                  ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow, ast.USub, ast.Call)
#: Functions an expression may call, each of one argument. log10 is there for optical power: a
#: transceiver reports mW or uW where people read dBm (10 * log10(mW)); of zero or less there is
#: no logarithm, and no reading (a receiver without light reports 0).
_FUNCTIONS = {"log10": math.log10}
#: `**` is there for SI exponents (ENTITY-SENSOR-MIB: 1000 ** (scale - 9)); a larger exponent is no
#: reading but a broken value, and would otherwise let one value cost seconds of big-integer work.
_MAX_EXPONENT = 64


class DerivedSpec(_Strict):
    """A field computed from other fields of the same sample, e.g. used % from used and size:
    `expr: used / size * 100`. Arithmetic on field names only (+ - * / and ** with an exponent
    of at most 64 in size); a missing input, a division by zero or a larger exponent leaves the
    field out."""

    field: str = Field(..., pattern=_NAME)
    expr: str
    valid: Optional[tuple[float, float]] = None
    rows: Optional["RowFilter"] = Field(
        None, description="tables only: compute the field only in rows whose tags match (e.g. the sensor's name "
                          "says it is the receive power), so one column gives different fields in different rows")

    @model_validator(mode="after")
    def _arithmetic_only(self) -> "DerivedSpec":
        try:
            tree = ast.parse(self.expr, mode="eval")
        except SyntaxError as exc:
            raise ValueError(f"expr is not an arithmetic expression: {exc.msg}") from None
        for node in ast.walk(tree):
            if not isinstance(node, _ALLOWED_NODES):
                raise ValueError(f"expr may use field names, numbers, + - * / ** and log10() only, "
                                 f"not {type(node).__name__}")
            if isinstance(node, ast.Call) and (not isinstance(node.func, ast.Name) or node.func.id not in _FUNCTIONS
                                               or len(node.args) != 1 or node.keywords):
                raise ValueError(f"expr may call {', '.join(sorted(_FUNCTIONS))} with one argument only")
            if isinstance(node, ast.Constant) and (isinstance(node.value, bool)
                                                   or not isinstance(node.value, (int, float))):
                raise ValueError(f"expr may use numbers only, not {node.value!r}")
        return self

    def compute(self, fields: Mapping[str, Number]) -> Optional[Number]:
        try:
            value = _evaluate(_parsed(self.expr), fields)
        except (KeyError, ZeroDivisionError, OverflowError, _NoValue):
            return None
        if self.valid is not None and not self.valid[0] <= value <= self.valid[1]:
            return None
        return _tidy(value) if isinstance(value, float) else value


def _tidy(value: float) -> float:
    """A float without binary noise (19.900000000000002 -> 19.9), to 12 significant digits, not
    to a number of decimals: an SI-scaled reading can be tiny (an optical receiver's 0.1 uW is
    1e-07 W) and must not round to 0."""
    return float(f"{value:.12g}")


class _NoValue(Exception):
    """An expression that has no sensible value (an exponent beyond _MAX_EXPONENT)."""


@functools.lru_cache(maxsize=1024)
def _parsed(expr: str) -> ast.AST:
    return ast.parse(expr, mode="eval").body


def _evaluate(node: ast.AST, fields: Mapping[str, Number]) -> Number:
    """Value of an expression the validator accepted (names, numbers, + - * / **, unary -)."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return fields[node.id]
    if isinstance(node, ast.UnaryOp):
        return -_evaluate(node.operand, fields)
    if isinstance(node, ast.Call):
        argument = _evaluate(node.args[0], fields)
        if argument <= 0:  # log10 of nothing: no light is no reading, not minus infinity
            raise _NoValue
        return _FUNCTIONS[node.func.id](argument)
    left, right = _evaluate(node.left, fields), _evaluate(node.right, fields)
    if isinstance(node.op, ast.Add):
        return left + right
    if isinstance(node.op, ast.Sub):
        return left - right
    if isinstance(node.op, ast.Mult):
        return left * right
    if isinstance(node.op, ast.Div):
        return left / right
    if abs(right) > _MAX_EXPONENT or (left == 0 and right < 0):
        raise _NoValue
    result = left ** right
    if isinstance(result, complex):       # a negative number to a fractional power
        raise _NoValue
    return result


class RowFilter(_Strict):
    """Which rows are written, by regular expressions on their tags (e.g. port name, alias,
    type): a row is kept if it matches every `include` entry and no `exclude` entry.
    A missing tag matches no expression."""

    include: dict[str, str] = {}
    exclude: dict[str, str] = {}

    @model_validator(mode="after")
    def _valid_expressions(self) -> "RowFilter":
        for expression in (*self.include.values(), *self.exclude.values()):
            try:
                re.compile(expression)
            except re.error as exc:
                raise ValueError(f"bad regular expression {expression!r}: {exc}") from None
        return self

    def keeps(self, tags: Mapping[str, str]) -> bool:
        for tag, expression in self.include.items():
            if tag not in tags or not _regex(expression).search(tags[tag]):
                return False
        return not any(tag in tags and _regex(expression).search(tags[tag])
                       for tag, expression in self.exclude.items())


@functools.lru_cache(maxsize=1024)
def _regex(expression: str) -> "re.Pattern[str]":
    return re.compile(expression)


DerivedSpec.model_rebuild()


class TableSpec(_Strict):
    measurement: str = Field(..., pattern=_NAME)
    index_tag: str = Field("index", pattern=_NAME, description="tag holding the row index")
    columns: tuple[ValueSpec, ...]
    derived: tuple[DerivedSpec, ...] = ()
    rows: RowFilter = RowFilter()
    any_nonzero: tuple[str, ...] = Field(
        (), description="write a row only if one of these fields is non-zero (entity tables list every port)")
    require: tuple[str, ...] = Field(
        (), description="write a row only if it has each of these fields (before `keep: false` ones are "
                        "dropped): a tag column from another table, e.g. entPhysicalName, has a row for "
                        "every entity, and only those with the table's own values are wanted")
    when: dict[str, tuple[float, ...]] = Field(
        {}, description="write a row only if each of these fields is present and has one of the listed values, "
                        "e.g. a sensor port's online flag: unused ports report placeholder readings")
    merge_by: tuple[str, ...] = Field(
        (), description="rows with the same values of these tags are written as one sample carrying only these tags "
                        "(and the device's); the first row giving a field wins; a row without one of the tags is "
                        "not written. For tables with a row per sensor where a row per port is wanted (the "
                        "receive power, transmit power, bias ... sensors of one transceiver)")

    @model_validator(mode="after")
    def _merge_by_given_tags(self) -> "TableSpec":
        given = {column.tag for column in self.columns if column.tag is not None}
        for name in self.merge_by:
            if name not in given:
                raise ValueError(f"merge_by: {name!r} is not a tag of this table's columns")
        return self


class MatchSpec(_Strict):
    classes: tuple[str, ...] = ()
    sysobjectid: tuple[str, ...] = Field((), description="sysObjectID prefixes")
    requires_oid: Optional[str] = Field(
        None, pattern=_OID,
        description="and only if the agent answers a GET of this OID (with its instance) when the profiles are "
                    "selected: a MIB that only some agents of a class have (a RAID controller's on a server) "
                    "costs the others nothing at each poll")
    replaces: tuple[str, ...] = Field(
        (), description="profiles left out when this one is selected: a vendor-MIB profile that writes a standard "
                        "profile's measurement (the same fields and codes) in its place, so a device never gets "
                        "two samples of it per poll; a device's own `profiles:` setting still adds them")


class ScalarRow(_Strict):
    """Scalars that make one row of a table-like measurement, with fixed tags: e.g. a
    three-phase UPS whose MIB gives each phase's voltage as its own scalar, written as the
    rows line=1, 2, 3 of `ups_input` like a standard MIB's table rows."""

    measurement: str = Field(..., pattern=_NAME)
    tags: dict[str, str] = Field(..., min_length=1)
    scalars: tuple[ValueSpec, ...] = Field(..., min_length=1)

    @model_validator(mode="after")
    def _tag_names(self) -> "ScalarRow":
        for name in self.tags:
            if not re.match(_NAME, name):
                raise ValueError(f"tag name {name!r} must match {_NAME}")
        return self


class Profile(_Strict):
    name: str = Field(..., pattern=_NAME)
    description: str = ""
    match: MatchSpec = MatchSpec()
    measurement: Optional[str] = Field(None, pattern=_NAME, description="measurement of the scalars")
    scalars: tuple[ValueSpec, ...] = ()
    derived: tuple[DerivedSpec, ...] = ()
    scalar_rows: tuple[ScalarRow, ...] = ()
    tables: tuple[TableSpec, ...] = ()

    @model_validator(mode="after")
    def _scalars_need_measurement(self) -> "Profile":
        if self.scalars and self.measurement is None:
            raise ValueError("scalars need a measurement")
        if any(spec.index_from is not None for spec in self.scalars):
            raise ValueError("index_from is for table columns, not scalars")
        if any(spec.index_from is not None for row in self.scalar_rows for spec in row.scalars):
            raise ValueError("index_from is for table columns, not scalar_rows")
        if any(spec.rows is not None for spec in self.derived):
            raise ValueError("rows of a derived field is for tables, not scalars")
        return self

    def scalar_oids(self) -> list[str]:
        # One OID may feed several specs (sysDescr: model and software): fetched once.
        return list(dict.fromkeys([spec.oid for spec in self.scalars]
                                  + [spec.oid for row in self.scalar_rows for spec in row.scalars]))

    def walk_roots(self) -> list[str]:
        return list(dict.fromkeys(oid for table in self.tables for column in table.columns
                                  for oid in (column.index_from, column.oid) if oid is not None))


class ProfileError(ValueError):
    """A profile file that cannot be used; the message names the file and what is wrong."""


def load_file(path: Path, model: type = Profile):
    """One profile file as `model` (SNMP's Profile, or another kind's profile model)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return model.model_validate(data)
    except (OSError, yaml.YAMLError) as exc:
        raise ProfileError(f"{path}: cannot read: {exc}") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ProfileError(f"{path}: {where}: {first['msg']}") from None


def load_all(directories: Sequence[Path] = (PACKAGED_PROFILES, SITE_PROFILES), model: type = Profile) -> dict:
    """Profiles by name; a later directory's profile replaces a packaged one of the same name."""
    profiles: dict = {}
    paths: dict[str, Path] = {}
    for directory in directories:
        if directory.is_dir():
            for path in sorted(directory.glob("*.yaml")):
                profile = load_file(path, model)
                profiles[profile.name] = profile
                paths[profile.name] = path
    for name, profile in profiles.items():  # a misspelt `replaces` would silently leave both
        match = getattr(profile, "match", None)
        unknown = [other for other in getattr(match, "replaces", ()) if other not in profiles]
        if unknown:
            raise ProfileError(f"{paths[name]}: match.replaces: no profile named {unknown[0]!r}; "
                               f"known: {', '.join(sorted(profiles))}")
    return profiles


def select(profiles: Mapping[str, Profile], device_class: str, sys_object_id: Optional[str],
           answered: Optional[Mapping[str, RawValue]] = None) -> list[Profile]:
    """Profiles for a device: matched by class and/or sysObjectID prefix. An agent without a
    system group (some Hikvision cameras) has no sysObjectID: its class alone selects. A profile
    with `requires_oid` is chosen only if `answered` (what the agent returned for the OIDs of
    `required_oids`) holds a value for it; without `answered` that is not checked."""
    chosen = []
    for profile in profiles.values():
        by_class = device_class in profile.match.classes
        by_oid = bool(sys_object_id) and any(
            (sys_object_id.lstrip(".") + ".").startswith(prefix + ".") for prefix in profile.match.sysobjectid)
        required = profile.match.requires_oid
        if (by_class or by_oid) and (required is None or answered is None or answered.get(required) is not None):
            chosen.append(profile)
    replaced = {name for profile in chosen for name in profile.match.replaces}
    return [profile for profile in chosen if profile.name not in replaced] if replaced else chosen


def required_oids(profiles: Mapping[str, Profile]) -> tuple[str, ...]:
    """The OIDs whose presence decides whether a profile applies (fetched with the system group)."""
    return tuple(dict.fromkeys(profile.match.requires_oid for profile in profiles.values()
                               if profile.match.requires_oid is not None))


# -- values ----------------------------------------------------------------------------------

_LEADING_NUMBER = re.compile(rb"^\s*(-?\d+(?:\.\d+)?)")


def number(value: RawValue) -> Optional[Number]:
    """The number in a value; OCTET STRINGs like b'-87 dBm' give their leading number."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, bytes):
        match = _LEADING_NUMBER.match(value)
        if match:
            text = match.group(1)
            return float(text) if b"." in text else int(text)
    return None


def text(value: RawValue) -> Optional[str]:
    if isinstance(value, bytes):
        decoded = value.decode("utf-8", errors="replace").strip().strip("\x00")
        return decoded or None
    if isinstance(value, str):
        return value.lstrip(".") or None
    if isinstance(value, (int, float)):
        return str(value)
    return None


@dataclass
class CounterState:
    """Previous counter readings of one device: (value, time_ns) per OID, and its uptime."""

    readings: dict[str, tuple[int, int]] = field(default_factory=dict)
    uptime: Optional[float] = None
    uptime_source: Optional[str] = None
    uptime_at_ns: Optional[int] = None
    rebooted: bool = False

    def note_uptime(self, uptime: Optional[float], source: Optional[str] = None, time_ns: Optional[int] = None,
                    wrap: Optional[float] = None) -> bool:
        """Record the uptime read from `source` (an OID) at `time_ns`; True if it went backwards
        (a reboot: counters restart from 0). An uptime from another source than last time
        (sysUpTime is the agent's, hrSystemUptime the host's) is a new baseline, not a reboot.

        `wrap`: where the reading rolls over to 0, in the uptime's units. sysUpTime and
        hrSystemUptime are 32-bit TimeTicks: after 497.1 days up they start again at 0, which
        is no reboot. A reading that is where the previous one plus the time since would be
        after the roll-over (within a minute, or 1 % of the time between the polls) is taken
        for one; a device that really restarted exactly then is seen as a roll-over."""
        if uptime is None:
            return False
        went_back = self.uptime is not None and source == self.uptime_source and uptime < self.uptime
        self.rebooted = went_back and not self._rolled_over(uptime, time_ns, wrap)
        self.uptime, self.uptime_source, self.uptime_at_ns = uptime, source, time_ns
        if self.rebooted:
            self.readings.clear()
        return self.rebooted

    def _rolled_over(self, uptime: float, time_ns: Optional[int], wrap: Optional[float]) -> bool:
        if wrap is None or time_ns is None or self.uptime_at_ns is None or self.uptime is None:
            return False
        elapsed_s = (time_ns - self.uptime_at_ns) / 1e9
        if elapsed_s < 0:
            return False
        expected = self.uptime + elapsed_s
        return expected >= wrap - 60 and abs(uptime - (expected - wrap)) <= max(60.0, elapsed_s / 100)

    def rate(self, oid: str, value: int, time_ns: int, bits: int) -> Optional[float]:
        """Per-second rate since the previous reading, or None (first reading, reset, no time)."""
        previous = self.readings.get(oid)
        self.readings[oid] = (value, time_ns)
        if previous is None:
            return None
        old_value, old_time = previous
        seconds = (time_ns - old_time) / 1e9
        if seconds <= 0:
            return None
        delta = value - old_value
        if delta < 0:
            if bits == 32 and old_value > (1 << 31):
                delta += 1 << 32  # a 32-bit counter wrapped (it was in its upper half)
            else:
                return None  # a reset (agent restart, counter cleared): no rate this time
        return delta / seconds


def _matched(spec: ValueSpec, raw: RawValue) -> RawValue:
    """The part of a text value that `pattern` picks out (None: no match), or the value as it is."""
    if spec.pattern is None:
        return raw
    value = text(raw)
    match = _regex(spec.pattern).search(value) if value is not None else None
    if match is None:
        return None
    picked = match.group(1) if match.re.groups else match.group(0)
    return picked.encode("utf-8") if picked is not None else None


#: What a field (every kind but text) can use: what `number` reads.
EXPECTED_NUMBER = "a number (INTEGER, Gauge32, Counter32, Counter64, TimeTicks, or text starting with one)"


@dataclass
class WrongTypes:
    """Values a profile field could not use because of their type (an OID, an address, text
    without a number where a number belongs): counted, and the first one kept for the sentence
    (so an agent sending thousands cannot grow this)."""

    count: int = 0
    first: Optional[tuple[str, str, str, RawValue]] = None  # (OID, profile, field, value received)

    def note(self, oid: str, profile: str, field_name: str, raw: RawValue) -> None:
        self.count += 1
        if self.first is None:
            self.first = (oid, profile, field_name, raw)


def _unusable(raw: RawValue) -> bool:
    """A value that is there but is no number: of the wrong type for a field. An empty or blank
    string is not: agents send one for "no reading" in numeric text columns."""
    if raw is None:
        return False
    if isinstance(raw, bytes) and not raw.strip().strip(b"\x00"):
        return False
    return number(raw) is None


def _field_value(spec: ValueSpec, raw: RawValue, key: str, time_ns: int,
                 counters: CounterState) -> Optional[Number]:
    value = number(raw)
    if value is None:
        return None
    if spec.kind == "counter":
        rate = counters.rate(key, int(value), time_ns, spec.counter_bits)
        return None if rate is None else rate * spec.scale / spec.divisor
    if value in spec.invalid:
        return None
    if spec.kind == "enum":
        return int(value) if spec.map is None else spec.map.get(int(value))
    scaled = value * spec.scale / spec.divisor
    if spec.valid is not None and not spec.valid[0] <= scaled <= spec.valid[1]:
        return None
    return _tidy(scaled) if isinstance(scaled, float) else scaled


def gives_value(spec: ValueSpec, raw: RawValue) -> bool:
    """Whether `raw` gives `spec` a value (a tag's text; a field's number that is not a "no
    reading" marker and lies in its range). Counters always do (a rate needs a second reading)."""
    raw = _matched(spec, raw)
    if spec.tag is not None:
        return text(raw) is not None
    if spec.kind == "counter":
        return number(raw) is not None
    return _field_value(spec, raw, "", 0, CounterState()) is not None


def _apply(specs: Iterable[ValueSpec], lookup, key_suffix: str, time_ns: int, counters: CounterState,
           fields: dict, tags: dict, wrong_type: Optional[Callable[[tuple[str, str, RawValue]], None]] = None) -> bool:
    """Fields and tags of `specs` into `fields` and `tags`; True if any spec gave a tag."""
    given: set[str] = set()       # tags these specs gave (not the base tags, which a spec may replace)
    for spec in specs:
        if spec.tag in given or spec.field in fields:
            continue  # an earlier spec (entPhysicalName; the 64-bit HC counter) already gave it
        raw = _matched(spec, lookup(spec.oid))
        if spec.tag is not None:
            code = number(raw) if spec.labels else None
            value = spec.labels.get(int(code), text(raw)) if code is not None else text(raw)
            if value is not None:
                tags[spec.tag] = value
                given.add(spec.tag)
            continue
        value = _field_value(spec, raw, spec.oid + key_suffix, time_ns, counters)
        if value is not None:
            fields[spec.field] = value
            if spec.kind == "uptime":
                # TimeTicks and the other 32-bit unsigned types roll over at 2**32 raw units.
                fields["rebooted"] = int(counters.note_uptime(value, spec.oid, time_ns,
                                                              wrap=(1 << 32) * spec.scale / spec.divisor))
                fields["uptime_source"] = _uptime_position(specs, spec)
        elif wrong_type is not None and spec.pattern is None and _unusable(raw):
            wrong_type((spec.oid + key_suffix, spec.field, raw))
    return bool(given)


def _uptime_position(specs: Sequence[ValueSpec], spec: ValueSpec) -> int:
    """1 for the first uptime spec of `specs`, 2 for the next (a fallback), ..."""
    position = 0
    for each in specs:
        position += each.kind == "uptime"
        if each is spec:
            return position
    return 0


def _derive(derived: Sequence[DerivedSpec], fields: dict, tags: Optional[Mapping[str, str]] = None) -> dict:
    """Derived fields in order; of several giving the same field, the first that has a value
    wins (the later ones are fallbacks, as for value specs). A spec with `rows` applies only to
    the table rows its filter keeps."""
    if not derived:
        return fields  # most tables (every interface row): no set made per row
    given: set[str] = set()
    for spec in derived:
        if spec.field in given:
            continue
        if spec.rows is not None and (tags is None or not spec.rows.keeps(tags)):
            continue
        value = spec.compute(fields)
        if value is not None:
            fields[spec.field] = value
            given.add(spec.field)
    return fields


def _drop_inputs(specs: Sequence[ValueSpec], fields: dict) -> dict:
    for spec in specs:
        if not spec.keep and spec.field is not None:
            fields.pop(spec.field, None)
    return fields


def extract(profile: Profile, values: Mapping[str, RawValue], base_tags: Mapping[str, str], time_ns: int,
            counters: CounterState, rows: Optional[Mapping[str, RowFilter]] = None, *,
            indexes: Optional[Callable[[TableSpec], Optional[Sequence[str]]]] = None,
            wrong_types: Optional[WrongTypes] = None) -> list[Sample]:
    """Samples of one profile from fetched values (scalars by full OID, table cells by OID).

    `rows` may replace a table's row filter per measurement (a device's own port selection).
    `indexes(table)` gives the row indexes of a table to write, or None to write none of it
    (the poller's bounds); without it every index found in `values` is a row. `wrong_types`
    collects values a field could not use because of their type, in the scalars and in the
    rows that are written (a row filtered out, e.g. an offline sensor port, may say "N/A").
    """
    samples = []
    pending: list[tuple[str, str, RawValue]] = []  # wrong types found in the scalars or the row at hand
    note = None if wrong_types is None else pending.append
    if profile.scalars:
        fields: dict = {}
        tags = dict(base_tags)
        if (_apply(profile.scalars, values.get, "", time_ns, counters, fields, tags, note)
                and "uptime_source" not in fields and any(spec.kind == "uptime" for spec in profile.scalars)):
            # No uptime from any source: the tags (sysDescr, sysObjectID) are still worth a
            # sample, and line protocol needs a field.
            fields["uptime_source"] = 0
        for oid, field_name, raw in pending:
            wrong_types.note(oid, profile.name, field_name, raw)
        if _drop_inputs(profile.scalars, _derive(profile.derived, fields)):
            samples.append(Sample(profile.measurement, tags, fields, time_ns))
    for row in profile.scalar_rows:
        fields, tags = {}, {**base_tags, **row.tags}
        pending.clear()
        _apply(row.scalars, values.get, "", time_ns, counters, fields, tags, note)
        for oid, field_name, raw in pending:
            wrong_types.note(oid, profile.name, field_name, raw)
        if _drop_inputs(row.scalars, fields):
            samples.append(Sample(row.measurement, tags, fields, time_ns))
    for table in profile.tables:
        found = _row_indexes(table, values) if indexes is None else indexes(table)
        if found is None:
            continue
        merged: Optional[dict[tuple, Sample]] = {} if table.merge_by else None
        for index in found:
            fields, tags = {}, dict(base_tags)
            tags[table.index_tag] = index
            pending.clear()
            _apply(table.columns, _row_lookup(table, values, index), "." + index, time_ns, counters, fields, tags,
                   note)
            if not fields and not pending:
                continue  # a row only a tag column has (entPhysicalName of every entity): nothing to write
            row_filter = (rows or {}).get(table.measurement, table.rows)
            if not row_filter.keeps(tags):
                continue
            if merged is not None and any(name not in tags for name in table.merge_by):
                continue  # not a row of any port (a chassis sensor, a slot): nothing to derive
            write = not table.any_nonzero or any(fields.get(name) for name in table.any_nonzero)
            if write:
                _derive(table.derived, fields, tags)
                write = all(name in fields for name in table.require)
            if any(fields.get(name) not in allowed for name, allowed in table.when.items()):
                continue  # not a live row (an offline sensor port): whatever it holds is no reading
            for oid, field_name, raw in pending:  # a wrong type may be why the row has no reading
                wrong_types.note(oid, profile.name, field_name, raw)
            if write and _drop_inputs(table.columns, fields):
                if merged is None:
                    samples.append(Sample(table.measurement, tags, fields, time_ns))
                else:
                    _merge(merged, table, base_tags, tags, fields, time_ns)
        if merged:
            samples.extend(merged.values())
    return samples


def _merge(merged: dict, table: TableSpec, base_tags: Mapping[str, str], tags: Mapping[str, str], fields: dict,
           time_ns: int) -> None:
    """Fold one row into the sample of its `merge_by` tags (new: with those tags only)."""
    key = tuple(tags.get(name) for name in table.merge_by)  # the caller kept only rows with every tag
    sample = merged.get(key)
    if sample is None:
        merged[key] = Sample(table.measurement, {**base_tags, **dict(zip(table.merge_by, key))}, fields, time_ns)
        return
    for name, value in fields.items():
        sample.fields.setdefault(name, value)


def _row_lookup(table: TableSpec, values: Mapping[str, RawValue], index: str):
    """OID -> value of this row: a column's value at the row's index, or for an `index_from`
    column at the index that column holds (no value there, or no such index: None)."""
    pointers = {column.oid: column.index_from for column in table.columns if column.index_from is not None}

    def lookup(oid: str) -> RawValue:
        pointer = pointers.get(oid)
        if pointer is None:
            return values.get(f"{oid}.{index}")
        target = values.get(f"{pointer}.{index}")
        if isinstance(target, bool) or not isinstance(target, int):
            return None
        return values.get(f"{oid}.{target}")
    return lookup


def _row_indexes(table: TableSpec, values: Mapping[str, RawValue]) -> list[str]:
    """Row indexes present in any column, in OID order (sparse walks leave gaps: LAB fixtures).
    An `index_from` column is indexed by another table's index: it makes no rows."""
    found: dict[str, tuple[int, ...]] = {}
    for column in table.columns:
        if column.index_from is not None:
            continue
        prefix = column.oid + "."
        for oid in values:
            if oid.startswith(prefix):
                index = oid[len(prefix):]
                found.setdefault(index, tuple(int(part) for part in index.split(".") if part.isdigit()))
    return sorted(found, key=found.__getitem__)
