"""The parent's side of `workers` > 1: start the worker processes, deal them the inventory,
take in their results, restart the one that dies.

What runs where, and why:

* **Workers** run the probers and their schedule for their share (monitor/workers/worker.py):
  that is where the CPU goes (BER encoding and decoding, sockets, ICMP, SSH sessions: over
  nine tenths of a device poll's cost, docs/benchmarks.md).
* **The parent** runs everything that must see the whole district or must have one writer:
  device states and `status`, rules and the fault manager (a parent and its children may sit
  in different workers: the dependency check, the re-probe of a stale parent and the grouped
  alert need both), fault records, alerts and escalation, reports and roll calls, the API and
  the control socket, the outputs with their spools (one writer per output, one spool, one
  embedded store file), systemd's notify protocol and the dead man's switch.

Samples cross as tuples in length-prefixed pickles (monitor/workers/channel.py); the parent's
share of the work per sample (decode, state, rules, line protocol) is a small part of a
poll's cost, so one parent keeps up with several workers.

Liveness: every worker reports its scheduler every STATS_INTERVAL_S. The pool is `alive()`
(systemd's WATCHDOG=1 is sent, the heartbeat beats) only while every worker has reported
within LIVENESS_S. A worker that exits is logged and restarted with its own devices after a
back-off (1 s doubling to 30 s; reset once it has run for a minute); its counters are carried
over so `runs_total` does not go backwards.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Optional, Sequence

from monitor.scheduler import KindStats
from monitor.workers.channel import STATS_INTERVAL_S, receive, samples_from, send
from monitor.workers.partition import Shard, split

log = logging.getLogger("netvigil")

START_TIMEOUT_S = 300.0  # loading a 10,000-device inventory and starting the probers
LIVENESS_S = 3 * STATS_INTERVAL_S + 4.0
REPROBE_TIMEOUT_S = 30.0
RESTART_FIRST_S = 1.0
RESTART_MAX_S = 30.0
STABLE_AFTER_S = 60.0
# systemd talks to the main process only; a worker that inherited these would send READY and
# WATCHDOG of its own, which systemd ignores at best (NotifyAccess=main) and logs at worst.
_PARENT_ONLY_ENV = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID")
_SUMMED = ("devices", "jobs", "running", "runs_total", "skipped_total", "errors_total")
_COUNTERS = ("runs_total", "skipped_total", "errors_total")

_SOURCE_ROOT = str(Path(__file__).resolve().parents[2])

Handle = Callable[[str, list, list], None]  # (kind, samples, [(device, detail)])


@dataclass
class _Worker:
    index: int
    shard: Shard
    process: Optional[asyncio.subprocess.Process] = None
    writer: Optional[asyncio.StreamWriter] = None
    heard: float = 0.0  # monotonic time of its last message
    started: float = 0.0
    stats: dict = field(default_factory=dict)  # kind -> KindStats fields, its latest report
    retired: dict = field(default_factory=dict)  # kind -> counters of its earlier lives
    stalled: Optional[str] = None
    ready: Optional[asyncio.Future] = None
    facts: dict = field(default_factory=dict)
    backoff_s: float = RESTART_FIRST_S
    restarts: int = 0


class WorkerPool:
    def __init__(self, count: int, config_path: Path, handle: Handle, log_level: str = "info") -> None:
        self.count = count
        self.config_path = Path(config_path).resolve()
        self.handle = handle
        self.log_level = log_level
        self.workers: list[_Worker] = []
        self.owner: dict[str, int] = {}  # device -> worker index
        self.watch: Optional[dict] = None
        self._window: dict[str, float] = {}  # kind -> highest lag reported since take_window
        self._tickets = itertools.count(1)
        self._waiting: dict[int, tuple[int, asyncio.Future]] = {}  # ticket -> (worker, future)
        self._tasks: set[asyncio.Task] = set()
        self._stopping = False

    # -- start, deal, restart ------------------------------------------------------------

    async def start(self, settings, inventory, services: Mapping[str, object],
                    watch: Optional[dict], everyone=None) -> Optional[str]:
        """Start every worker with its share; the first worker's sentence if one cannot start."""
        self.watch = watch
        shards = split(inventory.devices, self.count)
        self.workers = [_Worker(index + 1, shard) for index, shard in enumerate(shards)]
        self._index_owners()
        for worker in self.workers:
            await self._spawn(worker)
        problems = await asyncio.gather(*(self._ready(worker) for worker in self.workers))
        problem = next((p for p in problems if p is not None), None)
        if problem is not None:
            self.close()
            return problem
        for worker in self.workers:
            log.info("worker %d (pid %d): %d devices, %s", worker.index, worker.process.pid,
                     len(worker.shard.devices), _sites(worker.shard))
        return None

    def _index_owners(self) -> None:
        self.owner = {name: worker.index for worker in self.workers for name in worker.shard.devices}

    async def _spawn(self, worker: _Worker) -> None:
        parent_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        env = {key: value for key, value in os.environ.items() if key not in _PARENT_ONLY_ENV}
        # The worker imports the same netvigil as this process, also when this one runs from a
        # source tree that is not the installed one (a checkout, a benchmark's other revision).
        env["PYTHONPATH"] = os.pathsep.join([_SOURCE_ROOT, *filter(None, [env.get("PYTHONPATH")])])
        try:
            worker.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "monitor.workers.worker", str(child_end.fileno()), str(worker.index),
                str(self.config_path), self.log_level, pass_fds=(child_end.fileno(),), env=env,
                stdin=asyncio.subprocess.DEVNULL)
        finally:
            child_end.close()
        reader, worker.writer = await asyncio.open_unix_connection(sock=parent_end)
        worker.ready = asyncio.get_running_loop().create_future()
        worker.started = worker.heard = time.monotonic()
        worker.stats, worker.stalled = {}, None
        send(worker.writer, "assign", worker.shard.devices, self.watch)
        self._track(self._listen(worker, reader))

    async def _ready(self, worker: _Worker) -> Optional[str]:
        try:
            return await asyncio.wait_for(asyncio.shield(worker.ready), START_TIMEOUT_S)
        except asyncio.TimeoutError:
            return f"worker {worker.index} did not start within {START_TIMEOUT_S:.0f} s"

    def _track(self, coro) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _listen(self, worker: _Worker, reader: asyncio.StreamReader) -> None:
        while True:
            message = await receive(reader)
            if message is None:
                break
            worker.heard = time.monotonic()
            verb = message[0]
            if verb == "probed":
                self.handle(message[1], samples_from(message[2]), message[3])
            elif verb == "stats":
                worker.stats, window, worker.stalled = message[1], message[2], message[3]
                for kind, values in window.items():
                    self._window[kind] = max(self._window.get(kind, 0.0), values["lag_max_s"])
            elif verb == "done":
                waiting = self._waiting.pop(message[1], None)
                if waiting is not None and not waiting[1].done():
                    waiting[1].set_result(None)
            elif verb == "ready":
                worker.facts = message[2]
                if not worker.ready.done():
                    worker.ready.set_result(message[1])
        await self._ended(worker)

    async def _ended(self, worker: _Worker) -> None:
        process = worker.process
        worker.writer.close()
        worker.writer = None  # assignments meanwhile wait for the new process
        code = await process.wait()
        for ticket, (index, future) in list(self._waiting.items()):
            if index == worker.index:  # its re-probes will not be answered: do not hold the faults
                del self._waiting[ticket]
                if not future.done():
                    future.set_result(None)
        if not worker.ready.done():
            worker.ready.set_result(f"worker {worker.index} exited ({_exit(code)}) while starting; "
                                    f"its log lines above say why")
        if self._stopping:
            return
        for kind, values in worker.stats.items():
            carried = worker.retired.setdefault(kind, dict.fromkeys(_COUNTERS, 0))
            for key in _COUNTERS:
                carried[key] += values.get(key, 0)
        worker.stats = {}
        if time.monotonic() - worker.started > STABLE_AFTER_S:
            worker.backoff_s = RESTART_FIRST_S
        log.error("worker %d (pid %d) stopped (%s); its %d devices are not probed until it is restarted in %.0f s",
                  worker.index, process.pid, _exit(code), len(worker.shard.devices), worker.backoff_s)
        await asyncio.sleep(worker.backoff_s)
        worker.backoff_s = min(RESTART_MAX_S, worker.backoff_s * 2)
        if self._stopping:
            return
        worker.restarts += 1
        await self._spawn(worker)
        problem = await self._ready(worker)
        if problem is None:
            log.info("worker %d restarted (pid %d): %d devices", worker.index, worker.process.pid,
                     len(worker.shard.devices))
        else:
            log.error("worker %d could not restart: %s", worker.index, problem)

    # -- what the daemon calls -----------------------------------------------------------

    def after_start(self) -> list:
        return []  # the workers run their probers' after-start work themselves

    def arm(self, settings, watch: Optional[dict]) -> None:
        """Heightened watch began or ended: every worker plans again with these intervals."""
        self.watch = watch
        for worker in self.workers:
            if worker.writer is not None:
                send(worker.writer, "assign", worker.shard.devices, watch)

    async def reconfigure(self, settings, inventory, watch: Optional[dict], everyone=None) -> None:
        """A reload: deal the new inventory; each worker reads the files again and takes its share."""
        self.watch = watch
        shards = split(inventory.devices, self.count)
        for worker, shard in zip(self.workers, shards):
            worker.shard = shard
            if worker.writer is not None:
                send(worker.writer, "reload", shard.devices, watch)
        self._index_owners()

    async def reprobe(self, names: Sequence[str]) -> None:
        """ICMP now, by the workers that own the devices; returns when their samples are in."""
        by_worker: dict[int, list[str]] = {}
        for name in names:
            # A parent outside this poller's share: any worker can ping it (worker 1 does).
            by_worker.setdefault(self.owner.get(name, 1), []).append(name)
        futures = []
        loop = asyncio.get_running_loop()
        for index, owned in by_worker.items():
            worker = self.workers[index - 1]
            if worker.writer is None or worker.writer.is_closing():
                continue
            ticket = next(self._tickets)
            future = loop.create_future()
            self._waiting[ticket] = (index, future)
            futures.append(future)
            send(worker.writer, "reprobe", ticket, owned)
        if futures:
            await asyncio.wait(futures, timeout=REPROBE_TIMEOUT_S)

    @property
    def icmp_mode(self) -> Optional[str]:
        return next((w.facts.get("icmp_mode") for w in self.workers if w.facts.get("icmp_mode")), None)

    def stats(self) -> dict[str, KindStats]:
        """Every worker's scheduler as one: counts summed, lags the highest."""
        merged: dict[str, KindStats] = {}
        for worker in self.workers:
            for kind, carried in worker.retired.items():
                total = merged.setdefault(kind, KindStats())
                for key in _COUNTERS:
                    setattr(total, key, getattr(total, key) + carried[key])
            for kind, values in worker.stats.items():
                total = merged.setdefault(kind, KindStats())
                for key in _SUMMED:
                    setattr(total, key, getattr(total, key) + values[key])
                total.lag_last_s = max(total.lag_last_s, values["lag_last_s"])
                total.run_seconds_last = max(total.run_seconds_last, values["run_seconds_last"])
        for kind, total in merged.items():
            total.lag_max_s = self._window.get(kind, 0.0)
        return merged

    def take_window(self) -> dict[str, KindStats]:
        merged = self.stats()
        self._window = {}
        return merged

    def _silent(self) -> list[_Worker]:
        now = time.monotonic()
        return [worker for worker in self.workers
                if worker.process is None or worker.process.returncode is not None or now - worker.heard > LIVENESS_S]

    def alive(self) -> bool:
        return not self._silent()

    def stalled(self) -> Optional[str]:
        silent = self._silent()
        if silent:
            return f"worker {silent[0].index} is not running"
        return next((worker.stalled for worker in self.workers if worker.stalled), None)

    def summary(self) -> list[dict]:
        """Per worker, for `status --json` and the API."""
        now = time.monotonic()
        silent = self._silent()
        return [{"worker": w.index, "pid": w.process.pid if w.process else None, "devices": len(w.shard.devices),
                 "sites": list(w.shard.sites), "alive": w not in silent, "restarts": w.restarts,
                 "heard_s_ago": round(now - w.heard, 1)} for w in self.workers]

    async def shutdown(self, timeout_s: float) -> None:
        """Stop every worker; their last samples are taken in before this returns."""
        self._stopping = True
        for worker in self.workers:
            if worker.writer is not None:
                send(worker.writer, "stop")
        processes = [w.process for w in self.workers if w.process is not None and w.process.returncode is None]
        if processes:
            done, pending = await asyncio.wait([asyncio.ensure_future(p.wait()) for p in processes],
                                               timeout=timeout_s)
            if pending:
                log.warning("%d worker(s) did not stop in %.1f s; killed", len(pending), timeout_s)
                self.close()
        # The readers end at EOF, after the last message each worker sent.
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2.0)

    def close(self) -> None:
        self._stopping = True
        for worker in self.workers:
            if worker.process is not None and worker.process.returncode is None:
                try:
                    worker.process.send_signal(signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for task in list(self._tasks):
            task.cancel()


def _sites(shard: Shard) -> str:
    shown = ", ".join(site or "(no site)" for site in shard.sites[:5])
    more = len(shard.sites) - 5
    return f"sites {shown}" + (f" and {more} more" if more > 0 else "")


def _exit(code: Optional[int]) -> str:
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"
