"""Fault commands for people: `netvigil faults`, `faults show`, `ack`, `resolve`, `close`,
`maintenance add|list|end`.

They open the daemon's fault records (`<state_dir>/faults.db`, or the PostgreSQL server
`faults.database` names) directly, so they work whether the daemon runs or not; a running
daemon notices the change within a few seconds (the store's data_version) and stops
escalating an acknowledged fault, resets a resolved one's rule, and applies a new
maintenance window. Run them as the daemon's user (`sudo -u netvigil netvigil
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
from monitor import words
from monitor.cli.tables import display_width, format_columns
from monitor.faults.model import Selector, parse_duration
from monitor.i18n import N_, _, ngettext
from monitor.logsetup import escape_controls
from monitor.problems import EXIT_CONFIG, EXIT_OK, EXIT_RUNTIME, did_you_mean


# Headings of the tables these commands print (translated where shown).
FAULT_HEADINGS = (N_("ID"), N_("STATE"), N_("SEVERITY"), N_("DEVICE"), N_("RULE"), N_("OPENED"), N_("FOR"), N_("ACK"),
                  N_("NOTE"))
MAINTENANCE_HEADINGS = (N_("ID"), N_("NAME"), N_("FROM"), N_("TO"), N_("WHAT"), N_("BY"), N_("ENDED"))
CLOCK_LABELS = {"acknowledge": N_("acknowledge:"), "resolve": N_("resolve:")}


def _store(cfg, must_exist: bool = True):
    # The store is imported on use (here and in _changing): every command's parser, and
    # `netvigil --help`, import this module for add_parsers.
    from monitor.faults.store import FaultError, FaultStoreMissing, fault_store_location, open_fault_store

    path = fault_store_location(cfg.settings)
    try:
        return open_fault_store(cfg.settings, must_exist=must_exist)
    except FaultStoreMissing as exc:
        raise _Refused(f"{exc} (or check state_dir and faults.database in {cfg.path})", EXIT_RUNTIME) from None
    except FaultError as exc:  # a newer schema; PostgreSQL unreachable or refusing the credentials
        raise _Refused(str(exc), EXIT_RUNTIME) from None
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
    return "-" if seconds is None else words.duration(seconds)


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
        print(_("no open faults") if args.open else _("no faults recorded"))
    else:
        print(fault_table(faults, now))
    if over:
        budget = cfg.settings.faults.budget.faults_per_month
        print()
        print(_("over the monthly budget of {budget} faults this month: {devices}").format(
            budget=budget, devices=", ".join(f"{device} ({count})" for device, count in over)))
    return EXIT_OK


def fault_table(faults, now: float) -> str:
    """The fault records as a table (also under `netvigil status`), their messages under it."""
    lines = [tuple(_(text) for text in FAULT_HEADINGS)]
    for fault in faults:
        end = fault.resolved_at or now
        note = []
        if fault.symptom_of is not None:
            note.append(_("symptom of {id}").format(id=fault.symptom_of))
        if fault.in_maintenance:
            note.append(_("maintenance"))
        if fault.ack_breached or fault.resolve_breached:
            note.append(_("SLA breached"))
        if fault.occurrences > 1:
            note.append(_("{n}x").format(n=fault.occurrences))
        rule = fault.rule + (f" {fault.instance}" if fault.instance else "")
        lines.append((str(fault.id), words.fault_state(fault.state).upper(), words.severity(fault.severity),
                      fault.device, rule,
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
    """`faults show`: one fault's record for people, in the language in force."""
    rule = fault.rule + (f" ({fault.instance})" if fault.instance else "")
    lines = [
        _("fault {id}: {state}  {severity}  {device}  {rule}").format(
            id=fault.id, state=words.fault_state(fault.state).upper(), severity=words.severity(fault.severity),
            device=fault.device, rule=rule),
        _field(_("message:"), fault.message),
        _field(_("site:"), _("{site}   class: {device_class}").format(
            site="/".join(fault.site_path) or fault.site, device_class=words.device_class(fault.device_class))),
        _field(_("values:"), _("first {first}, last {last}, worst {worst}, threshold {threshold}").format(
            first=_value(fault.first_value), last=_value(fault.last_value), worst=_value(fault.worst_value),
            threshold=_value(fault.threshold))),
        _field(_("opened:"), _("{opened}   last seen {last_seen}   occurrences {occurrences}").format(
            opened=_when(fault.opened_at), last_seen=_when(fault.last_seen_at), occurrences=fault.occurrences)),
    ]
    if fault.symptom_of is not None:
        lines.append(_field(_("symptom of:"), _("fault {id} (not alerted on its own)").format(id=fault.symptom_of)))
    if fault.in_maintenance:
        lines.append(_field(_("maintenance:"), _("{name} (not alerted)").format(name=fault.maintenance or _("yes"))))
    if fault.heightened:
        lines.append(_field(_("heightened watch:"), _("yes (stricter SLA)")))
    clocks = fault.has_clocks
    lines.append(_clock_line("acknowledge", fault.opened_at, fault.acknowledged_at,
                             fault.ack_deadline if clocks else None, fault.ack_breached, now, fault.acknowledged_by))
    lines.append(_clock_line("resolve", fault.opened_at, fault.resolved_at,
                             fault.resolve_deadline if clocks else None, fault.resolve_breached, now, fault.resolved_by))
    if fault.closed_at is not None:
        lines += [_field(_("closed:"), _("{time} by {name}").format(time=_when(fault.closed_at), name=fault.closed_by)),
                  _field(_("cause:"), fault.cause), _field(_("resolution:"), fault.resolution),
                  _field(_("prevention:"), fault.prevention)]
    elif fault.resolved_at is not None:
        lines.append(_field(_("analysis due:"), _(
            "close it with cause, resolution and prevention: netvigil close {id} --cause ... --resolution ... "
            "--prevention ...").format(id=fault.id)))
    for note in fault.notes:
        lines.append(_("  note {time} {author}: {text}").format(time=_when(note.at), author=note.author,
                                                                text=note.text))
    if symptoms:
        names = ", ".join(s.device for s in symptoms[:50])
        if len(symptoms) > 50:
            names = _("{names} and {n} more").format(names=names, n=len(symptoms) - 50)
        lines.append(ngettext("  {n} symptom behind it: {names}", "  {n} symptoms behind it: {names}",
                              len(symptoms)).format(n=len(symptoms), names=names))
    # Messages quote what devices said and notes what people typed: shown, never obeyed by the terminal.
    return "\n".join(escape_controls(line) for line in lines)


