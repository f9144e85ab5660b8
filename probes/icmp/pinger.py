"""ICMP echo probe: one socket per address family, every due device swept in one batch.

Why not icmplib's `async_multiping` on the hot path (measured on this 2-core machine
with icmplib 3.0.4, and again by bench/icmp_sweep.py):

* with raw sockets it opens one socket per concurrent task and the kernel copies *every*
  reply to *every* raw socket, so cost grows with concurrency; at 5,000 tasks receive
  buffers overflowed and 80 % of 10,000 live hosts were reported down;
* RTTs are taken when Python gets round to reading the reply, so a busy event loop
  inflates them (p99 292 ms on loopback at 1,000 tasks);
* even in its best mode (ping sockets) it spends about 100 us of CPU per echo.

This module keeps one non-blocking socket per family, sends paced echoes carrying a
64-bit token in the payload, demultiplexes replies by token in a reader callback, and
takes the receive time from the kernel (SO_TIMESTAMPNS), so neither event-loop latency
nor a long sweep inflates an RTT.

Tokens are unforgeable: each echo's token is 8 bytes from the kernel's CSPRNG (one
getrandom call per chunk of echoes), and a reply counts only if token, identifier,
sequence number and source address all match one echo still waiting. A token from a
counter was predictable: a process that saw one request (a compromised device, anyone on
the path) answered for a device whose traffic was dropped and made it look up, 9 runs of
9. Now a forger must have seen that very request; a token answered once is forgotten, so
a replayed reply counts for nothing. icmplib remains the reference the benchmark compares
against; this is the part a measured need (speed, no false downs) made us write by hand.

Modes: "unprivileged" uses ping sockets (SOCK_DGRAM, IPPROTO_ICMP; allowed by
net.ipv4.ping_group_range), "privileged" raw sockets (root or CAP_NET_RAW). Ping sockets
are preferred: the kernel fills in the identifier and checksum and delivers only our own
replies. Raw sockets get a kernel ICMP_FILTER so they are not woken for other traffic.
"""

from __future__ import annotations

import asyncio
import ctypes
import ipaddress
import os
import random
import socket
import struct
import time
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

from probes.base import ProbeError, ResultCode, Sample, Target
from probes.icmp.settings import IcmpSettings
from probes.names import NameCache

MEASUREMENT = "icmp"

# Linux socket option numbers not exported by Python's socket module (asm-generic values,
# identical on x86_64, arm64, riscv64).
_SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
_SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
_SOL_RAW = 255
_SO_ATTACH_FILTER = 26
_ICMP_FILTER = 1
_ICMP6_FILTER = 1

_ICMP_ECHO_REPLY, _ICMP_UNREACH, _ICMP_ECHO = 0, 3, 8
_ICMP6_UNREACH, _ICMP6_ECHO, _ICMP6_ECHO_REPLY = 1, 128, 129

# Replies are held in the kernel between two reads of the reader callback; 4 MiB holds
# about 5,000 loopback replies, more than the pacing below ever lets pile up.
_RECEIVE_BUFFER_BYTES = 4 * 1024 * 1024
_SEND_CHUNK = 64  # echoes sent between two chances for the reader to run

_TOKEN_BYTES = 8  # first in the payload; the smallest payload setting (8) still holds it
_ECHO_HEADER = struct.Struct("!BBHHH")
_IDENT_SEQ = struct.Struct("!HH")
_TOKEN_WORDS = struct.Struct("!4H")

PERMISSION_HELP = (
    "ICMP needs ping sockets or raw sockets and this process may use neither: run netvigil as "
    "root, give it CAP_NET_RAW (systemd: AmbientCapabilities=CAP_NET_RAW; by hand: "
    "setcap cap_net_raw+ep on the Python interpreter), or allow ping sockets for its group with "
    "`sysctl -w net.ipv4.ping_group_range=\"0 2147483647\"` (persist it in /etc/sysctl.d/)")


class IcmpPermissionError(RuntimeError):
    """Neither ping sockets nor raw sockets may be opened; the message says how to fix it."""


