"""Heightened watch shortens probe intervals (faults.heightened_watch.probe_intervals): the
daemon re-arms its schedule with these batches when a period begins or ends."""

from __future__ import annotations

from monitor import config
from monitor.daemon import all_batches
from lab.support import REPO


def _intervals(batches, kind: str) -> set[float]:
    return {batch.interval_s for batch in batches if batch.kind == kind}


def test_watch_intervals_shorten_but_never_lengthen_or_undercut_a_run():
    cfg = config.load(REPO / "config" / "demo" / "netvigil.yaml")
    normal = all_batches(cfg.inventory, 1.0)
    assert _intervals(normal, "icmp") == {10.0, 20.0}  # the demo: 10 s, cameras 20 s
    watch = all_batches(cfg.inventory, 1.0, {"icmp": 5})
    assert _intervals(watch, "icmp") == {5.0}
    assert {batch.settings.interval_s for batch in watch if batch.kind == "icmp"} == {5.0}
    longer = all_batches(cfg.inventory, 1.0, {"icmp": 60})
    assert _intervals(longer, "icmp") == {10.0, 20.0}  # a watch never probes less often
    # 5 echoes 100 ms apart + 1 s timeout take 1.4 s: a 1 s watch interval would overlap runs
    tiny = all_batches(cfg.inventory, 1.0, {"icmp": 1})
    assert _intervals(tiny, "icmp") == {1.4}
