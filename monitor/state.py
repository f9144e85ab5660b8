"""Every device's last known state, for `status`, the control socket and systemd's STATUS.

Rows are plain dicts (the JSON the control socket serves and `status --json` prints), so
the daemon, the embedded store and the command line share one shape:
device, address, class, site, state (up/down/pending/unmonitored), rtt_avg_ms, loss_pct, jitter_ms,
last_probe (ISO time), last_seen (last time it answered), since (when the state began),
error (why it produced no reply, when known); snmp (ok, or the kind of the last SNMP poll's
error, e.g. timeout or auth, or no_data; null when SNMP is not polled), snmp_error (the sentence)
and snmp_empty (the profiles of the last poll that found nothing on the agent, or null);
ssh and ssh_error likewise for SSH command checks, config (the configuration version
last stored, e.g. v12, or the kind of the last backup's error), and health (a few figures
from the newest SNMP poll: UPS power source and charge, room temperatures, ports up, CPU, NVR
disks; monitor/health.py; null when there are none).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Iterable, Optional, Sequence

from monitor.health import MEASUREMENTS as HEALTH_MEASUREMENTS, summarise
from probes.base import Sample
from probes.registry import KINDS

# The `snmp` sample's tag naming the profiles that found nothing (probes/snmp/poller.py; not
# imported from there: the status path must not load the SNMP engine).
EMPTY_PROFILES_TAG = "empty_profiles"


def empty_profiles(tags) -> Optional[list[str]]:
    """The profiles an `snmp` sample's tags say found nothing on the agent, or None."""
    text = tags.get(EMPTY_PROFILES_TAG) if tags else None
    return text.split(",") if text else None

# `error_code` of each kind's sample, by the names of the kind's own enum (probes/<kind>/errors),
# as `status` shows them: kind -> {code: name}. The `ssh_config` sample uses the SSH codes.
STATE_NAMES = {name: kind.state_names() for name, kind in KINDS.items() if kind.errors is not None}
SNMP_STATES = STATE_NAMES["snmp"]
SSH_STATES = STATE_NAMES["ssh"]

# measurement -> (state column, its sentence column, error code names): every kind with error
# codes other than ICMP (whose `up` and loss are the state itself).
_HEALTH = {name: (name, f"{name}_error", names) for name, names in STATE_NAMES.items()}

_STATE_RANK = {"down": 0, "up": 1, "pending": 2, "unmonitored": 3}
STATES = tuple(_STATE_RANK)

# Codes that mean the device itself did not answer (as opposed to answering with an error:
# a refused login or a wrong SNMPv3 key still proves the device is there).
_SILENT = {name: frozenset(int(code) for code in kind.silent) for name, kind in KINDS.items()}


def answered(measurement: str, error_code: int) -> bool:
    """Whether an `snmp`, `ssh` (or other kind's) sample shows the device answering: the reachability
    of a device whose ICMP is disabled (ICMP blocked by a firewall, but managed over SNMP or SSH)."""
    return error_code not in _SILENT.get(measurement, ())


def first_state(device) -> str:
    """State of a device nothing is known about yet: pending, or unmonitored when no probe that
    tells reachability (ICMP, SNMP, SSH checks, ...) is on for it (it would stay pending forever)."""
    if any(kind.active(getattr(device, name)) for name, kind in KINDS.items() if hasattr(device, name)):
        return "pending"
    return "unmonitored"


def iso(time_ns: Optional[int]) -> Optional[str]:
    if time_ns is None:
        return None
    return datetime.fromtimestamp(time_ns / 1e9, timezone.utc).isoformat(timespec="seconds")


@dataclass
class _DeviceState:
    device: str
    address: str
    device_class: str
    site: str
    state: str = "pending"
    fields: Optional[dict] = None
    last_probe_ns: Optional[int] = None
    last_seen_ns: Optional[int] = None
    since_ns: Optional[int] = None
    error: Optional[str] = None
    health: dict = field(default_factory=dict)  # snmp, snmp_error, ssh, ssh_error, ... (see _HEALTH)
    config: Optional[str] = None
    by_icmp: bool = True  # reachability from ICMP; else from SNMP and SSH answers
    answers: Optional[dict] = None  # without ICMP: did the last snmp / ssh sample answer
    # measurement -> (tags, fields) of each row of the newest poll that wrote it (monitor/health.py)
    readings: dict = field(default_factory=dict)
    snmp_empty: Optional[list] = None  # profiles of the last SNMP poll that found nothing


