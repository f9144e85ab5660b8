"""The inventory's `parent` links as a graph: which devices a failure cuts off.

A device is *cut off* when it has parents and every path from it towards the top of the
network (a device with no parents) passes through a device that is down. Its faults are then
symptoms of the nearest failed ancestors: recorded, linked, never alerted on their own. A
device with redundant uplinks (several parents) stays reachable while one path is up.

`down` is whatever the caller says (the fault manager uses the last ICMP answer); the graph
holds no state of its own, so it is rebuilt on every inventory reload and tested without a
network. Walks are iterative with memoised answers: a core switch with thousands of
devices behind it is answered in one pass, not one walk per device.
"""

from __future__ import annotations

from collections import deque
from typing import Callable, Iterable, Mapping

from monitor.faults.model import DeviceInfo

IsDown = Callable[[str], bool]


class Topology:
    def __init__(self, devices: Iterable[DeviceInfo]) -> None:
        self.parents: dict[str, tuple[str, ...]] = {}
        self.children: dict[str, list[str]] = {}
        for device in devices:
            self.parents[device.name] = tuple(device.parents)
        for name, parents in self.parents.items():
            for parent in parents:
                self.children.setdefault(parent, []).append(name)

    def _reachability(self, names: Iterable[str], down: IsDown, memo: dict[str, bool]) -> None:
        """Fill memo[name] = "a path to the top avoids every down device" for names and ancestors.
        The inventory has no parent cycles (resolution rejects them), so this terminates."""
        for start in names:
            if start in memo:
                continue
            stack = [start]
            while stack:
                name = stack[-1]
                if name in memo:
                    stack.pop()
                    continue
                if down(name):
                    memo[name] = False
                    stack.pop()
                    continue
                parents = self.parents.get(name, ())
                pending = [p for p in parents if p not in memo]
                if pending:
                    stack.extend(pending)
                    continue
                memo[name] = not parents or any(memo[p] for p in parents)
                stack.pop()

    def cut_off(self, device: str, down: IsDown, memo: dict[str, bool] | None = None) -> bool:
        """True if `device` has parents and none of them is reachable."""
        parents = self.parents.get(device, ())
        if not parents:
            return False
        memo = {} if memo is None else memo
        self._reachability(parents, down, memo)
        return not any(memo[p] for p in parents)

    def causes(self, device: str, down: IsDown) -> list[str]:
        """The nearest down ancestors that cut `device` off (empty if it is not cut off).

        A parent that is up but itself cut off is looked through, so a camera behind an access
        switch behind a failed core switch names the core switch."""
        memo: dict[str, bool] = {}
        if not self.cut_off(device, down, memo):
            return []
        found, seen, stack = [], set(), deque(self.parents.get(device, ()))
        while stack:
            name = stack.popleft()
            if name in seen:
                continue
            seen.add(name)
            if down(name):
                found.append(name)
            else:
                stack.extend(self.parents.get(name, ()))
        return found

    def behind(self, device: str, down: IsDown) -> list[str]:
        """Every device cut off while `device` (and whatever else `down` says) is down, in
        breadth-first order from `device`: the impact a grouped alert reports."""
        memo: dict[str, bool] = {}
        result, seen, queue = [], {device}, deque(self.children.get(device, ()))
        while queue:
            name = queue.popleft()
            if name in seen:
                continue
            seen.add(name)
            if self.cut_off(name, down, memo):
                result.append(name)
                queue.extend(self.children.get(name, ()))
        return result

    def descendants(self, device: str) -> list[str]:
        result, seen, queue = [], {device}, deque(self.children.get(device, ()))
        while queue:
            name = queue.popleft()
            if name not in seen:
                seen.add(name)
                result.append(name)
                queue.extend(self.children.get(name, ()))
        return result

    def ancestors(self, device: str) -> list[str]:
        result, seen, queue = [], {device}, deque(self.parents.get(device, ()))
        while queue:
            name = queue.popleft()
            if name not in seen:
                seen.add(name)
                result.append(name)
                queue.extend(self.parents.get(name, ()))
        return result


def down_from(states: Mapping[str, bool]) -> IsDown:
    """`down` predicate from a {device: is_down} mapping (unknown devices are up)."""
    return lambda name: states.get(name, False)
