"""The network lab itself (lab/netlab.py): does each fault look like what it claims, and is
everything gone afterwards, even after an exception or a crashed run?

Measured with iputils `ping`, an independent tool. Another test running a raw-socket ICMP
sweep at the same time can hand ping a reply with a colliding id (a nonsense RTT, and
without a deadline a ping that never ends), so every ping here has a deadline (-w) and
delays are read as the median of the per-reply times.
"""

from __future__ import annotations

import os
import re
import socket
import statistics
import subprocess
import sys
import textwrap
from dataclasses import dataclass

import pytest

from lab import netlab
from lab.netlab import (SILENT, Host, cleanup_stale, count_packets, drop_input, drop_output, leftovers,
                          loopback_addresses, lossy_input, netns_hosts, nft_table)
from lab.support import REPO, require_binary, require_root, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.root]


@pytest.fixture(autouse=True)
def _lab_tools() -> None:
    require_root()
    for tool in ("ip", "nft", "ping", "sysctl"):
        require_binary(tool)


@dataclass
class PingResult:
    returncode: int
    transmitted: int
    received: int
    times_ms: list[float]
    output: str

    @property
    def loss(self) -> float:
        return 1 - self.received / self.transmitted if self.transmitted else 1.0


def ping(address: str, count: int = 1, interval_s: float = 0.2, wait_s: float = 1, deadline_s: float | None = None,
         quiet: bool = False) -> PingResult:
    """iputils ping. With `deadline_s` it stops after `count` replies or at the deadline."""
    argv = ["ping", "-n", "-c", str(count), "-i", str(interval_s), "-W", str(wait_s)]
    if deadline_s is not None:
        argv += ["-w", str(deadline_s)]
    if quiet:
        argv.append("-q")
    result = subprocess.run(argv + [address], capture_output=True, text=True,
                            timeout=(deadline_s or count * interval_s + wait_s) + 10)
    output = result.stdout + result.stderr
    sent = re.search(r"(\d+) packets transmitted", output)
    received = re.search(r"(\d+) received", output)
    times = [float(m) for m in re.findall(r"time=([\d.]+) ms(?!.*DUP)", output)]
    return PingResult(result.returncode, int(sent.group(1)) if sent else 0,
                      int(received.group(1)) if received else 0, times, output)


def assert_no_leftovers(pid: int = os.getpid()) -> None:
    assert leftovers(pid) == [], f"lab objects left behind: {leftovers(pid)}"


# --- nftables ---------------------------------------------------------------------------------

def test_drop_input_makes_ping_time_out_and_is_removed_on_exit():
    down, = loopback_addresses(1)
    assert ping(down).returncode == 0, "the loopback address must answer before the rule"
    with nft_table([drop_input(down)]) as table:
        assert f"table inet {table.name}" in table.listing()
        result = ping(down, wait_s=1)
        assert result.returncode == 1 and result.transmitted == 1 and result.received == 0, result.output
        assert "not permitted" not in result.output  # a clean timeout, not a local error
    assert_no_leftovers()
    assert ping(down).returncode == 0


def test_drop_output_fails_locally_with_eperm():
    unsendable, = loopback_addresses(1)
    echo_request = b"\x08\x00\xf7\xff\x00\x00\x00\x00"  # id 0, seq 0, checksum precomputed
    with nft_table([drop_output(unsendable)]):
        with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as sock:
            with pytest.raises(PermissionError):
                sock.sendto(echo_request, (unsendable, 0))
        # iputils ping counts the EPERM as sent-and-lost without a word (so a probe must look
        # at sendto's result itself); it still fails.
        result = ping(unsendable)
        assert result.returncode != 0 and result.received == 0, result.output
    assert_no_leftovers()


def test_lossy_input_loses_roughly_the_configured_share():
    lossy, = loopback_addresses(1)
    with nft_table([lossy_input(lossy, 30)]):
        result = ping(lossy, count=200, interval_s=0.005, deadline_s=20, quiet=True)
    # 200 replies wanted; at 30 % about 286 requests. Binomial sd ~3 points; +-15 is > 4 sd.
    assert result.received == 200, result.output
    assert 0.15 <= result.loss <= 0.45, result.output
    assert_no_leftovers()


def test_update_swaps_rules_atomically_so_a_host_can_recover():
    flapping, steady = loopback_addresses(2)
    with nft_table([drop_input(flapping)]) as table:
        assert ping(flapping).received == 0
        table.update([drop_input(steady)])
        assert ping(flapping).received == 1
        assert ping(steady).received == 0
    assert_no_leftovers()


def test_count_packets_counts_what_went_out_and_came_back_without_dropping_it():
    counted, other = loopback_addresses(2)
    with nft_table([count_packets("out", counted, "requests", "icmp type echo-request"),
                    count_packets("in", counted, "replies", "icmp type echo-reply")]) as table:
        assert table.counters() == {"requests": 0, "replies": 0}
        assert ping(counted, count=3, interval_s=0.2).received == 3
        assert ping(other).received == 1  # another address: not counted
        assert table.counters() == {"requests": 3, "replies": 3}
    with pytest.raises(ValueError):
        count_packets("out", counted, "Bad Name")
    assert_no_leftovers()


def test_table_is_deleted_when_the_block_raises():
    down, = loopback_addresses(1)
    with pytest.raises(KeyError):
        with nft_table([drop_input(down)]):
            raise KeyError("boom")
    assert_no_leftovers()


