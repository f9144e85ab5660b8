"""Rule files: the rule model, and loading shipped and site rules into one checked `RuleSet`.

A rule file is YAML with a top-level `rules:` list (see monitor/rules/defaults/ for the shipped
ones and docs/faults.md "Rules" for every key). Shipped rules come with the package; every *.yaml /
*.yml in each directory of `rules.dirs` adds site rules. A site rule with the name of a
shipped rule replaces it (that is how a threshold is changed); `rules.disable` turns rules off.
Every problem is one line `file:line: rules[3].when: what is wrong and what to write`, all of
them at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Literal, Optional, Sequence, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from monitor import yamlfile
from monitor import words
from monitor.i18n import N_, _, ngettext
from monitor.problems import ConfigError, describe_error, did_you_mean, unknown_key
from monitor.faults.model import Selector, parse_duration
from monitor.rules.expr import (CompiledCondition, ExprError, Template, compile_condition, compile_template)
from monitor.rules.settings import SITE_RULES, RulesSettings

SHIPPED_RULES = Path(__file__).resolve().parent / "defaults"
FLAPPING_RULE = "flapping"  # the rule name of flapping faults; no rule file may use it
MANUAL = "manual"
DEFAULT_MESSAGE = N_("{device}: {rule} {value} (threshold {threshold})")

_RULE_NAME = r"^[a-z0-9_]+$"
_TOP_KEYS = ("rules",)


class RulesError(ConfigError):
    """Every problem found in the rule files and the `rules` settings, one line each."""


def _duration(value: Any) -> Optional[float]:
    return None if value is None else parse_duration(value)


class FlapSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    changes: int = Field(..., ge=2, description="open/clear changes within `window` that mean flapping")
    window: float = Field(..., gt=0, description="the window, a duration like 30m; flapping ends after a "
                                                 "whole window without a change")

    @field_validator("window", mode="before")
    @classmethod
    def _window(cls, value: Any) -> Any:
        return _duration(value)


class RuleSpec(BaseModel):
    """One rule as written in a rule file."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    name: str = Field(..., description="unique name, lower case letters, digits and _")
    description: str = Field("", description="what the rule catches and why, for listings")
    measurement: list[str] = Field(..., min_length=1, description="the measurement(s) whose samples are tested")
    match: Selector = Field(Selector(), description="which devices (classes, sites, tags, devices); default every "
                                                    "device")
    when: str = Field(..., description="the condition that opens a fault, e.g. \"loss_pct > 1 and up == 1\"")
    for_: Optional[float] = Field(None, alias="for", description="the condition must hold this long (a duration "
                                                                 "from the first true sample) before opening")
    for_samples: Optional[int] = Field(None, ge=1, description="...and on this many consecutive samples")
    clear: Optional[str] = Field(None, description="condition that clears (hysteresis); default: not (when); "
                                                   "`manual`: stays open until a person resolves it")
    clear_for: Optional[float] = Field(None, description="the clear condition must hold this long")
    clear_samples: Optional[int] = Field(None, ge=1, description="...and on this many consecutive samples")
    clear_after: Optional[float] = Field(None, gt=0, description="events: resolve by itself this long after the "
                                                                 "last trigger")
    severity: Literal["critical", "major", "minor", "warning"] = Field(..., description="critical, major, minor "
                                                                                         "or warning")
    value: Optional[str] = Field(None, description="the field shown as {value}; default: the first name "
                                                   "compared with a number in `when`")
    instance: str = Field("", description="template over sample tags giving one fault per port, disk, sensor "
                                          "(e.g. \"{name}\"); a missing tag is empty")
    message: str = Field(DEFAULT_MESSAGE, description="message template: {device} {site} {class} {value} "
                                                      "{threshold} {for} {instance} {rule} and any sample tag or "
                                                      "field")
    during: Literal["always", "heightened_watch", "normal"] = Field(
        "always", description="heightened_watch: only during heightened watch; normal: only outside it")
    reachability: bool = Field(False, description="true for rules meaning the device does not answer at all")
    flap: Union[FlapSpec, bool, None] = Field(None, description="flap detection: {changes, window}, or false to "
                                                                "turn it off; default from the settings")

    @field_validator("measurement", mode="before")
    @classmethod
    def _one_or_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("for_", "clear_for", "clear_after", mode="before")
    @classmethod
    def _durations(cls, value: Any) -> Any:
        return _duration(value)

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        if not re.match(_RULE_NAME, value):
            raise ValueError(f"{value!r} is not a rule name; use lower case letters, digits and _ "
                             f"(e.g. {re.sub(r'[^a-z0-9_]+', '_', value.lower()).strip('_') or 'my_rule'!r})")
        if value == FLAPPING_RULE:
            raise ValueError(f"'{FLAPPING_RULE}' is the name of the engine's own flapping faults; choose another")
        return value


