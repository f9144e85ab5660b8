"""The monthly O&M report (月度运维报告): figures computed from the fault store.

`compute()` is pure apart from reading the stores it is handed: no rendering, no files. Each
figure's definition, because a contract's penalties depend on it:

* Month: local calendar month in `faults.timezone`, [00:00 on the 1st, 00:00 on the 1st of the
  next). The current month is allowed and runs to `now` (the report says "so far"); a month
  that has not begun is refused.
* Availability of a device: 1 - down / period, where "down" is the union of the times its
  reachability faults (rules with `reachability: true`, e.g. device_unreachable) were open
  inside the month, [opened, resolved or end of period). Faults in a maintenance window are
  planned work and do not count as down; symptom faults (cut off behind a failed parent) do,
  because the site could not use the device. A reopened fault counts as down from its first
  opening: for the contract it was one fault, not really fixed. A site's and a class's
  availability is their devices' up time over their device time, so every device weighs the
  same. Devices are those of the inventory now, plus any device that had a fault that month.
* Faults: root faults OPENED in the month (not symptoms, not in maintenance), as the monthly
  budget counts them (`FaultStore.monthly_counts`); symptoms and maintenance faults are
  given as separate totals.
* Contract clocks, over those root faults: acknowledgement stops at acknowledgement or
  resolution, resolution at resolution (as the fault store defines them). A clock that
  stopped after its deadline, or is still running past it at `now`, is breached; a clock
  still running inside its deadline is "running".
* Over budget: more root faults than `faults.budget.faults_per_month` (for the budget's
  classes when it names some).
* Configuration changes: stored configuration versions first seen in the month, except a
  device's first version (nothing changed: it was the first backup).
* Heightened watch: the days of the month in a heightened-watch period, as spans.

Figures come from the fault records, not from the metrics store: the records carry the
contract's clocks and outlive the metrics database's retention. Availability therefore has
the resolution of the reachability rule (one probe interval).
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Iterable, Mapping, Optional, Sequence

from monitor.faults.model import SEVERITIES, DeviceInfo
from monitor.faults.settings import FaultsSettings
from monitor.faults.store import Fault, FaultStore, month_bounds
from monitor.reports.workdays import WorkCalendar

_MONTH = re.compile(r"(\d{4})-(\d{2})\Z")
DUE_WORKING_DAY = 5  # contracts: the monthly report by the 5th working day of the next month


class ReportInputError(ValueError):
    """A month (or other report input) that cannot be reported on; one sentence."""


def parse_month(text: str, now: float, zone: dt.tzinfo) -> tuple[int, int]:
    """"2026-11" -> (2026, 11); refuses other spellings and months that have not begun."""
    match = _MONTH.match(text.strip())
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise ReportInputError(f"month {text!r} is not a month; write it as YYYY-MM, e.g. 2026-11")
    year, month = int(match.group(1)), int(match.group(2))
    # Fault records are stamped in Unix seconds; the bounds of the first years (0001-01 east of
    # UTC) would also fall outside what datetime can hold.
    if year < 1970:
        raise ReportInputError(f"month {text} is before 1970: no fault record is that old; nothing to report")
    # Compared as (year, month) in the report's zone rather than through the month's first second:
    # the bounds of 9999-12 (its end is in year 10000) are beyond what datetime can hold.
    today = dt.datetime.fromtimestamp(now, zone)
    if (year, month) > (today.year, today.month):
        raise ReportInputError(f"month {text} has not begun yet (today is {today:%Y-%m-%d}); "
                               f"nothing to report")
    return year, month


@dataclass(frozen=True)
class Availability:
    """Availability of one device, or of a group of devices (a site, a class, everything)."""

    key: str
    devices: int
    down_s: float
    device_s: float  # the period times the number of devices

    @property
    def pct(self) -> float:
        return 100.0 if self.device_s <= 0 else 100.0 * (1 - self.down_s / self.device_s)


@dataclass(frozen=True)
class DeviceRow:
    device: str
    site: str
    device_class: str
    faults: int
    down_s: float
    availability_pct: float


@dataclass(frozen=True)
class ClockFigures:
    """One contract clock over the month's root faults that have clocks."""

    faults: int  # faults with this clock
    stopped: int  # acknowledged (or resolved) / resolved
    breached: int  # stopped late, or running past the deadline
    running: int  # still inside the deadline
    mean_s: Optional[float]  # over the stopped ones
    max_s: Optional[float]

    @property
    def breached_pct(self) -> float:
        return 0.0 if not self.faults else 100.0 * self.breached / self.faults


