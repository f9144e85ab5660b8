"""A process that writes fault records until it is killed (tests/integration/test_fault_store_kill.py).

    python tests/fault_writer.py steps PATH    one deterministic step per commit; prints the
                                               step number after each commit returned
    python tests/fault_writer.py batches PATH  batches of 500 opens, one commit each; prints
                                               the batch number after each commit returned
    python tests/fault_writer.py hold PATH     opens 500 faults in one transaction, prints
                                               "inside" half-way, then waits on stdin (to be killed)

`step()` is deterministic (explicit times, fixed keys), so the test can replay the same steps
into a fresh store and compare the killed process's file with it row for row.
"""

from __future__ import annotations

import sys
from pathlib import Path

from monitor.faults.model import DeviceInfo
from monitor.faults.settings import SlaSettings
from monitor.faults.store import FaultStateError, FaultStore

T0 = 1_780_000_000.0
SLA = SlaSettings()
KEYS = 40
DEVICES = [DeviceInfo(f"cam-{n:02d}", "camera", ("district", f"street-{n % 5:02d}")) for n in range(KEYS)]
BATCH = 500


def step(store: FaultStore, number: int) -> None:
    """One commit mixing what the daemon and the CLI do: open (new, reopened or existing),
    update, auto-resolve, acknowledge, note, clock flags."""
    at = T0 + number * 5.0  # a key comes round every 200 s, inside the 300 s re-open window
    device = DEVICES[number % KEYS]
    with store.transaction():
        fault, _ = store.open(device, "unreachable", "", severity="major", message=f"step {number}",
                              value=float(number % 7), at=at, sla=SLA, reopen_window_s=300)
        store.update(device.name, "unreachable", "", value=float(number % 11), at=at + 1)
        if number % 3 == 0:
            store.resolve_auto(DEVICES[(number * 7) % KEYS].name, "unreachable", "", at=at + 2)
        if number % 4 == 1:
            try:
                store.acknowledge(fault.id, "writer", at=at + 3)
            except FaultStateError:
                pass  # resolved in this very step: acknowledging is still allowed, closed is not
        if number % 5 == 0:
            store.add_note(fault.id, "writer", f"note {number}", at=at + 3)
        if number % 13 == 0:
            store.due_clock_events(at + 4)


def open_batch(store: FaultStore, number: int, halfway=None) -> None:
    with store.transaction():
        for index in range(BATCH):
            if index == BATCH // 2 and halfway is not None:
                halfway()
            device = DeviceInfo(f"b{number}-dev-{index:03d}", "switch", ("district",))
            store.open(device, "unreachable", "", severity="critical", value=0.0, at=T0 + number,
                       sla=SLA, reopen_window_s=300)


def main(mode: str, path: str) -> None:
    store = FaultStore(Path(path))
    if mode == "steps":
        number = 0
        while True:
            step(store, number)
            print(number, flush=True)  # only after the commit returned
            number += 1
    elif mode == "batches":
        number = 0
        while True:
            open_batch(store, number)
            print(number, flush=True)
            number += 1
    elif mode == "hold":
        def wait_inside() -> None:
            print("inside", flush=True)
            sys.stdin.read()  # blocks until the test kills this process

        open_batch(store, 0, halfway=wait_inside)
    else:
        raise SystemExit(f"unknown mode {mode!r}; use steps, batches or hold")


if __name__ == "__main__":
    main(*sys.argv[1:])