def known_keys(model: type[BaseModel]) -> list[str]:
    return [info.alias or name for name, info in model.model_fields.items()]


@dataclass(eq=False, slots=True)
class Rule:
    """A checked rule, ready for the engine (plain attributes: read on every sample)."""

    name: str
    spec: RuleSpec
    source: str  # "file:line"
    layer: str  # "shipped" | "site"
    measurements: tuple[str, ...]
    when: CompiledCondition
    clear: Optional[CompiledCondition]  # None: not (when)
    manual: bool  # never clears by itself
    event: bool  # has clear_after: opens on a trigger, resolves after a quiet time
    for_ns: int
    for_samples: int
    clear_for_ns: int
    clear_samples: int
    clear_after_ns: int
    severity: str
    value_field: Optional[str]
    threshold: Optional[float]
    higher_is_worse: bool
    instance: Optional[Template]  # None: one fault per device
    message: Template
    during: str
    reachability: bool
    flap: Optional[tuple[int, float]]  # (changes, window_s); None: the settings' default
    flap_off: bool
    for_text: str  # {for} in messages
    # `value` compared with another field of the sample (a device's own threshold): {threshold}
    # is that field's value plus the offset, per sample, instead of the constant `threshold`.
    threshold_field: Optional[str] = None
    threshold_offset: float = 0.0

    def definition(self) -> str:
        """What makes two rules "the same" across a reload (state is kept only for those)."""
        return self.spec.model_dump_json(by_alias=True)


@dataclass(frozen=True)
class ListedRule:
    """One rule as `netvigil rules list` shows it."""

    name: str
    status: str  # "shipped" | "site" | "replaced" | "disabled"
    source: str
    severity: str
    measurements: tuple[str, ...]
    match: str
    description: str
    note: str = ""


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[Rule, ...] = ()
    listing: tuple[ListedRule, ...] = ()
    by_name: dict = field(default_factory=dict, repr=False)

    @classmethod
    def of(cls, rules: Sequence[Rule], listing: Sequence[ListedRule] = ()) -> "RuleSet":
        return cls(tuple(rules), tuple(listing), {rule.name: rule for rule in rules})


# -- reading files ----------------------------------------------------------------------------------

def rule_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir()
                  if p.suffix in (".yaml", ".yml") and not p.name.startswith(".") and p.is_file())


def _read_document(path: Path, name: str, problems: list[str]) -> Optional[yamlfile.Document]:
    try:
        document = yamlfile.read(path, name)
    except OSError as exc:
        problems.append(f"{name}: cannot read: {exc.strerror or exc}")
        return None
    problems.extend(document.problems)
    return document


def _specs(document: yamlfile.Document, problems: list[str]) -> list[tuple[RuleSpec, tuple]]:
    """The valid rule specs of one file, with their paths; problems for the rest."""
    data = document.data
    if data is None:
        return []  # empty (or unparsable: already a problem)
    if not isinstance(data, dict):
        problems.append(f"{document.where(())}: a rule file is a mapping with a `rules:` list")
        return []
    for key in data:
        if key not in _TOP_KEYS:
            problems.append(f"{document.where((key,))}: {unknown_key(key, _TOP_KEYS)}")
    entries = data.get("rules")
    if entries is None:
        return []
    if not isinstance(entries, list):
        problems.append(f"{document.where(('rules',))}: rules: must be a list of rules")
        return []
    specs = []
    for index, entry in enumerate(entries):
        path = ("rules", index)
        if not isinstance(entry, dict):
            problems.append(f"{document.where(path)}: rules[{index}]: a rule is a mapping (name, measurement, "
                            "when, severity, ...)")
            continue
        try:
            specs.append((RuleSpec.model_validate(entry), path))
        except ValidationError as exc:
            for error in exc.errors(include_url=False):
                loc = path + tuple(error["loc"])
                keys = known_keys(Selector) if len(error["loc"]) > 1 and error["loc"][0] == "match" \
                    else known_keys(RuleSpec)
                problems.append(f"{document.where(loc)}: {yamlfile.format_path(loc)}: "
                                f"{describe_error(error, show_input=True, known_keys=keys)}")
    return specs


