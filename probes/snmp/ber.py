"""SNMP messages in BER, written by hand for the poller's hot path. Pure: no sockets, no I/O.

Why not pysnmp/pyasn1 here: a 10-OID GET costs about 2 ms of CPU through pysnmp on this
machine, almost all of it in pyasn1's generic BER codec (cProfile), and the budget is 0.4 ms
per poll (10,000 devices, three profiles each, every 60 s on two cores). SNMP uses a tiny,
fixed subset of BER, so this module encodes requests from pre-built templates (only the request
id changes between polls) and decodes responses with one flat pass over the datagram, caching
decoded OIDs. pysnmp stays the reference: tests/unit/test_snmp_ber.py compares bytes with
pyasn1's encoder both ways, and bench/snmp_codec.py measures the difference.

Layering: a message is version + security part + PDU. For v1 and v2c the security part is
the community string (`encode_message`, `decode_message`); SNMPv3 (probes/snmp/usm.py)
wraps the same PDU in a scoped PDU with USM parameters, encoding it from a `PduTemplate`
and decoding it with `decode_pdu`.

Decoding never trusts the input: every length is checked against its enclosing element
before anything is read or allocated, nothing recurses, and any defect (truncation, wrong
or huge lengths, unknown tags, trailing bytes, wrong version) raises `SnmpDecodeError`
with a short reason, never another exception. Reasons never quote packet contents, so a
community string cannot leak through them.
"""

from __future__ import annotations

import enum
import socket
from typing import Iterable, NamedTuple, Optional, Sequence

# Wire values of msgVersion.
VERSION_1 = 0
VERSION_2C = 1
VERSION_3 = 3


class PduType(enum.IntEnum):
    """Context-specific constructed tags of the SNMP PDUs (RFC 3416)."""

    GET = 0xA0
    GET_NEXT = 0xA1
    RESPONSE = 0xA2
    SET = 0xA3
    TRAP_V1 = 0xA4  # different layout; never decoded here
    GET_BULK = 0xA5
    INFORM = 0xA6
    TRAP = 0xA7
    REPORT = 0xA8


# What a manager accepts as an answer: Response, and Report (v3 discovery and USM errors).
ANSWER_PDUS = frozenset({PduType.RESPONSE, PduType.REPORT})
# Everything with the request-id / error-status / error-index / varbinds layout (a test agent
# decodes requests with these).
REQUEST_PDUS = frozenset({PduType.GET, PduType.GET_NEXT, PduType.GET_BULK, PduType.SET})


class Kind(enum.StrEnum):
    """Type of a varbind value. The tag number is in `TAG_OF_KIND`."""

    INTEGER = "integer"
    OCTETS = "octets"
    NULL = "null"
    OID = "oid"
    IPADDRESS = "ipaddress"
    COUNTER32 = "counter32"
    GAUGE32 = "gauge32"
    TIMETICKS = "timeticks"
    OPAQUE = "opaque"
    COUNTER64 = "counter64"
    NOSUCHOBJECT = "nosuchobject"
    NOSUCHINSTANCE = "nosuchinstance"
    ENDOFMIBVIEW = "endofmibview"


TAG_OF_KIND = {
    Kind.INTEGER: 0x02, Kind.OCTETS: 0x04, Kind.NULL: 0x05, Kind.OID: 0x06,
    Kind.IPADDRESS: 0x40, Kind.COUNTER32: 0x41, Kind.GAUGE32: 0x42, Kind.TIMETICKS: 0x43,
    Kind.OPAQUE: 0x44, Kind.COUNTER64: 0x46,
    Kind.NOSUCHOBJECT: 0x80, Kind.NOSUCHINSTANCE: 0x81, Kind.ENDOFMIBVIEW: 0x82,
}
_KIND_OF_TAG = {tag: kind for kind, tag in TAG_OF_KIND.items()}

# The v2c "exception" values: they stand where a value would be, saying why there is none.
EXCEPTION_KINDS = frozenset({Kind.NOSUCHOBJECT, Kind.NOSUCHINSTANCE, Kind.ENDOFMIBVIEW})


class Value(NamedTuple):
    """One typed varbind value.

    `value` is an int (integer, counter32, gauge32, timeticks, counter64), bytes (octets,
    opaque), a dotted str (oid, ipaddress) or None (null and the exception kinds).
    """

    kind: Kind
    value: object


