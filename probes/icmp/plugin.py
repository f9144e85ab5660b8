"""The ICMP probe as a `Prober`: one `Pinger` (one socket per address family) for every run."""

from __future__ import annotations

import asyncio
import logging
from typing import Sequence

from probes.base import Probed, ProbeStartError, SettingsLookup, Target
from probes.icmp import pinger
from probes.icmp.settings import IcmpSettings

log = logging.getLogger("netvigil")


class IcmpPlugin:
    kind = "icmp"

    def __init__(self, settings: IcmpSettings, echo: pinger.Pinger) -> None:
        self.settings = settings
        self.pinger = echo

    @property
    def mode(self) -> str:
        return self.pinger.mode

    @classmethod
    async def start(cls, settings: IcmpSettings) -> "IcmpPlugin":
        """Open the sockets; ProbeStartError with the way to allow them if not permitted."""
        echo = pinger.Pinger(settings.mode, settings.payload_bytes, settings.max_rate_pps)
        try:
            mode = echo.open()
        except pinger.IcmpPermissionError as exc:
            raise ProbeStartError(str(exc)) from None
        log.info("icmp: using %s", "ping sockets (unprivileged)" if mode == "unprivileged"
                 else "raw sockets (root or CAP_NET_RAW)")
        await echo.start()
        return cls(settings, echo)

    async def probe(self, targets: Sequence[Target], settings: SettingsLookup, job: str = "") -> Probed:
        """One `icmp` sample per target. Targets are pinged together per (count, spacing,
        timeout); a scheduled batch shares them, so that is one `ping` call."""
        probed = Probed()
        groups: dict[tuple, tuple[IcmpSettings, list[Target]]] = {}
        for target in targets:
            own = settings(target.device)
            if own is not None:
                groups.setdefault((own.count, own.echo_interval_ms, own.timeout_s), (own, []))[1].append(target)
        runs = [pinger.probe(self.pinger, group, own, on_error=probed.note) for own, group in groups.values()]
        for samples in await asyncio.gather(*runs):
            probed.samples.extend(samples)
        return probed

    async def reconfigure(self, settings: IcmpSettings, devices: Sequence[str]) -> None:
        old = self.settings
        if (old.mode, old.payload_bytes) != (settings.mode, settings.payload_bytes):
            replacement = pinger.Pinger(settings.mode, settings.payload_bytes, settings.max_rate_pps)
            try:
                replacement.open()
            except pinger.IcmpPermissionError as exc:
                log.error("reload: keeping the previous ICMP mode: %s", exc)
            else:
                await replacement.start()
                self.pinger.close_when_idle()  # runs in flight keep their sockets until done
                self.pinger = replacement
        self.pinger.max_rate_pps = settings.max_rate_pps
        self.settings = settings

    def close(self) -> None:
        self.pinger.close()
