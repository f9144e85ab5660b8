"""The probe side of one process: the probers (monitor/probing.py) and their schedule.

The single-process daemon runs one of these for the whole inventory; with `workers` > 1 each
worker process runs one for its share (monitor/workers/) and the parent runs a WorkerPool
with the same methods instead, so monitor/daemon.py does not care which it has.
"""

from __future__ import annotations

from typing import Callable, Mapping, Optional, Sequence

from monitor.probing import Probing, concurrency, plan_batches
from monitor.scheduler import KindStats, ProbeScheduler
from probes.base import Probed


class LocalProbes:
    def __init__(self, handle: Callable[[str, Probed], None]) -> None:
        self.probing = Probing(handle)
        self.scheduler: Optional[ProbeScheduler] = None
        self._inventory = None
        self._everyone = None  # the whole inventory, for re-probes of parents outside the share

    async def start(self, settings, inventory, services: Mapping[str, object],
                    watch: Optional[dict], everyone=None) -> Optional[str]:
        """Start the probers and the schedule; the sentence of what could not start, or None.
        `everyone`: the whole inventory when `inventory` is a share of it."""
        problem = await self.probing.start(settings, inventory, services)
        if problem is not None:
            return problem
        self._inventory, self._everyone = inventory, everyone or inventory
        self.scheduler = ProbeScheduler(settings.scheduler, self.probing.run, concurrency(settings))
        self.scheduler.arm(plan_batches(inventory, settings.scheduler.slot_s, watch))
        self.scheduler.start()
        return None

    def after_start(self) -> list:
        return self.probing.after_start(self._inventory)

    def arm(self, settings, watch: Optional[dict]) -> None:
        """Plan again (heightened watch began or ended)."""
        self.scheduler.arm(plan_batches(self._inventory, settings.scheduler.slot_s, watch))

    async def reconfigure(self, settings, inventory, watch: Optional[dict], everyone=None) -> None:
        """A reload: the probers get their settings and devices, the schedule its new plan."""
        await self.probing.reconfigure(settings, inventory)
        self._inventory, self._everyone = inventory, everyone or inventory
        self.scheduler.settings = settings.scheduler
        self.scheduler.set_concurrency(concurrency(settings))
        self.arm(settings, watch)

    async def reprobe(self, names: Sequence[str]) -> None:
        """ICMP now, for the fault manager: a parent's state must be current before a child's
        failure is alerted. A short run (3 echoes) with the device's own timeout."""
        settings: dict = {}
        targets = []
        for name in names:
            device = self._everyone.by_name(name) if self._everyone is not None else None
            if device is None or not device.icmp.enabled:
                continue
            settings[name] = device.icmp.model_copy(update={
                "count": min(3, device.icmp.count), "echo_interval_ms": min(100.0, device.icmp.echo_interval_ms)})
            targets.append(device.target())
        if targets:
            await self.probing.probe("icmp", targets, settings)

    @property
    def icmp_mode(self) -> Optional[str]:
        return getattr(self.probing.probers.get("icmp"), "mode", None)

    def stats(self) -> dict[str, KindStats]:
        return self.scheduler.stats() if self.scheduler is not None else {}

    def take_window(self) -> dict[str, KindStats]:
        return self.scheduler.take_window() if self.scheduler is not None else {}

    def stalled(self) -> Optional[str]:
        return self.scheduler.stalled() if self.scheduler is not None else "the scheduler is not running"

    def alive(self) -> bool:
        return True  # one process: if this runs, the probes' process is alive

    async def shutdown(self, timeout_s: float) -> None:
        if self.scheduler is not None:
            await self.scheduler.shutdown(timeout_s=timeout_s)

    def close(self) -> None:
        self.probing.close()
