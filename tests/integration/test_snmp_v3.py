"""SNMPv3 (USM) through the hand-written client against the real net-snmp snmpd of the SNMP lab.

Every one of the lab's 43 users (each auth/priv combination snmpd 5.9.3 supports) reads the
same values through `SnmpClient` as through net-snmp's own snmpget/snmpbulkwalk; wrong pass
phrases, unknown users and security levels the agent's user lacks become `auth` errors that
say which failure it was; a device "reboot" (`private_snmpd.restart()`: same engine ID, boots
+ 1) and a replaced device (new engine ID on the same address) heal without a new client.
No pass phrase, key or community may appear in any result, error or repr.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

import probes.snmp.usm as snmp_usm
from probes.snmp.ber import Kind, Value
from probes.snmp.client import Agent, ErrorKind, RequestOptions, SnmpClient, SnmpResult, UsmUser
from lab.snmplab import COMMUNITY, V3_USERS, V3_USERS_BY_NAME, Snmpd, V3User, typed_rows
from lab.udpfake import UdpResponder, ask

pytestmark = pytest.mark.integration

SYS_DESCR, SYS_OBJECT_ID, SYS_UPTIME, SYS_NAME = ("1.3.6.1.2.1.1.1.0", "1.3.6.1.2.1.1.2.0", "1.3.6.1.2.1.1.3.0",
                                                 "1.3.6.1.2.1.1.5.0")
SYSTEM, IF_TABLE = "1.3.6.1.2.1.1", "1.3.6.1.2.1.2.2"
_AUTH = {"MD5": "md5", "SHA": "sha", "SHA-224": "sha224", "SHA-256": "sha256", "SHA-384": "sha384",
         "SHA-512": "sha512"}
_PRIV = {"DES": "des", "AES": "aes", "AES-192": "aes192", "AES-256": "aes256", "AES-192-C": "aes192c",
         "AES-256-C": "aes256c"}
ALL_SECRETS = tuple(secret for user in V3_USERS for secret in user.secrets) + (COMMUNITY,)


def usm_user(lab: V3User, **changes) -> UsmUser:
    """The netvigil UsmUser for a lab user (net-snmp protocol names -> ours), with `changes` applied."""
    fields = dict(name=lab.name, auth_protocol=_AUTH.get(lab.auth_proto, "none"), auth_passphrase=lab.auth_key or "",
                  priv_protocol=_PRIV.get(lab.priv_proto, "none"), priv_passphrase=lab.priv_key or "")
    fields.update(changes)
    return UsmUser(**fields)


def agent_of(snmpd: Snmpd, user: UsmUser) -> Agent:
    return Agent(snmpd.address, snmpd.port, "v3", user=user)


def assert_no_secret(*things) -> None:
    for thing in things:
        for text in (repr(thing), str(thing)):
            for secret in ALL_SECRETS:
                assert secret not in text, f"a secret leaked into {type(thing).__name__}"


def net_snmp_rows(snmpd: Snmpd, lab: V3User, root: str) -> list[tuple[str, Kind, object]]:
    """(oid, kind, value) from `snmpbulkwalk -Ox` as `lab` (strings in hex, so bytes compare exactly)."""
    return typed_rows(snmpd.walk(root, auth=lab, options=("-Cr25", "-Ox")))


def assert_same_rows(ours: SnmpResult, reference: list[tuple[str, Kind, object]]) -> None:
    assert [oid for oid, _ in ours.varbinds] == [oid for oid, _, _ in reference]
    for (oid, value), (_, kind, expected) in zip(ours.varbinds, reference):
        assert value.kind is kind, oid
        if oid == SYS_UPTIME:
            assert abs(value.value - expected) < 500  # ticks go on between the two walks
        else:
            assert value.value == expected, oid


@pytest.fixture
async def client():
    snmp = SnmpClient(RequestOptions(timeout_s=1.0, retries=1))
    yield snmp
    snmp.close()


# --- every user ------------------------------------------------------------------------------------

@pytest.mark.parametrize("lab", V3_USERS, ids=[user.name for user in V3_USERS])
async def test_every_user_gets_and_walks_what_net_snmp_gets(snmpd, client, lab):
    agent = agent_of(snmpd, usm_user(lab))
    reference = snmpd.get(SYS_DESCR, SYS_OBJECT_ID, SYS_NAME, SYS_UPTIME, auth=lab, options=("-Ox",))
    result = await client.get(agent, [SYS_DESCR, SYS_OBJECT_ID, SYS_NAME, SYS_UPTIME])
    assert result.ok, result.error
    values = result.values()
    assert values[SYS_DESCR] == Value(Kind.OCTETS, reference[SYS_DESCR].bytes)
    assert values[SYS_OBJECT_ID] == Value(Kind.OID, reference[SYS_OBJECT_ID].text.lstrip("."))
    assert values[SYS_NAME] == Value(Kind.OCTETS, b"netvigil-snmpd")
    assert 0 <= values[SYS_UPTIME].value - reference[SYS_UPTIME].int < 500

    walk = await client.walk(agent, SYSTEM, RequestOptions(max_repetitions=10))
    assert walk.ok, walk.error
    assert walk.method == "getbulk" and walk.fallback is None
    assert_same_rows(walk, net_snmp_rows(snmpd, lab, SYSTEM))
    assert len(walk.varbinds) >= 8
    assert_no_secret(result, walk, agent, agent.user)


async def test_getbulk_walk_of_a_table_in_v3(snmpd, client):
    lab = V3_USERS_BY_NAME["nv-sha256-aes256"]
    agent = agent_of(snmpd, usm_user(lab))
    walk = await client.walk(agent, IF_TABLE, RequestOptions(max_repetitions=10))
    assert walk.ok, walk.error
    assert walk.method == "getbulk"
    reference = net_snmp_rows(snmpd, lab, IF_TABLE)
    assert len(reference) >= 40
    assert [oid for oid, _ in walk.varbinds] == [oid for oid, _, _ in reference]
    assert walk.requests <= len(reference) // 10 + 2  # GETBULK, not one GETNEXT per row (+ discovery)


async def test_engine_is_discovered_once_and_survives_idle_agent_state(snmpd, client):
    agent = agent_of(snmpd, usm_user(V3_USERS_BY_NAME["nv-sha-aes"]))
    first = await client.get(agent, [SYS_NAME])
    assert first.ok and first.requests == 2  # discovery + GET
    assert not client._agents  # the per-agent state was dropped when idle...
    derivations = snmp_usm.derivations
    for _ in range(20):
        later = await client.get(agent, [SYS_NAME])
        assert later.ok and later.requests == 1  # ...but the engine was not forgotten
    assert client.stats.discoveries == 1
    assert snmp_usm.derivations == derivations  # localized keys came from the cache every time
    info = client.engine_info(agent)
    assert info.engine_id == snmpd.engine_id
    assert info.boots == snmpd.engine_boots()


async def test_v1_v2c_and_v3_share_the_socket(snmpd, client):
    users = [usm_user(V3_USERS_BY_NAME[name]) for name in ("nv-noauth", "nv-md5", "nv-sha-des", "nv-sha512-aes256c")]
    v2c = Agent(snmpd.address, snmpd.port, "v2c", COMMUNITY)
    v1 = Agent(snmpd.address, snmpd.port, "v1", COMMUNITY)
    many = SnmpClient(RequestOptions(timeout_s=2, retries=0), max_in_flight_per_agent=8)
    try:
        results = await asyncio.gather(*[many.get(agent, [SYS_NAME, SYS_DESCR])
                                         for _ in range(5) for agent in [v1, v2c, *(agent_of(snmpd, u) for u in users)]])
    finally:
        many.close()
    assert all(result.ok for result in results), [r.error for r in results if not r.ok]
    assert {result.values()[SYS_NAME].value for result in results} == {b"netvigil-snmpd"}
    assert many.stats.ignored == 0 and many.stats.malformed == 0


# --- USM failures ----------------------------------------------------------------------------------

async def test_wrong_auth_pass_phrase_is_a_wrong_digest_auth_error(snmpd, client):
    lab = V3_USERS_BY_NAME["nv-sha256-aes"]
    agent = agent_of(snmpd, usm_user(lab, auth_passphrase="Wrong-auth-phrase-1"))
    result = await client.get(agent, [SYS_NAME])
    assert result.error.kind is ErrorKind.AUTH
    assert "wrong digest" in result.error.detail and "nv-sha256-aes" in result.error.detail
    assert result.requests == 2  # discovery + the refused GET: no retries of a definite answer
    assert_no_secret(result, agent)
    assert "Wrong-auth-phrase-1" not in repr(result) + repr(agent)


async def test_wrong_auth_protocol_is_a_wrong_digest_auth_error(snmpd, client):
    result = await client.get(agent_of(snmpd, usm_user(V3_USERS_BY_NAME["nv-md5-aes"], auth_protocol="sha")),
                              [SYS_NAME])
    assert result.error.kind is ErrorKind.AUTH and "wrong digest" in result.error.detail


@pytest.mark.parametrize("change", [dict(priv_passphrase="Wrong-priv-phrase-1"), dict(priv_protocol="des"),
                                    dict(priv_protocol="aes256c")], ids=["pass phrase", "des", "reeder"])
async def test_wrong_priv_is_a_decryption_auth_error(snmpd, client, change):
    lab = V3_USERS_BY_NAME["nv-sha-aes256"]
    result = await client.get(agent_of(snmpd, usm_user(lab, **change)), [SYS_NAME],
                              RequestOptions(timeout_s=0.5, retries=1))
    assert result.error.kind is ErrorKind.AUTH
    assert "decryption error" in result.error.detail
    # net-snmp drops what it cannot decrypt; the client asked once at authNoPriv to tell why.
    assert result.requests == 2 + 1 + 1  # discovery, two tries, the authNoPriv probe
    assert_no_secret(result)
    assert "Wrong-priv-phrase-1" not in repr(result)


async def test_unknown_user_name(snmpd, client):
    result = await client.get(agent_of(snmpd, UsmUser("nv-nobody", "sha", "Some-auth-phrase")), [SYS_NAME])
    assert result.error.kind is ErrorKind.AUTH
    assert "unknown user name" in result.error.detail and "nv-nobody" in result.error.detail


@pytest.mark.parametrize("lab_name, changes", [
    ("nv-noauth", dict(auth_protocol="sha", auth_passphrase="Some-auth-phrase", priv_protocol="aes",
                       priv_passphrase="Some-priv-phrase")),
    ("nv-noauth", dict(auth_protocol="md5", auth_passphrase="Some-auth-phrase")),
    ("nv-sha", dict(priv_protocol="aes", priv_passphrase="Some-priv-phrase")),
], ids=["noauth asks authPriv", "noauth asks authNoPriv", "authNoPriv asks authPriv"])
async def test_security_level_the_agent_user_lacks(snmpd, client, lab_name, changes):
    result = await client.get(agent_of(snmpd, usm_user(V3_USERS_BY_NAME[lab_name], **changes)), [SYS_NAME])
    assert result.error.kind is ErrorKind.AUTH
    assert "unsupported security level" in result.error.detail


async def test_lower_level_than_the_agent_requires_is_refused(snmpd, client):
    # nv-sha-aes may only read at authPriv (rouser ... priv): asking at authNoPriv is refused by VACM.
    lab = V3_USERS_BY_NAME["nv-sha-aes"]
    result = await client.get(agent_of(snmpd, usm_user(lab, priv_protocol="none", priv_passphrase="")), [SYS_NAME])
    assert result.error is not None
    assert result.error.kind in (ErrorKind.AUTH, ErrorKind.NO_SUCH_OBJECT)
    assert_no_secret(result)


async def test_no_secret_in_any_result_error_or_log(snmpd, client, caplog):
    caplog.set_level(logging.DEBUG)
    results = []
    for lab in V3_USERS:
        for changes in ({}, {"auth_passphrase": "Wrong-auth-phrase-2"} if lab.auth_proto else {"name": "nv-x"},
                        {"priv_passphrase": "Wrong-priv-phrase-2"} if lab.priv_proto else {}):
            agent = agent_of(snmpd, usm_user(lab, **changes))
            results += [agent, agent.user, await client.get(agent, [SYS_NAME], RequestOptions(timeout_s=0.3, retries=0))]
    assert any(isinstance(r, SnmpResult) and r.error is not None for r in results)
    assert_no_secret(*results, client.stats, client.engine_info(agent), caplog.text)
    for r in results:
        for secret in ("Wrong-auth-phrase-2", "Wrong-priv-phrase-2"):
            assert secret not in repr(r) and secret not in caplog.text


# --- reboots and replaced devices ---------------------------------------------------------------------

async def test_reboot_heals_with_one_extra_exchange(private_snmpd, client):
    lab = V3_USERS_BY_NAME["nv-sha256-aes"]
    agent = agent_of(private_snmpd, usm_user(lab))
    assert (await client.get(agent, [SYS_NAME])).ok
    boots_before = client.engine_info(agent).boots
    assert boots_before == private_snmpd.engine_boots()

    private_snmpd.restart()  # same engine ID, boots + 1, engine time from 0

    result = await client.get(agent, [SYS_NAME, SYS_UPTIME])
    assert result.ok, result.error
    assert result.requests == 2  # notInTimeWindow report, then the retried GET
    info = client.engine_info(agent)
    assert info.boots == boots_before + 1 == private_snmpd.engine_boots()
    assert info.engine_id == private_snmpd.engine_id
    assert client.stats.resyncs == 1 and client.stats.discoveries == 1
    assert (await client.get(agent, [SYS_NAME])).requests == 1  # and then steady again


async def test_reboot_heals_for_every_auth_protocol_and_des(private_snmpd, client):
    users = [usm_user(V3_USERS_BY_NAME[name]) for name in
             ("nv-md5-des", "nv-sha-aes192", "nv-sha224-aes256c", "nv-sha384-aes", "nv-sha512-aes192c", "nv-noauth")]
    for user in users:
        assert (await client.get(agent_of(private_snmpd, user), [SYS_NAME])).ok
    private_snmpd.restart()
    for user in users:
        result = await client.get(agent_of(private_snmpd, user), [SYS_NAME])
        assert result.ok, (user.name, result.error)
        assert result.requests <= 2


async def test_new_engine_id_on_the_same_address_is_rediscovered(tmp_path, private_snmpd, client):
    lab = V3_USERS_BY_NAME["nv-sha-aes"]
    agent = agent_of(private_snmpd, usm_user(lab))
    assert (await client.get(agent, [SYS_NAME])).ok
    old_engine = client.engine_info(agent).engine_id
    private_snmpd.stop()
    replacement = Snmpd(Path(tmp_path) / "replacement", port=private_snmpd.port).start()  # fresh engine ID
    try:
        assert replacement.engine_id != old_engine
        result = await client.get(agent, [SYS_NAME])
        assert result.ok, result.error
        assert result.requests == 3  # unknownEngineID report, discovery, the retried GET
        assert client.engine_info(agent).engine_id == replacement.engine_id
        assert client.stats.discoveries == 2
    finally:
        replacement.stop()


# --- broken answers (a relay in front of the real snmpd damages them) ------------------------------------

class Relay(UdpResponder):
    """A UDP relay to snmpd that passes requests on and hands each answer to `damage` first.

    Why: snmpd has no switch to send truncated or corrupted v3 answers.
    """

    def __init__(self, upstream: Snmpd, damage) -> None:
        self.upstream, self.damage = upstream, damage
        super().__init__(lambda request: self.damage(ask(self.upstream.endpoint, request)))


@pytest.fixture
def relays():
    started = []

    def start(upstream, damage):
        relay = Relay(upstream, damage)
        started.append(relay)
        return relay

    yield start
    for relay in started:
        relay.stop()


def _is_discovery_answer(answer: bytes) -> bool:
    return snmp_usm.parse_v3(answer).user_name == b""


async def test_truncated_v3_answer_is_malformed_at_once(snmpd, client, relays):
    relay = relays(snmpd, lambda answer: [answer if _is_discovery_answer(answer) else answer[:-7]])
    agent = Agent("127.0.0.1", relay.port, "v3", user=usm_user(V3_USERS_BY_NAME["nv-sha-aes"]))
    started = asyncio.get_running_loop().time()
    result = await client.get(agent, [SYS_NAME], RequestOptions(timeout_s=2, retries=2))
    assert result.error.kind is ErrorKind.MALFORMED
    assert "could not be decoded" in result.error.detail
    assert asyncio.get_running_loop().time() - started < 1.0  # matched by msgID, not waited out
    assert_no_secret(result)


async def test_corrupted_authenticated_answer_is_an_auth_error_not_data(snmpd, client, relays):
    def flip_last_byte(answer: bytes) -> list[bytes]:
        if _is_discovery_answer(answer):
            return [answer]
        return [answer[:-1] + bytes((answer[-1] ^ 0x01,))]

    relay = relays(snmpd, flip_last_byte)
    agent = Agent("127.0.0.1", relay.port, "v3", user=usm_user(V3_USERS_BY_NAME["nv-sha-des"]))
    result = await client.get(agent, [SYS_NAME], RequestOptions(timeout_s=2, retries=0))
    assert result.error.kind is ErrorKind.AUTH
    assert "wrong digest in the answer" in result.error.detail
    assert result.varbinds == ()


async def test_garbage_and_duplicates_around_the_right_answer_are_ignored(snmpd, client, relays):
    import random
    rng = random.Random(5)
    relay = relays(snmpd, lambda answer: [rng.randbytes(80), answer[:10] + rng.randbytes(50), answer, answer])
    agent = Agent("127.0.0.1", relay.port, "v3", user=usm_user(V3_USERS_BY_NAME["nv-sha256-aes192"]))
    for _ in range(3):
        result = await client.get(agent, [SYS_NAME], RequestOptions(timeout_s=2, retries=0))
        assert result.ok, result.error
        assert result.values()[SYS_NAME].value == b"netvigil-snmpd"
    assert client.stats.ignored >= 3  # the duplicates came after their requests were done


@pytest.mark.parametrize("name", ["nv-sha", "nv-sha-aes", "nv-sha-des"])
async def test_answer_with_a_damaged_digest_is_refused(snmpd, client, relays, name):
    """An answer whose msgAuthenticationParameters were changed on the way is not data: without this
    check an on-path attacker could rewrite every authNoPriv value the poller stores."""
    def damage_digest(answer: bytes) -> list[bytes]:
        parsed = snmp_usm.parse_v3(answer)
        start, stop = parsed.auth_params
        if parsed.user_name == b"" or stop == start:
            return [answer]
        return [answer[:start] + bytes((answer[start] ^ 0xFF,)) + answer[start + 1:]]

    relay = relays(snmpd, damage_digest)
    agent = Agent("127.0.0.1", relay.port, "v3", user=usm_user(V3_USERS_BY_NAME[name]))
    result = await client.get(agent, [SYS_NAME], RequestOptions(timeout_s=1, retries=0))
    assert result.error is not None and result.error.kind is ErrorKind.AUTH, result
    assert result.varbinds == ()

