"""Chaos: slow HTTP clients (slowloris) and file-descriptor exhaustion against a running daemon.

Run from the repository root (root, for the daemon's ICMP probes):
    .venv/bin/python -m bench.chaos_api [--clients 1500] [--seconds 40] [--nofile 256]
From another script:  `from bench.chaos_api import attack; figures = attack(clients=1500)`.

Starts `netvigil run` on three loopback devices with the API on a free loopback port, lowers
the daemon's open-file limit to --nofile with prlimit (as `ulimit -n` would), then opens
--clients connections that each send half a request and one more header byte every few
seconds (they never finish). For --seconds it measures, every half second: how many attack
connections the daemon still holds (sockets in /proc/PID/fd), how long a fresh GET /healthz
takes (5 s limit), whether `netvigil status` answers, the daemon's CPU time and how much its
log grows, then stops everything it started by pid. It prints the figures and returns them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

NETVIGIL = str(Path(sys.executable).parent / "netvigil")
HALF_REQUEST = b"GET /healthz HTTP/1.1\r\nHost: netvigil\r\nX-Slow: "
TRICKLE_EVERY_S = 5.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _open_sockets(pid: int) -> int:
    count = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            count += os.readlink(fd).startswith("socket:")
        except OSError:
            pass  # closed while we looked
    return count


def _log_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    return len(data), data.count(b"\n")


def healthz_seconds(port: int, timeout_s: float = 5.0) -> Optional[float]:
    """Seconds until a fresh connection's GET /healthz got its status line, None if it failed.

    Blocking, so that it runs in a thread of its own as an outside health check would, and
    sends its request the moment it is connected whatever the attack's event loop is doing."""
    started = time.monotonic()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: netvigil\r\nConnection: close\r\n\r\n")
            sock.settimeout(max(0.01, timeout_s - (time.monotonic() - started)))
            line = sock.makefile("rb").readline()
        return time.monotonic() - started if line.startswith(b"HTTP/1.1 ") else None
    except OSError:
        return None


async def _slow_client(port: int, stop: asyncio.Event, opened: list, closed: list) -> None:
    try:
        async with asyncio.timeout(10):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(HALF_REQUEST)
    except (OSError, asyncio.TimeoutError):
        return
    opened.append(1)
    try:
        while not stop.is_set():
            try:
                async with asyncio.timeout(TRICKLE_EVERY_S):
                    if not await reader.read(4096):  # the server closed it
                        closed.append(1)
                        return
            except asyncio.TimeoutError:
                writer.write(b"x")
    except OSError:
        closed.append(1)
    finally:
        writer.close()


def _status_ok(netvigil: str, settings: Path) -> bool:
    """`netvigil status` got its answer from the daemon (not the embedded store's fallback)."""
    try:
        result = subprocess.run([netvigil, "status", "-c", str(settings), "--json"], capture_output=True,
                                timeout=10)
        return result.returncode == 0 and json.loads(result.stdout)["source"] == "daemon"
    except (subprocess.TimeoutExpired, ValueError, KeyError):
        return False


async def _measure(netvigil: str, daemon: subprocess.Popen, port: int, settings: Path, log: Path, clients: int,
                   seconds: float) -> dict:
    stop = asyncio.Event()
    opened: list = []
    closed: list = []
    log_bytes0, log_lines0 = _log_size(log)
    cpu0 = _cpu_seconds(daemon.pid)
    sockets0 = _open_sockets(daemon.pid)
    attackers = [asyncio.create_task(_slow_client(port, stop, opened, closed)) for _ in range(clients)]
    latencies: list[Optional[float]] = []
    failed_at: list[float] = []
    statuses: list[bool] = []
    held: list[int] = []
    started = time.monotonic()
    status_task: Optional[asyncio.Future] = None
    while time.monotonic() - started < seconds:
        tick = time.monotonic()
        latencies.append(await asyncio.to_thread(healthz_seconds, port))
        if latencies[-1] is None:
            failed_at.append((round(tick - started, 1), round(time.monotonic() - tick, 2)))
        held.append(max(0, _open_sockets(daemon.pid) - sockets0))
        if status_task is None or status_task.done():
            if status_task is not None:
                statuses.append(status_task.result())
            status_task = asyncio.get_running_loop().run_in_executor(None, _status_ok, netvigil, settings)
        await asyncio.sleep(max(0.0, 0.5 - (time.monotonic() - tick)))
    if status_task is not None:
        statuses.append(await status_task)
    cpu = _cpu_seconds(daemon.pid) - cpu0
    log_bytes, log_lines = _log_size(log)
    written = log.read_bytes()[log_bytes0:]
    log_sample = [line[:300] for line in written.decode(errors="replace").splitlines()[:5]]
    stop.set()
    await asyncio.gather(*attackers)
    answered = [latency for latency in latencies if latency is not None]
    return {
        "clients": clients, "seconds": seconds, "connected": len(opened), "closed_by_daemon": len(closed),
        "held_max": max(held), "held_last": held[-1],
        "healthz_answered": len(answered), "healthz_tried": len(latencies), "healthz_failed_at_s": failed_at,
        "healthz_median_ms": round(1000 * statistics.median(answered), 1) if answered else None,
        "healthz_max_ms": round(1000 * max(answered), 1) if answered else None,
        "status_ok": sum(statuses), "status_tried": len(statuses),
        "daemon_cpu_s": round(cpu, 2), "log_bytes": log_bytes - log_bytes0, "log_lines": log_lines - log_lines0,
        "accept_error_lines": written.count(b"out of system resource") + written.count(b"cannot accept"),
        "log_first_lines": log_sample,
    }


