"""SNMPv3 USM codec (probes/snmp/usm.py): key derivation against RFC 3414's own test vectors and
against pysnmp (the reference implementation in this venv, used only here), encryption round
trips, and decoding of hostile input: a real v3 answer cut short at every length and with
every byte flipped must give SnmpDecodeError (or its USM subclass), never another exception.

The real agent exchanges are in tests/integration/test_snmp_v3.py; the "real answer" here is
built with pysnmp's USM, so the bytes come from an independent encoder.
"""

from __future__ import annotations

import hashlib
import hmac
import random

import pytest
from pyasn1.type.univ import OctetString  # pysnmp's key functions take engine IDs as OctetString

from probes.snmp.ber import REQUEST_PDUS, Kind, PduTemplate, PduType, SnmpDecodeError, Value, decode_pdu, encode_pdu
from probes.snmp.usm import (AUTH_PROTOCOLS, FLAG_AUTH, FLAG_PRIV, FLAG_REPORTABLE, PRIV_PROTOCOLS,
                             UsmSecurityError, UsmSession, UsmUser, decode_v3, encode_discovery,
                             extend_key_blumenthal, extend_key_reeder, is_v3, localize_key, localized_priv_key,
                             parse_v3, password_to_key, usm_keys)
import probes.snmp.usm as snmp_usm

RFC_ENGINE_ID = bytes.fromhex("000000000000000000000002")
ENGINE_ID = bytes.fromhex("80001f8880a5e6ca1ae63d016b00000000")  # the form net-snmp uses
AUTH_SECRET, PRIV_SECRET = "Auth-S3cret-phrase", "Priv-S3cret-phrase"
SYS_NAME = "1.3.6.1.2.1.1.5.0"


def user(auth: str = "sha", priv: str = "aes", name: str = "nv-user", context: str = "") -> UsmUser:
    return UsmUser(name, auth, AUTH_SECRET if auth != "none" else "", priv,
                   PRIV_SECRET if priv != "none" else "", context)


# --- RFC 3414 A.3 test vectors --------------------------------------------------------------------

def test_rfc3414_a3_1_md5_password_to_key_and_localization():
    ku = password_to_key(b"maplesyrup", "md5")
    assert ku.hex() == "9faf3283884e92834ebc9847d8edd963"
    assert localize_key(ku, RFC_ENGINE_ID, "md5").hex() == "526f5eed9fcce26f8964c2930787d82b"


def test_rfc3414_a3_2_sha_password_to_key_and_localization():
    ku = password_to_key(b"maplesyrup", "sha1")
    assert ku.hex() == "9fb5cc0381497b3793528939ff788d5d79145211"
    assert localize_key(ku, RFC_ENGINE_ID, "sha1").hex() == "6695febc9288e36282235fc7151f128497b38f3f"


def test_password_to_key_handles_phrases_that_do_not_divide_the_megabyte():
    phrase = b"abcdefghijk"  # 11 does not divide 1,048,576
    expected = hashlib.sha1((phrase * 95_326)[:1_048_576]).digest()
    assert password_to_key(phrase, "sha1") == expected


# --- cross-checks against pysnmp --------------------------------------------------------------------

def _pysnmp_auth(auth: str):
    from pysnmp.proto.secmod.rfc3414.auth import hmacmd5, hmacsha
    from pysnmp.proto.secmod.rfc7860.auth import hmacsha2
    return {"md5": hmacmd5.HmacMd5(), "sha": hmacsha.HmacSha(),
            "sha224": hmacsha2.HmacSha2(hmacsha2.HmacSha2.SHA224_SERVICE_ID),
            "sha256": hmacsha2.HmacSha2(hmacsha2.HmacSha2.SHA256_SERVICE_ID),
            "sha384": hmacsha2.HmacSha2(hmacsha2.HmacSha2.SAH384_SERVICE_ID),
            "sha512": hmacsha2.HmacSha2(hmacsha2.HmacSha2.SHA512_SERVICE_ID)}[auth]


