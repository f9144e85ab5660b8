"""What the inspection record reads: every device's state and the latest machine-room readings
(UPS, temperature and humidity sensors, NVR disks) at one moment, as a `Snapshot`.

Two sources give the same shape:

* the running daemon: `DeviceStates.rows()` (what `netvigil status` shows) and `LatestReadings`,
  an in-memory cache of the newest sample of every series of `MEASUREMENTS`, fed with every
  sample the daemon handles. A cache of its own because the embedded store's `latest` table
  keeps one row per (device, measurement), i.e. one sensor of a four-sensor monitor and one
  disk of an NVR, and because the embedded store is off when an InfluxDB output is configured.
  The daemon serves both over its control socket (`GET /status?readings=1`).
* the embedded store's history (`<state_dir>/metrics.db`, `read_embedded`): the newest point
  of every series at or before the moment, so `report inspection --at 09:00` can be made
  after the fact and while the daemon is stopped.

A sample older than the window (`reports.inspection_window_s`) before the moment does not
count: a device heard of last an hour ago has no data now.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Optional, Sequence

from monitor.i18n import _
from monitor.reports import texts as T
from monitor.state import STATE_NAMES, answered, first_state, iso

ENV_MEASUREMENTS = ("env_sensor", "akcp_temperature", "akcp_humidity")
UPS_MEASUREMENTS = ("ups", "ups_input", "ups_output", "apc_ups")
DISK_MEASUREMENTS = ("nvr_disk",)
MEASUREMENTS = frozenset(ENV_MEASUREMENTS + UPS_MEASUREMENTS + DISK_MEASUREMENTS)


@dataclass(frozen=True)
class Reading:
    """The newest sample of one series (measurement + tags)."""

    device: str
    measurement: str
    tags: dict
    fields: dict
    time_ns: int

    def to_dict(self) -> dict:
        return {"device": self.device, "measurement": self.measurement, "tags": self.tags, "fields": self.fields,
                "time_ns": self.time_ns}

    @classmethod
    def from_dict(cls, row: dict) -> "Reading":
        return cls(row["device"], row["measurement"], dict(row["tags"]), dict(row["fields"]), int(row["time_ns"]))


@dataclass(frozen=True)
class Snapshot:
    at: float  # unix seconds: the moment described
    devices: tuple[dict, ...]  # rows as monitor.state makes them (device, class, site, state, ...)
    readings: tuple[Reading, ...]
    source: str  # said in the record: where the values came from


class LatestReadings:
    """In the daemon: the newest sample of every series of `MEASUREMENTS`."""

    def __init__(self) -> None:
        self._latest: dict[tuple[str, tuple], Reading] = {}

    def update(self, samples: Iterable) -> None:
        for sample in samples:
            if sample.measurement not in MEASUREMENTS:
                continue
            key = (sample.measurement, tuple(sorted(sample.tags.items())))
            known = self._latest.get(key)
            if known is None or known.time_ns <= sample.time_ns:
                self._latest[key] = Reading(sample.tags.get("device", ""), sample.measurement, dict(sample.tags),
                                            dict(sample.fields), sample.time_ns)

    def keep_devices(self, names: Iterable[str]) -> None:
        """Forget the series of devices no longer in the inventory (reload)."""
        names = set(names)
        self._latest = {key: reading for key, reading in self._latest.items() if reading.device in names}

    def rows(self) -> list[Reading]:
        return list(self._latest.values())


def snapshot_from_rows(at: float, devices: Sequence[dict], readings: Sequence[Reading], source: str,
                       window_s: float) -> Snapshot:
    """A snapshot from the daemon's rows, without the readings older than the window."""
    oldest_ns = int((at - window_s) * 1e9)
    return Snapshot(at, tuple(devices), tuple(r for r in readings if r.time_ns >= oldest_ns), source)


