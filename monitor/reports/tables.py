"""The monthly report as titled tables: what HTML, XLSX and CSV all render, so the three
formats cannot disagree. Values are in display units (minutes, percent) and stay numbers, so
a spreadsheet can compute with them; times are naive local datetimes in the report's zone
(spreadsheets have no time zones)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Optional, Union

from monitor import words
from monitor.i18n import _
from monitor.reports import texts as T
from monitor.reports.monthly import MonthlyReport

Cell = Union[str, int, float, dt.date, dt.datetime, None]


@dataclass(frozen=True)
class Table:
    slug: str  # file and sheet name part: ascii, stable
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]


def translated(slug: str, title: str, columns: tuple[str, ...], rows) -> Table:
    """A Table whose title and column headings (constants of texts.py) read in the language in force."""
    return Table(slug, _(title), tuple(_(column) for column in columns), tuple(rows))


def items(pairs) -> tuple[tuple[Cell, ...], ...]:
    """Item/value rows whose item names (constants of texts.py) are translated."""
    return tuple((_(name), value) for name, value in pairs)


def _min(seconds: Optional[float]) -> Optional[float]:
    return None if seconds is None else round(seconds / 60, 1)


def _pct(value: float) -> float:
    return round(value, 3)


def local(report: MonthlyReport, at: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(at, report.zone).replace(tzinfo=None)


def monthly_tables(report: MonthlyReport) -> list[Table]:
    r = report
    period = f"{local(r, r.start):%Y-%m-%d %H:%M} .. {local(r, r.period_end):%Y-%m-%d %H:%M}"
    if not r.complete:
        period += f" ({_(T.SO_FAR)})"
    summary = [
        (T.S_MONTH, r.month), (T.S_PERIOD, period), (T.S_ZONE, str(r.zone)), (T.S_GENERATED, local(r, r.generated_at)),
        (T.S_DELIVER, r.deliver_on), (T.S_DUE, r.due_by), (T.S_WORKING_DAYS, r.working_days),
        (T.S_DEVICES, r.overall.devices), (T.S_AVAILABILITY, _pct(r.overall.pct)),
        (T.S_FAULTS, r.faults), (T.S_SYMPTOMS, r.symptom_faults), (T.S_MAINTENANCE, r.maintenance_faults),
        (T.S_ACK_BREACHED, r.acknowledge.breached), (T.S_ACK_SHARE, _pct(r.acknowledge.breached_pct)),
        (T.S_ACK_MEAN, _min(r.acknowledge.mean_s)),
        (T.S_RES_BREACHED, r.resolve.breached), (T.S_RES_SHARE, _pct(r.resolve.breached_pct)),
        (T.S_RES_MEAN, _min(r.resolve.mean_s)),
        (T.S_BUDGET, r.budget), (T.S_OVER_BUDGET, len(r.over_budget)), (T.S_CONFIG_CHANGES, len(r.config_changes)),
    ]

    def groups(slug, title, key_column, groups_, name=str):
        return translated(slug, title, (key_column, T.C_DEVICES, T.C_DOWN_MIN, T.C_AVAIL),
                          ((name(g.key), g.devices, _min(g.down_s), _pct(g.pct)) for g in groups_))

    def device_rows(rows):
        return tuple((d.device, d.site, words.device_class(d.device_class), d.faults, _min(d.down_s),
                       _pct(d.availability_pct)) for d in rows)

    device_columns = (T.C_DEVICE, T.C_SITE, T.C_CLASS, T.C_FAULTS, T.C_DOWN_MIN, T.C_AVAIL)
    clocks = tuple((_(T.CLOCK_NAMES[name]), c.faults, c.stopped, c.breached, _pct(c.breached_pct), c.running,
                    _min(c.mean_s), _min(c.max_s))
                   for name, c in (("acknowledge", r.acknowledge), ("resolve", r.resolve)))
    return [
        translated("summary", T.SUMMARY, (T.ITEM, T.VALUE), items(summary)),
        groups("availability-site", T.AVAIL_SITE, T.C_SITE, r.sites),
        groups("availability-class", T.AVAIL_CLASS, T.C_CLASS, r.classes, words.device_class),
        translated("availability-device", T.AVAIL_DEVICE, device_columns, device_rows(r.devices)),
        translated("faults-severity", T.FAULTS_SEVERITY, (T.C_SEVERITY, T.C_FAULTS),
                   ((words.severity(severity), count) for severity, count in r.by_severity)),
        translated("faults-rule", T.FAULTS_RULE, (T.C_RULE, T.C_FAULTS), r.by_rule),
        translated("faults-site", T.FAULTS_SITE, (T.C_SITE, T.C_FAULTS), r.by_site),
        translated("clocks", T.CLOCKS, (T.C_CLOCK, T.C_WITH_CLOCK, T.C_STOPPED, T.C_BREACHED, T.C_SHARE, T.C_RUNNING,
                                        T.C_MEAN, T.C_MAX), clocks),
        translated("breaches", T.BREACHES,
                   (T.C_FAULT_ID, T.C_DEVICE, T.C_RULE, T.C_CLOCK, T.C_DEADLINE, T.C_STOPPED_AT),
                   ((b.fault_id, b.device, b.rule, _(T.CLOCK_NAMES[b.clock]), local(r, b.deadline),
                     local(r, b.stopped_at) if b.stopped_at is not None else _(T.STILL_RUNNING))
                    for b in r.breaches)),
        translated("over-budget", T.OVER_BUDGET, (T.C_DEVICE, T.C_FAULTS), r.over_budget),
        translated("top-offenders", T.TOP_OFFENDERS, device_columns, device_rows(r.top_offenders)),
        translated("config-changes", T.CONFIG_CHANGES, (T.C_DEVICE, T.C_VERSION, T.C_TIME),
                   tuple((c.device, c.version, local(r, c.at)) for c in r.config_changes)),
        translated("watch", T.WATCH, (T.C_PERIOD, T.C_FIRST, T.C_LAST, T.C_DAYS),
                   tuple((w.name, w.first, w.last, (w.last - w.first).days + 1) for w in r.watch)),
    ]
