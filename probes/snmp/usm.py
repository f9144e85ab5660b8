"""SNMPv3 with the User-based Security Model (USM) for the hand-written hot path. Pure: no I/O.

Why by hand: the poller's SNMP client (probes/snmp/client.py) exists because pysnmp costs
about 2 ms of CPU per GET; going through pysnmp for v3 would bring that back. This module
adds what v3 needs around the PDU codec of probes/snmp/ber.py:

* `UsmUser`: a user's name, protocols and pass phrases (never in a repr or an error);
* key derivation: password to key (RFC 3414 A.2), localization to an engine ID, and the two
  incompatible ways of extending a short key for AES-192/256 (Blumenthal, draft-blumenthal-
  aes-usm-04, net-snmp "AES-192"; Reeder/Cisco, draft-reeder-snmpv3-usm-3desede, net-snmp
  "AES-192-C"). Deriving a key hashes 1 MiB, so results are cached (`usm_keys`);
* `UsmSession`: one user talking to one engine: localized keys plus the pre-encoded constant
  parts of every message, so a request costs a few concatenations, one HMAC and one cipher;
* decoding in two steps: `parse_v3` reads the plaintext header (enough to find the request a
  datagram answers by its msgID), `UsmSession.open` verifies the digest before anything else
  is trusted, decrypts, and decodes the scoped PDU.

Protocols: HMAC-MD5-96, HMAC-SHA-96 (RFC 3414), HMAC-SHA-2 (RFC 7860); DES-CBC (RFC 3414),
AES-128-CFB (RFC 3826), AES-192/256-CFB with either key extension. 3DES is left out: the
net-snmp agent of the test lab cannot do it, so nothing here could be tested against a real
agent (lab/snmplab.py UNSUPPORTED).

Decoding never trusts the input: lengths are checked against their container, and any defect
raises `SnmpDecodeError` whose reason never quotes packet contents; a well-formed message
that fails the security checks (digest, decryption) raises its subclass `UsmSecurityError`.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from dataclasses import dataclass, field
from typing import Literal, NamedTuple, Optional

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

try:  # cryptography >= 47 keeps the legacy ciphers and modes SNMP needs in "decrepit"
    from cryptography.hazmat.decrepit.ciphers.modes import CFB
except ImportError:  # pragma: no cover - older cryptography
    from cryptography.hazmat.primitives.ciphers.modes import CFB
try:
    from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
except ImportError:  # pragma: no cover - older cryptography
    from cryptography.hazmat.primitives.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers.modes import CBC, ECB

from probes.snmp.ber import (ANSWER_PDUS, Pdu, PduType, SnmpDecodeError, _length, decode_pdu,
                             read_header, read_small_integer)

AuthProtocol = Literal["none", "md5", "sha", "sha224", "sha256", "sha384", "sha512"]
PrivProtocol = Literal["none", "des", "aes", "aes192", "aes256", "aes192c", "aes256c"]

# auth protocol -> (hashlib name, length of msgAuthenticationParameters: the truncated HMAC)
AUTH_PROTOCOLS: dict[str, tuple[str, int]] = {
    "md5": ("md5", 12), "sha": ("sha1", 12),  # RFC 3414: HMAC-MD5-96, HMAC-SHA-96
    "sha224": ("sha224", 16), "sha256": ("sha256", 24),  # RFC 7860 usmHMAC128SHA224, usmHMAC192SHA256
    "sha384": ("sha384", 32), "sha512": ("sha512", 48),  # usmHMAC256SHA384, usmHMAC384SHA512
}
# priv protocol -> (octets of localized key it needs, key extension when the hash is shorter).
# DES needs 16: 8 key octets and 8 pre-IV octets (RFC 3414 8.1.1.1).
PRIV_PROTOCOLS: dict[str, tuple[int, Optional[str]]] = {
    "des": (16, None), "aes": (16, None),
    "aes192": (24, "blumenthal"), "aes256": (32, "blumenthal"),
    "aes192c": (24, "reeder"), "aes256c": (32, "reeder"),
}

SECURITY_MODEL_USM = 3
MSG_MAX_SIZE = 65507  # the largest UDP payload over IPv4: what this manager can receive
FLAG_AUTH, FLAG_PRIV, FLAG_REPORTABLE = 0x01, 0x02, 0x04
_MAX_INT32 = 0x7FFFFFFF
_MAX_ENGINE_ID = 32  # RFC 3411 SnmpEngineID: 5..32 octets
_MAX_ADMIN_STRING = 255  # SnmpAdminString (context names); user names are 1..32
_PASSWORD_EXPANSION = 1_048_576  # RFC 3414 A.2: the pass phrase is repeated to 1 MiB, then hashed

# Report PDU varbinds (RFC 3414 usmStats*, RFC 3412 snmp* MPD stats, RFC 3411 contexts):
# OID -> (counter name, what it means for this manager).
USM_STATS = "1.3.6.1.6.3.15.1.1"
UNSUPPORTED_SEC_LEVELS = f"{USM_STATS}.1.0"
NOT_IN_TIME_WINDOWS = f"{USM_STATS}.2.0"
UNKNOWN_USER_NAMES = f"{USM_STATS}.3.0"
UNKNOWN_ENGINE_IDS = f"{USM_STATS}.4.0"
WRONG_DIGESTS = f"{USM_STATS}.5.0"
DECRYPTION_ERRORS = f"{USM_STATS}.6.0"
REPORTS: dict[str, tuple[str, str]] = {
    UNSUPPORTED_SEC_LEVELS: ("usmStatsUnsupportedSecLevels",
                             "unsupported security level: the agent's user does not have the authentication/privacy "
                             "this user is configured with"),
    NOT_IN_TIME_WINDOWS: ("usmStatsNotInTimeWindows", "not in time window"),
    UNKNOWN_USER_NAMES: ("usmStatsUnknownUserNames", "unknown user name"),
    UNKNOWN_ENGINE_IDS: ("usmStatsUnknownEngineIDs", "unknown engine ID"),
    WRONG_DIGESTS: ("usmStatsWrongDigests", "wrong digest (wrong auth pass phrase or auth protocol)"),
    DECRYPTION_ERRORS: ("usmStatsDecryptionErrors", "decryption error (wrong priv pass phrase or priv protocol)"),
    "1.3.6.1.6.3.11.2.1.1.0": ("snmpUnknownSecurityModels", "the agent does not know the USM security model"),
    "1.3.6.1.6.3.11.2.1.2.0": ("snmpInvalidMsgs", "the agent found the request invalid"),
    "1.3.6.1.6.3.11.2.1.3.0": ("snmpUnknownPDUHandlers", "the agent has no handler for the request"),
    "1.3.6.1.6.3.12.1.4.0": ("snmpUnavailableContexts", "the context is unavailable"),
    "1.3.6.1.6.3.12.1.5.0": ("snmpUnknownContexts", "unknown context name"),
}
USM_REPORTS = frozenset(oid for oid in REPORTS if oid.startswith(USM_STATS + "."))


class UsmSecurityError(SnmpDecodeError):
    """A well-formed v3 message that fails USM checks: wrong digest, undecryptable, wrong user or engine."""


# --- users ---------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class UsmUser:
    """An SNMPv3 USM user as configured for a device. Pass phrases never appear in repr or errors.

    aes192/aes256 extend short keys the Blumenthal way (net-snmp AES-192/AES-256),
    aes192c/aes256c the Reeder/Cisco way (net-snmp AES-192-C/AES-256-C).
    """

    name: str
    auth_protocol: AuthProtocol = "none"
    auth_passphrase: str = field(default="", repr=False)
    priv_protocol: PrivProtocol = "none"
    priv_passphrase: str = field(default="", repr=False)
    context_name: str = ""

    def __post_init__(self) -> None:
        # Messages name the field, never its value: a value in the wrong field may be a pass phrase.
        if not isinstance(self.name, str) or not 1 <= len(self.name.encode()) <= 32:
            raise ValueError("a USM user name has 1 to 32 octets")
        if self.auth_protocol != "none" and self.auth_protocol not in AUTH_PROTOCOLS:
            raise ValueError(f"unknown auth protocol for USM user {self.name!r}; "
                             f"use one of: none, {', '.join(AUTH_PROTOCOLS)}")
        if self.priv_protocol != "none" and self.priv_protocol not in PRIV_PROTOCOLS:
            raise ValueError(f"unknown priv protocol for USM user {self.name!r}; "
                             f"use one of: none, {', '.join(PRIV_PROTOCOLS)} (3DES is not supported)")
        if self.priv_protocol != "none" and self.auth_protocol == "none":
            raise ValueError(f"USM user {self.name!r}: privacy needs authentication (there is no noAuthPriv)")
        for protocol, passphrase, what in ((self.auth_protocol, self.auth_passphrase, "auth"),
                                           (self.priv_protocol, self.priv_passphrase, "priv")):
            if protocol != "none" and (not isinstance(passphrase, str) or len(passphrase) < 8):
                raise ValueError(f"USM user {self.name!r}: the {what} pass phrase needs at least 8 characters "
                                 "(RFC 3414 A.2)")
        if not isinstance(self.context_name, str) or len(self.context_name.encode()) > _MAX_ADMIN_STRING:
            raise ValueError("a context name has at most 255 octets")

    @property
    def level(self) -> str:
        """The USM security level: "noAuthNoPriv", "authNoPriv" or "authPriv"."""
        if self.priv_protocol != "none":
            return "authPriv"
        return "authNoPriv" if self.auth_protocol != "none" else "noAuthNoPriv"

    @property
    def flags(self) -> int:
        """msgFlags of this user's requests (reportable, so the agent answers USM errors with reports)."""
        level = self.level
        return FLAG_REPORTABLE | (FLAG_AUTH if level != "noAuthNoPriv" else 0) | (FLAG_PRIV if level == "authPriv" else 0)


