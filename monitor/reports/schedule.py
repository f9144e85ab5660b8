"""The daemon's report schedule: the inspection record at `reports.inspection_times` every day,
last month's report on the 1st working day of the month at `reports.monthly_time`, and a
reminder on the working day after a fault was resolved, at `reports.reminder_time`, when its
written analysis is still missing. Times are local to `faults.timezone`; working days come
from the holiday calendar.

Lifecycle: the daemon starts `ReportSchedule(daemon).run()` as a background task; every
`TICK_S` it asks `due_jobs()` (pure: what is due now and not yet recorded), makes each job's
files in a worker thread (monitor/reports/build.py, the same code as `netvigil report ...`),
records the job in the ledger, then sends it to `reports.deliver.channels` through the
notification channels (monitor/notify/channels.py): e-mail gets the files attached, every
other channel a summary and the paths. A channel that fails is tried again every `RETRY_S`,
at most `ATTEMPTS` times. Nothing here stops the daemon: a failure is logged and retried.

Restart safety: the ledger `<state_dir>/report_deliveries.json` records each job when it is
made and each channel when it took the message, written atomically after every change. After
a restart a recorded job is not made again and a channel that took it is not sent it again; a
job only partly delivered goes on with the channels still missing. A slot missed while the
daemon was down is made once at the next start: the most recent inspection slot (with the
values at that start, and saying so), last month's report, every reminder that fell due.
Slots before the ledger was first written (the first start) are not made.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

from monitor.i18n import _
from monitor.reports import texts as T

log = logging.getLogger("netvigil.reports")

LEDGER = "report_deliveries.json"
TICK_S = 10.0  # a slot is made within this of its time; a tick is a few SQLite reads
RETRY_S = 300.0
ATTEMPTS = 12
KEEP_DAYS = 40  # inspection and monthly entries older than this are forgotten (their slots are long past)
LATE_S = 300.0  # an inspection made this long after its slot says it was made late


@dataclass(frozen=True)
class Job:
    key: str  # "inspection 2026-12-07 09:00", "monthly 2026-11", "reminder 12,15"
    kind: str  # inspection | monthly | reminder
    slot: float  # the moment it stands for (unix seconds)
    month: Optional[tuple[int, int]] = None  # monthly: the month reported
    fault_ids: tuple[int, ...] = ()  # reminder


def _at(day: dt.date, clock: dt.time, zone: dt.tzinfo) -> float:
    return dt.datetime.combine(day, clock, tzinfo=zone).timestamp()


def due_jobs(reports, zone: dt.tzinfo, calendar, now: float, floor: float, done: set[str],
             unanalysed: Sequence = ()) -> list[Job]:
    """What is due at `now` and not in `done`: the latest inspection slot, last month's report
    once its delivery moment has come, the reminders whose moment has come. Nothing before
    `floor` (the ledger's first start). `unanalysed`: FaultStore.unanalysed()."""
    from monitor.reports.fault import analysis_due
    from monitor.reports.settings import clock

    jobs = []
    today = dt.datetime.fromtimestamp(now, zone).date()
    slots = [_at(today - dt.timedelta(days=back), t, zone) for back in (0, 1) for t in reports.inspection_clocks()]
    slots = [slot for slot in slots if floor <= slot <= now]
    if slots:
        slot = max(slots)
        key = f"inspection {dt.datetime.fromtimestamp(slot, zone):%Y-%m-%d %H:%M}"
        if key not in done:
            jobs.append(Job(key, "inspection", slot))
    if reports.monthly_time is not None:
        deliver = _at(calendar.nth_working_day(today.year, today.month, 1), clock(reports.monthly_time), zone)
        previous = (today.replace(day=1) - dt.timedelta(days=1))
        key = f"monthly {previous:%Y-%m}"
        if floor <= deliver <= now and key not in done:
            jobs.append(Job(key, "monthly", deliver, month=(previous.year, previous.month)))
    if reports.reminder_time is not None:
        due_ids, latest = [], None
        for fault in unanalysed:
            due = analysis_due(fault, calendar, zone)
            moment = _at(due, clock(reports.reminder_time), zone)
            if floor <= moment <= now and f"reminder {fault.id}" not in done:
                due_ids.append(fault.id)
                latest = moment if latest is None else max(latest, moment)
        if due_ids:
            # One message for every fault due at once; one ledger key per fault, so each is told once.
            jobs.append(Job(f"reminder {','.join(map(str, due_ids))}", "reminder", latest, fault_ids=tuple(due_ids)))
    return jobs


class Ledger:
    """`<state_dir>/report_deliveries.json`: {"since": first start, "jobs": {key: entry}};
    an entry holds the message sent, the channels and what each said, the attempts made."""

    def __init__(self, path: Path, now: float) -> None:
        self.path = path
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            self.since, self.jobs = float(data["since"]), dict(data["jobs"])
        except FileNotFoundError:
            self.since, self.jobs = now, {}
            self.save()
        except (OSError, ValueError, KeyError, TypeError) as exc:
            # A damaged ledger must not stop the reports; starting afresh may at worst repeat
            # the current slot once, never flood with old ones (the floor is now).
            log.error("reports: %s is unreadable (%s); starting a new one", path, exc)
            self.since, self.jobs = now, {}
            self.save()

    def done(self) -> set[str]:
        """The keys made already: a reminder entry covers one key per fault it told of."""
        return {covered for key, entry in self.jobs.items() for covered in entry.get("covers", [key])}

    def save(self) -> None:
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps({"since": self.since, "jobs": self.jobs}, ensure_ascii=False, indent=1),
                             encoding="utf-8")
        os.replace(temporary, self.path)

    def forget_old(self, now: float, unanalysed_ids: set[int]) -> None:
        def keep(key: str, entry: dict) -> bool:
            if entry.get("fault_ids"):  # kept while one of its faults could be reminded of again
                return any(fault_id in unanalysed_ids for fault_id in entry["fault_ids"])
            return now - entry.get("made_at", now) < KEEP_DAYS * 86_400
        self.jobs = {key: entry for key, entry in self.jobs.items() if keep(key, entry)}

    def pending(self, now: float) -> list[tuple[str, dict]]:
        return [(key, entry) for key, entry in self.jobs.items()
                if any(state != "sent" for state in entry["channels"].values())
                and entry["attempts"] < ATTEMPTS and entry["next_try"] <= now]


