"""Exit 0 when .venv/ already holds what `scripts/setup-venv.sh EXTRA` would install, so the
script can skip pip: netvigil installed editable from this checkout, from the pyproject.toml
there is now (its hash, written by setup-venv.sh after a successful install), with every
requirement of the extra present in an accepted version. Exit 1 when pip must run.

Why skip: pip reinstalls an editable netvigil every time, deleting .venv/bin/netvigil and the
import hook for a moment; the demo's test runs scripts/demo.sh (which runs setup-venv.sh) while
other test processes start `netvigil`, and those must not find it missing. It also saves the
seconds pip takes to find nothing to do.

Run by the venv's python: `.venv/bin/python scripts/venv_current.py EXTRA` ("" for none).
"""

from __future__ import annotations

import hashlib
import importlib.metadata as metadata
import json
import sys
from pathlib import Path

STAMP = Path(".venv/.netvigil-pyproject.sha256")


def pyproject_hash() -> str:
    return hashlib.sha256(Path("pyproject.toml").read_bytes()).hexdigest()


def current(extra: str) -> bool:
    try:  # pip's own copy: the venv always has pip, not always packaging
        from pip._vendor.packaging.requirements import Requirement
        from pip._vendor.packaging.utils import canonicalize_name
    except ImportError:
        return False
    if not STAMP.exists() or STAMP.read_text().strip() != pyproject_hash():
        return False
    if not Path(".venv/bin/netvigil").exists():
        return False
    try:
        dist = metadata.distribution("netvigil")
    except metadata.PackageNotFoundError:
        return False
    direct = json.loads(dist.read_text("direct_url.json") or "{}")
    if direct.get("url") != Path.cwd().resolve().as_uri() or not direct.get("dir_info", {}).get("editable"):
        return False

    def satisfied(extras: set[str], seen: set[str]) -> bool:
        for text in dist.requires or []:
            requirement = Requirement(text)
            if requirement.marker and not any(requirement.marker.evaluate({"extra": e}) for e in extras | {""}):
                continue
            if canonicalize_name(requirement.name) == "netvigil":  # e.g. mutation = netvigil[test] + mutmut
                more = set(requirement.extras) - seen
                if more and not satisfied(more, seen | more):
                    return False
                continue
            try:
                version = metadata.version(requirement.name)
            except metadata.PackageNotFoundError:
                return False
            if not requirement.specifier.contains(version, prereleases=True):
                return False
        return True

    extras = {extra} if extra else set()
    return satisfied(extras, set(extras))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--stamp"]:
        STAMP.write_text(pyproject_hash() + "\n")
        sys.exit(0)
    sys.exit(0 if current(sys.argv[1] if len(sys.argv) > 1 else "") else 1)
