#!/usr/bin/env bash
# Create .venv/ in the repository root and install netvigil into it (editable).
# Usage: scripts/setup-venv.sh [extra]   e.g. "test" installs the test dependencies too.
# On a fresh Debian machine python3-venv may be missing: it is installed with apt-get
# (as root, or through sudo).
set -euo pipefail
cd "$(dirname "$0")/.."
extra="${1:-}"

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || {
  echo "netvigil needs Python 3.11 or newer; this python3 is $(python3 --version 2>&1)" >&2; exit 1; }

if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
  echo "python3-venv is missing: installing it with apt-get" >&2
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv python3-pip >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
# Nothing to do when .venv already has this checkout's netvigil and the extra's requirements,
# from this pyproject.toml (scripts/venv_current.py says why pip is skipped then).
if .venv/bin/python scripts/venv_current.py "$extra" 2>/dev/null; then
  exit 0
fi
target="."
[ -z "$extra" ] || target=".[$extra]"
# pip's and setuptools' chatter goes to a log; it is shown only when the install fails.
log=$(mktemp)
if ! .venv/bin/python -m pip install -q -e "$target" >"$log" 2>&1; then
  cat "$log" >&2; rm -f "$log"
  echo "installing netvigil into .venv failed (pip's output is above)" >&2
  exit 1
fi
rm -f "$log"
.venv/bin/python scripts/venv_current.py --stamp
