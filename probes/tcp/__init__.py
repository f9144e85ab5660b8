"""TCP connect: does each of a device's service ports accept a connection, and how fast (plugin.py).

The smallest probe kind: this package, its settings model and one line in probes/registry.py.
"""

from __future__ import annotations

import enum

from probes.base import ProbeKind, Run
from probes.tcp.settings import TcpOverride, TcpSettings

MEASUREMENT = "tcp"


class ErrorCode(enum.IntEnum):
    """`error_code` of the `tcp` sample (0: the port accepted the connection)."""

    NONE = 0
    TIMEOUT = 1  # no answer to the SYN within timeout_s (a filter dropping it, a full accept queue)
    REFUSED = 2  # the host answered with a reset: it is there, the port is closed
    RESOLVE_FAILED = 3
    UNREACHABLE = 4  # no route to the host or network (the kernel or a router said so)
    ERROR = 5  # any other socket error; the sentence says which


def runs(settings: TcpSettings) -> tuple[Run, ...]:
    return (Run(MEASUREMENT, settings.interval_s),) if settings.active else ()


async def start(settings: TcpSettings, context):
    from probes.tcp.plugin import TcpPlugin

    return TcpPlugin(settings)


KIND = ProbeKind(name="tcp", settings=TcpSettings, override=TcpOverride, runs=runs, start=start,
                 active=lambda settings: settings.active, errors=ErrorCode,
                 silent=frozenset({ErrorCode.TIMEOUT, ErrorCode.RESOLVE_FAILED, ErrorCode.UNREACHABLE}))