def _pysnmp_priv(priv: str):
    # lab/snmplab.py PRIV_PROTOCOLS: pysnmp's AesBlumenthal* are net-snmp AES-192/256 (Blumenthal),
    # its plain Aes192/Aes256 are net-snmp AES-192-C/256-C (Reeder).
    # pysnmp's privacy modules import each other in a circle that only its USM service module
    # enters in the right order: imported first, this test passes alone as in the whole file.
    import pysnmp.proto.secmod.rfc3414.service  # noqa: F401
    from pysnmp.proto.secmod.eso.priv import aes192, aes256
    from pysnmp.proto.secmod.rfc3414.priv import des
    from pysnmp.proto.secmod.rfc3826.priv import aes
    return {"des": des.Des(), "aes": aes.Aes(), "aes192": aes192.AesBlumenthal192(),
            "aes256": aes256.AesBlumenthal256(), "aes192c": aes192.Aes192(), "aes256c": aes256.Aes256()}[priv]


@pytest.mark.parametrize("auth", list(AUTH_PROTOCOLS))
def test_auth_key_localization_matches_pysnmp(auth):
    reference = _pysnmp_auth(auth)
    hash_name = AUTH_PROTOCOLS[auth][0]
    ku = password_to_key(AUTH_SECRET.encode(), hash_name)
    assert ku == bytes(reference.hash_passphrase(AUTH_SECRET.encode()))
    assert localize_key(ku, ENGINE_ID, hash_name) == bytes(reference.localize_key(ku, OctetString(ENGINE_ID)))


@pytest.mark.parametrize("priv", list(PRIV_PROTOCOLS))
@pytest.mark.parametrize("auth", list(AUTH_PROTOCOLS))
def test_priv_key_localization_and_extension_match_pysnmp(auth, priv):
    reference = _pysnmp_priv(priv)
    auth_id = _pysnmp_auth(auth).SERVICE_ID if auth in ("md5", "sha") else {
        "sha224": (1, 3, 6, 1, 6, 3, 10, 1, 1, 4), "sha256": (1, 3, 6, 1, 6, 3, 10, 1, 1, 5),
        "sha384": (1, 3, 6, 1, 6, 3, 10, 1, 1, 6), "sha512": (1, 3, 6, 1, 6, 3, 10, 1, 1, 7)}[auth]
    ku = password_to_key(PRIV_SECRET.encode(), AUTH_PROTOCOLS[auth][0])
    assert ku == bytes(reference.hash_passphrase(auth_id, PRIV_SECRET.encode()))
    expected = bytes(reference.localize_key(auth_id, ku, OctetString(ENGINE_ID)))
    size = PRIV_PROTOCOLS[priv][0]
    if priv == "des":
        expected = expected[:16]  # pysnmp keeps the whole localized key and slices when ciphering
    assert localized_priv_key(auth, priv, ku, ENGINE_ID) == expected[:size]
    assert len(expected) >= size


def test_the_two_key_extensions_differ_where_they_apply():
    kul = localize_key(password_to_key(PRIV_SECRET.encode(), "md5"), ENGINE_ID, "md5")
    blumenthal = extend_key_blumenthal(kul, 32, "md5")
    reeder = extend_key_reeder(kul, 32, ENGINE_ID, "md5")
    assert blumenthal[:16] == reeder[:16] == kul and blumenthal != reeder
    long = localize_key(password_to_key(PRIV_SECRET.encode(), "sha512"), ENGINE_ID, "sha512")
    assert localized_priv_key("sha512", "aes256", password_to_key(PRIV_SECRET.encode(), "sha512"), ENGINE_ID) \
        == localized_priv_key("sha512", "aes256c", password_to_key(PRIV_SECRET.encode(), "sha512"), ENGINE_ID) \
        == long[:32]  # long enough: no extension, both are the plain truncation


