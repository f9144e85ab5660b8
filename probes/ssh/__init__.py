"""SSH: command checks (prober.py) and configuration backups (backup.py) with command profiles
(data in packaged/); device configuration text is handled by probes/devconfig."""

from __future__ import annotations

from probes.base import ProbeKind, Run
from probes.ssh import settings as ssh_settings
from probes.ssh.errors import ErrorCode
from probes.ssh.settings import BACKUP_JOB, SshOverride, SshSettings


def runs(settings: SshSettings) -> tuple[Run, ...]:
    # Command checks and configuration backups are two jobs with their own intervals; the
    # prober's per-device lock keeps them from opening two sessions to one device at once.
    # A heightened watch does not shorten backups: the configuration is fetched daily.
    out = []
    if settings.active:
        out.append(Run("ssh", settings.interval_s))
    if settings.backup_active:
        out.append(Run(BACKUP_JOB, settings.backup_interval_s, watched=False))
    return tuple(out)


async def start(settings: SshSettings, context):
    from probes.ssh.plugin import SshPlugin

    return await SshPlugin.start(settings, context)


def missing_secrets(settings: SshSettings, devices) -> list[str]:
    return ssh_settings.missing_secrets(settings, ssh_settings.used_credentials(devices))


KIND = ProbeKind(name="ssh", settings=SshSettings, override=SshOverride, runs=runs, start=start,
                 active=lambda settings: settings.active, errors=ErrorCode,
                 silent=frozenset({ErrorCode.TIMEOUT, ErrorCode.RESOLVE_FAILED}), profile_keys=("profiles",),
                 missing_secrets=missing_secrets, jobs=("ssh", BACKUP_JOB))