@dataclass(frozen=True)
class Breach:
    fault_id: int
    device: str
    rule: str
    clock: str  # "acknowledge" or "resolve"
    deadline: float
    stopped_at: Optional[float]  # None: still running


@dataclass(frozen=True)
class ConfigChange:
    device: str
    version: int
    at: float


@dataclass(frozen=True)
class WatchSpan:
    name: str
    first: dt.date
    last: dt.date


@dataclass(frozen=True)
class MonthlyReport:
    month: str  # "2026-11"
    start: float
    end: float  # the month's end
    period_end: float  # min(end, now): the figures run to here
    generated_at: float
    zone: dt.tzinfo
    deliver_on: dt.date  # first working day of the next month
    due_by: dt.date  # DUE_WORKING_DAY-th working day of the next month
    working_days: int
    overall: Availability
    devices: tuple[DeviceRow, ...]  # lowest availability first, then most faults, then name
    sites: tuple[Availability, ...]  # by key
    classes: tuple[Availability, ...]
    faults: int  # root faults opened in the month
    symptom_faults: int
    maintenance_faults: int
    by_severity: tuple[tuple[str, int], ...]  # every severity, most severe first
    by_rule: tuple[tuple[str, int], ...]  # most first, then name
    by_site: tuple[tuple[str, int], ...]
    acknowledge: ClockFigures
    resolve: ClockFigures
    breaches: tuple[Breach, ...]  # by deadline
    budget: int
    over_budget: tuple[tuple[str, int], ...]  # most first
    top_offenders: tuple[DeviceRow, ...]
    config_changes: tuple[ConfigChange, ...]  # by time
    watch: tuple[WatchSpan, ...]

    @property
    def complete(self) -> bool:
        return self.period_end >= self.end


def _union_length(spans: Iterable[tuple[float, float]]) -> float:
    total, reach = 0.0, None
    for start, end in sorted(spans):
        if reach is None or start > reach:
            total += end - start
            reach = end
        elif end > reach:
            total += end - reach
            reach = end
    return total


def _clock(faults: Sequence[Fault], deadline_of, stopped_of, name: str, now: float,
           breaches: list[Breach]) -> ClockFigures:
    stopped = breached = running = 0
    spans = []
    for fault in faults:
        deadline, stop = deadline_of(fault), stopped_of(fault)
        if stop is not None:
            stopped += 1
            spans.append(stop - fault.opened_at)
        late = (stop if stop is not None else now) > deadline
        if late:
            breached += 1
            breaches.append(Breach(fault.id, fault.device, fault.rule, name, deadline, stop))
        elif stop is None:
            running += 1
    return ClockFigures(len(faults), stopped, breached, running,
                        sum(spans) / len(spans) if spans else None, max(spans) if spans else None)


def _ack_stop(fault: Fault) -> Optional[float]:
    stops = [at for at in (fault.acknowledged_at, fault.resolved_at) if at is not None]
    return min(stops) if stops else None


def _watch_spans(settings: FaultsSettings, start: float, end: float, zone: dt.tzinfo) -> list[WatchSpan]:
    from monitor.faults.calendar import Calendar  # the maintenance half of it is not needed here

    calendar = Calendar(settings)
    spans: list[WatchSpan] = []
    day = dt.datetime.fromtimestamp(start, zone).date()
    last_day = dt.datetime.fromtimestamp(end, zone).date() - dt.timedelta(days=1)
    while day <= last_day:
        name = calendar.heightened(dt.datetime.combine(day, dt.time(12), tzinfo=zone).timestamp())
        if name is not None:
            previous = spans[-1] if spans else None
            if previous and previous.name == name and previous.last == day - dt.timedelta(days=1):
                spans[-1] = WatchSpan(name, previous.first, day)
            else:
                spans.append(WatchSpan(name, day, day))
        day += dt.timedelta(days=1)
    return spans


