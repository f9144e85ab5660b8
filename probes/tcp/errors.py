"""The `tcp` measurement and its error codes, apart from the prober: the package imports them
at start-up, the prober (plugin.py) only when TCP probing starts."""

from __future__ import annotations

import enum

MEASUREMENT = "tcp"


class ErrorCode(enum.IntEnum):
    """`error_code` of the `tcp` sample (0: the port accepted the connection)."""

    NONE = 0
    TIMEOUT = 1  # no answer to the SYN within timeout_s (a filter dropping it, a full accept queue)
    REFUSED = 2  # the host answered with a reset: it is there, the port is closed
    RESOLVE_FAILED = 3
    UNREACHABLE = 4  # no route to the host or network (the kernel or a router said so)
    ERROR = 5  # any other socket error; the sentence says which
