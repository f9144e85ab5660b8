"""The fault manager's thread (monitor/faults/thread.py): calls run off the loop, one at a time,
in the order they were made; what comes back runs on the loop."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest

from monitor.faults.thread import HANDOVER_S, FaultThread


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []
        self.threads: set[int] = set()

    def __call__(self, what: str):
        def record(arg=None):
            self.threads.add(threading.get_ident())
            self.calls.append((what, arg))
            return f"{what} done"
        record.__name__ = what
        return record


async def test_calls_run_on_one_other_thread_in_the_order_they_were_made():
    thread = FaultThread(asyncio.get_running_loop())
    seen = Recorder()
    thread.samples(seen("process"), [1, 2])
    thread.samples(seen("process"), [3])  # within HANDOVER_S: one batch
    thread.post(seen("housekeeping"))
    thread.samples(seen("process"), [4])
    assert await thread.call(seen("acknowledge"), 12) == "acknowledge done"
    await asyncio.sleep(0)
    thread.samples(seen("process"), [5])
    await asyncio.sleep(HANDOVER_S * 3)  # handed over by itself
    assert seen.calls[-1] == ("process", [5])
    await thread.close()
    assert seen.calls == [("process", [1, 2, 3]), ("housekeeping", None), ("process", [4]), ("acknowledge", 12),
                          ("process", [5])]
    assert len(seen.threads) == 1 and threading.get_ident() not in seen.threads


async def test_what_comes_back_runs_on_the_loop():
    loop = asyncio.get_running_loop()
    thread = FaultThread(loop)
    got: list[tuple[str, bool]] = []
    done = asyncio.Event()

    def submit(samples) -> None:
        got.append((samples, threading.get_ident() == thread._loop_thread))
        done.set()

    back = thread.to_loop(submit)
    thread.post(back, "from the thread")
    await asyncio.wait_for(done.wait(), 5)
    back("from the loop")  # at once: already there
    assert got == [("from the thread", True), ("from the loop", True)]
    assert not await thread.call(thread.on_loop) and thread.on_loop()
    await thread.close()


async def test_a_failing_call_is_logged_and_the_next_ones_run(caplog):
    thread = FaultThread(asyncio.get_running_loop())
    seen = Recorder()

    def broken() -> None:
        raise RuntimeError("a bug")

    thread.post(broken)
    thread.post(seen("housekeeping"))
    with pytest.raises(ValueError, match="bad id"):
        await thread.call(int, "bad id")
    with caplog.at_level(logging.ERROR, logger="netvigil.faults"):
        await thread.close()
    assert seen.calls == [("housekeeping", None)]
    assert any(r.getMessage().endswith(".broken failed") and r.exc_info for r in caplog.records)


async def test_close_lets_what_was_handed_over_finish():
    thread = FaultThread(asyncio.get_running_loop())
    seen = Recorder()
    release = threading.Event()
    thread.post(release.wait, 5)
    thread.samples(seen("process"), ["last"])
    closing = asyncio.create_task(thread.close())
    await asyncio.sleep(0.05)
    assert not closing.done() and seen.calls == []
    release.set()
    await asyncio.wait_for(closing, 5)
    assert seen.calls == [("process", ["last"])]


async def test_after_close_hand_overs_are_dropped_and_calls_refused():
    thread = FaultThread(asyncio.get_running_loop())
    seen = Recorder()
    await thread.close()
    thread.samples(seen("process"), ["after the end"])  # the last probe results of a stopping daemon
    thread.post(seen("housekeeping"))
    await asyncio.sleep(HANDOVER_S * 2)
    with pytest.raises(RuntimeError):
        await thread.call(seen("acknowledge"), 1)
    assert seen.calls == []


async def test_a_call_that_hangs_does_not_hold_up_the_stop(caplog):
    """A store call stuck on a dead network: the daemon stops without it, saying where it was
    (the thread is a daemon thread, so the process can still exit)."""
    thread = FaultThread(asyncio.get_running_loop())
    release = threading.Event()

    def stuck_in_the_database() -> None:
        release.wait(10)

    thread.post(stuck_in_the_database)
    with caplog.at_level(logging.ERROR, logger="netvigil.faults"):
        await asyncio.wait_for(thread.close(timeout_s=0.2), 5)
    [record] = [r for r in caplog.records if "still in" in r.getMessage()]
    assert "stuck_in_the_database after 0.2 s; stopping without it" in record.getMessage()
    assert thread._thread.daemon
    release.set()
