"""SNMP as a `Prober`: one `SnmpClient` (one socket for every agent) under one `SnmpPoller`."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Sequence

from probes.base import Probed, ProbeStartError, SettingsLookup, Target
from probes.snmp.client import SnmpClient
from probes.snmp.poller import SnmpPoller
from probes.snmp.profiles import PACKAGED_PROFILES, ProfileError, load_all
from probes.snmp.settings import SnmpSettings

log = logging.getLogger("netvigil")


def load_profiles(settings: SnmpSettings) -> dict:
    """The shipped profiles, then those of `profile_dirs` (a later one replaces a shipped one)."""
    return load_all([PACKAGED_PROFILES, *settings.profile_dirs])


class SnmpPlugin:
    kind = "snmp"

    def __init__(self, settings: SnmpSettings, client: SnmpClient, poller: SnmpPoller) -> None:
        self.settings = settings
        self.client = client
        self.poller = poller
        self._retiring: set[asyncio.Task] = set()

    @classmethod
    async def start(cls, settings: SnmpSettings) -> "SnmpPlugin":
        try:
            profiles = load_profiles(settings)
        except ProfileError as exc:  # changed between `check` and here
            raise ProbeStartError(str(exc)) from None
        client = SnmpClient(max_in_flight_per_agent=settings.max_in_flight_per_device,
                            max_in_flight=settings.max_in_flight)
        await client.start()
        return cls(settings, client, SnmpPoller(client, profiles))

    async def probe(self, targets: Sequence[Target], settings: SettingsLookup, job: str = "") -> Probed:
        probed = Probed()
        probed.samples = await self.poller.probe(targets, settings, on_error=probed.note)
        return probed

    async def reconfigure(self, settings: SnmpSettings, devices: Sequence[str]) -> None:
        try:
            self.poller.set_profiles(load_profiles(settings))  # files may have changed even if settings did not
        except ProfileError as exc:  # edited between `check` and here
            log.error("reload: keeping the previous SNMP profiles: %s", exc)
        old = self.settings
        if (old.max_in_flight, old.max_in_flight_per_device) != (settings.max_in_flight,
                                                                 settings.max_in_flight_per_device):
            # Requests in flight finish on the old client; its socket closes once they are done.
            replacement = SnmpClient(max_in_flight_per_agent=settings.max_in_flight_per_device,
                                     max_in_flight=settings.max_in_flight)
            retired = self.client
            self.client = self.poller.client = replacement
            task = asyncio.create_task(_close_when_idle(retired))
            self._retiring.add(task)
            task.add_done_callback(self._retiring.discard)
        self.poller.keep_only(devices)
        self.settings = settings

    def close(self) -> None:
        for task in list(self._retiring):
            task.cancel()
        self.client.close()


async def _close_when_idle(client: SnmpClient, limit_s: float = 120.0) -> None:
    deadline = time.monotonic() + limit_s
    try:
        while client.busy() and time.monotonic() < deadline:
            await asyncio.sleep(1)
    finally:
        client.close()