def _compile(spec: RuleSpec, document: yamlfile.Document, path: tuple, layer: str,
             problems: list[str]) -> Optional[Rule]:
    """The engine's form of a valid spec; problems for conditions, templates and contradictions."""
    before = len(problems)

    def problem(key: str, message: str) -> None:
        loc = path + (key,)
        problems.append(f"{document.where(loc)}: {yamlfile.format_path(loc)}: {message}")

    when = clear = instance = message = None
    try:
        when = compile_condition(spec.when)
    except ExprError as exc:
        problem("when", str(exc))
    manual = spec.clear is not None and spec.clear.strip() == MANUAL
    if spec.clear is not None and not manual:
        try:
            clear = compile_condition(spec.clear)
        except ExprError as exc:
            problem("clear", str(exc))
    if manual and (spec.clear_for is not None or spec.clear_samples is not None or spec.clear_after is not None):
        problem("clear", "`manual` never clears by itself; remove clear_for / clear_samples / clear_after, or "
                         "give a clear condition")
    try:
        instance = compile_template(spec.instance) if spec.instance else None
    except ExprError as exc:
        problem("instance", str(exc))
    try:
        # Shipped messages are in the catalogue; a site's own message is kept as written.
        message = compile_template(_(spec.message))
    except ExprError as exc:
        problem("message", str(exc))
    value_field, threshold, higher = spec.value, None, True
    threshold_field, threshold_offset = None, 0.0
    if when is not None:
        comparisons = when.comparisons
        if value_field is None and when.numeric_names:
            value_field = when.numeric_names[0]
        found = next((c for c in comparisons if c.name == value_field), None)
        if found is not None and found.other is not None:
            threshold_field, threshold_offset = found.other, found.number
            higher = found.operator not in ("<", "<=")
        elif found is not None:
            threshold = found.number
            higher = found.operator not in ("<", "<=")
    if len(problems) > before:
        return None
    flap = (spec.flap.changes, spec.flap.window) if isinstance(spec.flap, FlapSpec) else None
    for_parts = []
    if spec.for_:
        for_parts.append(words.duration(spec.for_))
    if spec.for_samples and spec.for_samples > 1:
        for_parts.append(ngettext("{n} sample", "{n} samples", spec.for_samples).format(n=spec.for_samples))
    return Rule(
        name=spec.name, spec=spec, source=document.where(path), layer=layer,
        measurements=tuple(dict.fromkeys(spec.measurement)), when=when, clear=clear, manual=manual,
        event=spec.clear_after is not None,
        for_ns=int((spec.for_ or 0) * 1e9), for_samples=spec.for_samples or 1,
        clear_for_ns=int((spec.clear_for or 0) * 1e9), clear_samples=spec.clear_samples or 1,
        clear_after_ns=int((spec.clear_after or 0) * 1e9), severity=spec.severity, value_field=value_field,
        threshold=threshold, higher_is_worse=higher, instance=instance, message=message, during=spec.during,
        reachability=spec.reachability, flap=flap, flap_off=spec.flap is False,
        for_text=_(" and ").join(for_parts) or ngettext("{n} sample", "{n} samples", 1).format(n=1),
        threshold_field=threshold_field, threshold_offset=threshold_offset)


def _layer(files: Iterable[tuple[Path, str]], layer: str, problems: list[str]) -> dict[str, Rule]:
    """Rules of one layer (shipped, or site) by name; a name twice in a layer is a problem."""
    rules: dict[str, Rule] = {}
    for path, name in files:
        document = _read_document(path, name, problems)
        if document is None:
            continue
        for spec, spec_path in _specs(document, problems):
            rule = _compile(spec, document, spec_path, layer, problems)
            if rule is None:
                continue
            earlier = rules.get(rule.name)
            if earlier is not None:
                problems.append(f"{rule.source}: {yamlfile.format_path(spec_path + ('name',))}: rule '{rule.name}' "
                                f"is already defined at {earlier.source}; rule names must be unique, rename or "
                                "remove one")
                continue
            rules[rule.name] = rule
    return rules


