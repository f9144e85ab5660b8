"""Re-arming the scheduler (a reload, a heightened-watch boundary) never costs a device its next run.

These tests read the jobs' planned run times from the real APScheduler instead of waiting for
runs, so they do not depend on how busy the machine is.
"""

import asyncio
import time

from monitor.scheduler import ProbeScheduler, plan
from monitor.scheduler_settings import SchedulerSettings
from probes.base import Target


def _members(names, group=("g", 2.0), interval_s=2.0):
    return [(Target(name, f"127.0.0.{i + 1}"), group, interval_s, None) for i, name in enumerate(names)]


def _next_runs(scheduler: ProbeScheduler) -> dict[str, float]:
    """device -> the earliest planned run that includes it."""
    runs: dict[str, float] = {}
    for job in scheduler._scheduler.get_jobs():
        batch = scheduler._batches[job.id]
        for target in batch.targets:
            runs[target.device] = min(runs.get(target.device, float("inf")), job.next_run_time.timestamp())
    return runs


async def _until(condition, limit_s: float = 10.0) -> None:
    """Wait for runs that are due now (a generous limit: the machine may be busy)."""
    deadline = time.monotonic() + limit_s
    while not condition():
        assert time.monotonic() < deadline, "the due runs did not happen"
        await asyncio.sleep(0.05)


async def _started(batches, runner=None) -> ProbeScheduler:
    async def record(batch):
        pass

    scheduler = ProbeScheduler(SchedulerSettings(slot_s=0.5), runner or record, {"icmp": 10})
    scheduler.arm(batches)
    scheduler.start()
    await asyncio.sleep(0)  # the scheduler computes its jobs' first run times on start
    return scheduler


async def test_rearming_the_same_plan_while_runs_are_due_keeps_the_due_runs():
    ran: list[str] = []

    async def runner(batch):
        ran.extend(t.device for t in batch.targets)

    names = [f"d{i}" for i in range(8)]
    scheduler = await _started(plan("icmp", _members(names), 0.5), runner)
    try:
        time.sleep(2.1)  # the event loop is busy (e.g. a big reload): every slot falls due unserved
        before = _next_runs(scheduler)
        assert all(due <= time.time() for due in before.values())
        scheduler.arm(plan("icmp", _members(names), 0.5))  # the reload: same schedule
        assert _next_runs(scheduler) == before  # still due: nothing was pushed to the next interval
        await _until(lambda: sorted(set(ran)) == names)  # and the due runs happen
    finally:
        await scheduler.shutdown(timeout_s=0.5)


async def test_a_kept_slot_gets_its_new_devices_and_settings_without_moving():
    names = [f"d{i}" for i in range(8)]
    scheduler = await _started(plan("icmp", _members(names), 0.5))
    try:
        jobs_before = {job.id: job.next_run_time for job in scheduler._scheduler.get_jobs()}
        changed = plan("icmp", [(t, g, i, "new settings") for t, g, i, _ in _members(names[:-1] + ["added"])], 0.5)
        scheduler.arm(changed)
        jobs_after = {job.id: job.next_run_time for job in scheduler._scheduler.get_jobs()}
        assert jobs_after == jobs_before  # same slots, same times
        assert {b.settings for b in scheduler._batches.values()} == {"new settings"}
        devices = {t.device for b in scheduler._batches.values() for t in b.targets}
        assert devices == set(names[:-1]) | {"added"}
        assert scheduler.stats()["icmp"].devices == 8
    finally:
        await scheduler.shutdown(timeout_s=0.5)


async def test_a_device_moved_to_another_schedule_is_not_probed_later_than_it_was_due():
    names = [f"d{i}" for i in range(20)]
    scheduler = await _started(plan("icmp", _members(names), 0.5))
    try:
        before = _next_runs(scheduler)
        # A longer interval (another group): the new slots' first runs spread over the next 3 s,
        # so the devices of a third of them would first run after their old slot had them due.
        moved = plan("icmp", _members(names, group=("g", 3.0), interval_s=3.0), 0.5)
        assert len(moved) == 6  # every new slot has devices: some are surely behind their old time
        scheduler.arm(moved)
        after = _next_runs(scheduler)
        assert set(after) == set(names)
        late = {name: (after[name], before[name]) for name in names if after[name] > before[name] + 0.001}
        assert late == {}
        # The one-off runs carry the new schedule's settings; the regular slots are the new ones.
        bridges = [job for job in scheduler._scheduler.get_jobs() if job.id.startswith("bridge:")]
        assert bridges and all(scheduler._batches[job.id].group == ("g", 3.0) for job in bridges)
        regular = [job for job in scheduler._scheduler.get_jobs() if not job.id.startswith("bridge:")]
        assert {t.device for job in regular for t in scheduler._batches[job.id].targets} == set(names)
        assert all(job.id.startswith("icmp:('g', 3.0)") for job in regular)
        assert scheduler.stats()["icmp"].jobs == len(regular) == 6
    finally:
        await scheduler.shutdown(timeout_s=0.5)


async def test_a_one_off_run_happens_once_and_leaves_nothing_behind():
    ran: list[str] = []

    async def runner(batch):
        ran.extend(t.device for t in batch.targets)

    names = [f"d{i}" for i in range(20)]
    scheduler = await _started(plan("icmp", _members(names, group=("g", 1.0), interval_s=1.0), 0.25), runner)
    try:
        scheduler.arm(plan("icmp", _members(names, group=("g", 30.0), interval_s=30.0), 0.25))
        bridged = {t.device for job in scheduler._scheduler.get_jobs() if job.id.startswith("bridge:")
                   for t in scheduler._batches[job.id].targets}
        assert bridged  # most devices' new slot is many seconds away
        await _until(lambda: bridged <= set(ran))
        assert not [job for job in scheduler._scheduler.get_jobs() if job.id.startswith("bridge:")]
        assert not [job_id for job_id in scheduler._batches if job_id.startswith("bridge:")]
    finally:
        await scheduler.shutdown(timeout_s=0.5)


async def test_a_removed_device_is_no_longer_planned_and_its_empty_slot_is_gone():
    scheduler = await _started(plan("icmp", _members(["a", "b"]), 0.5))
    try:
        scheduler.arm(plan("icmp", _members(["a"]), 0.5))
        assert set(_next_runs(scheduler)) == {"a"}
        regular = [job for job in scheduler._scheduler.get_jobs() if not job.id.startswith("bridge:")]
        assert len(regular) == 1 and scheduler.stats()["icmp"].jobs == 1
    finally:
        await scheduler.shutdown(timeout_s=0.5)
