"""The pre-meeting roll call (会前点名) of conference endpoints: selection, probing, verdicts and
the record. `netvigil rollcall` (monitor.cli.rollcall) prints it; the API and a meeting
calendar can run the same.

Every selected endpoint is probed at once, outside the daemon's schedule: ICMP with enough
echoes to judge a video path, plus every other probe kind the device has on (SNMP, SSH, TCP),
with the device's own settings. An endpoint is present, degraded (and why) or absent. The roll
call is kept in `<state_dir>/rollcalls/` (one JSON file each) and written through the
configured outputs as the `rollcall` and `rollcall_summary` measurements
(docs/measurements.md), so Grafana shows the last roll calls.

Why 20 echoes 20 ms apart, 1 s timeout: the daemon's own run is 20 echoes (SmokePing's
number), so one lost echo is 5 % loss, already above the 1 % at which video breaks up; 20 ms
spacing is the packet rate of a video stream's audio, keeps the run under half a second so the
whole roll call ends in about 1.5 s, and at 600 endpoints stays within the pinger's rate cap.
The verdict thresholds are those of the shipped rules for conference classes
(monitor/rules/defaults/reachability.yaml: packet_loss_video, jitter_video, rtt_high), without
their "for N samples": before a meeting there is no time to wait for a trend, and a path that
loses an echo now is one the operator should look at before the meeting starts.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional, Sequence

from monitor.i18n import N_, _

CONFERENCE_CLASSES = ("mcu", "codec", "phone")

ECHO_COUNT = 20
ECHO_INTERVAL_MS = 20.0
ECHO_TIMEOUT_S = 1.0
# Same numbers as the shipped rules (a unit test keeps them together).
LOSS_PCT_MAX = 1.0     # packet_loss_video: loss_pct > 1
JITTER_MS_MAX = 30.0   # jitter_video: jitter_ms > 30
RTT_MS_MAX = 100.0     # rtt_high: rtt_avg_ms > 100

PRESENT, DEGRADED, ABSENT = "present", "degraded", "absent"
STATE_CODES = {PRESENT: 0, DEGRADED: 1, ABSENT: 2}

ROLLCALL_DIR = "rollcalls"

# Sentences for people, in one place; translated where used (monitor.i18n).
TEXT = {
    "no_match": N_("no device matches {what} in the inventory of {config}"),
    "unknown_class": N_("unknown class {name!r}{hint}; classes: {known}"),
    "unknown_site": N_("no site named {name!r} in the inventory of {config}{hint}"),
    "loss": N_("loss {value:.0f} % > {limit:g} %"),
    "jitter": N_("jitter {value:.1f} ms > {limit:g} ms"),
    "rtt": N_("round trip {value:.1f} ms > {limit:g} ms"),
    "no_reply": N_("no reply to {sent} echoes"),
    "not_sent": N_("no echo could be sent"),
    "kind_silent": N_("{kind} does not answer ({state})"),
    "kind_failed": N_("{kind}: {state}"),
    "not_recorded": N_("not recorded in {where}: {why}"),
    "what_classes": N_("class {classes}"),
    "what_classes_sites": N_("class {classes} at site {sites}"),
}


class SelectionError(ValueError):
    """A selection that cannot be made; str() is a sentence. `bad_input`: an unknown class or
    site (the command's exit 2); otherwise the names are right but nothing matches them (exit 1:
    the inventory, not the command line, decides)."""

    def __init__(self, sentence: str, bad_input: bool) -> None:
        super().__init__(sentence)
        self.bad_input = bad_input


@dataclass
class Entry:
    """One endpoint's line of the roster."""

    device: str
    address: str
    device_class: str
    site: str
    site_path: tuple
    state: str = ABSENT
    reasons: list = field(default_factory=list)
    icmp: dict = field(default_factory=dict)
    checks: dict = field(default_factory=dict)  # other kind -> its state name ("ok", "timeout", ...)
    details: dict = field(default_factory=dict)  # other kind -> the prober's sentence when it failed


# --- selection ----------------------------------------------------------------------------------

def parse_classes(text: Optional[str]) -> tuple[str, ...]:
    from monitor.inventory import DEVICE_CLASSES
    from monitor.problems import did_you_mean

    if not text:
        return CONFERENCE_CLASSES
    names = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    for name in names:
        if name not in DEVICE_CLASSES:
            sentence = _(TEXT["unknown_class"]).format(name=name, hint=did_you_mean(name, DEVICE_CLASSES),
                                                       known=", ".join(DEVICE_CLASSES))
            raise SelectionError(sentence, bad_input=True)
    return names or CONFERENCE_CLASSES