def _files_in(entries: Sequence[Path], optional: Callable[[Path], bool], place: Callable[[int], str],
              problems: list[str]) -> list[tuple[Path, str]]:
    files: list[tuple[Path, str]] = []
    for index, entry in enumerate(entries):
        if entry.is_dir():
            files += [(p, str(p)) for p in rule_files(entry)]
        elif entry.is_file():
            files.append((entry, str(entry)))
        elif not optional(entry):
            problems.append(f"{place(index)}: '{entry}' does not exist; create it or remove it from the list")
    return files


def _combine(shipped: dict[str, Rule], site: dict[str, Rule], disable: Sequence[str],
             disable_place: Callable[[int], str], problems: list[str]) -> RuleSet:
    known = sorted(set(shipped) | set(site))
    for index, name in enumerate(disable):
        if name not in known:
            problems.append(f"{disable_place(index)}: unknown rule '{name}'{did_you_mean(name, known)}; "
                            "`netvigil rules list` shows every rule")
    disabled = set(disable)
    active: list[Rule] = []
    listing: list[ListedRule] = []

    def listed(rule: Rule, status: str, note: str = "") -> ListedRule:
        return ListedRule(rule.name, status, rule.source, rule.severity, rule.measurements,
                          words.selector(rule.spec.match), rule.spec.description, note)

    for name, rule in shipped.items():
        replacement = site.get(name)
        if replacement is not None:
            listing.append(listed(rule, "replaced", _("by {source}").format(source=replacement.source)))
        elif name in disabled:
            listing.append(listed(rule, "disabled", "rules.disable"))
        else:
            listing.append(listed(rule, "shipped"))
            active.append(rule)
    for name, rule in site.items():
        note = _("replaces the shipped rule at {source}").format(source=shipped[name].source) if name in shipped else ""
        if name in disabled:
            listing.append(listed(rule, "disabled", "rules.disable"))
        else:
            listing.append(listed(rule, "site", note))
            active.append(rule)
    return RuleSet.of(active, listing)


def load_rules(settings: RulesSettings, *, shipped_dir: Optional[Path] = SHIPPED_RULES,
               place: Optional[Callable[[tuple], str]] = None) -> RuleSet:
    """Shipped rules + the site rules of `settings.dirs`, minus `settings.disable`.

    `place` names where a settings key came from (e.g. `netvigil.yaml:40`) for messages about
    `rules.dirs` / `rules.disable`; without it they are named `rules.dirs[0]` and so on.
    Raises RulesError listing every problem."""
    problems: list[str] = []

    def where(*loc: Any) -> str:
        text = "rules." + yamlfile.format_path(loc)
        return f"{place(('rules',) + loc)}: {text}" if place is not None else text

    shipped_files = [(p, f"{p.parent.name}/{p.name}") for p in rule_files(shipped_dir)] if shipped_dir else []
    shipped = _layer(shipped_files, "shipped", problems)
    site_files = _files_in(settings.dirs, lambda p: p == SITE_RULES, lambda i: where("dirs", i), problems)
    site = _layer(site_files, "site", problems)
    ruleset = _combine(shipped, site, settings.disable, lambda i: where("disable", i), problems)
    if problems:
        raise RulesError(_by_place(problems))
    return ruleset


def load_paths(paths: Sequence[Path], *, with_shipped: bool = False, disable: Sequence[str] = ()) -> RuleSet:
    """Rules from files and/or directories (for `netvigil rules test`), optionally over the
    shipped ones (as site rules: same names replace). RulesError with every problem."""
    problems: list[str] = []
    files = _files_in(paths, lambda p: False, lambda i: str(paths[i]), problems)
    shipped = _layer([(p, f"{p.parent.name}/{p.name}") for p in rule_files(SHIPPED_RULES)], "shipped", problems) \
        if with_shipped else {}
    site = _layer(files, "site", problems)
    ruleset = _combine(shipped, site, disable, lambda i: f"disable[{i}]", problems)
    if problems:
        raise RulesError(_by_place(problems))
    return ruleset


_PLACE = re.compile(r"^(.*?):(\d+): ")


def _by_place(problems: list[str]) -> list[str]:
    """Problems of each file in line order (files in the order first seen); others after."""
    files: dict[str, int] = {}

    def key(problem: str) -> tuple:
        found = _PLACE.match(problem)
        if found is None:
            return (len(problems), 0)
        return (files.setdefault(found.group(1), len(files)), int(found.group(2)))
    return sorted(problems, key=key)

