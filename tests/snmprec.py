"""Read the recorded walks in ../shared/fixtures/snmprec/ (snmpsim's `OID|TYPE|VALUE` format)
into OID -> value, the shape probes.snmp_profiles.extract takes. For pure profile tests;
the integration tests serve the same files with snmpsim and fetch them over SNMP."""

from __future__ import annotations

from pathlib import Path

from tests.support import SHARED

RECORDINGS = SHARED / "fixtures" / "snmprec"
_INTEGER_TYPES = {"2", "65", "66", "67", "70"}


def read(name: str) -> dict:
    values: dict = {}
    for line in (RECORDINGS / f"{name}.snmprec").read_text(encoding="ascii").splitlines():
        if not line.strip():
            continue  # aix_net-snmp ends with a blank line
        oid, kind, value = line.split("|", 2)
        oid = oid.lstrip(".")
        if kind in _INTEGER_TYPES:
            values[oid] = int(value)
        elif kind == "4":
            values[oid] = value.encode("latin-1")
        elif kind == "4x":
            values[oid] = bytes.fromhex(value[: len(value) // 2 * 2])
        elif kind == "6":
            values[oid] = value.lstrip(".")
        elif kind == "64":
            values[oid] = value
        else:
            values[oid] = None
    return values


def path(name: str) -> Path:
    return RECORDINGS / f"{name}.snmprec"
