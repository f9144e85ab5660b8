"""The inventory: sites, per-class defaults and devices, resolved into what the probes need.

Several YAML files merge into one inventory; each may hold any of `sites`, `classes` and
`devices` (see config/inventory.yaml). Resolution checks everything at once and reports
each problem as `file:line: field: message`: unknown keys, wrong types, duplicate names
and addresses, unknown sites and parents, parent cycles, invalid addresses, and effective
ICMP settings that do not fit (a run longer than its interval).

Speed: 7,000 devices (50,000 in the biggest deployments) resolve in well under a second.
Device entries are checked by hand rather than through a pydantic model per device: their
fields are a handful of strings, and building 50,000 models would cost more than parsing
the YAML. The ICMP overrides, which are rare and have bounds, still go through pydantic.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping, Optional, Sequence

from pydantic import ValidationError

from monitor.problems import (ConfigError, booleans_for_numbers, describe_error, did_you_mean, shown_value,
                              unknown_key)
from monitor.yamlfile import Document, format_path
from probes.base import Target
from probes.registry import KINDS

DEVICE_CLASSES = ("mcu", "codec", "phone", "switch", "router", "ups", "nvr", "camera", "server", "env_sensor", "other")
RESERVED_TAG_KEYS = ("device", "address", "class", "site")

_FILE_KEYS = ("sites", "classes", "devices")
_SITE_KEYS = ("name", "parent", "level", "label", "defaults")
# Probe kinds whose settings a class, a site's `defaults` or a device may override:
# kind -> (override model, settings model). The settings come from `probes.<kind>`.
_PROBE_KINDS: dict[str, tuple[type, type]] = {name: (kind.override, kind.settings) for name, kind in KINDS.items()}
_PROFILE_KEYS = {name: kind.profile_keys for name, kind in KINDS.items() if kind.profile_keys}  # overrides naming profiles
_DEVICE_KEYS = ("name", "address", "class", "site", "parent", "tags", *_PROBE_KINDS)
_OVERRIDE_KEYS = tuple(_PROBE_KINDS)  # what a class or a site's `defaults` may set for its devices
_DEVICE_KEY_SET = frozenset(_DEVICE_KEYS)
_OVERRIDE_FIELDS = {kind: tuple(override.model_fields) for kind, (override, _) in _PROBE_KINDS.items()}
_SETTINGS_ONLY_FIELDS = {kind: frozenset(settings.model_fields) - frozenset(override.model_fields)
                         for kind, (override, settings) in _PROBE_KINDS.items()}
Overrides = Mapping[str, Any]  # probe kind -> its override model
_LEVEL = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")  # it becomes a tag key in every sample
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Longer than any real name (a full Chinese site path is 20-40 characters), short enough that
# a device's tags never approach a metrics server's line and series-key limits (InfluxDB:
# 64 KiB per series key; a 300 KB name made it refuse whole batches of other devices' data).
MAX_NAME_LENGTH = 200
_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9_-]{1,63}(?<!-)\Z")
_SUGGESTION_BUDGET = 100  # "did you mean" scans every name; stop offering after this many misses


@dataclass(frozen=True, slots=True)
class Site:
    name: str
    parent: Optional[str]
    level: str
    label: str
    path: tuple[str, ...]  # root .. self


@dataclass(frozen=True, slots=True)
class Device:
    name: str
    address: str
    device_class: str
    site: str
    site_path: tuple[str, ...]
    parents: tuple[str, ...]
    tags: tuple[str, ...]
    probes: Mapping[str, Any]  # probe kind -> the device's effective settings; also `device.<kind>`
    sample_tags: Mapping[str, str]  # device, address, class, site, and {level: site} along the path
    source: str  # "file:line" of the device entry

    def __getattr__(self, name: str) -> Any:
        # `device.icmp`, `device.snmp`, ...: the effective settings of every kind in the registry.
        if name != "probes" and not name.startswith("__"):
            try:
                return self.probes[name]
            except KeyError:
                pass
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def target(self) -> Target:
        return Target(device=self.name, address=self.address, tags=self.sample_tags)


@dataclass(frozen=True)
class Inventory:
    sites: Mapping[str, Site]
    devices: tuple[Device, ...]
    files: tuple[str, ...] = ()  # the inventory files read, as messages name them
    _by_name: Mapping[str, Device] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {device.name: device for device in self.devices})

    def by_name(self, name: str) -> Optional[Device]:
        return self._by_name.get(name)


def address_key(address: str) -> Optional[str]:
    """`address` normalised for duplicate detection (IPs canonical, host names lower case),
    or None when it is neither an IP address nor a valid host name."""
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        pass
    name = address[:-1] if address.endswith(".") else address
    if not name or len(name) > 253:
        return None
    labels = name.split(".")
    # A numeric last label is a mistyped IPv4 address ("10.1.0.256"), not a host name.
    if labels[-1].isdigit() or not all(_HOST_LABEL.match(label) for label in labels):
        return None
    return name.lower()


class _BooleanProblems(list):
    """An override's true/false values where numbers belong (cached like validation errors)."""


