"""The SNMP test lab itself (lab/snmplab.py), checked with net-snmp's own tools (`snmpget -On`).

Does every v3 user of the lab snmpd answer, do wrong keys fail the way a real agent fails, does
a restart look like a reboot (same engine ID, engineBoots + 1, uptime from 0), and does snmpsim
replay every recording of a real device value for value, quirks included?

One session-wide snmpd and snmpsim serve the read-only checks; only the tests that restart or
SET something start their own.
"""

from __future__ import annotations

import hashlib
import os

import pytest

from lab.netlab import drop_input, loopback_addresses, nft_table
from lab.snmplab import (ALL_RECORDINGS, AUTH_PROTOCOLS, COMMUNITY, NOAUTH_USER, PRIV_PROTOCOLS, PROJECT_RECORDINGS,
                           PROJECT_SNMPREC_DIR, RECORDINGS, SIM_USER, SNMPREC_DIR, recording_path,
                           SYS_DESCR, SYS_NAME, SYS_OBJECT_ID, SYS_UPTIME, V3_USERS, SnmpToolError, V3User,
                           recording_values, snmpd, snmpd_factory, private_snmpd, snmpsim,  # noqa: F401 (fixtures)
                           snmpsim_factory)
from lab.support import require_root

pytestmark = pytest.mark.integration


# -- snmpd -------------------------------------------------------------------------------------

def test_users_cover_every_supported_combination() -> None:
    levels = [user.level for user in V3_USERS]
    assert levels.count("noAuthNoPriv") == 1
    assert levels.count("authNoPriv") == len(AUTH_PROTOCOLS) == 6
    assert levels.count("authPriv") == len(AUTH_PROTOCOLS) * len(PRIV_PROTOCOLS) == 36
    assert {(u.auth_proto, u.priv_proto) for u in V3_USERS if u.priv_proto} == \
        {(a, p) for a in AUTH_PROTOCOLS for p in PRIV_PROTOCOLS}
    secrets = [secret for user in V3_USERS for secret in user.secrets]
    assert len(secrets) == len(set(secrets)) == 6 + 2 * 36
    assert all(secret not in repr(user) for user in V3_USERS for secret in user.secrets)


def test_every_v3_user_answers(snmpd) -> None:
    answers = {}
    for user in snmpd.users:
        vbs = snmpd.get(SYS_UPTIME, SYS_NAME, auth=user)
        answers[user.name] = (vbs[SYS_UPTIME].type, vbs[SYS_NAME].str)
    assert answers == {user.name: ("Timeticks", "netvigil-snmpd") for user in V3_USERS}
    for version in ("1", "2c"):
        assert snmpd.get(SYS_NAME, version=version)[SYS_NAME].str == "netvigil-snmpd"
        assert len(snmpd.walk("1.3.6.1.2.1.1.9", version=version)) > 0      # sysORTable, GETNEXT / GETBULK


def test_wrong_credentials_fail_like_a_real_agent(snmpd) -> None:
    for auth in AUTH_PROTOCOLS:                       # wrong auth key: a report, at once
        user = snmpd.user(f"nv-{auth.lower().replace('-', '')}-aes")
        with pytest.raises(SnmpToolError) as failed:
            snmpd.tools.query("snmpget", snmpd.target, user.net_snmp_args(auth_key="wrong-auth-key"), [SYS_UPTIME])
        assert "Authentication failure" in failed.value.stderr, user

    user = snmpd.user("nv-sha256-aes256")
    with pytest.raises(SnmpToolError, match="Unknown user name"):
        snmpd.get(SYS_UPTIME, auth=V3User("nv-nobody"))
    with pytest.raises(SnmpToolError, match="authorizationError"):   # a priv user asking at authNoPriv
        snmpd.get(SYS_UPTIME, auth=V3User(user.name, user.auth_proto, user.auth_key))
    # Wrong priv key or community: snmpd stays silent (a timeout), as real agents do.
    with pytest.raises(SnmpToolError, match="Timeout"):
        snmpd.tools.query("snmpget", snmpd.target, user.net_snmp_args(priv_key="wrong-priv-key"), [SYS_UPTIME],
                          timeout_s=0.2)
    with pytest.raises(SnmpToolError, match="Timeout"):
        snmpd.get(SYS_UPTIME, auth="public", timeout_s=0.2)


