"""The cyclic garbage collector, set for a daemon whose heap is mostly long-lived.

Python's default (a young collection every 700 new container objects, an old one every 100 of
those) is made for short scripts. The daemon holds the inventory, the settings, every
device's state and the encoding caches for as long as it runs, and each device poll makes a
few hundred short-lived tuples and dicts (decoded varbinds, samples): with the default, the
collector ran so often, and walked the long-lived heap so often, that it was about a fifth of
the daemon's CPU at 2,500 SNMP devices (docs/benchmarks.md, "Per-poll cost in the daemon").
Two changes, neither of which touches what is probed or written:

* `tune`: young collections every YOUNG_THRESHOLD new objects instead of 700, so a poll's
  temporaries are mostly gone (freed by reference counting) before a collection sees them,
  instead of being promoted and walked again by the older generations;
* `settle`: after start-up and after every reload, what exists is collected once and then
  frozen (`gc.freeze`): the configuration, inventory and caches live until the next reload,
  so the collector stops walking them. Before freezing, the previous freeze is undone, so the
  objects a reload leaves behind (the old inventory and settings) are collected, not kept.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 50_000


def tune() -> None:
    """Collect the young generation every YOUNG_THRESHOLD new objects (the older ones as before)."""
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)


def settle() -> int:
    """Collect what is garbage now (including what an earlier freeze held), then freeze the rest.

    Returns the number of objects frozen."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
