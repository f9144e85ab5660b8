"""The meeting calendar (`rollcall:` in the settings) and the daemon's scheduled roll calls.

A meeting is a one-off date-time (`at`), a weekly series (`weekdays` and `time`), or both;
times are local to `faults.timezone` (the machine's zone when it is not set), like every
other calendar of the settings. At each `before` offset (default 30 and 10 minutes before
the start) the daemon calls the roll of the meeting's classes and sites
(monitor.rollcall.call_roll: the record in `<state_dir>/rollcalls/`, the samples through the
daemon's outputs) and sends the roster to the on-call groups through the notification
channels: tier 1 of each group, through the same outbox, rate limit and retries as alerts,
once per roll call (a restart does not send it again), never repeated or escalated.

Why these choices:
- 30 and 10 minutes: 30 leaves time to phone a site and have a codec restarted; 10 confirms
  the fix (and catches a site that switched its terminal off meanwhile).
- A call whose time passed while the daemon was down is not made late: a roster for a
  meeting already under way would only be noise; the record shows which calls were made.
- The loop re-reads the settings every few seconds instead of being told about reloads, so
  an edited calendar takes effect within MAX_SLEEP_S and the daemon needs one line for it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from dataclasses import dataclass
from typing import Annotated, Any, Callable, Optional, Sequence

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from monitor.faults.settings import ClockTime, Seconds, WEEKDAYS, Weekdays
from monitor.i18n import N_, _

log = logging.getLogger("netvigil.rollcall")

MAX_SLEEP_S = 5.0  # the calendar is re-read at least this often (reloads, a wall-clock jump)
MAX_BEFORE_S = 7 * 86400.0  # a roll call a week ahead says nothing about the meeting
NAMES_SHOWN = 100  # absent/degraded endpoints named in one message; the record has all

# Sentences for people, in one place. The roster's texts are translated where used
# (monitor.i18n); the check's sentences stay English like every other settings problem.
TEXT = {
    "title": N_("[ROLL CALL] {meeting} at {start}: {present} present, {degraded} degraded, {absent} absent "
                "of {total}"),
    "title_failed": N_("[ROLL CALL] {meeting} at {start}: not made"),
    "intro": N_("Roll call for \"{meeting}\" (starts {start}, in {lead}), made at {made}:"),
    "counts": N_("{present} present, {degraded} degraded, {absent} absent of {total} endpoints."),
    "absent": N_("Absent ({count}):"),
    "degraded": N_("Degraded ({count}):"),
    "line": N_("  {device} ({site}, {address}): {reasons}"),
    "more": N_("  ... and {count} more (see the record)"),
    "all_present": N_("Every endpoint is present."),
    "record": N_("Record: {file}"),
    "failed": N_("The roll call for \"{meeting}\" (starts {start}) could not be made: {why}"),
    "unknown_class": "unknown class {name!r}{hint}",
    "once_or_weekly": "give `at` (a date-time, or a list of them) and/or `weekdays` with `time`",
    "weekdays_need_time": "weekdays need a time, e.g. time: \"09:00\"",
    "time_needs_weekdays": "time needs weekdays, e.g. weekdays: [mon]; for one meeting use at: 2026-12-15T09:00",
    "before_too_long": "{value} is more than 7 days before the meeting",
    "before_empty": "list at least one offset, e.g. before: [30m, 10m]",
    "unknown_site": "unknown site {name!r}{hint}",
    "no_device": "no device matches {what}: the roll call would have no one to call",
    "no_group": ("the roster would go to no one: set rollcall.groups or notifications.default_groups "
                 "(or this meeting's groups)"),
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _one_or_list(value: Any) -> Any:
    return [value] if isinstance(value, (str, dt.datetime, dt.date, int, float)) else value


class MeetingSettings(_Strict):
    """One meeting (or a weekly series) whose endpoints are called before it starts."""

    name: str = Field(..., min_length=1, max_length=200, description="the meeting's name, in the roster and the record")
    at: Annotated[list[dt.datetime], BeforeValidator(_one_or_list)] = Field(
        [], description="one-off start(s), e.g. 2026-12-15T09:00 (local to faults.timezone without a UTC offset)")
    weekdays: Weekdays = Field([], description="weekly: the days it meets (mon .. sun); needs `time`")
    time: Optional[ClockTime] = Field(None, description='weekly: local start time, "HH:MM" in quotes')
    classes: Annotated[list[str], BeforeValidator(_one_or_list)] = Field(
        [], description="device classes called; []: mcu, codec and phone")
    sites: Annotated[list[str], BeforeValidator(_one_or_list)] = Field(
        [], description="only endpoints at these sites or below them; []: every site")
    before: Annotated[list[Seconds], BeforeValidator(_one_or_list)] = Field(
        [1800.0, 600.0], description="roll calls this long before the start, e.g. [30m, 10m]")
    groups: Annotated[list[str], BeforeValidator(_one_or_list)] = Field(
        [], description="on-call groups the roster goes to; []: rollcall.groups")

    @field_validator("classes")
    @classmethod
    def _known_classes(cls, names: list[str]) -> list[str]:
        from monitor.inventory import DEVICE_CLASSES
        from monitor.problems import did_you_mean

        for name in names:
            if name not in DEVICE_CLASSES:
                raise ValueError(TEXT["unknown_class"].format(name=name, hint=did_you_mean(name, DEVICE_CLASSES)))
        return list(dict.fromkeys(names))

    @field_validator("before")
    @classmethod
    def _offsets(cls, offsets: list[float]) -> list[float]:
        from monitor.faults.model import format_duration

        if not offsets:
            raise ValueError(TEXT["before_empty"])
        for value in offsets:
            if value > MAX_BEFORE_S:
                raise ValueError(TEXT["before_too_long"].format(value=format_duration(value)))
        return sorted(set(offsets), reverse=True)

    @model_validator(mode="after")
    def _once_or_weekly(self) -> "MeetingSettings":
        if self.weekdays and self.time is None:
            raise ValueError(TEXT["weekdays_need_time"])
        if self.time is not None and not self.weekdays:
            raise ValueError(TEXT["time_needs_weekdays"])
        if not self.at and not self.weekdays:
            raise ValueError(TEXT["once_or_weekly"])
        return self

    def starts(self, zone: dt.tzinfo, after: dt.datetime, until: dt.datetime) -> list[dt.datetime]:
        """Its start times in (after, until] (aware datetimes)."""
        found = [(moment if moment.tzinfo else moment.replace(tzinfo=zone)) for moment in self.at]
        if self.weekdays:
            day, last = after.astimezone(zone).date() - dt.timedelta(days=1), until.astimezone(zone).date()
            while day <= last:
                if WEEKDAYS[day.weekday()] in self.weekdays:
                    found.append(dt.datetime.combine(day, self.time, tzinfo=zone))
                day += dt.timedelta(days=1)
        return sorted(moment for moment in set(found) if after < moment <= until)


class RollcallSettings(_Strict):
    """Pre-meeting roll calls the daemon makes from a meeting calendar (monitor.rollcall_schedule)."""

    groups: Annotated[list[str], BeforeValidator(_one_or_list)] = Field(
        [], description="on-call groups the rosters go to; []: notifications.default_groups")
    meetings: list[MeetingSettings] = Field([], description="the meeting calendar: name, at and/or weekdays + "
                                                            "time, classes, sites, before, groups")


def meeting_groups(settings, meeting: MeetingSettings) -> list[str]:
    """The groups a meeting's roster goes to: its own, else rollcall.groups, else the default groups."""
    return list(meeting.groups or settings.rollcall.groups or settings.notifications.default_groups)


