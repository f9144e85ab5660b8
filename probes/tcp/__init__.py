"""TCP connect: does each of a device's service ports accept a connection, and how fast (plugin.py).

The smallest probe kind: this package, its settings model and one line in probes/registry.py.
"""

from __future__ import annotations

from probes.base import ProbeKind, Run
from probes.tcp.errors import MEASUREMENT, ErrorCode
from probes.tcp.settings import TcpOverride, TcpSettings

def runs(settings: TcpSettings) -> tuple[Run, ...]:
    return (Run(MEASUREMENT, settings.interval_s),) if settings.active else ()


async def start(settings: TcpSettings, context):
    from probes.tcp.plugin import TcpPlugin

    return TcpPlugin(settings)


KIND = ProbeKind(name="tcp", settings=TcpSettings, override=TcpOverride, runs=runs, start=start,
                 active=lambda settings: settings.active, errors=ErrorCode,
                 silent=frozenset({ErrorCode.TIMEOUT, ErrorCode.RESOLVE_FAILED, ErrorCode.UNREACHABLE}))
