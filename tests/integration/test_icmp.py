"""The ICMP probe against real hosts: loopback, and hosts made down, lossy, slow or unable to
send with nftables and a network namespace this test creates (lab/netlab.py)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from probes.icmp import pinger as icmp
from probes.base import ResultCode, Target
from probes.icmp.settings import IcmpSettings
from lab.netlab import SILENT, drop_input, drop_output, loopback_addresses, lossy_input, netns_hosts, nft_table
from lab.support import VENV_BIN, require_root

pytestmark = [pytest.mark.integration, pytest.mark.root]

DROP_CAP_NET_RAW = ["setpriv", "--inh-caps=-net_raw", "--bounding-set=-net_raw"]


def _targets(*addresses):
    return [Target(a, a, {"device": a, "address": a}) for a in addresses]


async def _probe(addresses, **settings):
    require_root()
    pinger = icmp.Pinger("auto")
    pinger.open()
    await pinger.start()
    try:
        base = {"count": 3, "echo_interval_ms": 20, "timeout_s": 1.0, "interval_s": 30}
        base.update(settings)
        samples = await icmp.probe(pinger, _targets(*addresses), IcmpSettings(**base))
    finally:
        pinger.close()
    return {s.tags["device"]: s.fields for s in samples}


async def test_loopback_ipv4_and_ipv6_are_up_with_small_rtts():
    fields = await _probe(["127.0.0.1", "::1", "127.0.0.53"])
    for address in ("127.0.0.1", "::1", "127.0.0.53"):
        f = fields[address]
        assert (f["up"], f["sent"], f["received"], f["loss_pct"]) == (1, 3, 3, 0.0), address
        assert 0 <= f["rtt_min_ms"] <= f["rtt_avg_ms"] <= f["rtt_max_ms"] < 50
        assert f["result_code"] == ResultCode.OK


async def test_a_thousand_live_addresses_in_one_batch_are_all_up():
    addresses = [f"127.3.{i // 250}.{i % 250 + 1}" for i in range(1000)]
    fields = await _probe(addresses, count=2, echo_interval_ms=10)
    assert [a for a in addresses if fields[a]["up"] != 1] == []
    assert all(fields[a]["received"] == 2 for a in addresses)


# The hosts made down, unsendable or lossy are this process's own loopback addresses: the
# nftables rules are the machine's, and another test process (a parallel worker, another run)
# may be probing or serving on the well-known ones meanwhile.
async def test_dropped_host_is_down_by_timeout_while_others_stay_up():
    down, up = loopback_addresses(2)
    with nft_table([drop_input(down)]):
        fields = await _probe([down, up], count=2, timeout_s=0.5)
    assert fields[down]["up"] == 0
    assert fields[down]["loss_pct"] == 100.0
    assert fields[down]["sent"] == 2
    assert fields[down]["result_code"] == ResultCode.TIMEOUT
    assert "rtt_avg_ms" not in fields[down]
    assert fields[up]["up"] == 1


async def test_host_whose_echoes_cannot_be_sent_is_down_not_zero_loss():
    [unsendable] = loopback_addresses(1)
    with nft_table([drop_output(unsendable)]):
        fields = await _probe([unsendable], count=2)
    f = fields[unsendable]
    assert (f["up"], f["sent"], f["received"]) == (0, 0, 0)
    assert f["loss_pct"] == 100.0
    assert f["result_code"] == ResultCode.SEND_FAILED


async def test_lossy_host_reports_its_loss():
    [lossy] = loopback_addresses(1)
    with nft_table([lossy_input(lossy, 30)]):
        fields = await _probe([lossy], count=200, echo_interval_ms=2, timeout_s=0.5)
    f = fields[lossy]
    assert f["up"] == 1
    assert f["sent"] == 200
    assert 15 <= f["loss_pct"] <= 45  # 30 % configured; binomial spread over 200 echoes
    assert f["received"] == round(200 * (1 - f["loss_pct"] / 100))


async def test_slow_host_rtt_and_silent_host_in_a_namespace():
    with netns_hosts({"slow": (50, 0), "quiet": SILENT}) as lab:
        fields = await _probe([lab["slow"], lab["quiet"], "127.0.0.1"], count=5, timeout_s=1.0)
    slow = fields[lab["slow"]]
    assert slow["up"] == 1 and slow["received"] == 5
    # The responder holds each reply 50 ms; kernel timestamps keep our own latency out.
    assert 49.0 <= slow["rtt_min_ms"] and slow["rtt_max_ms"] <= 60.0
    assert slow["jitter_ms"] < 5.0
    assert fields[lab["quiet"]]["up"] == 0
    assert fields["127.0.0.1"]["up"] == 1


async def test_reply_later_than_the_timeout_does_not_count():
    with netns_hosts({"slow": (300, 0)}) as lab:
        fields = await _probe([lab["slow"]], count=2, timeout_s=0.1)
    assert fields[lab["slow"]]["up"] == 0
    assert fields[lab["slow"]]["received"] == 0


def _netvigil_in_namespace(lab, ping_group_range: str, *args: str) -> subprocess.CompletedProcess:
    subprocess.run(lab.exec_argv("sysctl", "-qw", f"net.ipv4.ping_group_range={ping_group_range}"), check=True)
    argv = lab.exec_argv(*DROP_CAP_NET_RAW, str(VENV_BIN / "netvigil"), "probe", *args)
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


def test_unprivileged_mode_uses_ping_sockets_without_cap_net_raw():
    require_root()
    with netns_hosts({"peer": (0, 0)}) as lab:
        result = _netvigil_in_namespace(lab, "0 2147483647", lab["peer"], "--count", "3", "--json")
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["mode"] == "unprivileged"
    assert answer["fields"]["received"] == 3


def test_privileged_mode_is_used_when_ping_sockets_are_not_allowed():
    require_root()
    with netns_hosts({"peer": (0, 0)}) as lab:
        subprocess.run(lab.exec_argv("sysctl", "-qw", "net.ipv4.ping_group_range=1 0"), check=True)
        result = subprocess.run(lab.exec_argv(str(VENV_BIN / "netvigil"), "probe", lab["peer"], "--json",
                                              "--count", "2"), capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["mode"] == "privileged"


def test_neither_mode_permitted_exits_1_with_how_to_fix():
    require_root()
    with netns_hosts({"peer": (0, 0)}) as lab:
        result = _netvigil_in_namespace(lab, "1 0", lab["peer"])
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "CAP_NET_RAW" in result.stderr and "ping_group_range" in result.stderr
    assert result.stderr.count("\n") == 1  # one sentence, one line


def test_host_name_that_does_not_resolve_is_down_with_resolve_failed():
    require_root()
    # Inside a fresh namespace there is no route to any name server, so the lookup fails
    # without a packet leaving this machine.
    with netns_hosts({"peer": (0, 0)}) as lab:
        result = subprocess.run(lab.exec_argv(str(VENV_BIN / "netvigil"), "probe", "nvr-17.example.invalid",
                                              "--json", "--count", "1"),
                                capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    answer = json.loads(result.stdout)
    assert answer["fields"]["up"] == 0
    assert answer["fields"]["result_code"] == ResultCode.RESOLVE_FAILED
    assert "cannot resolve" in answer["errors"][0]


async def test_ten_thousand_addresses_in_one_sweep_no_false_down_and_true_rtt():
    # Correctness under load (timing targets live in bench/icmp_sweep.py): every live address
    # is reported up, and a host 50 ms away still measures 50 ms while 10,000 others are swept.
    addresses = [f"127.4.{i // 250}.{i % 250 + 1}" for i in range(10_000)]
    with netns_hosts({"slow": (50, 0)}) as lab:
        fields = await _probe(addresses + [lab["slow"]], count=1, timeout_s=1.0)
    assert [a for a in addresses if fields[a]["up"] != 1] == []
    assert 48.0 <= fields[lab["slow"]]["rtt_avg_ms"] <= 55.0


SLOW_DNS_SCRIPT = r"""
import asyncio, json, socket, sys
sys.path.insert(0, sys.argv[1])
from probes.icmp import pinger as icmp
from probes.base import Target
from probes.icmp.settings import IcmpSettings