@dataclass(frozen=True, slots=True)
class EchoResult:
    """What one device's run produced; RTTs in milliseconds, in the order the echoes were sent."""

    sent: int
    rtts_ms: tuple[float, ...]
    error: Optional[ProbeError] = None


class _Run:
    """Book-keeping of one batch: per-target RTT lists, filled in by the reader callback."""

    __slots__ = ("timeout_ns", "rtts", "sent", "errors", "outstanding", "all_sent", "finished")

    def __init__(self, size: int, timeout_s: float) -> None:
        self.timeout_ns = int(timeout_s * 1e9)
        self.rtts: list[list[tuple[int, float]]] = [[] for _ in range(size)]  # (send time, RTT ms)
        self.sent = [0] * size
        self.errors: list[Optional[ProbeError]] = [None] * size
        self.outstanding = 0  # echoes sent and not yet answered
        self.all_sent = False
        # Set when every echo is answered: a run of live hosts ends as soon as the last
        # reply is in, not after the full timeout (as fping does).
        self.finished = asyncio.Event()

    def settle(self) -> None:
        self.outstanding -= 1
        if self.all_sent and self.outstanding <= 0:
            self.finished.set()


def _kernel_time_ns(ancdata: list) -> int:
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS and len(data) >= 16:
            seconds, nanoseconds = struct.unpack_from("=qq", data)
            return seconds * 1_000_000_000 + nanoseconds
    return time.time_ns()  # no kernel stamp (should not happen on Linux): best effort


