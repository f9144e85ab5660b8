"""The TCP connect probe: one `tcp` sample per device and port, every run.

A connection is opened with a non-blocking socket and closed as soon as the handshake is
done; nothing is sent. Refused, timed out, unreachable and unresolvable are data (`up=0`,
`error_code`), never an exception.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import socket
import time
from typing import Optional, Sequence

from probes.base import ProbeError, Probed, ResultCode, Sample, SettingsLookup, Target
from probes.names import NameCache
from probes.tcp.errors import MEASUREMENT, ErrorCode
from probes.tcp.settings import TcpSettings

_RESULT_CODES = {ErrorCode.NONE: ResultCode.OK, ErrorCode.TIMEOUT: ResultCode.TIMEOUT,
                 ErrorCode.REFUSED: ResultCode.ERROR, ErrorCode.RESOLVE_FAILED: ResultCode.RESOLVE_FAILED,
                 ErrorCode.UNREACHABLE: ResultCode.SEND_FAILED, ErrorCode.ERROR: ResultCode.ERROR}
_UNREACHABLE = {errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EHOSTDOWN, errno.EADDRNOTAVAIL}


class TcpPlugin:
    kind = "tcp"

    def __init__(self, settings: TcpSettings, names: Optional[NameCache] = None) -> None:
        self.settings = settings
        self.names = names or NameCache()
        self._connects = asyncio.Semaphore(settings.max_connects)

    async def probe(self, targets: Sequence[Target], settings: SettingsLookup, job: str = "") -> Probed:
        probed = Probed()
        wanted = [(target, own) for target in targets if (own := settings(target.device)) is not None and own.active]
        named = [target.address for target, _ in wanted if not _is_literal(target.address)]
        resolved = await self.names.resolve(named) if named else {}
        runs = [self._probe_one(target, own, resolved.get(target.address, (target.address, None)), probed)
                for target, own in wanted]
        for samples in await asyncio.gather(*runs):
            probed.samples.extend(samples)
        return probed

    async def _probe_one(self, target: Target, settings: TcpSettings, resolved: tuple, probed: Probed) -> list[Sample]:
        address, failed = resolved
        outcomes = await asyncio.gather(*(self._connect(address, port, settings.timeout_s, failed)
                                          for port in settings.ports))
        samples = []
        for port, (code, connect_ms, detail, time_ns) in zip(settings.ports, outcomes):
            if code != ErrorCode.NONE:
                probed.note(target, ProbeError(_RESULT_CODES[code], f"tcp/{port}: {detail}"))
            fields = {"up": int(code == ErrorCode.NONE), "result_code": int(_RESULT_CODES[code]),
                      "error_code": int(code)}
            if connect_ms is not None:
                fields["connect_ms"] = connect_ms
            samples.append(Sample(MEASUREMENT, {**target.tags, "port": str(port)}, fields, time_ns))
        return samples

    async def _connect(self, address: Optional[str], port: int, timeout_s: float,
                       failed: Optional[ProbeError]) -> tuple[ErrorCode, Optional[float], str, int]:
        time_ns = time.time_ns()
        if failed is not None or address is None:
            return ErrorCode.RESOLVE_FAILED, None, failed.detail if failed else "no address", time_ns
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        loop = asyncio.get_running_loop()
        async with self._connects:
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setblocking(False)
            started = time.perf_counter()
            try:
                await asyncio.wait_for(loop.sock_connect(sock, (address, port)), timeout_s)
            except asyncio.TimeoutError:
                return ErrorCode.TIMEOUT, None, f"no answer within {timeout_s:g} s", time_ns
            except ConnectionRefusedError:
                return ErrorCode.REFUSED, None, "connection refused", time_ns
            except OSError as exc:
                code = ErrorCode.UNREACHABLE if exc.errno in _UNREACHABLE else ErrorCode.ERROR
                return code, None, exc.strerror or str(exc), time_ns
            else:
                return ErrorCode.NONE, round((time.perf_counter() - started) * 1000, 3), "", time_ns
            finally:
                sock.close()

    async def reconfigure(self, settings: TcpSettings, devices: Sequence[str]) -> None:
        if settings.max_connects != self.settings.max_connects:
            self._connects = asyncio.Semaphore(settings.max_connects)  # runs in flight keep the old one
        self.settings = settings

    def close(self) -> None:
        pass  # no socket outlives a run


def _is_literal(address: str) -> bool:
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return False
    return True