silent_dns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
silent_dns.bind(("127.0.0.1", 53))  # a name server that never answers (inside this namespace)
events = []

async def main():
    pinger = icmp.Pinger("auto")
    pinger.open()
    await pinger.start()
    real_ping = pinger.ping
    async def recorded_ping(addresses, *args):
        result = await real_ping(addresses, *args)
        events.append("pinged " + ",".join(addresses))
        return result
    pinger.ping = recorded_ping
    names = icmp.NameCache(timeout_s=1.5)
    targets = [Target("literal", sys.argv[2], {"device": "literal"}),
               Target("named", "nvr-03.example.invalid", {"device": "named"})]
    settings = IcmpSettings(count=2, echo_interval_ms=20, timeout_s=0.5)
    first = await icmp.probe(pinger, targets, settings, names=names)
    events.append("first run done")
    expiry = names._entries["nvr-03.example.invalid"][0]
    second = await icmp.probe(pinger, targets, settings, names=names)
    events.append("second run done")
    print(json.dumps({"events": events, "first": [dict(s.fields) for s in first],
                      "second": [dict(s.fields) for s in second],
                      "cached": names._entries["nvr-03.example.invalid"][0] == expiry}))

asyncio.run(main())
"""


def test_a_name_server_that_never_answers_does_not_hold_up_literal_addresses(tmp_path):
    require_root()
    from lab.support import REPO

    script = tmp_path / "slow_dns.py"
    script.write_text(SLOW_DNS_SCRIPT)
    with netns_hosts({"peer": (0, 0)}) as lab:
        # `ip netns exec` mounts /etc/netns/<name>/resolv.conf over /etc/resolv.conf.
        netns_etc = Path("/etc/netns") / lab.netns
        netns_etc.mkdir(parents=True, exist_ok=True)
        try:
            (netns_etc / "resolv.conf").write_text("nameserver 127.0.0.1\noptions timeout:5 attempts:1\n")
            result = subprocess.run(lab.exec_argv(str(VENV_BIN / "python"), str(script), str(REPO), lab["peer"]),
                                    capture_output=True, text=True, timeout=60)
        finally:
            shutil.rmtree(netns_etc, ignore_errors=True)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    # The literal (a host in the namespace; its own 127.0.0.1 ignores echoes there) was pinged
    # and answered while the name was still being looked up.
    assert answer["events"][0] == f"pinged {lab['peer']}"
    assert answer["first"][0]["up"] == 1
    assert answer["first"][1]["up"] == 0 and answer["first"][1]["result_code"] == ResultCode.RESOLVE_FAILED
    # The failure is remembered: the second run does not ask the silent server again.
    assert answer["cached"] is True
    assert answer["second"][1]["result_code"] == ResultCode.RESOLVE_FAILED


FORGERY_SCRIPT = r"""
import asyncio, json, subprocess, sys
sys.path.insert(0, sys.argv[1])
from probes.icmp import pinger as icmp
from probes.base import Target
from probes.icmp.settings import IcmpSettings

