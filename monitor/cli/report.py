"""`netvigil report monthly --month YYYY-MM [--format html,xlsx,csv] [--out DIR]` and
`netvigil report fault ID [--format ...] [--out DIR]`.

Reads the daemon's fault records and configuration backups (run it as the daemon's user or
root, like `netvigil faults`), computes the figures (monitor/reports/monthly.py) and writes
the files; prints one path per line. Exit codes: 0 written, 1 the records cannot be read or
the files cannot be written, 2 configuration or usage (a malformed month, a month not begun,
a broken holiday file); `report fault` with an unknown id: 1.
"""

from __future__ import annotations

import sqlite3
import sys
import time
from pathlib import Path

from monitor.cli.common import Refused, load_config, run
from monitor.i18n import _
from monitor.problems import EXIT_CONFIG, EXIT_OK, EXIT_RUNTIME

FAULTS_FILE = "faults.db"


def monthly_command(args) -> int:
    return run(_monthly, args)


def _formats(text: str) -> list[str]:
    from monitor.reports.render import FORMATS

    formats = [part.strip().lower() for part in text.split(",") if part.strip()]
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise Refused(f"--format {text!r}: use one or more of {', '.join(FORMATS)}, separated by commas",
                      EXIT_CONFIG)
    return formats


def _monthly(args) -> int:
    from monitor.config_store import ConfigStore
    from monitor.faults.model import DeviceInfo
    from monitor.faults.store import FaultStore
    from monitor.reports import texts
    from monitor.reports.monthly import ReportInputError, compute, parse_month
    from monitor.reports.render import write
    from monitor.reports.tables import local, monthly_tables
    from monitor.reports.workdays import CalendarFileError, WorkCalendar
    from monitor.rules.model import RulesError, load_rules

    formats = _formats(args.format)
    cfg = load_config(args.config)
    settings = cfg.settings
    now = time.time()
    zone = settings.faults.zone()
    try:
        year, month = parse_month(args.month, now, zone)
    except ReportInputError as exc:
        raise Refused(str(exc), EXIT_CONFIG) from None
    try:
        workdays = WorkCalendar.load(settings.reports.holiday_files)
    except CalendarFileError as exc:
        raise Refused(f"reports.holiday_files: {exc}", EXIT_CONFIG) from None
    try:
        reachability = {rule.name for rule in load_rules(settings.rules).rules if rule.reachability}
    except RulesError as exc:
        raise Refused("\n".join(exc.problems), EXIT_CONFIG) from None

    path = settings.state_dir / FAULTS_FILE
    if not path.exists():
        raise Refused(f"no fault records at {path} yet: the daemon creates them when it starts "
                      f"(or check state_dir in {cfg.path})", EXIT_RUNTIME)
    devices = [DeviceInfo.from_device(device) for device in cfg.inventory.devices]
    try:
        with FaultStore(path) as store:
            report = compute(store, year, month, devices=devices, settings=settings.faults,
                             reachability_rules=reachability, workdays=workdays, now=now,
                             config_store=ConfigStore(settings.state_dir / "configs"),
                             top_n=settings.reports.top_offenders)
    except (sqlite3.Error, OSError) as exc:
        raise Refused(f"cannot read the fault records {path}: {exc}; run this as the daemon's user "
                      f"(sudo -u netvigil netvigil ...) or as root", EXIT_RUNTIME) from None
    except ReportInputError as exc:
        raise Refused(str(exc), EXIT_CONFIG) from None

    out_dir = Path(args.out) if args.out else settings.reports.out_dir
    title = f"{_(texts.MONTHLY_TITLE)} {report.month}"
    subtitle = f"{_(texts.GENERATED)} {local(report, report.generated_at):%Y-%m-%d %H:%M}"
    if not report.complete:
        subtitle += f"; {_(texts.SO_FAR)}"
    try:
        paths = write(out_dir, f"monthly-{report.month}", formats, title, subtitle, monthly_tables(report))
    except OSError as exc:
        raise Refused(f"cannot write the report into {out_dir}: {exc.strerror or exc}", EXIT_RUNTIME) from None
    for written in paths:
        print(written)
    if not workdays.covers(report.due_by.year):
        print(f"warning: no holiday file covers {report.due_by.year}: the delivery and due days "
              f"({report.deliver_on}, {report.due_by}) count only weekends as days off; add that year's "
              f"calendar to reports.holiday_files", file=sys.stderr)
    return EXIT_OK


