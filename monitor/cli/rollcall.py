"""`netvigil rollcall`: the pre-meeting roll call (会前点名) of conference endpoints.

Every selected endpoint is probed at once, outside the daemon (it works whether or not the
daemon runs): ICMP with enough echoes to judge a video path, plus every other probe kind the
device has on (SNMP, SSH, TCP), with the device's own settings. The roster, grouped by site,
says who is present, degraded (and why) or absent. The roll call is recorded in
`<state_dir>/rollcalls/` (one JSON file each) and written through the configured outputs as
the `rollcall` and `rollcall_summary` measurements (docs/measurements.md), so Grafana shows
the last roll calls.

Why 20 echoes 20 ms apart, 1 s timeout: the daemon's own run is 20 echoes (SmokePing's
number), so one lost echo is 5 % loss, already above the 1 % at which video breaks up; 20 ms
spacing is the packet rate of a video stream's audio, keeps the run under half a second so the
whole roll call ends in about 1.5 s, and at 600 endpoints stays within the pinger's rate cap.
The verdict thresholds are those of the shipped rules for conference classes
(monitor/rules/defaults/reachability.yaml: packet_loss_video, jitter_video, rtt_high), without
their "for N samples": before a meeting there is no time to wait for a trend, and a path that
loses an echo now is one the operator should look at before the meeting starts.

Exit codes: 0 every endpoint present, 1 anyone degraded or absent (or the probes could not
run), 2 bad input (unknown class, a selection that matches nothing, broken settings).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional, Sequence

from monitor.cli.common import Refused, load_config, run as run_refusable
from monitor.problems import EXIT_CONFIG, EXIT_OK, EXIT_RUNTIME

# The classes of the shipped video rules: what a roll call covers unless --class says otherwise.
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

# User-facing text in one place (translations will wrap these).
TEXT = {
    "no_match": "netvigil rollcall: no device matches {what} in the inventory of {config}",
    "unknown_class": "netvigil rollcall: unknown class {name!r}; classes: {known}",
    "unknown_site": "netvigil rollcall: no site named {name!r} in the inventory of {config}",
    "loss": "loss {value:.0f} % > {limit:g} %",
    "jitter": "jitter {value:.1f} ms > {limit:g} ms",
    "rtt": "round trip {value:.1f} ms > {limit:g} ms",
    "no_reply": "no reply to {sent} echoes",
    "not_sent": "no echo could be sent",
    "kind_silent": "{kind} does not answer ({state})",
    "kind_failed": "{kind}: {state}",
    "heading": "Roll call{name}{when}: {present} present, {degraded} degraded, {absent} absent of {total}",
    "site": "{site}",
    "columns": ("DEVICE", "ADDRESS", "CLASS", "STATE", "RTT ms", "LOSS %", "JITTER ms", "REASON"),
    "states": {PRESENT: "present", DEGRADED: "DEGRADED", ABSENT: "ABSENT"},
    "not_recorded": "netvigil rollcall: not recorded in {where}: {why}",
    "icmp_failed": "netvigil rollcall: {why}",
}


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

    if not text:
        return CONFERENCE_CLASSES
    names = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    for name in names:
        if name not in DEVICE_CLASSES:
            raise Refused(TEXT["unknown_class"].format(name=name, known=", ".join(DEVICE_CLASSES)), EXIT_CONFIG)
    return names or CONFERENCE_CLASSES


def select(inventory, classes: Sequence[str], site: Optional[str]) -> list:
    """Devices of `classes` at `site` or below it (a street takes its communities)."""
    return [device for device in inventory.devices
            if device.device_class in classes and (site is None or site in device.site_path)]


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
        entry.reasons = [TEXT["no_reply"].format(sent=sent) if sent else TEXT["not_sent"]]
        return entry
    if icmp_fields.get("loss_pct", 0.0) > LOSS_PCT_MAX:
        reasons.append(TEXT["loss"].format(value=icmp_fields["loss_pct"], limit=LOSS_PCT_MAX))
    if icmp_fields.get("jitter_ms", 0.0) > JITTER_MS_MAX:
        reasons.append(TEXT["jitter"].format(value=icmp_fields["jitter_ms"], limit=JITTER_MS_MAX))
    if icmp_fields.get("rtt_avg_ms", 0.0) > RTT_MS_MAX:
        reasons.append(TEXT["rtt"].format(value=icmp_fields["rtt_avg_ms"], limit=RTT_MS_MAX))
    for kind, state in checks.items():
        if state != "ok":
            key = "kind_silent" if kind in silent_checks else "kind_failed"
            reasons.append(TEXT[key].format(kind=kind.upper(), state=state))
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


# --- rendering ----------------------------------------------------------------------------------

def _number(value, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def summary(entries: Sequence[Entry]) -> dict:
    counts = {state: sum(1 for entry in entries if entry.state == state) for state in STATE_CODES}
    return {**counts, "total": len(entries)}


def render(entries: Sequence[Entry], name: str = "", when: str = "", site_labels: Optional[dict] = None) -> str:
    """The roster: a heading, then per site (inventory order) a table, worst first."""
    from monitor.cli.tables import format_columns
    from monitor.logsetup import escape_controls

    counts = summary(entries)
    heading = TEXT["heading"].format(name=f" \"{name}\"" if name else "", when=f" at {when}" if when else "", **counts)
    out = [escape_controls(heading)]
    sites: dict = {}
    # Sites in the order of the hierarchy: a street before its communities.
    for entry in sorted(entries, key=lambda e: e.site_path):
        sites.setdefault(entry.site, []).append(entry)
    order = {PRESENT: 2, DEGRADED: 1, ABSENT: 0}
    for site, members in sites.items():
        label = (site_labels or {}).get(site)
        out.append("")
        out.append(escape_controls(TEXT["site"].format(site=f"{site} {label}" if label and label != site else site)))
        rows = [TEXT["columns"]]
        for entry in sorted(members, key=lambda e: (order[e.state], e.device)):
            rows.append((entry.device, entry.address, entry.device_class, TEXT["states"][entry.state],
                         _number(entry.icmp.get("rtt_avg_ms"), 2), _number(entry.icmp.get("loss_pct"), 1),
                         _number(entry.icmp.get("jitter_ms"), 2), "; ".join(entry.reasons) or "-"))
        out.append("\n".join("  " + line for line in format_columns(rows).split("\n")))
        for entry in members:
            for kind, detail in entry.details.items():
                out.append(escape_controls(f"  {entry.device}: {kind.upper()}: {detail}"))
    return "\n".join(out)


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
            problems.append(TEXT["not_recorded"].format(where=transport.name, why=exc))
    if outputs.embedded_enabled():
        from monitor.outputs.embedded import EmbeddedStore

        try:
            store = EmbeddedStore(Path(state_dir) / "metrics.db", outputs.embedded.retention_days)
            try:
                store.write(samples)
            finally:
                store.close()
        except Exception as exc:  # noqa: BLE001 - a locked or unwritable store is a sentence, not a traceback
            problems.append(TEXT["not_recorded"].format(where="embedded", why=exc))
    return problems


# --- the command --------------------------------------------------------------------------------

def _rollcall(args) -> int:
    classes = parse_classes(args.classes)
    cfg = load_config(args.config)
    if args.site is not None and args.site not in cfg.inventory.sites:
        raise Refused(TEXT["unknown_site"].format(name=args.site, config=args.config), EXIT_CONFIG)
    devices = select(cfg.inventory, classes, args.site)
    if not devices:
        what = f"class {','.join(classes)}" + (f" at site {args.site}" if args.site else "")
        raise Refused(TEXT["no_match"].format(what=what, config=args.config), EXIT_CONFIG)
    from probes.icmp.pinger import IcmpPermissionError

    started = datetime.now(timezone.utc)
    started_ns = time.time_ns()
    try:
        entries = asyncio.run(probe_all(devices, cfg))
    except IcmpPermissionError as exc:
        raise Refused(TEXT["icmp_failed"].format(why=exc), EXIT_RUNTIME) from None
    rollcall_id = started.strftime("%Y%m%dT%H%M%S%fZ")
    name = args.name or ""
    record = {"id": rollcall_id, "name": name, "started": started.isoformat(timespec="seconds"),
              "classes": list(classes), "site": args.site,
              "probe": {"icmp_count": ECHO_COUNT, "echo_interval_ms": ECHO_INTERVAL_MS, "timeout_s": ECHO_TIMEOUT_S,
                        "loss_pct_max": LOSS_PCT_MAX, "jitter_ms_max": JITTER_MS_MAX, "rtt_ms_max": RTT_MS_MAX},
              "summary": summary(entries),
              "endpoints": [{**asdict(entry), "site_path": list(entry.site_path)} for entry in entries]}
    problems = []
    try:
        record["file"] = str(write_record(cfg.settings.state_dir, record, rollcall_id))
    except OSError as exc:
        problems.append(TEXT["not_recorded"].format(where=exc.filename or cfg.settings.state_dir,
                                                    why=exc.strerror or exc))
    problems += asyncio.run(send_to_outputs(cfg.settings.outputs, cfg.settings.state_dir,
                                            samples_of(entries, devices, name, rollcall_id, started_ns)))
    if args.json:
        print(json.dumps(record, ensure_ascii=False))
    else:
        labels = {site.name: site.label for site in cfg.inventory.sites.values()}
        local = started.astimezone().strftime("%Y-%m-%d %H:%M")
        print(render(entries, name, local, labels))
    for problem in problems:
        print(problem, file=sys.stderr)
    return EXIT_OK if all(entry.state == PRESENT for entry in entries) else EXIT_RUNTIME


def rollcall_command(args) -> int:
    return run_refusable(_rollcall, args)


def add_parser(sub, finish) -> None:
    parser = sub.add_parser("rollcall", help="pre-meeting roll call: probe every conference endpoint at once")
    parser.add_argument("--class", dest="classes", metavar="CLASSES",
                        help=f"comma-separated device classes (default: {','.join(CONFERENCE_CLASSES)})")
    parser.add_argument("--site", help="only endpoints at this site or below it")
    parser.add_argument("--name", help="the meeting's name, kept with the record")
    parser.add_argument("--json", action="store_true", help="machine-readable output (the record)")
    finish(parser, "rollcall")
