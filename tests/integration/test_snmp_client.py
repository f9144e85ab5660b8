"""The SNMP client against real net-snmp agents on loopback, and against a fake agent for the
answers no real agent gives on demand (garbage, wrong request ids, broken GETBULK).

The real agents come from the SNMP test lab (lab/snmplab.py): the session-wide `snmpd`
fixture for reads, `snmpd_factory` for agents of a test's own (one on [::1] too, one on an
address of this process that gets dropped). Walks are compared with `snmpwalk -On` of the
same agent.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import threading
import time
from typing import Callable, Optional

import pytest

from probes.snmp.ber import (NO_SUCH_OBJECT, REQUEST_PDUS, Kind, Message, PduType, Value,
                             decode_message, encode_message, encode_pdu)
from probes.snmp.client import Agent, ErrorKind, RequestOptions, SnmpClient
from lab.netlab import drop_input, loopback_addresses, nft_table
# COMMUNITY: never to appear in any result, repr or log line
from lab.snmplab import COMMUNITY, Snmpd, VarBind, typed_rows
from lab.support import free_port, require_binary, require_root
from lab.udpfake import hostile_agent

pytestmark = pytest.mark.integration

SYS_UPTIME, SYS_DESCR, SYS_NAME = "1.3.6.1.2.1.1.3.0", "1.3.6.1.2.1.1.1.0", "1.3.6.1.2.1.1.5.0"
IF_TABLE, HR_STORAGE_TABLE = "1.3.6.1.2.1.2.2", "1.3.6.1.2.1.25.2.3"
FAST = RequestOptions(timeout_s=0.3, retries=0)
SYS_NAME_VALUE = b"netvigil-snmpd"  # the sysName in every lab/snmplab.py Snmpd's snmpd.conf


# --- a real agent -----------------------------------------------------------------------------
# `snmpd` (session) and `snmpd_factory` are lab/snmplab.py's fixtures, imported by tests/conftest.py.

def agent_of(snmpd: Snmpd, version: str = "v2c", community: Optional[str] = None,
             host: Optional[str] = None) -> Agent:
    """The netvigil `Agent` for a lab snmpd (its address unless `host`, its community unless `community`)."""
    return Agent(host or snmpd.address, snmpd.port, version, snmpd.community if community is None else community)


def start_ipv6_snmpd(snmpd_factory) -> Snmpd:
    """A lab snmpd on 127.0.0.1 and [::1], same port on both (the lab's snmpd listens on IPv4 only)."""
    for _ in range(100):
        port = free_port(socket.SOCK_DGRAM, "127.0.0.1")
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind(("::1", port))
            except OSError:
                continue
        return snmpd_factory(port=port, users=(), extra_conf=f"agentAddress udp6:[::1]:{port}\n"
                                                             f"rocommunity6 {COMMUNITY} ::1/128\n")
    raise AssertionError("no UDP port free on both 127.0.0.1 and ::1")


@pytest.fixture
async def client():
    snmp = SnmpClient(RequestOptions(timeout_s=1.0, retries=1))
    yield snmp
    snmp.close()


def net_snmp(agent: Snmpd, tool: str, *oids: str, version: str = "2c") -> dict[str, VarBind]:
    """`tool` (snmpget, snmpwalk) with `-On -Ox -Oe`: numeric OIDs, strings in hex, no enum names."""
    return agent.tools.query(tool, agent.target, agent.auth_args(version=version), oids, options=("-Ox",))


def snmpwalk(agent: Snmpd, root: str) -> list[tuple[str, Kind, object]]:
    """(oid, kind, value) from `snmpwalk -On -Ox -Oe` (v2c GETNEXT)."""
    return typed_rows(net_snmp(agent, "snmpwalk", root))


def assert_same_walk(before, reference, after) -> None:
    """Same OIDs, order and types; values equal, or (counters moving meanwhile) between our two walks."""
    assert [oid for oid, _ in before] == [oid for oid, _, _ in reference] == [oid for oid, _ in after]
    for (oid, ours), (_, kind, value), (_, later) in zip(before, reference, after):
        assert ours.kind is kind is later.kind, oid
        if isinstance(value, int) and ours.value != later.value:
            assert min(ours.value, later.value) <= value <= max(ours.value, later.value), oid
        else:
            assert ours.value == value, oid


# --- a fake agent -----------------------------------------------------------------------------

Reply = tuple[float, bytes, bool]  # (delay s, datagram, send from another port)


class FakeAgent:
    """A UDP responder in a thread, for answers a real agent never gives on demand.

    Why a fake: snmpd has no switch to answer GETBULK with garbage, to send wrong request ids,
    or to truncate its answers. `behaviour(fake, request, raw)` returns the replies to send;
    `fake.forward(raw)` asks the real snmpd, so good answers stay real.
    """

    def __init__(self, behaviour: Callable[["FakeAgent", Message, bytes], list[Reply]],
                 upstream: Optional[Snmpd] = None) -> None:
        self.behaviour = behaviour
        self.upstream = upstream
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.005)
        self.other_port = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.other_port.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.requests: list[Message] = []
        self.max_outstanding = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def agent(self, version: str = "v2c") -> Agent:
        return Agent("127.0.0.1", self.port, version, COMMUNITY)

    def forward(self, raw: bytes) -> bytes:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as upstream:
            upstream.settimeout(2)
            upstream.sendto(raw, self.upstream.endpoint)
            return upstream.recv(65535)

    def _run(self) -> None:
        due: list[tuple[float, bytes, bool, tuple, int]] = []  # (when, datagram, other port, to, request id)
        while not self._stop.is_set():
            try:
                raw, source = self.sock.recvfrom(65535)
                request = decode_message(raw, REQUEST_PDUS)
                self.requests.append(request)
                now = time.monotonic()
                due += [(now + delay, datagram, other, source, request.pdu.request_id)
                        for delay, datagram, other in self.behaviour(self, request, raw)]
                # Requests received and not yet answered: what the client's in-flight caps limit.
                self.max_outstanding = max(self.max_outstanding, len({item[4] for item in due}))
            except socket.timeout:
                pass
            now = time.monotonic()
            for item in [item for item in due if item[0] <= now]:
                due.remove(item)
                (self.other_port if item[2] else self.sock).sendto(item[1], item[3])

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()
        self.other_port.close()