def problems(settings, inventory, place: Callable[[tuple], str]) -> list[str]:
    """What `netvigil check` says about the calendar beyond its shape: sites and groups that do not
    exist, a meeting that would call no one, a roster that would go to no one."""
    from monitor.problems import did_you_mean
    from monitor.rollcall import CONFERENCE_CLASSES, select

    found = []
    known_groups = sorted(settings.notifications.groups)
    for index, meeting in enumerate(settings.rollcall.meetings):
        key = ("rollcall", "meetings", index)
        for number, site in enumerate(meeting.sites):
            if site not in inventory.sites:
                found.append(f"{place(key + ('sites', number))}: rollcall.meetings[{index}].sites[{number}]: "
                             + TEXT["unknown_site"].format(name=site, hint=did_you_mean(site, list(inventory.sites))))
        if all(site in inventory.sites for site in meeting.sites):
            classes = tuple(meeting.classes) or CONFERENCE_CLASSES
            if not select(inventory, classes, meeting.sites or None):
                what = f"class {','.join(classes)}" + (f" at {', '.join(meeting.sites)}" if meeting.sites else "")
                found.append(f"{place(key)}: rollcall.meetings[{index}] ({meeting.name}): "
                             + TEXT["no_device"].format(what=what))
        for number, group in enumerate(meeting.groups):
            if group not in settings.notifications.groups:
                found.append(f"{place(key + ('groups', number))}: rollcall.meetings[{index}].groups[{number}]: "
                             f"unknown notification group '{group}'{did_you_mean(group, known_groups)}")
        if not meeting_groups(settings, meeting):
            found.append(f"{place(key)}: rollcall.meetings[{index}] ({meeting.name}): {TEXT['no_group']}")
    for number, group in enumerate(settings.rollcall.groups):
        if group not in settings.notifications.groups:
            found.append(f"{place(('rollcall', 'groups', number))}: rollcall.groups[{number}]: "
                         f"unknown notification group '{group}'{did_you_mean(group, known_groups)}")
    return found