def test_3des_is_not_supported_by_this_snmpd_build(snmpd_factory) -> None:
    """Why the matrix has no 3DES (snmplab.UNSUPPORTED): neither snmpd nor snmpget know it."""
    agent = snmpd_factory(users=(NOAUTH_USER,),
                          extra_conf='createUser nv-3des SHA "A:nv-3des:s3cret" 3DES "P:nv-3des:s3cret"\n'
                                     'rouser nv-3des priv\n')
    assert "unknown privProtocol" in agent.log()
    args = V3User("nv-3des", "SHA", "A:nv-3des:s3cret", "AES", "P:nv-3des:s3cret").net_snmp_args()
    with pytest.raises(SnmpToolError, match="Unknown user name"):      # the line created no user
        agent.tools.query("snmpget", agent.target, args, [SYS_UPTIME])
    args[args.index("AES")] = "3DES"
    with pytest.raises(SnmpToolError, match="Invalid privacy protocol"):
        agent.tools.query("snmpget", agent.target, args, [SYS_UPTIME])


async def test_pysnmp_protocol_names_match_net_snmp(snmpd) -> None:
    """V3User.usm_user_data() talks to snmpd. MD5/SHA keys (16/20 bytes) are shorter than both
    AES-192 and AES-256 keys, so only those users tell the Blumenthal key extension from the
    Reeder/Cisco one; with them the swapped pysnmp pairing must fail."""
    from pysnmp.hlapi.v3arch import asyncio as hlapi

    engine = hlapi.SnmpEngine()                 # one engine: a new one per request costs ~0.35 s

    async def uptime(user_data) -> str:
        target = await hlapi.UdpTransportTarget.create(snmpd.endpoint, timeout=0.3, retries=0)
        error, status, _, varbinds = await hlapi.get_cmd(engine, user_data, target, hlapi.ContextData(),
                                                         hlapi.ObjectType(hlapi.ObjectIdentity(SYS_UPTIME)),
                                                         lookupMib=False)
        return str(error) if error else (status.prettyPrint() if status else type(varbinds[0][1]).__name__)

    try:
        users = [u for u in V3_USERS if u.auth_proto in (None, "MD5", "SHA")] + \
                [u for u in V3_USERS if u.auth_proto not in (None, "MD5", "SHA") and u.priv_proto in (None, "AES")]
        results = {user.name: await uptime(user.usm_user_data()) for user in users}
        assert results == {user.name: "TimeTicks" for user in users}

        swapped = {"AES-192": "AES-192-C", "AES-192-C": "AES-192", "AES-256": "AES-256-C", "AES-256-C": "AES-256"}
        for name in ("nv-sha-aes192", "nv-md5-aes256c"):
            user = snmpd.user(name)
            wrong = hlapi.UsmUserData(user.name, user.auth_key, user.priv_key, authProtocol=user.pysnmp_auth_protocol,
                                      privProtocol=getattr(hlapi, PRIV_PROTOCOLS[swapped[user.priv_proto]][0]))
            assert await uptime(wrong) != "TimeTicks", name
    finally:
        engine.close_dispatcher()