def _field(label: str, value) -> str:
    """`  label:      value`, the values lined up in one column (Chinese labels count two a character)."""
    head = f"  {label}"
    return head + " " * max(1, 16 - display_width(head)) + str(value)


def _clock_line(name: str, opened: float, done: Optional[float], deadline: Optional[float], breached, now: float,
                by: Optional[str]) -> str:
    label = _(CLOCK_LABELS[name])
    if deadline is None:
        if not done:
            return _field(label, _("no SLA clock"))
        return _field(label, (_("at {time} by {name}") if by else _("at {time}")).format(time=_when(done), name=by))
    sla = _span(deadline - opened)
    if done is not None:
        verdict = _("BREACHED") if breached or done > deadline else _("within SLA")
        return _field(label, _("{time} by {name} after {duration} (SLA {sla}: {verdict})").format(
            time=_when(done), name=by or "?", duration=_span(done - opened), sla=sla, verdict=verdict))
    if now > deadline:
        return _field(label, _("NOT YET, SLA {sla} BREACHED {duration} ago").format(
            sla=sla, duration=_span(now - deadline)))
    return _field(label, _("not yet, {left} left of SLA {sla} (due {time})").format(
        left=_span(deadline - now), sla=sla, time=_when(deadline)))


# -- netvigil ack|resolve|close ID ---------------------------------------------------------------------

def ack_command(args) -> int:
    return _run(_ack, args)


def _ack(args) -> int:
    store = _store(_config(args.config))
    fault = _changing(lambda: store.acknowledge(args.id, _who(args), note=args.note))
    print(_("fault {id} acknowledged by {name} after {duration}").format(
        id=fault.id, name=fault.acknowledged_by, duration=_span(fault.acknowledged_at - fault.opened_at)))
    return EXIT_OK


def resolve_command(args) -> int:
    return _run(_resolve, args)


def _resolve(args) -> int:
    store = _store(_config(args.config))
    fault = _changing(lambda: store.resolve(args.id, _who(args), note=args.note))
    print(_("fault {id} resolved by {name} after {duration}; if its condition still holds, the rule opens it "
            "again. Write the analysis with: netvigil close {id} --cause ... --resolution ... --prevention ...").format(
        id=fault.id, name=fault.resolved_by, duration=_span(fault.resolved_at - fault.opened_at)))
    return EXIT_OK


def close_command(args) -> int:
    return _run(_close, args)


def _close(args) -> int:
    store = _store(_config(args.config))
    fault = _changing(lambda: store.close(args.id, _who(args), cause=args.cause, resolution=args.resolution,
                                          prevention=args.prevention))
    print(_("fault {id} closed by {name}").format(id=fault.id, name=fault.closed_by))
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
    print(_("maintenance {id} '{name}' from {start} to {end} for {what}: faults there are recorded but not "
            "alerted").format(id=window.id, name=args.name, start=_when(start), end=_when(end),
                              what=words.selector(selector)))
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
    lines = [tuple(_(text) for text in MAINTENANCE_HEADINGS)]
    for window in windows:
        lines.append((str(window.id), window.name, _when(window.starts_at), _when(window.ends_at),
                      words.selector(window.selector), window.created_by or "-", _when(window.ended_at)))
    print(format_columns(lines) if windows else _("no maintenance windows added with the CLI or API"))
    if configured:
        print()
        print(_("from {path}:").format(path=cfg.path))
        for window in configured:
            print(f"  {window.name}: {words.selector(window.match)}; {_describe_configured(window)}")
    return EXIT_OK


def _describe_configured(window) -> str:
    describe = getattr(window, "describe", None)
    return describe() if callable(describe) else _("see the settings file")


def maintenance_end_command(args) -> int:
    return _run(_maintenance_end, args)


def _maintenance_end(args) -> int:
    store = _store(_config(args.config))
    window = _changing(lambda: store.maintenance.end(args.id, by=_who(args)))
    print(_("maintenance {id} '{name}' ended; faults there alert again").format(id=window.id, name=window.name))
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

