"""Chaos: a write outage, a reload that changes `outputs` during it, and kill -9 of the daemon
while a replayed write is in flight; then count what reached the metrics server.

Run as root (ICMP) from the repository root:

    .venv/bin/python -m bench.chaos_outputs [--devices 500] [--outage-s 120] [--dedup]
    .venv/bin/python -m bench.chaos_outputs --devices 20 --outage-s 12 --warmup-s 5   # short

`scenario(...)` is the reusable part (it returns a `ChaosResult`); `main()` prints one line
like "120 s outage at 500 devices lost 0 of 21,404 samples with 0 duplicates and 0 order
inversions" and the details. What happens, with real processes only:

1. A real VictoriaMetrics behind a fault-injecting proxy (lab/write_proxy.py), which
   records the order in which points reached the server. `netvigil run` probes N loopback
   devices every `--interval-s`, writing through the proxy; its embedded store is on and
   keeps the reference copy of every sample (`samples written`).
2. After `--warmup-s` the proxy closes its port (the outage). Halfway through it,
   `outputs.influxdb.batch_size` is changed and the daemon gets SIGHUP. The port opens
   again; the daemon replays its spool and writes one more round straight to the server.
   (A reload that stranded a spooled batch shows here: the batch arrives late, out of
   order, or never.)
3. A short second outage (the interval, at least 5 s); when the port opens again the proxy
   holds the answer of the first write (the oldest spooled batch, which the server has
   stored by then), and while the daemon waits for that answer it is killed with SIGKILL.
4. The daemon starts again on the same state directory, replays its spool, runs one more
   interval, and stops with SIGTERM.

Printed: samples written (reference), received (distinct), lost (written, never received),
duplicated (received more than once: the batch in flight at the kill is sent again, since
delivery is at least once), order inversions (a point that reached the server after a
later point of its series), and the duplicates VictoriaMetrics *stored* (0 with `--dedup`,
which starts it with -dedup.minScrapeInterval=1ms, as docs/operations.md recommends). `extra` counts
samples received but missing from the reference: the embedded store's last second, lost
with the process at kill -9. Likewise a sample probed in the last moments before the kill
may be in the reference but never sent: it was only in the writer's memory (not yet cut
into a batch and spooled), the one window kill -9 can cost (docs/operations.md, "Duplicates after a
crash"); `lost_at_kill` counts those. Exit status 1 if anything else was lost, arrived out
of order, or the replay never ended.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from lab.servers import VictoriaMetrics  # noqa: E402
from lab.write_proxy import WriteProxy, duplicates, order_inversions  # noqa: E402

NETVIGIL = str(Path(sys.executable).parent / "netvigil")
# A sample is still only in the writer's memory for its probe run (0.8 s here), then up to
# flush_interval_s (0.5 s) until it is cut into a batch and spooled; a kill -9 then loses it.
KILL_WINDOW_MS = 3000


@dataclass(frozen=True)
class ChaosResult:
    devices: int
    outage_s: float
    written: int  # icmp samples in the daemon's embedded store (the reference)
    received: int  # distinct icmp samples that reached VictoriaMetrics
    lost: int  # written, never received
    kills: int  # kill -9 of the daemon during the scenario
    lost_at_kill: int  # of them: probed in the last seconds before a kill -9, so only in memory then
    extra: int  # received, not in the reference (its last second went with kill -9)
    duplicated: int  # received more than once
    order_inversions: int
    stored_duplicates: int  # duplicate timestamps VictoriaMetrics kept (icmp_up)
    killed_in_flight: bool  # the kill hit a held write (else: no write came within the wait)
    stuck_spooled_points: int  # spooled_points when the replay after the first outage never ended, else 0

    def summary(self) -> str:
        return (f"{self.outage_s:g} s outage at {self.devices} devices lost {self.lost:,} of {self.written:,} "
                f"samples with {self.duplicated:,} duplicates and {self.order_inversions:,} order inversions")


def _settings(proxy_url: str, interval_s: float, batch_size: int) -> str:
    return ("inventory: [inventory.yaml]\nstate_dir: state\nlog_level: info\n"
            f"probes:\n  icmp: {{interval_s: {interval_s:g}, count: 3, echo_interval_ms: 100, timeout_s: 0.5}}\n"
            "scheduler: {slot_s: 0.5}\n"
            f"outputs:\n  influxdb: {{url: '{proxy_url}', bucket: health, batch_size: {batch_size}, "
            "flush_interval_s: 0.5, timeout_s: 5}\n"
            "  embedded: {enabled: true}\n  spool: {retry_initial_s: 0.5, retry_max_s: 2}\n"
            "api: {enabled: false}\n")


def _status(settings: Path) -> dict:
    """The running daemon's summary; {} while none answers on the control socket."""
    answer = subprocess.run([NETVIGIL, "status", "-c", str(settings), "--json"], capture_output=True, text=True,
                            timeout=60)
    if answer.returncode != 0:
        return {}
    return json.loads(answer.stdout).get("daemon") or {}


