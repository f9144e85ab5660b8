"""`workers: 2`: the daemon as a parent and two worker processes, probing real loopback hosts.

What systemd sees (READY once, from the main process only; WATCHDOG only while every worker
reports), a worker killed and restarted, a reload that deals new devices, a worker that cannot
start, and SIGTERM with nothing left running. Across processes, so nothing here is mocked: the
processes, the sockets and the signals are the real ones.
"""

from __future__ import annotations

import array
import json
import os
import signal
import socket
import struct
import subprocess
import time
from pathlib import Path

import pytest

from lab.netlab import netns_hosts
from lab.support import VENV_BIN, Process, require_root, wait_until
from tests.integration.test_daemon import _status, _write_config, workdir  # noqa: F401 - the fixture
from tests.integration.test_icmp import DROP_CAP_NET_RAW

pytestmark = [pytest.mark.integration, pytest.mark.root]

NETVIGIL = str(VENV_BIN / "netvigil")
SITES = "sites:\n  - {name: east, level: street}\n  - {name: west, level: street}\ndevices:\n"


def _inventory(east: int, west: int, net: int = 41) -> str:
    """Devices in two streets: the two workers get one street each."""
    return SITES + "".join(
        f"  - {{name: {street}-{i}, address: 127.0.{net}.{i + 1 + (100 if street == 'west' else 0)}, "
        f"class: switch, site: {street}}}\n" for street, count in (("east", east), ("west", west))
        for i in range(count))


def _settings(workdir: Path, east: int = 4, west: int = 4) -> Path:
    settings = _write_config(workdir, "", "workers: 2\napi: {enabled: false}\n")
    (workdir / "inventory.yaml").write_text(_inventory(east, west))
    return settings


