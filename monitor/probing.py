"""Probe runs for every kind in probes/registry.py: batch planning, concurrency, the probers' lifecycle.

Each device's effective settings of a kind say which runs it wants (`ProbeKind.runs`); devices
whose runs share a job, an interval and what the run shares are batched and spread over time
slots (monitor/scheduler.plan). A batch runs on its kind's prober; the samples and the errors
(as data) go to the daemon's `handle`. Nothing here names a kind, except `reprobe`: the fault
manager asks for ICMP (reachability) before alerting a child of a failing parent.
"""

from __future__ import annotations

import logging
from typing import Callable, Mapping, Optional, Sequence

from monitor.scheduler import Batch, plan
from probes.base import ProbeContext, Probed, Prober, ProbeStartError, Target
from probes.registry import JOBS, KINDS

log = logging.getLogger("netvigil")


def _watch_interval(interval_s: float, watch_s: Optional[float], run_s: float = 0.0) -> float:
    """A heightened-watch interval shortens a device's interval, never lengthens it, and never
    below the time one run takes."""
    if watch_s is None:
        return interval_s
    return min(interval_s, max(watch_s, run_s))


def plan_batches(inventory, slot_s: float, watch: Optional[Mapping[str, float]] = None) -> list[Batch]:
    """Every probe run; `watch`: heightened-watch intervals by probe kind (e.g. icmp, snmp, ssh)."""
    members: dict[str, list] = {}
    for kind in KINDS.values():
        watch_s = (watch or {}).get(kind.name)
        for device in inventory.devices:
            for run in kind.runs(getattr(device, kind.name)):
                interval_s = _watch_interval(run.interval_s, watch_s if run.watched else None, run.run_s)
                settings = run.settings
                if settings is not None and interval_s != run.interval_s:
                    settings = settings.model_copy(update={"interval_s": interval_s})
                members.setdefault(run.job, []).append(
                    (device.target(), (interval_s, *run.shares), interval_s, settings))
    return [batch for job, job_members in members.items() for batch in plan(job, job_members, slot_s)]


def concurrency(settings) -> dict[str, int]:
    """Runs in progress at once, per scheduler job (`probes.<kind>.max_concurrent_runs`)."""
    return {job: kind.concurrency(getattr(settings.probes, kind.name)) for kind in KINDS.values()
            for job in kind.all_jobs}


class Probing:
    """The started probers, by kind. `handle(kind, probed)` receives every run's result."""

    def __init__(self, handle: Callable[[str, Probed], None]) -> None:
        self.handle = handle
        self.probers: dict[str, Prober] = {}
        self._inventory = None

    def settings_of(self, kind: str) -> Callable[[str], object]:
        """Device name -> its current effective settings of `kind` (None: removed by a reload)."""
        def lookup(device: str):
            found = self._inventory.by_name(device) if self._inventory is not None else None
            return getattr(found, kind) if found is not None else None
        return lookup

    async def start(self, settings, inventory, services: Mapping[str, object]) -> Optional[str]:
        """Start every kind's prober; the sentence of the first that cannot (the others are closed)."""
        self._inventory = inventory
        for kind in KINDS.values():
            context = ProbeContext(settings.state_dir, self.settings_of(kind.name), services)
            try:
                self.probers[kind.name] = await kind.start(getattr(settings.probes, kind.name), context)
            except ProbeStartError as exc:
                self.close()
                return str(exc)
        return None

    async def run(self, batch: Batch) -> None:
        """One scheduled batch: the batch's shared settings, or each device's as it is now."""
        kind = JOBS[batch.kind]
        if batch.settings is not None:
            shared = batch.settings
            lookup = lambda _device: shared  # noqa: E731
        else:
            lookup = self.settings_of(kind)
        self.handle(kind, await self.probers[kind].probe(batch.targets, lookup, batch.kind))

    async def probe(self, kind: str, targets: Sequence[Target], settings: Mapping[str, object]) -> None:
        """Probe now, outside the schedule, with the given settings per device."""
        self.handle(kind, await self.probers[kind].probe(targets, settings.get, kind))

    def after_start(self, inventory) -> list:
        """Coroutines of the work probers do once the daemon runs (SSH: overdue backups)."""
        work = []
        for name, prober in self.probers.items():
            hook = getattr(prober, "after_start", None)
            if hook is not None:
                kind = KINDS[name]
                targets = [device.target() for device in inventory.devices if kind.runs(getattr(device, name))]
                work.append(hook(targets, lambda probed, name=name: self.handle(name, probed)))
        return work

    async def reconfigure(self, settings, inventory) -> None:
        """A reload: every prober gets its new settings and the devices it now runs for."""
        self._inventory = inventory
        for name, prober in self.probers.items():
            kind = KINDS[name]
            devices = [device.name for device in inventory.devices if kind.runs(getattr(device, name))]
            await prober.reconfigure(getattr(settings.probes, name), devices)

    def set_inventory(self, inventory) -> None:
        self._inventory = inventory

    def close(self) -> None:
        for prober in self.probers.values():
            prober.close()