def length_problem(value: str) -> Optional[str]:
    """Why `value` is too long to be a name or a tag, or None."""
    if len(value) <= MAX_NAME_LENGTH:
        return None
    return (f"{shown_value(value)} is {len(value):,} characters long; names, site levels and tags may have at most "
            f"{MAX_NAME_LENGTH} (they go into every sample and alert, and a metrics server refuses a line that "
            f"is too long); shorten it")


def name_problem(value: Any) -> Optional[str]:
    """Why `value` cannot be a device or site name, or None."""
    if (value.__class__ is str and value and len(value) <= MAX_NAME_LENGTH and value.strip() == value
            and not _CONTROL.search(value)):
        return None  # the common case, checked in one go
    if not isinstance(value, str):
        hint = "; write it in quotes" if isinstance(value, (int, float)) and not isinstance(value, bool) else ""
        return f"must be a string (got {shown_value(value)}){hint}"
    if not value.strip():
        return "must not be empty"
    if len(value) > MAX_NAME_LENGTH:
        return length_problem(value)
    if value != value.strip():
        return f"{shown_value(value)} has spaces at the start or end"
    return f"{shown_value(value)} contains a control character"


def find_cycles(parents: Mapping[str, Sequence[str]]) -> list[list[str]]:
    """Every parent cycle found, each once as `[a, b, c, a]` (b is a's parent), starting at the
    name that comes first in `parents`. Names missing from `parents` are ignored."""
    order = {name: index for index, name in enumerate(parents)}
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    cycles, seen = [], set()
    for start in parents:
        if start in state:
            continue
        path, stack = [start], [iter(parents[start])]
        state[start] = 1
        while stack:  # iterative: 50,000 devices would overflow recursion
            for parent in stack[-1]:
                mark = state.get(parent)
                if mark is None and parent in parents:
                    state[parent] = 1
                    path.append(parent)
                    stack.append(iter(parents[parent]))
                    break
                if mark == 1:
                    cycle = path[path.index(parent):]
                    first = min(range(len(cycle)), key=lambda i: order[cycle[i]])
                    cycle = cycle[first:] + cycle[:first]
                    if tuple(cycle) not in seen:
                        seen.add(tuple(cycle))
                        cycles.append(cycle + [cycle[0]])
            else:
                state[path.pop()] = 2
                stack.pop()
    return cycles


@dataclass(slots=True)
class _RawSite:
    name: str
    parent: Optional[str]
    level: Optional[str]
    label: Optional[str]
    overrides: Overrides
    doc: Document
    file_index: int
    path: tuple


@dataclass(slots=True)
class _RawDevice:
    name: Optional[str]
    address: Optional[str]
    address_key: Optional[str]
    device_class: Optional[str]
    site: Optional[str]
    parents: tuple[str, ...]
    tags: tuple[str, ...]
    overrides: Overrides
    doc: Document
    file_index: int
    path: tuple


