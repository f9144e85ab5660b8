"""Making report files from the settings: shared by `netvigil report ...` and the daemon's
schedule (monitor/reports/schedule.py), so a scheduled report is the one the command makes.

Every function here may raise `ReportError` (one sentence and the exit code the command
uses), sqlite3.Error or OSError; nothing here prints. The fault records are wherever
`faults.database` says (monitor.faults.store.open_fault_store).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path
from typing import Optional, Sequence

from monitor.i18n import _
from monitor.problems import EXIT_CONFIG, EXIT_RUNTIME
from monitor.reports import texts as T

class ReportError(Exception):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def workdays(settings):
    from monitor.reports.workdays import CalendarFileError, WorkCalendar

    try:
        return WorkCalendar.load(settings.reports.holiday_files)
    except CalendarFileError as exc:
        raise ReportError(f"reports.holiday_files: {exc}", EXIT_CONFIG) from None


def _unreadable(path, exc: Exception) -> ReportError:
    return ReportError(f"cannot read the fault records {path}: {exc}; run this as the daemon's user "
                       f"(sudo -u netvigil netvigil ...) or as root", EXIT_RUNTIME)


def inspection_record(settings, snapshot, previous_at: float):
    """The inspection's figures: the snapshot's device states and readings, the fault records."""
    from monitor.faults.store import FaultError, FaultStoreMissing, fault_store_location, open_fault_store
    from monitor.reports.inspection import inspect

    faults = []
    try:
        with open_fault_store(settings, must_exist=True) as store:
            faults = store.overlapping(previous_at, snapshot.at + 0.001)
    except FaultStoreMissing:  # no records yet (a daemon never started): no faults to show
        pass
    except FaultError as exc:  # a newer schema; PostgreSQL unreachable
        raise ReportError(str(exc), EXIT_RUNTIME) from None
    except (sqlite3.Error, OSError) as exc:
        raise _unreadable(fault_store_location(settings), exc) from None
    return inspect(snapshot, faults, previous_at=previous_at, zone=settings.faults.zone(),
                   window_s=settings.reports.inspection_window_s)


def write_inspection(record, out_dir: Path, formats: Sequence[str], now: float, note: str = "",
                     slot: Optional[float] = None) -> list[Path]:
    """The record's files, named by the moment (or by the schedule's `slot` the record stands
    for, so the 09:00 record is inspection-...-0900 even when made at 09:00:07 or late)."""
    from monitor.reports.inspection import inspection_tables
    from monitor.reports.render import write

    at = dt.datetime.fromtimestamp(record.at if slot is None else slot, record.zone)
    subtitle = f"{_(T.I_GENERATED)} {dt.datetime.fromtimestamp(now, record.zone):%Y-%m-%d %H:%M} ({record.zone})"
    if note:
        subtitle += f"; {note}"
    return write(out_dir, f"inspection-{at:%Y-%m-%d-%H%M}", formats, f"{_(T.INSPECTION_TITLE)} {at:%Y-%m-%d %H:%M}",
                 subtitle, inspection_tables(record))


def monthly_report(cfg, year: int, month: int, now: float, calendar=None):
    """The monthly report's figures (monitor/reports/monthly.py) from the fault records and
    configuration backups under state_dir."""
    from monitor.config_store import ConfigStore
    from monitor.faults.model import DeviceInfo
    from monitor.faults.store import FaultError, FaultStoreMissing, fault_store_location, open_fault_store
    from monitor.reports.monthly import ReportInputError, compute
    from monitor.rules.model import RulesError, load_rules

    settings = cfg.settings
    calendar = calendar if calendar is not None else workdays(settings)
    try:
        reachability = {rule.name for rule in load_rules(settings.rules).rules if rule.reachability}
    except RulesError as exc:
        raise ReportError("\n".join(exc.problems), EXIT_CONFIG) from None
    devices = [DeviceInfo.from_device(device) for device in cfg.inventory.devices]
    try:
        with open_fault_store(settings, must_exist=True) as store:
            return compute(store, year, month, devices=devices, settings=settings.faults,
                           reachability_rules=reachability, workdays=calendar, now=now,
                           config_store=ConfigStore(settings.state_dir / "configs"),
                           top_n=settings.reports.top_offenders)
    except FaultStoreMissing as exc:
        raise ReportError(f"{exc} (or check state_dir and faults.database in {cfg.path})", EXIT_RUNTIME) from None
    except FaultError as exc:  # a newer schema; PostgreSQL unreachable
        raise ReportError(str(exc), EXIT_RUNTIME) from None
    except (sqlite3.Error, OSError) as exc:
        raise _unreadable(fault_store_location(settings), exc) from None
    except ReportInputError as exc:
        raise ReportError(str(exc), EXIT_CONFIG) from None


def write_monthly(report, out_dir: Path, formats: Sequence[str], cfg=None) -> list[Path]:
    """The monthly report's files; with `cfg`, the network quality table from the metrics store
    (monitor/reports/metrics.py) comes last."""
    from monitor.reports.render import write
    from monitor.reports.tables import local, monthly_tables

    subtitle = f"{_(T.GENERATED)} {local(report, report.generated_at):%Y-%m-%d %H:%M}"
    if not report.complete:
        subtitle += f"; {_(T.SO_FAR)}"
    tables = monthly_tables(report)
    if cfg is not None:
        from monitor.reports.metrics import network_quality, network_table

        quality = network_quality(cfg.settings, report.start, report.period_end)
        tables.append(network_table(quality, cfg.inventory.devices, report.zone))
    return write(out_dir, f"monthly-{report.month}", formats, f"{_(T.MONTHLY_TITLE)} {report.month}", subtitle,
                 tables)
