"""`netvigil report monthly --month YYYY-MM [--format html,xlsx,csv] [--out DIR]`,
`netvigil report fault ID [--format ...] [--out DIR]` and
`netvigil report inspection [--at TIME] [--format ...] [--out DIR]`.

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
    from monitor.reports.build import ReportError, monthly_report, workdays, write_monthly
    from monitor.reports.monthly import ReportInputError, parse_month

    formats = _formats(args.format)
    cfg = load_config(args.config)
    settings = cfg.settings
    now = time.time()
    try:
        year, month = parse_month(args.month, now, settings.faults.zone())
        calendar = workdays(settings)
        report = monthly_report(cfg, year, month, now, calendar)
    except ReportInputError as exc:
        raise Refused(str(exc), EXIT_CONFIG) from None
    except ReportError as exc:
        raise Refused(str(exc), exc.code) from None
    out_dir = Path(args.out) if args.out else settings.reports.out_dir
    try:
        paths = write_monthly(report, out_dir, formats, cfg)
    except OSError as exc:
        raise Refused(f"cannot write the report into {out_dir}: {exc.strerror or exc}", EXIT_RUNTIME) from None
    for written in paths:
        print(written)
    if not calendar.covers(report.due_by.year):
        print(f"warning: no holiday file covers {report.due_by.year}: the delivery and due days "
              f"({report.deliver_on}, {report.due_by}) count only weekends as days off; add that year's "
              f"calendar to reports.holiday_files", file=sys.stderr)
    return EXIT_OK


def inspection_command(args) -> int:
    return run(_inspection, args)


def _inspection(args) -> int:
    from monitor.control import query_status
    from monitor.i18n import _
    from monitor.reports import texts
    from monitor.reports.build import ReportError, inspection_record, write_inspection
    from monitor.reports.inspection import previous_slot
    from monitor.reports.readings import Reading, parse_time, read_embedded, snapshot_from_rows

    formats = _formats(args.format)
    cfg = load_config(args.config)
    settings = cfg.settings
    zone, now, window = settings.faults.zone(), time.time(), settings.reports.inspection_window_s
    try:
        at = now if args.at is None else parse_time(args.at, now, zone)
    except ValueError as exc:
        raise Refused(str(exc), EXIT_CONFIG) from None
    snapshot = None
    socket_path = settings.control_socket or settings.state_dir / "netvigil.sock"
    if now - at < 60:  # "now": the running daemon knows best; the past is in the embedded store's history
        try:
            answer = query_status(socket_path, readings=True)
        except PermissionError:
            raise Refused(f"no permission to talk to the daemon at {socket_path}; run this as the daemon's user "
                          f"(sudo -u netvigil netvigil ...), as a member of its group, or as root",
                          EXIT_RUNTIME) from None
        except Exception as exc:  # noqa: BLE001 - a daemon that answers badly is one sentence, not a traceback
            raise Refused(f"the daemon at {socket_path} did not answer properly: {exc}", EXIT_RUNTIME) from None
        if answer is not None:
            at = now
            readings = [Reading.from_dict(row) for row in answer.get("readings", ())]
            source = _(texts.SOURCE_DAEMON).format(pid=answer["daemon"]["pid"])
            snapshot = snapshot_from_rows(at, answer["devices"], readings, source, window)
    if snapshot is None:
        store = settings.state_dir / "metrics.db"
        if not store.exists():
            if now - at < 60:
                raise Refused(f"no daemon answers at {socket_path} and there is no embedded store at {store}; "
                              f"start the daemon (netvigil run)", EXIT_RUNTIME)
            raise Refused(f"an inspection of a past moment is made from the embedded store's history, and there "
                          f"is no embedded store at {store}; keep one with outputs.embedded.enabled: true (also "
                          f"next to an InfluxDB output)", EXIT_RUNTIME)
        try:
            snapshot = read_embedded(store, cfg.inventory.devices, at, window)
        except (sqlite3.Error, OSError) as exc:
            raise Refused(f"cannot read the embedded store {store}: {exc}; run this as the daemon's user "
                          f"(sudo -u netvigil netvigil ...) or as root", EXIT_RUNTIME) from None
    try:
        record = inspection_record(settings, snapshot, previous_slot(at, settings.reports.inspection_clocks(), zone))
    except ReportError as exc:
        raise Refused(str(exc), exc.code) from None
    out_dir = Path(args.out) if args.out else settings.reports.out_dir
    try:
        paths = write_inspection(record, out_dir, formats, now)
    except OSError as exc:
        raise Refused(f"cannot write the report into {out_dir}: {exc.strerror or exc}", EXIT_RUNTIME) from None
    for written in paths:
        print(written)
    return EXIT_OK


def fault_command(args) -> int:
    return run(_fault, args)


def _fault(args) -> int:
    from monitor.faults.store import FaultError, FaultStoreMissing, fault_store_location, open_fault_store
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
    path = fault_store_location(settings)
    try:
        with open_fault_store(settings, must_exist=True) as store:
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
    except FaultStoreMissing as exc:
        raise Refused(f"{exc} (or check state_dir and faults.database in {cfg.path})", EXIT_RUNTIME) from None
    except FaultError as exc:  # unknown id, newer schema, PostgreSQL unreachable
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
    inspection = report_sub.add_parser(
        "inspection", help="the machine-room inspection record: every device's state by site, temperatures and "
                           "humidity, UPS, NVR disks, open and new faults, devices with no data, sign-off")
    inspection.add_argument("--at", help="the moment, local to faults.timezone: HH:MM (today) or 'YYYY-MM-DD HH:MM' "
                                         "(default: now, from the running daemon; a past moment is read from the "
                                         "embedded store's history)")
    inspection.add_argument("--format", default="html,xlsx",
                            help="comma-separated: html, xlsx, csv (default: html,xlsx)")
    inspection.add_argument("--out", help="directory for the files (default: reports.out_dir, "
                                          "else <state_dir>/reports)")
    finish(inspection, "report inspection")