def response(request: Message, varbinds, request_id: Optional[int] = None, error_status: int = 0,
             error_index: int = 0) -> bytes:
    pdu = encode_pdu(PduType.RESPONSE, request.pdu.request_id if request_id is None else request_id,
                     error_status, error_index, varbinds)
    return encode_message(request.version, request.community, pdu)


@pytest.fixture
def fake_agents():
    started: list[FakeAgent] = []

    def start(behaviour, upstream=None) -> FakeAgent:
        fake = FakeAgent(behaviour, upstream)
        started.append(fake)
        return fake

    yield start
    for fake in started:
        fake.stop()


# --- GET --------------------------------------------------------------------------------------

@pytest.mark.parametrize("version", ["v1", "v2c"])
async def test_get_sysuptime_and_sysdescr(snmpd, client, version):
    reference = net_snmp(snmpd, "snmpget", SYS_UPTIME, SYS_DESCR, version=version[1:])
    result = await client.get(agent_of(snmpd, version), [SYS_UPTIME, SYS_DESCR, SYS_NAME])
    assert result.ok, result.error
    assert result.requests == 1
    assert [oid for oid, _ in result.varbinds] == [SYS_UPTIME, SYS_DESCR, SYS_NAME]
    uptime, descr, name = (value for _, value in result.varbinds)
    assert uptime.kind is Kind.TIMETICKS
    assert reference[SYS_UPTIME].type == "Timeticks" and reference[SYS_DESCR].type == "Hex-STRING"
    reference_ticks = reference[SYS_UPTIME].int
    assert reference_ticks <= uptime.value < reference_ticks + 500  # read a moment later
    assert descr == Value(Kind.OCTETS, reference[SYS_DESCR].bytes)
    assert name == Value(Kind.OCTETS, SYS_NAME_VALUE)