def read_embedded(path: Path, devices: Sequence, at: float, window_s: float) -> Snapshot:
    """The state of `devices` (inventory devices) and the readings at `at`, from the embedded
    store's history: the newest point of each series in [at - window, at]. Raises
    sqlite3.Error / OSError when the store cannot be read."""
    kinds = ("icmp", *STATE_NAMES, *sorted(MEASUREMENTS))
    low, high = int((at - window_s) * 1e9), int(at * 1e9)
    db = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True, timeout=10)
    try:
        rows = db.execute(
            "SELECT s.measurement, s.device, s.tags, p.time_ns, p.fields FROM series s "
            "JOIN point p ON p.series_id = s.id "
            f"WHERE s.measurement IN ({', '.join('?' * len(kinds))}) "
            "AND p.time_ns = (SELECT max(time_ns) FROM point WHERE series_id = s.id AND time_ns BETWEEN ? AND ?)",
            (*kinds, low, high)).fetchall()
        # When each device was last heard of before the window: "nothing heard since 08:00".
        heard = db.execute(
            "SELECT device, max(last) FROM (SELECT s.device AS device, (SELECT max(time_ns) FROM point "
            "WHERE series_id = s.id AND time_ns <= ?) AS last FROM series s "
            f"WHERE s.measurement IN ({', '.join('?' * (1 + len(STATE_NAMES)))})) GROUP BY device",
            (high, "icmp", *STATE_NAMES)).fetchall()
    except sqlite3.OperationalError as error:
        if "no such table" not in str(error):
            raise
        rows, heard = [], []
    finally:
        db.close()
    last_heard = {device: time_ns for device, time_ns in heard if time_ns is not None}
    icmp: dict[str, tuple[int, dict]] = {}
    health: dict[tuple[str, str], list[tuple[int, dict]]] = {}
    readings = []
    for measurement, device, tags, time_ns, fields in rows:
        fields = json.loads(fields)
        if measurement == "icmp":
            if device not in icmp or icmp[device][0] < time_ns:
                icmp[device] = (time_ns, fields)
        elif measurement in STATE_NAMES:
            health.setdefault((device, measurement), []).append((time_ns, fields))
        else:
            readings.append(Reading(device, measurement, json.loads(tags), fields, time_ns))
    out = []
    for device in devices:
        kinds_heard = [kind for kind in STATE_NAMES if (device.name, kind) in health]
        codes = {kind: [f.get("error_code", 0) for _, f in health[(device.name, kind)]] for kind in kinds_heard}
        fields: dict = {}
        if device.icmp.enabled:
            time_ns, fields = icmp.get(device.name, (None, {}))
            state = first_state(device) if time_ns is None else ("up" if fields.get("up") else "down")
            last = time_ns
        else:  # reachability from the SNMP and SSH answers, as the daemon judges it
            up = any(answered(kind, code) for kind in kinds_heard for code in codes[kind])
            state = first_state(device) if not kinds_heard else ("up" if up else "down")
            last = max((t for kind in kinds_heard for t, _ in health[(device.name, kind)]), default=None)
        if last is None:
            last = last_heard.get(device.name)  # before the window: the record says since when it is silent
        row = {"device": device.name, "address": device.address, "class": device.device_class,
               "site": "/".join(device.site_path), "state": state, "rtt_avg_ms": fields.get("rtt_avg_ms"),
               "loss_pct": fields.get("loss_pct"), "jitter_ms": fields.get("jitter_ms"), "last_probe": iso(last),
               "since": None, "error": None}
        for kind, names in STATE_NAMES.items():
            worst = max(codes.get(kind, ()), default=None, key=lambda code: code != 0)
            row[kind] = None if worst is None else names.get(worst, str(worst))
        out.append(row)
    return Snapshot(at, tuple(out), tuple(readings), _(T.SOURCE_EMBEDDED).format(path=path))


def parse_time(text: str, now: float, zone: dt.tzinfo) -> float:
    """`--at`: "HH:MM" (today), "YYYY-MM-DD HH:MM" or "YYYY-MM-DDTHH:MM", local to `zone`;
    ValueError with a sentence for anything else or a moment in the future."""
    text = text.strip()
    today = dt.datetime.fromtimestamp(now, zone).date()
    for layout in ("%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S"):
        try:
            parsed = dt.datetime.strptime(text, layout)
        except ValueError:
            continue
        if layout == "%H:%M":
            parsed = dt.datetime.combine(today, parsed.time())
        at = parsed.replace(tzinfo=zone).timestamp()
        if at > now + 60:
            raise ValueError(f"--at {text}: that is in the future (now is "
                             f"{dt.datetime.fromtimestamp(now, zone):%Y-%m-%d %H:%M} {zone}); an inspection "
                             f"records what was")
        return at
    raise ValueError(f"--at {text!r} is not a time; write HH:MM (today) or YYYY-MM-DD HH:MM, local to "
                     f"faults.timezone ({zone})")


@lru_cache(maxsize=1)
def enum_labels() -> dict[tuple[str, str], dict[int, str]]:
    """(measurement, field) -> {code: name}, from the packaged SNMP profiles: the samples keep
    the codes, the record shows the names. The first profile naming a pair wins."""
    from probes.snmp.profiles import PACKAGED_PROFILES, load_all

    labels: dict[tuple[str, str], dict[int, str]] = {}
    for profile in load_all((PACKAGED_PROFILES,)).values():
        specs = [(profile.measurement, spec) for spec in profile.scalars]
        specs += [(table.measurement, spec) for table in profile.tables for spec in table.columns]
        for measurement, spec in specs:
            if measurement and spec.field and spec.enum:
                labels.setdefault((measurement, spec.field), dict(spec.enum))
    return labels


def label(measurement: str, field: str, value) -> Optional[str]:
    """The name of an enum code (the code itself as text when the profile does not name it)."""
    if value is None:
        return None
    names = enum_labels().get((measurement, field), {})
    try:
        return names.get(int(value), str(value))
    except (TypeError, ValueError):
        return str(value)
