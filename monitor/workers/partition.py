"""Split the inventory between worker processes: whole site subtrees where possible, even load.

A site subtree stays in one worker so one process sees a street office's devices together
(its log lines, its probe sockets, its SSH sessions); the fault manager that needs parents
and children together runs in the parent process and sees every worker's samples anyway, so
the split is about CPU and locality only.

    1. Every root site's subtree is a group, weighted by the probe runs per minute of its
       devices (an SNMP device polled every 60 s weighs 1 per kind it runs).
    2. Largest group first, each goes whole to the least loaded worker if that stays within
       TOLERANCE of an even share (first fit decreasing, with a capacity).
    3. A group that fits nowhere is cut, and its pieces go back in line: a subtree into the
       site's own devices and one group per child site; a site's own devices (by name) into
       what fills the least loaded worker to an even share and the rest. Only what does not fit is cut: a
       district of 15 streets on 2 workers keeps whole streets, three equal streets on 2
       workers cut one street, one flat site of 7,000 devices is cut in two.

The result depends only on the inventory, so a worker restarted after a crash gets the same
devices back, and a reload moves devices only when the sites or their weights changed.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Iterable, Sequence

from probes.registry import KINDS

# A worker may carry this much more than an even share before subtrees are cut further:
# 10 % of one core at the fleet sizes where workers matter, against the cost of cutting a
# street office over two processes.
TOLERANCE = 0.10


@dataclass(frozen=True)
class Group:
    """Devices dealt together: a site's subtree, or some of a site's own devices."""

    site: str  # the subtree's root site, or the site of the devices
    devices: tuple[str, ...]
    weight: float


@dataclass(frozen=True)
class Shard:
    devices: tuple[str, ...]
    sites: tuple[str, ...]  # the group sites dealt to it, for the log line
    weight: float


def device_weight(device) -> float:
    """Probe runs per minute of one device over every kind it runs; at least 1, so a device
    with long intervals or nothing enabled still counts in the balance."""
    per_minute = 0.0
    for name, kind in KINDS.items():
        for run in kind.runs(getattr(device, name)):
            per_minute += 60.0 / max(run.interval_s, 1.0)
    return max(per_minute, 1.0)


def split(devices: Sequence, workers: int) -> list[Shard]:
    """`devices` (inventory Device objects: name, site_path) into `workers` shards."""
    if workers < 1:
        raise ValueError("workers must be at least 1")
    weights = {device.name: device_weight(device) for device in devices}
    paths = {device.name: device.site_path for device in devices}  # every device has a site
    roots = sorted({path[0] for path in paths.values()})
    if workers == 1:
        return [Shard(tuple(weights), tuple(roots), sum(weights.values()))]
    groups = [_group(root, [name for name in weights if paths[name][0] == root], weights) for root in roots]
    even = sum(weights.values()) / workers
    capacity = even * (1 + TOLERANCE)
    loads = [0.0] * workers
    dealt: list[list[Group]] = [[] for _ in range(workers)]
    line = [(_order(group), group) for group in groups]
    heapq.heapify(line)
    while line:
        _, group = heapq.heappop(line)
        index = min(range(workers), key=lambda i: (loads[i], i))
        if group.weight <= capacity - loads[index] or len(group.devices) == 1:
            dealt[index].append(group)
            loads[index] += group.weight
            continue
        # A cut fills the least loaded worker up to an even share, not to the capacity:
        # the tolerance is for keeping groups whole, not a target.
        for piece in _cut(group, paths, weights, even - loads[index]):
            heapq.heappush(line, (_order(piece), piece))
    return [Shard(tuple(name for group in groups for name in group.devices),
                  tuple(dict.fromkeys(group.site for group in groups)), sum(group.weight for group in groups))
            for groups in dealt]


def _order(group: Group) -> tuple:
    return (-group.weight, group.site, group.devices[:1])


def _group(site: str, names: Iterable[str], weights) -> Group:
    members = tuple(sorted(names))
    return Group(site, members, sum(weights[name] for name in members))


def _cut(group: Group, paths, weights, room: float) -> list[Group]:
    """A subtree into its site's own devices and its child subtrees; a site's own devices into
    the first ones (by name) that fill `room`, at least one, and the rest."""
    depth = paths[group.devices[0]].index(group.site)
    own = [name for name in group.devices if len(paths[name]) == depth + 1]
    children: dict[str, list[str]] = {}
    for name in group.devices:
        if len(paths[name]) > depth + 1:
            children.setdefault(paths[name][depth + 1], []).append(name)
    parts = [_group(child, names, weights) for child, names in sorted(children.items())]
    if own and parts:
        parts.append(_group(group.site, own, weights))
    if len(parts) > 1:
        return parts
    if parts:  # a site with one child site and no devices of its own: cut that child
        return _cut(parts[0], paths, weights, room)
    taken, filled = 1, weights[group.devices[0]]
    while taken < len(group.devices) - 1 and filled + weights[group.devices[taken]] <= room:
        filled += weights[group.devices[taken]]
        taken += 1
    return [_group(group.site, part, weights) for part in (group.devices[:taken], group.devices[taken:])]