def select(inventory, classes: Sequence[str], site) -> list:
    """Devices of `classes` at `site` or below it (a street takes its communities); `site` may
    be a list of sites (a meeting of several streets), None or [] for everywhere."""
    sites = (site,) if isinstance(site, str) else tuple(site or ())
    return [device for device in inventory.devices
            if device.device_class in classes and (not sites or any(s in device.site_path for s in sites))]


# --- verdicts -----------------------------------------------------------------------------------

def judge(entry: Entry, icmp_fields: dict, checks: dict, silent_checks: Sequence[str] = ()) -> Entry:
    """Set `entry.state` and reasons from its ICMP fields and the other kinds' states
    (`checks`: kind -> state name, `ok` when fine; `silent_checks`: kinds that got no answer)."""
    entry.icmp = dict(icmp_fields)
    entry.checks = dict(checks)
    reasons = []
    if not icmp_fields.get("up"):
        entry.state = ABSENT
        sent = icmp_fields.get("sent", ECHO_COUNT)
        # Nothing sent: the name did not resolve or there is no route (the sentence is in details).
        entry.reasons = [_(TEXT["no_reply"]).format(sent=sent) if sent else _(TEXT["not_sent"])]
        return entry
    if icmp_fields.get("loss_pct", 0.0) > LOSS_PCT_MAX:
        reasons.append(_(TEXT["loss"]).format(value=icmp_fields["loss_pct"], limit=LOSS_PCT_MAX))
    if icmp_fields.get("jitter_ms", 0.0) > JITTER_MS_MAX:
        reasons.append(_(TEXT["jitter"]).format(value=icmp_fields["jitter_ms"], limit=JITTER_MS_MAX))
    if icmp_fields.get("rtt_avg_ms", 0.0) > RTT_MS_MAX:
        reasons.append(_(TEXT["rtt"]).format(value=icmp_fields["rtt_avg_ms"], limit=RTT_MS_MAX))
    for kind, state in checks.items():
        if state != "ok":
            key = "kind_silent" if kind in silent_checks else "kind_failed"
            reasons.append(_(TEXT[key]).format(kind=kind.upper(), state=state))
    entry.state = DEGRADED if reasons else PRESENT
    entry.reasons = reasons
    return entry


# --- probing ------------------------------------------------------------------------------------

def rollcall_icmp_settings(base):
    """The roll call's ICMP run, with the global mode, payload and rate cap."""
    from probes.icmp.settings import IcmpSettings

    span = (ECHO_COUNT - 1) * ECHO_INTERVAL_MS / 1000 + ECHO_TIMEOUT_S
    return IcmpSettings.model_validate({**base.model_dump(), "count": ECHO_COUNT, "echo_interval_ms": ECHO_INTERVAL_MS,
                                        "timeout_s": ECHO_TIMEOUT_S, "interval_s": max(base.interval_s, span + 1)})


async def _icmp(devices, settings) -> tuple[dict, dict]:
    """device -> its `icmp` fields, and device -> why no echo could be sent (name, route)."""
    from probes.icmp import pinger as icmp

    errors: dict = {}
    echo = icmp.Pinger(settings.mode, settings.payload_bytes, settings.max_rate_pps)
    echo.open()  # IcmpPermissionError: reported by the caller
    try:
        await echo.start()
        samples = await icmp.probe(echo, [device.target() for device in devices], settings,
                                   on_error=lambda target, error: errors.__setitem__(target.device, error.detail))
    finally:
        echo.close()
    return {sample.tags["device"]: dict(sample.fields) for sample in samples}, errors


