"""`workers`: probing spread over worker processes, one per core (see pool.py for what runs where)."""

from __future__ import annotations

import os

# `workers: auto` starts worker processes only from this many devices. Below it one core is
# mostly idle (3,000 SNMP devices cost 23 % of one core, docs/benchmarks.md), and each worker
# costs its own memory, its own reading of the configuration at start and reload, and one
# more process to watch; the single process is also what the demo and small sites debug best.
AUTO_MIN_DEVICES = 2_000


def usable_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))  # CPUAffinity= and taskset count, not the host's
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def effective_workers(setting, device_count: int) -> int:
    """How many worker processes `workers` means for an inventory of `device_count` devices
    (1: no workers, the daemon probes in its own process)."""
    if setting == "auto":
        return usable_cores() if device_count >= AUTO_MIN_DEVICES else 1
    return int(setting)