def test_rules_refuse_the_shared_loopback_addresses_and_bad_input():
    with pytest.raises(ValueError, match="127.0.0.1"):
        drop_input("127.0.0.0/8")
    with pytest.raises(ValueError, match="::1"):
        drop_output("::1")
    with pytest.raises(ValueError):
        lossy_input("127.0.0.77", 130)
    assert lossy_input("127.0.0.77", 0.5).text == \
        "ip daddr 127.0.0.77 icmp type echo-request numgen random mod 10000 < 50 drop"
    assert drop_input("::2").text == "ip6 daddr ::2 drop"
    assert drop_input("127.0.0.88", "udp dport 16161").text == "ip daddr 127.0.0.88 udp dport 16161 drop"


# --- network namespace hosts ------------------------------------------------------------------

def test_netns_hosts_answer_with_the_configured_delay():
    with netns_hosts({"fast": (0, 0), "slow": (50, 0), "slower": Host(200, 0)}) as lab:
        assert lab["fast"] == f"10.231.{lab.subnet.network_address.packed[2]}.2"
        for key, delay_ms in (("fast", 0), ("slow", 50), ("slower", 200)):
            result = ping(lab[key], count=20, interval_s=0.05, wait_s=2, deadline_s=15)
            assert result.received == 20, result.output
            median = statistics.median(result.times_ms)
            # ping prints 3 significant digits (200 ms -> "time=200"); the veth adds ~0.1-0.3 ms.
            assert delay_ms - 0.5 <= median <= delay_ms + 2.0, f"{key}: median {median} ms\n{result.output}"
    assert_no_leftovers()


def test_netns_host_loses_the_configured_share():
    with netns_hosts({"lossy": (0, 30)}, seed=20231) as lab:
        result = ping(lab["lossy"], count=200, interval_s=0.005, wait_s=1, deadline_s=20, quiet=True)
    assert result.received == 200, result.output
    assert 0.15 <= result.loss <= 0.45, result.output
    assert_no_leftovers()


def test_silent_host_is_up_but_ignores_echo_requests():
    with netns_hosts({"quiet": SILENT, "10.231.X.9": (0, 0)}) as lab:
        assert lab["10.231.X.9"].endswith(".9")
        assert ping(lab["10.231.X.9"]).received == 1
        assert ping(lab["quiet"]).received == 0
        # Up: the namespace's TCP stack answers at once with a reset.
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((lab["quiet"], 9), timeout=2).close()


def test_only_silent_hosts_need_no_responder():
    with netns_hosts({"a": SILENT, "b": None}) as lab:
        assert lab.responder_pid is None
        assert ping(lab["a"]).received == 0
    assert_no_leftovers()


def test_set_link_takes_every_host_down_and_back():
    with netns_hosts({"h": (0, 0)}) as lab:
        lab.set_link(False)
        assert ping(lab["h"]).received == 0
        lab.set_link(True)
        wait_until(lambda: ping(lab["h"]).received == 1, timeout_s=5, what="the link to come back")


def test_concurrent_labs_get_distinct_names_and_subnets():
    with netns_hosts({"a": (0, 0)}) as one, netns_hosts({"a": (0, 0)}) as two:
        assert one.netns != two.netns and one.veth != two.veth
        assert one.subnet != two.subnet
        assert all(len(name) <= 15 for name in (one.veth, one.peer, two.veth, two.peer))
        assert ping(one["a"]).received == 1 and ping(two["a"]).received == 1
    assert_no_leftovers()


def test_everything_is_removed_when_the_block_raises():
    with pytest.raises(RuntimeError, match="boom"):
        with netns_hosts({"a": (10, 0)}) as lab:
            responder = lab.responder_pid
            raise RuntimeError("boom")
    assert_no_leftovers()
    assert not netlab.pid_alive(responder)


def test_spec_errors_are_reported_before_anything_is_created():
    with pytest.raises(ValueError, match="2..254"):
        with netns_hosts({1: (0, 0)}):
            pass
    with pytest.raises(ValueError, match="same host number"):
        with netns_hosts({5: (0, 0), "10.231.X.5": (0, 0)}):
            pass
    with pytest.raises(ValueError, match="loss"):
        with netns_hosts({"a": (0, 120)}):
            pass
    assert_no_leftovers()


def test_a_crashed_run_is_cleaned_up_by_the_next_one(tmp_path):
    """A process that dies without cleaning up: its responder exits by itself, and the next
    entry removes its namespace, veth and nft table (names carry the dead pid)."""
    script = tmp_path / "crash.py"
    script.write_text(textwrap.dedent("""
        import os, sys
        from lab.netlab import drop_input, loopback_addresses, netns_hosts, nft_table
        with nft_table([drop_input(loopback_addresses(1)[0])]) as table, netns_hosts({"a": (5, 0)}) as lab:
            print(lab.responder_pid, lab.netns, lab.veth, table.name, flush=True)
            sys.stdin.readline()
            os._exit(3)  # no clean-up at all, like a SIGKILL
    """))
    child = subprocess.Popen([sys.executable, str(script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        responder, netns, veth, table = child.stdout.readline().split()
        # Hold the lab lock from the crash to our check, so that no parallel run cleans up first.
        with netlab._locked():
            child.stdin.write("go\n")
            child.stdin.flush()
            assert child.wait(30) == 3
            expected = {f"netns {netns}", f"link {veth}", f"nft table inet {table}"}
            assert set(leftovers(child.pid)) == expected
            assert set(netlab._cleanup_stale_locked()) >= expected
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert_no_leftovers(child.pid)
    wait_until(lambda: not netlab.pid_alive(int(responder)), timeout_s=5, what="the orphaned responder to exit")