def fault_command(args) -> int:
    return run(_fault, args)


def _fault(args) -> int:
    from monitor.faults.store import FaultNotFound, FaultStore
    from monitor.notify.outbox import Outbox
    from monitor.reports import texts
    from monitor.reports.fault import fault_tables
    from monitor.reports.render import write
    from monitor.reports.workdays import CalendarFileError, WorkCalendar

    formats = _formats(args.format)
    cfg = load_config(args.config)
    settings = cfg.settings
    try:
        workdays = WorkCalendar.load(settings.reports.holiday_files)
    except CalendarFileError as exc:
        raise Refused(f"reports.holiday_files: {exc}", EXIT_CONFIG) from None
    path = settings.state_dir / FAULTS_FILE
    if not path.exists():
        raise Refused(f"no fault records at {path} yet: the daemon creates them when it starts "
                      f"(or check state_dir in {cfg.path})", EXIT_RUNTIME)
    try:
        with FaultStore(path) as store:
            fault = store.get(args.id)
            symptoms = store.symptoms_of(args.id)
        notices = []
        outbox_path = settings.state_dir / "notifications.db"
        if outbox_path.exists():
            outbox = Outbox(outbox_path)
            try:
                notices = outbox.notices(args.id)
            finally:
                outbox.close()
    except FaultNotFound as exc:
        raise Refused(str(exc), EXIT_RUNTIME) from None
    except (sqlite3.Error, OSError) as exc:
        raise Refused(f"cannot read the fault records {path}: {exc}; run this as the daemon's user "
                      f"(sudo -u netvigil netvigil ...) or as root", EXIT_RUNTIME) from None
    now = time.time()
    tables = fault_tables(fault, symptoms, notices, workdays, settings.faults.zone(), now)
    out_dir = Path(args.out) if args.out else settings.reports.out_dir
    title = f"{_(texts.FAULT_TITLE)}: {fault.id} {fault.device} {fault.rule}"
    try:
        paths = write(out_dir, f"fault-{fault.id}", formats, title, fault.message, tables)
    except OSError as exc:
        raise Refused(f"cannot write the report into {out_dir}: {exc.strerror or exc}", EXIT_RUNTIME) from None
    for written in paths:
        print(written)
    return EXIT_OK


def add_parsers(sub, finish) -> None:
    report = sub.add_parser("report", help="contract reports (HTML, XLSX, CSV)")
    report_sub = report.add_subparsers(dest="report_command", metavar="COMMAND", required=True)
    monthly = report_sub.add_parser("monthly", help="the monthly O&M report: availability, faults, SLA clocks, "
                                                    "budget, configuration changes, heightened watch")
    monthly.add_argument("--month", required=True, help="the month, YYYY-MM (e.g. 2026-11); the current month "
                                                        "gives the figures so far")
    monthly.add_argument("--format", default="html,xlsx",
                         help="comma-separated: html, xlsx, csv (default: html,xlsx)")
    monthly.add_argument("--out", help="directory for the files (default: reports.out_dir, "
                                       "else <state_dir>/reports)")
    finish(monthly, "report monthly")
    fault = report_sub.add_parser("fault", help="the fault analysis report of one fault: timeline, values, "
                                                "devices behind it, the written analysis")
    fault.add_argument("id", type=int, help="fault id (netvigil faults)")
    fault.add_argument("--format", default="html,xlsx", help="comma-separated: html, xlsx, csv (default: html,xlsx)")
    fault.add_argument("--out", help="directory for the files (default: reports.out_dir, else <state_dir>/reports)")
    finish(fault, "report fault")
