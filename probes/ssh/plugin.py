"""SSH as a `Prober`: command checks and configuration backups through one `SshProber`."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Callable, Sequence

from probes.base import Probed, ProbeContext, ProbeStartError, SettingsLookup, Target
from probes.devconfig.text import ConfigRules
from probes.ssh.backup import backup, backup_rules
from probes.ssh.hostkeys import HostKeyStore
from probes.ssh.profiles import ProfileError, load_profiles
from probes.ssh.prober import SshProber
from probes.ssh.settings import BACKUP_JOB, SshSettings

log = logging.getLogger("netvigil")


class SshPlugin:
    kind = "ssh"

    def __init__(self, settings: SshSettings, context: ProbeContext, profiles) -> None:
        self.context = context
        self.prober = self._new_prober(settings, profiles)
        # The store masks again what it holds when the rules change; the rules of a device
        # depend on its profiles, which reloads may change.
        self.config_store = context.services["config_store"](self.rules_for_device)

    @classmethod
    async def start(cls, settings: SshSettings, context: ProbeContext) -> "SshPlugin":
        try:
            profiles = load_profiles(settings.profile_dirs, check_drivers=True)
        except ProfileError as exc:
            raise ProbeStartError(str(exc)) from None
        return cls(settings, context, profiles)

    @property
    def profiles(self):
        return self.prober.profiles

    def rules_for_device(self, device: str) -> ConfigRules:
        """The rules the device's configuration fetches are masked with (backup.backup_rules)."""
        return backup_rules(self.prober.profiles, self.context.settings_of(device))

    def _new_prober(self, settings: SshSettings, profiles) -> SshProber:
        host_keys = HostKeyStore(settings.known_hosts, self.context.state_dir / "ssh_known_hosts")
        return SshProber(settings, profiles, host_keys)

    async def probe(self, targets: Sequence[Target], settings: SettingsLookup, job: str = "") -> Probed:
        probed = Probed()
        if job == BACKUP_JOB:
            probed.samples = await backup(self.prober, self.config_store, targets, settings, on_error=probed.note)
        else:
            probed.samples = await self.prober.probe(targets, settings, on_error=probed.note)
        return probed

    async def reconfigure(self, settings: SshSettings, devices: Sequence[str]) -> None:
        try:
            profiles = load_profiles(settings.profile_dirs, check_drivers=True)
        except ProfileError as exc:  # edited between `check` and here
            log.error("reload: keeping the previous SSH profiles: %s", exc)
            profiles = self.prober.profiles
        old = self.prober.settings
        if (old.max_sessions, old.cli_workers) != (settings.max_sessions, settings.cli_workers):
            # Sessions in flight finish on the old prober's threads; new ones use the new pool.
            retired, self.prober = self.prober, self._new_prober(settings, profiles)
            retired.close()
        else:
            self.prober.settings = settings  # credentials and known_hosts files may have changed
            self.prober.host_keys.files = list(settings.known_hosts)
            self.prober.set_profiles(profiles)

    def close(self) -> None:
        self.prober.close()

    async def after_start(self, targets: Sequence[Target], handle: Callable[[Probed], None]) -> None:
        """Once the daemon runs: stored versions masked again where the masking rules changed,
        and overdue configuration backups fetched now."""
        await asyncio.gather(self._remask_configs(), self._catch_up_backups(targets, handle))

    async def _remask_configs(self) -> None:
        """Stored configuration versions masked again where the masking rules changed (a newer
        secret catalogue after an upgrade, a changed profile), once. In the background: a save,
        read or diff of a device does its own first, so nothing waits for the whole store."""
        try:
            done = await asyncio.to_thread(self.config_store.remask_all)
        except (OSError, ValueError) as exc:
            log.error("configs: stored versions not checked against the current masking rules: %s", exc)
            return
        if done:
            changed = sum(1 for result in done if result.versions_changed)
            log.info("configs: %d device(s) checked against the current masking rules, %d had versions masked again",
                     len(done), changed)

    async def _catch_up_backups(self, targets: Sequence[Target], handle: Callable[[Probed], None]) -> None:
        """Back up now the devices whose last backup is older than their interval (or that have
        none): the schedule spreads daily backups over the day, and a new device or a daemon
        that was down should not wait up to a day for its first (or overdue) version."""
        now = time.time()
        settings_of = self.context.settings_of
        devices = [(target, settings_of(target.device)) for target in targets]
        devices = [(target, settings) for target, settings in devices if settings is not None and settings.backup_active]
        checked = await asyncio.to_thread(lambda: {t.device: self.config_store.last_checked(t.device) for t, _ in devices})
        overdue = [target for target, settings in devices
                   if checked[target.device] is None or now - checked[target.device] > settings.backup_interval_s]
        if not overdue:
            return
        log.info("ssh: %d device(s) have no recent configuration backup; fetching now", len(overdue))
        for start in range(0, len(overdue), 100):  # samples reach the outputs as they come
            handle(await self.probe(overdue[start:start + 100], settings_of, BACKUP_JOB))