async def _other_kind(kind, devices, cfg) -> dict:
    """{device: (state name, silent?[, the prober's sentence])} for the devices that have the kind on."""
    from probes.base import ProbeContext, ProbeStartError

    chosen = [device for device in devices if kind.active(getattr(device, kind.name))]
    if not chosen:
        return {}
    by_name = {device.name: device for device in chosen}

    def settings_of(name: str):
        device = by_name.get(name)
        return getattr(device, kind.name) if device is not None else None

    names = kind.state_names()
    try:
        # A roll call runs checks only, never an SSH configuration backup: no store to lend.
        prober = await kind.start(getattr(cfg.settings.probes, kind.name),
                                  ProbeContext(cfg.settings.state_dir, settings_of, {"config_store": lambda _rules: None}))
    except ProbeStartError as exc:
        return {name: (f"could not start: {exc}", False) for name in by_name}
    try:
        probed = await prober.probe([device.target() for device in chosen], settings_of)
    finally:
        prober.close()
    states: dict = {}
    for sample in probed.samples:
        name = sample.tags.get("device")
        code = sample.fields.get("error_code")
        if code is None:
            code = 0 if sample.fields.get("up", 1) else 1
        code = int(code)
        # A device with several samples (an SSH profile's commands) takes its worst one.
        if code != 0 or name not in states:
            states[name] = (names.get(code, f"error {code}"), code in kind.silent)
    for name in by_name:
        states.setdefault(name, ("no result", True))
    # Why, in the prober's words (credentials never appear in them), shown under the roster.
    for target, error in probed.errors:
        state, silent = states[target.device][:2]
        if state != "ok":
            states[target.device] = (state, silent, error.detail)
    return states


async def probe_all(devices, cfg) -> list[Entry]:
    from probes.registry import KINDS

    others = [kind for name, kind in KINDS.items() if name != "icmp"]
    results = await asyncio.gather(_icmp(devices, rollcall_icmp_settings(cfg.settings.probes.icmp)),
                                   *(_other_kind(kind, devices, cfg) for kind in others))
    (icmp_fields, icmp_errors), other_states = results[0], dict(zip((kind.name for kind in others), results[1:]))
    entries = []
    for device in devices:
        checks = {kind: states[device.name][0] for kind, states in other_states.items() if device.name in states}
        silent = [kind for kind, states in other_states.items() if device.name in states and states[device.name][1]]
        entry = judge(Entry(device.name, device.address, device.device_class, device.site, tuple(device.site_path)),
                      icmp_fields.get(device.name, {"up": 0, "sent": 0}), checks, silent)
        entry.details = {kind: states[device.name][2] for kind, states in other_states.items()
                         if len(states.get(device.name, ())) > 2}
        if device.name in icmp_errors:
            entry.details = {"icmp": icmp_errors[device.name], **entry.details}
        entries.append(entry)
    return entries

def summary(entries: Sequence[Entry]) -> dict:
    counts = {state: sum(1 for entry in entries if entry.state == state) for state in STATE_CODES}
    return {**counts, "total": len(entries)}


# --- recording ----------------------------------------------------------------------------------

def samples_of(entries: Sequence[Entry], devices, name: str, rollcall_id: str, time_ns: int) -> list:
    from probes.base import Sample

    tags_of = {device.name: dict(device.sample_tags) for device in devices}
    samples = []
    for entry in entries:
        fields = {"state": STATE_CODES[entry.state], "present": int(entry.state == PRESENT),
                  "reason": "; ".join(entry.reasons), "meeting": name, "rollcall": rollcall_id}
        for key in ("loss_pct", "rtt_avg_ms", "jitter_ms"):
            if entry.icmp.get(key) is not None:
                fields[key] = float(entry.icmp[key])
        samples.append(Sample("rollcall", tags_of[entry.device], fields, time_ns))
    counts = summary(entries)
    samples.append(Sample("rollcall_summary", {}, {
        "selected": counts["total"], "present": counts[PRESENT], "degraded": counts[DEGRADED],
        "absent": counts[ABSENT], "meeting": name, "rollcall": rollcall_id}, time_ns))
    return samples


def write_record(state_dir: Path, record: dict, rollcall_id: str) -> Path:
    directory = Path(state_dir) / ROLLCALL_DIR
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{rollcall_id}.json"
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(record, ensure_ascii=False, indent=1))
    os.replace(temporary, path)  # a reader never sees half a roll call
    return path


