"""Fault commands for people: `netvigil faults`, `faults show`, `ack`, `resolve`, `close`,
`maintenance add|list|end`.

They open the daemon's fault records (`<state_dir>/faults.db`) directly, so they work whether
the daemon runs or not; a running daemon notices the change within a few seconds (SQLite's
data_version) and stops escalating an acknowledged fault, resets a resolved one's rule, and
applies a new maintenance window. Run them as the daemon's user (`sudo -u netvigil netvigil
...`) or root: the state directory is the daemon's.

Exit codes: 0 ok, 1 the records cannot be read or the change is refused (unknown id, wrong
state), 2 configuration or usage.
"""

from __future__ import annotations

import getpass
import json
import os
import sqlite3
import sys
import time
from datetime import datetime
from typing import Optional

from monitor.cli.common import Refused as _Refused, load_config as _config, run as _run
from monitor.cli.tables import format_columns
from monitor.faults.model import Selector, format_duration, parse_duration
from monitor.logsetup import escape_controls
from monitor.problems import EXIT_CONFIG, EXIT_OK, EXIT_RUNTIME, did_you_mean

FAULTS_FILE = "faults.db"


def _store(cfg, must_exist: bool = True):
    # The store is imported on use (here and in _changing): every command's parser, and
    # `netvigil --help`, import this module for add_parsers.
    from monitor.faults.store import FaultStore

    path = cfg.settings.state_dir / FAULTS_FILE
    if must_exist and not path.exists():
        raise _Refused(f"no fault records at {path} yet: the daemon creates them when it starts "
                       f"(or check state_dir in {cfg.path})", EXIT_RUNTIME)
    try:
        return FaultStore(path)
    except (sqlite3.Error, OSError) as exc:
        raise _Refused(f"cannot open the fault records {path}: {exc}; run this as the daemon's user "
                       f"(sudo -u netvigil netvigil ...) or as root", EXIT_RUNTIME) from None


def _changing(action):
    """Run a store change; its refusals (unknown id, wrong state) are sentences, exit 1."""
    from monitor.faults.store import FaultError

    try:
        return action()
    except FaultError as exc:
        raise _Refused(str(exc), EXIT_RUNTIME) from None
    except sqlite3.OperationalError as exc:
        raise _Refused(f"the fault records could not be changed: {exc}; if the file is read-only for you, run "
                       f"this as the daemon's user (sudo -u netvigil netvigil ...)", EXIT_RUNTIME) from None


def _who(args) -> str:
    by = getattr(args, "by", None)
    if by:
        return by
    return os.environ.get("SUDO_USER") or getpass.getuser()


def _when(seconds: Optional[float]) -> str:
    if seconds is None:
        return "-"
    return datetime.fromtimestamp(seconds).strftime("%Y-%m-%d %H:%M:%S")


def _span(seconds: Optional[float]) -> str:
    return "-" if seconds is None else format_duration(seconds)


def _value(value) -> str:
    if value is None:
        return "-"
    return f"{value:g}" if isinstance(value, float) else str(value)


# -- netvigil faults [--open] [--site S] [--json] ---------------------------------------------------

def faults_command(args) -> int:
    return _run(_faults, args)


def _faults(args) -> int:
    cfg = _config(args.config)
    store = _store(cfg)
    faults = store.list(open_only=args.open, site=args.site, device=args.device, limit=args.limit)
    now = time.time()
    over = _over_budget(cfg, store, now)
    if args.json:
        json.dump({"faults": [fault.to_dict() for fault in faults],
                   "over_budget": [{"device": device, "faults": count} for device, count in over]},
                  sys.stdout, ensure_ascii=False, indent=2)
        print()
        return EXIT_OK
    if not faults:
        print("no open faults" if args.open else "no faults recorded")
    else:
        print(fault_table(faults, now))
    if over:
        budget = cfg.settings.faults.budget.faults_per_month
        print()
        print(f"over the monthly budget of {budget} faults this month: "
              + ", ".join(f"{device} ({count})" for device, count in over))
    return EXIT_OK


def fault_table(faults, now: float) -> str:
    """The fault records as a table (also under `netvigil status`), their messages under it."""
    lines = [("ID", "STATE", "SEVERITY", "DEVICE", "RULE", "OPENED", "FOR", "ACK", "NOTE")]
    for fault in faults:
        end = fault.resolved_at or now
        note = []
        if fault.symptom_of is not None:
            note.append(f"symptom of {fault.symptom_of}")
        if fault.in_maintenance:
            note.append("maintenance")
        if fault.ack_breached or fault.resolve_breached:
            note.append("SLA breached")
        if fault.occurrences > 1:
            note.append(f"{fault.occurrences}x")
        rule = fault.rule + (f" {fault.instance}" if fault.instance else "")
        lines.append((str(fault.id), fault.state.upper(), fault.severity, fault.device, rule,
                      _when(fault.opened_at), _span(end - fault.opened_at), fault.acknowledged_by or "-",
                      ", ".join(note)))
    table = format_columns(lines)
    messages = "\n".join(f"  {fault.id}: {fault.message}" for fault in faults if fault.message)
    return table + ("\n" + messages if messages else "")


