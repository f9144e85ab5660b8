"""`netvigil rollcall`: the pre-meeting roll call (会前点名) of conference endpoints, printed as
a roster grouped by site (monitor.rollcall selects, probes, judges and records).

It works whether or not the daemon runs. Exit codes: 0 every endpoint present, 1 anyone
degraded or absent (or the probes could not run, or the selection matches no device), 2 bad
input (unknown class or site, broken settings).
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Optional, Sequence

from monitor.cli.common import Refused, load_config, run as run_refusable
from monitor.problems import EXIT_CONFIG, EXIT_OK, EXIT_RUNTIME
from monitor.i18n import N_, _
from monitor.rollcall import (ABSENT, CONFERENCE_CLASSES, DEGRADED, PRESENT, Entry, SelectionError,
                              call_roll, selection, summary)

PREFIX = "netvigil rollcall: "

# The roster's words, in one place; translated where used (monitor.i18n).
TEXT = {
    "heading": N_("Roll call: {present} present, {degraded} degraded, {absent} absent of {total}"),
    "heading_named": N_("Roll call \"{name}\": {present} present, {degraded} degraded, {absent} absent of {total}"),
    "heading_at": N_("Roll call at {when}: {present} present, {degraded} degraded, {absent} absent of {total}"),
    "heading_named_at": N_("Roll call \"{name}\" at {when}: {present} present, {degraded} degraded, {absent} absent "
                           "of {total}"),
    "columns": (N_("DEVICE"), N_("ADDRESS"), N_("CLASS"), N_("STATE"), N_("RTT ms"), N_("LOSS %"), N_("JITTER ms"),
                N_("REASON")),
    "states": {PRESENT: N_("present"), DEGRADED: N_("DEGRADED"), ABSENT: N_("ABSENT")},
}


def _number(value, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def render(entries: Sequence[Entry], name: str = "", when: str = "", site_labels: Optional[dict] = None) -> str:
    """The roster: a heading, then per site (the hierarchy's order) a table, worst first."""
    from monitor.cli.tables import format_columns
    from monitor.logsetup import escape_controls

    counts = summary(entries)
    key = "heading" + ("_named" if name else "") + ("_at" if when else "")
    heading = _(TEXT[key]).format(name=name, when=when, **counts)
    out = [escape_controls(heading)]
    sites: dict = {}
    # Sites in the order of the hierarchy: a street before its communities.
    for entry in sorted(entries, key=lambda e: e.site_path):
        sites.setdefault(entry.site, []).append(entry)
    order = {PRESENT: 2, DEGRADED: 1, ABSENT: 0}
    for site, members in sites.items():
        label = (site_labels or {}).get(site)
        out.append("")
        out.append(escape_controls(f"{site} {label}" if label and label != site else site))
        rows = [tuple(_(word) for word in TEXT["columns"])]
        for entry in sorted(members, key=lambda e: (order[e.state], e.device)):
            rows.append((entry.device, entry.address, entry.device_class, _(TEXT["states"][entry.state]),
                         _number(entry.icmp.get("rtt_avg_ms"), 2), _number(entry.icmp.get("loss_pct"), 1),
                         _number(entry.icmp.get("jitter_ms"), 2), "; ".join(entry.reasons) or "-"))
        out.append("\n".join("  " + line for line in format_columns(rows).split("\n")))
        for entry in members:
            for kind, detail in entry.details.items():
                out.append(escape_controls(f"  {entry.device}: {kind.upper()}: {detail}"))
    return "\n".join(out)


# --- the command --------------------------------------------------------------------------------

def _rollcall(args) -> int:
    classes = tuple(part.strip() for part in (args.classes or "").split(",") if part.strip())
    cfg = load_config(args.config)
    try:
        classes, devices = selection(cfg, classes, args.site, where=str(args.config))
    except SelectionError as exc:
        raise Refused(f"{PREFIX}{exc}", EXIT_CONFIG if exc.bad_input else EXIT_RUNTIME) from None
    from probes.icmp.pinger import IcmpPermissionError

    try:
        done = asyncio.run(call_roll(cfg, classes, devices, args.name or "", site=args.site))
    except IcmpPermissionError as exc:
        raise Refused(f"{PREFIX}{exc}", EXIT_RUNTIME) from None
    if args.json:
        print(json.dumps(done.record, ensure_ascii=False))
    else:
        labels = {site.name: site.label for site in cfg.inventory.sites.values()}
        local = done.started.astimezone().strftime("%Y-%m-%d %H:%M")
        print(render(done.entries, args.name or "", local, labels))
    for problem in done.problems:
        print(PREFIX + problem, file=sys.stderr)
    return EXIT_OK if done.all_present else EXIT_RUNTIME


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