async def send_to_outputs(outputs, state_dir: Path, samples) -> list[str]:
    """Write `samples` once to every configured output; sentences about the ones that failed.
    The daemon's spools are its own (one owner each), so the roll call posts directly."""
    from monitor.outputs.writer import WriteError, encode_samples

    problems = []
    transports = []
    if outputs.influxdb is not None:
        from monitor.outputs.influxdb_v2 import InfluxDBv2Transport

        transports.append(InfluxDBv2Transport(outputs.influxdb))
    if outputs.influxdb_v1 is not None:
        from monitor.outputs.influxdb_v1 import InfluxDBv1Transport

        transports.append(InfluxDBv1Transport(outputs.influxdb_v1))
    body = "\n".join(encode_samples(samples).lines).encode()
    for transport in transports:
        try:
            await transport.open()
            try:
                await transport.write(body)
            finally:
                await transport.close()
        except WriteError as exc:
            problems.append(_(TEXT["not_recorded"]).format(where=transport.name, why=exc))
    if outputs.embedded_enabled():
        from monitor.outputs.embedded import EmbeddedStore

        try:
            store = EmbeddedStore(Path(state_dir) / "metrics.db", outputs.embedded.retention_days)
            try:
                store.write(samples)
            finally:
                store.close()
        except Exception as exc:  # noqa: BLE001 - a locked or unwritable store is a sentence, not a traceback
            problems.append(_(TEXT["not_recorded"]).format(where="embedded", why=exc))
    return problems


# --- one roll call, start to record ----------------------------------------------------------------

@dataclass
class RollCall:
    """A finished roll call: its record (what the JSON file holds), the entries, and sentences
    about the places it could not be recorded."""

    record: dict
    entries: list
    started: datetime
    problems: list = field(default_factory=list)

    @property
    def all_present(self) -> bool:
        return all(entry.state == PRESENT for entry in self.entries)


def selection(cfg, classes: Optional[Sequence[str]], site, where: str = "") -> tuple[tuple, list]:
    """The classes and devices to call (`site`: one site, a list of them, or None for all);
    SelectionError for an unknown class or site or nothing."""
    from monitor.problems import did_you_mean

    classes = parse_classes(",".join(classes or ()))
    sites = (site,) if isinstance(site, str) else tuple(site or ())
    for name in sites:
        if name not in cfg.inventory.sites:
            raise SelectionError(_(TEXT["unknown_site"]).format(name=name, config=where or cfg.path,
                                                             hint=did_you_mean(name, list(cfg.inventory.sites))),
                                 bad_input=True)
    devices = select(cfg.inventory, classes, sites)
    if not devices:
        what = (_(TEXT["what_classes_sites"]).format(classes=",".join(classes), sites=", ".join(sites)) if sites
                else _(TEXT["what_classes"]).format(classes=",".join(classes)))
        raise SelectionError(_(TEXT["no_match"]).format(what=what, config=where or cfg.path), bad_input=False)
    return classes, devices


async def call_roll(cfg, classes: Sequence[str], devices: Sequence, name: str = "", submit=None,
                    site: Optional[str] = None, extra: Optional[dict] = None) -> RollCall:
    """Probe `devices`, keep the record in the state directory and write the samples: through
    `submit` (the daemon's outputs, which own their spools) or, without it, once to each
    configured output. `extra`: more keys for the record (a scheduled call's meeting).
    IcmpPermissionError when ICMP may not be used."""
    started = datetime.now(timezone.utc)
    started_ns = time.time_ns()
    entries = await probe_all(devices, cfg)
    rollcall_id = started.strftime("%Y%m%dT%H%M%S%fZ")
    record = {"id": rollcall_id, "name": name, "started": started.isoformat(timespec="seconds"),
              "classes": list(classes), "site": site, **(extra or {}),
              "probe": {"icmp_count": ECHO_COUNT, "echo_interval_ms": ECHO_INTERVAL_MS, "timeout_s": ECHO_TIMEOUT_S,
                        "loss_pct_max": LOSS_PCT_MAX, "jitter_ms_max": JITTER_MS_MAX, "rtt_ms_max": RTT_MS_MAX},
              "summary": summary(entries),
              "endpoints": [{**asdict(entry), "site_path": list(entry.site_path)} for entry in entries]}
    done = RollCall(record, list(entries), started)
    try:
        record["file"] = str(write_record(cfg.settings.state_dir, record, rollcall_id))
    except OSError as exc:
        done.problems.append(_(TEXT["not_recorded"]).format(where=exc.filename or cfg.settings.state_dir,
                                                         why=exc.strerror or exc))
    samples = samples_of(entries, devices, name, rollcall_id, started_ns)
    if submit is not None:
        submit(samples)
    else:
        done.problems += await send_to_outputs(cfg.settings.outputs, cfg.settings.state_dir, samples)
    return done