async def test_get_over_ipv6(snmpd_factory, client):
    snmpd = start_ipv6_snmpd(snmpd_factory)
    result = await client.get(agent_of(snmpd, host="::1"), [SYS_NAME])
    assert result.ok, result.error
    assert result.values()[SYS_NAME].value == SYS_NAME_VALUE


@pytest.mark.parametrize("version", ["v1", "v2c"])
async def test_missing_objects_are_values_and_all_missing_is_an_error(snmpd, client, version):
    missing = "1.3.6.1.2.1.1.99.0"
    result = await client.get(agent_of(snmpd, version), [SYS_NAME, missing, SYS_UPTIME])
    assert result.ok, result.error
    assert result.values()[SYS_NAME].value == SYS_NAME_VALUE
    assert result.values()[missing].kind in (Kind.NOSUCHOBJECT, Kind.NOSUCHINSTANCE)
    if version == "v1":  # noSuchName for the whole request, then asked again without it
        assert result.values()[missing] is NO_SUCH_OBJECT and result.requests == 2
    nothing = await client.get(agent_of(snmpd, version), [missing, "1.3.6.1.4.1.99999.1.0"])
    assert nothing.error.kind is ErrorKind.NO_SUCH_OBJECT
    assert "1.3.6.1.2.1.1.99.0" in nothing.error.detail


async def test_large_gets_are_split_by_max_varbinds_per_request(snmpd, client):
    oids = [f"1.3.6.1.2.1.2.2.1.{column}.{index}" for column in range(1, 11) for index in (1, 2, 3, 4)]
    result = await client.get(agent_of(snmpd), oids, RequestOptions(max_varbinds_per_request=7))
    assert result.ok, result.error
    assert result.requests == 6
    assert [oid for oid, _ in result.varbinds] == oids
    assert result.values()["1.3.6.1.2.1.2.2.1.2.1"].value == b"lo"


async def test_wrong_community_is_a_timeout_that_never_names_the_community(snmpd, client, caplog):
    caplog.set_level(logging.DEBUG)
    wrong = "Wr0ng-community-xyz"
    result = await client.get(agent_of(snmpd, community=wrong), [SYS_UPTIME], RequestOptions(timeout_s=0.3, retries=1))
    assert result.error.kind is ErrorKind.TIMEOUT
    assert result.requests == 2
    assert "wrong community looks the same" in result.error.detail
    for text in (result.error.detail, repr(result), str(result), repr(agent_of(snmpd, community=wrong)), caplog.text):
        assert wrong not in text and COMMUNITY not in text
    assert (await client.get(agent_of(snmpd), [SYS_UPTIME])).ok  # the client goes on


def test_agent_construction_v1_v2c_positional_and_v3_needs_a_user():
    from probes.snmp.client import UsmUser
    agent = Agent("127.0.0.1", 161, "v2c", COMMUNITY)
    assert (agent.community, agent.user) == (COMMUNITY, None)
    assert COMMUNITY not in repr(agent)
    with pytest.raises(ValueError, match="needs a UsmUser"):
        Agent("127.0.0.1", 161, "v3")
    with pytest.raises(ValueError, match="'v1', 'v2c' or 'v3'"):
        Agent("127.0.0.1", 161, "v4", COMMUNITY)
    v3 = Agent("127.0.0.1", 161, "v3", user=UsmUser("ops", "sha", "Auth-pass-phrase", "aes", "Priv-pass-phrase"))
    assert "ops" in repr(v3) and "Auth-pass-phrase" not in repr(v3) and "Priv-pass-phrase" not in repr(v3)


async def test_not_an_ip_address_is_an_error_not_an_exception(client):
    result = await client.get(Agent("ups-7.example.invalid", 161, "v2c", COMMUNITY), [SYS_UPTIME])
    assert result.error.kind is ErrorKind.BAD_ADDRESS


# --- walks ------------------------------------------------------------------------------------