# --- keys ----------------------------------------------------------------------------------------

def password_to_key(passphrase: bytes, hash_name: str) -> bytes:
    """Ku: the pass phrase repeated to 1 MiB and hashed (RFC 3414 A.2; RFC 7860 for SHA-2)."""
    if not passphrase:
        raise ValueError("empty pass phrase")
    repeats = -(-_PASSWORD_EXPANSION // len(passphrase))
    return hashlib.new(hash_name, (passphrase * repeats)[:_PASSWORD_EXPANSION]).digest()


def localize_key(key: bytes, engine_id: bytes, hash_name: str) -> bytes:
    """Kul = H(Ku || engineID || Ku) (RFC 3414 2.6): the key only this engine's agent knows."""
    return hashlib.new(hash_name, key + engine_id + key).digest()


def extend_key_blumenthal(localized: bytes, size: int, hash_name: str) -> bytes:
    """draft-blumenthal-aes-usm-04 3.1.2.1: append H(key so far) until long enough (net-snmp AES-192/256)."""
    key = localized
    while len(key) < size:
        key += hashlib.new(hash_name, key).digest()
    return key[:size]


def extend_key_reeder(localized: bytes, size: int, engine_id: bytes, hash_name: str) -> bytes:
    """draft-reeder-snmpv3-usm-3desede 2.1: append the localized key derived from the last part as a
    pass phrase (password-to-key, then localize) until long enough (net-snmp AES-192-C/256-C, Cisco)."""
    key = last = localized
    while len(key) < size:
        last = localize_key(password_to_key(last, hash_name), engine_id, hash_name)
        key += last
    return key[:size]


_CACHE_LIMIT = 65_536
_ku_cache: dict[tuple[str, str], bytes] = {}
_keys_cache: dict[tuple[UsmUser, bytes], "UsmKeys"] = {}
_cache_lock = threading.Lock()  # the caches may be filled from executor threads too
derivations = 0  # password-to-key computations so far (1 MiB hashes); tests check the caches with it


def _bounded_put(cache: dict, key, value) -> None:
    with _cache_lock:
        if len(cache) >= _CACHE_LIMIT:
            cache.pop(next(iter(cache)))  # oldest first: a long-gone device's key goes before a busy one's
        cache[key] = value


def _ku(passphrase: str, hash_name: str) -> bytes:
    global derivations
    key = (hash_name, passphrase)
    ku = _ku_cache.get(key)
    if ku is None:
        ku = password_to_key(passphrase.encode(), hash_name)
        derivations += 1
        _bounded_put(_ku_cache, key, ku)
    return ku


def localized_priv_key(auth_protocol: str, priv_protocol: str, ku: bytes, engine_id: bytes) -> bytes:
    """The privacy key for `priv_protocol` from Ku of the priv pass phrase (hashed with the auth hash)."""
    hash_name = AUTH_PROTOCOLS[auth_protocol][0]
    size, extension = PRIV_PROTOCOLS[priv_protocol]
    key = localize_key(ku, engine_id, hash_name)
    if len(key) >= size:
        return key[:size]
    if extension == "blumenthal":
        return extend_key_blumenthal(key, size, hash_name)
    if extension == "reeder":
        global derivations
        derivations += 1
        return extend_key_reeder(key, size, engine_id, hash_name)
    raise AssertionError("no localized key is shorter than 16 octets")


class UsmKeys:
    """A user's localized keys for one engine, with what signing and ciphering need ready to use."""

    __slots__ = ("user_name", "auth_protocol", "priv_protocol", "hash_name", "mac_length", "_inner", "_outer",
                 "_aes", "_ecb", "_des", "_des_pre_iv", "_zeros")

    def __init__(self, user: UsmUser, engine_id: bytes) -> None:
        self.user_name = user.name.encode()
        self.auth_protocol = user.auth_protocol
        self.priv_protocol = user.priv_protocol
        self.hash_name, self.mac_length = AUTH_PROTOCOLS.get(user.auth_protocol, ("", 0))
        self._inner = self._outer = None
        self._aes = self._ecb = self._des = None
        self._des_pre_iv = b""
        if self.mac_length:
            key = localize_key(_ku(user.auth_passphrase, self.hash_name), engine_id, self.hash_name)
            # HMAC (RFC 2104) with the padded key already hashed into the inner and outer hash
            # states: a message then costs two state copies instead of a fresh HMAC set-up
            # (0.7 instead of 1.7 us here). Tests check it against the hmac module.
            block = hashlib.new(self.hash_name).block_size
            key = key.ljust(block, b"\0")  # localized keys are never longer than a hash block
            self._inner = hashlib.new(self.hash_name, bytes(octet ^ 0x36 for octet in key))
            self._outer = hashlib.new(self.hash_name, bytes(octet ^ 0x5C for octet in key))
        self._zeros = bytes(self.mac_length)
        if user.priv_protocol != "none":
            key = localized_priv_key(user.auth_protocol, user.priv_protocol,
                                     _ku(user.priv_passphrase, self.hash_name), engine_id)
            if user.priv_protocol == "des":
                # Single DES as 3DES with K1 = K2 = K3 (EDE collapses to one DES encryption).
                self._des = TripleDES(key[:8] * 3)
                self._des_pre_iv = key[8:16]
            else:
                self._aes = algorithms.AES(key)
                # CFB decryption only ever runs the block cipher forward on known blocks (IV and
                # the ciphertext), so one reused ECB context gives the whole key stream in one call,
                # 3x cheaper than a CFB context per message. (Single-threaded use: the event loop.)
                self._ecb = Cipher(self._aes, ECB()).encryptor()

    def mac(self, message: bytes | bytearray) -> bytes:
        """The truncated HMAC of `message` (whose auth parameters must be zero-filled)."""
        inner = self._inner.copy()
        inner.update(message)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()[:self.mac_length]

    def mac_around(self, before: bytes | memoryview, after: bytes | memoryview) -> bytes:
        """The truncated HMAC of `before + zero-filled auth parameters + after`, without building it."""
        inner = self._inner.copy()
        inner.update(before)
        inner.update(self._zeros)
        inner.update(after)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()[:self.mac_length]

    def encrypt(self, plaintext: bytes, boots: int, engine_time: int, salt: int) -> tuple[bytes, bytes]:
        """(ciphertext, msgPrivacyParameters). `salt` is this manager's counter (64 bits for AES)."""
        if self._aes is not None:
            # RFC 3826 3.1.2.1: IV = boots | time | 64-bit salt; the salt is sent as privParameters.
            salt_octets = (salt & 0xFFFFFFFFFFFFFFFF).to_bytes(8, "big")
            iv = boots.to_bytes(4, "big") + engine_time.to_bytes(4, "big") + salt_octets
            encryptor = Cipher(self._aes, CFB(iv)).encryptor()
            return encryptor.update(plaintext) + encryptor.finalize(), salt_octets
        # RFC 3414 8.1.1.1: salt = boots | 32-bit counter; IV = pre-IV XOR salt; pad to 8 octets
        # (the padding is ignored by the receiver, which reads the scoped PDU's own length).
        salt_octets = boots.to_bytes(4, "big") + (salt & 0xFFFFFFFF).to_bytes(4, "big")
        iv = bytes(a ^ b for a, b in zip(self._des_pre_iv, salt_octets))
        padding = -len(plaintext) % 8
        encryptor = Cipher(self._des, CBC(iv)).encryptor()
        return encryptor.update(plaintext + bytes(padding)) + encryptor.finalize(), salt_octets

    def decrypt(self, ciphertext: bytes, boots: int, engine_time: int, priv_params: bytes) -> bytes:
        if len(priv_params) != 8:
            raise UsmSecurityError("privacy parameters are not 8 octets")
        if self._aes is not None:
            # CFB-128: P_i = C_i XOR E(C_{i-1}), C_0 = IV (RFC 3826 3.1.4).
            size = len(ciphertext)
            if not size:
                return b""
            iv = boots.to_bytes(4, "big") + engine_time.to_bytes(4, "big") + priv_params
            stream = self._ecb.update(iv + ciphertext[:(size - 1) // 16 * 16])
            return (int.from_bytes(stream[:size], "big") ^ int.from_bytes(ciphertext, "big")).to_bytes(size, "big")
        if not ciphertext or len(ciphertext) % 8:
            raise UsmSecurityError("DES ciphertext is not a positive multiple of 8 octets")
        iv = bytes(a ^ b for a, b in zip(self._des_pre_iv, priv_params))
        decryptor = Cipher(self._des, CBC(iv)).decryptor()
        return decryptor.update(ciphertext) + decryptor.finalize()

    def __repr__(self) -> str:  # the keys stay out
        return f"UsmKeys({self.user_name.decode(errors='replace')!r}, {self.auth_protocol}, {self.priv_protocol})"


def usm_keys(user: UsmUser, engine_id: bytes) -> UsmKeys:
    """The user's keys localized for `engine_id`, from a bounded cache (derivation hashes 1 MiB)."""
    cache_key = (user, engine_id)
    keys = _keys_cache.get(cache_key)
    if keys is None:
        keys = UsmKeys(user, engine_id)
        _bounded_put(_keys_cache, cache_key, keys)
    return keys


# --- encoding ------------------------------------------------------------------------------------

# Length octets of the sizes requests have, looked up instead of computed (a request is encoded
# with four of them).
_LENGTHS = tuple(_length(n) for n in range(2048))


def _len(n: int) -> bytes:
    return _LENGTHS[n] if n < 2048 else _length(n)


def _octets(content: bytes) -> bytes:
    return b"\x04" + _length(len(content)) + content


def _unsigned31(n: int) -> bytes:
    """INTEGER TLV of 0 <= n < 2^31 (boots, time), minimal."""
    content = n.to_bytes(n.bit_length() // 8 + 1, "big")
    return b"\x02" + bytes((len(content),)) + content


# msgGlobalData after the msgID: msgMaxSize 65507, then msgFlags (filled in), then securityModel 3.
_MAX_SIZE_TLV = b"\x02\x03" + MSG_MAX_SIZE.to_bytes(3, "big")
# version 3, then msgGlobalData (17 octets: 4-octet msgID, 3-octet max size, 1 flag octet, model).
_HEAD = b"\x02\x01\x03\x30\x11\x02\x04"


def _global_tail(flags: int) -> bytes:
    return _MAX_SIZE_TLV + b"\x04\x01" + bytes((flags,)) + b"\x02\x01\x03"


_DISCOVERY_TAIL = _global_tail(FLAG_REPORTABLE)
# Discovery (RFC 3414 4): no engine ID, no user, boots/time 0, no auth/priv parameters.
_DISCOVERY_SECURITY = _octets(b"\x30\x0e\x04\x00\x02\x01\x00\x02\x01\x00\x04\x00\x04\x00\x04\x00")
_DISCOVERY_SCOPE = b"\x04\x00\x04\x00"  # empty contextEngineID and contextName


def encode_discovery(msg_id: int, request_id: int) -> bytes:
    """The engine discovery probe: an empty GET, noAuthNoPriv, reportable, no engine ID.

    The agent answers with a Report of usmStatsUnknownEngineIDs whose security parameters
    carry its engine ID, boots and time.
    """
    pdu = bytes((PduType.GET,)) + b"\x0e\x02\x04" + request_id.to_bytes(4, "big") + b"\x02\x01\x00\x02\x01\x00\x30\x00"
    scoped = b"\x30" + _length(len(_DISCOVERY_SCOPE) + len(pdu)) + _DISCOVERY_SCOPE + pdu
    body = _HEAD + msg_id.to_bytes(4, "big") + _DISCOVERY_TAIL + _DISCOVERY_SECURITY + scoped
    return b"\x30" + _length(len(body)) + body


class UsmSession:
    """One user talking to one authoritative engine: keys and the constant parts of every message."""

    __slots__ = ("user", "engine_id", "keys", "flags", "level_flags", "_tail", "_scope", "_engine_tlv",
                 "_user_auth_head", "_usm_fixed", "_mac_length", "_priv", "_auth")

    def __init__(self, user: UsmUser, engine_id: bytes) -> None:
        if not 1 <= len(engine_id) <= _MAX_ENGINE_ID:
            raise ValueError("an engine ID has 1 to 32 octets")
        self.user = user
        self.engine_id = engine_id
        self.keys = usm_keys(user, engine_id)
        self.flags = user.flags
        self.level_flags = self.flags & (FLAG_AUTH | FLAG_PRIV)
        self._auth = bool(self.flags & FLAG_AUTH)
        self._priv = bool(self.flags & FLAG_PRIV)
        self._mac_length = self.keys.mac_length
        self._tail = _global_tail(self.flags)
        self._scope = _octets(engine_id) + _octets(user.context_name.encode())
        self._engine_tlv = _octets(engine_id)
        # msgUserName, then the header of msgAuthenticationParameters (its zeros/HMAC come after)
        self._user_auth_head = _octets(user.name.encode()) + b"\x04" + bytes((self._mac_length,))
        # USM SEQUENCE content other than boots and time: engine ID, user, auth and priv parameters
        self._usm_fixed = (len(self._engine_tlv) + len(self._user_auth_head) + self._mac_length
                           + (10 if self._priv else 2))

    def encode(self, msg_id: int, boots: int, engine_time: int, pdu: bytes, salt: int) -> bytes:
        """A complete request message around an encoded PDU, encrypted and signed as the user's level says.

        `msg_id` lies in [2^23, 2^31) (4 octets, like request ids); `salt` is a per-message counter.
        """
        body = self._scope + pdu
        scoped = b"\x30" + _len(len(body)) + body
        if self._priv:
            ciphertext, priv_params = self.keys.encrypt(scoped, boots, engine_time, salt)
            after_mac = b"\x04\x08" + priv_params + b"\x04" + _len(len(ciphertext)) + ciphertext
        else:
            after_mac = b"\x04\x00" + scoped
        times = _unsigned31(boots) + _unsigned31(engine_time)
        usm_length = self._usm_fixed + len(times)
        usm_head = b"\x30" + _len(usm_length)
        before_mac = (_HEAD + msg_id.to_bytes(4, "big") + self._tail + b"\x04" + _len(len(usm_head) + usm_length)
                      + usm_head + self._engine_tlv + times + self._user_auth_head)
        before_mac = b"\x30" + _len(len(before_mac) + self._mac_length + len(after_mac)) + before_mac
        if not self._auth:
            return before_mac + after_mac
        # RFC 3414 6.3.1: the HMAC covers the whole message with the auth parameters zero-filled.
        return before_mac + self.keys.mac_around(before_mac, after_mac) + after_mac

    def open(self, parsed: "ParsedV3", data: bytes) -> "V3Message":
        """Check and decode a parsed answer to this session's request.

        Order matters: the digest is verified before anything in the message is believed or
        decrypted. Raises UsmSecurityError for USM failures, SnmpDecodeError for other defects.
        """
        authenticated = bool(parsed.flags & FLAG_AUTH)
        if authenticated:
            if not self._auth:
                raise UsmSecurityError("authenticated answer to a user without authentication")
            if parsed.engine_id != self.engine_id:
                raise UsmSecurityError("authenticated answer from another engine ID")
            start, stop = parsed.auth_params
            if stop - start != self._mac_length:
                raise UsmSecurityError("authentication parameters of the wrong length")
            view = memoryview(data)
            if not hmac.compare_digest(self.keys.mac_around(view[:start], view[stop:]), data[start:stop]):
                raise UsmSecurityError("wrong digest in the answer")
        elif parsed.auth_params[1] != parsed.auth_params[0] or parsed.priv_params:
            raise SnmpDecodeError("unauthenticated message with security parameters")
        if parsed.user_name != self.keys.user_name:
            raise UsmSecurityError("answer for another user name")
        start, stop = parsed.data
        if parsed.flags & FLAG_PRIV:
            if not self._priv:
                raise UsmSecurityError("encrypted answer to a user without privacy")
            plain = self.keys.decrypt(data[start:stop], parsed.boots, parsed.time, parsed.priv_params)
            try:
                return _scoped_pdu(parsed, plain, 0, len(plain), authenticated, True,
                                   8 if self.keys.priv_protocol == "des" else 0)
            except SnmpDecodeError as exc:
                # The digest was right, so the agent sent what it meant: our key is wrong.
                raise UsmSecurityError(f"the answer could not be decrypted ({exc.reason}): "
                                       "wrong priv pass phrase or priv protocol") from None
        return _scoped_pdu(parsed, data, start, stop, authenticated, False, 0)

    def __repr__(self) -> str:
        return f"UsmSession({self.user!r}, engine {self.engine_id.hex()})"


# --- decoding ------------------------------------------------------------------------------------

class ParsedV3(NamedTuple):
    """The plaintext parts of a v3 message, checked for form only. Offsets index the datagram."""

    msg_id: int
    flags: int
    engine_id: bytes
    boots: int
    time: int
    user_name: bytes
    auth_params: tuple[int, int]
    priv_params: bytes
    data: tuple[int, int]  # the scoped PDU's SEQUENCE content, or the encrypted octets


class V3Message(NamedTuple):
    """A decoded, verified v3 answer."""

    msg_id: int
    authenticated: bool
    encrypted: bool
    engine_id: bytes
    boots: int
    time: int
    user_name: bytes
    context_engine_id: bytes
    context_name: bytes
    pdu: Pdu


def is_v3(data: bytes) -> bool:
    """Whether `data` claims to be an SNMPv3 message (version INTEGER 3 right inside the outer SEQUENCE)."""
    if len(data) < 5 or data[0] != 0x30:
        return False
    first = data[1]
    pos = 2 if first < 0x80 else 2 + (first & 0x7F)
    return data[pos:pos + 3] == b"\x02\x01\x03"


def _element(data: bytes, pos: int, end: int, tag: int, what: str) -> tuple[int, int]:
    """(content start, content end) of the element at `pos`, which must have `tag` and end by `end`.

    One flat call per element (short lengths read inline): a v3 header has 15 of them.
    """
    if pos + 2 > end:
        raise SnmpDecodeError(f"{what} truncated")
    if data[pos] != tag:
        raise SnmpDecodeError(f"{what} has the wrong type")
    length = data[pos + 1]
    if length < 0x80:
        stop = pos + 2 + length
        if stop > end:
            raise SnmpDecodeError(f"{what} longer than what contains it")
        return pos + 2, stop
    _, start, stop = read_header(data, pos, end)
    return start, stop


def _uint31(data: bytes, pos: int, end: int, what: str) -> tuple[int, int]:
    """(value, next position) of an INTEGER that must lie in 0..2^31-1."""
    start, stop = _element(data, pos, end, 0x02, what)
    if not 0 < stop - start <= 5:
        raise SnmpDecodeError(f"{what} has a bad length")
    value = int.from_bytes(data[start:stop], "big", signed=True)
    if not 0 <= value <= _MAX_INT32:
        raise SnmpDecodeError(f"{what} out of range")
    return value, stop


def _peek_msg_id(data: bytes) -> Optional[int]:
    """The msgID of a broken (e.g. truncated) v3 datagram, if the bytes up to it are intact.

    Outer lengths are not checked: a datagram cut short still names the request it answers.
    """
    try:
        if data[0] != 0x30:
            return None
        pos = 2 if data[1] < 0x80 else 2 + (data[1] & 0x7F)
        if data[pos:pos + 3] != b"\x02\x01\x03" or data[pos + 3] != 0x30:
            return None
        pos += 4
        pos += 1 if data[pos] < 0x80 else 1 + (data[pos] & 0x7F)
        size = data[pos + 1]
        if data[pos] != 0x02 or not 0 < size <= 5 or pos + 2 + size > len(data):
            return None
        value = int.from_bytes(data[pos + 2:pos + 2 + size], "big", signed=True)
        return value if 0 <= value <= _MAX_INT32 else None
    except IndexError:
        return None


def parse_v3(data: bytes) -> ParsedV3:
    """The header and USM parameters of a v3 datagram; SnmpDecodeError (with `msg_id` once known) if bad."""
    msg_id: Optional[int] = None
    try:
        end = len(data)
        start, stop = _element(data, 0, end, 0x30, "message")
        if stop != end:
            raise SnmpDecodeError("bytes after the message")
        if data[start:start + 3] != b"\x02\x01\x03":
            raise SnmpDecodeError("not an SNMPv3 message")
        pos, global_end = _element(data, start + 3, end, 0x30, "msgGlobalData")
        msg_id, pos = _uint31(data, pos, global_end, "msgID")
        max_size, pos = _uint31(data, pos, global_end, "msgMaxSize")
        if max_size < 484:
            raise SnmpDecodeError("msgMaxSize below 484")
        start, pos = _element(data, pos, global_end, 0x04, "msgFlags")
        if pos - start != 1:
            raise SnmpDecodeError("msgFlags is not one octet")
        flags = data[start]
        if flags & FLAG_PRIV and not flags & FLAG_AUTH:
            raise SnmpDecodeError("msgFlags: privacy without authentication")
        model, pos = read_small_integer(data, pos, global_end, "msgSecurityModel")
        if pos != global_end:
            raise SnmpDecodeError("bytes after msgGlobalData")
        if model != SECURITY_MODEL_USM:
            raise SnmpDecodeError("security model is not USM")
        usm, security_end = _element(data, global_end, end, 0x04, "msgSecurityParameters")
        usm, usm_end = _element(data, usm, security_end, 0x30, "USM parameters")
        if usm_end != security_end:
            raise SnmpDecodeError("bytes after the USM parameters")
        start, usm = _element(data, usm, usm_end, 0x04, "msgAuthoritativeEngineID")
        if usm - start > _MAX_ENGINE_ID:
            raise SnmpDecodeError("msgAuthoritativeEngineID too long")
        engine_id = data[start:usm]
        boots, usm = _uint31(data, usm, usm_end, "msgAuthoritativeEngineBoots")
        engine_time, usm = _uint31(data, usm, usm_end, "msgAuthoritativeEngineTime")
        start, usm = _element(data, usm, usm_end, 0x04, "msgUserName")
        if usm - start > 32:
            raise SnmpDecodeError("msgUserName too long")
        user_name = data[start:usm]
        auth_start, auth_stop = _element(data, usm, usm_end, 0x04, "msgAuthenticationParameters")
        if auth_stop - auth_start > 64:
            raise SnmpDecodeError("msgAuthenticationParameters too long")
        start, usm = _element(data, auth_stop, usm_end, 0x04, "msgPrivacyParameters")
        if usm - start > 32:
            raise SnmpDecodeError("msgPrivacyParameters too long")
        priv_params = data[start:usm]
        if usm != usm_end:
            raise SnmpDecodeError("bytes after the USM parameters")
        data_start, data_stop = _element(data, security_end, end, 0x04 if flags & FLAG_PRIV else 0x30,
                                         "scoped PDU")
        if data_stop != end:
            raise SnmpDecodeError("bytes after the scoped PDU")
    except SnmpDecodeError as exc:
        exc.msg_id = msg_id if msg_id is not None else _peek_msg_id(data)
        raise
    except IndexError:  # a read past the end that a length check let through
        error = SnmpDecodeError("truncated")
        error.msg_id = msg_id if msg_id is not None else _peek_msg_id(data)
        raise error from None
    return ParsedV3(msg_id, flags, engine_id, boots, engine_time, user_name, (auth_start, auth_stop), priv_params,
                    (data_start, data_stop))


def _scoped_pdu(parsed: ParsedV3, data: bytes, start: int, stop: int, authenticated: bool, encrypted: bool,
                max_padding: int) -> V3Message:
    """Decode the scoped PDU in data[start:stop] (a SEQUENCE's content if not encrypted)."""
    try:
        if encrypted:
            content, end = _element(data, start, stop, 0x30, "decrypted scoped PDU")
            if not 0 <= stop - end <= max_padding:  # DES pads to 8 octets; AES has no padding
                raise SnmpDecodeError("bytes after the scoped PDU")
            start, stop = content, end
        begin, pos = _element(data, start, stop, 0x04, "contextEngineID")
        if pos - begin > _MAX_ENGINE_ID:
            raise SnmpDecodeError("contextEngineID too long")
        context_engine_id = data[begin:pos]
        begin, pos = _element(data, pos, stop, 0x04, "contextName")
        if pos - begin > _MAX_ADMIN_STRING:
            raise SnmpDecodeError("contextName too long")
        context_name = data[begin:pos]
        pdu = decode_pdu(data, pos, stop, ANSWER_PDUS)
    except IndexError:
        raise SnmpDecodeError("truncated") from None
    return V3Message(parsed.msg_id, authenticated, encrypted, parsed.engine_id, parsed.boots, parsed.time,
                     parsed.user_name, context_engine_id, context_name, pdu)


def open_unauthenticated(parsed: ParsedV3, data: bytes) -> V3Message:
    """Decode an answer that carries no digest (discovery reports); refuses anything authenticated or encrypted."""
    if parsed.flags & (FLAG_AUTH | FLAG_PRIV):
        raise UsmSecurityError("authenticated answer to an unauthenticated request")
    if parsed.auth_params[1] != parsed.auth_params[0] or parsed.priv_params:
        raise SnmpDecodeError("unauthenticated message with security parameters")
    start, stop = parsed.data
    return _scoped_pdu(parsed, data, start, stop, False, False, 0)


def decode_v3(data: bytes, session: Optional[UsmSession] = None) -> V3Message:
    """Parse and open one datagram (for tests and tools; the client does the two steps itself)."""
    parsed = parse_v3(data)
    return session.open(parsed, data) if session is not None else open_unauthenticated(parsed, data)


__all__ = [
    "AUTH_PROTOCOLS", "AuthProtocol", "DECRYPTION_ERRORS", "FLAG_AUTH", "FLAG_PRIV", "FLAG_REPORTABLE",
    "MSG_MAX_SIZE", "NOT_IN_TIME_WINDOWS", "PRIV_PROTOCOLS", "ParsedV3", "PrivProtocol", "REPORTS",
    "UNKNOWN_ENGINE_IDS", "UNKNOWN_USER_NAMES", "UNSUPPORTED_SEC_LEVELS", "USM_REPORTS", "UsmKeys",
    "UsmSecurityError", "UsmSession", "UsmUser", "V3Message", "WRONG_DIGESTS", "decode_v3", "encode_discovery",
    "extend_key_blumenthal", "extend_key_reeder", "is_v3", "localize_key", "localized_priv_key",
    "open_unauthenticated", "parse_v3", "password_to_key", "usm_keys",
]