# --- the calendar -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Call:
    """One scheduled roll call: `before_s` ahead of the meeting starting at `start`."""

    due: float  # unix seconds
    meeting: MeetingSettings
    start: dt.datetime
    before_s: float


def calls_between(meetings: Sequence[MeetingSettings], zone: dt.tzinfo, after: float, until: float) -> list[Call]:
    """Roll calls due in (after, until], earliest first."""
    found = []
    for meeting in meetings:
        for offset in meeting.before:
            low = dt.datetime.fromtimestamp(after + offset, dt.timezone.utc)
            high = dt.datetime.fromtimestamp(until + offset, dt.timezone.utc)
            for start in meeting.starts(zone, low, high):
                found.append(Call(start.timestamp() - offset, meeting, start, offset))
    return sorted(found, key=lambda call: (call.due, call.meeting.name))


def next_due(meetings: Sequence[MeetingSettings], zone: dt.tzinfo, now: float,
             horizon_s: float = 8 * 86400.0) -> Optional[float]:
    """When the next roll call is due after `now` (a weekly series has one within 8 days)."""
    upcoming = calls_between(meetings, zone, now, now + horizon_s)
    return upcoming[0].due if upcoming else None


# --- the roster as a notification -----------------------------------------------------------------

def _local(moment: dt.datetime, zone: dt.tzinfo) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def roster_message(done, call: Call, zone: dt.tzinfo):
    """The notification for one finished roll call (monitor.rollcall.RollCall)."""
    from monitor.faults.model import format_duration
    from monitor.notify.message import PAYLOAD_VERSION, Message
    from monitor.rollcall import ABSENT, DEGRADED

    counts = done.record["summary"]
    start = _local(call.start, zone)
    title = _(TEXT["title"]).format(meeting=call.meeting.name, start=start, **counts)
    lines = [_(TEXT["intro"]).format(meeting=call.meeting.name, start=start, lead=format_duration(call.before_s),
                                  made=_local(done.started, zone)),
             _(TEXT["counts"]).format(**counts)]
    listed = {}
    for state, heading in ((ABSENT, "absent"), (DEGRADED, "degraded")):
        members = [entry for entry in done.entries if entry.state == state]
        listed[state] = [{"device": e.device, "site": e.site, "address": e.address, "device_class": e.device_class,
                          "reasons": list(e.reasons)} for e in members]
        if not members:
            continue
        lines += ["", _(TEXT[heading]).format(count=len(members))]
        lines += [_(TEXT["line"]).format(device=e.device, site=e.site, address=e.address,
                                      reasons="; ".join(e.reasons) or "-") for e in members[:NAMES_SHOWN]]
        if len(members) > NAMES_SHOWN:
            lines.append(_(TEXT["more"]).format(count=len(members) - NAMES_SHOWN))
    if not listed[ABSENT] and not listed[DEGRADED]:
        lines += ["", _(TEXT["all_present"])]
    if done.record.get("file"):
        lines += ["", _(TEXT["record"]).format(file=done.record["file"])]
    text = "\n".join(lines)
    payload = {"version": PAYLOAD_VERSION, "event": "rollcall", "severity": None, "title": title, "text": text,
               "note": "", "tier": 1, "faults": [],
               "rollcall": {"id": done.record["id"], "meeting": call.meeting.name, "starts": call.start.isoformat(),
                            "before_s": call.before_s, "summary": counts, "absent": listed[ABSENT],
                            "degraded": listed[DEGRADED], "file": done.record.get("file")}}
    return Message(title, text, payload)