def _over_budget(cfg, store, now: float) -> list:
    settings = cfg.settings.faults
    zone = settings.zone()
    local = datetime.fromtimestamp(now, zone)
    classes = {device.name: device.device_class for device in cfg.inventory.devices}
    return store.over_budget(local.year, local.month, settings.budget, classes, zone)


# -- netvigil faults show ID --------------------------------------------------------------------------

def show_command(args) -> int:
    return _run(_show, args)


def _show(args) -> int:
    cfg = _config(args.config)
    store = _store(cfg)
    fault = _changing(lambda: store.get(args.id))
    if args.json:
        data = fault.to_dict()
        data["symptoms"] = [symptom.to_dict() for symptom in store.symptoms_of(fault.id)]
        json.dump(data, sys.stdout, ensure_ascii=False, indent=2)
        print()
        return EXIT_OK
    print(render_fault(fault, store.symptoms_of(fault.id), time.time()))
    return EXIT_OK


def render_fault(fault, symptoms, now: float) -> str:
    rule = fault.rule + (f" ({fault.instance})" if fault.instance else "")
    lines = [
        f"fault {fault.id}: {fault.state.upper()}  {fault.severity}  {fault.device}  {rule}",
        f"  message:      {fault.message}",
        f"  site:         {'/'.join(fault.site_path) or fault.site}   class: {fault.device_class}",
        f"  values:       first {_value(fault.first_value)}, last {_value(fault.last_value)}, "
        f"worst {_value(fault.worst_value)}, threshold {_value(fault.threshold)}",
        f"  opened:       {_when(fault.opened_at)}   last seen {_when(fault.last_seen_at)}   "
        f"occurrences {fault.occurrences}",
    ]
    if fault.symptom_of is not None:
        lines.append(f"  symptom of:   fault {fault.symptom_of} (not alerted on its own)")
    if fault.in_maintenance:
        lines.append(f"  maintenance:  {fault.maintenance or 'yes'} (not alerted)")
    if fault.heightened:
        lines.append("  heightened watch: yes (stricter SLA)")
    clocks = fault.has_clocks
    lines.append(_clock_line("acknowledge", fault.opened_at, fault.acknowledged_at,
                             fault.ack_deadline if clocks else None, fault.ack_breached, now, fault.acknowledged_by))
    lines.append(_clock_line("resolve", fault.opened_at, fault.resolved_at,
                             fault.resolve_deadline if clocks else None, fault.resolve_breached, now, fault.resolved_by))
    if fault.closed_at is not None:
        lines += [f"  closed:       {_when(fault.closed_at)} by {fault.closed_by}",
                  f"  cause:        {fault.cause}", f"  resolution:   {fault.resolution}",
                  f"  prevention:   {fault.prevention}"]
    elif fault.resolved_at is not None:
        lines.append(f"  analysis due: close it with cause, resolution and prevention: netvigil close {fault.id} "
                     "--cause ... --resolution ... --prevention ...")
    for note in fault.notes:
        lines.append(f"  note {_when(note.at)} {note.author}: {note.text}")
    if symptoms:
        lines.append(f"  {len(symptoms)} symptom(s) behind it: " + ", ".join(s.device for s in symptoms[:50])
                     + (f" and {len(symptoms) - 50} more" if len(symptoms) > 50 else ""))
    # Messages quote what devices said and notes what people typed: shown, never obeyed by the terminal.
    return "\n".join(escape_controls(line) for line in lines)


def _clock_line(name: str, opened: float, done: Optional[float], deadline: Optional[float], breached, now: float,
                by: Optional[str]) -> str:
    label = f"  {name}:".ljust(16)
    if deadline is None:
        return f"{label}{'at ' + _when(done) + (' by ' + by if by else '') if done else 'no SLA clock'}"
    sla = _span(deadline - opened)
    if done is not None:
        verdict = "BREACHED" if breached or done > deadline else "within SLA"
        return f"{label}{_when(done)} by {by or '?'} after {_span(done - opened)} (SLA {sla}: {verdict})"
    if now > deadline:
        return f"{label}NOT YET, SLA {sla} BREACHED {_span(now - deadline)} ago"
    return f"{label}not yet, {_span(deadline - now)} left of SLA {sla} (due {_when(deadline)})"


# -- netvigil ack|resolve|close ID ---------------------------------------------------------------------

