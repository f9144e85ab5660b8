"""A UDP responder in a thread, for agent behaviour no real agent shows on demand (garbage,
damaged answers, hostile table walks). Each test that uses one says why a fake is needed there.

`UdpResponder(answer)` is the bare responder. `HostileAgent` is an SNMP v1/v2c agent that
relays every GET to a real agent (so sysObjectID, profile selection and scalars stay real)
and answers table walks (GETNEXT, GETBULK) the way a hostile or broken agent would:

* "ever-longer": every OID longer than the one before, with random sub-identifiers, never an
  end of the table: each poll a new set of enormous, random row indexes.
* "endless": short random indexes that keep increasing, never an end of the table: as many
  rows as the walk asks for.
* "malformed-after": the real agent's rows one at a time, then, from the third request of a
  column's walk on, a truncated answer: a walk that ends malformed half way.

No real agent can be made to do any of this; it is what the bounds on rows, index length and
partial walks exist for.
"""

from __future__ import annotations

import random
import socket
import threading
from typing import Callable, Iterable

from probes.snmp.ber import (MAX_SUBIDS, REQUEST_PDUS, Kind, Message, PduType, SnmpDecodeError, Value,
                             decode_message, encode_message, encode_pdu)


class UdpResponder:
    """On `address` (127.0.0.1), a free port: `answer(request)` gives the datagrams to send back."""

    def __init__(self, answer: Callable[[bytes], Iterable[bytes]], address: str = "127.0.0.1") -> None:
        self.answer = answer
        self.address = address
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((address, 0))
        self.sock.settimeout(0.02)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                request, source = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            for datagram in self.answer(request):
                self.sock.sendto(datagram, source)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


def ask(endpoint: tuple[str, int], request: bytes, timeout_s: float = 2.0) -> bytes:
    """One request to a real agent, its answer (what a relay passes on)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout_s)
        sock.sendto(request, endpoint)
        return sock.recv(65535)


HOSTILE_BEHAVIOURS = ("ever-longer", "endless", "malformed-after")


class HostileAgent(UdpResponder):
    """GETs relayed to `upstream` (a real agent's (host, port)); walks under `subtrees` (all
    walks if none are given) answered per `behaviour` (one of HOSTILE_BEHAVIOURS), other walks
    relayed too. `seed` makes a run reproducible; `walk_requests` counts the hostile answers."""

    def __init__(self, upstream: tuple[str, int], behaviour: str, subtrees: tuple[str, ...] = (),
                 seed: int = 11, address: str = "127.0.0.1") -> None:
        if behaviour not in HOSTILE_BEHAVIOURS:
            raise ValueError(f"behaviour must be one of {HOSTILE_BEHAVIOURS}, not {behaviour!r}")
        self.upstream = upstream
        self.behaviour = behaviour
        self.subtrees = tuple(subtree + "." for subtree in subtrees)
        self.random = random.Random(seed)
        self.walk_requests = 0
        self._root_of: dict[str, str] = {}  # OID this agent answered with -> the walk's first OID
        self._requests_under: dict[str, int] = {}
        super().__init__(self._answer, address)

    def _answer(self, raw: bytes) -> list[bytes]:
        try:
            request = decode_message(raw, REQUEST_PDUS)
        except SnmpDecodeError:
            return []
        asked = request.pdu.varbinds[0][0] if request.pdu.varbinds else ""
        if request.pdu.type not in (PduType.GET_NEXT, PduType.GET_BULK) or (
                self.subtrees and not (asked + ".").startswith(self.subtrees)):
            return [ask(self.upstream, raw)]
        self.walk_requests += 1
        if len(self._root_of) > 100_000:
            self._root_of.clear()
        root = self._root_of.get(asked, asked)  # an OID not handed out by this agent starts a walk
        wanted = max(1, request.pdu.error_index) if request.pdu.type == PduType.GET_BULK else 1
        if self.behaviour == "ever-longer":
            varbinds = self._ever_longer(asked, root, wanted)
        elif self.behaviour == "endless":
            varbinds = self._endless(asked, root, wanted)
        else:
            return self._malformed_after(request, asked, root)
        for oid, _ in varbinds:
            self._root_of[oid] = root
        return [self._response(request, varbinds)]

    def _response(self, request: Message, varbinds) -> bytes:
        pdu = encode_pdu(PduType.RESPONSE, request.pdu.request_id, 0, 0, varbinds)
        return encode_message(request.version, request.community, pdu)

    def _value(self) -> Value:
        return Value(Kind.INTEGER, self.random.randrange(1, 1_000_000))

    def _ever_longer(self, asked: str, root: str, wanted: int) -> list:
        arcs = [int(part) for part in asked.split(".")]
        base = root.count(".") + 1
        varbinds = []
        for _ in range(wanted):
            grow = self.random.randint(1, 3)
            if len(arcs) + grow > MAX_SUBIDS:
                # At the protocol's 128 sub-identifiers: step sideways under the walk's root (still
                # after the previous OID) and grow again.
                arcs = arcs[:base + 1]
                arcs[-1] += 1
            arcs = arcs + [self.random.randrange(1, 4_000_000_000) for _ in range(grow)]
            varbinds.append((".".join(map(str, arcs)), self._value()))
        return varbinds

    def _endless(self, asked: str, root: str, wanted: int) -> list:
        index = 0 if asked == root else int(asked.rpartition(".")[2])
        varbinds = []
        for _ in range(wanted):
            index += self.random.randint(1, 1000)
            varbinds.append((f"{root}.{index}", self._value()))
        return varbinds

    def _malformed_after(self, request: Message, asked: str, root: str) -> list[bytes]:
        # A request for an OID this agent did not hand out starts a walk: count from there.
        seen = self._requests_under[root] = 1 if asked == root else self._requests_under.get(root, 0) + 1
        # The real agent's next row, one per answer (an agent may return fewer repetitions than asked).
        next_request = encode_message(request.version, request.community, encode_pdu(
            PduType.GET_NEXT, request.pdu.request_id, 0, 0, [(asked, Value(Kind.NULL, None))]))
        answer = ask(self.upstream, next_request)
        if seen > 2:
            return [answer[:-3]]  # cut short: not valid SNMP
        decoded = decode_message(answer)
        for oid, _ in decoded.pdu.varbinds:
            self._root_of[oid] = root
        return [answer]


def hostile_agent(upstream: tuple[str, int], behaviour: str, subtrees: tuple[str, ...] = (),
                  seed: int = 11, address: str = "127.0.0.1") -> HostileAgent:
    """A started HostileAgent on `address` (stop() it when done)."""
    return HostileAgent(upstream, behaviour, subtrees, seed, address)


__all__ = ["HOSTILE_BEHAVIOURS", "HostileAgent", "UdpResponder", "ask", "hostile_agent"]
