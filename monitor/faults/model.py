"""Types shared by rules, fault records, calendars, notifications and the API.

The pieces and how they meet:

    samples --> rules.engine.RuleEngine.evaluate() --> [Transition]       (pure)
    [Transition] --> faults.manager.FaultManager                          (daemon glue)
         |-- topology: is the device cut off behind a failed parent? (symptom, no alert)
         |-- calendar: in a maintenance window? heightened watch (stricter SLA)?
         |-- faults.store.FaultStore: the record (SQLite, or PostgreSQL shared by pollers)
         |-- outputs: `fault` events for Grafana
         `-- notify.dispatcher.AlertDispatcher: routing, grouping, escalation, retries

Everything here is plain data with no I/O.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence

from pydantic import BaseModel, ConfigDict, Field, field_validator


def iso_time(seconds: Optional[float], tz: Optional[dt.tzinfo]) -> Optional[str]:
    """Unix seconds as ISO text to the second, in `tz` (default: the machine's zone)."""
    if seconds is None:
        return None
    moment = dt.datetime.fromtimestamp(seconds, tz) if tz else dt.datetime.fromtimestamp(seconds).astimezone()
    return moment.isoformat(timespec="seconds")


SEVERITIES = ("critical", "major", "minor", "warning")  # most severe first
SEVERITY_RANK = {name: rank for rank, name in enumerate(SEVERITIES)}

_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*\Z")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0, None: 1.0}


def parse_duration(value: Any) -> float:
    """Seconds from `90`, `90s`, `5m`, `2h`, `1d`, `1w` or `250ms` (a bare number is seconds).

    Raises ValueError with a sentence a sysadmin can act on."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration; write e.g. 90s, 5m, 2h or 1d")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError(f"{value} is negative; a duration is 0 or more")
        if value > 1e12:  # also keeps float() of a 400-digit integer from raising OverflowError
            raise ValueError("is far too long for a duration; write e.g. 90s, 5m, 2h or 1d")
        return float(value)
    if isinstance(value, str):
        found = _DURATION.match(value)
        if found:
            seconds = float(found.group(1)) * _UNIT_S[found.group(2)]
            if seconds != float("inf"):
                return seconds
    raise ValueError(f"{value!r} is not a duration; write e.g. 90s, 5m, 2h or 1d")


def format_duration(seconds: float) -> str:
    """`3725` -> `1h 2m 5s`; for messages."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return " ".join(parts[:2])


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """What rules, calendars and routes match devices on (built once per inventory load)."""

    name: str
    device_class: str
    site_path: tuple[str, ...]  # root .. the device's own site
    tags: tuple[str, ...] = ()
    parents: tuple[str, ...] = ()
    address: str = ""
    sample_tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def site(self) -> str:
        return self.site_path[-1] if self.site_path else ""

    @classmethod
    def from_device(cls, device) -> "DeviceInfo":
        """From a `monitor.inventory.Device`."""
        return cls(device.name, device.device_class, tuple(device.site_path), tuple(device.tags),
                   tuple(device.parents), device.address, device.sample_tags)


class Selector(BaseModel):
    """Which devices something applies to. Within a key any entry may match; every key that is
    given must match. An empty selector matches every device.

    `sites` match the site or any site below it (a site subtree); `devices` are names or
    shell-style patterns (`community-*-codec`); `tags` need every listed tag on the device
    when `all_tags` is true, any of them otherwise."""

    model_config = ConfigDict(extra="forbid")

    devices: list[str] = Field([], description="device names or patterns like community-*-codec")
    sites: list[str] = Field([], description="sites; each includes every site below it")
    classes: list[str] = Field([], description="device classes (switch, ups, codec, ...)")
    tags: list[str] = Field([], description="inventory tags")
    all_tags: bool = Field(False, description="require every listed tag (default: any one)")

    @field_validator("devices", "sites", "classes", "tags", mode="before")
    @classmethod
    def _one_or_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    def is_empty(self) -> bool:
        return not (self.devices or self.sites or self.classes or self.tags)

    def matches(self, device: DeviceInfo) -> bool:
        if self.classes and device.device_class not in self.classes:
            return False
        if self.sites and not any(site in device.site_path for site in self.sites):
            return False
        if self.tags:
            have = set(device.tags)
            if not (have.issuperset(self.tags) if self.all_tags else have.intersection(self.tags)):
                return False
        if self.devices and not any(device.name == pattern or fnmatch.fnmatchcase(device.name, pattern)
                                    for pattern in self.devices):
            return False
        return True

    def describe(self) -> str:
        """`sites street-03, classes codec` or `every device`; for listings."""
        parts = [f"{key} {', '.join(values)}" for key, values in (
            ("devices", self.devices), ("sites", self.sites), ("classes", self.classes), ("tags", self.tags)) if values]
        return "; ".join(parts) or "every device"


@dataclass(frozen=True, slots=True)
class Transition:
    """One change of a rule's state for one (device, rule, instance), from the rule engine.

    action:
      "open"   the condition has held long enough (`for`): a fault starts (or reopens);
      "update" it still holds (a later sample): last/worst value move on;
      "clear"  the clear condition has held long enough: the fault resolves by itself.
    Flapping: when a key changes state too often the engine clears the underlying key (if
    open) and opens rule "flapping" with instance "<rule>" or "<rule>/<instance>"; the
    underlying rule stays quiet until flapping clears.
    """

    action: str  # "open" | "update" | "clear"
    rule: str
    device: str
    instance: str  # "" when the rule has no instance (e.g. a port name for interface rules)
    severity: str
    time_ns: int  # the sample's time (or the engine clock for time-based clears)
    value: Optional[float] = None  # the watched field's value (None for events and clears)
    threshold: Optional[float] = None
    message: str = ""
    higher_is_worse: bool = True  # worst value = max (True) or min (False)
    reachability: bool = False  # the rule says the device does not answer at all (topology uses it)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.device, self.rule, self.instance)


def severity_at_least(severity: str, floor: str) -> bool:
    return SEVERITY_RANK[severity] <= SEVERITY_RANK[floor]


def check_severities(values: Sequence[str]) -> list[str]:
    bad = [v for v in values if v not in SEVERITY_RANK]
    if bad:
        raise ValueError(f"unknown severity {bad[0]!r}; use one of {', '.join(SEVERITIES)}")
    return list(values)


ALERT_EVENTS = ("open", "reopen", "resolved", "escalate", "repeat", "ack_warning", "ack_breach",
                "resolve_warning", "resolve_breach", "maintenance_over")


@dataclass(frozen=True, slots=True)
class Alert:
    """What the fault manager hands the notification dispatcher: one fault, one event.

    `symptoms` lists the devices cut off behind this device (it is their failed parent), so one
    message can say "core-sw-01 down: 37 devices at 12 sites unreachable" instead of 38
    messages. Never carries a secret: messages are built from rule templates, device names
    and numbers only."""

    fault_id: int
    event: str  # one of ALERT_EVENTS
    device: DeviceInfo
    rule: str
    instance: str
    severity: str
    message: str
    opened_at: float  # unix seconds
    time: float  # when this event happened, unix seconds
    value: Optional[float] = None
    threshold: Optional[float] = None
    heightened: bool = False  # opened during a heightened-watch period
    symptoms: tuple[str, ...] = ()  # device names cut off behind this one
    symptom_sites: tuple[str, ...] = ()  # their distinct sites
    acknowledged_by: Optional[str] = None
    deadline: Optional[float] = None  # for *_warning / *_breach: the deadline in unix seconds
    # The fault's acknowledge deadline (None: no clock, or not known): escalation's pace,
    # without a read of the fault records on the event loop.
    ack_deadline: Optional[float] = None