def ack_command(args) -> int:
    return _run(_ack, args)


def _ack(args) -> int:
    store = _store(_config(args.config))
    fault = _changing(lambda: store.acknowledge(args.id, _who(args), note=args.note))
    print(f"fault {fault.id} acknowledged by {fault.acknowledged_by} after "
          f"{_span(fault.acknowledged_at - fault.opened_at)}")
    return EXIT_OK


def resolve_command(args) -> int:
    return _run(_resolve, args)


def _resolve(args) -> int:
    store = _store(_config(args.config))
    fault = _changing(lambda: store.resolve(args.id, _who(args), note=args.note))
    print(f"fault {fault.id} resolved by {fault.resolved_by} after {_span(fault.resolved_at - fault.opened_at)}; "
          f"if its condition still holds, the rule opens it again. Write the analysis with: netvigil close "
          f"{fault.id} --cause ... --resolution ... --prevention ...")
    return EXIT_OK


def close_command(args) -> int:
    return _run(_close, args)


def _close(args) -> int:
    store = _store(_config(args.config))
    fault = _changing(lambda: store.close(args.id, _who(args), cause=args.cause, resolution=args.resolution,
                                          prevention=args.prevention))
    print(f"fault {fault.id} closed by {fault.closed_by}")
    return EXIT_OK


# -- netvigil maintenance add|list|end -----------------------------------------------------------------

def maintenance_add_command(args) -> int:
    return _run(_maintenance_add, args)


def _parse_time(text: str, what: str) -> float:
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise _Refused(f"--{what} {text!r} is not a date and time; write e.g. 2026-11-21T22:00 or "
                       f"'2026-11-21 22:00' (local time) or 2026-11-21T14:00+00:00", EXIT_CONFIG) from None
    return parsed.timestamp()


def _maintenance_add(args) -> int:
    cfg = _config(args.config)
    selector = Selector(devices=args.device or [], sites=args.site or [], classes=args.device_class or [],
                        tags=args.tag or [])
    if selector.is_empty():
        raise _Refused("netvigil maintenance add: say what is in maintenance: --device, --site, --class or --tag "
                       "(each may be repeated)", EXIT_CONFIG)
    unknown = _unknown_references(cfg, selector)
    if unknown:
        raise _Refused("netvigil maintenance add: " + "; ".join(unknown), EXIT_CONFIG)
    start = _parse_time(args.start, "start") if args.start else time.time()
    if (args.end is None) == (args.duration is None):
        raise _Refused("netvigil maintenance add: give either --end TIME or --for DURATION (e.g. --for 2h)",
                       EXIT_CONFIG)
    if args.end is not None:
        end = _parse_time(args.end, "end")
    else:
        try:
            end = start + parse_duration(args.duration)
        except ValueError as exc:
            raise _Refused(f"--for: {exc}", EXIT_CONFIG) from None
    if end <= start:
        raise _Refused(f"netvigil maintenance add: the window ends ({_when(end)}) before it starts "
                       f"({_when(start)})", EXIT_CONFIG)
    store = _store(cfg, must_exist=False)
    window = _changing(lambda: store.maintenance.add(args.name, selector, start, end, by=_who(args)))
    print(f"maintenance {window.id} '{args.name}' from {_when(start)} to {_when(end)} for {selector.describe()}: "
          f"faults there are recorded but not alerted")
    return EXIT_OK


def _unknown_references(cfg, selector) -> list[str]:
    from monitor.inventory import DEVICE_CLASSES  # on use, like the store: see _store

    devices = {device.name for device in cfg.inventory.devices}
    problems = []
    for site in selector.sites:
        if site not in cfg.inventory.sites:
            problems.append(f"no site named {site!r}{did_you_mean(site, list(cfg.inventory.sites))}")
    for name in selector.classes:
        if name not in DEVICE_CLASSES:
            problems.append(f"no device class {name!r}{did_you_mean(name, DEVICE_CLASSES)}")
    for pattern in selector.devices:
        if not any(ch in pattern for ch in "*?[") and pattern not in devices:
            problems.append(f"no device named {pattern!r}{did_you_mean(pattern, sorted(devices))}")
    tags = {tag for device in cfg.inventory.devices for tag in device.tags}
    for tag in selector.tags:
        if tag not in tags:
            problems.append(f"no device has the tag {tag!r}{did_you_mean(tag, sorted(tags))}")
    return problems


def maintenance_list_command(args) -> int:
    return _run(_maintenance_list, args)


