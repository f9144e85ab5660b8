"""Chaos scenario: hostile SNMP agents against the poller, with its row bounds in place.

Run from the repository root:
    .venv/bin/python -m bench.chaos_snmp [--polls 5] [--behaviour ever-longer] [--seed 11]

One real net-snmp snmpd (lab/snmplab.py) answers the GETs; in front of it, one agent per
hostile behaviour of lab/udpfake.py answers every table walk the way no real agent would:

* `ever-longer`: every OID longer than the one before, random sub-identifiers, no end of the
  table (new random row indexes each poll: the reported cardinality explosion);
* `endless`: short random row indexes that never end (as many rows as the walk asks for);
* `malformed-after`: two real rows per column, then a truncated answer.

Each agent is polled `--polls` times as a switch (profiles system, if, entity_sensor, and
host through snmpd's sysObjectID) with the default settings, and every sample goes into an
embedded store (monitor/outputs/embedded.py) in a temporary directory. Printed per poll:
samples, new series (measurement + tags + field, what an InfluxDB-compatible store counts),
all series so far, requests, CPU and wall time, error code and the sentence `status` shows;
then the store's size. Exit status 0 when no poll after the first added a series (the bound
holds), 1 otherwise. The same seed gives the same invented OIDs.

`run_scenario(behaviour, polls)` is the scenario as a function, for a larger chaos script:
it returns one `PollFigures` per poll.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from monitor.outputs.embedded import EmbeddedStore  # noqa: E402
from probes.snmp import profiles as snmp_profiles  # noqa: E402
from probes.base import Target  # noqa: E402
from probes.snmp.poller import ErrorCode, SnmpPoller  # noqa: E402
from probes.snmp.client import SnmpClient  # noqa: E402
from probes.snmp.settings import SnmpSettings  # noqa: E402
from lab.snmplab import COMMUNITY, Snmpd  # noqa: E402
from lab.udpfake import HOSTILE_BEHAVIOURS, hostile_agent  # noqa: E402


@dataclass(frozen=True)
class PollFigures:
    """One poll of a hostile agent, as the chaos report shows it."""

    poll: int
    samples: int
    new_series: int
    series: int
    requests: int
    cpu_ms: float
    wall_ms: float
    error_code: int
    sentence: str


def run_scenario(behaviour: str, polls: int = 5, seed: int = 11, store_dir: Path | None = None) -> list[PollFigures]:
    """Poll one hostile agent (`behaviour` of lab/udpfake.py HOSTILE_BEHAVIOURS) `polls` times
    with the default SNMP settings; samples go to an embedded store in `store_dir` (a
    temporary directory if None). Starts and stops its own snmpd and agent."""
    with tempfile.TemporaryDirectory(prefix="nv-chaos-snmp-") as work:
        work = Path(work)
        snmpd = Snmpd(work / "snmpd", users=()).start()
        agent = hostile_agent(snmpd.endpoint, behaviour, seed=seed)
        store = EmbeddedStore((store_dir or work) / "metrics.db", retention_days=1)
        try:
            return asyncio.run(_polls(agent.port, polls, store))
        finally:
            store.close()
            agent.stop()
            snmpd.stop()


async def _polls(port: int, polls: int, store: EmbeddedStore) -> list[PollFigures]:
    client = SnmpClient()
    poller = SnmpPoller(client, snmp_profiles.load_all([snmp_profiles.PACKAGED_PROFILES]))
    settings = SnmpSettings.model_validate({"credentials": {"lab": {"community": COMMUNITY}}, "credential": "lab",
                                            "port": port, "timeout_s": 1.0, "retries": 0})
    target = Target("hostile", "127.0.0.1", {"device": "hostile", "address": "127.0.0.1", "class": "switch"})
    seen: set[tuple] = set()
    figures = []
    try:
        for number in range(1, polls + 1):
            cpu, wall = time.process_time(), time.monotonic()
            result = await poller.poll(target, settings)
            cpu, wall = time.process_time() - cpu, time.monotonic() - wall
            store.write(result.samples)
            before = len(seen)
            seen.update((sample.measurement, tuple(sorted(sample.tags.items())), field)
                        for sample in result.samples for field in sample.fields)
            status = result.samples[-1].fields
            figures.append(PollFigures(number, len(result.samples), len(seen) - before, len(seen), status["requests"],
                                       cpu * 1000, wall * 1000, status["error_code"],
                                       result.error.detail if result.error else ""))
    finally:
        client.close()
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--polls", type=int, default=5)
    parser.add_argument("--behaviour", choices=HOSTILE_BEHAVIOURS, action="append",
                        help="one behaviour (repeatable); default: all")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    defaults = SnmpSettings()
    # getattr: the same script shows an older checkout of probes/ without these settings.
    print("bounds: " + ", ".join(f"{key} {getattr(defaults, key, 'none')}" for key in (
        "max_rows_per_table", "max_rows_per_device", "max_index_length", "max_walk_varbinds")))
    bounded = True
    for behaviour in args.behaviour or HOSTILE_BEHAVIOURS:
        with tempfile.TemporaryDirectory(prefix="nv-chaos-store-") as store_dir:
            figures = run_scenario(behaviour, args.polls, args.seed, Path(store_dir))
            size = sum(path.stat().st_size for path in Path(store_dir).iterdir())
        print(f"\n{behaviour}:")
        print("  poll  samples  new series  series  requests  CPU ms  wall ms  error_code")
        for f in figures:
            print(f"  {f.poll:>4}  {f.samples:>7}  {f.new_series:>10}  {f.series:>6}  {f.requests:>8}  "
                  f"{f.cpu_ms:>6.0f}  {f.wall_ms:>7.0f}  {f.error_code} {ErrorCode(f.error_code).name.lower()}")
        print(f"  embedded store after {len(figures)} polls: {size / 1e6:.2f} MB")
        print(f"  status: {figures[-1].sentence}")
        grew = [f.poll for f in figures[1:] if f.new_series]
        if grew:
            bounded = False
            print(f"  NOT BOUNDED: polls {grew} added series")
    return 0 if bounded else 1


if __name__ == "__main__":
    sys.exit(main())
