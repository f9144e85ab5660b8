"""systemd's notify protocol: READY, WATCHDOG, STATUS, RELOADING, STOPPING.

Written by hand rather than taken from a library: the protocol is one datagram per message
on the socket named by $NOTIFY_SOCKET (see sd_notify(3)), and the maintained Python
bindings (python-systemd) need libsystemd headers to build.
"""

from __future__ import annotations

import os
import socket
import time
from typing import Mapping, Optional


SEND_TIMEOUT_S = 0.2


class Notifier:
    """Talks to systemd if $NOTIFY_SOCKET is set; silently does nothing otherwise."""

    def __init__(self, environ: Mapping[str, str] = os.environ) -> None:
        address = environ.get("NOTIFY_SOCKET", "")
        if address.startswith("@"):  # abstract namespace socket
            address = "\0" + address[1:]
        self._address = address or None
        self._socket: Optional[socket.socket] = None
        usec = environ.get("WATCHDOG_USEC", "")
        pid = environ.get("WATCHDOG_PID", "")
        watchdog_for_us = not pid or pid == str(os.getpid())
        self.watchdog_interval_s: Optional[float] = (
            int(usec) / 1e6 / 2 if usec.isdigit() and int(usec) > 0 and watchdog_for_us else None)

    @property
    def enabled(self) -> bool:
        return self._address is not None

    def notify(self, *assignments: str) -> bool:
        """Send "KEY=value" lines in one datagram; False if it could not be delivered."""
        if self._address is None:
            return False
        if self._socket is None:
            self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            # The daemon sends from its event loop. A receiver that stopped reading (its queue
            # holds net.unix.max_dgram_qlen = 10 datagrams) blocked a plain sendto forever and
            # froze probing, status and SIGTERM; a message that cannot go out in this time is
            # dropped instead (systemd itself always reads).
            self._socket.settimeout(SEND_TIMEOUT_S)
        try:
            self._socket.sendto("\n".join(assignments).encode(), self._address)
            return True
        except OSError:
            return False

    def ready(self, status: str) -> None:
        self.notify("READY=1", f"STATUS={status}", f"MAINPID={os.getpid()}")

    def reloading(self) -> None:
        # MONOTONIC_USEC lets Type=notify-reload units match the reload to its request.
        self.notify("RELOADING=1", f"MONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}")

    def status(self, text: str) -> None:
        self.notify(f"STATUS={text}")

    def watchdog(self) -> None:
        self.notify("WATCHDOG=1")

    def stopping(self) -> None:
        self.notify("STOPPING=1")

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None