def compute(store: FaultStore, year: int, month: int, *, devices: Sequence[DeviceInfo], settings: FaultsSettings,
            reachability_rules: Iterable[str], workdays: WorkCalendar, now: float, config_store=None,
            top_n: int = 10) -> MonthlyReport:
    """Every figure of the monthly report (see the module docstring for the definitions)."""
    zone = settings.zone()
    start, end = month_bounds(year, month, zone)
    if start > now:
        raise ReportInputError(f"month {year}-{month:02d} has not begun yet; nothing to report")
    period_end = min(end, now)
    period = period_end - start
    reachability = frozenset(reachability_rules)

    known: dict[str, tuple[str, str]] = {d.name: (d.site, d.device_class) for d in devices}
    down_spans: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for fault in store.overlapping(start, period_end):
        known.setdefault(fault.device, (fault.site, fault.device_class))
        if fault.rule in reachability and not fault.in_maintenance:
            until = period_end if fault.resolved_at is None else min(fault.resolved_at, period_end)
            down_spans[fault.device].append((max(fault.opened_at, start), until))

    opened = [f for f in store.overlapping(start, end) if start <= f.opened_at < end]
    roots = [f for f in opened if f.symptom_of is None and not f.in_maintenance]
    for fault in opened:
        known.setdefault(fault.device, (fault.site, fault.device_class))
    per_device = Counter(f.device for f in roots)

    rows = []
    for name, (site, device_class) in known.items():
        down = _union_length(down_spans.get(name, ()))
        rows.append(DeviceRow(name, site, device_class, per_device.get(name, 0), down,
                              Availability(name, 1, down, period).pct))
    rows.sort(key=lambda r: (r.availability_pct, -r.faults, r.device))

    def grouped(key) -> tuple[Availability, ...]:
        groups: dict[str, list[DeviceRow]] = defaultdict(list)
        for row in rows:
            groups[key(row)].append(row)
        return tuple(Availability(k, len(v), sum(r.down_s for r in v), period * len(v))
                     for k, v in sorted(groups.items()))

    breaches: list[Breach] = []
    clocked = [f for f in roots if f.has_clocks]
    acknowledge = _clock(clocked, lambda f: f.ack_deadline, _ack_stop, "acknowledge", now, breaches)
    resolve = _clock(clocked, lambda f: f.resolve_deadline, lambda f: f.resolved_at, "resolve", now, breaches)

    by_rule = Counter(f.rule for f in roots)
    by_site = Counter(f.site for f in roots)
    severities = Counter(f.severity for f in roots)
    classes = {name: device_class for name, (_site, device_class) in known.items()}
    over = store.over_budget(year, month, settings.budget, classes, zone)
    offenders = sorted((r for r in rows if r.faults), key=lambda r: (-r.faults, -r.down_s, r.device))[:top_n]

    changes = []
    if config_store is not None:
        for name in sorted(known):
            for version in config_store.history(name):
                if version.number > 1 and start <= version.fetched_at < end:
                    changes.append(ConfigChange(name, version.number, version.fetched_at))
    changes.sort(key=lambda c: (c.at, c.device))

    next_year, next_month = (year + 1, 1) if month == 12 else (year, month + 1)
    return MonthlyReport(
        month=f"{year}-{month:02d}", start=start, end=end, period_end=period_end, generated_at=now, zone=zone,
        deliver_on=workdays.nth_working_day(next_year, next_month, 1),
        due_by=workdays.nth_working_day(next_year, next_month, DUE_WORKING_DAY),
        working_days=workdays.working_days_in(year, month),
        overall=Availability("", len(rows), sum(r.down_s for r in rows), period * len(rows)),
        devices=tuple(rows),
        sites=grouped(lambda r: r.site), classes=grouped(lambda r: r.device_class),
        faults=len(roots),
        symptom_faults=sum(1 for f in opened if f.symptom_of is not None),
        maintenance_faults=sum(1 for f in opened if f.symptom_of is None and f.in_maintenance),
        by_severity=tuple((s, severities.get(s, 0)) for s in SEVERITIES),
        by_rule=tuple(sorted(by_rule.items(), key=lambda i: (-i[1], i[0]))),
        by_site=tuple(sorted(by_site.items(), key=lambda i: (-i[1], i[0]))),
        acknowledge=acknowledge, resolve=resolve,
        breaches=tuple(sorted(breaches, key=lambda b: (b.deadline, b.fault_id, b.clock))),
        budget=settings.budget.faults_per_month, over_budget=tuple(over),
        top_offenders=tuple(offenders), config_changes=tuple(changes),
        watch=tuple(_watch_spans(settings, start, end, zone)))
