"""Benchmark: line-protocol encoding of a 10,000-device fleet's samples, by size of the
encoder's caches (escaped tokens and "measurement,tags" heads): a ceiling of 65,536 (what they
start at: cleared when full) against the ceiling they may grow to.

Run from the repository root (no root, no network):
    .venv/bin/python -m bench.lineproto_cache [--devices 22400] [--passes 3] [--sizes 65536,262144,524288]

The samples are those of real polls (bench/snmp_poller.py's replayed switch: `system`, `if`
with 10 ports, `entity_sensor`, answers from memory) of N devices with their own names and
addresses, plus one `icmp` sample each: 13 series a device, so 22,400 devices write the
291,200 series of bench/daemon_10k.py's 10,000 devices (29 each). Each
pass encodes every sample once, as the outputs do over one SNMP interval; the figure is CPU per
sample and per device poll over the passes after a warm one, and the memory the caches hold
(tracemalloc) at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.snmp_poller import _ReplayedClient  # noqa: E402
from monitor import lineproto  # noqa: E402
from probes.base import Sample, Target  # noqa: E402
from probes.snmp import profiles as snmp_profiles  # noqa: E402
from probes.snmp.poller import SnmpPoller  # noqa: E402
from probes.snmp.settings import SnmpSettings  # noqa: E402


def fleet_samples(devices: int) -> list[list[Sample]]:
    """Per device, what one SNMP poll and one ICMP run write."""
    async def polls() -> list[list[Sample]]:
        poller = SnmpPoller(_ReplayedClient(10), snmp_profiles.load_all([snmp_profiles.PACKAGED_PROFILES]))
        settings = SnmpSettings.model_validate({"credentials": {"lab": {"community": "bench"}}, "credential": "lab"})
        out = []
        for i in range(devices):
            address = f"10.234.{i // 250}.{i % 250 + 1}"
            tags = {"device": f"d{i}", "class": "switch", "site": "district", "address": address}
            result = await poller.poll(Target(f"d{i}", address, tags), settings)
            icmp = Sample("icmp", dict(tags), {"up": 1, "sent": 20, "received": 20, "loss_pct": 0.0,
                                                "rtt_avg_ms": 0.08, "result_code": 0}, time.time_ns())
            out.append([*result.samples, icmp])
        return out

    return asyncio.run(polls())


def measure(samples: list[list[Sample]], size: int, passes: int) -> dict:
    lineproto._CACHE_CEILING = size  # the memos start at 65,536 and grow up to this
    lineproto._key_cache, lineproto._head_cache = lineproto._Memo(), lineproto._Memo()
    flat = [s for device in samples for s in device]
    lineproto.encode_batch(flat)  # warm: the caches fill (or churn) as in a running daemon
    started = time.process_time()
    for _ in range(passes):
        lineproto.encode_batch(flat)
    cpu = time.process_time() - started
    tracemalloc.start()  # apart from the timing: tracing makes every allocation dearer
    lineproto._key_cache, lineproto._head_cache = lineproto._Memo(), lineproto._Memo()
    lineproto.encode_batch(flat)
    held = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return {"us_per_sample": cpu / passes / len(flat) * 1e6, "ms_per_device": cpu / passes / len(samples) * 1e3,
            "heads": len(lineproto._head_cache), "keys": len(lineproto._key_cache), "held_mb": held / 2**20}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=22_400)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--sizes", default="65536,262144,524288", help="ceilings of the caches to compare, alternated")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    samples = fleet_samples(args.devices)
    series = len({(s.measurement, *sorted(s.tags.items())) for device in samples for s in device})
    print(f"{args.devices:,} devices, {sum(map(len, samples)):,} samples a pass, {series:,} distinct series")
    sizes = [int(size) for size in args.sizes.split(",")]
    results: dict[int, list[dict]] = {size: [] for size in sizes}
    for _ in range(args.rounds):  # alternated, so a noisy minute hits every size
        for size in sizes:
            results[size].append(measure(samples, size, args.passes))
    for size in sizes:
        us = sorted(r["us_per_sample"] for r in results[size])
        ms = sorted(r["ms_per_device"] for r in results[size])
        last = results[size][-1]
        print(f"ceiling {size:>7,}: {us[0]:.2f} / {us[len(us) // 2]:.2f} / {us[-1]:.2f} us per sample "
              f"(min / median / max), {ms[len(ms) // 2]:.3f} ms per device poll; after one pass it holds "
              f"{last['heads']:,} heads and {last['keys']:,} tokens, {last['held_mb']:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