def failure_message(call: Call, zone: dt.tzinfo, why: str):
    from monitor.notify.message import PAYLOAD_VERSION, Message

    start = _local(call.start, zone)
    title = _(TEXT["title_failed"]).format(meeting=call.meeting.name, start=start)
    text = _(TEXT["failed"]).format(meeting=call.meeting.name, start=start, why=why)
    payload = {"version": PAYLOAD_VERSION, "event": "rollcall", "severity": None, "title": title, "text": text,
               "note": "", "tier": 1, "faults": [],
               "rollcall": {"id": None, "meeting": call.meeting.name, "starts": call.start.isoformat(),
                            "before_s": call.before_s, "error": why}}
    return Message(title, text, payload)


# --- in the daemon ----------------------------------------------------------------------------------

async def call_in_daemon(cfg, classes, sites, name: str, submit, extra: Optional[dict] = None):
    """A roll call inside the daemon (the API's and the calendar's): its samples through the
    daemon's outputs (`submit`); SelectionError when the selection cannot be made."""
    from monitor.rollcall import call_roll, selection

    classes, devices = selection(cfg, classes, sites)
    done = await call_roll(cfg, classes, devices, name, submit=submit,
                           site=",".join(sites) if isinstance(sites, (list, tuple)) else sites, extra=extra)
    for problem in done.problems:
        log.warning("rollcall: %s", problem)
    return done


class MeetingRollcalls:
    """The daemon's task: sleep until the next roll call is due, make it, send the roster.

    `config()` is the daemon's current configuration, `submit` its outputs, `dispatcher()` its
    notification dispatcher (None while stopping)."""

    def __init__(self, config: Callable[[], Any], submit: Callable, dispatcher: Callable[[], Any],
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.submit = submit
        self.dispatcher = dispatcher
        self.clock = clock
        self.made = 0  # roll calls made (tests, status)

    async def run(self) -> None:
        since = self.clock()
        while True:
            try:
                since, delay = await self._round(since)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the calendar must outlive a bug; the next round retries
                log.exception("rollcall: the meeting calendar failed; trying again in %g s", MAX_SLEEP_S)
                delay = MAX_SLEEP_S
            await asyncio.sleep(delay)

    async def _round(self, since: float) -> tuple[float, float]:
        """Make the calls due in (since, now]; the new `since` and how long to sleep."""
        cfg = self.config()
        zone = cfg.settings.faults.zone()
        meetings = cfg.settings.rollcall.meetings
        now = self.clock()
        for call in calls_between(meetings, zone, since, now):
            try:
                await self.make(cfg, call, zone)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - one failed roll call must not end the calendar
                log.exception("rollcall: the roll call for %s failed", call.meeting.name)
        due = next_due(meetings, zone, now)
        # Just past the due time: the next round's window (now, due] then holds it.
        return now, MAX_SLEEP_S if due is None else min(MAX_SLEEP_S, max(0.0, due - self.clock()) + 0.01)

    async def make(self, cfg, call: Call, zone: dt.tzinfo) -> None:
        from monitor.rollcall import SelectionError
        from probes.icmp.pinger import IcmpPermissionError

        meeting = call.meeting
        extra = {"meeting": {"starts": call.start.isoformat(), "before_s": call.before_s}}
        try:
            done = await call_in_daemon(cfg, meeting.classes, meeting.sites, meeting.name, self.submit, extra)
        except (SelectionError, IcmpPermissionError) as exc:
            log.error("rollcall: %s: %s", meeting.name, exc)
            self._send(cfg, meeting, failure_message(call, zone, str(exc)),
                       f"rollcall {meeting.name} {call.start.isoformat()} {call.before_s:g}s failed")
            return
        self.made += 1
        counts = done.record["summary"]
        log.info("rollcall: %s (starts %s): %d present, %d degraded, %d absent", meeting.name, _local(call.start, zone),
                 counts["present"], counts["degraded"], counts["absent"])
        self._send(cfg, meeting, roster_message(done, call, zone), f"rollcall {done.record['id']}")

    def _send(self, cfg, meeting: MeetingSettings, message, key: str) -> None:
        dispatcher = self.dispatcher()
        if dispatcher is None:
            return
        channels = dispatcher.announce(meeting_groups(cfg.settings, meeting), message, key)
        if not channels:
            log.warning("rollcall: %s: the roster went to no channel (groups: %s)", meeting.name,
                        ", ".join(meeting_groups(cfg.settings, meeting)) or "none")