class CredentialListener:
    """NOTIFY_SOCKET as systemd has it, with the sender's pid of every datagram (SO_PASSCRED):
    systemd (NotifyAccess=main) takes notifications from the main process only."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.messages: list[tuple[float, int, str]] = []  # (monotonic time, sender pid, text)

    def collect(self) -> list[tuple[float, int, str]]:
        room = socket.CMSG_SPACE(struct.calcsize("3i"))
        while True:
            try:
                data, ancillary, _flags, _address = self.sock.recvmsg(65536, room)
            except (socket.timeout, BlockingIOError):
                return self.messages
            pid = -1
            for level, kind, payload in ancillary:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    pid = array.array("i", payload[:struct.calcsize("3i")])[0]
            self.messages.append((time.monotonic(), pid, data.decode()))

    def lines(self, text: str) -> list[tuple[float, int]]:
        messages = self.messages if self.sock.fileno() < 0 else self.collect()
        return [(at, pid) for at, pid, message in messages if text in message.splitlines()]

    def close(self) -> None:
        self.sock.close()


def _start(workdir: Path, settings: Path, **env) -> Process:
    require_root()
    environ = {**os.environ, **env}
    environ.pop("JOURNAL_STREAM", None)
    return Process([NETVIGIL, "run", "-c", str(settings)], workdir / "daemon.log", env=environ)


def _workers(settings: Path) -> list[dict]:
    daemon = _status(settings)["daemon"]
    return daemon["workers"] if daemon else []


def _up(settings: Path, count: int) -> bool:
    """Whether the daemon answers with `count` devices up (False while it starts)."""
    result = subprocess.run([NETVIGIL, "status", "-c", str(settings), "--json"], capture_output=True, text=True,
                            timeout=30)
    daemon = json.loads(result.stdout)["daemon"] if result.returncode == 0 else None
    return daemon is not None and daemon["up"] == count


def _last_seen(settings: Path) -> dict[str, str]:
    return {row["device"]: row["last_seen"] for row in _status(settings)["devices"]}


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_ready_once_from_the_main_process_and_watchdog_only_while_every_worker_reports(workdir):
    settings = _settings(workdir)
    listener = CredentialListener(workdir / "notify.sock")
    process = _start(workdir, settings, NOTIFY_SOCKET=str(listener.path), WATCHDOG_USEC="1000000",
                     WATCHDOG_PID="")
    try:
        wait_until(lambda: listener.lines("READY=1"), timeout_s=60, what="READY=1")
        wait_until(lambda: _up(settings, 8), timeout_s=30, what="8 devices up")
        workers = _workers(settings)
        assert [w["devices"] for w in workers] == [4, 4] and all(w["alive"] for w in workers)
        assert {frozenset(w["sites"]) for w in workers} == {frozenset({"east"}), frozenset({"west"})}
        wait_until(lambda: len(listener.lines("WATCHDOG=1")) >= 3, timeout_s=10, what="WATCHDOG=1")

        # A worker that stops reporting (stopped, as a hung process would be): no WATCHDOG=1,
        # so systemd restarts the service after WatchdogSec.
        stopped = workers[0]["pid"]
        os.kill(stopped, signal.SIGSTOP)
        try:
            wait_until(lambda: not all(w["alive"] for w in _workers(settings)), timeout_s=30,
                       what="the stopped worker to count as not alive")
            listener.collect()  # what was sent before now is stamped before now
            silent_from = time.monotonic()
            time.sleep(4)
            assert not [at for at, _ in listener.lines("WATCHDOG=1") if at > silent_from], process.log()[-2000:]
            assert process.log().count("watchdog: not confirmed to systemd: worker 1 is not running") == 1
        finally:
            os.kill(stopped, signal.SIGCONT)
        listener.collect()
        resumed = time.monotonic()
        wait_until(lambda: [at for at, _ in listener.lines("WATCHDOG=1") if at > resumed], timeout_s=15,
                   what="WATCHDOG=1 again once the worker reports")
        assert "watchdog: confirmed to systemd again" in process.log()
    finally:
        code = process.stop()
        listener.collect()
        listener.close()
    assert code == 0, process.log()
    senders = {pid for _, pid, _ in listener.messages}
    assert senders == {process.pid}, (senders, process.pid)  # the workers never talk to systemd
    assert len(listener.lines("READY=1")) == 1
    assert any("STOPPING=1" in message for _, _, message in listener.messages)


def test_a_killed_worker_is_logged_restarted_and_probes_its_devices_again(workdir):
    settings = _settings(workdir)
    process = _start(workdir, settings)
    try:
        wait_until(lambda: _up(settings, 8), timeout_s=60, what="8 devices up")
        before = _workers(settings)
        runs_before = _status(settings)["daemon"]["scheduler"]["icmp"]["runs_total"]
        victim = before[1]
        os.kill(victim["pid"], signal.SIGKILL)
        wait_until(lambda: "worker 2 restarted (pid " in process.log(), timeout_s=30, what="the restart")
        log = process.log()
        assert (f"worker 2 (pid {victim['pid']}) stopped (killed by SIGKILL); its 4 devices are not probed until "
                f"it is restarted in 1 s") in log
        after = _workers(settings)
        assert after[1]["pid"] != victim["pid"] and after[0]["pid"] == before[0]["pid"]
        assert after[1]["sites"] == victim["sites"] and after[1]["devices"] == 4
        # Its devices are probed again by the new process, and the counters did not go back.
        restarted_at = time.time()
        owned = [f"{victim['sites'][0]}-{i}" for i in range(4)]
        wait_until(lambda: all(_seen_after(settings, name, restarted_at) for name in owned), timeout_s=30,
                   what="the restarted worker's devices probed again")
        assert _status(settings)["daemon"]["scheduler"]["icmp"]["runs_total"] >= runs_before
        assert "Traceback" not in process.log()
    finally:
        code = process.stop()
    assert code == 0, process.log()


def _seen_after(settings: Path, device: str, moment: float) -> bool:
    from datetime import datetime

    seen = _last_seen(settings).get(device)
    return seen is not None and datetime.fromisoformat(seen).timestamp() >= int(moment)


def test_reload_deals_new_devices_to_the_workers(workdir):
    settings = _settings(workdir, east=2, west=2)
    process = _start(workdir, settings)
    try:
        wait_until(lambda: _up(settings, 4), timeout_s=60, what="4 devices up")
        pids = [w["pid"] for w in _workers(settings)]
        (workdir / "inventory.yaml").write_text(_inventory(east=2, west=6))
        process.popen.send_signal(signal.SIGHUP)
        wait_until(lambda: _up(settings, 8), timeout_s=30, what="the 4 new devices up")
        workers = _workers(settings)
        assert [w["pid"] for w in workers] == pids  # the same processes took the change
        assert sorted(w["devices"] for w in workers) == [4, 4]  # west is cut to keep the load even
        assert "reloaded" in process.log()
    finally:
        code = process.stop()
    assert code == 0, process.log()


def test_sigterm_stops_every_worker_and_exits_0(workdir):
    settings = _settings(workdir)
    process = _start(workdir, settings)
    try:
        wait_until(lambda: _up(settings, 8), timeout_s=60, what="8 devices up")
        pids = [w["pid"] for w in _workers(settings)]
    finally:
        code = process.stop()
    assert code == 0, process.log()
    assert all(_gone(pid) for pid in pids)
    # What the workers probed went through the parent's outputs: the embedded store has it.
    stopped = _status(settings)
    assert stopped["source"] != "daemon"
    assert len([row for row in stopped["devices"] if row["state"] == "up"]) == 8, stopped["devices"]


def test_a_worker_that_cannot_start_stops_the_daemon_with_its_sentence(workdir):
    # No raw sockets (CAP_NET_RAW dropped) and no ping sockets (ping_group_range "1 0") in a
    # namespace of this test: the workers' ICMP prober cannot start.
    require_root()
    settings = _settings(workdir)
    with netns_hosts({"peer": (0, 0)}) as lab:
        subprocess.run(lab.exec_argv("sysctl", "-qw", "net.ipv4.ping_group_range=1 0"), check=True)
        result = subprocess.run(lab.exec_argv(*DROP_CAP_NET_RAW, NETVIGIL, "run", "-c", str(settings)),
                                capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    [sentence] = [line for line in result.stderr.splitlines() if "cannot start" in line]
    assert "CAP_NET_RAW" in sentence and "ping_group_range" in sentence, result.stderr
    assert not _processes_with(str(settings)), "a worker outlived the daemon that could not start"


def _processes_with(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if text in (entry / "cmdline").read_bytes().decode(errors="replace") and not _gone(int(entry.name)):
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


async def test_a_parent_in_one_worker_is_re_probed_for_children_in_the_other_and_alerted_once(
        workdir, webhook_receiver):
    # The core switch is polled every 30 s, its 10 codecs every 2 s, and they are dealt to
    # different workers. When all of them go silent the codecs fail first; the core's own poll
    # may be up to 30 s away, so one grouped alert within a few seconds is only possible if the
    # main process has the core's worker re-probe it (counted on /metrics) before it judges the
    # codecs.
    import asyncio

    import aiohttp

    from lab.netlab import drop_input, loopback_addresses, nft_table
    from lab.support import free_port
    from monitor import config
    from monitor.workers.partition import split

    require_root()
    addresses = loopback_addresses(11)
    api_port = free_port()
    (workdir / "inventory.yaml").write_text(
        "sites:\n  - {name: room}\n  - {name: east}\ndevices:\n"
        f"  - {{name: core-sw, address: {addresses[0]}, class: switch, site: room, icmp: {{interval_s: 30}}}}\n"
        + "".join(f"  - {{name: codec-{i}, address: {address}, class: codec, site: east, parent: core-sw}}\n"
                  for i, address in enumerate(addresses[1:])))
    settings = workdir / "netvigil.yaml"
    settings.write_text(f"""
