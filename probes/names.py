"""Host names to IP addresses for the probes (ICMP and SNMP need literals on their sockets)."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Optional, Sequence

from probes.base import ProbeError, ResultCode


class NameCache:
    """Host names to addresses, with a time-to-live, a negative cache and a time limit.

    Look-ups run in their own small thread pool (getaddrinfo blocks), so a dead name server
    never starves the default pool the outputs use, and a failed name is not retried on
    every run (each retry would wait out the resolver's timeout again).
    """

    def __init__(self, ttl_s: float = 300.0, negative_ttl_s: float = 30.0, timeout_s: float = 5.0) -> None:
        self.ttl_s, self.negative_ttl_s, self.timeout_s = ttl_s, negative_ttl_s, timeout_s
        self._entries: dict[str, tuple[float, Optional[str], Optional[ProbeError]]] = {}
        self._executor = None

    async def resolve(self, names: Sequence[str]) -> dict[str, tuple[Optional[str], Optional[ProbeError]]]:
        loop = asyncio.get_running_loop()
        now = time.monotonic()
        out = {}
        missing = []
        for name in set(names):
            entry = self._entries.get(name)
            if entry is not None and entry[0] > now:
                out[name] = entry[1:]
            else:
                missing.append(name)
        if missing and self._executor is None:
            from concurrent.futures import ThreadPoolExecutor
            self._executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="netvigil-resolve")

        async def one(name: str) -> None:
            try:
                infos = await asyncio.wait_for(loop.run_in_executor(
                    self._executor, socket.getaddrinfo, name, None, 0, socket.SOCK_RAW), self.timeout_s)
                result = (infos[0][4][0], None)
                expires = now + self.ttl_s
            except (OSError, UnicodeError, asyncio.TimeoutError) as exc:
                reason = "no answer in time" if isinstance(exc, asyncio.TimeoutError) else str(exc)
                result = (None, ProbeError(ResultCode.RESOLVE_FAILED, f"cannot resolve {name!r}: {reason}"))
                expires = now + self.negative_ttl_s
            self._entries[name] = (expires, *result)
            out[name] = result

        await asyncio.gather(*(one(name) for name in missing))
        return out