def test_restart_is_a_reboot(private_snmpd) -> None:
    agent = private_snmpd
    engine_id, boots = agent.engine_id, agent.engine_boots()
    assert boots == 1 and engine_id[:4] == bytes.fromhex("80001f88")   # net-snmp enterprise 8072
    agent.restart()
    assert agent.saved_engine_boots() == boots + 1                     # written at start already
    assert agent.saved_engine_id() == engine_id
    vbs = agent.get("1.3.6.1.6.3.10.2.1.1.0", "1.3.6.1.6.3.10.2.1.2.0", "1.3.6.1.6.3.10.2.1.3.0", auth=NOAUTH_USER)
    assert vbs["1.3.6.1.6.3.10.2.1.1.0"].bytes == engine_id            # same engine ...
    assert vbs["1.3.6.1.6.3.10.2.1.2.0"].int == boots + 1              # ... booted once more
    assert vbs["1.3.6.1.6.3.10.2.1.3.0"].int <= 2                      # snmpEngineTime from 0
    assert agent.uptime_ticks() < agent.ready_s * 100 + 100            # sysUpTime from 0 too
    for name in ("nv-md5-des", "nv-sha512-aes256c", "nv-sha"):         # keys still localized right
        assert agent.get(SYS_UPTIME, auth=agent.user(name))[SYS_UPTIME].type == "Timeticks"
    # The usmUser lines saved at each stop replace, not add to, the createUser users.
    assert agent.persist_file.read_text().count("\nusmUser ") == len(agent.users)


@pytest.mark.root
def test_second_snmpd_on_its_own_address_can_be_cut_off(snmpd, snmpd_factory) -> None:
    require_root()
    address = loopback_addresses(1)[0]
    other = snmpd_factory(address=address)
    assert other.endpoint == (address, other.port) and other.engine_id != snmpd.engine_id
    assert other.get(SYS_NAME)[SYS_NAME].str == "netvigil-snmpd"
    with nft_table([drop_input(address, f"udp dport {other.port}")]):
        with pytest.raises(SnmpToolError, match="Timeout"):
            other.get(SYS_NAME, timeout_s=0.3)
        assert snmpd.get(SYS_NAME, auth=snmpd.user("nv-sha-aes"))[SYS_NAME].str == "netvigil-snmpd"
    assert other.get(SYS_NAME)[SYS_NAME].str == "netvigil-snmpd"


# -- snmpsim -----------------------------------------------------------------------------------

_INTEGER_TAGS = {"2": "INTEGER", "65": "Counter32", "66": "Gauge32", "67": "Timeticks", "70": "Counter64"}


def _expected(tag: str, value: str):
    if tag in _INTEGER_TAGS:
        return _INTEGER_TAGS[tag], int(value)
    if tag == "4":
        return "string", value.encode("ascii")
    if tag == "4x":
        return "string", bytes.fromhex(value)
    if tag == "6":
        return "OID", value.lstrip(".")
    if tag == "64":
        return "IpAddress", value
    raise AssertionError(f"tag {tag} not in the recordings (tests/fixtures/devices/README.md)")


def _served(vb):
    if vb.type in _INTEGER_TAGS.values():
        return vb.type, vb.int
    if vb.type in ("STRING", "Hex-STRING"):
        return "string", vb.bytes
    if vb.type == "OID":
        return "OID", vb.text.lstrip(".")
    return vb.type, vb.text


def test_every_recording_replays_value_for_value(snmpsim) -> None:
    assert snmpsim.communities == ALL_RECORDINGS and len(RECORDINGS) == 10
    assert PROJECT_RECORDINGS and not set(RECORDINGS) & set(PROJECT_RECORDINGS)   # a name is in one set only
    for name in ALL_RECORDINGS:
        recorded = {oid: _expected(tag, value) for oid, (tag, value) in recording_values(name).items()}
        # -Ox: every string in hex, so bytes compare exactly (embedded newlines, quotes, junk).
        served = {oid: _served(vb) for oid, vb in snmpsim.walk(name, "1", options=("-Cr25", "-Ox")).items()}
        if name == "Cisco_sfe2000":            # fixtures/README.md: a single space is served empty
            oid = "1.3.6.1.4.1.9.6.1.101.53.14.1.7.1"
            assert recorded[oid] == ("string", b" ") and served[oid] == ("string", b"")
        # snmpsim strips trailing spaces of a plain string (the single space above, and the
        # NetBotz sysDescr "...MD:03/27/2024) "): compare those without them.
        trailing = {oid for oid, (tag, value) in recording_values(name).items()
                    if tag == "4" and value != value.rstrip(" ")}
        assert trailing == {"Cisco_sfe2000": {"1.3.6.1.4.1.9.6.1.101.53.14.1.7.1"},
                            "apc_netbotz": {SYS_DESCR}}.get(name, set()), name
        for oid in trailing:
            assert served[oid] == ("string", recorded[oid][1].rstrip(b" ")), (name, oid)
            served[oid] = recorded[oid]
        assert served == recorded, name
        if name == "hikvision-cam":            # a camera whose agent has no system group at all
            assert SYS_DESCR not in recording_values(name)
            continue
        tag, value = recording_values(name)[SYS_DESCR]
        descr = bytes.fromhex(value).decode("latin-1") if tag == "4x" else value  # ios_2960x records it in hex
        # (snmpget's plain output drops the \r of \r\n; the -Ox walk above compared bytes exactly)
        shown = snmpsim.get(name, SYS_DESCR)[SYS_DESCR].bytes
        assert shown == descr.rstrip(" ").replace("\r", "").encode("latin-1"), name


