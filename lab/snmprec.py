"""Read the recorded walks of real devices (snmpsim's `OID|TYPE|VALUE` format) into
OID -> value, the shape probes.snmp.profiles.extract takes. For pure profile tests; the
integration tests serve the same files with snmpsim and fetch them over SNMP.

Recordings live in two places: the first ten in tests/fixtures/devices/snmprec/ (README.md
one level up says where each comes from, and expected/ beside it holds LibreNMS's reading of
three of them) and the project's own in tests/fixtures/snmprec/ (SOURCES.md there).
A name is looked up in both; the two sets must not share a name."""

from __future__ import annotations

from pathlib import Path

from lab.support import FIXTURES

RECORDINGS = FIXTURES / "devices" / "snmprec"
PROJECT_RECORDINGS = FIXTURES / "snmprec"
#: LibreNMS's own reading of some of the recordings in RECORDINGS: <name>.json.
EXPECTED = FIXTURES / "devices" / "expected"
DIRECTORIES = (RECORDINGS, PROJECT_RECORDINGS)
_INTEGER_TYPES = {"2", "65", "66", "67", "70"}


def read(name: str) -> dict:
    values: dict = {}
    for line in path(name).read_text(encoding="ascii").splitlines():
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


def names() -> list[str]:
    """Every recording, the first ten and the project's own."""
    return sorted(p.stem for directory in DIRECTORIES for p in directory.glob("*.snmprec"))


def path(name: str) -> Path:
    found = [directory / f"{name}.snmprec" for directory in DIRECTORIES if (directory / f"{name}.snmprec").is_file()]
    if len(found) != 1:
        where = " and ".join(str(d) for d in DIRECTORIES)
        raise FileNotFoundError(f"{name}: {'in both' if found else 'no such recording in'} {where}")
    return found[0]
