"""Topology: which devices a failure cuts off (no network: the graph is pure)."""

from __future__ import annotations

from monitor.faults.model import DeviceInfo
from monitor.faults.topology import Topology, down_from


def _net(links: dict[str, tuple[str, ...]]) -> Topology:
    return Topology(DeviceInfo(name, "switch", ("district",), parents=parents) for name, parents in links.items())


# egress <- core <- access-1 <- cam-1, cam-2 ; core <- access-2 <- codec-2 ; codec-2 also via backup
NET = {
    "egress": (),
    "core": ("egress",),
    "backup": (),
    "access-1": ("core",),
    "access-2": ("core",),
    "cam-1": ("access-1",),
    "cam-2": ("access-1",),
    "codec-2": ("access-2", "backup"),
    "server": (),
}


def test_nothing_down_nothing_cut_off():
    topo = _net(NET)
    assert not any(topo.cut_off(name, down_from({})) for name in NET)


def test_core_down_cuts_off_everything_behind_it_except_redundant_paths():
    topo = _net(NET)
    down = down_from({"core": True})
    assert topo.behind("core", down) == ["access-1", "access-2", "cam-1", "cam-2"]
    assert not topo.cut_off("codec-2", down)  # its second uplink (backup) is up
    assert not topo.cut_off("core", down)  # the failed device itself is the cause, not a symptom
    assert topo.causes("cam-1", down) == ["core"]  # looked through access-1, which is up but cut off


def test_both_redundant_paths_down():
    topo = _net(NET)
    down = down_from({"access-2": True, "backup": True})
    assert topo.cut_off("codec-2", down)
    assert sorted(topo.causes("codec-2", down)) == ["access-2", "backup"]


def test_nearest_failed_ancestor_is_the_cause():
    topo = _net(NET)
    down = down_from({"core": True, "access-1": True})
    assert topo.causes("cam-2", down) == ["access-1"]
    assert topo.causes("access-1", down) == ["core"]


def test_device_without_parents_is_never_cut_off():
    topo = _net(NET)
    assert not topo.cut_off("server", down_from({"egress": True, "core": True}))
    assert topo.causes("server", down_from({"egress": True})) == []


def test_descendants_and_ancestors():
    topo = _net(NET)
    assert topo.descendants("core") == ["access-1", "access-2", "cam-1", "cam-2", "codec-2"]
    assert topo.ancestors("cam-1") == ["access-1", "core", "egress"]


def test_deep_chain_does_not_recurse():
    chain = {"n0": ()}
    for i in range(1, 20_000):
        chain[f"n{i}"] = (f"n{i - 1}",)
    topo = _net(chain)
    down = down_from({"n0": True})
    assert topo.cut_off("n19999", down)
    assert len(topo.behind("n0", down)) == 19_999
