"""The only types shared between probes and the daemon.

Probes take `Target`s and return `Sample`s. A probe never raises into the scheduler:
a timeout, a refusal or a send failure is data (an `up=0` sample with a `result_code`),
so dashboards and rules see "down" as a row rather than as a gap.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import (Any, Awaitable, Callable, Hashable, Mapping, Optional, Protocol, Sequence, Union,
                    runtime_checkable)

FieldValue = Union[float, int, bool, str]


@dataclass(frozen=True, slots=True)
class Target:
    """One device as a probe sees it.

    `tags` are the sample tags precomputed once per inventory load (device, address,
    class, site and each site level), so the hot probe loop does no dictionary building.
    """

    device: str
    address: str
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Sample:
    """One point: what rules, faults and every output consume."""

    measurement: str
    tags: Mapping[str, str]
    fields: Mapping[str, FieldValue]
    time_ns: int


class ResultCode(enum.IntEnum):
    """Why a probe run ended the way it did (stored as the `result_code` field).

    Integers rather than strings because several InfluxDB-compatible stores
    (VictoriaMetrics) turn string fields into 0.
    """

    OK = 0
    TIMEOUT = 1  # nothing came back in time
    SEND_FAILED = 2  # the request could not even leave this host (EPERM, ENETUNREACH, ...)
    RESOLVE_FAILED = 3  # a host name did not resolve
    ERROR = 4  # anything else; the detail is logged and shown by `status`


@dataclass(frozen=True, slots=True)
class ProbeError:
    """An error as data: which kind, and a sentence for people (never a secret)."""

    kind: ResultCode
    detail: str


def merge_overrides(settings, overrides):
    """`settings` (a pydantic model) with class/site/device overrides applied in order, later
    ones winning; only keys an override sets count. Validated again as a whole: an override
    may make the settings inconsistent (a run that no longer fits its interval)."""
    values = {}
    for override in overrides:
        if override is not None:
            values.update({key: getattr(override, key) for key in override.model_fields_set
                           if getattr(override, key) is not None})
    if not values:
        return settings
    return settings.model_validate({**dict(settings), **values})


# -- the prober interface ---------------------------------------------------------------------
#
# A probe kind is a package under probes/ (icmp, snmp, ssh, tcp) that exports one `KIND`
# (`ProbeKind`): its settings model (`probes.<kind>` of the settings file and the override that
# classes, sites and devices may give), the runs a device's settings ask for, the names of its
# samples' error codes, and how to start its `Prober`. probes/registry.py maps kind names to
# them; the daemon, the configuration, the inventory and `status` take the kinds from there.

SettingsLookup = Callable[[str], Optional[Any]]  # device name -> its effective settings (None: gone)


@dataclass(frozen=True, slots=True)
class Run:
    """One periodic run a device's settings ask for; the scheduler batches devices by it.

    `job` names the scheduler job kind (the probe kind, or e.g. `ssh_config` for SSH backups
    next to SSH checks). Devices in one batch share `interval_s` and `shares`. `settings`, when
    given, is handed to the whole batch (ICMP: the echo count, spacing and timeout are per
    batch); otherwise each device's settings are looked up when the run starts, so a reload
    that removed a device while its batch was queued skips it. A heightened-watch interval
    shortens `interval_s` (only when `watched`), never below `run_s`, the time one run takes.
    """

    job: str
    interval_s: float
    shares: Hashable = ()
    settings: Any = None
    run_s: float = 0.0
    watched: bool = True


@dataclass(slots=True)
class Probed:
    """What one probe call returns: the samples, and the errors as data (target, why) for the
    daemon's log and `status`. Timeouts and refusals are samples too (`up=0`, an error code)."""

    samples: list[Sample] = field(default_factory=list)
    errors: list[tuple[Target, ProbeError]] = field(default_factory=list)

    def note(self, target: Target, error: ProbeError) -> None:
        """An `on_error` callback that keeps the error."""
        self.errors.append((target, error))


class ProbeStartError(Exception):
    """Why a prober cannot start, as a sentence for people (the daemon exits 1 with it)."""


@dataclass(frozen=True)
class ProbeContext:
    """What the daemon lends a prober when starting it: where state lives, each device's current
    effective settings of the kind (they change with reloads), and named services a kind may
    need from the daemon (SSH: `config_store(rules_for_device)` opens the store of
    configuration versions)."""

    state_dir: Any
    settings_of: SettingsLookup = lambda device: None
    services: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class Prober(Protocol):
    """A started probe kind. `probe` never raises into the scheduler: every target of the batch
    yields its samples, failures included."""

    kind: str

    async def probe(self, targets: Sequence[Target], settings: SettingsLookup, job: str = "") -> Probed:
        """Probe `targets` once (one batch of `job`, default the kind itself)."""

    async def reconfigure(self, settings: Any, devices: Sequence[str]) -> None:
        """New `probes.<kind>` settings after a reload; `devices`: the names it now runs for.
        A part it cannot take (a profile file broken since `check`) is logged and kept."""

    def close(self) -> None:
        """Release sockets and threads; runs still in flight may finish on them."""


@dataclass(frozen=True)
class ProbeKind:
    """A probe kind as the daemon, the configuration and `status` see it (one registry entry).

    `active(settings)`: whether the kind's samples tell if the device answers (a device with no
    such kind on is `unmonitored`). `errors`: the enum of the `error_code` field of the kind's
    sample (named in `status`); `silent`: the codes meaning the device did not answer at all.
    `profile_keys`: override keys that name profiles (checked against the kind's profiles).
    `missing_secrets(settings, devices)`: sentences about secrets the devices need and lack.
    `jobs`: the scheduler jobs of its runs, each capped at `concurrency(settings)` runs at once.
    `start(settings, context)`: the started `Prober`, or ProbeStartError. Engines are imported
    inside `start`, so reading the registry stays cheap (`status`, `check`).
    """

    name: str
    settings: type
    override: type
    runs: Callable[[Any], Sequence[Run]]
    start: Callable[[Any, ProbeContext], Awaitable[Prober]]
    active: Callable[[Any], bool]
    errors: Optional[type[enum.IntEnum]] = None
    silent: frozenset[int] = frozenset()
    profile_keys: tuple[str, ...] = ()
    missing_secrets: Optional[Callable[[Any, Sequence], list[str]]] = None
    jobs: tuple[str, ...] = ()  # the `Run.job`s its runs use, when not just its name
    concurrency: Callable[[Any], int] = lambda settings: settings.max_concurrent_runs

    @property
    def all_jobs(self) -> tuple[str, ...]:
        return self.jobs or (self.name,)

    def state_names(self) -> dict[int, str]:
        """`error_code` -> the name `status` shows (`ok` for 0)."""
        if self.errors is None:
            return {}
        return {int(code): "ok" if int(code) == 0 else code.name.lower() for code in self.errors}