def test_precomputed_hmac_equals_the_hmac_module():
    for auth, (hash_name, length) in AUTH_PROTOCOLS.items():
        keys = usm_keys(user(auth, "none"), ENGINE_ID)
        key = localize_key(password_to_key(AUTH_SECRET.encode(), hash_name), ENGINE_ID, hash_name)
        message = random.Random(auth).randbytes(333)
        assert keys.mac(message) == hmac.digest(key, message, hash_name)[:length]
        zeroed = message[:100] + bytes(length) + message[100 + length:]
        assert keys.mac_around(message[:100], message[100 + length:]) == keys.mac(zeroed)


def test_localized_keys_are_cached_per_user_and_engine():
    fresh = UsmUser("cache-probe", "sha224", "Cache-Pass-1", "aes256c", "Cache-Pass-2")  # 28 < 32: extended
    before = snmp_usm.derivations
    first = usm_keys(fresh, ENGINE_ID)
    assert snmp_usm.derivations - before == 3  # two pass phrases + the Reeder extension
    assert usm_keys(fresh, ENGINE_ID) is first
    assert UsmSession(fresh, ENGINE_ID).keys is first
    usm_keys(fresh, ENGINE_ID[:-1] + b"\x01")  # another engine: only the Reeder step is redone
    assert snmp_usm.derivations - before == 4


# --- encryption --------------------------------------------------------------------------------------

@pytest.mark.parametrize("priv", list(PRIV_PROTOCOLS))
def test_encrypt_decrypt_round_trip_and_pysnmp_decrypts_it(priv):
    keys = usm_keys(user("sha", priv), ENGINE_ID)
    reference = _pysnmp_priv(priv)
    plaintext = random.Random(priv).randbytes(157)
    for salt in (0, 1, 0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF):
        ciphertext, priv_params = keys.encrypt(plaintext, 7, 123456, salt)
        assert len(priv_params) == 8
        assert len(ciphertext) == (160 if priv == "des" else 157)
        decrypted = keys.decrypt(ciphertext, 7, 123456, priv_params)
        assert decrypted[:157] == plaintext
        # pysnmp decrypts with the same localized key and parameters
        from pyasn1.type import univ
        key = localized_priv_key("sha", priv, password_to_key(PRIV_SECRET.encode(), "sha1"), ENGINE_ID)
        theirs = reference.decrypt_data(univ.OctetString(key), (7, 123456, univ.OctetString(priv_params)),
                                        univ.OctetString(ciphertext))
        assert bytes(theirs)[:157] == plaintext


def test_aes_decryption_of_empty_and_odd_lengths():
    keys = usm_keys(user("sha", "aes"), ENGINE_ID)
    for size in (0, 1, 15, 16, 17, 31, 32, 33, 1000):
        plaintext = bytes(range(256)) * 4
        ciphertext, params = keys.encrypt(plaintext[:size], 1, 2, 3)
        assert keys.decrypt(ciphertext, 1, 2, params) == plaintext[:size]


# --- messages ------------------------------------------------------------------------------------------

def _agent_answer(session: UsmSession, msg_id: int, pdu: bytes, boots: int = 5, engine_time: int = 900) -> bytes:
    """What an agent would send: our encoder with the PDU of a Response (it is symmetric)."""
    return session.encode(msg_id, boots, engine_time, pdu, 99)


def _response(request_id: int) -> bytes:
    return encode_pdu(PduType.RESPONSE, request_id, 0, 0, [(SYS_NAME, Value(Kind.OCTETS, b"netvigil-snmpd")),
                                                          ("1.3.6.1.2.1.1.3.0", Value(Kind.TIMETICKS, 4242))])


LEVELS = [("none", "none")] + [(auth, priv) for auth in AUTH_PROTOCOLS for priv in ["none", *PRIV_PROTOCOLS]]


