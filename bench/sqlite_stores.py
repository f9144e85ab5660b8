"""Benchmark: the four SQLite state stores, per operation, optionally against a second source tree.

Run from the repository root:

    .venv/bin/python -m bench.sqlite_stores                              # this tree
    .venv/bin/python -m bench.sqlite_stores --baseline /path/to/checkout # and another one, same run

Each store runs its daemon-shaped workload through its public methods on a fresh file in
the temporary directory (the disk the state directory would be on):

* spool: append one batch of 50 points (synchronous=FULL, one fsync per commit), read the
  head, remove it;
* embedded store: write 10,000 samples of 5 tags and 4 fields for 7,000 devices (the first
  call also creates the series; timed are the calls after it);
* notification outbox: enqueue one message and mark it sent;
* fault store: open a fault, acknowledge it (FULL), and 500 opens in one `transaction()`.

With `--baseline` every round runs both trees, each in a child process of its own
(A B A B ...), so both see the same disk and the same load from the machine's other work.
Printed: per operation the median over all rounds and the fastest and slowest round's
median, in milliseconds, for each tree.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _timed(work, repeat: int) -> list[float]:
    times = []
    for i in range(repeat):
        started = time.perf_counter()
        work(i)
        times.append((time.perf_counter() - started) * 1000)
    return times


def _workload(work_dir: Path, repeat: int) -> dict[str, float]:
    """Run in the child: median ms per operation."""
    from monitor.faults.model import DeviceInfo
    from monitor.faults.settings import SlaSettings
    from monitor.faults.store import FaultStore
    from monitor.notify.message import Message
    from monitor.outputs.embedded import EmbeddedStore
    from monitor.outputs.spool import Batch, Spool
    from probes.base import Sample

    result: dict[str, float] = {}
    body = b"\n".join(b"icmp,device=dev-%05d,site=street-03 up=1i,rtt_avg_ms=1.25,loss_pct=0 1780000000%09d"
                      % (i, i) for i in range(50))

    spool = Spool(work_dir / "spool" / "influxdb.db", max_bytes=1 << 30)
    result["spool append (FULL)"] = statistics.median(_timed(lambda i: spool.append([Batch(body, 50)]), repeat))
    result["spool head"] = statistics.median(_timed(lambda i: spool.head(), repeat))
    result["spool remove (FULL)"] = statistics.median(_timed(lambda i: spool.remove(spool.head().id), repeat))
    spool.close()

    store = EmbeddedStore(work_dir / "metrics.db", retention_days=1)
    now = 1_780_000_000 * 10**9

    def samples(round_: int) -> list[Sample]:
        return [Sample("icmp", {"device": f"dev-{i % 7000:05d}", "site": "street-03", "class": "codec",
                                "address": f"10.0.{i % 250}.{i % 200}", "probe": "icmp"},
                       {"up": 1, "rtt_avg_ms": 1.25 + i % 7, "loss_pct": 0.0, "result_code": 0},
                       now + round_ * 10**9 + i) for i in range(10_000)]

    store.write(samples(-1))  # creates the 7,000 series
    batches = [samples(i) for i in range(max(3, repeat // 20))]
    result["embedded write 10k samples"] = statistics.median(
        _timed(lambda i: store.write(batches[i]), len(batches)))
    store.close()

    from monitor.notify.outbox import Outbox
    outbox = Outbox(work_dir / "notifications.db")
    message = Message("codec-1 down", "codec-1 at street-03 does not answer", {"faults": [1]})

    def notify(i: int) -> None:
        message_id = outbox.enqueue("oncall-mail", [(i, f"fault {i} open tier 1 channel oncall-mail")], "open",
                                    lambda ids: message, now=time.time())
        outbox.mark_sent(message_id, time.time())

    result["outbox enqueue + mark_sent"] = statistics.median(_timed(notify, repeat))
    outbox.close()

    faults = FaultStore(work_dir / "faults.db")
    sla = SlaSettings()
    device = DeviceInfo("codec-1", "codec", ("district", "street-03"))
    opened = []

    def open_one(i: int) -> None:
        fault, _ = faults.open(device, "port_down", f"GE0/0/{i}", severity="major", value=0.0, sla=sla,
                               reopen_window_s=300)
        opened.append(fault.id)

    result["fault open (FULL)"] = statistics.median(_timed(open_one, repeat))
    result["fault acknowledge (FULL)"] = statistics.median(
        _timed(lambda i: faults.acknowledge(opened[i], "li.wei"), repeat))

    def batch(round_: int) -> None:
        with faults.transaction():
            for i in range(500):
                faults.open(DeviceInfo(f"cam-{i:03d}", "camera", ("district", "street-03")), "down",
                            f"r{round_}", severity="critical", sla=sla, reopen_window_s=300)

    result["fault 500 opens in one transaction"] = statistics.median(_timed(batch, 3))
    faults.disconnect()
    return result


def _child(tree: Path, repeat: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="netvigil-bench-sqlite-") as work:
        # This file runs as a script with the tree first on the path, so the baseline needs no copy of it.
        output = subprocess.run(
            [sys.executable, __file__, "--child", "--repeat", str(repeat), "--work", work],
            cwd=tree, env={**os.environ, "PYTHONPATH": str(tree)}, capture_output=True, text=True, check=False)
    if output.returncode != 0:
        raise SystemExit(f"the workload failed in {tree}:\n{output.stderr[-3000:]}")
    result = json.loads(output.stdout.strip().splitlines()[-1])
    source = Path(result.pop("source"))
    if not source.is_relative_to(tree):
        raise SystemExit(f"the workload for {tree} imported netvigil from {source}")
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, help="another checkout of netvigil to measure in the same run")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=200, help="operations per store and round")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        import monitor
        print(json.dumps({**_workload(args.work, args.repeat), "source": monitor.__file__}))
        return 0
    trees = {"this tree": REPO}
    if args.baseline is not None:
        if not (args.baseline / "monitor" / "outputs" / "spool.py").is_file():
            parser.error(f"--baseline {args.baseline}: not a netvigil checkout (no monitor/outputs/spool.py)")
        trees = {"baseline": args.baseline.resolve(), **trees}
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    for round_ in range(args.rounds):
        for name, tree in trees.items():
            runs[name].append(_child(tree, args.repeat))
        print(f"round {round_ + 1}/{args.rounds} done", file=sys.stderr)
    operations = list(next(iter(runs.values()))[0])
    print(f"{args.rounds} rounds x {args.repeat} operations; ms per operation: median (fastest round - slowest round)")
    print(f"{'operation':38}" + "".join(f"{name:>26}" for name in trees))
    for operation in operations:
        cells = []
        for name in trees:
            medians = [run[operation] for run in runs[name]]
            cells.append(f"{statistics.median(medians):8.3f} ({min(medians):.3f}-{max(medians):.3f})")
        print(f"{operation:38}" + "".join(f"{cell:>26}" for cell in cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
