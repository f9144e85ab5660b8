"""How long hostile SNMP answers take to decode, on the wall clock.

The unit suite checks what decoding 20,000 fuzzed answers gives (a Message or
SnmpDecodeError); here 200,000 of them are timed. The promise timed is the module's: no
length in the input makes decoding slow (nothing recurses or allocates by a length read from
the wire). A typical decode takes about 10 µs; one input that took 50 ms would be a
quadratic or unbounded path. A single timing on a shared machine can hit a scheduler pause
or a garbage collection of that size, so the slowest inputs are re-timed and the best of
five counts: a slow path is slow every time, a pause is not.
"""

from __future__ import annotations

import heapq
import time

import pytest

from probes.snmp.ber import SnmpDecodeError, decode_message
from tests.unit.test_snmp_ber import fuzz_inputs

# serial: decode times on the wall clock, which other tests busy on the same CPUs would stretch.
pytestmark = [pytest.mark.integration, pytest.mark.serial]

SLOW_PATH_S = 0.05
WHOLE_RUN_S = 120.0


def _decode_seconds(wire: bytes) -> float:
    before = time.perf_counter()
    try:
        decode_message(wire)
    except SnmpDecodeError:
        pass
    return time.perf_counter() - before


def test_no_fuzzed_answer_takes_long_to_decode():
    iterations = 200_000
    slowest: list[tuple[float, int, bytes]] = []  # a heap of the 20 slowest first timings
    started = time.perf_counter()
    for index, wire in enumerate(fuzz_inputs(20240601, iterations)):
        entry = (_decode_seconds(wire), index, wire)
        if len(slowest) < 20:
            heapq.heappush(slowest, entry)
        else:
            heapq.heappushpop(slowest, entry)
    elapsed = time.perf_counter() - started
    assert len(slowest) == 20
    assert elapsed < WHOLE_RUN_S, f"{iterations} fuzzed decodes took {elapsed:.0f} s"
    for _first, index, wire in slowest:
        best = min(_decode_seconds(wire) for _ in range(5))
        assert best < SLOW_PATH_S, f"fuzz input {index} ({len(wire)} bytes) takes {best * 1000:.1f} ms to decode"