def _wait(predicate, timeout_s: float, what: str, required: bool = True) -> bool:
    """Poll until `predicate()`; at the deadline raise, or (not `required`) return False."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if predicate():
                return True
        except (KeyError, IndexError, ValueError):
            pass
        time.sleep(0.5)
    if required:
        raise RuntimeError(f"timed out after {timeout_s:g} s waiting for {what}")
    return False


def _stop(daemon: subprocess.Popen) -> None:
    if daemon.poll() is None:
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(30)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait(10)


def _start(work: Path, settings: Path, log) -> subprocess.Popen:
    daemon = subprocess.Popen([NETVIGIL, "run", "-c", str(settings)], stdout=log, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, cwd=work)
    try:
        _wait(lambda: _status(settings).get("pid") == daemon.pid, 60, "the daemon's control socket")
    except BaseException:
        _stop(daemon)
        raise
    return daemon


def _replayed(status: dict) -> bool:
    output = status["outputs"][0]
    return output["healthy"] and output["spooled_points"] == 0


def _reference(state: Path) -> set[tuple[str, int]]:
    db = sqlite3.connect(state / "metrics.db")
    try:
        return {(device, time_ns // 1_000_000) for device, time_ns in db.execute(
            "SELECT s.device, p.time_ns FROM point p JOIN series s ON s.id = p.series_id "
            "WHERE s.measurement = 'icmp'")}
    finally:
        db.close()


def _device(key: str) -> str:
    return next(part[len("device="):] for part in key.split(",")[1:] if part.startswith("device="))


def scenario(devices: int = 500, outage_s: float = 120.0, interval_s: float = 5.0, warmup_s: float = 10.0,
             dedup: bool = False, work: Path | None = None, kills: int = 0, seed: int = 11) -> ChaosResult:
    """Run the whole scenario (module docstring) once; every process it starts is stopped by pid.

    `kills`: after the restart, that many more kill -9 at random moments (each followed by a
    restart), while the server is up: each may cost only what was in memory at that moment."""
    own_work = work is None
    work = Path(tempfile.mkdtemp(prefix="nvchaos")) if own_work else Path(work)
    vm = VictoriaMetrics(work / "vm", extra_args=["-dedup.minScrapeInterval=1ms"] if dedup else [])
    proxy = None
    daemon = None
    log = open(work / "daemon.log", "ab")
    try:
        vm.start()
        proxy = WriteProxy(vm.url).start()
        (work / "inventory.yaml").write_text(
            "sites:\n  - {name: district, level: district}\ndevices:\n" + "".join(
                f"  - {{name: c{i}, address: 127.4.{i // 250}.{i % 250 + 1}, class: switch, site: district}}\n"
                for i in range(devices)))
        settings = work / "netvigil.yaml"
        settings.write_text(_settings(proxy.url, interval_s, 5000))
        daemon = _start(work, settings, log)
        _wait(lambda: _status(settings)["up"] == devices, 120, "every device up")
        time.sleep(warmup_s)

        proxy.stop()  # the outage
        time.sleep(outage_s / 2)
        settings.write_text(_settings(proxy.url, interval_s, 1000))
        # Reload while the writer holds points in memory (always, at hundreds of devices):
        # they are what the reload must hand over through the spool.
        _wait(lambda: _status(settings)["outputs"][0]["queued_points"] > 0, 10, "points in memory", required=False)
        daemon.send_signal(signal.SIGHUP)
        time.sleep(outage_s / 2)
        proxy.start()
        # Not required: a daemon whose spool counts went wrong never reports an empty spool;
        # that is a finding to print, not a reason to stop.
        replay_wait_s = max(60.0, outage_s)
        stuck = 0
        if not _wait(lambda: _replayed(_status(settings)), replay_wait_s, "the replay", required=False):
            stuck = _status(settings).get("outputs", [{}])[0].get("spooled_points", -1)
        time.sleep(interval_s)  # a round written straight to the server, behind the replay

        proxy.stop()  # a short second outage, so that a spooled batch is replayed at the kill
        time.sleep(max(5.0, interval_s))
        proxy.hold_next(10.0)  # the first write after it: stored by the server, its answer held
        proxy.start()
        killed_in_flight = proxy.held.wait(30)
        kill_times_ms = [time.time() * 1000]
        daemon.send_signal(signal.SIGKILL)
        daemon.wait(30)
        daemon = None

        daemon = _start(work, settings, log)
        _wait(lambda: _replayed(_status(settings)), 120, "the spool replayed after the restart")
        rng = random.Random(seed)
        for _ in range(kills):
            time.sleep(rng.uniform(0.5, 2 * interval_s))
            kill_times_ms.append(time.time() * 1000)
            daemon.send_signal(signal.SIGKILL)
            daemon.wait(30)
            daemon = _start(work, settings, log)
            _wait(lambda: _replayed(_status(settings)), 120, "the spool replayed after a restart")
        time.sleep(interval_s + 1)
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(60)
        daemon = None

        arrivals = [a for a in proxy.snapshot() if a.key.startswith("icmp,")]
        received = {(_device(a.key), a.time_ns // 1_000_000) for a in arrivals}
        reference = _reference(work / "state")
        rows = vm.export("icmp_up", until=lambda rows: sum(len(set(r["timestamps"])) for r in rows) >= len(received),
                         timeout_s=30)
        stored_duplicates = sum(len(r["timestamps"]) - len(set(r["timestamps"])) for r in rows)
        lost = reference - received
        return ChaosResult(
            devices=devices, outage_s=outage_s, written=len(reference), received=len(received),
            lost=len(lost), kills=len(kill_times_ms),
            lost_at_kill=sum(any(kill - KILL_WINDOW_MS <= ms <= kill for kill in kill_times_ms) for _, ms in lost),
            extra=len(received - reference),
            duplicated=duplicates(arrivals), order_inversions=order_inversions(arrivals),
            stored_duplicates=stored_duplicates, killed_in_flight=killed_in_flight, stuck_spooled_points=stuck)
    finally:
        if daemon is not None:
            _stop(daemon)
        log.close()
        if proxy is not None:
            proxy.close()
        vm.stop()
        if own_work:
            shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=500)
    parser.add_argument("--outage-s", type=float, default=120.0, help="how long the write endpoint is down")
    parser.add_argument("--interval-s", type=float, default=5.0, help="ICMP interval of every device")
    parser.add_argument("--warmup-s", type=float, default=10.0, help="normal operation before the outage")
    parser.add_argument("--dedup", action="store_true", help="VictoriaMetrics with -dedup.minScrapeInterval=1ms")
    parser.add_argument("--kills", type=int, default=0, help="more kill -9 at random moments after the first")
    parser.add_argument("--keep", type=Path, help="work in this directory and keep it (logs, spool, stores)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("run as root: the daemon probes its loopback devices with ICMP", file=sys.stderr)
        return 2
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
    result = scenario(args.devices, args.outage_s, args.interval_s, args.warmup_s, args.dedup, args.keep, args.kills)
    print(result.summary())
    print(f"  written (reference)     {result.written:,}")
    print(f"  received (distinct)     {result.received:,}")
    print(f"  lost                    {result.lost:,} ({result.lost_at_kill:,} of them probed in the last "
          f"{KILL_WINDOW_MS / 1000:g} s before one of the {result.kills} kill -9, when they were only in memory)")
    print(f"  extra (not in ref.)     {result.extra:,}")
    print(f"  duplicated (received)   {result.duplicated:,}"
          f"{'' if result.killed_in_flight else '  (no write was in flight at the kill)'}")
    print(f"  order inversions        {result.order_inversions:,}")
    if result.stuck_spooled_points:
        print(f"  the replay after the outage never ended: spooled_points stayed at {result.stuck_spooled_points:,}")
    print(f"  duplicates stored by VM {result.stored_duplicates:,} ({'with' if args.dedup else 'without'} "
          f"-dedup.minScrapeInterval)")
    ok = result.lost == result.lost_at_kill and result.order_inversions == 0 and not result.stuck_spooled_points
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
