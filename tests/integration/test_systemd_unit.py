"""The systemd unit (systemd/netvigil.service): `systemd-analyze verify` is clean, the exposure
score stays <= 2.0, the service contract holds (notify, watchdog, reload, CAP_NET_RAW only),
the sysusers file creates the unit's user, and the real daemon runs in the sandbox the unit
describes, which refuses what it should.

There is no systemd as PID 1 here, so the last tests rebuild the sandbox by hand from the
unit's own settings: seccomp filters (SystemCallFilter=, RestrictAddressFamilies=,
MemoryDenyWriteExecute=) installed by the system python3 with python3-seccomp, capabilities
reduced to AmbientCapabilities= and CapabilityBoundingSet= with setpriv (SECBIT_NOROOT standing
in for User=), UMask=, and a private mount namespace with a read-only root, the state
directory bind-mounted writable, /proc mounted with hidepid=invisible,subset=pid, and an empty
private /var/tmp (half of PrivateTmp=; /tmp stays read-only because the tests' files live
there; asyncssh's import looks for liboqs with ctypes, which needs a writable temporary
directory). Not rebuilt: PrivateDevices= and the other Protect*= settings, which the daemon's
work does not touch.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import pytest

from lab.support import REPO, VENV_BIN, Process, require_binary, require_root, wait_until

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


INSTALL = REPO / "scripts" / "install-systemd.sh"


def test_the_install_script_points_the_unit_at_another_prefix(tmp_path):
    analyze = require_binary("systemd-analyze")
    require_binary("systemd-sysusers")
    prefix = tmp_path / "srv" / "netvigil"  # a checkout that is not /opt/netvigil
    root = tmp_path / "root"
    for venv_bin in (prefix / ".venv" / "bin", root / str(prefix).lstrip("/") / ".venv" / "bin"):
        venv_bin.mkdir(parents=True)
        (venv_bin / "netvigil").symlink_to(VENV_BIN / "netvigil")
    result = subprocess.run(["bash", str(INSTALL), "--prefix", str(prefix), "--root", str(root)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    installed = root / "etc/systemd/system/netvigil.service"
    settings = unit_settings(installed)
    assert only(settings, "ExecStart") == f"{prefix}/.venv/bin/netvigil run -c /etc/netvigil/netvigil.yaml"
    assert settings[("Unit", "Documentation")] == [f"file://{prefix}/README.md"]
    # everything else is the shipped unit, unchanged
    changed = [line for line in installed.read_text().splitlines() if line not in UNIT.read_text().splitlines()]
    assert [line.split("=")[0] for line in changed] == ["Documentation", "ExecStart"]
    verify = subprocess.run([analyze, "verify", str(installed)], capture_output=True, text=True, timeout=60)
    complaints = [line for line in (verify.stdout + verify.stderr).splitlines() if "netvigil" in line]
    assert verify.returncode == 0 and complaints == [], verify.stdout + verify.stderr
    assert (root / "etc/sysusers.d/netvigil.conf").read_text() == SYSUSERS.read_text()
    assert any(line.startswith("netvigil:") for line in (root / "etc/passwd").read_text().splitlines())


@pytest.mark.parametrize("prefix, problem", [
    ("/home/ops/netvigil", "hidden from the service by ProtectHome=yes"),
    ("relative/netvigil", "must be an absolute path"),
    ("/srv/no-venv-here", "does not exist; run scripts/setup-venv.sh"),
])
def test_the_install_script_refuses_a_prefix_the_service_could_not_start_from(tmp_path, prefix, problem):
    result = subprocess.run(["bash", str(INSTALL), "--prefix", prefix, "--root", str(tmp_path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and problem in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "etc").exists()  # nothing half-installed


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


# Runs in the new mount namespace: refuses to touch anything unless the namespace really is new.
# StateDirectory= with ProtectSystem=strict is the host's directory bind-mounted writable into
# a read-only tree, so what the daemon writes there (control socket, spool) is what the host
# sees, as `sudo -u netvigil netvigil status` needs.
MOUNT_SCRIPT = r'''
set -e
[ "$(readlink /proc/self/ns/mnt)" != "$1" ] || { echo "not in a private mount namespace" >&2; exit 99; }
state=$2
umask "$3"
shift 3
mount --bind "$state" "$state"
mount -o remount,bind,ro /
mount -t proc -o hidepid=invisible,subset=pid proc /proc
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /var/tmp
exec "$@"
'''

CAP_NET_RAW = 1 << 13
CAPABILITY_SETS = ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")


def sandbox_argv(unit: Path, state: Path, command: list[str]) -> list[str]:
    """`command` inside the sandbox that `unit` describes, with `state` as its StateDirectory=."""
    require_root()
    unshare, setpriv = require_binary("unshare"), require_binary("setpriv")
    require_binary("systemd-analyze")
    has_seccomp = subprocess.run([SYSTEM_PYTHON, "-c", "import seccomp"], capture_output=True)
    assert has_seccomp.returncode == 0, "this test needs the Debian package python3-seccomp (apt-get install python3-seccomp)"

    settings = unit_settings(unit)
    # The rebuilt sandbox covers exactly these; if the unit changes them, change this test too.
    assert only(settings, "ProtectSystem") == "strict"
    assert only(settings, "ProtectProc") == "invisible" and only(settings, "ProcSubset") == "pid"
    assert only(settings, "NoNewPrivileges") == "yes"
    filters = settings[("Service", "SystemCallFilter")]
    config = {
        "allow": [w for value in filters if not value.startswith("~") for w in value.split()],
        "deny": [w for value in filters if value.startswith("~") for w in value[1:].split()],
        "errno": only(settings, "SystemCallErrorNumber"),
        "families": [int(getattr(socket, name)) for name in words(settings, "RestrictAddressFamilies")],
        "mdwe": only(settings, "MemoryDenyWriteExecute") == "yes",
    }

    def caps(key: str) -> str:
        return ",".join(["-all"] + ["+" + cap.removeprefix("CAP_").lower() for cap in words(settings, key)])

    loader = state.parent / "seccomp_loader.py"
    loader.write_text(SECCOMP_LOADER)
    return [unshare, "--mount", "--propagation", "private", "/bin/sh", "-c", MOUNT_SCRIPT, "sh",
            os.readlink("/proc/self/ns/mnt"), str(state), only(settings, "UMask"),
            # User=netvigil is not a user here (the venv's python may sit in root's 0700 home), so
            # the sandbox stays uid 0 but with SECBIT_NOROOT: exec() then grants uid 0 nothing, and
            # CAP_NET_RAW comes from the ambient set alone, as for the unit's non-root user.
            setpriv, "--no-new-privs", "--securebits=+noroot,+noroot_locked,+no_setuid_fixup,+no_setuid_fixup_locked",
            f"--inh-caps={caps('AmbientCapabilities')}",
            f"--ambient-caps={caps('AmbientCapabilities')}", f"--bounding-set={caps('CapabilityBoundingSet')}",
            SYSTEM_PYTHON, str(loader), json.dumps(config), "--", *command]


def proc_status(path: str) -> dict[str, str]:
    lines = Path(path).read_text().splitlines()
    return {key: value.strip() for key, _, value in (line.partition(":") for line in lines)}


# --- what the sandbox refuses -----------------------------------------------------------------

# The daemon never tries any of this, so the daemon running (the last test) shows the sandbox
# is loose enough, never that it is tight enough. This probe does, from inside the same
# sandbox: it shows the sandbox really is built from the unit (so the daemon test is not
# passing in a sandbox that enforces nothing), and that loosening the unit is caught.
LIMITS_PROBE = r'''
import errno, json, mmap, os, socket, sys

def outcome(fn):
    try:
        return fn()
    except OSError as exc:
        return errno.errorcode.get(exc.errno, str(exc.errno))

status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines())
results = {
    "capabilities": {key: int(status[key], 16) for key in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")},
    "write_outside_state": outcome(lambda: open(sys.argv[1], "w").close() or "written"),
    "proc_sys": outcome(lambda: open("/proc/sys/net/ipv4/ping_group_range").read()),
    "netlink_socket": outcome(lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW).close() or "created"),
    "packet_socket": outcome(lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW).close() or "created"),
    "write_exec_memory": outcome(lambda: mmap.mmap(-1, 4096, prot=7) and "mapped"),
    "nice": outcome(lambda: os.nice(1) and "reniced"),
    "privileged_port": outcome(lambda: socket.create_server(("127.0.0.1", 80)).close() or "bound"),
    # The unit's comment: glibc's getaddrinfo(AI_ADDRCONFIG), which aiohttp uses, survives the
    # refused netlink socket. Matters for an InfluxDB URL with a host name.
    "addrconfig_lookup": outcome(lambda: bool(socket.getaddrinfo(
        "localhost", 80, type=socket.SOCK_STREAM, flags=socket.AI_ADDRCONFIG)) and "resolved"),
}
print(json.dumps(results))
'''

LIMITS = {
    "capabilities": {key: CAP_NET_RAW for key in CAPABILITY_SETS},
    "write_outside_state": "EROFS",
    "proc_sys": "ENOENT",  # ProcSubset=pid: read sysctls before the sandbox, or try the socket
    "netlink_socket": "EAFNOSUPPORT",
    "packet_socket": "EAFNOSUPPORT",
    "write_exec_memory": "EPERM",
    "nice": "EPERM",
    "privileged_port": "EACCES",
    "addrconfig_lookup": "resolved",
}

# (the limit that must then change, {unit line: loosened line})
LOOSENINGS = [
    ("write_exec_memory", {"MemoryDenyWriteExecute=yes": "MemoryDenyWriteExecute=no"}),
    ("netlink_socket", {"RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX":
                        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK"}),
    ("nice", {"SystemCallFilter=~@privileged @resources": "SystemCallFilter=~@privileged"}),
    ("privileged_port", {"AmbientCapabilities=CAP_NET_RAW": "AmbientCapabilities=CAP_NET_RAW CAP_NET_BIND_SERVICE",
                         "CapabilityBoundingSet=CAP_NET_RAW":
                             "CapabilityBoundingSet=CAP_NET_RAW CAP_NET_BIND_SERVICE"}),
    ("capabilities", {"CapabilityBoundingSet=CAP_NET_RAW": "CapabilityBoundingSet=CAP_NET_RAW CAP_SYS_ADMIN"}),
]


@pytest.mark.parametrize("loosening", [None, *LOOSENINGS], ids=["unit", *(limit for limit, _ in LOOSENINGS)])
def test_the_units_sandbox_refuses_what_it_should_and_a_loosened_unit_is_caught(tmp_path, loosening):
    unit, text = tmp_path / UNIT.name, UNIT.read_text()
    for line, loosened in (loosening[1].items() if loosening else ()):
        assert text.count(f"\n{line}\n") == 1, f"the unit no longer says {line!r}: update LOOSENINGS"
        text = text.replace(f"\n{line}\n", f"\n{loosened}\n")
    unit.write_text(text)
    state, outside, probe = tmp_path / "state", tmp_path / "outside-the-state-directory", tmp_path / "probe.py"
    state.mkdir()
    probe.write_text(LIMITS_PROBE)
    argv = sandbox_argv(unit, state, [sys.executable, "-B", str(probe), str(outside)])
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd="/")
    assert result.returncode == 0, f"{shlex.join(argv)}\n{result.stdout}\n{result.stderr}"
    got = json.loads(result.stdout.strip().splitlines()[-1])
    if loosening is None:
        assert got == LIMITS, result.stderr
        assert not outside.exists()
    else:
        limit, changes = loosening
        assert got[limit] != LIMITS[limit], f"{list(changes.values())} went unnoticed: {got}"


# --- the daemon in the sandbox ----------------------------------------------------------------

# A known daemon bug, not the sandbox's doing (it happens without any sandbox): on SIGTERM,
SANDBOXED_DEVICES = {"sandboxed-1": "127.0.77.1", "sandboxed-2": "127.0.77.2", "sandboxed-3": "127.0.77.3"}
NETVIGIL = str(VENV_BIN / "netvigil")


@pytest.fixture
def workdir():
    # Short path: unix socket paths (control socket, notify socket) must stay under 108 bytes.
    path = Path(tempfile.mkdtemp(prefix="nvsbx"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


class NotifyListener:
    """What systemd would see: a unix datagram socket passed as NOTIFY_SOCKET."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.1)
        self.messages: list[list[str]] = []

    def collect(self) -> list[list[str]]:
        while True:
            try:
                self.messages.append(self.sock.recv(65536).decode().splitlines())
            except (socket.timeout, BlockingIOError):
                return self.messages

    def wait_for(self, line: str, process: Process, after: int = 0, timeout_s: float = 60.0) -> int:
        """Index of the first message with `line` at or after message `after` (a wait, not a
        bound: a start beside other tests busy on the same CPUs took more than 15 s)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for index, message in enumerate(self.collect()[after:], start=after):
                if line in message:
                    return index
            if not process.alive():
                break
        raise AssertionError(f"no {line!r} after message {after}; got {self.messages!r}; "
                             f"exit status {process.popen.poll()}, log:\n{process.log()}")


def test_the_daemon_runs_inside_the_units_sandbox(workdir, victoria_metrics):
    """The real `netvigil run` (ExecStart= but with this venv and these settings) in the sandbox
    rebuilt from the unit: raw ICMP with only CAP_NET_RAW, InfluxDB writes, the spool in the
    state directory, the control socket, sd_notify, SIGHUP and SIGTERM."""
    unit = unit_settings(UNIT)
    state, settings, notify = workdir / "state", workdir / "netvigil.yaml", workdir / "notify.sock"
    state.mkdir(mode=int(only(unit, "StateDirectoryMode"), 8))
    (workdir / "inventory.yaml").write_text(
        "sites:\n  - {name: room, level: room}\ndevices:\n" + "".join(
            f"  - {{name: {name}, address: {address}, class: switch, site: room}}\n"
            for name, address in SANDBOXED_DEVICES.items()))
    settings.write_text(
        "inventory: [inventory.yaml]\n"
        f"state_dir: {state}\n"
        # privileged: raw sockets, so CAP_NET_RAW is what makes ICMP work whatever the host's
        # ping_group_range says.
        "probes:\n  icmp: {mode: privileged, interval_s: 2, count: 2, echo_interval_ms: 50, timeout_s: 0.5}\n"
        "scheduler: {slot_s: 0.5}\n"
        f"outputs:\n  influxdb: {{url: '{victoria_metrics.url}', org: noc, bucket: health, token: sandbox-token, "
        "flush_interval_s: 0.5}\n")
    # Outside the state directory, so read-only inside the sandbox, like /run/systemd/notify.
    listener = NotifyListener(notify)
    # systemd passes a fresh environment, not ours.
    environ = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "NOTIFY_SOCKET": str(notify),
               "WATCHDOG_USEC": str(int(only(unit, "WatchdogSec").rstrip("s")) * 1_000_000),
               "STATE_DIRECTORY": str(state)}
    argv = sandbox_argv(UNIT, state, [NETVIGIL, "run", "-c", str(settings)])
    process = Process(argv, workdir / "daemon.log", env=environ, cwd=Path("/"))

    def status() -> dict:
        # From outside the sandbox, as a sysadmin would ask.
        result = subprocess.run([NETVIGIL, "status", "--json", "-c", str(settings)], capture_output=True, text=True,
                                timeout=15)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    try:
        ready = listener.wait_for("READY=1", process)
        # Every wrapper exec()s, so the pid we signal is the daemon, as $MAINPID would be.
        assert f"MAINPID={process.pid}" in listener.messages[ready], listener.messages[ready]
        inside = proc_status(f"/proc/{process.pid}/status")
        assert {key: int(inside[key], 16) for key in CAPABILITY_SETS} == {key: CAP_NET_RAW for key in CAPABILITY_SETS}
        assert inside["NoNewPrivs"] == "1" and inside["Seccomp"] == "2", inside
        assert os.readlink(f"/proc/{process.pid}/ns/mnt") != os.readlink("/proc/self/ns/mnt")

        wait_until(lambda: status()["daemon"]["up"] == 3, timeout_s=15, what="3 devices up")
        answer = status()
        assert answer["source"] == "daemon" and answer["daemon"]["icmp_mode"] == "privileged"
        assert {row["device"]: row["state"] for row in answer["devices"]} == dict.fromkeys(SANDBOXED_DEVICES, "up")

        process.popen.send_signal(signal.SIGHUP)
        reloading = listener.wait_for("RELOADING=1", process, after=ready + 1)
        listener.wait_for("READY=1", process, after=reloading + 1)
        assert status()["daemon"]["reloads"] == 1

        started = time.monotonic()
        code = process.stop(signal.SIGTERM, timeout_s=15)
        elapsed = time.monotonic() - started
    finally:
        process.stop()
        listener.collect()
        listener.sock.close()
    log = process.log()
    assert code == 0, log
    assert elapsed < 10, f"SIGTERM took {elapsed:.1f} s\n{log}"
    assert any("STOPPING=1" in message for message in listener.messages), listener.messages
    for refusal in ("Traceback", "Permission denied", "Operation not permitted", "Read-only file system"):
        assert refusal not in log, log
    assert (state / "spool" / "influxdb.db").exists(), "the spool belongs in the state directory"
    assert not (state / "netvigil.sock").exists(), "the control socket is removed on the way out"

    def all_devices(rows: list[dict]) -> bool:
        return {row["metric"]["device"] for row in rows} == set(SANDBOXED_DEVICES)

    series = victoria_metrics.export('icmp_up{device=~"sandboxed-.*"}', until=all_devices)
    assert {row["metric"]["device"] for row in series} == set(SANDBOXED_DEVICES), series
    assert all(value == 1 for row in series for value in row["values"]), series