def _maintenance_list(args) -> int:
    cfg = _config(args.config)
    store = _store(cfg, must_exist=False)
    windows = store.maintenance.list(include_ended=args.all)
    configured = cfg.settings.faults.maintenance
    if args.json:
        json.dump({"windows": [window.to_dict() for window in windows],
                   "configured": [window.model_dump(mode="json") for window in configured]},
                  sys.stdout, ensure_ascii=False, indent=2)
        print()
        return EXIT_OK
    lines = [("ID", "NAME", "FROM", "TO", "WHAT", "BY", "ENDED")]
    for window in windows:
        lines.append((str(window.id), window.name, _when(window.starts_at), _when(window.ends_at),
                      window.selector.describe(), window.created_by or "-", _when(window.ended_at)))
    print(format_columns(lines) if windows else "no maintenance windows added with the CLI or API")
    if configured:
        print(f"\nfrom {cfg.path}:")
        for window in configured:
            print(f"  {window.name}: {window.match.describe()}; {_describe_configured(window)}")
    return EXIT_OK


def _describe_configured(window) -> str:
    describe = getattr(window, "describe", None)
    return describe() if callable(describe) else "see the settings file"


def maintenance_end_command(args) -> int:
    return _run(_maintenance_end, args)


def _maintenance_end(args) -> int:
    store = _store(_config(args.config))
    window = _changing(lambda: store.maintenance.end(args.id, by=_who(args)))
    print(f"maintenance {window.id} '{window.name}' ended; faults there alert again")
    return EXIT_OK


def add_parsers(sub, finish) -> None:
    """The argparse sub-commands; `finish(parser, key)` adds -c and the command key."""
    faults = sub.add_parser("faults", help="fault records: list them (newest first), or `faults show ID`")
    faults.add_argument("--open", action="store_true", help="only faults not resolved yet")
    faults.add_argument("--site", help="only faults at this site or below it")
    faults.add_argument("--device", help="only this device's faults")
    faults.add_argument("--limit", type=int, default=200, help="at most this many (default 200)")
    faults.add_argument("--json", action="store_true", help="machine-readable output")
    finish(faults, "faults")
    faults_sub = faults.add_subparsers(dest="faults_command", metavar="COMMAND")
    show = faults_sub.add_parser("show", help="one fault: values, SLA clocks, notes, symptoms")
    show.add_argument("id", type=int, help="fault id")
    show.add_argument("--json", action="store_true", help="machine-readable output")
    finish(show, "faults show")

    ack = sub.add_parser("ack", help="acknowledge a fault (stops escalation; starts nothing else)")
    ack.add_argument("id", type=int, help="fault id")
    ack.add_argument("--by", required=True, help="who acknowledges (recorded for the SLA report)")
    ack.add_argument("--note", help="a note to record with it")
    finish(ack, "ack")
    resolve = sub.add_parser("resolve", help="declare a fault fixed (it opens again if its condition still holds)")
    resolve.add_argument("id", type=int, help="fault id")
    resolve.add_argument("--by", help="who resolved it (default: your login name)")
    resolve.add_argument("--note", help="a note to record with it")
    finish(resolve, "resolve")
    close = sub.add_parser("close", help="close a resolved fault with its analysis")
    close.add_argument("id", type=int, help="fault id")
    close.add_argument("--cause", required=True, help="what caused it")
    close.add_argument("--resolution", required=True, help="how it was resolved")
    close.add_argument("--prevention", required=True, help="what prevents it from happening again")
    close.add_argument("--by", help="who writes the analysis (default: your login name)")
    finish(close, "close")

    maintenance = sub.add_parser("maintenance", help="maintenance windows: faults recorded, not alerted")
    m_sub = maintenance.add_subparsers(dest="maintenance_command", metavar="COMMAND", required=True)
    add = m_sub.add_parser("add", help="add a one-off window (recurring ones go in the settings file)")
    add.add_argument("name", help="what the work is, e.g. 'relocation of street-03'")
    add.add_argument("--device", action="append", help="device name or pattern (repeatable)")
    add.add_argument("--site", action="append", help="site, with everything below it (repeatable)")
    add.add_argument("--class", dest="device_class", action="append", help="device class (repeatable)")
    add.add_argument("--tag", action="append", help="inventory tag (repeatable)")
    add.add_argument("--start", help="local date and time, e.g. '2026-11-21 22:00' (default: now)")
    add.add_argument("--end", help="local date and time the window ends")
    add.add_argument("--for", dest="duration", help="or how long it lasts, e.g. 2h")
    add.add_argument("--by", help="who adds it (default: your login name)")
    finish(add, "maintenance add")
    listing = m_sub.add_parser("list", help="current and coming windows (CLI/API ones and configured ones)")
    listing.add_argument("--all", action="store_true", help="also windows that have ended")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    finish(listing, "maintenance list")
    end = m_sub.add_parser("end", help="end a window now")
    end.add_argument("id", type=int, help="window id (from maintenance list)")
    end.add_argument("--by", help="who ends it (default: your login name)")
    finish(end, "maintenance end")

