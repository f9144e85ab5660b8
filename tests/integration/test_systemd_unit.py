"""The systemd unit (systemd/netvigil.service): `systemd-analyze verify` is clean, the exposure
score stays <= 2.0, the service contract holds (notify, watchdog, reload, CAP_NET_RAW only),
the sysusers file creates the unit's user, and the sandbox the unit describes still lets the
daemon's kind of work run.

There is no systemd as PID 1 here, so the last test rebuilds the sandbox by hand from the
unit's own settings: seccomp filters (SystemCallFilter=, RestrictAddressFamilies=,
MemoryDenyWriteExecute=) installed by the system python3 with python3-seccomp, capabilities
reduced to AmbientCapabilities= with setpriv, and a private mount namespace with a read-only
root, a writable state directory and /proc mounted with hidepid=invisible,subset=pid.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from tests.support import REPO, VENV_BIN, require_binary, require_root

pytestmark = pytest.mark.integration

UNIT = REPO / "systemd" / "netvigil.service"
SYSUSERS = REPO / "systemd" / "netvigil.sysusers.conf"
INSTALLED_EXEC_START = "/opt/netvigil/.venv/bin/netvigil run -c /etc/netvigil/netvigil.yaml"
MAX_EXPOSURE = 2.0
SYSTEM_PYTHON = "/usr/bin/python3"


def unit_settings(path: Path) -> dict[tuple[str, str], list[str]]:
    """(section, key) -> every value in file order (systemd allows repeating a key)."""
    settings: dict[tuple[str, str], list[str]] = defaultdict(list)
    section = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, _, value = line.partition("=")
        settings[(section, key.strip())].append(value.strip())
    return settings


def words(settings: dict, key: str) -> list[str]:
    return [word for value in settings.get(("Service", key), []) for word in value.split()]


def only(settings: dict, key: str) -> str:
    values = settings.get(("Service", key), [])
    assert len(values) == 1, f"{key}= should be set exactly once, found {values}"
    return values[0]


def test_verify_is_clean(tmp_path):
    """verify checks that ExecStart's binary exists, so a copy points at this venv's netvigil."""
    analyze = require_binary("systemd-analyze")
    netvigil = VENV_BIN / "netvigil"
    assert netvigil.exists(), f"{netvigil} missing: install the package into the venv (pip install -e .)"
    text = UNIT.read_text()
    assert text.count(f"ExecStart={INSTALLED_EXEC_START}\n") == 1
    copy = tmp_path / UNIT.name
    copy.write_text(text.replace(f"ExecStart={INSTALLED_EXEC_START.split()[0]}", f"ExecStart={netvigil}"))
    result = subprocess.run([analyze, "verify", str(copy)], capture_output=True, text=True, timeout=60)
    # verify exits 0 even for unknown keys or bad values, so its messages are the verdict.
    complaints = [line for line in (result.stdout + result.stderr).splitlines() if "netvigil" in line]
    assert result.returncode == 0 and complaints == [], result.stdout + result.stderr


def test_exposure_is_at_most_two():
    analyze = require_binary("systemd-analyze")
    result = subprocess.run([analyze, "security", "--offline=true", str(UNIT)],
                            capture_output=True, text=True, timeout=60)
    match = re.search(r"Overall exposure level for netvigil\.service: (\d+(?:\.\d+)?)", result.stdout)
    assert result.returncode == 0 and match, result.stdout + result.stderr
    exposure = float(match.group(1))
    assert exposure <= MAX_EXPOSURE, f"exposure {exposure} > {MAX_EXPOSURE}:\n{result.stdout}"


def test_unit_declares_the_service_contract():
    settings = unit_settings(UNIT)
    assert only(settings, "ExecStart") == INSTALLED_EXEC_START
    assert only(settings, "Type") == "notify"
    assert re.fullmatch(r"30s?", only(settings, "WatchdogSec"))
    reload = only(settings, "ExecReload").split()
    assert reload[0] in ("/bin/kill", "/usr/bin/kill") and "-HUP" in reload and "$MAINPID" in reload
    assert only(settings, "Restart") == "on-failure"  # on-failure includes watchdog timeouts
    assert re.fullmatch(r"15s?", only(settings, "TimeoutStopSec"))
    assert words(settings, "AmbientCapabilities") == ["CAP_NET_RAW"]
    assert words(settings, "CapabilityBoundingSet") == ["CAP_NET_RAW"]
    assert only(settings, "StateDirectory") == "netvigil"
    assert only(settings, "ConfigurationDirectory") == "netvigil"
    assert only(settings, "User") == "netvigil"


def test_sysusers_file_creates_the_units_user(tmp_path):
    sysusers = require_binary("systemd-sysusers")
    (tmp_path / "etc").mkdir()
    result = subprocess.run([sysusers, f"--root={tmp_path}", str(SYSUSERS)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    user = only(unit_settings(UNIT), "User")
    passwd = {line.split(":")[0]: line.split(":") for line in (tmp_path / "etc/passwd").read_text().splitlines()}
    assert user in passwd
    assert passwd[user][5] == "/var/lib/netvigil" and passwd[user][6] == "/usr/sbin/nologin"
    assert int(passwd[user][2]) < 1000, "a system user"


# --- the sandbox, rebuilt without systemd -----------------------------------------------------

SECCOMP_LOADER = r'''
"""Install seccomp filters like systemd's for the settings in argv[1] (JSON), then exec the rest."""
import errno, json, os, subprocess, sys
import seccomp

