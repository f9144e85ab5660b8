"""SNMP polling: device profiles (data in packaged/) read through netvigil's own client (poller.py)."""

from __future__ import annotations

from probes.base import ProbeKind, Run
from probes.snmp import settings as snmp_settings
from probes.snmp.errors import ErrorCode
from probes.snmp.settings import SnmpOverride, SnmpSettings


def runs(settings: SnmpSettings) -> tuple[Run, ...]:
    # Grouped by interval only: timeouts, credentials and profiles are looked up per device
    # at run time (a batch mixes them freely).
    return (Run("snmp", settings.interval_s),) if settings.active else ()


async def start(settings: SnmpSettings, context):
    from probes.snmp.plugin import SnmpPlugin

    return await SnmpPlugin.start(settings)


def missing_secrets(settings: SnmpSettings, devices) -> list[str]:
    return snmp_settings.missing_secrets(settings, snmp_settings.used_credentials(devices))


KIND = ProbeKind(name="snmp", settings=SnmpSettings, override=SnmpOverride, runs=runs, start=start,
                 active=lambda settings: settings.active, errors=ErrorCode,
                 silent=frozenset({ErrorCode.TIMEOUT, ErrorCode.SEND_FAILED, ErrorCode.RESOLVE_FAILED}),
                 profile_keys=("profiles", "skip_profiles"), missing_secrets=missing_secrets)
