"""Benchmark: the SNMP poller's CPU per poll of every recorded real device, this tree against an
older revision, side by side in one run.

Run from the repository root (no root needed, no network):
    .venv/bin/python -m bench.profile_cpu --baseline REV [--rounds 3] [--polls 200]

Why a replay and not snmpsim: against a real agent most of the process's CPU is the kernel's
side of sendto/epoll and the BER codec, the same in both trees; what a change to profiles or
to the poller costs is drowned in it. Here every recording in tests/fixtures is answered from
memory by a stand-in for the client (same `get`/`walk` results as SnmpClient), so the figure
is the poller's own work per poll: selection, request planning, table rows, extraction, counter
rates, derived fields.

"The existing profiles": the after side loads this tree's packaged profiles but keeps only the
names that exist in the baseline, so a profile added since costs nothing here, while a change
to an existing profile, to the engine or to the poller is measured. Each round (5 by default) runs the
baseline and this tree in fresh processes, alternately, so a noisy minute hits both; the
figures are min/median/max over the rounds of the total CPU per poll of all recordings.
Target: the median after/before ratio at most 1.10.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
RECORDING_DIRS = (HERE / "tests" / "fixtures" / "devices" / "snmprec", HERE / "tests" / "fixtures" / "snmprec")

# The class an operator would give each recorded device (others get `other`: only their
# sysObjectID selects profiles). Same choices as the integration test of the poller.
CLASSES = {
    "abbups_abbups": "ups", "aix_net-snmp": "server", "Cisco_sfe2000": "switch", "openwrt": "router",
    "hwg-poseidon": "env_sensor", "apc_surt3000xl": "ups", "apc_netbotz": "env_sensor", "hikvision-nvr": "nvr",
    "hikvision": "nvr", "dahua-nvr": "nvr", "vccodec": "codec", "vrp": "switch", "vrp_ar169fgwl": "router",
    "comware_h3c": "switch", "arista_eos": "switch", "comware": "switch", "ios_2960x": "switch",
}


def recordings() -> list[Path]:
    return sorted((p for d in RECORDING_DIRS for p in d.glob("*.snmprec")), key=lambda p: p.stem)


# --- the worker: runs inside one tree (its probes/ first on sys.path) -----------------------------

def _replay_values(path: Path):
    """OID -> Value of one recording, in the tree's own Value/Kind types."""
    from probes.snmp.ber import Kind, Value

    kinds = {"2": Kind.INTEGER, "65": Kind.COUNTER32, "66": Kind.GAUGE32, "67": Kind.TIMETICKS,
             "70": Kind.COUNTER64}
    values = {}
    for line in path.read_text(encoding="ascii").splitlines():
        if not line.strip():
            continue
        oid, tag, text = line.split("|", 2)
        oid = oid.lstrip(".")
        if tag in kinds:
            values[oid] = Value(kinds[tag], int(text))
        elif tag == "4":
            values[oid] = Value(Kind.OCTETS, text.encode("latin-1"))
        elif tag == "4x":
            values[oid] = Value(Kind.OCTETS, bytes.fromhex(text[: len(text) // 2 * 2]))
        elif tag == "6":
            values[oid] = Value(Kind.OID, text.lstrip("."))
        elif tag == "64":
            values[oid] = Value(Kind.IPADDRESS, text)
        else:
            values[oid] = Value(Kind.NULL, None)
    return values


class _Replay:
    """Answers a poller's GETs and walks from one recording, as SnmpClient would."""

    def __init__(self, values) -> None:
        from probes.snmp.ber import NO_SUCH_OBJECT
        from probes.snmp.client import SnmpResult

        self.result = SnmpResult
        self.missing = NO_SUCH_OBJECT
        self.values = values
        self.ordered = sorted(values, key=lambda oid: tuple(int(part) for part in oid.split(".")))
        self.walks: dict = {}

    async def get(self, agent, oids, options=None):
        return self.result(tuple((oid, self.values.get(oid, self.missing)) for oid in oids), None, 1)

    async def walk(self, agent, root, options=None):
        rows = self.walks.get(root)
        if rows is None:
            prefix = root + "."
            rows = self.walks[root] = tuple((oid, self.values[oid]) for oid in self.ordered if oid.startswith(prefix))
        return self.result(rows, None, 1, "getbulk")

    def close(self) -> None:
        pass


def worker(tree: Path, keep: list[str], polls: int) -> dict:
    """CPU seconds per poll of each recording, with the tree's packaged profiles named in `keep`."""
    sys.path.insert(0, str(tree))
    import asyncio
    import time

    from probes.base import Target
    from probes.snmp import profiles as snmp_profiles
    from probes.snmp.poller import SnmpPoller
    from probes.snmp.settings import SnmpSettings

    loaded = snmp_profiles.load_all([snmp_profiles.PACKAGED_PROFILES])
    if isinstance(loaded, dict):
        chosen = {name: profile for name, profile in loaded.items() if name in keep}
    else:
        chosen = [profile for profile in loaded if profile.name in keep]
    settings = SnmpSettings.model_validate({"credentials": {"lab": {"community": "bench"}}, "credential": "lab"})

    async def run(path: Path) -> tuple[float, int]:
        poller = SnmpPoller(_Replay(_replay_values(path)), chosen)
        target = Target(path.stem, "127.0.0.1", {"device": path.stem, "class": CLASSES.get(path.stem, "other")})
        for _ in range(3):  # selection, caches, counter state (rates from the second poll on)
            await poller.poll(target, settings)
        started = time.process_time()
        for _ in range(polls):
            result = await poller.poll(target, settings)
        return (time.process_time() - started) / polls, len(result.samples)

    return {path.stem: asyncio.run(run(path)) for path in recordings()}


# --- the driver --------------------------------------------------------------------------------

def _packaged_names(tree: Path) -> list[str]:
    return sorted(p.stem for p in (tree / "probes" / "snmp" / "packaged").glob("*.yaml"))


def _export(revision: str, into: Path) -> None:
    """The baseline's files (git archive: no worktree left behind)."""
    archive = into / "baseline.tar"
    subprocess.run(["git", "-C", str(HERE), "archive", "--format=tar", "-o", str(archive), revision], check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into / "tree", filter="data")


def _measure(tree: Path, keep: list[str], polls: int) -> dict:
    out = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker", str(tree),
                          "--keep", ",".join(keep), "--polls", str(polls)],
                         check=True, capture_output=True, text=True, cwd=tree)
    return json.loads(out.stdout)


def compare(revision: str, rounds: int, polls: int) -> int:
    with tempfile.TemporaryDirectory(prefix="nv-profile-cpu-") as work:
        work = Path(work)
        _export(revision, work)
        baseline = work / "tree"
        keep = _packaged_names(baseline)
        before_runs, after_runs = [], []
        for _ in range(rounds):
            before_runs.append(_measure(baseline, keep, polls))
            after_runs.append(_measure(HERE, keep, polls))
    names = sorted(set(before_runs[0]) & set(after_runs[0]))
    print(f"SNMP poller CPU per poll, recordings replayed from memory, the {len(keep)} profiles of {revision} "
          f"({polls} polls each, {rounds} rounds, median per recording)")
    print(f"  {'recording':<22} {'before':>9} {'after':>9} {'ratio':>6}  samples before/after")
    for name in names:
        before = statistics.median(run[name][0] for run in before_runs) * 1e6
        after = statistics.median(run[name][0] for run in after_runs) * 1e6
        print(f"  {name:<22} {before:>7.0f}us {after:>7.0f}us {after / before:>6.2f}  "
              f"{before_runs[0][name][1]}/{after_runs[0][name][1]}")
    totals_before = sorted(sum(run[n][0] for n in names) * 1e6 for run in before_runs)
    totals_after = sorted(sum(run[n][0] for n in names) * 1e6 for run in after_runs)
    ratios = sorted(a / b for a, b in zip((sum(r[n][0] for n in names) for r in after_runs),
                                          (sum(r[n][0] for n in names) for r in before_runs)))
    print(f"  all {len(names)} recordings, one poll each: before min/median/max "
          f"{totals_before[0]:.0f}/{statistics.median(totals_before):.0f}/{totals_before[-1]:.0f} us, "
          f"after {totals_after[0]:.0f}/{statistics.median(totals_after):.0f}/{totals_after[-1]:.0f} us")
    median = statistics.median(ratios)
    verdict = "met" if median <= 1.10 else "MISSED"
    print(f"  after/before per round: {' '.join(f'{r:.2f}' for r in ratios)}; "
          f"target median <= 1.10: {verdict} ({median:.2f})")
    return 0 if median <= 1.10 else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default="HEAD", help="git revision to compare with (default HEAD)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--polls", type=int, default=200, help="polls measured per recording and round")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--keep", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.keep.split(","), args.polls)))
        return 0
    return compare(args.baseline, args.rounds, args.polls)


if __name__ == "__main__":
    sys.exit(main())