@pytest.mark.parametrize("root", [IF_TABLE, HR_STORAGE_TABLE], ids=["ifTable", "hrStorageTable"])
@pytest.mark.parametrize("how", ["getbulk", "getnext option", "v1"])
async def test_walk_equals_snmpwalk(snmpd, client, root, how):
    agent = agent_of(snmpd, "v1" if how == "v1" else "v2c")
    options = RequestOptions(use_getbulk=how == "getbulk", max_repetitions=10)
    before = await client.walk(agent, root, options)
    reference = snmpwalk(snmpd, root)
    after = await client.walk(agent, root, options)
    assert before.ok and after.ok, (before.error, after.error)
    assert before.method == ("getbulk" if how == "getbulk" else "getnext")
    assert before.fallback is None
    assert len(reference) >= 40  # ifTable: 22 columns x 4 interfaces here; hrStorageTable 6+ entries x 7
    assert_same_walk(before.varbinds, reference, after.varbinds)
    if how == "getbulk":
        assert before.requests <= len(reference) // 10 + 1
    else:
        assert before.requests == len(reference) + 1


async def test_enormous_walk_is_capped_per_device(snmpd, client):
    result = await client.walk(agent_of(snmpd), "1.3.6.1", RequestOptions(max_walk_varbinds=500, max_repetitions=50,
                                                                          max_varbinds_per_request=50))
    assert result.error.kind is ErrorKind.TOO_MANY_ROWS
    assert "500" in result.error.detail
    assert len(result.varbinds) == 500
    assert result.requests <= 12
    # The same agent holds thousands of varbinds: the cap, not the agent, ended the walk.
    assert len(snmpwalk(snmpd, "1.3.6.1.2.1")) > 500


async def test_a_walk_with_ever_longer_oids_stops_at_the_first_index_past_the_cap(snmpd, client):
    """An agent answering a walk with ever-longer random OIDs (a fake, lab/udpfake.py: no real
    agent does this) is stopped at the first OID whose index passes max_index_length, not after
    max_walk_varbinds of them."""
    agent = hostile_agent(snmpd.endpoint, "ever-longer")
    try:
        result = await client.walk(Agent("127.0.0.1", agent.port, "v2c", COMMUNITY), IF_TABLE,
                                   RequestOptions(max_index_length=20))
    finally:
        agent.stop()
    assert result.error.kind is ErrorKind.INDEX_TOO_LONG
    assert "more than 20 (max_index_length)" in result.error.detail
    assert all(len(oid.split(".")) - len(IF_TABLE.split(".")) <= 20 for oid, _ in result.varbinds)
    assert result.requests == agent.walk_requests <= 2


async def test_walk_of_an_empty_subtree_is_empty_not_an_error(snmpd, client):
    result = await client.walk(agent_of(snmpd), "1.3.6.1.4.1.99999")
    assert result.ok and result.varbinds == ()


# --- GETBULK answered badly -------------------------------------------------------------------

def _bad_bulk(kind: str):
    """A fake agent that relays everything to snmpd except GETBULK, which it answers badly."""

    def behaviour(fake: FakeAgent, request: Message, raw: bytes) -> list[Reply]:
        if request.pdu.type != PduType.GET_BULK:
            return [(0, fake.forward(raw), False)]
        oid = request.pdu.varbinds[0][0]
        if kind == "genErr":
            return [(0, response(request, request.pdu.varbinds, error_status=5, error_index=1), False)]
        if kind == "empty":
            return [(0, response(request, []), False)]
        if kind == "repeated OID":
            return [(0, response(request, [(oid, Value(Kind.INTEGER, 1))] * 3), False)]
        if kind == "truncated":
            return [(0, fake.forward(raw)[:-3], False)]
        if kind == "garbage":
            return [(0, random.Random(7).randbytes(60), False)]
        raise AssertionError(kind)

    return behaviour