NULL = Value(Kind.NULL, None)
NO_SUCH_OBJECT = Value(Kind.NOSUCHOBJECT, None)
NO_SUCH_INSTANCE = Value(Kind.NOSUCHINSTANCE, None)
END_OF_MIB_VIEW = Value(Kind.ENDOFMIBVIEW, None)

VarBind = tuple[str, Value]


class Pdu(NamedTuple):
    """A decoded PDU. For GETBULK, error_status holds non-repeaters and error_index max-repetitions."""

    type: int
    request_id: int
    error_status: int
    error_index: int
    varbinds: tuple[VarBind, ...]


class Message(NamedTuple):
    """A decoded v1/v2c message (`version` is the wire value: 0 = v1, 1 = v2c)."""

    version: int
    community: bytes
    pdu: Pdu


class SnmpDecodeError(ValueError):
    """A datagram that is not a well-formed SNMP message of the kind expected.

    `request_id` is set when the message got as far as a readable request id, so a client
    can tell which request the broken answer belongs to.
    """

    # SNMPv3: the msgID, when the message got as far as a readable one (set by probes/snmp/usm.py).
    msg_id: Optional[int] = None

    def __init__(self, reason: str, request_id: Optional[int] = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.request_id = request_id


class OidError(ValueError):
    """A dotted OID given by the caller is not a valid SNMP OID (a configuration mistake)."""


# RFC 2578 section 3.5: at most 128 sub-identifiers, each at most 2^32 - 1.
MAX_SUBIDS = 128
MAX_SUBID = 0xFFFFFFFF
_MAX_OID_BYTES = 1 + (MAX_SUBIDS - 1) * 5  # longest legal encoding; anything longer is garbage

# Request ids this codec sends lie in [2^23, 2^31): every one of them is a 4-byte INTEGER, so
# a pre-encoded request only needs its 4 id bytes replaced, never its lengths recomputed.
REQUEST_ID_MIN = 0x800000
REQUEST_ID_MAX = 0x7FFFFFFF


# --- encoding -------------------------------------------------------------------------------

def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(body),)) + body


def _tlv(tag: int, content: bytes) -> bytes:
    return bytes((tag,)) + _length(len(content)) + content