@pytest.mark.parametrize("auth, priv", LEVELS)
def test_message_round_trip(auth, priv):
    session = UsmSession(user(auth, priv, context="ctx-1"), ENGINE_ID)
    message = decode_v3(_agent_answer(session, 0x1234567, _response(0x2345678)), session)
    assert message.msg_id == 0x1234567
    assert message.authenticated == (auth != "none") and message.encrypted == (priv != "none")
    assert (message.engine_id, message.boots, message.time) == (ENGINE_ID, 5, 900)
    assert message.context_engine_id == ENGINE_ID and message.context_name == b"ctx-1"
    assert message.pdu.request_id == 0x2345678
    assert message.pdu.varbinds[0] == (SYS_NAME, Value(Kind.OCTETS, b"netvigil-snmpd"))


def test_request_is_what_pysnmp_decodes():
    """Our request, decoded by pyasn1 with pysnmp's v3 message spec, has the fields RFC 3412/3414 ask for."""
    from pyasn1.codec.ber import decoder
    from pysnmp.proto.mpmod.rfc3412 import SNMPv3Message
    from pysnmp.proto.secmod.rfc3414.service import UsmSecurityParameters
    session = UsmSession(user("sha256", "aes"), ENGINE_ID)
    request = session.encode(0x1234567, 3, 77, PduTemplate(PduType.GET, [SYS_NAME]).encode(0x2345678), 1)
    message, rest = decoder.decode(request, asn1Spec=SNMPv3Message())
    assert rest == b""
    header = message["msgGlobalData"]
    assert int(header["msgID"]) == 0x1234567 and int(header["msgMaxSize"]) == 65507
    assert bytes(header["msgFlags"]) == bytes((FLAG_AUTH | FLAG_PRIV | FLAG_REPORTABLE,))
    assert int(header["msgSecurityModel"]) == 3
    usm, rest = decoder.decode(bytes(message["msgSecurityParameters"]), asn1Spec=UsmSecurityParameters())
    assert rest == b""
    assert bytes(usm["msgAuthoritativeEngineId"]) == ENGINE_ID
    assert (int(usm["msgAuthoritativeEngineBoots"]), int(usm["msgAuthoritativeEngineTime"])) == (3, 77)
    assert bytes(usm["msgUserName"]) == b"nv-user"
    assert len(bytes(usm["msgAuthenticationParameters"])) == 24  # HMAC-SHA-256-192
    assert len(bytes(usm["msgPrivacyParameters"])) == 8
    # The digest is an HMAC over the whole message with the digest zero-filled.
    digest = bytes(usm["msgAuthenticationParameters"])
    zeroed = request.replace(digest, bytes(24))
    key = localize_key(password_to_key(AUTH_SECRET.encode(), "sha256"), ENGINE_ID, "sha256")
    assert hmac.digest(key, zeroed, "sha256")[:24] == digest


def test_discovery_probe_is_a_plain_reportable_empty_get():
    datagram = encode_discovery(0x1000001, 0x1000002)
    assert is_v3(datagram)
    parsed = parse_v3(datagram)
    assert parsed.flags == FLAG_REPORTABLE and parsed.engine_id == b"" and parsed.user_name == b""
    assert (parsed.boots, parsed.time, parsed.priv_params) == (0, 0, b"")
    start, stop = parsed.data
    # contextEngineID and contextName are empty, then an empty GET
    assert datagram[start:start + 4] == b"\x04\x00\x04\x00"
    pdu = decode_pdu(datagram, start + 4, stop, REQUEST_PDUS)
    assert pdu.type == PduType.GET and pdu.request_id == 0x1000002 and pdu.varbinds == ()