@pytest.mark.parametrize("kind", ["genErr", "empty", "repeated OID", "truncated", "garbage"])
async def test_broken_getbulk_falls_back_to_getnext(snmpd, client, fake_agents, kind):
    fake = fake_agents(_bad_bulk(kind), upstream=snmpd)
    options = RequestOptions(timeout_s=0.3, retries=0)
    result = await client.walk(fake.agent(), IF_TABLE, options)
    reference = snmpwalk(snmpd, IF_TABLE)
    assert result.ok, result.error
    assert result.method == "getnext"
    assert "GETBULK" in result.fallback and COMMUNITY not in result.fallback
    later = await client.walk(fake.agent(), IF_TABLE, options)
    assert_same_walk(result.varbinds, reference, later.varbinds)
    # Remembered: the second walk went straight to GETNEXT.
    assert later.method == "getnext" and later.fallback is None
    assert [m.pdu.type for m in fake.requests].count(PduType.GET_BULK) == 1


async def test_fallback_keeps_the_varbinds_bulk_got_right(snmpd, client, fake_agents):
    bulk_answers = []

    def behaviour(fake, request, raw):
        if request.pdu.type == PduType.GET_BULK and bulk_answers:  # the first GETBULK is fine, the second not
            return [(0, response(request, [], error_status=5), False)]
        if request.pdu.type == PduType.GET_BULK:
            bulk_answers.append(request)
        return [(0, fake.forward(raw), False)]

    fake = fake_agents(behaviour, upstream=snmpd)
    result = await client.walk(fake.agent(), IF_TABLE, RequestOptions(max_repetitions=10))
    assert result.ok and result.method == "getnext" and "genErr" in result.fallback
    assert [oid for oid, _, _ in snmpwalk(snmpd, IF_TABLE)] == [oid for oid, _ in result.varbinds]


async def test_getnext_that_does_not_advance_is_a_walk_loop(client, fake_agents):
    def behaviour(fake, request, raw):
        return [(0, response(request, [("1.3.6.1.2.1.2.2.1.1.1", Value(Kind.INTEGER, 1))]), False)]

    fake = fake_agents(behaviour)
    result = await client.walk(fake.agent("v1"), IF_TABLE, FAST)
    assert result.error.kind is ErrorKind.WALK_LOOP
    assert len(result.varbinds) == 1 and result.requests == 2


# --- bad answers, timeouts, isolation ----------------------------------------------------------

async def test_wrong_request_ids_and_wrong_source_port_are_ignored(snmpd, client, fake_agents):
    def behaviour(fake, request, raw):
        real = fake.forward(raw)
        right_id = request.pdu.request_id
        return [(0, response(request, [(SYS_NAME, Value(Kind.OCTETS, b"spoof"))], request_id=right_id ^ 0x5A5A), False),
                (0, real, True),  # the right answer, from the wrong port
                (0.02, real, False)]  # the right answer from the right port

    fake = fake_agents(behaviour, upstream=snmpd)
    result = await client.get(fake.agent(), [SYS_NAME], FAST)
    assert result.ok, result.error
    assert result.values()[SYS_NAME].value == SYS_NAME_VALUE
    assert client.stats.ignored >= 2


async def test_truncated_answer_with_our_request_id_is_malformed_at_once(snmpd, client, fake_agents):
    fake = fake_agents(lambda fake, request, raw: [(0, fake.forward(raw)[:-5], False)], upstream=snmpd)
    started = time.monotonic()
    result = await client.get(fake.agent(), [SYS_UPTIME, SYS_DESCR], RequestOptions(timeout_s=2, retries=2))
    assert result.error.kind is ErrorKind.MALFORMED
    assert time.monotonic() - started < 1.0  # not after waiting out the timeout
    assert "could not be decoded" in result.error.detail and COMMUNITY not in result.error.detail
    assert (await client.get(agent_of(snmpd), [SYS_UPTIME])).ok


async def test_only_garbage_from_the_agent_is_malformed_not_timeout(client, fake_agents):
    rng = random.Random(3)
    fake = fake_agents(lambda fake, request, raw: [(0, rng.randbytes(40), False),
                                                   (0, b"\x30\x84\xff\xff\xff\xff", False)])
    result = await client.get(fake.agent(), [SYS_UPTIME], RequestOptions(timeout_s=0.3, retries=1))
    assert result.error.kind is ErrorKind.MALFORMED
    assert "not valid SNMP responses" in result.error.detail
    assert result.requests == 2
    assert client.stats.malformed >= 4


