"""When each probe runs: APScheduler jobs, one per (probe kind, settings group, time slot).

Devices that share a probe kind and its run settings form a group; a group is cut into
slots across its interval (a device's slot comes from a hash of its name, so it keeps its
place across reloads) and each slot is one APScheduler interval job that probes all its
devices in one batch. So 7,000 devices at 30 s become 30 jobs of about 233 devices, one
starting every second, instead of 7,000 timers or one thundering sweep.

Rules the jobs keep: a run still going when its next start is due is not started twice
(`max_instances=1`, counted as skipped); a late start runs once (`coalesce`); the number of
runs in progress per kind is capped by a semaphore; the lag between the planned and the
real start is measured and exported. One dead device costs its own batch at most its
timeout and never delays another slot.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable, Hashable, Optional, Sequence

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.schedulers.base import STATE_RUNNING
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from monitor.scheduler_settings import SchedulerSettings
from probes.base import Target

log = logging.getLogger("netvigil.scheduler")

STALL_GRACE_S = 30.0  # see ProbeScheduler.stalled: a busy moment or a slow batch is not a stall


@dataclass(frozen=True)
class Batch:
    """The devices one job probes together, with the settings they share."""

    kind: str
    group: Hashable  # what the devices share, e.g. (count, echo interval, timeout)
    interval_s: float
    offset_s: float  # start within the interval, from an epoch-aligned origin
    targets: tuple[Target, ...]
    settings: Any = field(default=None, compare=False, hash=False)  # the probe's settings for the run

    @property
    def job_id(self) -> str:
        return f"{self.kind}:{self.group}:{self.offset_s:.3f}"


@dataclass
class KindStats:
    """Scheduler health of one probe kind, exported as the `netvigil_scheduler` measurement."""

    devices: int = 0
    jobs: int = 0
    running: int = 0
    runs_total: int = 0
    skipped_total: int = 0
    errors_total: int = 0
    lag_last_s: float = 0.0
    lag_max_s: float = 0.0  # since the last `take_window()`
    run_seconds_last: float = 0.0

    def take_window(self) -> "KindStats":
        snapshot = KindStats(**self.__dict__)
        self.lag_max_s = 0.0
        return snapshot


def plan(kind: str, members: Sequence[tuple[Target, Hashable, float, Any]], slot_s: float) -> list[Batch]:
    """Cut devices into batches: group by what they share, then spread over slots.

    `members` are (target, group key, interval_s, settings); the key must include the
    interval. Slot of a device = crc32(name) mod slots, so reloads and added devices do
    not reshuffle everyone.
    """
    groups: dict[Hashable, tuple[float, Any, list[Target]]] = {}
    for target, group, interval_s, settings in members:
        groups.setdefault(group, (interval_s, settings, []))[2].append(target)
    batches = []
    for group, (interval_s, settings, targets) in groups.items():
        slots = max(1, min(len(targets), math.ceil(interval_s / slot_s)))
        by_slot: list[list[Target]] = [[] for _ in range(slots)]
        for target in targets:
            by_slot[zlib.crc32(target.device.encode()) % slots].append(target)
        for slot, slot_targets in enumerate(by_slot):
            if slot_targets:
                batches.append(Batch(kind, group, interval_s, slot * interval_s / slots, tuple(slot_targets), settings))
    return batches


@dataclass
class _KindControl:
    semaphore: asyncio.Semaphore
    limit: int
    stats: KindStats = field(default_factory=KindStats)
    last_start: float = 0.0  # time.monotonic() of the newest run's start, or of the arm that gave it jobs


class ProbeScheduler:
    """Owns the APScheduler instance; `arm()` (re)builds the jobs from batches."""

    def __init__(self, settings: SchedulerSettings,
                 runner: Callable[[Batch], Awaitable[None]],
                 concurrency: dict[str, int]) -> None:
        self.settings = settings
        self._runner = runner
        self._kinds: dict[str, _KindControl] = {
            kind: _KindControl(asyncio.Semaphore(limit), limit) for kind, limit in concurrency.items()}
        self._batches: dict[str, Batch] = {}
        self._tasks: set[asyncio.Task] = set()
        self._stopping = False
        self._scheduler = AsyncIOScheduler(timezone=timezone.utc)
        self._scheduler.add_listener(self._on_event, EVENT_JOB_MAX_INSTANCES | EVENT_JOB_MISSED | EVENT_JOB_ERROR)
        logging.getLogger("apscheduler").setLevel(logging.WARNING)  # one INFO line per run is noise

    def set_concurrency(self, concurrency: dict[str, int]) -> None:
        for kind, limit in concurrency.items():
            control = self._kinds.get(kind)
            if control is None or control.limit != limit:
                # Runs in progress keep the old semaphore until they end; for that moment the
                # two limits add up, which a reload may afford.
                stats = control.stats if control else KindStats()
                last = control.last_start if control else 0.0
                self._kinds[kind] = _KindControl(asyncio.Semaphore(limit), limit, stats, last)

    def arm(self, batches: Sequence[Batch]) -> None:
        """Apply a plan (start, reload, a heightened-watch boundary) without costing any run.

        A job whose schedule did not change is kept as it is: only its batch (the devices and
        settings of its slot) is swapped, so its next run stays where it was. Removing and
        re-adding every job used to drop the run that was due while a reload kept the loop
        busy (10 SIGHUPs 3 s apart at 500 devices every 5 s missed a slot twice; 50 SIGHUPs in
        a second lost 9 s of runs). Jobs no longer planned are removed; new ones are added.
        A device whose schedule did change (another interval, other settings, another slot)
        gets a one-off run at the time its old schedule had it due next, when that comes
        before its first run on the new schedule: a reload never delays a device's next run.
        """
        now = time.time()
        old_batches = self._batches
        due_next: dict[tuple[str, str], float] = {}  # (kind, device) -> its next planned run
        for job_id, batch in old_batches.items():
            job = self._scheduler.get_job(job_id)
            next_run = getattr(job, "next_run_time", None) if job is not None else None
            if next_run is not None:
                for target in batch.targets:
                    key = (batch.kind, target.device)
                    due_next[key] = min(due_next.get(key, math.inf), next_run.timestamp())
        planned: dict[str, Batch] = {}
        for batch in batches:
            planned[batch.job_id] = batch
        for job_id, batch in old_batches.items():
            kept = planned.get(job_id)
            if kept is None or (kept.interval_s, kept.offset_s) != (batch.interval_s, batch.offset_s):
                job = self._scheduler.get_job(job_id)
                if job is not None:
                    job.remove()
        self._batches = {}
        bridges: dict[tuple[str, float], list[Target]] = {}
        for job_id, batch in planned.items():
            self._batches[job_id] = batch
            job = self._scheduler.get_job(job_id)
            if job is None:
                job = self._add_job(job_id, batch, now)
            first_run = getattr(job, "next_run_time", None)
            first_s = first_run.timestamp() if first_run is not None else self._first_fire(batch, now)
            for target in batch.targets:
                old_due = due_next.get((batch.kind, target.device))
                if old_due is not None and old_due < first_s - 0.001:
                    bridges.setdefault((job_id, round(old_due, 3)), []).append(target)
        for (job_id, due), targets in bridges.items():
            batch = planned[job_id]
            bridge = Batch(batch.kind, batch.group, batch.interval_s, batch.offset_s, tuple(targets), batch.settings)
            bridge_id = f"bridge:{job_id}:{due:.3f}"
            self._batches[bridge_id] = bridge
            self._scheduler.add_job(self._run, DateTrigger(run_date=datetime.fromtimestamp(due, timezone.utc)),
                                    args=(bridge_id, due), id=bridge_id, misfire_grace_time=max(1, int(batch.interval_s)),
                                    replace_existing=True)
        for kind, control in self._kinds.items():
            kind_batches = [b for b in planned.values() if b.kind == kind]
            control.stats.devices = sum(len(b.targets) for b in kind_batches)
            if kind_batches and not control.stats.jobs:
                control.last_start = time.monotonic()  # a kind just given jobs has not stalled yet
            control.stats.jobs = len(kind_batches)

    @staticmethod
    def _origin(batch: Batch, now: float) -> float:
        # Epoch-aligned origin so a slot keeps its second across restarts and reloads.
        return math.floor(now / batch.interval_s) * batch.interval_s + batch.offset_s

    def _first_fire(self, batch: Batch, now: float) -> float:
        origin = self._origin(batch, now)
        return origin if origin >= now else origin + math.ceil((now - origin) / batch.interval_s) * batch.interval_s

    def _add_job(self, job_id: str, batch: Batch, now: float):
        origin = self._origin(batch, now)
        trigger = IntervalTrigger(seconds=batch.interval_s,
                                  start_date=datetime.fromtimestamp(origin, timezone.utc), timezone=timezone.utc)
        return self._scheduler.add_job(self._run, trigger, args=(job_id, origin), id=job_id,
                                       max_instances=1, coalesce=True, misfire_grace_time=max(1, int(batch.interval_s)),
                                       replace_existing=True)

    def start(self) -> None:
        self._scheduler.start()

    async def shutdown(self, timeout_s: float) -> None:
        """Start nothing new; give running batches `timeout_s` to finish, then cancel them.

        APScheduler's own shutdown cancels running coroutine jobs at once (its asyncio
        executor cancels pending futures), which would throw away the samples of a run
        that is a second from done; so pause first, wait for ours, then shut it down.
        """
        self._stopping = True
        if self._scheduler.running:
            self._scheduler.pause()
        running = {task for task in self._tasks if not task.done()}
        if running:
            _done, still = await asyncio.wait(running, timeout=timeout_s)
            for task in still:
                task.cancel()
            if still:
                log.warning("stopping: %d probe run(s) did not finish in %.1f s and were cut", len(still), timeout_s)
                await asyncio.wait(still, timeout=1)
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    def stalled(self, now: Optional[float] = None) -> Optional[str]:
        """Why the schedule is not running, or None: stopped or paused, or a kind with jobs that
        started no run for twice its longest interval plus STALL_GRACE_S (hung runs holding every
        slot of the kind, or jobs that no longer fire). The dead man's switch reads it."""
        if self._stopping or self._scheduler.state != STATE_RUNNING:
            return "the scheduler is not running"
        now = time.monotonic() if now is None else now
        longest: dict[str, float] = {}
        for batch in self._batches.values():
            longest[batch.kind] = max(longest.get(batch.kind, 0.0), batch.interval_s)
        for kind, interval_s in sorted(longest.items()):
            control = self._kinds.get(kind)
            if control is None or not control.last_start:
                continue
            idle = now - control.last_start
            if idle > 2 * interval_s + STALL_GRACE_S:
                return f"no {kind} run has started for {idle:.0f} s (interval {interval_s:g} s)"
        return None

    def stats(self) -> dict[str, KindStats]:
        return {kind: control.stats for kind, control in self._kinds.items()}

    def take_window(self) -> dict[str, KindStats]:
        return {kind: control.stats.take_window() for kind, control in self._kinds.items()}

    async def _run(self, job_id: str, origin: float) -> None:
        batch = self._batches.get(job_id)
        if batch is None:  # removed by a reload while it was queued
            return
        control = self._kinds[batch.kind]
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            async with control.semaphore:
                started = time.time()
                control.last_start = time.monotonic()
                planned = origin + math.floor((started - origin) / batch.interval_s + 1e-9) * batch.interval_s
                lag = max(0.0, started - planned)
                stats = control.stats
                stats.lag_last_s = lag
                stats.lag_max_s = max(stats.lag_max_s, lag)
                stats.runs_total += 1
                stats.running += 1
                if lag > self.settings.lag_warn_s:
                    log.warning("%s: a run of %d devices started %.1f s late (probe capacity or CPU short?)",
                                batch.kind, len(batch.targets), lag)
                try:
                    await self._runner(batch)
                except asyncio.CancelledError:
                    if not self._stopping:
                        raise
                    return  # cut by shutdown after its grace period; already logged there
                except Exception:  # noqa: BLE001 - a probe bug must not stop the schedule
                    stats.errors_total += 1
                    log.exception("%s: run of %d devices failed", batch.kind, len(batch.targets))
                finally:
                    stats.running -= 1
                    stats.run_seconds_last = time.time() - started
        finally:
            if task is not None:
                self._tasks.discard(task)
            if job_id.startswith("bridge:") and self._batches.get(job_id) is batch:
                del self._batches[job_id]  # a one-off run: its job is gone once it fired

    def _on_event(self, event: JobEvent) -> None:
        batch = self._batches.get(event.job_id)
        if batch is None:
            return
        stats = self._kinds[batch.kind].stats
        if event.code == EVENT_JOB_MAX_INSTANCES:
            stats.skipped_total += 1
            log.warning("%s: a run of %d devices was skipped: the previous run was still going "
                        "when it was due (interval %g s)", batch.kind, len(batch.targets), batch.interval_s)
        elif event.code == EVENT_JOB_MISSED:
            stats.skipped_total += 1
            log.warning("%s: a run of %d devices was skipped: it could not start within its interval "
                        "(event loop blocked or CPU short?)", batch.kind, len(batch.targets))
        elif event.code == EVENT_JOB_ERROR:
            stats.errors_total += 1


__all__ = ["Batch", "KindStats", "ProbeScheduler", "plan"]