def test_wrong_key_is_a_usm_security_error():
    ours = UsmSession(user("sha", "aes"), ENGINE_ID)
    theirs = UsmSession(UsmUser("nv-user", "sha", "another-auth-phrase", "aes", PRIV_SECRET), ENGINE_ID)
    with pytest.raises(UsmSecurityError, match="wrong digest"):
        decode_v3(_agent_answer(theirs, 0x1234567, _response(1 << 24)), ours)
    wrong_priv = UsmSession(UsmUser("nv-user", "sha", AUTH_SECRET, "aes", "another-priv-phrase"), ENGINE_ID)
    with pytest.raises(UsmSecurityError, match="decrypt"):
        decode_v3(_agent_answer(wrong_priv, 0x1234567, _response(1 << 24)), ours)
    other_user = UsmSession(UsmUser("someone", "none"), ENGINE_ID)
    with pytest.raises(UsmSecurityError, match="user name"):
        decode_v3(_agent_answer(other_user, 0x1234567, _response(1 << 24)), UsmSession(UsmUser("nv-user"), ENGINE_ID))


def _fuzz(datagram: bytes, session: UsmSession, flips_per_byte: int = 2) -> tuple[int, int, int]:
    """(decode errors, USM errors, accepted) over every truncation and byte flips; never another exception."""
    counts = [0, 0, 0]
    rng = random.Random(len(datagram))
    candidates = [datagram[:cut] for cut in range(len(datagram))]
    for index in range(len(datagram)):
        for _ in range(flips_per_byte):
            candidates.append(datagram[:index] + bytes((datagram[index] ^ rng.randrange(1, 256),))
                              + datagram[index + 1:])
    candidates += [datagram + b"\x00", b"", b"\x30", b"\x30\x84\xff\xff\xff\xff", rng.randbytes(300)]
    for candidate in candidates:
        try:
            decode_v3(candidate, session)
        except UsmSecurityError as exc:
            assert exc.reason and AUTH_SECRET not in exc.reason
            counts[1] += 1
        except SnmpDecodeError as exc:
            assert exc.reason
            counts[0] += 1
        else:
            counts[2] += 1
    return tuple(counts)


@pytest.mark.parametrize("auth, priv", [("none", "none"), ("md5", "none"), ("sha", "des"), ("sha256", "aes"),
                                        ("sha512", "aes256c")])
def test_fuzzed_answers_fail_cleanly(auth, priv):
    session = UsmSession(user(auth, priv), ENGINE_ID)
    answer = _agent_answer(session, 0x1234567, _response(0x2345678))
    decode_errors, usm_errors, accepted = _fuzz(answer, session)
    assert decode_errors > len(answer)  # every truncation at least
    if auth != "none":
        assert usm_errors > 0
        # With a digest, a flipped byte is never accepted except where the HMAC does not reach:
        # nowhere (it covers the whole message). Length-preserving flips all fail the digest.
        assert accepted == 0


def test_pysnmp_built_report_decodes():
    """A Report as an independent encoder (pyasn1) writes it: unknownEngineID discovery answer."""
    from pyasn1.codec.ber import encoder
    from pysnmp.proto import api
    from pysnmp.proto.mpmod.rfc3412 import SNMPv3Message
    from pysnmp.proto.secmod.rfc3414.service import UsmSecurityParameters
    v2c = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]
    pdu = v2c.ReportPDU()
    v2c.apiPDU.set_defaults(pdu)
    v2c.apiPDU.set_request_id(pdu, 0x1000002)
    v2c.apiPDU.set_varbinds(pdu, [((1, 3, 6, 1, 6, 3, 15, 1, 1, 4, 0), v2c.Counter32(3))])
    usm = UsmSecurityParameters()
    usm["msgAuthoritativeEngineId"] = ENGINE_ID
    usm["msgAuthoritativeEngineBoots"] = 4
    usm["msgAuthoritativeEngineTime"] = 1234
    usm["msgUserName"] = b""
    usm["msgAuthenticationParameters"] = b""
    usm["msgPrivacyParameters"] = b""
    message = SNMPv3Message()
    message["msgVersion"] = 3
    header = message["msgGlobalData"]
    header["msgID"] = 0x1000001
    header["msgMaxSize"] = 65507
    header["msgFlags"] = b"\x00"
    header["msgSecurityModel"] = 3
    message["msgSecurityParameters"] = encoder.encode(usm)
    scoped = message["msgData"]["plaintext"]
    scoped["contextEngineId"] = ENGINE_ID
    scoped["contextName"] = b""
    scoped["data"]["report"] = pdu
    decoded = decode_v3(encoder.encode(message))
    assert (decoded.msg_id, decoded.engine_id, decoded.boots, decoded.time) == (0x1000001, ENGINE_ID, 4, 1234)
    assert decoded.pdu.type == PduType.REPORT
    assert decoded.pdu.varbinds == (("1.3.6.1.6.3.15.1.1.4.0", Value(Kind.COUNTER32, 3)),)