inventory: [inventory.yaml]
state_dir: state
workers: 2
probes:
  icmp: {{interval_s: 2, count: 2, echo_interval_ms: 50, timeout_s: 0.5}}
scheduler: {{slot_s: 0.5}}
faults: {{heightened_watch: {{periods: []}}}}
notifications:
  channels: {{tickets: {{webhook: {{url: "{webhook_receiver.url}"}}}}}}
  groups: {{oncall: {{tiers: [[tickets]]}}}}
  default_groups: [oncall]
  group_wait_s: 1
api: {{listen: "127.0.0.1:{api_port}"}}
""")
    shards = split(config.load(settings).inventory.devices, 2)
    core_shard = next(shard for shard in shards if "core-sw" in shard.devices)
    assert any(f"codec-{i}" not in core_shard.devices for i in range(10)), shards

    async def reprobes() -> float:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{api_port}/metrics") as response:
                text = await response.text()
        return sum(float(line.split()[-1]) for line in text.splitlines()
                   if line.startswith("netvigil_fault_reprobes_total"))

    async def until(predicate, timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while not predicate():
            assert time.monotonic() < deadline, f"timed out waiting for {what}:\n{process.log()[-3000:]}"
            assert process.alive(), process.log()[-3000:]
            await asyncio.sleep(0.2)

    process = _start(workdir, settings)
    try:
        await until(lambda: _up(settings, 11), 60, "every device up")
        with nft_table([drop_input(address) for address in addresses]):
            dropped = time.monotonic()
            await until(lambda: webhook_receiver.delivered, 20, "the alert")
            alerted_after = webhook_receiver.requests[0].at - dropped
            await asyncio.sleep(5)
            assert await reprobes() >= 1
            [alert] = webhook_receiver.delivered
            [fault] = alert["faults"]
            assert fault["device"] == "core-sw", alert
            assert sorted(fault["symptoms"]) == [f"codec-{i}" for i in range(10)]
            assert alerted_after < 15, alerted_after
    finally:
        code = process.stop()
    assert code == 0, process.log()