mode, victim, live = sys.argv[2], sys.argv[3], sys.argv[4].split(",")
forger = subprocess.Popen([sys.executable, sys.argv[5], "--impersonate", victim], stdout=subprocess.PIPE,
                          text=True)
assert forger.stdout.readline().strip() == "ready"

async def main():
    pinger = icmp.Pinger(mode)
    pinger.open()
    await pinger.start()
    runs = []
    targets = [Target(a, a, {"device": a}) for a in live + [victim]]
    for _ in range(5):
        samples = await icmp.probe(pinger, targets, IcmpSettings(count=5, echo_interval_ms=30, timeout_s=0.5))
        runs.append({s.tags["device"]: s.fields for s in samples})
    pinger.close()
    return {"mode": pinger.mode, "runs": runs}

answer = asyncio.run(main())
forger.terminate()
answer["forger"] = json.loads(forger.communicate(timeout=10)[0].strip().splitlines()[-1])
print(json.dumps(answer))
"""


# serial: the forger must see (almost) every echo request as it passes; other tests busy on the same
# CPUs can starve it of the time to read them all.
@pytest.mark.serial
@pytest.mark.parametrize("mode", ["privileged", "unprivileged"])
def test_forged_replies_cannot_make_a_dropped_device_look_up(mode, tmp_path):
    # A forger that sees the echo requests to the other devices answers for a device whose
    # traffic nftables drops: with the observed tokens' neighbours (what a counter would use
    # next), replays of observed payloads, and duplicates of the real replies. All of it runs
    # inside a namespace of this test: its own loopback, nft table and ping_group_range.
    require_root()
    from lab.support import REPO

    script = tmp_path / "forgery.py"
    script.write_text(FORGERY_SCRIPT)
    victim, live = "127.0.0.9", [f"127.0.0.{n}" for n in range(2, 8)]
    with netns_hosts({"unused": SILENT}) as lab:
        subprocess.run(lab.exec_argv("sysctl", "-qw", "net.ipv4.icmp_echo_ignore_all=0",
                                     "net.ipv4.ping_group_range=0 2147483647"), check=True)
        subprocess.run(lab.exec_argv("nft", "-f", "-"), check=True, text=True,
                       input=f"table inet forgery {{\n chain in {{\n type filter hook input priority 0;\n"
                             f" ip daddr {victim} drop\n }}\n}}\n")
        result = subprocess.run(
            lab.exec_argv(str(VENV_BIN / "python"), str(script), str(REPO), mode, victim, ",".join(live),
                          str(REPO / "lab" / "icmp_forger.py")),
            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["mode"] == mode
    assert answer["forger"]["requests_seen"] >= 5 * 5 * len(live) * 0.9  # it saw (almost) every request
    assert answer["forger"]["forged_sent"] > 1000
    victim_runs = [run[victim] for run in answer["runs"]]
    assert [(f["up"], f["received"]) for f in victim_runs] == [(0, 0)] * 5
    # The live devices count each real echo once: duplicates and forged neighbours add nothing.
    assert [(run[a]["up"], run[a]["received"]) for run in answer["runs"] for a in live] == \
        [(1, 5)] * (5 * len(live))


def test_a_raw_socket_is_given_only_its_own_echo_replies():
    # Several pingers on one host (one per worker process) each have a raw socket; the kernel's
    # socket filter hands each only the echo replies with its identifier, so no process parses
    # and drops the others' replies. The replies come from this host's kernel on loopback.
    import socket
    import time

    require_root()
    mine = icmp._FamilySocket(socket.AF_INET, True, 0x1234, 56)
    other = icmp._FamilySocket(socket.AF_INET, True, 0x4321, 56)
    try:
        for seq in (1, 2, 3):
            for sock in (mine, other):
                sock.sock.sendto(sock.packet(b"%08d" % seq, seq), ("127.0.0.1", 0))
        time.sleep(0.3)

        def received(sock) -> list:
            got = []
            while True:
                try:
                    got.append(sock.parse(sock.sock.recv(2048)))
                except BlockingIOError:
                    return got

        assert received(mine) == [(b"%08d" % seq, 0x1234, seq, False) for seq in (1, 2, 3)]
        assert received(other) == [(b"%08d" % seq, 0x4321, seq, False) for seq in (1, 2, 3)]
    finally:
        mine.sock.close()
        other.sock.close()