class _Resolver:
    def __init__(self, bases: Mapping[str, Any], profiles: Mapping[str, Optional[Mapping]]) -> None:
        self.bases = bases  # probe kind -> global settings, or None when those are invalid themselves
        self.profiles = profiles  # probe kind -> profiles by name (None: not checked)
        self.problems: list[tuple[int, int, int, str]] = []
        self.raw_sites: list[_RawSite] = []
        self.raw_devices: list[_RawDevice] = []
        self.class_overrides: dict[str, tuple[Overrides, Document, int, tuple]] = {}
        self._override_cache: dict[Any, Any] = {}
        self._suggestions_left = _SUGGESTION_BUDGET

    # -- reporting

    def problem(self, doc: Document, file_index: int, path: tuple, message: str) -> None:
        line = doc.line(path)
        where = f"{format_path(path)}: " if path else ""
        self.problems.append((file_index, line, len(self.problems), f"{doc.name}:{line}: {where}{message}"))

    def suggest(self, word: str, choices: Any) -> str:
        if self._suggestions_left <= 0:
            return ""
        self._suggestions_left -= 1
        return did_you_mean(word, list(choices))

    def check_keys(self, entry: dict, known: Sequence[str], doc: Document, fi: int, path: tuple) -> None:
        for key in entry:
            if key not in known:
                self.problem(doc, fi, path + (key,), unknown_key(key, known))

    def text(self, entry: dict, key: str, doc: Document, fi: int, path: tuple, required: bool) -> Optional[str]:
        value = entry.get(key)
        if value is None:
            if required:
                self.problem(doc, fi, path + (key,), "required")
            return None
        if not isinstance(value, str):
            self.problem(doc, fi, path + (key,), f"must be a string (got {shown_value(value)})")
            return None
        return value

    def a_name(self, value: Any, doc: Document, fi: int, path: tuple) -> Optional[str]:
        if value is None:
            self.problem(doc, fi, path, "required")
            return None
        problem = name_problem(value)
        if problem:
            self.problem(doc, fi, path, problem)
            return None
        return value

    def names(self, value: Any, doc: Document, fi: int, path: tuple) -> tuple[str, ...]:
        """A name or a list of names (a device's redundant uplinks)."""
        if value is None:
            return ()
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            self.problem(doc, fi, path, f"must be a name or a list of names (got {shown_value(value)})")
            return ()
        found = []
        for index, item in enumerate(value):
            name = self.a_name(item, doc, fi, path + (index,) if len(value) > 1 else path)
            if name is not None and name not in found:
                found.append(name)
        return tuple(found)

    def override(self, kind: str, value: Any, doc: Document, fi: int, path: tuple) -> Optional[Any]:
        """An `icmp:` or `snmp:` override, validated once per distinct content (sites and classes
        repeat them)."""
        if value is None:
            return None
        if not isinstance(value, dict):
            self.problem(doc, fi, path, f"must be a mapping of {kind.upper()} settings (got {shown_value(value)})")
            return None
        try:  # the value's type is part of the key: `count: true` must not reuse `count: 1`
            key = (kind,) + tuple(sorted((str(k), type(v).__name__, v) for k, v in value.items()))
            hash(key)
        except TypeError:
            key = None
        result = self._override_cache.get(key) if key is not None else None
        model = _PROBE_KINDS[kind][0]
        if result is None:
            booleans = booleans_for_numbers(model, value)
            try:
                result = _BooleanProblems(booleans) if booleans else model.model_validate(value)
            except ValidationError as exc:
                result = exc.errors(include_url=False)
            if key is not None:
                self._override_cache[key] = result
        if isinstance(result, model):
            return result if self.references_known(kind, result, doc, fi, path) else None
        if isinstance(result, _BooleanProblems):
            for loc, message in result:
                self.problem(doc, fi, path + loc, message)
            return None
        for error in result:
            loc = tuple(error["loc"])
            if error["type"] == "extra_forbidden" and loc and loc[-1] in _SETTINGS_ONLY_FIELDS[kind]:
                message = f"'{loc[-1]}' can only be set for all devices, in probes.{kind} of the settings file"
            else:
                message = describe_error(error, show_input=True, known_keys=_OVERRIDE_FIELDS[kind])
            self.problem(doc, fi, path + loc, message)
        return None

    def references_known(self, kind: str, override: Any, doc: Document, fi: int, path: tuple) -> bool:
        """SNMP and SSH overrides name credentials and profiles: both must exist."""
        if kind not in _PROFILE_KEYS:
            return True
        fine = True
        base = self.bases.get(kind)
        if override.credential is not None and base is not None and override.credential not in base.credentials:
            known = sorted(base.credentials)
            hint = did_you_mean(override.credential, known) or (
                f"; defined: {', '.join(known)}" if known else "; none is defined")
            self.problem(doc, fi, path + ("credential",), f"unknown credential '{override.credential}'{hint} "
                                                          f"(probes.{kind}.credentials of the settings file)")
            fine = False
        profiles = self.profiles.get(kind)
        if profiles is None:
            return fine
        for key in _PROFILE_KEYS[kind]:
            for index, name in enumerate(getattr(override, key) or ()):
                if name not in profiles:
                    self.problem(doc, fi, path + (key, index), f"unknown {kind.upper()} profile '{name}'"
                                 f"{did_you_mean(name, sorted(profiles))}; `netvigil profiles list` shows them")
                    fine = False
        if fine and kind == "ssh" and override.profiles:
            problem = ssh_profile_mix(override.profiles, profiles)
            if problem:
                self.problem(doc, fi, path + ("profiles",), problem)
                fine = False
        return fine

    def overrides(self, value: Any, doc: Document, fi: int, path: tuple) -> Overrides:
        """A class's or a site's `defaults`: a mapping of probe kind to override."""
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.problem(doc, fi, path, f"must be a mapping like {{icmp: {{interval_s: 60}}}} "
                                        f"(got {shown_value(value)})")
            return {}
        self.check_keys(value, _OVERRIDE_KEYS, doc, fi, path)
        found = {}
        for kind in _PROBE_KINDS:
            override = self.override(kind, value.get(kind), doc, fi, path + (kind,))
            if override is not None:
                found[kind] = override
        return found

    def a_list(self, data: dict, key: str, doc: Document, fi: int) -> list:
        value = data.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            self.problem(doc, fi, (key,), f"must be a list (got {shown_value(value)})")
            return []
        return value

    # -- reading

    def read(self, doc: Document, fi: int) -> None:
        data = doc.data
        if data is None:
            return  # empty, or a syntax error already reported
        if not isinstance(data, dict):
            self.problem(doc, fi, (), f"an inventory file must be a mapping with sites, classes and/or devices "
                                      f"(got {shown_value(data)})")
            return
        self.check_keys(data, _FILE_KEYS, doc, fi, ())
        for index, entry in enumerate(self.a_list(data, "sites", doc, fi)):
            self.read_site(entry, doc, fi, ("sites", index))
        classes = data.get("classes")
        if classes is not None and not isinstance(classes, dict):
            self.problem(doc, fi, ("classes",), f"must be a mapping of class to defaults (got {shown_value(classes)})")
        elif classes:
            for name, value in classes.items():
                self.read_class(name, value, doc, fi)
        for index, entry in enumerate(self.a_list(data, "devices", doc, fi)):
            self.read_device(entry, doc, fi, ("devices", index))

    def read_site(self, entry: Any, doc: Document, fi: int, path: tuple) -> None:
        if not isinstance(entry, dict):
            self.problem(doc, fi, path, f"a site must be a mapping with at least a name (got {shown_value(entry)})")
            return
        self.check_keys(entry, _SITE_KEYS, doc, fi, path)
        name = self.a_name(entry.get("name"), doc, fi, path + ("name",))
        parent_value = entry.get("parent")
        parent = None if parent_value is None else self.a_name(parent_value, doc, fi, path + ("parent",))
        level = self.text(entry, "level", doc, fi, path, required=False)
        if level is not None:
            if level in RESERVED_TAG_KEYS:
                self.problem(doc, fi, path + ("level",), f"'{level}' is a reserved tag key "
                                                         f"({', '.join(RESERVED_TAG_KEYS)}); choose another level name")
                level = None
            elif not _LEVEL.match(level):
                self.problem(doc, fi, path + ("level",), f"{level!r} must be letters, digits and '_', not starting "
                                                         "with a digit (it becomes a tag key)")
                level = None
        if level is not None and length_problem(level):
            self.problem(doc, fi, path + ("level",), length_problem(level))
            level = None
        label = self.text(entry, "label", doc, fi, path, required=False)
        if label is not None and length_problem(label):
            self.problem(doc, fi, path + ("label",), length_problem(label))
            label = None
        overrides = self.overrides(entry.get("defaults"), doc, fi, path + ("defaults",))
        if name is not None:
            self.raw_sites.append(_RawSite(name, parent, level, label, overrides, doc, fi, path))

    def read_class(self, name: Any, value: Any, doc: Document, fi: int) -> None:
        path = ("classes", name)
        if name not in DEVICE_CLASSES:
            self.problem(doc, fi, path, f"unknown class '{name}'{did_you_mean(name, DEVICE_CLASSES)}")
            return
        overrides = self.overrides(value, doc, fi, path)
        earlier = self.class_overrides.get(name)
        if earlier is not None:
            self.problem(doc, fi, path, f"class '{name}' is also defined at {earlier[1].where(earlier[3])}")
            return
        self.class_overrides[name] = (overrides, doc, fi, path)

    def read_device(self, entry: Any, doc: Document, fi: int, path: tuple) -> None:
        if not isinstance(entry, dict):
            self.problem(doc, fi, path, f"a device must be a mapping with name, address, class and site "
                                        f"(got {shown_value(entry)})")
            return
        if not _DEVICE_KEY_SET.issuperset(entry):
            self.check_keys(entry, _DEVICE_KEYS, doc, fi, path)
        name = self.a_name(entry.get("name"), doc, fi, path + ("name",))
        address = self.text(entry, "address", doc, fi, path, required=True)
        key = None
        if address is not None:
            key = address_key(address)
            if key is None:
                self.problem(doc, fi, path + ("address",),
                             f"invalid address {address!r}: neither an IP address nor a valid host name")
        device_class = self.text(entry, "class", doc, fi, path, required=True)
        if device_class is not None and device_class not in DEVICE_CLASSES:
            self.problem(doc, fi, path + ("class",),
                         f"unknown class '{device_class}'{did_you_mean(device_class, DEVICE_CLASSES)}")
            device_class = None
        site = self.a_name(entry.get("site"), doc, fi, path + ("site",))
        parents = self.names(entry.get("parent"), doc, fi, path + ("parent",))
        tags = self.tags(entry.get("tags"), doc, fi, path + ("tags",))
        overrides = {}
        for kind in _PROBE_KINDS:
            if kind in entry:
                override = self.override(kind, entry[kind], doc, fi, path + (kind,))
                if override is not None:
                    overrides[kind] = override
        self.raw_devices.append(_RawDevice(name, address, key, device_class, site, parents, tags, overrides,
                                           doc, fi, path))

    def tags(self, value: Any, doc: Document, fi: int, path: tuple) -> tuple[str, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            self.problem(doc, fi, path, f"must be a list of labels, e.g. [uplink, vip] (got {shown_value(value)})")
            return ()
        tags = []
        for index, tag in enumerate(value):
            if not isinstance(tag, str) or not tag.strip():
                self.problem(doc, fi, path + (index,), f"must be a non-empty string (got {shown_value(tag)})")
            elif length_problem(tag):
                self.problem(doc, fi, path + (index,), length_problem(tag))
            elif tag not in tags:
                tags.append(tag)
        return tuple(tags)

    # -- resolving

    def resolve_sites(self) -> dict[str, Site]:
        by_name: dict[str, _RawSite] = {}
        for raw in self.raw_sites:
            earlier = by_name.get(raw.name)
            if earlier is not None:
                self.problem(raw.doc, raw.file_index, raw.path + ("name",),
                             f"duplicate site '{raw.name}' (also at {earlier.doc.where(earlier.path)})")
            else:
                by_name[raw.name] = raw
        broken: set[str] = set()
        for raw in by_name.values():
            if raw.parent is not None and raw.parent not in by_name:
                self.problem(raw.doc, raw.file_index, raw.path + ("parent",),
                             f"unknown site '{raw.parent}'{self.suggest(raw.parent, by_name)}")
                broken.add(raw.name)
        graph = {name: (raw.parent,) if raw.parent else () for name, raw in by_name.items()}
        for cycle in find_cycles(graph):
            first = by_name[cycle[0]]
            self.problem(first.doc, first.file_index, first.path + ("parent",),
                         f"site parent cycle: {' -> '.join(cycle)}")
            broken.update(cycle)
        sites: dict[str, Site] = {}

        def build(name: str) -> Optional[Site]:
            # Walk up to the first site already built (or the root), then build down.
            chain = []
            while name not in sites:
                if name in broken:
                    return None
                chain.append(name)
                parent = by_name[name].parent
                if parent is None:
                    break
                name = parent
            for name in reversed(chain):
                self.build_site(by_name[name], sites)
            return sites.get(chain[0]) if chain else sites[name]

        for name in by_name:
            if build(name) is None:
                broken.add(name)
        return sites

    def build_site(self, raw: _RawSite, sites: dict[str, Site]) -> None:
        above = sites[raw.parent].path if raw.parent else ()
        path = above + (raw.name,)
        level = raw.level or f"l{len(path)}"
        used = {sites[name].level: name for name in above}
        if level in used:
            self.problem(raw.doc, raw.file_index, raw.path + ("level",),
                         f"level '{level}' is also the level of site '{used[level]}' above it; each level on a "
                         "path needs its own name (it becomes a tag key)")
        sites[raw.name] = Site(raw.name, raw.parent, level, raw.label or raw.name, path)

    def resolve_devices(self, sites: dict[str, Site]) -> list[Device]:
        known: dict[str, _RawDevice] = {}
        by_address: dict[str, _RawDevice] = {}
        for raw in self.raw_devices:
            if raw.name is not None:
                earlier = known.get(raw.name)
                if earlier is not None:
                    self.problem(raw.doc, raw.file_index, raw.path + ("name",),
                                 f"duplicate device name '{raw.name}' (also at {earlier.doc.where(earlier.path)})")
                else:
                    known[raw.name] = raw
            if raw.address_key is not None:
                earlier = by_address.get(raw.address_key)
                if earlier is not None:
                    self.problem(raw.doc, raw.file_index, raw.path + ("address",),
                                 f"address '{raw.address}' of device '{raw.name}' is already used by device "
                                 f"'{earlier.name}' ({earlier.doc.where(earlier.path)})")
                else:
                    by_address[raw.address_key] = raw
        site_names = set(s.name for s in self.raw_sites)
        for raw in self.raw_devices:
            if raw.site is not None and raw.site not in site_names:
                self.problem(raw.doc, raw.file_index, raw.path + ("site",),
                             f"unknown site '{raw.site}'{self.suggest(raw.site, site_names)}")
            for index, parent in enumerate(raw.parents):
                if parent not in known:
                    path = raw.path + ("parent",) + ((index,) if len(raw.parents) > 1 else ())
                    self.problem(raw.doc, raw.file_index, path,
                                 f"unknown device '{parent}'{self.suggest(parent, known)}")
        for cycle in find_cycles({name: raw.parents for name, raw in known.items()}):
            first = known[cycle[0]]
            self.problem(first.doc, first.file_index, first.path + ("parent",),
                         f"parent cycle: {' -> '.join(cycle)}")
        return self.build_devices(sites)

    def build_devices(self, sites: dict[str, Site]) -> list[Device]:
        site_tags = {name: {sites[above].level: above for above in site.path} for name, site in sites.items()}
        site_overrides = {raw.name: raw.overrides for raw in self.raw_sites if raw.overrides}
        effective: dict[tuple, Any] = {}  # (kind, class, site, device override) -> settings or error text
        failures: dict[tuple, list[_RawDevice]] = {}
        devices = []
        for raw in self.raw_devices:
            site = sites.get(raw.site) if raw.site is not None else None
            if raw.name is None or raw.address_key is None or raw.device_class is None or site is None:
                continue  # already reported
            probes = {kind: self.effective(kind, raw, site, site_overrides, effective, failures) for kind in _PROBE_KINDS}
            tags = {"device": raw.name, "address": raw.address, "class": raw.device_class, "site": raw.site}
            tags.update(site_tags[raw.site])
            devices.append(Device(raw.name, raw.address, raw.device_class, raw.site, site.path, raw.parents,
                                  raw.tags, MappingProxyType(probes), MappingProxyType(tags), raw.doc.where(raw.path)))
        for key, raws in failures.items():
            first, others = raws[0], len(raws) - 1
            more = f" (and {others} more device{'s' if others > 1 else ''} with the same settings)" if others else ""
            self.problem(first.doc, first.file_index, first.path + (key[0],),
                         f"effective settings ({effective[key][1]}): {effective[key][0]}{more}")
        return devices

    def effective(self, kind: str, raw: _RawDevice, site: Site, site_overrides: dict, effective: dict,
                  failures: dict) -> Any:
        """settings < class < sites root to leaf < device, computed once per distinct combination."""
        configured = self.bases.get(kind)
        base = configured or _PROBE_KINDS[kind][1]()
        if configured is None:
            return base  # the settings' own problems are reported; do not pile on
        own = raw.overrides.get(kind)
        key = (kind, raw.device_class, raw.site, id(own) if own is not None else None)
        result = effective.get(key)
        if result is None:
            class_override = self.class_overrides.get(raw.device_class, ({},))[0].get(kind)
            path_overrides = [site_overrides.get(name, {}).get(kind) for name in site.path]
            try:
                result = base.merged(class_override, *path_overrides, own)
            except ValidationError as exc:
                sources = [f"probes.{kind}"]
                if class_override is not None:
                    sources.append(f"class {raw.device_class}")
                sources += [f"site {name}" for name, layer in zip(site.path, path_overrides) if layer is not None]
                if own is not None:
                    sources.append("device")
                error = exc.errors(include_url=False)[0]
                result = (describe_error(error, show_input=True), " < ".join(sources))
            effective[key] = result
        if isinstance(result, tuple):
            failures.setdefault(key, []).append(raw)
            return base
        return result


def ssh_profile_mix(names: Sequence[str], profiles: Mapping) -> Optional[str]:
    """Why these SSH profiles cannot run in one session (different drivers), or None."""
    kinds = {(profiles[name].driver, profiles[name].device_type) for name in names if name in profiles}
    if len(kinds) <= 1:
        return None
    shown = ", ".join(f"{name} ({profiles[name].driver} {profiles[name].device_type})" for name in names
                      if name in profiles)
    return (f"profiles {shown} need different SSH drivers; one device's profiles must all use the same "
            "driver and device type (they share one session)")


def resolve(documents: Sequence[Document], bases: Any, profiles: Optional[Mapping[str, Any]] = None) -> Inventory:
    """The inventory from its parsed files; ConfigError listing every problem, sorted by file and line.

    `bases`: probe kind -> `probes.<kind>` of the settings (missing or None when invalid
    themselves: effective settings are then not checked, and devices get the defaults); an
    ICMP settings object alone stands for {"icmp": it} (the CSV importer checks only that).
    `profiles`: kind -> the profiles that exist (SNMP: names, SSH: profiles by name), to check
    the names overrides use.
    """
    if not isinstance(bases, Mapping):
        bases = {"icmp": bases}
    resolver = _Resolver(bases, profiles or {})
    for index, doc in enumerate(documents):
        for text in doc.problems:  # "name:line: ..." from the YAML reader
            line = text[len(doc.name) + 1:].split(":", 1)[0]
            resolver.problems.append((index, int(line) if line.isdigit() else 0, len(resolver.problems), text))
        resolver.read(doc, index)
    sites = resolver.resolve_sites()
    devices = resolver.resolve_devices(sites)
    if resolver.problems:
        resolver.problems.sort()
        raise ConfigError([text for *_, text in resolver.problems])
    return Inventory(MappingProxyType(sites), tuple(devices), tuple(doc.name for doc in documents))
