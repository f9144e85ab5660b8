"""SNMP v1/v2c/v3 client for thousands of agents over one UDP socket per address family.

Why not pysnmp's engine on the hot path: it costs about 2 ms of CPU per 10-OID GET here and
the budget is 0.4 ms (see probes/snmp/ber.py and bench/snmp_codec.py). Like the ICMP
Pinger, this client keeps one non-blocking socket per family, sends requests carrying random
request ids, and demultiplexes answers by id in a reader callback, checking that each answer
comes from the address and port it was sent to. Retries reuse the request id, so a late
answer to the first try still completes the request.

Errors are data: `get` and `walk` return an `SnmpResult` holding varbinds or an `SnmpError`
(kind + a sentence for people); only programming errors (an invalid OID, a wrong argument)
raise. Nothing this module produces (results, reprs, counters) contains a community string,
a pass phrase or a key.

SNMPv3 (USM, probes/snmp/usm.py): the request id sits inside a scoped PDU that may be
encrypted, so v3 answers are matched by msgID, in a table of their own next to the v1/v2c
one (the v1/v2c path does not change). Each agent's engine ID, boots and time are discovered
once and kept in a bounded cache keyed by (host, port) that outlives the per-agent state
(which is dropped when idle): re-discovering on every poll would double the datagrams. A
device that rebooted (notInTimeWindow) or got a new engine ID (unknownEngineID) is re-synced
or re-discovered and the request retried once, transparently. USM failures are `auth` errors
whose sentence says which failure it was.

Load limits: at most `max_in_flight_per_agent` requests to one agent (1 by default: small
agents such as UPS cards serve one request at a time) and `max_in_flight` in total.
"""

from __future__ import annotations

import asyncio
import enum
import functools
import ipaddress
import random
import socket
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Literal, NamedTuple, Optional, Sequence, Union

from probes.base import ResultCode
from probes.snmp.ber import (EXCEPTION_KINDS, NO_SUCH_OBJECT, REQUEST_ID_MAX, REQUEST_ID_MIN, VERSION_1,
                             VERSION_2C, Kind, Pdu, PduTemplate, PduType, RequestTemplate, SnmpDecodeError, Value,
                             VarBind, canonical_oid, decode_message)
from probes.snmp.usm import (FLAG_AUTH, FLAG_PRIV, NOT_IN_TIME_WINDOWS, REPORTS, UNKNOWN_ENGINE_IDS, USM_REPORTS,
                             UsmSecurityError, UsmSession, UsmUser, V3Message, encode_discovery, is_v3,
                             open_unauthenticated, parse_v3)

_WIRE_VERSION = {"v1": VERSION_1, "v2c": VERSION_2C}
_VERSIONS = ("v1", "v2c", "v3")
_ENGINE_CACHE_LIMIT = 100_000  # (host, port) -> engine: about 200 bytes each
_SESSION_CACHE_LIMIT = 100_000
_MAX_ENGINE_TIME = 0x7FFFFFFF
# An agent that answered anything within this long is "alive": an authPriv request it ignores is
# then diagnosed with an authNoPriv probe (see _exchange_v3), a dead one is not probed forever.
_ALIVE_WINDOW_S = 600.0
_PRIVACY_PROBE = PduTemplate(PduType.GET, ("0.0",))  # see _diagnose_privacy
_RECEIVE_BUFFER_BYTES = 4 * 1024 * 1024
_READS_PER_WAKEUP = 512  # then let other callbacks run; the rest is read on the next wakeup
_TEMPLATE_CACHE_LIMIT = 50_000

# RFC 3416 error-status names, for sentences.
_ERROR_STATUS = {
    1: "tooBig", 2: "noSuchName", 3: "badValue", 4: "readOnly", 5: "genErr", 6: "noAccess", 7: "wrongType",
    8: "wrongLength", 9: "wrongEncoding", 10: "wrongValue", 11: "noCreation", 12: "inconsistentValue",
    13: "resourceUnavailable", 14: "commitFailed", 15: "undoFailed", 16: "authorizationError",
    17: "notWritable", 18: "inconsistentName",
}
_TOO_BIG, _NO_SUCH_NAME, _GEN_ERR, _AUTHORIZATION_ERROR = 1, 2, 5, 16


@dataclass(frozen=True, slots=True)
class Agent:
    """An SNMP agent: IP literal, UDP port, version, and the community (v1/v2c, kept out of repr)
    or the USM user (v3; its repr shows no pass phrase)."""

    host: str
    port: int
    version: Literal["v1", "v2c", "v3"]
    community: str = field(default="", repr=False)
    user: Optional[UsmUser] = None  # required when version == "v3"

    def __post_init__(self) -> None:
        if self.version not in _VERSIONS:
            raise ValueError(f"SNMP version must be 'v1', 'v2c' or 'v3', not {self.version!r}")
        if not 0 < self.port < 65536:
            raise ValueError(f"UDP port {self.port} out of range")
        if self.version == "v3" and not isinstance(self.user, UsmUser):
            raise ValueError("an SNMPv3 agent needs a UsmUser")

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


class ErrorKind(enum.StrEnum):
    TIMEOUT = "timeout"  # no answer; in v1/v2c this is also what a wrong community looks like
    SEND_FAILED = "send_failed"  # the request could not leave this host
    BAD_ADDRESS = "bad_address"  # the agent's host is not an IP address
    MALFORMED = "malformed"  # the agent answered with something that is not a valid response
    TOO_BIG = "too_big"  # the answer would not fit in one message, even for a single OID
    NO_SUCH_OBJECT = "no_such_object"  # the agent has none of the OIDs asked for
    GEN_ERR = "gen_err"  # the agent failed internally (error-status genErr)
    AUTH = "auth"  # error-status authorizationError, and every v3 USM failure (the sentence says which)
    AGENT_ERROR = "agent_error"  # any other error-status
    WALK_LOOP = "walk_loop"  # GETNEXT answered an OID that is not after the one asked for
    TOO_MANY_ROWS = "too_many_rows"  # the walk passed its varbind cap
    INDEX_TOO_LONG = "index_too_long"  # a walked OID's index (the part under the root) passed its cap
    CLOSED = "closed"  # the client was closed while the request was waiting


