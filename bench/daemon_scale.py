"""Benchmark: the whole daemon on N loopback devices at default ICMP settings.

Run as root from the repository root:  .venv/bin/python -m bench.daemon_scale [--devices 7000] [--seconds 60]

Starts `netvigil run` on a generated inventory of N devices (127.2.0.0/16, every one up),
lets it run for the given time, and prints: CPU used by the daemon (percent of one core),
echoes per second, how many devices are up, scheduler lag (max), runs skipped, and the
output backlog. A device reported down here is a false down.

Echoes are counted by the kernel, not worked out from the settings: an nftables table
(lab/netlab.py) counts the echo requests the host sends to 127.2.0.0/16 and the replies it
gets back during the measured window. A daemon that skipped runs, sent fewer echoes than
configured, or stalled would otherwise still be credited with the configured rate, and its
CPU per echo would look better than it is.
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
sys.path.insert(0, str(REPO))
from lab.netlab import count_packets, nft_table  # noqa: E402

NETVIGIL = str(Path(sys.executable).parent / "netvigil")
DEVICES_NET = "127.2.0.0/16"


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=7000)
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="nvb"))
    daemon = None
    try:
        lines = ["sites:", "  - {name: district, level: district}", "devices:"]
        lines += [f"  - {{name: d{i}, address: 127.2.{i // 250}.{i % 250 + 1}, class: switch, site: district}}"
                  for i in range(args.devices)]
        (work / "inventory.yaml").write_text("\n".join(lines) + "\n")
        (work / "netvigil.yaml").write_text("inventory: [inventory.yaml]\nstate_dir: state\nlog_level: warning\n")
        counting = [count_packets("out", DEVICES_NET, "requests", "icmp type echo-request"),
                    count_packets("in", DEVICES_NET, "replies", "icmp type echo-reply")]
        with nft_table(counting) as table:
            daemon = subprocess.Popen([NETVIGIL, "run", "-c", str(work / "netvigil.yaml")],
                                      stderr=open(work / "daemon.log", "wb"))
            time.sleep(3)  # start-up: config load, sockets, schedule armed
            counted0, cpu0, wall0 = table.counters(), _cpu_seconds(daemon.pid), time.monotonic()
            time.sleep(args.seconds)
            cpu, wall = _cpu_seconds(daemon.pid) - cpu0, time.monotonic() - wall0
            counted = table.counters()
            status = json.loads(subprocess.run([NETVIGIL, "status", "-c", str(work / "netvigil.yaml"), "--json"],
                                               capture_output=True, text=True, check=True).stdout)
            daemon.terminate()
            daemon.wait(20)
        summary = status["daemon"]
        icmp = summary["scheduler"]["icmp"]
        backlog = sum(o["queued_points"] + o["spooled_points"] for o in summary["outputs"])
        sent = counted["requests"] - counted0["requests"]
        replies = counted["replies"] - counted0["replies"]
        echoes_per_s = sent / wall
        configured_per_s = args.devices * 20 / 30
        print(f"{args.devices} devices, defaults (20 echoes / 30 s), embedded store, {wall:.0f} s measured")
        print(f"  echoes sent       {echoes_per_s:.0f}/s counted by nftables ({sent} requests, {replies} replies; "
              f"the settings ask for {configured_per_s:.0f}/s)")
        per_echo = f"{cpu / sent * 1e6:.1f} us per echo" if sent else "no echo sent"
        print(f"  daemon CPU        {100 * cpu / wall:6.1f} % of one core ({per_echo})")
        print(f"  devices up        {summary['up']} of {summary['devices']} (down {summary['down']}, "
              f"pending {summary['pending']})")
        print(f"  scheduler         runs {icmp['runs_total']}, skipped {icmp['skipped_total']}, "
              f"lag last {icmp['lag_last_s'] * 1000:.1f} ms")
        print(f"  output backlog    {backlog} points")
        print(f"  exit on SIGTERM   {daemon.returncode}")
        return 0 if summary["down"] == 0 and icmp["skipped_total"] == 0 and sent > 0 else 1
    finally:
        if daemon is not None and daemon.poll() is None:  # a failure above left it running
            daemon.kill()
            daemon.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