def test_v1_v2c_messages_are_not_v3():
    from probes.snmp.ber import VERSION_2C, RequestTemplate
    request = RequestTemplate(VERSION_2C, b"public", PduType.GET, [SYS_NAME]).encode(1 << 24)
    assert not is_v3(request) and not is_v3(b"") and not is_v3(b"\x30\x03\x02\x01")
    with pytest.raises(SnmpDecodeError, match="not an SNMPv3"):
        parse_v3(request)


# --- users and secrets ---------------------------------------------------------------------------------

def test_user_levels():
    assert UsmUser("a").level == "noAuthNoPriv"
    assert user("md5", "none").level == "authNoPriv"
    assert user("sha512", "aes256c").level == "authPriv"


@pytest.mark.parametrize("kwargs, message", [
    (dict(name="u", auth_protocol="sha", auth_passphrase="short"), "at least 8"),
    (dict(name="u", auth_protocol="sha", auth_passphrase="long-enough", priv_protocol="aes",
          priv_passphrase="short"), "at least 8"),
    (dict(name="u", priv_protocol="aes", priv_passphrase="long-enough"), "privacy needs authentication"),
    (dict(name="u", auth_protocol="Secret-In-The-Wrong-Field", auth_passphrase="x" * 10), "unknown auth protocol"),
    (dict(name="u", auth_protocol="sha", auth_passphrase="x" * 10, priv_protocol="3des",
          priv_passphrase="y" * 10), "unknown priv protocol"),
    (dict(name=""), "1 to 32"),
    (dict(name="x" * 33), "1 to 32"),
])
def test_user_validation_never_quotes_a_secret(kwargs, message):
    with pytest.raises(ValueError, match=message) as info:
        UsmUser(**kwargs)
    text = str(info.value)
    for field in ("auth_passphrase", "priv_passphrase", "auth_protocol"):
        value = kwargs.get(field)
        if value and value not in ("sha", "aes"):
            assert value not in text


def test_reprs_hold_no_secret_and_no_key():
    u = user("sha256", "aes256")
    session = UsmSession(u, ENGINE_ID)
    key = localize_key(password_to_key(AUTH_SECRET.encode(), "sha256"), ENGINE_ID, "sha256")
    for text in (repr(u), str(u), repr(session), repr(session.keys), repr(usm_keys(u, ENGINE_ID))):
        assert AUTH_SECRET not in text and PRIV_SECRET not in text
        assert key.hex() not in text and repr(key) not in text
    assert "nv-user" in repr(u) and "sha256" in repr(u)


def test_truncated_answers_still_name_their_msg_id():
    session = UsmSession(user("sha", "aes"), ENGINE_ID)
    answer = _agent_answer(session, 0x1234567, _response(0x2345678))
    # 30 LL.. | 02 01 03 | 30 11 | 02 04 <msgID>
    complete = answer.index(b"\x30\x11\x02\x04\x01\x23\x45\x67") + 8
    for cut in range(complete, len(answer)):
        with pytest.raises(SnmpDecodeError) as info:
            parse_v3(answer[:cut])
        assert info.value.msg_id == 0x1234567, cut
    for cut in range(0, complete):  # the msgID did not arrive whole
        with pytest.raises(SnmpDecodeError) as info:
            parse_v3(answer[:cut])
        assert info.value.msg_id is None