class ReportSchedule:
    """Runs in the daemon; reads `daemon.cfg`, `daemon.states` and `daemon.readings` on the
    event loop's thread, and `daemon.fault_store` on its fault thread (or in a thread of
    its own for a report)."""

    def __init__(self, daemon, clock=time.time) -> None:
        self.daemon = daemon
        self.clock = clock
        self.ledger = Ledger(daemon.cfg.settings.state_dir / LEDGER, clock())
        self._calendar_key: Optional[tuple] = None
        self._calendar = None
        self._failed: dict[str, float] = {}  # job key -> when making it last failed (tried again after RETRY_S)

    async def run(self) -> None:
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the schedule must never stop the daemon
                from monitor.faults.manager import log_store_failure  # the fault records away: one line

                log_store_failure("reports: the schedule failed; trying again in %g s", TICK_S)
            await asyncio.sleep(TICK_S)

    def _workdays(self, settings):
        from monitor.reports.build import workdays

        key = tuple(settings.reports.holiday_files)
        if key != self._calendar_key:  # read once per set of files (they are checked when settings load)
            self._calendar, self._calendar_key = workdays(settings), key
        return self._calendar

    async def tick(self) -> None:
        settings = self.daemon.cfg.settings
        now = self.clock()
        zone = settings.faults.zone()
        store, thread = self.daemon.fault_store, getattr(self.daemon, "fault_thread", None)
        if store is None:
            unanalysed = []
        elif thread is not None:  # a slow database must not hold up the loop
            unanalysed = await thread.call(store.unanalysed)
        else:
            unanalysed = store.unanalysed()
        for job in due_jobs(settings.reports, zone, self._workdays(settings), now, self.ledger.since,
                            self.ledger.done(), unanalysed):
            if now - self._failed.get(job.key, -RETRY_S) >= RETRY_S:
                await self._make(job, now, [f for f in unanalysed if f.id in job.fault_ids])
        for key, entry in self.ledger.pending(now):
            await self._send(key, entry)
        self.ledger.forget_old(now, {fault.id for fault in unanalysed})

    async def _make(self, job: Job, now: float, faults: Sequence) -> None:
        settings = self.daemon.cfg.settings
        try:
            if job.kind == "inspection":
                from monitor.reports.readings import snapshot_from_rows

                source = _(T.SOURCE_DAEMON).format(pid=os.getpid())
                snapshot = snapshot_from_rows(now, self.daemon.states.rows(), self.daemon.readings.rows(), source,
                                              settings.reports.inspection_window_s)
                message = await asyncio.to_thread(self._inspection, settings, snapshot, job, now)
            elif job.kind == "monthly":
                message = await asyncio.to_thread(self._monthly, self.daemon.cfg, job, now)
            else:
                message = _reminder(faults, settings.faults.zone(), self._workdays(settings))
        except Exception as exc:  # noqa: BLE001 - logged with the job; tried again after RETRY_S
            self._failed[job.key] = now
            log.error("reports: could not make %s: %s; trying again in %g s", job.key, exc, RETRY_S)
            return
        self._failed.pop(job.key, None)
        channels = list(settings.reports.deliver.channels)
        self.ledger.jobs[job.key] = {
            "made_at": now, "slot": job.slot, "title": message["title"], "text": message["text"],
            "payload": message["payload"], "files": message["files"], "attempts": 0, "next_try": now,
            "channels": {name: "pending" for name in channels}}
        if job.fault_ids:
            self.ledger.jobs[job.key].update(fault_ids=list(job.fault_ids),
                                             covers=[f"reminder {fault_id}" for fault_id in job.fault_ids])
        self.ledger.save()
        log.info("reports: %s made%s%s", job.key, f": {', '.join(message['files'])}" if message["files"] else "",
                 f"; sending to {', '.join(channels)}" if channels else "; reports.deliver.channels is empty")

    def _inspection(self, settings, snapshot, job: Job, now: float) -> dict:
        from monitor.reports.build import inspection_record, write_inspection
        from monitor.reports.inspection import previous_slot, summary_line

        zone = settings.faults.zone()
        record = inspection_record(settings, snapshot,
                                   previous_slot(job.slot, settings.reports.inspection_clocks(), zone))
        note = ""
        if now - job.slot > LATE_S:
            note = _(T.M_LATE).format(made=f"{dt.datetime.fromtimestamp(now, zone):%Y-%m-%d %H:%M}",
                                      slot=f"{dt.datetime.fromtimestamp(job.slot, zone):%Y-%m-%d %H:%M}")
        paths = write_inspection(record, settings.reports.out_dir, settings.reports.deliver.formats, now, note,
                                 slot=job.slot)
        title = f"{_(T.INSPECTION_TITLE)} {dt.datetime.fromtimestamp(job.slot, zone):%Y-%m-%d %H:%M}"
        summary = summary_line(record)
        abnormal = record.abnormal()
        figures = {"devices": len(record.devices), "up": record.count(T.STATE_UP), "down": record.count(T.STATE_DOWN),
                   "no_data": record.count(T.STATE_NO_DATA), "open_faults": len(record.open_faults),
                   "new_faults": len(record.new_faults), "ups_not_normal": abnormal["ups"],
                   "sensors_not_normal": abnormal["env"], "disks_not_normal": abnormal["disks"]}
        return _report_message("inspection", title, "\n".join(filter(None, [summary, note])), paths, figures)

    def _monthly(self, cfg, job: Job, now: float) -> dict:
        from monitor.reports.build import monthly_report, write_monthly

        settings = cfg.settings
        report = monthly_report(cfg, *job.month, now, self._workdays(settings))
        paths = write_monthly(report, settings.reports.out_dir, settings.reports.deliver.formats, cfg)
        if not self._workdays(settings).covers(report.due_by.year):
            log.warning("reports: no holiday file covers %d: the monthly report's due day %s counts only weekends "
                        "as days off; add that year's calendar to reports.holiday_files", report.due_by.year,
                        report.due_by)
        figures = {"month": report.month, "availability_pct": round(report.overall.pct, 3), "faults": report.faults,
                   "acknowledge_breached": report.acknowledge.breached, "resolve_breached": report.resolve.breached,
                   "due_by": report.due_by.isoformat()}
        summary = _(T.M_MONTHLY_LINE).format(
            month=report.month, availability=report.overall.pct, faults=report.faults,
            ack_breached=report.acknowledge.breached, res_breached=report.resolve.breached, due=report.due_by)
        return _report_message("monthly", f"{_(T.MONTHLY_TITLE)} {report.month}", summary, paths, figures)

    async def _send(self, key: str, entry: dict) -> None:
        from monitor.notify.channels import build
        from monitor.notify.message import Message

        configured = self.daemon.cfg.settings.notifications.channels
        message = Message(entry["title"], entry["text"], entry["payload"],
                          attachments=tuple(entry["files"]) if entry["payload"].get("report") != "reminder" else ())
        entry["attempts"] += 1
        for name, state in list(entry["channels"].items()):
            if state == "sent":
                continue
            if name not in configured:
                entry["channels"][name] = "failed: the channel is no longer configured"
                continue
            channel = build(name, configured[name])
            try:
                delivery = await channel.send(message)
            finally:
                await channel.close()
            entry["channels"][name] = "sent" if delivery.ok else f"failed: {delivery.error}"
            if delivery.ok:
                log.info("reports: %s sent to %s", key, name)
            else:
                last = entry["attempts"] >= ATTEMPTS or delivery.permanent
                log.error("reports: %s could not be sent to %s: %s%s", key, name, delivery.error,
                          "; giving up" if last else f"; trying again in {RETRY_S:g} s")
                if delivery.permanent:
                    entry["attempts"] = ATTEMPTS
            self.ledger.save()  # after every channel: a restart must not send it again
        entry["next_try"] = self.clock() + RETRY_S
        self.ledger.save()


