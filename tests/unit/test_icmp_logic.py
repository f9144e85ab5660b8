"""Pure parts of the ICMP probe: summary fields, packet format, reply parsing."""

import socket
import struct

import pytest

from probes.base import ProbeError, ResultCode
from probes.icmp.pinger import EchoResult, _FamilySocket, _normalise, summarise


def test_summary_of_replies_has_units_and_jitter():
    fields = summarise(EchoResult(sent=4, rtts_ms=(10.0, 12.0, 11.0, 15.0)))
    assert fields["up"] == 1
    assert (fields["sent"], fields["received"]) == (4, 4)
    assert fields["loss_pct"] == 0.0
    assert (fields["rtt_min_ms"], fields["rtt_avg_ms"], fields["rtt_max_ms"]) == (10.0, 12.0, 15.0)
    # mean of |12-10|, |11-12|, |15-11| = (2 + 1 + 4) / 3
    assert fields["jitter_ms"] == pytest.approx(7 / 3, abs=1e-3)
    assert fields["result_code"] == ResultCode.OK


def test_partial_loss_counts_lost_echoes():
    fields = summarise(EchoResult(sent=20, rtts_ms=(1.0,) * 19))
    assert fields["loss_pct"] == pytest.approx(5.0)
    assert fields["up"] == 1


def test_no_reply_is_down_with_full_loss_and_no_rtt_fields():
    fields = summarise(EchoResult(sent=5, rtts_ms=()))
    assert fields["up"] == 0 and fields["loss_pct"] == 100.0
    assert "rtt_avg_ms" not in fields and "jitter_ms" not in fields
    assert fields["result_code"] == ResultCode.TIMEOUT


def test_echoes_that_could_not_be_sent_are_down_not_zero_loss():
    result = EchoResult(sent=0, rtts_ms=(), error=ProbeError(ResultCode.SEND_FAILED, "Operation not permitted"))
    fields = summarise(result)
    assert fields["up"] == 0
    assert fields["loss_pct"] == 100.0
    assert fields["result_code"] == ResultCode.SEND_FAILED


def test_single_reply_has_zero_jitter():
    assert summarise(EchoResult(sent=1, rtts_ms=(3.0,)))["jitter_ms"] == 0.0


@pytest.mark.parametrize("address,expected", [
    ("127.0.0.1", (socket.AF_INET, "127.0.0.1")),
    ("::1", (socket.AF_INET6, "::1")),
    ("2001:DB8:0:0::1", (socket.AF_INET6, "2001:db8::1")),
    ("::ffff:127.0.0.5", (socket.AF_INET, "127.0.0.5")),
    ("switch.example", None),
])
def test_addresses_are_normalised_like_the_kernel_reports_them(address, expected):
    assert _normalise(address) == expected


def _ones_complement_sum(data: bytes) -> int:
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def _raw_ipv4_socket(payload: int) -> _FamilySocket:
    family_socket = _FamilySocket.__new__(_FamilySocket)  # packet format only, no socket
    family_socket.family, family_socket.privileged, family_socket.ident = socket.AF_INET, True, 0x1234
    family_socket._pad = bytes(max(payload - 8, 0))
    family_socket._pad_sum = sum(struct.unpack(f"!{len(family_socket._pad) // 2}H",
                                               family_socket._pad[: len(family_socket._pad) // 2 * 2]))
    family_socket.echo_type, family_socket._needs_checksum, family_socket._strips_ip_header = 8, True, False
    return family_socket


@pytest.mark.parametrize("token", [bytes(8), b"\xff" * 8, bytes.fromhex("deadbeef00010203"), bytes.fromhex("0000ffff0000ffff")])
@pytest.mark.parametrize("seq", [0, 1, 0xFFFF])
@pytest.mark.parametrize("payload", [8, 56, 57])
def test_raw_ipv4_packet_has_a_valid_checksum(token, seq, payload):
    family_socket = _raw_ipv4_socket(payload)
    packet = family_socket.packet(token, seq)
    padded = packet + (b"\0" if len(packet) % 2 else b"")
    assert _ones_complement_sum(padded) == 0xFFFF  # a valid Internet checksum sums to all ones
    assert struct.unpack_from("!BBxxHH", packet) == (8, 0, 0x1234, seq)
    assert packet[8:16] == token and len(packet) == 8 + max(payload, 8)

    # The reply the kernel would hand a raw socket: IP header, then type 0 with our token.
    reply = bytes([0x45]) + bytes(19) + bytes([0, 0]) + packet[2:]
    assert family_socket.parse(reply) == (token, 0x1234, seq, False)
    other = bytes([0x45]) + bytes(19) + bytes([0, 0, 0, 0]) + struct.pack("!H", 0x9999) + packet[6:]
    assert family_socket.parse(other) == (token, 0x9999, seq, False)  # the pinger refuses the identifier


def test_an_unreachable_quoting_our_echo_gives_its_token_and_a_short_quote_nothing():
    family_socket = _raw_ipv4_socket(56)
    echo = family_socket.packet(b"12345678", 7)
    quoted_ip = bytes([0x45]) + bytes(19)
    error = bytes([0x45]) + bytes(19) + bytes([3, 1, 0, 0, 0, 0, 0, 0]) + quoted_ip + echo
    assert family_socket.parse(error) == (b"12345678", 0x1234, 7, True)
    assert family_socket.parse(error[:20 + 8 + 20 + 12]) is None  # the quote ends inside the token
