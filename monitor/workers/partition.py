"""Split the inventory between worker processes: whole site subtrees where possible, even load.

A site subtree stays in one worker so one process sees a street office's devices together
(its log lines, its probe sockets, its SSH sessions); the fault manager that needs parents
and children together runs in the parent process and sees every worker's samples anyway, so
the split is about CPU and locality only.

    1. Every root site's subtree is a group, weighted by the probe runs per minute of its
       devices (an SNMP device polled every 60 s weighs 1 per kind it runs).
    2. Groups are dealt largest first to the least loaded worker (longest processing time
       first: within 4/3 of the best possible maximum).
    3. While the most loaded worker carries more than TOLERANCE over an even share and a group
       can be split, the largest splittable group is split: a subtree into the site's own
       devices and one group per child site; a site's own devices into two halves by name.
       Then deal again. A district of 15 streets on 2 workers keeps whole streets; one flat
       site of 7,000 devices is cut in halves.

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
    """Devices dealt together: the site they hang from and whether the group is its subtree."""

    site: str  # the subtree's root site; for a half of a site's own devices, the site
    devices: tuple[str, ...]
    weight: float
    subtree: bool  # the whole subtree of `site` (else devices of `site` itself, or part of them)


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
        settings = getattr(device, name, None)
        if settings is None:
            continue
        for run in kind.runs(settings):
            per_minute += 60.0 / max(run.interval_s, 1.0)
    return max(per_minute, 1.0)


def split(devices: Sequence, workers: int) -> list[Shard]:
    """`devices` (inventory Device objects: name, site_path) into `workers` shards."""
    if workers < 1:
        raise ValueError("workers must be at least 1")
    weights = {device.name: device_weight(device) for device in devices}
    paths = {device.name: device.site_path for device in devices}
    if workers == 1:
        return [Shard(tuple(weights), tuple(sorted({path[0] for path in paths.values() if path})),
                      sum(weights.values()))]
    groups = [_subtree(root, [name for name in weights if paths[name][:1] == (root,)], weights)
              for root in sorted({path[0] for path in paths.values() if path})]
    unsited = [name for name in weights if not paths[name]]
    if unsited:
        groups.append(Group("", tuple(sorted(unsited)), sum(weights[n] for n in unsited), False))
    even = sum(weights.values()) / workers
    while True:
        shards = _deal(groups, workers)
        heaviest = max(shard.weight for shard in shards)
        splittable = [group for group in groups if len(group.devices) > 1]
        if heaviest <= even * (1 + TOLERANCE) or not splittable:
            return shards
        largest = max(splittable, key=lambda group: (group.weight, group.site))
        groups.remove(largest)
        groups += _cut(largest, paths, weights)


def _subtree(site: str, names: Iterable[str], weights) -> Group:
    members = tuple(sorted(names))
    return Group(site, members, sum(weights[name] for name in members), True)


def _cut(group: Group, paths, weights) -> list[Group]:
    """A subtree into its site's own devices and its child subtrees; own devices into halves."""
    if group.subtree:
        depth = _depth(group, paths)
        own = [name for name in group.devices if len(paths[name]) == depth + 1]
        children: dict[str, list[str]] = {}
        for name in group.devices:
            if len(paths[name]) > depth + 1:
                children.setdefault(paths[name][depth + 1], []).append(name)
        parts = [_subtree(child, names, weights) for child, names in sorted(children.items())]
        if own:
            parts.append(Group(group.site, tuple(own), sum(weights[name] for name in own), False))
        if len(parts) > 1:
            return parts
        if not own:  # a site with one child site and no devices of its own: cut that child
            return _cut(parts[0], paths, weights)
    half = len(group.devices) // 2
    return [Group(group.site, part, sum(weights[name] for name in part), False)
            for part in (group.devices[:half], group.devices[half:])]


def _depth(group: Group, paths) -> int:
    """Index of the group's site in its devices' site paths."""
    return paths[group.devices[0]].index(group.site)


def _deal(groups: Sequence[Group], workers: int) -> list[Shard]:
    loads = [(0.0, index) for index in range(workers)]
    members: list[list[Group]] = [[] for _ in range(workers)]
    for group in sorted(groups, key=lambda group: (-group.weight, group.site, group.devices[:1])):
        load, index = heapq.heappop(loads)
        members[index].append(group)
        heapq.heappush(loads, (load + group.weight, index))
    return [Shard(tuple(name for group in dealt for name in group.devices),
                  tuple(dict.fromkeys(group.site for group in dealt)), sum(group.weight for group in dealt))
            for dealt in members]