class DeviceStates:
    """In-memory last state per device, fed with `icmp` samples."""

    def __init__(self) -> None:
        self._states: dict[str, _DeviceState] = {}

    def set_inventory(self, devices: Iterable) -> None:
        """Track these devices; keep what is known about those that stay (reload)."""
        kept: dict[str, _DeviceState] = {}
        for device in devices:
            old = self._states.get(device.name)
            state = _DeviceState(device.name, device.address, device.device_class, "/".join(device.site_path),
                                 state=first_state(device), by_icmp=device.icmp.enabled)
            if old is not None and old.address == device.address and old.by_icmp == state.by_icmp:
                state.state, state.fields, state.since_ns = old.state, old.fields, old.since_ns
                state.last_probe_ns, state.last_seen_ns, state.error = old.last_probe_ns, old.last_seen_ns, old.error
                state.health, state.config = old.health, old.config
                state.answers = old.answers
                state.readings = old.readings
                state.snmp_empty = old.snmp_empty
            kept[device.name] = state
        self._states = kept

    def update(self, samples: Sequence[Sample]) -> None:
        failed: set[tuple[str, str]] = set()  # (device, kind) with an error among these samples
        heard: dict[tuple[str, str], bool] = {}  # (device, kind): did any of these samples answer
        fresh: dict[tuple[str, str], list] = {}  # (device, measurement): rows of this poll, for health
        for sample in samples:
            state = self._states.get(sample.tags.get("device", ""))
            if state is None:
                continue
            if sample.measurement in HEALTH_MEASUREMENTS:
                fresh.setdefault((state.device, sample.measurement), []).append((sample.tags, sample.fields))
                continue
            if sample.measurement == "snmp":
                state.snmp_empty = empty_profiles(sample.tags)
                if not answered("snmp", sample.fields.get("error_code", 0)):
                    state.readings = {}  # a silent agent: its last figures would pass for current ones
            health = _HEALTH.get(sample.measurement)
            if health is not None:  # snmp / ssh / ...: the column shows the last error's name, or ok
                column, error_column, names = health
                code = sample.fields.get("error_code", 0)
                key = (state.device, sample.measurement)
                # A kind with several samples per device and run (TCP: one per port) shows the
                # run's error rather than whichever port came last.
                if key not in failed:
                    state.health[column] = names.get(code, str(code))
                    if code:
                        failed.add(key)
                    else:
                        state.health.pop(error_column, None)
                if not state.by_icmp:  # up while either protocol answers
                    heard[key] = heard.get(key, False) or answered(sample.measurement, code)
                    state.answers = {**(state.answers or {}), sample.measurement: heard[key]}
                    self._reached(state, any(state.answers.values()), sample.time_ns)
                continue
            if sample.measurement == "ssh_config":
                code = sample.fields.get("error_code", 0)
                state.config = f"v{sample.fields['version']}" if not code else SSH_STATES.get(code, str(code))
                continue
            if sample.measurement != "icmp":
                continue
            if not state.by_icmp:
                continue  # a re-probe for the fault manager; reachability comes from SNMP and SSH
            state.fields = dict(sample.fields)
            self._reached(state, bool(sample.fields.get("up")), sample.time_ns)
        # A measurement's rows are replaced as a whole: a port or disk gone from the poll is gone.
        for (device, measurement), rows in fresh.items():
            self._states[device].readings[measurement] = rows

    @staticmethod
    def _reached(state: _DeviceState, up: bool, time_ns: int) -> None:
        new_state = "up" if up else "down"
        if new_state != state.state:
            state.since_ns = time_ns
        state.state = new_state
        state.last_probe_ns = time_ns
        if up:
            state.last_seen_ns = time_ns
            state.error = None

    def note_error(self, device: str, detail: str, kind: str = "icmp") -> None:
        state = self._states.get(device)
        if state is not None:
            if kind in _HEALTH:
                state.health[_HEALTH[kind][1]] = detail
            else:
                state.error = detail

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(STATES, 0)
        for state in self._states.values():
            out[state.state] += 1
        return out

    def rows(self) -> list[dict]:
        return sort_worst_first([_row(state) for state in self._states.values()])


def _row(state: _DeviceState) -> dict:
    fields = state.fields or {}
    return {
        "device": state.device, "address": state.address, "class": state.device_class, "site": state.site,
        "state": state.state, "rtt_avg_ms": fields.get("rtt_avg_ms"), "loss_pct": fields.get("loss_pct"),
        "jitter_ms": fields.get("jitter_ms"), "last_probe": iso(state.last_probe_ns),
        "last_seen": iso(state.last_seen_ns), "since": iso(state.since_ns), "error": state.error,
        **{key: state.health.get(key) for column, error_column, _ in _HEALTH.values() for key in (column, error_column)},
        "snmp_empty": state.snmp_empty,
        "config": state.config,
        "health": summarise((measurement, tags, fields) for measurement, rows in state.readings.items()
                            for tags, fields in rows) or None,
    }


def sort_worst_first(rows: list[dict]) -> list[dict]:
    """Down first (longest down first), then up by loss, jitter and RTT (worst first), then pending,
    then unmonitored."""
    def key(row: dict) -> tuple:
        longest_down_first = (row.get("since") or "") if row["state"] == "down" else ""
        return (_STATE_RANK.get(row["state"], 3), longest_down_first,
                -(row.get("loss_pct") or 0.0), -(row.get("jitter_ms") or 0.0), -(row.get("rtt_avg_ms") or 0.0),
                row["device"])
    return sorted(rows, key=key)