async def test_get_answered_with_other_oids_is_malformed(client, fake_agents):
    other_oid = [("1.3.6.1.2.1.1.4.0", Value(Kind.OCTETS, b"x"))]
    fake = fake_agents(lambda fake, request, raw: [(0, response(request, other_oid), False)])
    result = await client.get(fake.agent(), [SYS_UPTIME], FAST)
    assert result.error.kind is ErrorKind.MALFORMED


async def test_too_big_splits_the_get(snmpd, client, fake_agents):
    def behaviour(fake, request, raw):
        if len(request.pdu.varbinds) > 2:
            return [(0, response(request, request.pdu.varbinds, error_status=1), False)]
        return [(0, fake.forward(raw), False)]

    fake = fake_agents(behaviour, upstream=snmpd)
    oids = [f"1.3.6.1.2.1.1.{i}.0" for i in range(1, 8)]
    result = await client.get(fake.agent(), oids)
    assert result.ok, result.error
    assert [oid for oid, _ in result.varbinds] == oids
    assert result.values()[SYS_NAME].value == SYS_NAME_VALUE


async def test_agent_error_status_is_data(client, fake_agents):
    fake = fake_agents(lambda fake, request, raw: [(0, response(request, request.pdu.varbinds, error_status=5,
                                                                 error_index=1), False)])
    result = await client.get(fake.agent(), [SYS_UPTIME], FAST)
    assert result.error.kind is ErrorKind.GEN_ERR
    assert SYS_UPTIME in result.error.detail


@pytest.mark.parametrize("per_agent, overall, expected", [(1, 100, 1), (3, 100, 3), (4, 2, 2)])
async def test_in_flight_caps(snmpd, fake_agents, per_agent, overall, expected):
    fake = fake_agents(lambda fake, request, raw: [(0.03, fake.forward(raw), False)], upstream=snmpd)
    snmp = SnmpClient(RequestOptions(timeout_s=2, retries=0), max_in_flight_per_agent=per_agent,
                      max_in_flight=overall)
    try:
        results = await asyncio.gather(*(snmp.get(fake.agent(), [SYS_UPTIME]) for _ in range(8)))
    finally:
        snmp.close()
    assert all(result.ok for result in results)
    assert fake.max_outstanding == expected


# serial: 1.9 s <= the timeout < 3.0 s and every healthy poll under 0.1 s: bounds that other tests
# busy on the same CPUs could break.
@pytest.mark.serial
@pytest.mark.root
async def test_one_dropped_agent_times_out_while_another_answers_promptly(snmpd, snmpd_factory, client):
    require_root()
    require_binary("nft")
    address = loopback_addresses(1)[0]
    dropped = snmpd_factory(address, users=())
    try:
        assert (await client.get(agent_of(dropped), [SYS_UPTIME])).ok  # it is up until the rule
        with nft_table([drop_input(address, f"udp dport {dropped.port}")]):
            options = RequestOptions(timeout_s=1.0, retries=1)
            down = asyncio.create_task(client.get(agent_of(dropped), [SYS_UPTIME, SYS_DESCR], options))
            latencies = []
            started = time.monotonic()
            while not down.done():
                before = time.monotonic()
                answer = await client.get(agent_of(snmpd), [SYS_UPTIME, SYS_DESCR], options)
                latencies.append(time.monotonic() - before)
                assert answer.ok, answer.error
            elapsed = time.monotonic() - started
            result = down.result()
    finally:
        dropped.stop()
    assert result.error.kind is ErrorKind.TIMEOUT
    assert result.requests == 2
    assert 1.9 <= elapsed < 3.0
    assert len(latencies) > 100  # the healthy agent kept being polled meanwhile
    assert max(latencies) < 0.1, f"slowest healthy poll {max(latencies) * 1000:.0f} ms while the other timed out"


async def test_closed_client_reports_closed(snmpd):
    snmp = SnmpClient()
    request = asyncio.create_task(snmp.get(agent_of(snmpd, community="nobody"), [SYS_UPTIME]))
    await asyncio.sleep(0.05)
    snmp.close()
    result = await request
    assert result.error.kind is ErrorKind.CLOSED