_RESULT_CODES = {ErrorKind.TIMEOUT: ResultCode.TIMEOUT, ErrorKind.SEND_FAILED: ResultCode.SEND_FAILED}


@dataclass(frozen=True, slots=True)
class SnmpError:
    """An SNMP failure as data: a kind for rules and a sentence for people (never a secret)."""

    kind: ErrorKind
    detail: str

    @property
    def result_code(self) -> ResultCode:
        return _RESULT_CODES.get(self.kind, ResultCode.ERROR)


@dataclass(frozen=True, slots=True)
class SnmpResult:
    """What a `get` or `walk` produced.

    `varbinds` are (dotted OID, Value) in request order (get) or walk order (walk); after an
    error they hold what was collected before it. `requests` counts datagrams sent, retries
    included. `method` is the PDU type that finished the job ("get", "getbulk", "getnext");
    `fallback` says why a walk left GETBULK for GETNEXT, if it did.
    """

    varbinds: tuple[VarBind, ...] = ()
    error: Optional[SnmpError] = None
    requests: int = 0
    method: str = "get"
    fallback: Optional[str] = None

    @property
    def ok(self) -> bool:
        return self.error is None

    def values(self) -> dict[str, Value]:
        return dict(self.varbinds)


@dataclass(frozen=True, slots=True)
class RequestOptions:
    """Per-device request behaviour; the client has defaults, every call may override them."""

    timeout_s: float = 1.0
    retries: int = 1
    # Old UPS cards and cameras choke on large PDUs: GETs are split into requests of at most
    # this many OIDs, and GETBULK asks for at most this many repetitions.
    max_varbinds_per_request: int = 32
    max_repetitions: int = 25
    use_getbulk: bool = True  # False: walk with GETNEXT only
    max_walk_varbinds: int = 20_000  # an enormous table is an error for that device, not a memory blow-up
    # Sub-identifiers under the walked root (a table row's index): an agent answering with ever-
    # longer OIDs is stopped at the first one past this, not after max_walk_varbinds of them.
    max_index_length: int = 128

    def __post_init__(self) -> None:
        if not 0 < self.timeout_s <= 60:
            raise ValueError("timeout_s must be within (0, 60]")
        if not 0 <= self.retries <= 10:
            raise ValueError("retries must be within 0..10")
        if (self.max_varbinds_per_request < 1 or self.max_repetitions < 1 or self.max_walk_varbinds < 1
                or self.max_index_length < 1):
            raise ValueError("max_varbinds_per_request, max_repetitions, max_walk_varbinds and max_index_length "
                             "must be >= 1")


@dataclass
class ClientStats:
    """Counters for `status` and tests. `ignored`: datagrams that matched no request in flight."""

    sent: int = 0
    retries: int = 0
    answers: int = 0
    timeouts: int = 0
    ignored: int = 0
    malformed: int = 0
    discoveries: int = 0  # v3 engine discoveries (first contact, or the engine ID changed)
    resyncs: int = 0  # v3 time re-synchronisations after notInTimeWindow (the device rebooted)
    reports: int = 0  # v3 Report PDUs received


class EngineInfo(NamedTuple):
    """What the client knows about an SNMPv3 agent's engine (for status pages and tests)."""

    engine_id: bytes
    boots: int
    time: int  # estimated snmpEngineTime now


@functools.lru_cache(maxsize=65_536)
def _normalise(host: str) -> Optional[tuple[int, str]]:
    """(family, canonical text as the kernel reports sources) of an IP literal, else None."""
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None
    if ip.version == 6 and ip.ipv4_mapped is not None:
        return socket.AF_INET, str(ip.ipv4_mapped)
    return (socket.AF_INET if ip.version == 4 else socket.AF_INET6), ip.compressed


_arcs_cache: dict[str, tuple[int, ...]] = {}


def _arcs(oid: str) -> tuple[int, ...]:
    """Sub-identifiers of a decoded OID, for ordering (tuples compare like OIDs)."""
    arcs = _arcs_cache.get(oid)
    if arcs is None:
        arcs = tuple(map(int, oid.split(".")))
        if len(_arcs_cache) >= 100_000:
            _arcs_cache.clear()
        _arcs_cache[oid] = arcs
    return arcs


_TIMED_OUT = object()  # what a request's future holds when its timer fired first


def _expire(future: asyncio.Future) -> None:
    if not future.done():
        future.set_result(_TIMED_OUT)


class _AgentState:
    """Per (host, port): the in-flight gate, GETBULK memory, and garbage seen from it."""

    __slots__ = ("family", "address", "source", "users", "in_flight", "waiters", "bulk_broken_until",
                 "noise_reason", "noise_at")

    def __init__(self, family: int, host: str, port: int) -> None:
        self.family = family
        self.address = (host, port) if family == socket.AF_INET else (host, port, 0, 0)
        self.source = (host, port)
        self.users = 0  # get/walk calls holding this state between their requests
        self.in_flight = 0
        self.waiters: deque[asyncio.Future] = deque()
        self.bulk_broken_until = 0.0
        self.noise_reason: Optional[str] = None  # last undecodable datagram from this agent, and when
        self.noise_at = 0.0

    def idle(self) -> bool:
        return (self.users == 0 and self.in_flight == 0 and not self.waiters
                and self.bulk_broken_until == 0.0)


class _Pending:
    __slots__ = ("future", "source", "version", "community", "late")

    def __init__(self, source: tuple[str, int], version: int, community: bytes) -> None:
        self.future: Optional[asyncio.Future] = None
        self.source = source
        self.version = version
        self.community = community
        # An answer that came in after the try's timer fired but before its coroutine ran again.
        self.late: Union[Pdu, SnmpError, None] = None


