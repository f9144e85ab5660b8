"""Benchmark: `netvigil rollcall` over 600 conference endpoints, as the district network has.

Run as root from the repository root:  .venv/bin/python -m bench.rollcall [--endpoints 600] [--runs 3]

The inventory is the district's shape: 15 streets, each with bureaus and communities (Chinese
site names), MCUs at the district, codecs and IP video phones below. 596 endpoints are
loopback addresses (the kernel answers all of 127/8); nftables makes one of them lossy (30 %
of echo requests dropped) and one silent. Four live in a network namespace (lab/netlab.py):
two answered normally, one answered with 30 % loss by the responder, one ICMP-silent. The
command runs as a person would run it (a fresh process, settings loaded, the record written to
the state directory and the embedded store), `--runs` times in a row. Printed: wall time of
each run (min / median / max) and whether the lossy endpoints were reported degraded, the
silent ones absent and every other present. Target: under 10 s wall per run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lab.netlab import SILENT, drop_input, lossy_input, netns_hosts, nft_table  # noqa: E402
from lab.support import VENV_BIN, require_root  # noqa: E402

TARGET_S = 10.0
STREETS = 15
LOSS_PCT = 30


def _loopback(i: int) -> str:
    # 127.46/16: away from 127.0.0.1 (other tests' servers) and from the netlab's per-pid block.
    return f"127.46.{i // 250}.{i % 250 + 1}"


def write_settings(directory: Path, loopback_count: int, lab) -> tuple[Path, dict]:
    """Settings + inventory; returns the path and device name -> expected state."""
    sites = ["  - {name: district, level: district, label: 东城区}"]
    places = []
    for s in range(1, STREETS + 1):
        street = f"街道{s:02d}"
        sites.append(f"  - {{name: {street}, parent: district, level: street}}")
        for b in range(1, 4):
            sites.append(f"  - {{name: {street}-局{b}, parent: {street}, level: bureau}}")
            places.append(f"{street}-局{b}")
        for c in range(1, 11):
            sites.append(f"  - {{name: {street}-社区{c:02d}, parent: {street}, level: community}}")
            places.append(f"{street}-社区{c:02d}")
    devices, expected = [], {}

    def add(name: str, address: str, cls: str, site: str, state: str) -> None:
        devices.append(f"  - {{name: {name}, address: {address}, class: {cls}, site: {site}}}")
        expected[name] = state

    for i in range(loopback_count):
        if i < 3:
            add(f"mcu-{i + 1}", _loopback(i), "mcu", "district", "present")
            continue
        cls = "phone" if i % 5 == 0 else "codec"
        add(f"终端-{i:03d}", _loopback(i), cls, places[i % len(places)], "present")
    lossy_name, silent_name = f"终端-{loopback_count - 2:03d}", f"终端-{loopback_count - 1:03d}"
    expected[lossy_name], expected[silent_name] = "degraded", "absent"
    for key, state in (("ns-a", "present"), ("ns-b", "present"), ("ns-lossy", "degraded"), ("ns-quiet", "absent")):
        add(f"codec-{key}", lab[key], "codec", places[0], state)
    (directory / "inventory.yaml").write_text("sites:\n" + "\n".join(sites) + "\ndevices:\n" + "\n".join(devices) + "\n")
    settings = directory / "netvigil.yaml"
    settings.write_text("inventory: [inventory.yaml]\nstate_dir: state\nrules: {dirs: []}\n")
    (directory / "state").mkdir(exist_ok=True)
    return settings, expected


def one_run(settings: Path) -> tuple[float, int, dict]:
    started = time.monotonic()
    result = subprocess.run([str(VENV_BIN / "netvigil"), "rollcall", "-c", str(settings), "--json",
                             "--name", "bench"], capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    wall = time.monotonic() - started
    if result.returncode == 2 or not result.stdout:
        raise SystemExit(f"rollcall failed ({result.returncode}): {result.stderr.strip()}")
    record = json.loads(result.stdout)
    return wall, result.returncode, {entry["device"]: entry["state"] for entry in record["endpoints"]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--endpoints", type=int, default=600)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    require_root()
    loopback_count = args.endpoints - 4
    walls, ok = [], True
    with tempfile.TemporaryDirectory(prefix="bench-rollcall-") as tmp, \
            nft_table([lossy_input(_loopback(loopback_count - 2), LOSS_PCT), drop_input(_loopback(loopback_count - 1))]), \
            netns_hosts({"ns-a": (0, 0), "ns-b": (0, 0), "ns-lossy": (0, LOSS_PCT), "ns-quiet": SILENT}) as lab:
        settings, expected = write_settings(Path(tmp), loopback_count, lab)
        for run in range(1, args.runs + 1):
            wall, code, states = one_run(settings)
            walls.append(wall)
            wrong = {name: (states.get(name), want) for name, want in expected.items() if states.get(name) != want}
            counts = {state: sum(1 for s in states.values() if s == state) for state in ("present", "degraded", "absent")}
            right = not wrong and code == 1
            ok = ok and right and wall < TARGET_S
            print(f"run {run}: {wall:.2f} s wall, exit {code}, {len(states)} endpoints: "
                  f"{counts['present']} present, {counts['degraded']} degraded, {counts['absent']} absent; "
                  + ("all reported right" if right else f"WRONG: {wrong}"))
    print(f"rollcall of {args.endpoints} endpoints, {args.runs} runs: wall min/median/max "
          f"{min(walls):.2f} / {statistics.median(walls):.2f} / {max(walls):.2f} s (target < {TARGET_S:g} s): "
          + ("PASS" if ok else "FAIL"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