def attack(clients: int = 1500, seconds: float = 40.0, nofile: int = 256, api: str = "",
           netvigil: str = NETVIGIL) -> dict:
    """Start a daemon, run the slow-client attack for `seconds`, stop the daemon; the figures.

    `api` is extra YAML for the daemon's `api:` section (e.g. "header_timeout_s: 5");
    `netvigil` the command to run (another build, to compare)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < clients + 200:  # this process holds every attack connection
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, clients + 1000), hard))
    work = Path(tempfile.mkdtemp(prefix="nvc"))  # short: the control socket path must stay under 108 bytes
    port = _free_port()
    (work / "inventory.yaml").write_text(
        "sites:\n  - {name: room, level: room}\ndevices:\n"
        + "".join(f"  - {{name: dev-{i}, address: 127.0.60.{i + 1}, class: switch, site: room}}\n" for i in range(3)))
    settings = work / "netvigil.yaml"
    settings.write_text("inventory: [inventory.yaml]\nstate_dir: state\n"
                        f"api:\n  listen: 127.0.0.1:{port}\n" + "".join(f"  {line}\n" for line in api.splitlines()))
    log = work / "daemon.log"
    environment = {key: value for key, value in os.environ.items() if key != "JOURNAL_STREAM"}
    daemon = subprocess.Popen([netvigil, "run", "-c", str(settings)], stdout=subprocess.DEVNULL,
                              stderr=open(log, "wb"), stdin=subprocess.DEVNULL, env=environment)
    try:
        deadline = time.monotonic() + 30
        while healthz_seconds(port, 1.0) is None:
            if daemon.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the daemon did not start:\n{log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.1)
        figures_fds = len(list(Path(f"/proc/{daemon.pid}/fd").iterdir()))
        resource.prlimit(daemon.pid, resource.RLIMIT_NOFILE, (nofile, nofile))
        figures = asyncio.run(_measure(netvigil, daemon, port, settings, log, clients, seconds))
        figures["nofile"] = nofile
        figures["daemon_fds_before"] = figures_fds
        return figures
    finally:
        daemon.terminate()
        try:
            daemon.wait(20)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait(5)
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=1500)
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--nofile", type=int, default=256, help="the daemon's open-file limit (ulimit -n)")
    parser.add_argument("--api", default="", help='extra api: settings, YAML lines, e.g. "header_timeout_s: 5"')
    parser.add_argument("--netvigil", default=NETVIGIL, help="the netvigil command to attack (default: this venv's)")
    args = parser.parse_args()
    figures = attack(args.clients, args.seconds, args.nofile, args.api.replace("\\n", "\n"), args.netvigil)
    print(f"{figures['clients']} slow clients for {figures['seconds']:.0f} s, daemon limited to "
          f"{figures['nofile']} open files")
    print(f"  attack connections   {figures['connected']} connected, {figures['closed_by_daemon']} closed by the "
          f"daemon; held by the daemon: max {figures['held_max']}, at the end {figures['held_last']}")
    print(f"  /healthz             {figures['healthz_answered']} of {figures['healthz_tried']} answered; "
          f"median {figures['healthz_median_ms']} ms, worst {figures['healthz_max_ms']} ms")
    print(f"  netvigil status      {figures['status_ok']} of {figures['status_tried']} answered")
    print(f"  daemon log           {figures['log_bytes']} bytes, {figures['log_lines']} lines "
          f"({figures['accept_error_lines']} about accept errors)")
    print(f"  daemon CPU           {figures['daemon_cpu_s']} s")
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