class _FamilySocket:
    """One ICMP socket of one address family, with the packet format that goes with it."""

    def __init__(self, family: int, privileged: bool, ident: int, payload_bytes: int) -> None:
        self.family = family
        self.privileged = privileged
        proto = socket.IPPROTO_ICMP if family == socket.AF_INET else socket.IPPROTO_ICMPV6
        kind = socket.SOCK_RAW if privileged else socket.SOCK_DGRAM
        self.sock = socket.socket(family, kind, proto)
        self.sock.setblocking(False)
        self.sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, _SO_RCVBUFFORCE, _RECEIVE_BUFFER_BYTES)
        except OSError:  # needs CAP_NET_ADMIN; the plain option is capped by net.core.rmem_max
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RECEIVE_BUFFER_BYTES)
        if privileged:
            self._install_type_filter()
            self.ident = ident
            if family == socket.AF_INET:
                self._install_ident_filter()
        else:
            self.sock.bind(("", 0) if family == socket.AF_INET else ("::", 0))
            self.ident = self.sock.getsockname()[1]  # the kernel uses the "port" as identifier
        self._pad = bytes(max(payload_bytes - _TOKEN_BYTES, 0))
        self._pad_sum = sum(struct.unpack(f"!{len(self._pad) // 2}H", self._pad[: len(self._pad) // 2 * 2]))
        self.echo_type = _ICMP_ECHO if family == socket.AF_INET else _ICMP6_ECHO
        # IPv4 raw: the kernel hands us the IP header and expects our checksum; ping sockets
        # and ICMPv6 raw sockets compute the checksum themselves.
        self._needs_checksum = privileged and family == socket.AF_INET
        self._strips_ip_header = not (privileged and family == socket.AF_INET)

    def _install_type_filter(self) -> None:
        # Without a filter a raw socket is woken for every ICMP packet on the host, including
        # our own echo requests looped back on lo; let only replies and unreachables through.
        if self.family == socket.AF_INET:
            allowed = (1 << _ICMP_ECHO_REPLY) | (1 << _ICMP_UNREACH)
            self.sock.setsockopt(_SOL_RAW, _ICMP_FILTER, struct.pack("=I", ~allowed & 0xFFFFFFFF))
        else:
            blocked = [0xFFFFFFFF] * 8  # ICMP6_FILTER: a set bit blocks that type
            for allowed_type in (_ICMP6_ECHO_REPLY, _ICMP6_UNREACH):
                blocked[allowed_type >> 5] &= ~(1 << (allowed_type & 31)) & 0xFFFFFFFF
            self.sock.setsockopt(socket.IPPROTO_ICMPV6, _ICMP6_FILTER, struct.pack("=8I", *blocked))

    def _install_ident_filter(self) -> None:
        # ICMP_FILTER selects by type only, so every raw socket on the host gets every echo
        # reply: with one worker process per core, each parsed and dropped the others'
        # replies too, N times the receive work and wake-ups. A socket filter (classic BPF,
        # run by the kernel before queueing) passes echo replies carrying our identifier and
        # every other type ICMP_FILTER let through (unreachables quote our request inside).
        program = [  # (code, jump if true, jump if false, constant)
            (0xB1, 0, 0, 0),           # ldxb 4*([0]&0xf)    X = IP header length
            (0x50, 0, 0, 0),           # ldb [x+0]           ICMP type
            (0x15, 0, 2, _ICMP_ECHO_REPLY),  # jeq echo reply, else accept
            (0x48, 0, 0, 4),           # ldh [x+4]           identifier
            (0x15, 0, 1, self.ident),  # jeq ours, else drop
            (0x06, 0, 0, 0x40000),     # ret: accept the packet
            (0x06, 0, 0, 0),           # ret 0: drop
        ]
        code = ctypes.create_string_buffer(b"".join(struct.pack("HBBI", *op) for op in program))
        self.sock.setsockopt(socket.SOL_SOCKET, _SO_ATTACH_FILTER,
                             struct.pack("HL", len(program), ctypes.addressof(code)))  # the kernel copies it

    def packet(self, token: bytes, seq: int) -> bytes:
        """An echo request carrying `token` (8 bytes) first in its payload, with sequence `seq`."""
        if self._needs_checksum:
            a, b, c, d = _TOKEN_WORDS.unpack(token)
            total = (self.echo_type << 8) + self.ident + seq + a + b + c + d + self._pad_sum
            while total >> 16:
                total = (total & 0xFFFF) + (total >> 16)
            checksum = ~total & 0xFFFF
        else:
            checksum = 0
        return _ECHO_HEADER.pack(self.echo_type, 0, checksum, self.ident, seq) + token + self._pad

    def parse(self, data: bytes) -> Optional[tuple[bytes, int, int, bool]]:
        """(token, identifier, sequence, is_error) of an echo reply or of an error quoting one of
        our echoes, or None for anything else. The caller checks them against what it sent."""
        offset = 0 if self._strips_ip_header else (data[0] & 0x0F) * 4
        if len(data) < offset + 8 + _TOKEN_BYTES:
            return None
        kind = data[offset]
        if kind == (_ICMP_ECHO_REPLY if self.family == socket.AF_INET else _ICMP6_ECHO_REPLY):
            ident, seq = _IDENT_SEQ.unpack_from(data, offset + 4)
            return data[offset + 8:offset + 8 + _TOKEN_BYTES], ident, seq, False
        if self.privileged and kind == (_ICMP_UNREACH if self.family == socket.AF_INET else _ICMP6_UNREACH):
            # The error quotes our original packet: its IP header, then our echo request. A
            # quote too short to hold the token cannot be checked and is ignored (the echo
            # then counts as lost by its timeout).
            inner = offset + 8
            if self.family == socket.AF_INET:
                if len(data) < inner + 1:
                    return None
                inner += (data[inner] & 0x0F) * 4
            else:
                inner += 40
            if len(data) < inner + 8 + _TOKEN_BYTES:
                return None
            ident, seq = _IDENT_SEQ.unpack_from(data, inner + 4)
            return data[inner + 8:inner + 8 + _TOKEN_BYTES], ident, seq, True
        return None

    def close(self) -> None:
        self.sock.close()


def _normalise(address: str) -> Optional[tuple[int, str]]:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    if ip.version == 6 and ip.ipv4_mapped is not None:
        return socket.AF_INET, str(ip.ipv4_mapped)
    return (socket.AF_INET if ip.version == 4 else socket.AF_INET6), ip.compressed


class Pinger:
    """Sends and receives every ICMP echo of the process; shared by all runs.

    `open()` picks the mode once (and says which, for the startup log); `ping()` may be
    called concurrently by many runs, which share the sockets and the send-rate budget.
    """

    def __init__(self, mode: str = "auto", payload_bytes: int = 56, max_rate_pps: int = 20_000) -> None:
        self.requested_mode = mode
        self.payload_bytes = payload_bytes
        self.max_rate_pps = max_rate_pps
        self.mode: Optional[str] = None
        self._ident = random.randrange(1, 0xFFFF)
        self._sockets: dict[int, _FamilySocket] = {}
        self._socket_errors: dict[int, str] = {}
        # token -> (run, target index, address, send time, identifier, sequence)
        self._pending: dict[bytes, tuple[_Run, int, str, int, int, int]] = {}
        self._seq = random.randrange(0, 1 << 16)
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._next_send_ns = 0  # the send-rate budget, shared by every run
        self._active_runs = 0
        self._close_when_idle = False

    # -- lifecycle -------------------------------------------------------------------------

    def open(self) -> str:
        """Open the sockets; returns the mode used. Raises IcmpPermissionError if impossible."""
        modes = {"auto": (False, True), "unprivileged": (False,), "privileged": (True,)}[self.requested_mode]
        failures = []
        for privileged in modes:
            try:
                self._sockets[socket.AF_INET] = _FamilySocket(
                    socket.AF_INET, privileged, self._ident, self.payload_bytes)
            except PermissionError as exc:
                failures.append(f"{'raw' if privileged else 'ping'} socket: {exc.strerror}")
                continue
            self.mode = "privileged" if privileged else "unprivileged"
            try:
                self._sockets[socket.AF_INET6] = _FamilySocket(
                    socket.AF_INET6, privileged, self._ident, self.payload_bytes)
            except OSError as exc:  # IPv6 disabled or not permitted: v6 devices report it
                self._socket_errors[socket.AF_INET6] = f"no IPv6 ICMP socket: {exc.strerror}"
            return self.mode
        if self.requested_mode == "auto":
            raise IcmpPermissionError(PERMISSION_HELP + f" ({'; '.join(failures)})")
        raise IcmpPermissionError(
            f"probes.icmp.mode is {self.requested_mode!r} but that socket may not be opened "
            f"({'; '.join(failures)}); set mode: auto, or: " + PERMISSION_HELP)

    async def start(self) -> None:
        """Attach the reader callbacks to the running loop (opens the sockets if needed)."""
        if not self._sockets:
            self.open()
        self._loop = asyncio.get_running_loop()
        for family_socket in self._sockets.values():
            self._loop.add_reader(family_socket.sock.fileno(), self._read, family_socket)

    def close_when_idle(self) -> None:
        """Close once the runs using these sockets are done (a reload replaced this pinger)."""
        self._close_when_idle = True
        if self._active_runs == 0:
            self.close()

    def close(self) -> None:
        for family_socket in self._sockets.values():
            if self._loop is not None and not self._loop.is_closed():
                self._loop.remove_reader(family_socket.sock.fileno())
            family_socket.close()
        self._sockets.clear()

    # -- receive ---------------------------------------------------------------------------

    def _read(self, family_socket: _FamilySocket) -> None:
        recvmsg = family_socket.sock.recvmsg
        parse = family_socket.parse
        pending = self._pending
        while True:
            try:
                data, ancdata, _flags, source = recvmsg(2048, 64)
            except BlockingIOError:
                return
            except OSError:  # e.g. a queued ICMP error on a ping socket; nothing to read
                continue
            parsed = parse(data)
            if parsed is None:
                continue
            token, ident, seq, is_error = parsed
            entry = pending.get(token)
            if entry is None:
                continue  # late, answered already (a replay), forged, or another process's
            run, index, address, sent_ns, sent_ident, sent_seq = entry
            if ident != sent_ident or seq != sent_seq or (not is_error and source[0] != address):
                continue
            del pending[token]
            run.settle()
            if is_error:
                continue  # unreachable: counts as lost, without waiting for the timeout
            rtt_ns = _kernel_time_ns(ancdata) - sent_ns
            if 0 <= rtt_ns <= run.timeout_ns:
                run.rtts[index].append((sent_ns, rtt_ns / 1e6))

    def drain(self) -> None:
        """Read whatever replies the kernel holds (before a deadline is judged)."""
        for family_socket in self._sockets.values():
            self._read(family_socket)

    # -- send ------------------------------------------------------------------------------

    async def _pace(self, echoes: int) -> None:
        """Wait until `echoes` more requests fit the global rate budget."""
        now = time.monotonic_ns()
        slot = max(self._next_send_ns, now)
        self._next_send_ns = slot + echoes * 1_000_000_000 // self.max_rate_pps
        delay = (slot - now) / 1e9
        # Yield even when no wait is due, so the reader runs between chunks.
        await asyncio.sleep(delay if delay > 0.0005 else 0)

    async def _send_round(self, run: _Run, destinations: list[tuple[int, str, Optional[_FamilySocket]]]) -> None:
        pending = self._pending
        for start in range(0, len(destinations), _SEND_CHUNK):
            chunk = destinations[start:start + _SEND_CHUNK]
            await self._pace(len(chunk))
            # One getrandom() call per chunk: 0.3 us per echo, against 1 us for a call per echo.
            tokens = os.urandom(_TOKEN_BYTES * len(chunk))
            for position, (index, address, family_socket) in enumerate(chunk):
                if family_socket is None:
                    continue
                token = tokens[position * _TOKEN_BYTES:(position + 1) * _TOKEN_BYTES]
                seq = self._seq = (self._seq + 1) & 0xFFFF
                packet = family_socket.packet(token, seq)
                sendto = family_socket.sock.sendto
                for attempt in range(50):
                    sent_ns = time.time_ns()
                    pending[token] = (run, index, address, sent_ns, family_socket.ident, seq)
                    try:
                        sendto(packet, (address, 0))
                        run.sent[index] += 1
                        run.outstanding += 1
                        break
                    except BlockingIOError:  # send buffer full: let the kernel catch up
                        del pending[token]
                        await asyncio.sleep(0.001 * (attempt + 1))
                    except OSError as exc:
                        del pending[token]
                        run.errors[index] = ProbeError(
                            ResultCode.SEND_FAILED, f"echo request could not be sent: {exc.strerror or exc}")
                        break

    async def ping(self, addresses: Sequence[str], count: int, echo_interval_s: float,
                   timeout_s: float) -> list[EchoResult]:
        """Send `count` echoes to every address (IP literals) and collect the replies.

        Rounds go out `echo_interval_s` apart; a reply counts if it arrived within
        `timeout_s` of its own request (kernel receive time minus send time).
        """
        if self._loop is None:
            await self.start()
        self._active_runs += 1
        try:
            return await self._ping(addresses, count, echo_interval_s, timeout_s)
        finally:
            self._active_runs -= 1
            if self._close_when_idle and self._active_runs == 0:
                self.close()

    async def _ping(self, addresses: Sequence[str], count: int, echo_interval_s: float,
                    timeout_s: float) -> list[EchoResult]:
        run = _Run(len(addresses), timeout_s)
        destinations: list[tuple[int, str, Optional[_FamilySocket]]] = []
        for index, address in enumerate(addresses):
            normalised = _normalise(address)
            family_socket = None
            if normalised is None:
                run.errors[index] = ProbeError(ResultCode.ERROR, f"not an IP address: {address!r}")
            else:
                family, address = normalised
                family_socket = self._sockets.get(family)
                if family_socket is None:
                    run.errors[index] = ProbeError(
                        ResultCode.SEND_FAILED, self._socket_errors.get(family, "no ICMP socket for this family"))
            destinations.append((index, address, family_socket))

        start = time.monotonic()
        last_round_sent = start
        for round_number in range(count):
            due = start + round_number * echo_interval_s
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            await self._send_round(run, destinations)
            last_round_sent = time.monotonic()
        # Wait for the last replies, then read what the kernel holds before judging: a reply
        # that arrived in time but was not read yet still counts (its stamp is the kernel's).
        run.all_sent = True
        if run.outstanding > 0:
            wait_s = max(0.0, last_round_sent + timeout_s - time.monotonic()) + 0.005
            try:
                await asyncio.wait_for(run.finished.wait(), wait_s)
            except asyncio.TimeoutError:
                pass
        self.drain()
        self._forget(run)
        results = []
        for index in range(len(addresses)):
            rtts = tuple(rtt for _sent_ns, rtt in sorted(run.rtts[index]))  # in the order sent
            results.append(EchoResult(sent=run.sent[index], rtts_ms=rtts, error=run.errors[index]))
        return results

    def _forget(self, run: _Run) -> None:
        stale = [token for token, entry in self._pending.items() if entry[0] is run]
        for token in stale:
            del self._pending[token]


# -- samples -------------------------------------------------------------------------------

def summarise(result: EchoResult) -> dict:
    """Fields of one device's `icmp` sample (see docs/measurements.md)."""
    received = len(result.rtts_ms)
    sent = result.sent
    fields: dict = {"up": 1 if received else 0, "sent": sent, "received": received}
    # An echo that could not even be sent is lost, not "0 % loss" of nothing.
    fields["loss_pct"] = 100.0 * (sent - received) / sent if sent else 100.0
    if received:
        rtts = result.rtts_ms
        fields["rtt_min_ms"] = round(min(rtts), 3)
        fields["rtt_avg_ms"] = round(sum(rtts) / received, 3)
        fields["rtt_max_ms"] = round(max(rtts), 3)
        # Jitter: mean absolute difference of consecutive RTTs (RFC 3550's D, unsmoothed).
        fields["jitter_ms"] = round(
            sum(abs(b - a) for a, b in zip(rtts, rtts[1:])) / (received - 1), 3) if received > 1 else 0.0
        code = ResultCode.OK
    elif result.error is not None:
        code = result.error.kind
    else:
        code = ResultCode.TIMEOUT
    fields["result_code"] = int(code)
    return fields


_names = NameCache()


async def probe(pinger: Pinger, targets: Sequence[Target], settings: IcmpSettings,
                on_error: Optional[Callable[[Target, ProbeError], None]] = None,
                names: NameCache = _names) -> list[Sample]:
    """One ICMP run over `targets`: one `icmp` sample per target, never an exception.

    Targets with IP literals are pinged at once; host names are resolved alongside and pinged
    when resolved, so a slow name server never delays the others. `on_error` is told why a
    target produced no reply (send failure, resolution failure), for the daemon's log and
    `status`; timeouts are not errors, they are `up=0`.
    """
    started_ns = time.time_ns()
    count, spacing, timeout = settings.count, settings.echo_interval_ms / 1000, settings.timeout_s
    literal = [i for i, t in enumerate(targets) if _normalise(t.address) is not None]
    named = [i for i, t in enumerate(targets) if _normalise(t.address) is None]
    results: list[Optional[EchoResult]] = [None] * len(targets)

    async def ping_literals() -> None:
        if literal:
            answers = await pinger.ping([targets[i].address for i in literal], count, spacing, timeout)
            for index, answer in zip(literal, answers):
                results[index] = answer

    async def resolve_and_ping_names() -> None:
        if not named:
            return
        resolved = await names.resolve([targets[i].address for i in named])
        reachable = []
        for index in named:
            address, error = resolved[targets[index].address]
            if error is not None:
                results[index] = EchoResult(sent=0, rtts_ms=(), error=error)
            else:
                reachable.append((index, address))
        if reachable:
            answers = await pinger.ping([address for _, address in reachable], count, spacing, timeout)
            for (index, _), answer in zip(reachable, answers):
                results[index] = answer

    await asyncio.gather(ping_literals(), resolve_and_ping_names())
    samples = []
    for target, result in zip(targets, results):
        if result.error is not None and on_error is not None:
            on_error(target, result.error)
        samples.append(Sample(MEASUREMENT, target.tags, summarise(result), started_ns))
    return samples


__all__ = ["EchoResult", "IcmpPermissionError", "NameCache", "Pinger", "probe", "summarise",
           "MEASUREMENT", "PERMISSION_HELP"]
