"""Benchmark: the whole daemon on N loopback devices at default ICMP settings.

Run as root from the repository root:  .venv/bin/python -m bench.daemon_scale [--devices 7000] [--seconds 60]

Starts `netvigil run` on a generated inventory of N devices (127.2.0.0/16, every one up),
lets it run for the given time, and prints: CPU used by the daemon (percent of one core),
echoes per second, how many devices are up, scheduler lag (max), runs skipped, and the
output backlog. A device reported down here is a false down.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NETVIGIL = str(Path(sys.executable).parent / "netvigil")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=7000)
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="nvb"))
    try:
        lines = ["sites:", "  - {name: district, level: district}", "devices:"]
        lines += [f"  - {{name: d{i}, address: 127.2.{i // 250}.{i % 250 + 1}, class: switch, site: district}}"
                  for i in range(args.devices)]
        (work / "inventory.yaml").write_text("\n".join(lines) + "\n")
        (work / "netvigil.yaml").write_text("inventory: [inventory.yaml]\nstate_dir: state\nlog_level: warning\n")
        daemon = subprocess.Popen([NETVIGIL, "run", "-c", str(work / "netvigil.yaml")],
                                  stderr=open(work / "daemon.log", "wb"))
        time.sleep(3)  # start-up: config load, sockets, schedule armed
        cpu0, wall0 = _cpu_seconds(daemon.pid), time.monotonic()
        time.sleep(args.seconds)
        cpu, wall = _cpu_seconds(daemon.pid) - cpu0, time.monotonic() - wall0
        status = json.loads(subprocess.run([NETVIGIL, "status", "-c", str(work / "netvigil.yaml"), "--json"],
                                           capture_output=True, text=True, check=True).stdout)
        daemon.terminate()
        daemon.wait(20)
        summary = status["daemon"]
        icmp = summary["scheduler"]["icmp"]
        backlog = sum(o["queued_points"] + o["spooled_points"] for o in summary["outputs"])
        echoes_per_s = args.devices * 20 / 30
        print(f"{args.devices} devices, defaults (20 echoes / 30 s), embedded store, {wall:.0f} s measured")
        print(f"  daemon CPU        {100 * cpu / wall:6.1f} % of one core ({cpu / wall / echoes_per_s * 1e6:.1f} us per echo, "
              f"{echoes_per_s:.0f} echoes/s)")
        print(f"  devices up        {summary['up']} of {summary['devices']} (down {summary['down']}, "
              f"pending {summary['pending']})")
        print(f"  scheduler         runs {icmp['runs_total']}, skipped {icmp['skipped_total']}, "
              f"lag last {icmp['lag_last_s'] * 1000:.1f} ms")
        print(f"  output backlog    {backlog} points")
        print(f"  exit on SIGTERM   {daemon.returncode}")
        return 0 if summary["down"] == 0 and icmp["skipped_total"] == 0 else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
