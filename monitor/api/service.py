"""What the HTTP handlers call: fault records, maintenance windows, status, health, metrics.

The handlers speak HTTP and JSON; this layer speaks the fault store and the daemon. In the
daemon a change goes through the FaultManager (an acknowledgement stops escalation at once,
a manual resolve resets the rule's state); without one (a store opened on its own, as in
tests or a read-only API) it goes straight to the store, and a running daemon notices it
through SQLite's data_version like a CLI change.

Store calls run on the event loop thread, as the manager's own do: the manager's state is not
thread-safe, and a local SQLite write takes well under a millisecond.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import logging
import time
from typing import Any, Awaitable, Callable, Iterable, Optional

from monitor.api.settings import ApiSettings
from monitor.faults.model import DeviceInfo, SEVERITIES, Selector, format_duration

log = logging.getLogger("netvigil.api")

MAX_MAINTENANCE_S = 366 * 86400.0  # longer than a year is a configuration matter (faults.maintenance)
MAX_AHEAD_S = 5 * 365 * 86400.0  # planned work further ahead than this is a typo in the year


class BadRequest(ValueError):
    """The request is well-formed JSON but asks for something impossible; str() is a sentence (400)."""


class Unavailable(LookupError):
    """This daemon does not offer what was asked for (e.g. no budget settings); str() is a sentence (404)."""


class CannotNow(RuntimeError):
    """What was asked for exists but cannot be done now (e.g. no ICMP socket for a roll call);
    str() is a sentence (503)."""


class HealthCheck:
    """`/healthz` from the daemon's summary: cheap (no I/O), with a sentence per problem.

    Unhealthy when an output has been failing to write for longer than
    `healthz_output_unhealthy_s` (a short outage is what the spool is for), or when the last
    probe run of a kind started more than `healthz_max_lag_s` late (the scheduler cannot keep
    up, so "down" is detected late too)."""

    def __init__(self, settings: ApiSettings, summary: Callable[[], dict],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.summary = summary
        self.clock = clock
        self._failing_since: dict[str, float] = {}

    def __call__(self) -> tuple[bool, dict]:
        now = self.clock()
        summary = self.summary()
        problems = []
        outputs = summary.get("outputs") or []
        for output in outputs:
            name = output.get("name", "?")
            if output.get("healthy", True):
                self._failing_since.pop(name, None)
                continue
            since = self._failing_since.setdefault(name, now)
            if now - since >= self.settings.healthz_output_unhealthy_s:
                problems.append(f"output {name} has failed to write for {format_duration(now - since)}"
                                + (f": {output['last_error']}" if output.get("last_error") else ""))
        for name in [name for name in self._failing_since if name not in {o.get("name") for o in outputs}]:
            del self._failing_since[name]  # removed by a reload
        for kind, stats in sorted((summary.get("scheduler") or {}).items()):
            lag = stats.get("lag_last_s") or 0.0
            limit = self.settings.healthz_max_lag_s
            if lag > limit:
                problems.append(f"{kind} probe runs start {lag:.0f} s late (limit {limit:g} s); "
                                f"the scheduler cannot keep up")
        body = {"status": "unhealthy" if problems else "ok", "problems": problems,
                "devices": summary.get("devices"), "down": summary.get("down")}
        if summary.get("started_at") is not None:
            body["uptime_s"] = round(time.time() - summary["started_at"], 1)
        return not problems, body


def budget_report(store, faults_settings, classes: dict[str, str], now: Optional[float] = None) -> dict:
    """This month's faults against the contract budget (GET /budget): `faults_settings` is
    the `faults:` settings (budget and timezone), `classes` maps device names to classes."""
    zone = faults_settings.zone()
    local = dt.datetime.fromtimestamp(time.time() if now is None else now, zone)
    budget = faults_settings.budget
    over = store.over_budget(local.year, local.month, budget, classes, zone)
    return {"year": local.year, "month": local.month, "faults_per_month": budget.faults_per_month,
            "classes": list(budget.classes),
            "over_budget": [{"device": device, "faults": count} for device, count in over]}


class FaultService:
    """The API's view of the daemon. Every public method returns JSON-safe data."""

    def __init__(self, store=None, *, manager=None, status: Optional[Callable[[], dict]] = None,
                 health: Optional[Callable[[], tuple[bool, dict]]] = None,
                 metrics: Optional[Callable[[], dict]] = None, budget: Optional[Callable[[], dict]] = None,
                 zone: Optional[dt.tzinfo] = None, clock: Callable[[], float] = time.time,
                 rollcall: Optional[Callable[..., Awaitable[dict]]] = None,
                 run: Optional[Callable[..., Awaitable[Any]]] = None) -> None:
        if store is None and manager is None:
            raise TypeError("FaultService needs a store or a manager")
        self.manager = manager
        self.store = store if store is not None else manager.store
        self._status = status
        self._health = health
        self._metrics = metrics
        self._budget = budget
        self._rollcall = rollcall
        self._run = run
        self.zone = zone  # for date-times without a UTC offset; None: the machine's zone
        self.clock = clock

    async def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """`fn(...)` where the fault records are used: on the daemon's fault thread (`run`:
        monitor/faults/thread.py, so a slow database never holds up the loop), else here."""
        if self._run is None:
            return fn(*args, **kwargs)
        return await self._run(fn, *args, **kwargs)

    # -- faults ---------------------------------------------------------------------------------

    def list_faults(self, *, open_only: bool = False, site: Optional[str] = None, device: Optional[str] = None,
                    since: Optional[float] = None, limit: int = 200) -> list[dict]:
        faults = self.store.list(open_only=open_only, site=site, device=device, since=since, limit=limit)
        return [fault.to_dict(self.zone) for fault in faults]

    def get_fault(self, fault_id: int) -> dict:
        fault = self.store.get(fault_id)
        data = fault.to_dict(self.zone)
        data["symptoms"] = [symptom.to_dict(self.zone) for symptom in self.store.symptoms_of(fault_id)]
        return data

    def acknowledge(self, fault_id: int, by: str, note: Optional[str] = None) -> dict:
        if self.manager is not None:
            return self.manager.acknowledge(fault_id, by, note).to_dict(self.zone)
        return self.store.acknowledge(fault_id, by, note=note).to_dict(self.zone)

    def resolve(self, fault_id: int, by: str, note: Optional[str] = None) -> dict:
        if self.manager is not None:
            return self.manager.resolve(fault_id, by, note).to_dict(self.zone)
        return self.store.resolve(fault_id, by, note=note).to_dict(self.zone)

    def close(self, fault_id: int, by: str, *, cause: str, resolution: str, prevention: str) -> dict:
        target = self.manager if self.manager is not None else self.store
        return target.close(fault_id, by, cause=cause, resolution=resolution, prevention=prevention).to_dict(self.zone)

    def add_note(self, fault_id: int, author: str, text: str) -> dict:
        return self.store.add_note(fault_id, author, text).to_dict(self.zone)

    # -- maintenance ------------------------------------------------------------------------------

    def list_maintenance(self, include_ended: bool = False) -> list[dict]:
        return [window.to_dict(self.zone) for window in self.store.maintenance.list(include_ended=include_ended)]

    def add_maintenance(self, name: str, selector: Selector, *, start: Optional[str], end: Optional[str],
                        duration_s: Optional[float], by: str) -> dict:
        """A one-off window from `start` (ISO 8601; default now) to `end` or for `duration_s`."""
        now = self.clock()
        if selector.is_empty():
            raise BadRequest("match: say which devices are in maintenance (devices, sites, classes or tags); "
                             "for every device write {\"devices\": [\"*\"]}")
        unknown = self._unknown_references(selector)
        if unknown:
            raise BadRequest("match: " + "; ".join(unknown))
        starts_at = self._timestamp(start, "start") if start is not None else now
        if (end is None) == (duration_s is None):
            raise BadRequest("give either end (an ISO date-time) or duration (e.g. \"2h\"), not both or neither")
        if duration_s is not None:
            if duration_s <= 0 or duration_s > MAX_MAINTENANCE_S:
                raise BadRequest("duration must be more than 0 and at most 366 days; longer windows belong in "
                                 "faults.maintenance in the settings file")
            ends_at = starts_at + duration_s
        else:
            ends_at = self._timestamp(end, "end")
        if ends_at <= starts_at:
            raise BadRequest(f"end {self._shown(ends_at)} is not after start {self._shown(starts_at)}")
        if ends_at <= now:
            raise BadRequest(f"the window would already be over (it ends {self._shown(ends_at)})")
        if ends_at > now + MAX_AHEAD_S:  # also keeps every time printable (year 9999 + 2h is not)
            raise BadRequest(f"the window ends more than {MAX_AHEAD_S / (365 * 86400):.0f} years from now; "
                             f"check start and end")
        if ends_at - starts_at > MAX_MAINTENANCE_S:
            raise BadRequest("a window lasts at most 366 days; longer windows belong in faults.maintenance "
                             "in the settings file")
        window = self.store.maintenance.add(name, selector, starts_at, ends_at, by=by)
        self._refresh_calendar()
        log.info("maintenance %s '%s' added by %s through the API: %s", window.id, name, by, selector.describe())
        return window.to_dict(self.zone)

    def end_maintenance(self, window_id: int, by: str) -> dict:
        window = self.store.maintenance.end(window_id, by=by)
        self._refresh_calendar()
        log.info("maintenance %s ended by %s through the API", window_id, by)
        return window.to_dict(self.zone)

    def _refresh_calendar(self) -> None:
        changed = getattr(self.manager, "maintenance_changed", None)
        if changed is not None:  # the daemon's manager: also looks for faults whose window ended
            changed()
            return
        calendar = getattr(self.manager, "calendar", None)
        refresh = getattr(calendar, "set_store_windows", None)
        if refresh is not None:
            refresh(self.store.maintenance.list())

    def _unknown_references(self, selector: Selector) -> list[str]:
        """Names that match nothing in the inventory (a typo would silence nobody); only known
        when the manager (and so the inventory) is at hand."""
        devices: Iterable[DeviceInfo] = list(getattr(self.manager, "devices", {}).values()) if self.manager else []
        if not devices:
            return []
        problems = []
        sites = {site for device in devices for site in device.site_path}
        classes = {device.device_class for device in devices}
        tags = {tag for device in devices for tag in device.tags}
        names = [device.name for device in devices]
        for site in selector.sites:
            if site not in sites:
                problems.append(f"no site named {site!r}")
        for name in selector.classes:
            if name not in classes:
                problems.append(f"no device of class {name!r}")
        for tag in selector.tags:
            if tag not in tags:
                problems.append(f"no device has the tag {tag!r}")
        for pattern in selector.devices:
            if not any(name == pattern or fnmatch.fnmatchcase(name, pattern) for name in names):
                problems.append(f"no device matches {pattern!r}")
        return problems

    def _timestamp(self, text: str, what: str) -> float:
        try:
            parsed = dt.datetime.fromisoformat(text.strip())
        except ValueError:
            raise BadRequest(f"{what}: {text[:40]!r} is not an ISO 8601 date-time; write e.g. 2026-11-21T22:00 "
                             f"(local time) or 2026-11-21T14:00Z") from None
        try:
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=self.zone) if self.zone is not None else parsed.astimezone()
            return parsed.timestamp()
        except (OverflowError, OSError, ValueError):  # year 1 or 9999 at the edge of the platform's range
            raise BadRequest(f"{what}: {text[:40]!r} is out of range") from None

    def _shown(self, seconds: float) -> str:
        try:
            return dt.datetime.fromtimestamp(seconds, self.zone).isoformat(timespec="seconds")
        except (ValueError, OverflowError, OSError):  # a time outside what datetime can show
            return f"{seconds:.0f} (unix seconds)"

    # -- daemon ---------------------------------------------------------------------------------

    def status(self) -> dict:
        return self._status() if self._status is not None else {}

    def health(self) -> tuple[bool, dict]:
        if self._health is None:
            return True, {"status": "ok", "problems": []}
        return self._health()

    def budget(self) -> dict:
        if self._budget is None:
            raise Unavailable("the fault budget is not available here (no faults.budget settings were given "
                              "to the API)")
        return self._budget()

    async def rollcall(self, classes: Optional[list[str]], site: Optional[str], name: Optional[str]) -> dict:
        """A pre-meeting roll call now (monitor.rollcall): its record; a selection that cannot be
        made is a BadRequest sentence."""
        if self._rollcall is None:
            raise Unavailable("roll calls are not available here (only the daemon runs them)")
        from monitor.rollcall import SelectionError
        from probes.icmp.pinger import IcmpPermissionError

        try:
            return await self._rollcall(classes, site, name or "")
        except SelectionError as exc:
            raise BadRequest(str(exc)) from None
        except IcmpPermissionError as exc:
            raise CannotNow(f"the roll call cannot send ICMP echoes: {exc}") from None

    def metrics(self, fault_counts: Optional[dict] = None) -> dict:
        """The snapshot monitor.api.metrics reads: the daemon's part (`metrics` callable:
        scheduler, outputs, devices, notifications, started_at), fault counts from the store
        (`fault_counts()`, read before where the records are used, or here), and the fault
        manager's counters."""
        snapshot = dict(self._metrics() if self._metrics is not None else {})
        snapshot.setdefault("faults", fault_counts if fault_counts is not None else self.fault_counts())
        if self.manager is not None:
            snapshot.setdefault("rules", dict(self.manager.stats))
        return snapshot

    def fault_counts(self) -> dict:
        now = self.clock()
        faults = self.store.unresolved()
        by_severity = {severity: 0 for severity in SEVERITIES}
        counts = {"open": by_severity, "unacknowledged": 0, "symptoms": 0, "in_maintenance": 0,
                  "sla_breached": {"acknowledge": 0, "resolve": 0}}
        for fault in faults:
            by_severity[fault.severity] = by_severity.get(fault.severity, 0) + 1
            if fault.symptom_of is not None:
                counts["symptoms"] += 1
            if fault.in_maintenance:
                counts["in_maintenance"] += 1
            if not fault.has_clocks:  # symptoms and planned work: no contract clock, nobody paged
                continue
            if fault.acknowledged_at is None:
                counts["unacknowledged"] += 1
            if fault.ack_breached or (fault.acknowledged_at or now) > fault.ack_deadline:
                counts["sla_breached"]["acknowledge"] += 1
            if fault.resolve_breached or now > fault.resolve_deadline:
                counts["sla_breached"]["resolve"] += 1
        return counts
