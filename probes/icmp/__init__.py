"""ICMP echo: reachability, round-trip time, loss and jitter of every device (pinger.py)."""

from __future__ import annotations

from probes.base import ProbeKind, Run
from probes.icmp.settings import IcmpOverride, IcmpSettings


def runs(settings: IcmpSettings) -> tuple[Run, ...]:
    if not settings.enabled:
        return ()
    # A batch shares its echo count, spacing and timeout: one `ping` call sends them all.
    run_s = (settings.count - 1) * settings.echo_interval_ms / 1000 + settings.timeout_s
    return (Run("icmp", settings.interval_s, (settings.count, settings.echo_interval_ms, settings.timeout_s),
                settings, run_s),)


async def start(settings: IcmpSettings, context):
    from probes.icmp.plugin import IcmpPlugin

    return await IcmpPlugin.start(settings)


KIND = ProbeKind(name="icmp", settings=IcmpSettings, override=IcmpOverride, runs=runs, start=start,
                 active=lambda settings: settings.enabled)
