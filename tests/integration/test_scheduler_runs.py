"""The scheduler driving real APScheduler jobs on the event loop (the runner is the test's).

Integration, not unit: these run on the wall clock (about 11 s of sleeps) and their timing
bounds only hold on a machine that is not starved; the bounds are generous for that reason.
The pure half of the scheduler (which batch starts when) is tested in
tests/unit/test_scheduler_plan.py.
"""

import asyncio

import pytest

from monitor.scheduler import Batch, ProbeScheduler, plan
from monitor.scheduler_settings import SchedulerSettings
from probes.base import Target

# serial: lags and rhythms on the wall clock, which other tests busy on the same CPUs would stretch.
pytestmark = [pytest.mark.integration, pytest.mark.serial]


def _batches(n, interval_s=1.0, slot_s=0.25):
    members = [(Target(f"d{i}", f"127.0.0.{i + 1}"), ("g", interval_s), interval_s, None) for i in range(n)]
    return plan("icmp", members, slot_s)


async def test_a_run_still_going_is_not_started_twice_and_is_counted_as_skipped():
    running, overlaps, started = 0, 0, 0

    async def slow_runner(batch):
        nonlocal running, overlaps, started
        started += 1
        running += 1
        overlaps = max(overlaps, running)
        await asyncio.sleep(2.5)  # longer than two intervals
        running -= 1

    scheduler = ProbeScheduler(SchedulerSettings(slot_s=1.0), slow_runner, {"icmp": 10})
    scheduler.arm(_batches(1))
    scheduler.start()
    await asyncio.sleep(4.2)
    await scheduler.shutdown(timeout_s=0.1)
    stats = scheduler.stats()["icmp"]
    assert overlaps == 1
    assert 1 <= started <= 2
    assert stats.skipped_total >= 1
    assert stats.runs_total == started


async def test_a_slow_batch_does_not_delay_the_other_slots():
    starts: dict[str, list[float]] = {}
    loop = asyncio.get_running_loop()

    async def runner(batch):
        name = batch.targets[0].device
        starts.setdefault(name, []).append(loop.time())
        if name == "dead":
            await asyncio.sleep(3)  # the batch of a dead device waits out its timeouts

    names = ["dead", "a", "b", "c"]
    batches = [Batch("icmp", ("g", 1.0), 1.0, i * 0.25, (Target(name, f"127.0.0.{i + 1}"),))
               for i, name in enumerate(names)]
    scheduler = ProbeScheduler(SchedulerSettings(slot_s=0.25), runner, {"icmp": 10})
    scheduler.arm(batches)
    scheduler.start()
    await asyncio.sleep(3.3)
    await scheduler.shutdown(timeout_s=0.1)
    assert len(starts["dead"]) == 1
    assert all(len(starts[name]) >= 3 for name in ("a", "b", "c"))  # kept their 1 s rhythm
    # A slot held up by the dead batch would start about 3 s late; a busy shared machine
    # adds tenths of a second at most.
    assert scheduler.stats()["icmp"].lag_max_s < 2.0


async def test_concurrency_cap_per_kind_is_respected():
    running, peak = 0, 0

    async def runner(batch):
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.6)
        running -= 1

    scheduler = ProbeScheduler(SchedulerSettings(slot_s=0.1), runner, {"icmp": 2})
    scheduler.arm(_batches(10, interval_s=1.0, slot_s=0.1))
    scheduler.start()
    await asyncio.sleep(2.2)
    await scheduler.shutdown(timeout_s=1)
    assert peak == 2
    assert scheduler.stats()["icmp"].runs_total >= 4


async def test_arm_replaces_jobs_on_reload():
    seen = set()

    async def runner(batch):
        seen.update(t.device for t in batch.targets)

    scheduler = ProbeScheduler(SchedulerSettings(slot_s=1.0), runner, {"icmp": 4})
    scheduler.arm(_batches(2))
    scheduler.arm([b for b in plan("icmp", [(Target("new", "127.0.0.9"), ("g", 1.0), 1.0, None)], 1.0)])
    scheduler.start()
    await asyncio.sleep(1.3)
    await scheduler.shutdown(timeout_s=0.5)
    assert seen == {"new"}
    assert scheduler.stats()["icmp"].devices == 1
