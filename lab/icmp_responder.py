"""Userspace ICMP echo responder for the test lab: per-address delay and loss.

The kernel here has no netem, so `lab/netlab.py` runs this inside a network namespace
whose kernel echo replies are switched off (`net.ipv4.icmp_echo_ignore_all=1`) and this
process answers instead:

    python icmp_responder.py --parent-pid 1234 10.231.7.2=50:0 10.231.7.3=0:30

`ADDRESS=DELAY_MS:LOSS_PCT`: every echo request to ADDRESS is dropped with probability
LOSS_PCT %, otherwise answered DELAY_MS after it arrived, with the identical id, sequence
and payload. An address of the namespace that is not listed stays ICMP-silent.

Accuracy is the point (a benchmark checks that the probe measures a 50 ms host within
+-2 ms while it sweeps 10,000 other addresses), so:
* the delay is counted from the kernel's receive timestamp (SO_TIMESTAMPNS), not from the
  moment Python got round to reading the packet;
* one raw socket per address, bound to it (the kernel then delivers only that address's
  packets and uses it as the reply's source) and filtered to echo requests (ICMP_FILTER);
* a select loop with a timer heap, microsecond timeouts, stdlib only, and SCHED_FIFO when
  permitted, so a CPU-bound sweep in the same machine does not delay our wake-ups.

Prints `ready` on stdout once every socket is bound. Exits on SIGTERM/SIGINT, and by
itself once its parent (the process that set up the lab) is gone, so a crashed test run
does not leave responders behind.
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import os
import random
import select
import signal
import socket
import struct
import sys
import time

# Linux values; the socket module does not export them.
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
SOL_RAW = getattr(socket, "SOL_RAW", 255)
ICMP_FILTER = 1
ECHO_REPLY = 0
ECHO_REQUEST = 8
TIMESPEC = struct.Struct("@qq")
PARENT_CHECK_S = 0.5


def parse_host(text: str) -> tuple[str, float, float]:
    """`10.231.7.2=50:0` -> ("10.231.7.2", 50.0, 0.0)."""
    try:
        address, _, rest = text.partition("=")
        delay_text, _, loss_text = rest.partition(":")
        socket.inet_aton(address)
        delay_ms, loss_pct = float(delay_text or 0), float(loss_text or 0)
    except (OSError, ValueError):
        raise argparse.ArgumentTypeError(f"{text!r}: expected ADDRESS=DELAY_MS:LOSS_PCT") from None
    if delay_ms < 0 or not 0 <= loss_pct <= 100:
        raise argparse.ArgumentTypeError(f"{text!r}: delay must be >= 0 and loss within 0..100")
    return address, delay_ms, loss_pct


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def echo_reply(packet: bytes) -> bytes | None:
    """The reply to a received IPv4 packet (header included), or None if it is no valid echo request."""
    if len(packet) < 20:
        return None
    icmp = packet[(packet[0] & 0x0F) * 4:]
    if len(icmp) < 8 or icmp[0] != ECHO_REQUEST or icmp[1] != 0 or checksum(icmp) != 0:
        return None
    body = bytes((ECHO_REPLY, 0, 0, 0)) + icmp[4:]
    return body[:2] + struct.pack("!H", checksum(body)) + body[4:]


def open_socket(address: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    # ICMP_FILTER is a mask of types to *drop*: keep only echo requests.
    sock.setsockopt(SOL_RAW, ICMP_FILTER, struct.pack("I", ~(1 << ECHO_REQUEST) & 0xFFFFFFFF))
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    sock.bind((address, 0))
    sock.setblocking(False)
    return sock


def received_at_ns(ancdata: list) -> int:
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= TIMESPEC.size:
            seconds, nanoseconds = TIMESPEC.unpack_from(data)
            return seconds * 1_000_000_000 + nanoseconds
    return time.time_ns()  # no timestamp: the best we have


def try_realtime() -> str:
    """Run at a low SCHED_FIFO priority if permitted: wake-ups then preempt a CPU-bound sweep.

    Safe because the loop always sleeps in select(); the kernel's RT throttling
    (sched_rt_runtime_us) would still leave 5 % to everyone else if it did not.
    """
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))
        return "SCHED_FIFO"
    except (AttributeError, OSError):
        try:
            os.nice(-10)
            return "nice -10"
        except OSError:
            return "default"


def serve(hosts: list[tuple[str, float, float]], parent_pid: int | None, rng: random.Random) -> None:
    sockets = {}
    for address, delay_ms, loss_pct in hosts:
        sockets[open_socket(address)] = (round(delay_ms * 1_000_000), loss_pct)
    readable = list(sockets)
    pending: list[tuple[int, int, socket.socket, bytes, str]] = []  # (due_ns, tie, sock, reply, to)
    tie = itertools.count()
    ancillary_size = socket.CMSG_SPACE(TIMESPEC.size)
    print("ready", flush=True)
    next_parent_check = time.monotonic() + PARENT_CHECK_S
    while True:
        timeout = PARENT_CHECK_S
        if pending:
            timeout = min(timeout, max(0.0, (pending[0][0] - time.time_ns()) / 1e9))
        ready, _, _ = select.select(readable, [], [], timeout)
        for sock in ready:
            delay_ns, loss_pct = sockets[sock]
            while True:
                try:
                    packet, ancdata, _flags, (source, _port) = sock.recvmsg(65535, ancillary_size)
                except BlockingIOError:
                    break
                reply = echo_reply(packet)
                if reply is None or (loss_pct and rng.random() * 100 < loss_pct):
                    continue
                heapq.heappush(pending, (received_at_ns(ancdata) + delay_ns, next(tie), sock, reply, source))
        now = time.time_ns()
        while pending and pending[0][0] <= now:
            _due, _tie, sock, reply, source = heapq.heappop(pending)
            try:
                sock.sendto(reply, (source, 0))
            except OSError as exc:  # e.g. an nft output drop in the namespace: a lost reply
                print(f"reply to {source} not sent: {exc}", file=sys.stderr, flush=True)
        if time.monotonic() >= next_parent_check:
            next_parent_check = time.monotonic() + PARENT_CHECK_S
            if parent_pid is not None and os.getppid() != parent_pid:
                print(f"parent {parent_pid} is gone; exiting", file=sys.stderr, flush=True)
                return


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("hosts", nargs="*", type=parse_host, metavar="ADDRESS=DELAY_MS:LOSS_PCT")
    parser.add_argument("--parent-pid", type=int, help="exit once this process is no longer our parent")
    parser.add_argument("--seed", type=int, help="seed for the loss decisions (reproducible runs)")
    parser.add_argument("--no-realtime", action="store_true", help="do not ask for SCHED_FIFO")
    args = parser.parse_args(argv)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: sys.exit(0))
    policy = "default" if args.no_realtime else try_realtime()
    print(f"scheduling: {policy}", file=sys.stderr, flush=True)
    serve(args.hosts, args.parent_pid, random.Random(args.seed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