def test_spot_values_from_the_fixtures_readme(snmpsim) -> None:
    def get(name: str, oid: str):
        return snmpsim.get(name, oid)[oid]

    assert get("abbups_abbups", "1.3.6.1.2.1.33.1.2.4.0").int == 100       # upsEstimatedChargeRemaining
    assert get("abbups_abbups", "1.3.6.1.2.1.33.1.2.3.0").int == 452       # upsEstimatedMinutesRemaining
    assert get("abbups_abbups", "1.3.6.1.2.1.33.1.2.5.0").int == 4348      # upsBatteryVoltage, 0.1 V
    assert get("abbups_abbups", SYS_UPTIME).type == "noSuchInstance"       # no sysUpTime in this walk
    assert get("hwg-poseidon", "1.3.6.1.4.1.21796.3.3.3.1.6.1").int == 303
    assert get("hwg-poseidon", "1.3.6.1.4.1.21796.3.3.3.1.5.1").str == "30.3 %RH"
    assert get("openwrt", "1.3.6.1.4.1.2021.10.1.5.1").int == 16           # laLoadInt.1
    assert get("openwrt", "1.3.6.1.2.1.1.6.0").str == "<private>"          # a 4x sysLocation
    assert get("aix_net-snmp", "1.3.6.1.4.1.2021.4.5.0").int == 8388608    # memTotalReal
    vrp = snmpsim.get("vrp_ar169fgwl", *(f"1.3.6.1.4.1.2011.5.25.31.1.1.1.1.{c}.9" for c in (5, 7, 11)))
    assert [vb.int for vb in vrp.values()] == [20, 27, 56]
    assert get("vrp_ar169fgwl", "1.3.6.1.4.1.2011.5.25.241.1.2.1.1.35.9").str == "-87 dBm"
    hc = get("Cisco_sfe2000", "1.3.6.1.2.1.31.1.1.1.6.52")
    assert (hc.type, hc.int) == ("Counter64", 568747945780)
    assert get("comware_h3c", SYS_OBJECT_ID).text == ".1.3.6.1.4.1.25506.11.1.85"  # leading dot in the file
    assert get("vccodec", SYS_OBJECT_ID).text == ".1.3.6.1.4.1.5596.150.6.4.1"


def test_cisco_corrupted_portlists_are_served(snmpsim) -> None:
    recorded = {oid: value for oid, (tag, value) in recording_values("Cisco_sfe2000").items()
                if oid.startswith(("1.3.6.1.2.1.17.7.1.4.2.1.4.0.", "1.3.6.1.2.1.17.7.1.4.2.1.5.0."))}
    assert recorded and all(len(value) == 706 for value in recorded.values())
    served = snmpsim.get("Cisco_sfe2000", *recorded, options=("-Ox",))
    assert {oid: vb.bytes for oid, vb in served.items()} == {oid: bytes.fromhex(v) for oid, v in recorded.items()}
    assert snmpsim.process.alive()
    assert snmpsim.get("Cisco_sfe2000", SYS_DESCR)[SYS_DESCR].str == "24-port 10/100 Ethernet Switch"