def expand(group, seen):
    names = set()
    listing = subprocess.run(["systemd-analyze", "syscall-filter", group], capture_output=True, text=True, check=True)
    for item in (line.strip() for line in listing.stdout.splitlines()[1:]):
        if item.startswith("@") and item not in seen:
            seen.add(item)
            names |= expand(item, seen)
        elif item and not item.startswith("#"):
            names.add(item)
    return names

def syscalls(items):
    names = set()
    for item in items:
        names |= expand(item, {item}) if item.startswith("@") else {item}
    return names

config = json.loads(sys.argv[1])
argv = sys.argv[sys.argv.index("--") + 1:]
allowed = syscalls(config["allow"]) - syscalls(config["deny"])
calls = seccomp.SyscallFilter(defaction=seccomp.ERRNO(getattr(errno, config["errno"])))
for name in sorted(allowed):
    try:
        calls.add_rule(seccomp.ALLOW, name)
    except (RuntimeError, ValueError, OSError):
        pass  # not a system call on this architecture
families = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
for family in range(0, 64):
    if family not in config["families"]:
        families.add_rule(seccomp.ERRNO(errno.EAFNOSUPPORT), "socket", seccomp.Arg(0, seccomp.EQ, family))
filters = [families]
if config["mdwe"]:  # systemd's MemoryDenyWriteExecute= rules
    PROT_WRITE, PROT_EXEC, SHM_EXEC = 2, 4, 0o100000
    mdwe = seccomp.SyscallFilter(defaction=seccomp.ALLOW)
    deny = seccomp.ERRNO(errno.EPERM)
    mdwe.add_rule(deny, "mmap", seccomp.Arg(2, seccomp.MASKED_EQ, PROT_WRITE | PROT_EXEC, PROT_WRITE | PROT_EXEC))
    mdwe.add_rule(deny, "mprotect", seccomp.Arg(2, seccomp.MASKED_EQ, PROT_EXEC, PROT_EXEC))
    mdwe.add_rule(deny, "pkey_mprotect", seccomp.Arg(2, seccomp.MASKED_EQ, PROT_EXEC, PROT_EXEC))
    mdwe.add_rule(deny, "shmat", seccomp.Arg(2, seccomp.MASKED_EQ, SHM_EXEC, SHM_EXEC))
    filters.append(mdwe)
filters.append(calls)  # last: it forbids seccomp() itself
for f in filters:
    f.load()
os.execv(argv[0], argv)
'''