def _integer(n: int) -> bytes:
    # Minimal two's complement, as X.690 8.3.2 requires.
    magnitude = n if n >= 0 else ~n
    return n.to_bytes(magnitude.bit_length() // 8 + 1, "big", signed=True)


def _unsigned(n: int, bits: int, kind: Kind) -> bytes:
    if not 0 <= n < 1 << bits:
        raise ValueError(f"{kind} value {n} out of range 0..2^{bits}-1")
    return n.to_bytes(n.bit_length() // 8 + 1, "big")


_oid_encode_cache: dict[str, bytes] = {}


def encode_oid(dotted: str) -> bytes:
    """The BER content octets of an OID given as "1.3.6.1..." (a leading dot is allowed)."""
    cached = _oid_encode_cache.get(dotted)
    if cached is not None:
        return cached
    try:
        arcs = [int(part) for part in dotted.strip().lstrip(".").split(".")]
    except ValueError:
        raise OidError(f"{dotted!r} is not a dotted numeric OID") from None
    if len(arcs) < 2 or len(arcs) > MAX_SUBIDS:
        raise OidError(f"{dotted!r}: an OID has 2 to {MAX_SUBIDS} sub-identifiers")
    first, second = arcs[0], arcs[1]
    if first > 2 or (first < 2 and second >= 40) or any(not 0 <= a <= MAX_SUBID for a in arcs):
        raise OidError(f"{dotted!r}: sub-identifier out of range")
    out = bytearray()
    for arc in [first * 40 + second, *arcs[2:]]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out += bytes(reversed(chunk))
    encoded = bytes(out)
    if len(_oid_encode_cache) < 65_536:
        _oid_encode_cache[dotted] = encoded
    return encoded


_canonical_cache: dict[str, str] = {}


def canonical_oid(dotted: str) -> str:
    """`dotted` as decoded OIDs are spelled ("1.3.6.1.2.1", no leading dot or zeros); OidError if invalid."""
    text = _canonical_cache.get(dotted)
    if text is None:
        encode_oid(dotted)
        text = ".".join(str(int(part)) for part in dotted.strip().lstrip(".").split("."))
        if len(_canonical_cache) < 65_536:
            _canonical_cache[dotted] = text
    return text


def encode_value(value: Value) -> bytes:
    """One value as a BER TLV (requests only ever carry NULL; agents and tests use the rest)."""
    kind, v = value
    tag = TAG_OF_KIND[kind]
    if kind is Kind.INTEGER:
        content = _integer(v)
    elif kind in (Kind.OCTETS, Kind.OPAQUE):
        content = bytes(v)
    elif kind is Kind.OID:
        content = encode_oid(v)
    elif kind is Kind.IPADDRESS:
        content = socket.inet_aton(v) if isinstance(v, str) else bytes(v)
        if len(content) != 4:
            raise ValueError("an IpAddress has 4 octets")
    elif kind is Kind.COUNTER64:
        content = _unsigned(v, 64, kind)
    elif kind in (Kind.COUNTER32, Kind.GAUGE32, Kind.TIMETICKS):
        content = _unsigned(v, 32, kind)
    else:  # null and the exception kinds carry no content
        content = b""
    return _tlv(tag, content)


def _varbind_list(varbinds: Iterable[tuple[str, Value]]) -> bytes:
    return _tlv(0x30, b"".join(_tlv(0x30, _tlv(0x06, encode_oid(oid)) + encode_value(value))
                               for oid, value in varbinds))


def encode_pdu(pdu_type: int, request_id: int, error_status: int, error_index: int,
               varbinds: Iterable[tuple[str, Value]]) -> bytes:
    """A PDU TLV. For GETBULK pass non-repeaters as error_status and max-repetitions as error_index."""
    return _tlv(pdu_type, _tlv(0x02, _integer(request_id)) + _tlv(0x02, _integer(error_status))
                + _tlv(0x02, _integer(error_index)) + _varbind_list(varbinds))


def encode_message(version: int, community: bytes, pdu: bytes) -> bytes:
    """A v1/v2c message around an encoded PDU."""
    if version not in (VERSION_1, VERSION_2C):
        raise ValueError(f"community messages are v1 (0) or v2c (1), not {version}")
    return _tlv(0x30, _tlv(0x02, _integer(version)) + _tlv(0x04, community) + pdu)


def _check_request(version: int, pdu_type: int, oids: Sequence[str]) -> None:
    if pdu_type not in (PduType.GET, PduType.GET_NEXT, PduType.GET_BULK):
        raise ValueError(f"not a read request PDU type: {pdu_type:#x}")
    if pdu_type == PduType.GET_BULK and version == VERSION_1:
        raise ValueError("SNMPv1 has no GETBULK")
    if not oids:
        raise ValueError("a request needs at least one OID")


def encode_request(version: int, community: bytes, pdu_type: int, request_id: int, oids: Sequence[str],
                   non_repeaters: int = 0, max_repetitions: int = 0) -> bytes:
    """A complete GET / GETNEXT / GETBULK message, every value NULL. The slow, general path."""
    _check_request(version, pdu_type, oids)
    bulk = pdu_type == PduType.GET_BULK
    pdu = encode_pdu(pdu_type, request_id, non_repeaters if bulk else 0, max_repetitions if bulk else 0,
                     [(oid, NULL) for oid in oids])
    return encode_message(version, community, pdu)


class PduTemplate:
    """A read-request PDU (no message around it) encoded once; `encode(request_id)` splices in the id.

    SNMPv3 wraps the PDU in a scoped PDU per request (it may be encrypted, and the engine
    time changes), so only the PDU itself can be pre-encoded, independent of user and agent.
    """

    __slots__ = ("_prefix", "_suffix", "pdu_type", "oids")

    def __init__(self, pdu_type: int, oids: Sequence[str], non_repeaters: int = 0, max_repetitions: int = 0,
                 version: int = VERSION_3) -> None:
        _check_request(version, pdu_type, oids)
        bulk = pdu_type == PduType.GET_BULK
        rest = (_tlv(0x02, _integer(non_repeaters if bulk else 0))
                + _tlv(0x02, _integer(max_repetitions if bulk else 0))
                + _varbind_list((oid, NULL) for oid in oids))
        self._prefix = bytes((pdu_type,)) + _length(6 + len(rest)) + b"\x02\x04"  # 02 04 <4 id octets> + rest
        self._suffix = rest
        self.pdu_type = pdu_type
        self.oids = tuple(oids)

    def encode(self, request_id: int) -> bytes:
        # to_bytes raises OverflowError for ids >= 2^32 or negative; the range check keeps the
        # INTEGER minimal (a leading octet >= 0x80 would make it negative).
        if not REQUEST_ID_MIN <= request_id <= REQUEST_ID_MAX:
            raise ValueError(f"template request ids lie in [{REQUEST_ID_MIN}, {REQUEST_ID_MAX}]")
        return self._prefix + request_id.to_bytes(4, "big") + self._suffix

    def __repr__(self) -> str:  # never show the prefix: in a RequestTemplate it holds the community
        return f"{type(self).__name__}({PduType(self.pdu_type).name}, {len(self.oids)} OIDs)"


class RequestTemplate(PduTemplate):
    """A whole v1/v2c read request encoded once: the PDU template with the message header
    (version, community) put in front of it.

    Built per (agent credentials, OIDs, PDU type) and kept: a poll then costs one bytes
    concatenation instead of a BER encoding.
    """

    __slots__ = ()

    def __init__(self, version: int, community: bytes, pdu_type: int, oids: Sequence[str],
                 non_repeaters: int = 0, max_repetitions: int = 0) -> None:
        super().__init__(pdu_type, oids, non_repeaters, max_repetitions, version)
        header = _tlv(0x02, _integer(version)) + _tlv(0x04, community)
        body_length = len(header) + len(self._prefix) + 4 + len(self._suffix)
        self._prefix = b"\x30" + _length(body_length) + header + self._prefix


# --- decoding -------------------------------------------------------------------------------

def _header(data: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """(tag, content start, content end) of the element at `pos`, which must end by `end`."""
    if pos + 2 > end:
        raise SnmpDecodeError("truncated element header")
    tag = data[pos]
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0:
            raise SnmpDecodeError("indefinite length (not allowed in SNMP)")
        if count > 4:
            raise SnmpDecodeError("length field too long")
        if pos + count > end:
            raise SnmpDecodeError("truncated length field")
        length = int.from_bytes(data[pos:pos + count], "big")
        pos += count
    stop = pos + length
    if stop > end:
        raise SnmpDecodeError("element longer than what contains it")
    return tag, pos, stop


def read_header(data: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """(tag, content start, content end) of the element at `pos`; SnmpDecodeError if it overruns `end`."""
    return _header(data, pos, end)


def _small_integer(data: bytes, pos: int, end: int, what: str) -> tuple[int, int]:
    """(value, next position) of an INTEGER of at most 5 octets (ids, status, index, version)."""
    tag, start, stop = _header(data, pos, end)
    if tag != 0x02:
        raise SnmpDecodeError(f"{what} is not an INTEGER")
    if not 0 < stop - start <= 5:
        raise SnmpDecodeError(f"{what} has a bad length")
    return int.from_bytes(data[start:stop], "big", signed=True), stop


_oid_decode_cache: dict[bytes, str] = {}
_OID_CACHE_LIMIT = 100_000  # about 10 MB at worst; cleared when full (hostile input cannot grow it)


def read_small_integer(data: bytes, pos: int, end: int, what: str) -> tuple[int, int]:
    """(value, next position) of an INTEGER of at most 5 octets; `what` names it in errors."""
    return _small_integer(data, pos, end, what)


def _oid_text(raw: bytes) -> str:
    if not raw:
        raise SnmpDecodeError("empty OID")
    if len(raw) > _MAX_OID_BYTES:
        raise SnmpDecodeError("OID too long")
    if raw[-1] & 0x80:
        raise SnmpDecodeError("OID ends inside a sub-identifier")
    subids = []
    value = 0
    fresh = True
    for octet in raw:
        if fresh and octet == 0x80:
            raise SnmpDecodeError("OID sub-identifier has a leading zero octet")
        value = (value << 7) | (octet & 0x7F)
        if octet & 0x80:
            fresh = False
        else:
            subids.append(value)
            value = 0
            fresh = True
    first = subids[0]
    if first < 80:
        arcs = [first // 40, first % 40]
    else:
        arcs = [2, first - 80]
    arcs += subids[1:]
    if len(arcs) > MAX_SUBIDS or max(arcs) > MAX_SUBID:
        raise SnmpDecodeError("OID sub-identifier or length out of range")
    return ".".join(map(str, arcs))


def _decode_oid(raw: bytes) -> str:
    text = _oid_decode_cache.get(raw)
    if text is None:
        text = _oid_text(raw)
        if len(_oid_decode_cache) >= _OID_CACHE_LIMIT:
            _oid_decode_cache.clear()
        _oid_decode_cache[raw] = text
    return text


_UNSIGNED_LIMITS = {0x41: (5, 0xFFFFFFFF), 0x42: (5, 0xFFFFFFFF), 0x43: (5, 0xFFFFFFFF),
                    0x46: (9, 0xFFFFFFFFFFFFFFFF)}
_EXCEPTION_VALUES = {0x80: NO_SUCH_OBJECT, 0x81: NO_SUCH_INSTANCE, 0x82: END_OF_MIB_VIEW}


def _decode_value(tag: int, data: bytes, start: int, stop: int) -> Value:
    if tag == 0x04:
        return Value(Kind.OCTETS, data[start:stop])
    size = stop - start
    if tag == 0x02:
        # Integer32 on the wire is at most 5 octets; a few agents pad, so allow 9 (64 bits).
        if not 0 < size <= 9:
            raise SnmpDecodeError("INTEGER value has a bad length")
        return Value(Kind.INTEGER, int.from_bytes(data[start:stop], "big", signed=True))
    limits = _UNSIGNED_LIMITS.get(tag)
    if limits is not None:
        # Read as unsigned: agents that forget the leading zero octet (FF FF FF FF for
        # 4294967295) mean the unsigned value, as net-snmp also reads it.
        if not 0 < size <= limits[0]:
            raise SnmpDecodeError(f"{_KIND_OF_TAG[tag]} value has a bad length")
        number = int.from_bytes(data[start:stop], "big")
        if number > limits[1]:
            raise SnmpDecodeError(f"{_KIND_OF_TAG[tag]} value out of range")
        return Value(_KIND_OF_TAG[tag], number)
    if tag == 0x06:
        return Value(Kind.OID, _decode_oid(data[start:stop]))
    if tag == 0x05:
        if size:
            raise SnmpDecodeError("NULL with content")
        return NULL
    if tag == 0x40:
        if size != 4:
            raise SnmpDecodeError("IpAddress is not 4 octets")
        return Value(Kind.IPADDRESS, socket.inet_ntoa(data[start:stop]))
    if tag == 0x44:
        return Value(Kind.OPAQUE, data[start:stop])
    exception = _EXCEPTION_VALUES.get(tag)
    if exception is not None:
        return exception  # content, if any, means nothing: ignore it
    raise SnmpDecodeError(f"unknown value tag {tag:#04x}")


def _decode_varbinds(data: bytes, pos: int, end: int) -> tuple[VarBind, ...]:
    varbinds = []
    append = varbinds.append
    while pos < end:
        # The common case (short lengths) is read inline; anything else goes through _header.
        if data[pos] != 0x30:
            raise SnmpDecodeError("varbind is not a SEQUENCE")
        length = data[pos + 1]
        if length < 0x80:
            start = pos + 2
            stop = start + length
            if stop > end:
                raise SnmpDecodeError("varbind longer than the varbind list")
        else:
            _, start, stop = _header(data, pos, end)
        if start + 2 > stop or data[start] != 0x06:
            raise SnmpDecodeError("varbind name is not an OID")
        length = data[start + 1]
        if length < 0x80:
            oid_start = start + 2
            oid_stop = oid_start + length
            if oid_stop > stop:
                raise SnmpDecodeError("OID longer than its varbind")
        else:
            _, oid_start, oid_stop = _header(data, start, stop)
        raw = data[oid_start:oid_stop]
        oid = _oid_decode_cache.get(raw)
        if oid is None:
            oid = _decode_oid(raw)
        if oid_stop + 2 > stop:
            raise SnmpDecodeError("varbind has no value")
        tag = data[oid_stop]
        length = data[oid_stop + 1]
        if length < 0x80:
            value_start = oid_stop + 2
            value_stop = value_start + length
            if value_stop > stop:
                raise SnmpDecodeError("value longer than its varbind")
        else:
            tag, value_start, value_stop = _header(data, oid_stop, stop)
        if value_stop != stop:
            raise SnmpDecodeError("bytes after a varbind's value")
        append((oid, _decode_value(tag, data, value_start, value_stop)))
        pos = stop
    return tuple(varbinds)


def decode_pdu(data: bytes, pos: int, end: int, accept: frozenset = ANSWER_PDUS) -> Pdu:
    """The PDU whose TLV starts at `pos` and must end exactly at `end`."""
    tag, start, stop = _header(data, pos, end)
    if stop != end:
        raise SnmpDecodeError("bytes after the PDU")
    if tag not in accept:
        raise SnmpDecodeError(f"unexpected PDU type {tag:#04x}")
    request_id, pos = _small_integer(data, start, stop, "request id")
    try:
        error_status, pos = _small_integer(data, pos, stop, "error status")
        error_index, pos = _small_integer(data, pos, stop, "error index")
        list_tag, list_start, list_stop = _header(data, pos, stop)
        if list_tag != 0x30:
            raise SnmpDecodeError("varbind list is not a SEQUENCE")
        if list_stop != stop:
            raise SnmpDecodeError("bytes after the varbind list")
        varbinds = _decode_varbinds(data, list_start, list_stop)
    except SnmpDecodeError as exc:
        exc.request_id = request_id
        raise
    except IndexError:  # a read past the end of the datagram that a length check let through
        raise SnmpDecodeError("truncated", request_id) from None
    return Pdu(tag, request_id, error_status, error_index, varbinds)


def _peek_request_id(data: bytes) -> Optional[int]:
    """The request id of a broken (e.g. truncated) v1/v2c message, if the bytes up to it are intact.

    Outer lengths are not checked here: a datagram cut short still names the request it answers.
    """
    try:
        pos = 0
        for expected in (0x30, 0x02, 0x04, None):
            tag = data[pos]
            if expected is not None and tag != expected or expected is None and not 0xA0 <= tag <= 0xA8:
                return None
            length = data[pos + 1]
            pos += 2
            if length & 0x80:
                count = length & 0x7F
                if not 0 < count <= 4:
                    return None
                length = int.from_bytes(data[pos:pos + count], "big")
                pos += count
            if expected in (0x02, 0x04):  # version and community are skipped whole
                pos += length
        if data[pos] != 0x02 or not 0 < data[pos + 1] <= 5 or pos + 2 + data[pos + 1] > len(data):
            return None
        return int.from_bytes(data[pos + 2:pos + 2 + data[pos + 1]], "big", signed=True)
    except IndexError:
        return None


def decode_message(data: bytes, accept: frozenset = ANSWER_PDUS) -> Message:
    """Decode one v1/v2c datagram; raises SnmpDecodeError (only) when it is not well formed.

    `accept` are the PDU types wanted (by default Response and Report). A v3 message is
    refused with its own reason until the v3 layer exists. The error's `request_id` is set
    whenever the bytes up to the request id are intact, even if the datagram was cut short.
    """
    try:
        return _decode_message(data, accept)
    except SnmpDecodeError as exc:
        if exc.request_id is None:
            exc.request_id = _peek_request_id(data)
        raise


def _decode_message(data: bytes, accept: frozenset) -> Message:
    try:
        tag, start, stop = _header(data, 0, len(data))
        if tag != 0x30:
            raise SnmpDecodeError("not an SNMP message (no SEQUENCE)")
        if stop != len(data):
            raise SnmpDecodeError("bytes after the message")
        version, pos = _small_integer(data, start, stop, "version")
        if version not in (VERSION_1, VERSION_2C):
            if version == VERSION_3:
                raise SnmpDecodeError("SNMPv3 message where v1/v2c was expected")
            raise SnmpDecodeError("unknown SNMP version")
        community_tag, community_start, pos = _header(data, pos, stop)
        if community_tag != 0x04:
            raise SnmpDecodeError("community is not an OCTET STRING")
        community = data[community_start:pos]
    except IndexError:
        raise SnmpDecodeError("truncated") from None
    return Message(version, community, decode_pdu(data, pos, stop, accept))


__all__ = [
    "ANSWER_PDUS", "END_OF_MIB_VIEW", "EXCEPTION_KINDS", "Kind", "MAX_SUBID", "MAX_SUBIDS", "Message",
    "NO_SUCH_INSTANCE", "NO_SUCH_OBJECT", "NULL", "OidError", "Pdu", "PduTemplate", "PduType", "REQUEST_ID_MAX",
    "REQUEST_ID_MIN", "REQUEST_PDUS", "RequestTemplate", "SnmpDecodeError", "TAG_OF_KIND", "VERSION_1",
    "VERSION_2C", "VERSION_3", "Value", "VarBind", "canonical_oid", "decode_message", "decode_pdu", "encode_message",
    "encode_oid", "encode_pdu", "encode_request", "encode_value", "read_header", "read_small_integer",
]
