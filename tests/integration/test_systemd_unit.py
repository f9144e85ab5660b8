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

WORKLOAD = r'''
"""What the daemon does at the OS level, in miniature; prints one JSON object."""
import asyncio, errno, json, mmap, os, signal, socket, sqlite3, sys, threading
import apscheduler, pydantic, yaml, icmplib, aiohttp
from aiohttp import web
from influxdb_client.client.influxdb_client_async import InfluxDBClientAsync

state, outside = sys.argv[1], sys.argv[2]
results = {}

def outcome(fn):
    try:
        return fn()
    except OSError as exc:
        return errno.errorcode.get(exc.errno, str(exc.errno))
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"

async def main():
    loop = asyncio.get_running_loop()
    hup = asyncio.Event()
    loop.add_signal_handler(signal.SIGHUP, hup.set)
    host = await icmplib.async_ping("127.0.0.1", count=3, interval=0.02, timeout=1, privileged=True)
    results["icmp_raw_received"] = host.packets_received
    bodies = []
    async def write(request):
        bodies.append(await request.read())
        return web.Response(status=204)
    async def ping(request):
        return web.Response(status=204)
    app = web.Application()
    app.router.add_post("/api/v2/write", write)
    app.router.add_get("/ping", ping)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    async with aiohttp.ClientSession() as session:  # "localhost": getaddrinfo with AI_ADDRCONFIG
        async with session.get(f"http://localhost:{port}/ping") as response:
            results["http_status"] = response.status
    async with InfluxDBClientAsync(url=f"http://localhost:{port}", token="t", org="o") as client:
        await client.write_api().write(bucket="b", record="icmp,device=sw1 rtt_ms=1.5 1700000000000000000")
    results["influx_lines"] = [body.decode() for body in bodies]
    await runner.cleanup()

    con = sqlite3.connect(os.path.join(state, "faults.db"), isolation_level=None)
    results["sqlite_journal"] = con.execute("pragma journal_mode=wal").fetchone()[0]
    con.execute("create table faults(id integer primary key, device text)")
    con.execute("insert into faults(device) values ('sw1')")
    results["sqlite_rows"] = con.execute("select count(*) from faults").fetchone()[0]
    con.close()

    path = os.path.join(state, "control.sock")
    async def handle(reader, writer):
        writer.write(await reader.readline())
        await writer.drain()
        writer.close()
    server = await asyncio.start_unix_server(handle, path)
    reader, writer = await asyncio.open_unix_connection(path)
    writer.write(b"status\n")
    results["control_socket"] = (await reader.readline()).decode().strip()
    writer.close()
    server.close()

    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(os.path.join(state, "notify.sock"))
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
        sender.sendto(b"READY=1\nSTATUS=schedule armed", os.path.join(state, "notify.sock"))
    results["sd_notify"] = notify.recv(256).decode()

    os.kill(os.getpid(), signal.SIGHUP)
    await asyncio.wait_for(hup.wait(), 5)
    results["sighup"] = "handled"
    results["executor_thread"] = await loop.run_in_executor(None, lambda: threading.current_thread().name != "MainThread")

asyncio.run(main())
results["ctypes_callback"] = outcome(lambda: __import__("ctypes").CFUNCTYPE(__import__("ctypes").c_int)(lambda: 7)())
# What the sandbox must refuse.
results["write_outside_state"] = outcome(lambda: open(outside, "w").close() or "written")
results["proc_sys"] = outcome(lambda: open("/proc/sys/net/ipv4/ping_group_range").read())
results["netlink_socket"] = outcome(lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW).close() or "created")
results["packet_socket"] = outcome(lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW).close() or "created")
results["write_exec_memory"] = outcome(lambda: mmap.mmap(-1, 4096, prot=7) and "mapped")
results["nice"] = outcome(lambda: os.nice(1) and "reniced")
results["privileged_port"] = outcome(lambda: socket.create_server(("127.0.0.1", 80)).close() or "bound")
print(json.dumps(results))
'''

