"""The fault analysis report (故障分析报告) of one fault: what happened when, the values, the
devices behind it and the written analysis, as titled tables for the renderers.

The contracts want the analysis within one working day of the resolution; the report names
that day (from the holiday calendar) and says whether it has passed without an analysis.
The timeline merges the fault record (opened, acknowledged, notes, resolved, closed), its
contract deadlines and what the notification outbox sent about it (first alerts, escalations,
repeats, clock warnings), oldest first.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Optional, Sequence

from monitor import words
from monitor.faults.errors import AUTO
from monitor.faults.store import Fault
from monitor.i18n import _
from monitor.reports import texts as T
from monitor.reports.tables import Cell, Table, items as item_rows, translated
from monitor.reports.workdays import WorkCalendar


@dataclass(frozen=True)
class Event:
    at: float
    event: str
    by: str = ""
    detail: str = ""


def _clock(has_clocks: bool, stopped: Optional[float], deadline: float, now: float) -> str:
    if not has_clocks:
        return _(T.CLOCK_NONE)
    if (stopped if stopped is not None else now) > deadline:
        return _(T.CLOCK_BREACHED)
    return _(T.CLOCK_RUNNING) if stopped is None else _(T.CLOCK_MET)


def analysis_due(fault: Fault, workdays: WorkCalendar, zone: dt.tzinfo) -> Optional[dt.date]:
    """The working day by whose end the analysis is due: the first working day after the day
    it was resolved (None while unresolved)."""
    if fault.resolved_at is None:
        return None
    return workdays.add_working_days(dt.datetime.fromtimestamp(fault.resolved_at, zone).date(), 1)


def timeline(fault: Fault, notices: Sequence[tuple] = ()) -> list[Event]:
    events = [Event(fault.opened_at, T.E_OPENED, "", f"{words.severity(fault.severity)}: {fault.message}")]
    if fault.has_clocks:
        events += [Event(fault.ack_deadline, T.E_ACK_DEADLINE), Event(fault.resolve_deadline, T.E_RES_DEADLINE)]
    if fault.acknowledged_at is not None:
        events.append(Event(fault.acknowledged_at, T.E_ACKNOWLEDGED, fault.acknowledged_by or ""))
    events += [Event(note.at, T.E_NOTE, note.author, note.text) for note in fault.notes]
    for created_at, sent_at, channel, event, status in notices:
        events.append(Event(sent_at if sent_at is not None else created_at, T.E_NOTICE, "",
                            words.notice(event, channel, status)))
    if fault.resolved_at is not None:
        by = _(T.E_AUTO) if fault.resolved_by == AUTO else (fault.resolved_by or "")
        events.append(Event(fault.resolved_at, T.E_RESOLVED, by))
    if fault.closed_at is not None:
        events.append(Event(fault.closed_at, T.E_CLOSED, fault.closed_by or ""))
    order = {name: rank for rank, name in enumerate(
        (T.E_OPENED, T.E_NOTICE, T.E_ACKNOWLEDGED, T.E_NOTE, T.E_ACK_DEADLINE, T.E_RES_DEADLINE, T.E_RESOLVED,
         T.E_CLOSED))}
    return sorted(events, key=lambda e: (e.at, order[e.event]))


def fault_tables(fault: Fault, symptoms: Sequence[Fault], notices: Sequence[tuple], workdays: WorkCalendar,
                 zone: dt.tzinfo, now: float) -> list[Table]:
    def local(at: Optional[float]) -> Optional[dt.datetime]:
        return None if at is None else dt.datetime.fromtimestamp(at, zone).replace(tzinfo=None)

    def minutes(seconds: Optional[float]) -> Optional[float]:
        return None if seconds is None else round(seconds / 60, 1)

    ack_stop = min((t for t in (fault.acknowledged_at, fault.resolved_at) if t is not None), default=None)
    due = analysis_due(fault, workdays, zone)
    today = dt.datetime.fromtimestamp(now, zone).date()
    late = due is not None and fault.closed_at is None and today > due
    items: list[tuple[str, Cell]] = [
        (T.F_ID, fault.id), (T.F_DEVICE, fault.device), (T.F_SITE, "/".join(fault.site_path) or fault.site),
        (T.F_CLASS, words.device_class(fault.device_class)), (T.F_RULE, fault.rule), (T.F_INSTANCE, fault.instance),
        (T.F_SEVERITY, words.severity(fault.severity)), (T.F_STATE, words.fault_state(fault.state)),
        (T.F_MESSAGE, fault.message),
        (T.F_FIRST, fault.first_value), (T.F_LAST, fault.last_value), (T.F_WORST, fault.worst_value),
        (T.F_THRESHOLD, fault.threshold), (T.F_OCCURRENCES, fault.occurrences),
        (T.F_HEIGHTENED, _(T.YES if fault.heightened else T.NO)), (T.F_MAINTENANCE, fault.maintenance or ""),
        (T.F_SYMPTOM_OF, fault.symptom_of),
        (T.F_TTA, minutes(None if ack_stop is None else ack_stop - fault.opened_at)),
        (T.F_TTR, minutes(fault.time_to_resolve_s)),
        (T.F_ACK_CLOCK, _clock(fault.has_clocks, ack_stop, fault.ack_deadline, now)),
        (T.F_RES_CLOCK, _clock(fault.has_clocks, fault.resolved_at, fault.resolve_deadline, now)),
        (T.F_ANALYSIS_DUE, due), (T.F_ANALYSIS_LATE, _(T.YES if late else T.NO)), (T.S_ZONE, str(zone)),
    ]
    return [
        translated("fault", T.F_FAULT, (T.ITEM, T.VALUE), item_rows(items)),
        # Events are texts.py constants (their order above is by them): translated as shown.
        translated("timeline", T.F_TIMELINE, (T.C_TIME, T.C_EVENT, T.C_BY, T.C_DETAIL),
                   ((local(e.at), _(e.event), e.by, e.detail) for e in timeline(fault, notices))),
        translated("symptoms", T.F_SYMPTOMS, (T.C_FAULT_ID, T.C_DEVICE, T.C_SITE, T.C_OPENED, T.C_RESOLVED),
                   ((s.id, s.device, s.site, local(s.opened_at), local(s.resolved_at)) for s in symptoms)),
        translated("analysis", T.F_ANALYSIS, (T.ITEM, T.VALUE),
                   item_rows((name, value or _(T.NOT_WRITTEN)) for name, value in (
                       (T.A_CAUSE, fault.cause), (T.A_RESOLUTION, fault.resolution),
                       (T.A_PREVENTION, fault.prevention)))),
    ]
