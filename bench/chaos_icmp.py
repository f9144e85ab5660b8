"""Chaos: a forger answers echo requests for a device whose traffic is dropped, against the daemon.

Run as root from the repository root:  .venv/bin/python -m bench.chaos_icmp [--devices 50] [--seconds 60]

Inside a network namespace of its own (nothing leaves it): the daemon probes `--devices`
loopback addresses every 5 s (3 echoes) with faults and the embedded store on; one of them,
the victim, has its traffic dropped by nftables, so its `device_unreachable` fault opens. Then
lab/icmp_forger.py sniffs the requests to the other devices and answers for the victim
(neighbouring tokens, replays, duplicates) for `--seconds`. What must hold: not one `icmp`
sample of the victim says up, its fault stays open (no RESOLVED), every other device stays up
with all its echoes counted once. Prints what the forger sent and what the daemon recorded;
exit 1 if the forger got through.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lab.netlab import SILENT, netns_hosts  # noqa: E402
from lab.support import Process  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
NETVIGIL = str(Path(sys.executable).parent / "netvigil")
VICTIM = "127.0.0.250"


def _inventory(devices: int) -> str:
    lines = ["sites:\n  - {name: room, level: room}\ndevices:\n"]
    for i in range(devices - 1):
        lines.append(f"  - {{name: live-{i}, address: 127.0.{1 + i // 200}.{1 + i % 200}, class: switch, site: room}}\n")
    lines.append(f"  - {{name: victim, address: {VICTIM}, class: switch, site: room}}\n")
    return "".join(lines)


def _victim_up_samples(db: Path) -> tuple[int, int]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT p.fields FROM point p JOIN series s ON s.id = p.series_id "
                            "WHERE s.measurement = 'icmp' AND s.device = 'victim'").fetchall()
    return sum(1 for (fields,) in rows if json.loads(fields).get("up")), len(rows)


def run(devices: int = 50, seconds: float = 60.0) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="nvchaos-icmp-"))
    try:
        (workdir / "inventory.yaml").write_text(_inventory(devices))
        settings = workdir / "netvigil.yaml"
        settings.write_text("inventory: [inventory.yaml]\nstate_dir: state\napi: {enabled: false}\n"
                            "probes:\n  icmp: {interval_s: 5, count: 3, echo_interval_ms: 100, timeout_s: 1.0}\n"
                            "scheduler: {slot_s: 0.5}\n")
        with netns_hosts({"unused": SILENT}) as lab:
            subprocess.run(lab.exec_argv("sysctl", "-qw", "net.ipv4.icmp_echo_ignore_all=0"), check=True)
            subprocess.run(lab.exec_argv("nft", "-f", "-"), check=True, text=True,
                           input=f"table inet chaos {{\n chain in {{\n type filter hook input priority 0;\n"
                                 f" ip daddr {VICTIM} drop\n }}\n}}\n")
            daemon = Process(lab.exec_argv(NETVIGIL, "run", "-c", str(settings)), workdir / "daemon.log")
            forger = None
            try:
                deadline = time.monotonic() + 60
                while "device_unreachable" not in _open_rules(settings, lab):
                    if time.monotonic() > deadline or not daemon.alive():
                        raise RuntimeError(f"the victim's fault never opened:\n{daemon.log()[-3000:]}")
                    time.sleep(1)
                forger = subprocess.Popen(lab.exec_argv(sys.executable, str(REPO / "lab" / "icmp_forger.py"),
                                                        "--impersonate", VICTIM),
                                          stdout=subprocess.PIPE, text=True)
                if forger.stdout.readline().strip() != "ready":
                    raise RuntimeError("the forger did not start")
                time.sleep(seconds)
                forger.terminate()
                forged = json.loads(forger.communicate(timeout=10)[0].strip().splitlines()[-1])
                still_open = "device_unreachable" in _open_rules(settings, lab)
            finally:
                if forger is not None and forger.poll() is None:
                    forger.kill()
                    forger.wait()
                daemon.stop()
        up, total = _victim_up_samples(workdir / "state" / "metrics.db")
        return {"devices": devices, "seconds": seconds, "forger": forged, "victim_samples": total,
                "victim_up_samples": up, "fault_still_open": still_open}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _open_rules(settings: Path, lab) -> set[str]:
    result = subprocess.run(lab.exec_argv(NETVIGIL, "faults", "--open", "--json", "-c", str(settings)),
                            capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        return set()
    return {fault["rule"] for fault in json.loads(result.stdout)["faults"] if fault["device"] == "victim"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    result = run(args.devices, args.seconds)
    print(f"forged echo replies for a dropped device over {result['seconds']:g} s at {result['devices']} devices: "
          f"the forger saw {result['forger']['requests_seen']} requests and sent {result['forger']['forged_sent']} "
          f"forged replies and {result['forger']['duplicates_sent']} duplicates; the victim's "
          f"{result['victim_samples']} icmp samples said up {result['victim_up_samples']} times; its fault "
          f"{'stayed open' if result['fault_still_open'] else 'was RESOLVED'}")
    return 0 if result["victim_up_samples"] == 0 and result["fault_still_open"] else 1


if __name__ == "__main__":
    sys.exit(main())