# Runs in the new mount namespace: refuses to touch anything unless the namespace really is new.
MOUNT_SCRIPT = r'''
set -e
[ "$(readlink /proc/self/ns/mnt)" != "$1" ] || { echo "not in a private mount namespace" >&2; exit 99; }
shift
state=$1; shift
mount -t tmpfs -o mode=0700 tmpfs "$state"
mount -o remount,bind,ro /
mount -t proc -o hidepid=invisible,subset=pid proc /proc
exec "$@"
'''


def test_the_daemons_kind_of_work_runs_inside_the_units_sandbox(tmp_path):
    require_root()
    unshare, setpriv = require_binary("unshare"), require_binary("setpriv")
    require_binary("systemd-analyze")
    has_seccomp = subprocess.run([SYSTEM_PYTHON, "-c", "import seccomp"], capture_output=True)
    assert has_seccomp.returncode == 0, "this test needs the Debian package python3-seccomp (apt-get install python3-seccomp)"

    settings = unit_settings(UNIT)
    # The rebuilt sandbox covers exactly these; if the unit changes them, change this test too.
    assert only(settings, "ProtectSystem") == "strict"
    assert only(settings, "ProtectProc") == "invisible" and only(settings, "ProcSubset") == "pid"
    assert only(settings, "NoNewPrivileges") == "yes"
    filters = settings[("Service", "SystemCallFilter")]
    config = {
        "allow": [w for value in filters if not value.startswith("~") for w in value.split()],
        "deny": [w for value in filters if value.startswith("~") for w in value[1:].split()],
        "errno": only(settings, "SystemCallErrorNumber"),
        "families": [int(getattr(__import__("socket"), name)) for name in words(settings, "RestrictAddressFamilies")],
        "mdwe": only(settings, "MemoryDenyWriteExecute") == "yes",
    }
    caps = ",".join(["-all"] + ["+" + cap.removeprefix("CAP_").lower() for cap in words(settings, "AmbientCapabilities")])

    loader, workload = tmp_path / "seccomp_loader.py", tmp_path / "workload.py"
    loader.write_text(SECCOMP_LOADER)
    workload.write_text(WORKLOAD)
    state, outside = tmp_path / "state", tmp_path / "outside-the-state-directory"
    state.mkdir()
    argv = [unshare, "--mount", "--propagation", "private", "/bin/sh", "-c", MOUNT_SCRIPT, "sh",
            os.readlink("/proc/self/ns/mnt"), str(state),
            setpriv, "--no-new-privs", f"--inh-caps={caps}", f"--ambient-caps={caps}", f"--bounding-set={caps}",
            SYSTEM_PYTHON, str(loader), json.dumps(config), "--",
            sys.executable, "-B", str(workload), str(state), str(outside)]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=REPO)
    assert result.returncode == 0, f"{shlex.join(argv)}\n{result.stdout}\n{result.stderr}"
    got = json.loads(result.stdout.strip().splitlines()[-1])

    assert got == {
        # works
        "icmp_raw_received": 3,
        "http_status": 204,
        "influx_lines": ["icmp,device=sw1 rtt_ms=1.5 1700000000000000000"],
        "sqlite_journal": "wal",
        "sqlite_rows": 1,
        "control_socket": "status",
        "sd_notify": "READY=1\nSTATUS=schedule armed",
        "sighup": "handled",
        "executor_thread": True,
        "ctypes_callback": 7,  # libffi falls back from W+X memory on its own
        # refused
        "write_outside_state": "EROFS",
        "proc_sys": "ENOENT",  # ProcSubset=pid: read sysctls before the sandbox, or try the socket
        "netlink_socket": "EAFNOSUPPORT",
        "packet_socket": "EAFNOSUPPORT",
        "write_exec_memory": "EPERM",
        "nice": "EPERM",
        "privileged_port": "EACCES",
    }, result.stderr
    assert not outside.exists()