class _Engine:
    """An SNMPv3 agent's engine as last learnt: ID, boots, and time anchored to our monotonic clock
    (RFC 3414 2.3: the manager keeps the agent's notion of time to stay in its 150 s window)."""

    __slots__ = ("engine_id", "boots", "time", "synced_at", "heard_at", "session")

    def __init__(self, engine_id: bytes, boots: int, engine_time: int) -> None:
        self.engine_id = engine_id
        self.resync(boots, engine_time)
        self.heard_at = self.synced_at  # last valid answer of any kind from the agent
        # The session of the user last polled here: usually the only one, found without hashing.
        self.session: Optional[UsmSession] = None

    def resync(self, boots: int, engine_time: int) -> None:
        self.boots, self.time, self.synced_at = boots, engine_time, time.monotonic()

    def learn(self, boots: int, engine_time: int) -> None:
        """RFC 3414 3.2 step 7b: an authenticated message moves our notion of its clock forward only."""
        if boots > self.boots or (boots == self.boots and engine_time > self.time):
            self.resync(boots, engine_time)

    def now(self) -> tuple[int, int]:
        """(boots, estimated engine time) to put in a request."""
        return self.boots, min(self.time + int(time.monotonic() - self.synced_at), _MAX_ENGINE_TIME)


class _V3Pending:
    """A v3 request in flight, keyed by msgID. `session` None: an engine discovery probe."""

    __slots__ = ("future", "source", "session", "engine", "request_id", "late")

    def __init__(self, source: tuple[str, int], session: Optional[UsmSession], engine: Optional[_Engine],
                 request_id: int) -> None:
        self.future: Optional[asyncio.Future] = None
        self.source = source
        self.session = session
        self.engine = engine
        self.request_id = request_id
        self.late: Union[V3Message, SnmpError, None] = None