def test_v3_context_name_is_the_recording(snmpsim) -> None:
    oid = "1.3.6.1.2.1.33.1.2.4.0"
    assert snmpsim.get("abbups_abbups", oid, user=SIM_USER)[oid].int == 100
    assert snmpsim.get("openwrt", SYS_DESCR, user=SIM_USER)[SYS_DESCR].str.startswith("Linux OpenWrt 5.4.137")
    with pytest.raises(SnmpToolError, match="Authentication failure"):
        snmpsim.tools.query("snmpget", snmpsim.target(), SIM_USER.net_snmp_args(auth_key="wrong-auth-key")
                            + ["-n", "abbups_abbups"], [oid])
    with pytest.raises(SnmpToolError, match="Timeout"):           # unknown community: silence
        snmpsim.get("no-such-device", SYS_DESCR, timeout_s=0.2)


def test_served_files_are_copies_and_originals_untouched(snmpsim) -> None:
    for name in ALL_RECORDINGS:
        original, copy = recording_path(name), snmpsim.data_dir / f"{name}.snmprec"
        assert not copy.is_symlink() and os.stat(copy).st_ino != os.stat(original).st_ino
        assert hashlib.sha256(copy.read_bytes()).digest() == hashlib.sha256(original.read_bytes()).digest()
    # snmpsim's index and cache went to the lab's own cache dir, nothing next to the originals.
    assert sorted(p.name for p in SNMPREC_DIR.iterdir()) == sorted(f"{name}.snmprec" for name in RECORDINGS)
    assert sorted(p.name for p in PROJECT_SNMPREC_DIR.iterdir()) == \
        sorted(["SOURCES.md", *(f"{name}.snmprec" for name in PROJECT_RECORDINGS)])
    assert any(snmpsim.cache_dir.iterdir())


def test_lab_logs_hold_no_secrets(snmpd, snmpsim) -> None:
    secrets = [COMMUNITY, *SIM_USER.secrets, *(s for user in V3_USERS for s in user.secrets)]
    for log in (snmpd.log(), snmpsim.log()):
        assert not [secret for secret in secrets if secret in log]


def test_writecache_and_numeric_values_change(snmpsim_factory) -> None:
    second = loopback_addresses(2)[1]
    sim = snmpsim_factory(
        recordings=["vccodec"], addresses=["127.0.0.1", second],
        extra_files={"site1/ups-dyn": (
            "1.3.6.1.2.1.1.1.0|4|dynamic UPS\n"
            "1.3.6.1.2.1.1.3.0|67:writecache|value=500000\n"
            "1.3.6.1.2.1.31.1.1.1.6.1|70:numeric|rate=1000000,initial=0\n"
            "1.3.6.1.2.1.33.1.2.1.0|2:writecache|value=2\n")})
    assert sim.communities == ("vccodec", "site1/ups-dyn")
    uptime, counter, status = SYS_UPTIME, "1.3.6.1.2.1.31.1.1.1.6.1", "1.3.6.1.2.1.33.1.2.1.0"
    assert sim.get("site1/ups-dyn", uptime, status)[status].int == 2
    assert sim.get("site1/ups-dyn", uptime)[uptime].int == 500000

    sim.set("site1/ups-dyn", uptime, "t", 100)                 # a "reboot": uptime goes back
    sim.set("site1/ups-dyn", status, "i", 3, address=second)   # batteryLow, SET on the other address
    for address in sim.addresses:
        vbs = sim.get("site1/ups-dyn", uptime, status, address=address)
        assert (vbs[uptime].int, vbs[status].int) == (100, 3), address
    assert sim.get("site1/ups-dyn", status, user=SIM_USER)[status].int == 3   # v3 context = file name

    first = sim.get("site1/ups-dyn", counter)[counter]
    assert first.type == "Counter64"
    assert sim.get("site1/ups-dyn", counter)[counter].int > first.int

    sim.restart()                                              # writecache goes back to the file
    assert sim.get("site1/ups-dyn", uptime, address=second)[uptime].int == 500000
    assert sim.get("vccodec", SYS_DESCR)[SYS_DESCR].str.startswith("Cisco Codec")
