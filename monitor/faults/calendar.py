"""Maintenance windows and heightened-watch periods: "is this device in maintenance now?",
"is this a heightened-watch day?", and "when does either answer change next?".

All calendar arithmetic happens in `faults.timezone` with zoneinfo, so a recurring 23:00
window opens at 23:00 local time on both sides of a DST change, and a watch period covers
whole local days (00:00 of its first day to 00:00 after its last). Windows are half-open:
[opens, closes).

The daemon asks about hundreds of devices at the same moment when a core switch fails, so
the set of windows open at a moment is computed once and reused until the next boundary;
each device is then checked against those few windows only.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Iterator, Optional, Sequence

from monitor.faults.model import DeviceInfo, Selector
from monitor.faults.settings import FaultsSettings, Recurrence, SlaSettings, WatchPeriod, parse_day
from monitor.faults.maintenance import MaintenanceWindow

_DAY = dt.timedelta(days=1)
# How far ahead next_change() looks for the next occurrence of a recurring window; beyond
# it the daemon simply asks again later.
_HORIZON_DAYS = 400


@dataclass(frozen=True, slots=True)
class ActiveWindow:
    """One maintenance window open at a moment, with the bounds of its current occurrence."""

    name: str  # as fault records show it: the configured name, or "name (#id)" for CLI-added ones
    selector: Selector
    starts_at: float
    ends_at: float
    window_id: Optional[int] = None  # the store's id for CLI-added windows


def _local(day: dt.date, clock: dt.time, zone: dt.tzinfo) -> float:
    # zoneinfo resolves a time skipped by DST (02:30 on the spring night) with the offset in
    # force before the change, i.e. one hour later on the wall clock; never an error.
    return dt.datetime.combine(day, clock, tzinfo=zone).timestamp()


def _day_of(at: float, zone: dt.tzinfo) -> dt.date:
    return dt.datetime.fromtimestamp(at, zone).date()


@dataclass(frozen=True, slots=True)
class _Window:
    name: str
    selector: Selector
    first: float  # once: opens; recurring: no occurrence opens before this
    last: Optional[float]  # once: closes; recurring: no occurrence opens from this on (None: never ends)
    recurrence: Optional[Recurrence] = None
    ended_at: Optional[float] = None  # ended early by hand
    window_id: Optional[int] = None

    def _stop(self) -> float:
        return math.inf if self.ended_at is None else self.ended_at

    def occurrences(self, from_day: dt.date, zone: dt.tzinfo) -> Iterator[tuple[float, float]]:
        """(opens, closes) in time order, starting with occurrences that open on `from_day`."""
        if self.recurrence is None:
            closes = min(self.last, self._stop())
            if self.first < closes:
                yield self.first, closes
            return
        recurrence, stop = self.recurrence, self._stop()
        last = math.inf if self.last is None else self.last
        day = max(from_day, _day_of(self.first, zone) - _DAY) if math.isfinite(self.first) else from_day
        final_day = from_day + dt.timedelta(days=_HORIZON_DAYS)
        while day <= final_day:
            if recurrence.opens_on(day):
                opens = _local(day, recurrence.start_time, zone)
                if opens >= last or opens >= stop:
                    return
                if opens >= self.first:
                    yield opens, min(opens + recurrence.duration_s, stop)
            day += _DAY

    def _lookback(self, at: float, zone: dt.tzinfo) -> dt.date:
        span = 0 if self.recurrence is None else math.ceil(self.recurrence.duration_s / 86400) + 1
        return _day_of(at, zone) - dt.timedelta(days=span)

    def open_at(self, at: float, zone: dt.tzinfo) -> Optional[tuple[float, float]]:
        found = None
        for opens, closes in self.occurrences(self._lookback(at, zone), zone):
            if opens > at:
                break
            if at < closes:
                found = (opens, closes)  # the latest occurrence that contains `at`
        return found

    def next_boundary(self, at: float, zone: dt.tzinfo) -> Optional[float]:
        best = math.inf
        for opens, closes in self.occurrences(self._lookback(at, zone), zone):
            if opens > best:
                break  # occurrences are in time order: nothing later can be earlier
            for moment in (opens, closes):
                if at < moment < best:
                    best = moment
        return None if best == math.inf else best


@dataclass(frozen=True, slots=True)
class _Period:
    name: str
    start: tuple[Optional[int], int, int]  # (year or None for every year, month, day)
    end: tuple[Optional[int], int, int]

    @classmethod
    def of(cls, period: WatchPeriod) -> "_Period":
        return cls(period.name, parse_day(period.start), parse_day(period.end))

    def covers(self, day: dt.date) -> bool:
        if self.start[0] is not None:
            return dt.date(*self.start) <= day <= dt.date(*self.end)
        key, first, last = (day.month, day.day), self.start[1:], self.end[1:]
        if first <= last:
            return first <= key <= last
        return key >= first or key <= last  # wraps the new year: 12-25 .. 01-05

    def spans(self, around_year: int) -> Iterator[tuple[dt.date, dt.date]]:
        """(first day, day after the last) of each occurrence near `around_year`."""
        if self.start[0] is not None:
            yield dt.date(*self.start), dt.date(*self.end) + _DAY
            return
        wraps = self.start[1:] > self.end[1:]
        for year in (around_year - 1, around_year, around_year + 1):
            yield dt.date(year, *self.start[1:]), dt.date(year + 1 if wraps else year, *self.end[1:]) + _DAY


def _configured(settings: FaultsSettings, zone: dt.tzinfo) -> list[_Window]:
    windows = []
    for window in settings.maintenance:
        recurrence = window.recurrence()
        if recurrence is None:
            opens, closes = (moment if moment.tzinfo else moment.replace(tzinfo=zone)
                             for moment in (window.start, window.end))
            windows.append(_Window(window.name, window.match, opens.timestamp(), closes.timestamp()))
        else:
            first = _local(window.first_date, dt.time(0), zone) if window.first_date else -math.inf
            last = _local(window.last_date + _DAY, dt.time(0), zone) if window.last_date else None
            windows.append(_Window(window.name, window.match, first, last, recurrence))
    return windows


def _from_store(window: MaintenanceWindow) -> _Window:
    return _Window(f"{window.name} (#{window.id})", window.selector, window.starts_at, window.ends_at,
                   window.recurrence, window.ended_at, window.id)


class Calendar:
    """Maintenance windows (configured and CLI-added) and heightened-watch periods."""

    def __init__(self, settings: FaultsSettings, windows_from_store: Sequence[MaintenanceWindow] = ()) -> None:
        self.settings = settings
        self.zone = settings.zone()
        self._configured = _configured(settings, self.zone)
        self._periods = [_Period.of(period) for period in settings.heightened_watch.periods]
        self.set_store_windows(windows_from_store)

    def set_store_windows(self, windows: Sequence[MaintenanceWindow]) -> None:
        """Replace the CLI-added windows (the daemon calls this when the store changed)."""
        self._windows = self._configured + [_from_store(window) for window in windows]
        self._cache: tuple[float, float, list[ActiveWindow]] = (math.inf, -math.inf, [])

    # -- maintenance ---------------------------------------------------------------------

    def active_windows(self, at: float) -> list[ActiveWindow]:
        """Maintenance windows open at `at`, in configuration order, then CLI-added ones."""
        valid_from, valid_until, active = self._cache
        if valid_from <= at < valid_until:
            return active
        active = []
        for window in self._windows:
            found = window.open_at(at, self.zone)
            if found is not None:
                active.append(ActiveWindow(window.name, window.selector, *found, window.window_id))
        # Nothing opens or closes before the next boundary, so the answer holds until then.
        boundaries = [moment for moment in (w.next_boundary(at, self.zone) for w in self._windows)
                      if moment is not None]
        until = min(boundaries, default=math.inf)
        self._cache = (at, min(until, at + _HORIZON_DAYS * 86400.0), active)
        return active

    def maintenance_for(self, device: DeviceInfo, at: float) -> Optional[str]:
        """The name of the first open window that covers `device`, or None."""
        for window in self.active_windows(at):
            if window.selector.matches(device):
                return window.name
        return None

    # -- heightened watch ----------------------------------------------------------------

    def heightened(self, at: float) -> Optional[str]:
        """The name of the heightened-watch period `at` falls in, or None."""
        day = _day_of(at, self.zone)
        for period in self._periods:
            if period.covers(day):
                return period.name
        return None

    def sla(self, at: float) -> SlaSettings:
        """The contract clocks for a fault opening at `at`."""
        return self.settings.heightened_watch.sla if self.heightened(at) else self.settings.sla

    # -- boundaries ----------------------------------------------------------------------

    def next_change(self, at: float) -> Optional[float]:
        """The next moment after `at` when a maintenance window or a watch period starts or
        ends (the daemon wakes then to re-arm probe intervals and send "maintenance over")."""
        moments = [moment for moment in (w.next_boundary(at, self.zone) for w in self._windows)
                      if moment is not None]
        year = _day_of(at, self.zone).year
        for period in self._periods:
            for first, after_last in period.spans(year):
                for day in (first, after_last):
                    moment = _local(day, dt.time(0), self.zone)
                    if moment > at:
                        moments.append(moment)
        return min(moments, default=None)