class SnmpClient:
    """Every SNMP v1/v2c/v3 request of the process; `get` and `walk` may run concurrently."""

    def __init__(self, options: RequestOptions = RequestOptions(), max_in_flight_per_agent: int = 1,
                 max_in_flight: int = 512, bulk_retry_after_s: float = 3600.0) -> None:
        if max_in_flight_per_agent < 1 or max_in_flight < 1:
            raise ValueError("in-flight caps must be >= 1")
        self.options = options
        self.max_in_flight_per_agent = max_in_flight_per_agent
        self.max_in_flight = max_in_flight
        # An agent that answered GETBULK badly is walked with GETNEXT for this long, then tried again
        # (firmware gets upgraded).
        self.bulk_retry_after_s = bulk_retry_after_s
        self.stats = ClientStats()
        self._sockets: dict[int, socket.socket] = {}
        self._socket_errors: dict[int, str] = {}
        self._pending: dict[int, _Pending] = {}
        self._v3_pending: dict[int, _V3Pending] = {}  # by msgID: v3 request ids may be encrypted
        self._agents: dict[tuple[str, int], _AgentState] = {}
        # Outlives _agents (idle agent state is dropped), else every poll would re-discover.
        self._engines: dict[tuple[str, int], _Engine] = {}
        self._sessions: dict[tuple[UsmUser, bytes], UsmSession] = {}
        self._templates: dict[tuple, Union[RequestTemplate, PduTemplate]] = {}
        self._global: Optional[asyncio.Semaphore] = None
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._random = random.Random()  # seeded from os.urandom: ids are not guessable off-path
        # Privacy salt counter (RFC 3826 3.1.2.1: a 64-bit integer, starting anywhere, never repeating soon).
        self._salt = self._random.getrandbits(64)
        self._closed = False

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind to the running loop. Sockets open on first use of their family."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
            self._global = asyncio.Semaphore(self.max_in_flight)

    def busy(self) -> bool:
        """Requests are waiting for answers or for their turn (a retired client closes once idle)."""
        return bool(self._pending or self._v3_pending) or any(
            state.users or state.in_flight or state.waiters for state in self._agents.values())

    def close(self) -> None:
        """Close the sockets; requests still waiting end with a `closed` error."""
        self._closed = True
        for family, sock in self._sockets.items():
            if self._loop is not None and not self._loop.is_closed():
                self._loop.remove_reader(sock.fileno())
            sock.close()
        self._sockets.clear()
        for entry in [*self._pending.values(), *self._v3_pending.values()]:
            if entry.future is not None and not entry.future.done():
                entry.future.set_result(SnmpError(ErrorKind.CLOSED, "the SNMP client was closed"))
        self._pending.clear()
        self._v3_pending.clear()

    def engine_info(self, agent: Agent) -> Optional[EngineInfo]:
        """The SNMPv3 engine learnt for `agent`'s address and port, if any."""
        normalised = _normalise(agent.host)
        engine = self._engines.get((normalised[1], agent.port)) if normalised is not None else None
        if engine is None:
            return None
        return EngineInfo(engine.engine_id, *engine.now())

    def _socket(self, family: int) -> Union[socket.socket, str]:
        sock = self._sockets.get(family)
        if sock is not None:
            return sock
        if family in self._socket_errors:
            return self._socket_errors[family]
        try:
            sock = socket.socket(family, socket.SOCK_DGRAM)
            sock.setblocking(False)
            try:
                sock.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_RCVBUFFORCE", 33), _RECEIVE_BUFFER_BYTES)
            except OSError:  # needs CAP_NET_ADMIN; the plain option is capped by net.core.rmem_max
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RECEIVE_BUFFER_BYTES)
            sock.bind(("0.0.0.0", 0) if family == socket.AF_INET else ("::", 0))
        except OSError as exc:
            self._socket_errors[family] = f"no UDP socket for {'IPv4' if family == socket.AF_INET else 'IPv6'}: " \
                                          f"{exc.strerror or exc}"
            return self._socket_errors[family]
        self._sockets[family] = sock
        self._loop.add_reader(sock.fileno(), self._read, sock)
        return sock

    # -- receive ---------------------------------------------------------------------------

    def _read(self, sock: socket.socket) -> None:
        recvfrom = sock.recvfrom
        pending = self._pending
        v3_pending = self._v3_pending
        stats = self.stats
        for _ in range(_READS_PER_WAKEUP):
            try:
                data, source = recvfrom(65_535)
            except BlockingIOError:
                return
            except OSError:  # a queued ICMP error; nothing to read in it
                continue
            source = source[:2]
            if v3_pending and is_v3(data):  # (no v3 request in flight: the v1/v2c path pays nothing)
                self._read_v3(data, source)
                continue
            try:
                message = decode_message(data)
            except SnmpDecodeError as exc:
                if is_v3(data):  # a late or duplicate v3 answer while no v3 request is in flight
                    stats.ignored += 1
                    continue
                stats.malformed += 1
                entry = pending.get(exc.request_id) if exc.request_id is not None else None
                if entry is not None and entry.source == source:
                    # Our request id, from the agent we asked: this is its answer, and it is broken.
                    self._settle(exc.request_id, entry, SnmpError(
                        ErrorKind.MALFORMED, f"the agent's response could not be decoded: {exc.reason}"))
                else:
                    self._note_noise(source, exc.reason)
                continue
            pdu = message.pdu
            entry = pending.get(pdu.request_id)
            if entry is None or entry.source != source:
                stats.ignored += 1  # late, duplicate, spoofed or another agent's
                continue
            if message.version != entry.version or message.community != entry.community:
                stats.ignored += 1
                self._note_noise(source, "the agent answered with another SNMP version or community")
                continue
            stats.answers += 1
            self._settle(pdu.request_id, entry, pdu)

    def _settle(self, request_id: int, entry: _Pending, outcome: Union[Pdu, SnmpError]) -> None:
        del self._pending[request_id]
        future = entry.future
        if future is not None and not future.done():
            future.set_result(outcome)
        else:
            entry.late = outcome

    def _read_v3(self, data: bytes, source: tuple[str, int]) -> None:
        stats = self.stats
        v3_pending = self._v3_pending
        try:
            parsed = parse_v3(data)
        except SnmpDecodeError as exc:
            stats.malformed += 1
            entry = v3_pending.get(exc.msg_id) if exc.msg_id is not None else None
            if entry is not None and entry.source == source:
                self._settle_v3(exc.msg_id, entry, SnmpError(
                    ErrorKind.MALFORMED, f"the agent's response could not be decoded: {exc.reason}"))
            else:
                self._note_noise(source, exc.reason)
            return
        msg_id = parsed.msg_id
        entry = v3_pending.get(msg_id)
        if entry is None or entry.source != source:
            stats.ignored += 1  # late, duplicate, spoofed or another agent's
            return
        session = entry.session
        try:
            message = session.open(parsed, data) if session is not None else open_unauthenticated(parsed, data)
        except UsmSecurityError as exc:
            # The agent answered our msgID, but not in a way this user can verify or read.
            stats.malformed += 1
            self._settle_v3(msg_id, entry, SnmpError(
                ErrorKind.AUTH, f"the agent's SNMPv3 answer failed the USM checks: {exc.reason}"))
            return
        except SnmpDecodeError as exc:
            stats.malformed += 1
            self._settle_v3(msg_id, entry, SnmpError(
                ErrorKind.MALFORMED, f"the agent's response could not be decoded: {exc.reason}"))
            return
        if message.pdu.type == PduType.RESPONSE:
            # RFC 3412 7.2 step 14: a response has the request's security level and engine, and
            # (our own check) the request id of the PDU we sent.
            level = (FLAG_AUTH if message.authenticated else 0) | (FLAG_PRIV if message.encrypted else 0)
            if (session is None or level != session.level_flags or message.engine_id != session.engine_id
                    or message.pdu.request_id != entry.request_id):
                stats.ignored += 1
                self._note_noise(source, "the agent answered with another security level, engine ID or request id")
                return
        engine = entry.engine
        if engine is not None:
            engine.heard_at = time.monotonic()
            if message.authenticated:
                engine.learn(message.boots, message.time)
        stats.answers += 1
        self._settle_v3(msg_id, entry, message)

    def _settle_v3(self, msg_id: int, entry: _V3Pending, outcome: Union[V3Message, SnmpError]) -> None:
        del self._v3_pending[msg_id]
        future = entry.future
        if future is not None and not future.done():
            future.set_result(outcome)
        else:
            entry.late = outcome

    def _note_noise(self, source: tuple[str, int], reason: str) -> None:
        """Remember garbage from an agent we are waiting for: its timeout then says so."""
        state = self._agents.get(source)
        if state is not None and state.in_flight:
            state.noise_reason, state.noise_at = reason, time.monotonic()

    # -- one request/response exchange ------------------------------------------------------

    def _check_out(self, agent: Agent) -> Union[_AgentState, SnmpError]:
        """The agent's state, held (not forgotten) until `_check_in`."""
        normalised = _normalise(agent.host)
        if normalised is None:
            return SnmpError(ErrorKind.BAD_ADDRESS, f"{agent.host!r} is not an IP address")
        key = (normalised[1], agent.port)
        state = self._agents.get(key)
        if state is None:
            state = self._agents[key] = _AgentState(normalised[0], normalised[1], agent.port)
        state.users += 1
        return state

    def _check_in(self, state: _AgentState) -> None:
        state.users -= 1
        self._forget_if_idle(state)

    async def _acquire(self, state: _AgentState) -> None:
        if state.in_flight < self.max_in_flight_per_agent and not state.waiters:
            state.in_flight += 1
        else:
            waiter = self._loop.create_future()
            state.waiters.append(waiter)
            try:
                await waiter  # _release hands its slot over: in_flight already counts us
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._release(state)  # the slot was handed to us after all: pass it on
                else:
                    state.waiters.remove(waiter)
                raise
        try:
            await self._global.acquire()
        except BaseException:
            self._release(state)
            raise

    def _release(self, state: _AgentState) -> None:
        while state.waiters:
            waiter = state.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        state.in_flight -= 1
        self._forget_if_idle(state)

    def _forget_if_idle(self, state: _AgentState) -> None:
        if state.idle() and self._agents.get(state.source) is state:
            del self._agents[state.source]  # nothing to remember: do not keep 10,000 idle entries

    def _template(self, agent: Agent, pdu_type: int, oids: tuple[str, ...],
                  max_repetitions: int = 0) -> Union[RequestTemplate, PduTemplate]:
        key = (agent.version, agent.community, pdu_type, oids, max_repetitions)
        template = self._templates.get(key)
        if template is None:
            if agent.version == "v3":  # the PDU only: the message around it differs per user and engine
                template = PduTemplate(pdu_type, oids, 0, max_repetitions)
            else:
                template = RequestTemplate(_WIRE_VERSION[agent.version], agent.community.encode(), pdu_type,
                                           oids, 0, max_repetitions)
            if len(self._templates) >= _TEMPLATE_CACHE_LIMIT:
                self._templates.clear()
            self._templates[key] = template
        return template

    async def _exchange(self, agent: Agent, state: _AgentState, template: RequestTemplate,
                        options: RequestOptions) -> tuple[Union[Pdu, SnmpError], int]:
        """(answer PDU or error, datagrams sent) for one request, with its retries."""
        if agent.version == "v3":
            return await self._exchange_v3(agent, state, template, options)
        sock = await self._open_slot(state)
        if isinstance(sock, SnmpError):
            return sock, 0
        pending = self._pending
        request_id = self._random.randint(REQUEST_ID_MIN, REQUEST_ID_MAX)
        while request_id in pending:
            request_id = self._random.randint(REQUEST_ID_MIN, REQUEST_ID_MAX)
        entry = pending[request_id] = _Pending(state.source, _WIRE_VERSION[agent.version],
                                              agent.community.encode())
        started = time.monotonic()
        try:
            outcome, sent = await self._send_with_retries(sock, template.encode(request_id), state, entry, options)
            if outcome is not _TIMED_OUT:
                return outcome, sent
            return self._no_answer(agent, state, started, options, sent, "", (
                f"; in SNMP {agent.version} a wrong community looks the same, since agents drop such "
                "requests silently")), sent
        finally:
            if pending.get(request_id) is entry:
                del pending[request_id]
            self._global.release()
            self._release(state)

    async def _open_slot(self, state: _AgentState) -> Union[socket.socket, SnmpError]:
        """Wait for this request's turn (per agent and overall), then its socket. On an error
        the slot is given back; otherwise the caller gives it back when done."""
        await self._acquire(state)
        if self._closed:  # (also while this request waited for its turn)
            problem = SnmpError(ErrorKind.CLOSED, "the SNMP client was closed")
        else:
            sock = self._socket(state.family)
            if not isinstance(sock, str):
                return sock
            problem = SnmpError(ErrorKind.SEND_FAILED, sock)
        self._global.release()
        self._release(state)
        return problem

    async def _send_with_retries(self, sock: socket.socket, datagram: bytes, state: _AgentState,
                                 entry: Union[_Pending, "_V3Pending"], options: RequestOptions) -> tuple[object, int]:
        """(the answer, a send error, or _TIMED_OUT after every try; datagrams sent).

        Retries resend the same datagram with the same id, so a late answer to the first try
        still completes the request.
        """
        sent = 0
        for attempt in range(options.retries + 1):
            future = entry.future = self._loop.create_future()
            error = await self._send(sock, datagram, state.address)
            if error is not None:
                return error, sent
            sent += 1
            self.stats.sent += 1
            if attempt:
                self.stats.retries += 1
            timer = self._loop.call_later(options.timeout_s, _expire, future)
            try:
                outcome = await future
            finally:
                timer.cancel()
            if outcome is _TIMED_OUT and entry.late is not None:
                outcome = entry.late
            if outcome is not _TIMED_OUT:
                return outcome, sent
        self.stats.timeouts += 1
        return _TIMED_OUT, sent

    @staticmethod
    def _no_answer(agent: Agent, state: _AgentState, started: float, options: RequestOptions, sent: int,
                   what: str, hint: str) -> SnmpError:
        """The error after every try went unanswered: malformed if the agent sent garbage meanwhile."""
        tries = f"{sent} {'try' if sent == 1 else 'tries'}"
        if state.noise_at >= started and state.noise_reason:
            return SnmpError(ErrorKind.MALFORMED, (
                f"no valid answer from {agent}{what} within {options.timeout_s:g} s ({tries}); it sent "
                f"datagrams that are not valid SNMP responses ({state.noise_reason})"))
        return SnmpError(ErrorKind.TIMEOUT, f"no answer from {agent}{what} within {options.timeout_s:g} s ({tries}){hint}")

    # -- SNMPv3 ------------------------------------------------------------------------------

    async def _exchange_v3(self, agent: Agent, state: _AgentState, template: PduTemplate,
                           options: RequestOptions) -> tuple[Union[Pdu, SnmpError], int]:
        """(Response PDU or error, datagrams sent) for one v3 request.

        Discovers the engine first if it is not known. A Report is never returned: an
        authenticated notInTimeWindow (the device rebooted: boots went up) re-syncs the clock,
        unknownEngineID (a new engine ID) re-discovers it, and the request is retried once;
        any other Report, or the same one again, becomes an error.
        """
        sent_total = 0
        engine = self._engines.get(state.source)
        if engine is None:
            engine, sent = await self._discover(agent, state, options)
            sent_total += sent
            if isinstance(engine, SnmpError):
                return engine, sent_total
        healed: Optional[str] = None  # what the one retry did, if it happened
        user = agent.user
        while True:
            session = engine.session
            if session is None or session.user is not user:
                session = engine.session = self._session(user, engine.engine_id)
            outcome, sent = await self._round_v3(agent, state, session, engine, template, options)
            sent_total += sent
            if isinstance(outcome, SnmpError):
                if (outcome.kind is ErrorKind.TIMEOUT and session.level_flags & FLAG_PRIV
                        and time.monotonic() - engine.heard_at < _ALIVE_WINDOW_S):
                    diagnosis, sent = await self._diagnose_privacy(agent, state, engine, template, options)
                    sent_total += sent
                    outcome = diagnosis or outcome
                return outcome, sent_total
            pdu = outcome.pdu
            if pdu.type == PduType.RESPONSE:
                return pdu, sent_total
            self.stats.reports += 1
            oid = pdu.varbinds[0][0] if pdu.varbinds else None
            if healed is None and oid == NOT_IN_TIME_WINDOWS and outcome.authenticated:
                # Authenticated with our key and answering our msgID: its boots/time are the agent's
                # own, even if they went down (a device that lost its boots counter).
                engine.resync(outcome.boots, outcome.time)
                self.stats.resyncs += 1
                healed = "re-synchronised with the agent's clock"
                continue
            if healed is None and oid == UNKNOWN_ENGINE_IDS:
                current = self._engines.get(state.source)
                if current is not None and current is not engine:
                    engine = current  # a concurrent request re-discovered it already
                else:
                    engine, sent = await self._discover(agent, state, options)
                    sent_total += sent
                    if isinstance(engine, SnmpError):
                        return engine, sent_total
                healed = "re-discovered the agent's engine ID"
                continue
            return _report_error(agent, outcome, healed), sent_total

    async def _diagnose_privacy(self, agent: Agent, state: _AgentState, engine: _Engine, template: PduTemplate,
                                options: RequestOptions) -> tuple[Optional[SnmpError], int]:
        """Why a live agent ignored an authPriv request: ask the same at authNoPriv, once.

        net-snmp (5.9.3, and agents built on it) drops a request it cannot decrypt without the
        usmStatsDecryptionErrors report RFC 3414 asks for, so a wrong priv pass phrase or
        protocol looks like a timeout. If the agent answers the same user authenticated but
        unencrypted, the user and auth key are right and privacy is what it cannot read.
        """
        user = agent.user
        auth_only = UsmUser(user.name, user.auth_protocol, user.auth_passphrase, context_name=user.context_name)
        # Not the caller's request: unencrypted, its answer would carry the values in clear text
        # (a downgrade). A GET of 0.0, which no agent has, proves the same and discloses nothing.
        probe, sent = await self._round_v3(agent, state, self._session(auth_only, engine.engine_id), engine,
                                           _PRIVACY_PROBE, RequestOptions(timeout_s=options.timeout_s, retries=0))
        if isinstance(probe, SnmpError) or not probe.authenticated:
            return None, sent
        return SnmpError(ErrorKind.AUTH, (
            f"{agent} ignored SNMPv3 user {user.name!r} ({user.level}, auth {user.auth_protocol}, priv "
            f"{user.priv_protocol}) but answered the same user at authNoPriv: decryption error (wrong priv "
            "pass phrase or priv protocol; the agent drops what it cannot decrypt)")), sent

    async def _discover(self, agent: Agent, state: _AgentState,
                        options: RequestOptions) -> tuple[Union[_Engine, SnmpError], int]:
        """Learn the agent's engine ID, boots and time (RFC 3414 4) and cache them."""
        self.stats.discoveries += 1
        outcome, sent = await self._round_v3(agent, state, None, None, None, options)
        if isinstance(outcome, SnmpError):
            return outcome, sent
        if outcome.pdu.type != PduType.REPORT or not outcome.engine_id:
            return SnmpError(ErrorKind.MALFORMED, (
                f"{agent} answered SNMPv3 engine discovery without a Report carrying its engine ID")), sent
        engine = _Engine(outcome.engine_id, outcome.boots, outcome.time)
        engines = self._engines
        engines.pop(state.source, None)
        if len(engines) >= _ENGINE_CACHE_LIMIT:
            del engines[next(iter(engines))]  # the oldest discovery goes first
        engines[state.source] = engine
        return engine, sent

    def _session(self, user: UsmUser, engine_id: bytes) -> UsmSession:
        key = (user, engine_id)
        session = self._sessions.get(key)
        if session is None:
            session = UsmSession(user, engine_id)  # keys come from snmp_usm's own cache when known
            if len(self._sessions) >= _SESSION_CACHE_LIMIT:
                del self._sessions[next(iter(self._sessions))]
            self._sessions[key] = session
        return session

    async def _round_v3(self, agent: Agent, state: _AgentState, session: Optional[UsmSession],
                        engine: Optional[_Engine], template: Optional[PduTemplate],
                        options: RequestOptions) -> tuple[Union[V3Message, SnmpError], int]:
        """(answer message or error, datagrams sent) for one v3 datagram with its retries.

        Shares the slot, the retries and the timeout sentence with `_exchange` (v1/v2c).
        Retries resend the same datagram: same msgID, so a late answer to the first try still
        completes the request, and the engine time in it is still inside the 150 s window.
        """
        sock = await self._open_slot(state)
        if isinstance(sock, SnmpError):
            return sock, 0
        pending = self._v3_pending
        randint = self._random.randint
        msg_id = randint(REQUEST_ID_MIN, REQUEST_ID_MAX)
        while msg_id in pending:
            msg_id = randint(REQUEST_ID_MIN, REQUEST_ID_MAX)
        # The PDU's request id is the msgID: RFC 3412 6.2 only says a receiver must not assume they
        # are equal; this manager checks both in the answer, and saves drawing a second number.
        if session is None:
            datagram = encode_discovery(msg_id, msg_id)
        else:
            boots, engine_time = engine.now()
            self._salt += 1
            datagram = session.encode(msg_id, boots, engine_time, template.encode(msg_id), self._salt)
        entry = pending[msg_id] = _V3Pending(state.source, session, engine, msg_id)
        started = time.monotonic()
        try:
            outcome, sent = await self._send_with_retries(sock, datagram, state, entry, options)
            if outcome is not _TIMED_OUT:
                return outcome, sent
            what = "SNMPv3 engine discovery" if session is None else f"SNMPv3 request as user {agent.user.name!r}"
            return self._no_answer(agent, state, started, options, sent, f" to {what}", ""), sent
        finally:
            if pending.get(msg_id) is entry:
                del pending[msg_id]
            self._global.release()
            self._release(state)

    async def _send(self, sock: socket.socket, datagram: bytes, address: tuple) -> Optional[SnmpError]:
        for attempt in range(20):
            try:
                sock.sendto(datagram, address)
                return None
            except BlockingIOError:  # send buffer full: give the kernel a moment
                await asyncio.sleep(0.001 * (attempt + 1))
            except OSError as exc:
                return SnmpError(ErrorKind.SEND_FAILED, f"request could not be sent: {exc.strerror or exc}")
        return SnmpError(ErrorKind.SEND_FAILED, "request could not be sent: the socket's send buffer stayed full")

    # -- GET -------------------------------------------------------------------------------

    async def get(self, agent: Agent, oids: Sequence[str], options: Optional[RequestOptions] = None) -> SnmpResult:
        """GET `oids` (dotted strings) from `agent`; varbinds come back in the order asked.

        Missing objects are values (noSuchObject / noSuchInstance; SNMPv1's noSuchName is
        turned into the same by asking again without the missing OID). Only when the agent
        has none of them is the result an error, `no_such_object`. A request answered with
        tooBig is split in two until single OIDs. Raises only OidError/ValueError for
        invalid arguments.
        """
        if self._loop is None:
            await self.start()
        options = options or self.options
        # An invalid OID is the caller's bug: raise before any traffic.
        oids = tuple(canonical_oid(oid) for oid in oids)
        state = self._check_out(agent)
        if isinstance(state, SnmpError):
            return SnmpResult(error=state)
        try:
            return await self._get(agent, state, oids, options)
        finally:
            self._check_in(state)

    async def _get(self, agent: Agent, state: _AgentState, oids: tuple[str, ...],
                   options: RequestOptions) -> SnmpResult:
        size = options.max_varbinds_per_request
        work = deque(oids[i:i + size] for i in range(0, len(oids), size))
        found: dict[str, Value] = {}
        requests = 0
        while work:
            chunk = work.popleft()
            answer, sent = await self._exchange(agent, state, self._template(agent, PduType.GET, chunk), options)
            requests += sent
            error = answer if isinstance(answer, SnmpError) else None
            if error is None:
                status, index = answer.error_status, answer.error_index
                if status == _TOO_BIG and len(chunk) > 1:
                    half = len(chunk) // 2
                    work.extendleft((chunk[half:], chunk[:half]))
                    continue
                if status == _NO_SUCH_NAME and 1 <= index <= len(chunk):
                    found[chunk[index - 1]] = NO_SUCH_OBJECT
                    rest = chunk[:index - 1] + chunk[index:]
                    if rest:
                        work.appendleft(rest)
                    continue
                error = _status_error(agent, answer, chunk) if status else _check_get_answer(answer, chunk)
            if error is not None:
                return SnmpResult(tuple((oid, found[oid]) for oid in oids if oid in found), error, requests)
            found.update(answer.varbinds)
        varbinds = tuple((oid, found[oid]) for oid in oids)
        if varbinds and all(value.kind in EXCEPTION_KINDS for _, value in varbinds):
            return SnmpResult(varbinds, SnmpError(ErrorKind.NO_SUCH_OBJECT, (
                f"{agent} has none of the {len(oids)} requested objects (first: {oids[0]})")), requests)
        return SnmpResult(varbinds, None, requests)

    # -- walk ------------------------------------------------------------------------------

    async def walk(self, agent: Agent, root: str, options: Optional[RequestOptions] = None) -> SnmpResult:
        """Every varbind under `root`, in OID order, with GETBULK (v2c) or GETNEXT.

        GETBULK answered badly (an error status, no varbinds, OIDs not increasing, exception
        values, an undecodable answer) makes the walk go on from the last good OID with
        GETNEXT, and the agent is walked with GETNEXT for `bulk_retry_after_s`. A timeout
        does not: it is reported as one. The walk ends at the end of the subtree,
        endOfMibView, or v1's noSuchName; an OID that does not increase under GETNEXT ends
        it with `walk_loop`, more than `max_walk_varbinds` with `too_many_rows`, an OID with
        more than `max_index_length` sub-identifiers under `root` with `index_too_long`.
        """
        if self._loop is None:
            await self.start()
        options = options or self.options
        root = canonical_oid(root)
        state = self._check_out(agent)
        if isinstance(state, SnmpError):
            return SnmpResult(error=state, method="getnext")
        try:
            return await self._walk(agent, state, root, options)
        finally:
            self._check_in(state)

    async def _walk(self, agent: Agent, state: _AgentState, root: str, options: RequestOptions) -> SnmpResult:
        root_arcs = _arcs(root)
        depth = len(root_arcs)
        if state.bulk_broken_until and state.bulk_broken_until <= time.monotonic():
            state.bulk_broken_until = 0.0  # time to give GETBULK another chance
        use_bulk = options.use_getbulk and agent.version != "v1" and not state.bulk_broken_until
        repetitions = min(options.max_repetitions, options.max_varbinds_per_request)
        collected: list[VarBind] = []
        last_oid, last_arcs = root, root_arcs
        requests = 0
        fallback: Optional[str] = None

        def finish(error: Optional[SnmpError] = None) -> SnmpResult:
            return SnmpResult(tuple(collected), error, requests, "getbulk" if use_bulk else "getnext", fallback)

        while True:
            if use_bulk:
                wanted = min(repetitions, options.max_walk_varbinds - len(collected) + 1)
                template = self._template(agent, PduType.GET_BULK, (last_oid,), wanted)
            else:
                template = self._template(agent, PduType.GET_NEXT, (last_oid,))
            answer, sent = await self._exchange(agent, state, template, options)
            requests += sent
            problem: Optional[str] = None  # why this GETBULK answer is unusable
            if isinstance(answer, SnmpError):
                if not (use_bulk and answer.kind is ErrorKind.MALFORMED):
                    return finish(answer)
                problem = f"an undecodable answer ({answer.detail})"
            elif answer.error_status:
                if not use_bulk and answer.error_status == _NO_SUCH_NAME:
                    return finish()  # SNMPv1: the end of the MIB
                if use_bulk and answer.error_status == _TOO_BIG and repetitions > 1:
                    repetitions = max(1, repetitions // 2)
                    continue
                if not use_bulk:
                    return finish(_status_error(agent, answer, template.oids))
                problem = f"error-status {_ERROR_STATUS.get(answer.error_status, answer.error_status)}"
            elif not answer.varbinds:
                if not use_bulk:
                    return finish(SnmpError(ErrorKind.MALFORMED, f"{agent} answered GETNEXT with no varbinds"))
                problem = "no varbinds"
            else:
                for oid, value in answer.varbinds:
                    kind = value.kind
                    if kind is Kind.ENDOFMIBVIEW:
                        return finish()
                    arcs = _arcs(oid)
                    if arcs <= last_arcs:
                        if use_bulk:
                            problem = "OIDs that do not increase"
                            break
                        return finish(SnmpError(ErrorKind.WALK_LOOP, (
                            f"{agent} answered GETNEXT {last_oid} with {oid}, which is not after it; "
                            f"walk stopped after {len(collected)} varbinds")))
                    if arcs[:depth] != root_arcs:
                        return finish()  # past the subtree: done
                    if len(arcs) - depth > options.max_index_length:
                        return finish(SnmpError(ErrorKind.INDEX_TOO_LONG, (
                            f"walk of {root} on {agent} got an index of {len(arcs) - depth} sub-identifiers, "
                            f"more than {options.max_index_length} (max_index_length); stopped after "
                            f"{len(collected)} varbinds")))
                    if kind is Kind.NOSUCHOBJECT or kind is Kind.NOSUCHINSTANCE:
                        if use_bulk:
                            problem = f"{kind} values"
                            break
                        return finish(SnmpError(ErrorKind.MALFORMED, f"{agent} answered GETNEXT with {kind}"))
                    if len(collected) >= options.max_walk_varbinds:
                        return finish(SnmpError(ErrorKind.TOO_MANY_ROWS, (
                            f"walk of {root} on {agent} passed {options.max_walk_varbinds} varbinds "
                            f"(max_walk_varbinds); stopped at {oid}")))
                    collected.append((oid, value))
                    last_oid, last_arcs = oid, arcs
            if problem is not None:
                # Keep what was good, go on from the last good OID with GETNEXT.
                use_bulk = False
                fallback = f"{agent} answered GETBULK with {problem}; walked with GETNEXT instead"
                state.bulk_broken_until = time.monotonic() + self.bulk_retry_after_s


def _status_error(agent: Agent, pdu: Pdu, oids: Sequence[str]) -> SnmpError:
    status, index = pdu.error_status, pdu.error_index
    name = _ERROR_STATUS.get(status, f"error-status {status}")
    where = f" at {oids[index - 1]}" if 1 <= index <= len(oids) else ""
    kind = {_TOO_BIG: ErrorKind.TOO_BIG, _GEN_ERR: ErrorKind.GEN_ERR, _NO_SUCH_NAME: ErrorKind.NO_SUCH_OBJECT,
            _AUTHORIZATION_ERROR: ErrorKind.AUTH}.get(status, ErrorKind.AGENT_ERROR)
    if kind is ErrorKind.TOO_BIG:
        return SnmpError(kind, f"{agent} answered tooBig even for a single OID{where}")
    return SnmpError(kind, f"{agent} answered {name}{where}")


def _report_error(agent: Agent, message: V3Message, healed: Optional[str]) -> SnmpError:
    """The error a v3 Report stands for (the sentence names the USM failure, never a secret)."""
    pdu = message.pdu
    oid = pdu.varbinds[0][0] if pdu.varbinds else None
    name, meaning = REPORTS.get(oid, (None, None))
    user = agent.user
    if name is None:
        return SnmpError(ErrorKind.AGENT_ERROR, (
            f"{agent} answered the SNMPv3 request with a Report of {oid or 'no varbinds'}"))
    if oid == NOT_IN_TIME_WINDOWS and not message.authenticated:
        meaning += " (in an unauthenticated report, so the client did not re-synchronise)"
    if healed is not None:
        meaning += f", still after the client {healed} and retried once"
    if oid in USM_REPORTS:
        return SnmpError(ErrorKind.AUTH, (
            f"{agent} refused SNMPv3 user {user.name!r} ({user.level}, auth {user.auth_protocol}, "
            f"priv {user.priv_protocol}): {meaning} ({name})"))
    context = f" (context name {user.context_name!r})" if "context" in name.lower() else ""
    return SnmpError(ErrorKind.AGENT_ERROR, f"{agent} answered the SNMPv3 request with {name}: {meaning}{context}")


def _check_get_answer(pdu: Pdu, oids: Sequence[str]) -> Optional[SnmpError]:
    varbinds = pdu.varbinds
    if len(varbinds) != len(oids) or any(vb[0] != oid for vb, oid in zip(varbinds, oids)):
        return SnmpError(ErrorKind.MALFORMED, (
            f"the agent answered a GET of {len(oids)} OIDs with {len(varbinds)} varbinds "
            "that are not the ones asked for"))
    return None


__all__ = ["Agent", "ClientStats", "EngineInfo", "ErrorKind", "RequestOptions", "SnmpClient", "SnmpError",
           "SnmpResult", "UsmUser"]