def _report_message(kind: str, title: str, summary: str, paths: Sequence[Path], figures: dict) -> dict:
    files = [str(path) for path in paths]
    text = "\n".join([summary, "", _(T.M_FILES), *[f"  {path}" for path in files]])
    full_title = _(T.M_REPORT).format(title=title)
    payload: dict[str, Any] = {"version": 1, "event": "report", "report": kind, "severity": None,
                               "title": full_title, "text": text, "note": "", "tier": None, "files": files,
                               "figures": figures, "faults": []}
    return {"title": full_title, "text": text, "payload": payload, "files": files}


def _reminder(faults: Sequence, zone: dt.tzinfo, calendar) -> dict:
    from monitor.reports.fault import analysis_due

    blocks, records = [], []
    for fault in faults:
        due = analysis_due(fault, calendar, zone)
        resolved = f"{dt.datetime.fromtimestamp(fault.resolved_at, zone):%Y-%m-%d %H:%M}"
        site = "/".join(fault.site_path) or fault.site
        fields = {"id": fault.id, "device": fault.device, "rule": fault.rule, "severity": fault.severity,
                  "site": site, "resolved": resolved, "due": due.isoformat()}
        blocks.append(_(T.M_REMINDER_TEXT).format(**fields))
        records.append({**fields, "resolved_at": fault.resolved_at})
    first = records[0]
    title = _(T.M_REMINDER_TITLE).format(**first)
    if len(records) > 1:
        title += f" (+{len(records) - 1})"
    text = "\n\n".join(blocks)
    payload = {"version": 1, "event": "report", "report": "reminder", "severity": None, "title": title,
               "text": text, "note": "", "tier": None, "files": [], "figures": {"faults": len(records)},
               "faults": records}
    return {"title": title, "text": text, "payload": payload, "files": []}
