"""A network lab for ICMP tests and benchmarks: hosts that are down, lossy, slow or ICMP-silent.

The kernel here has nftables and network namespaces but no netem, so:

* `nft_table(rules)` drops packets to chosen addresses in the host's own network stack:
  `drop_input` (a silent "down": the probe times out), `lossy_input` (a share of the echo
  requests is lost), `drop_output` (the request cannot even be sent: EPERM on sendto); and
  counts them without dropping (`count_packets`, read with `table.counters()`).
* `netns_hosts(spec)` creates one network namespace behind a veth pair with hosts
  10.231.X.2, .3, ... answered by `lab/icmp_responder.py` with a per-host delay and
  loss, or left ICMP-silent (up, but echo requests go unanswered).

From a pytest test (mark it `integration` and `root`)::

    from lab.netlab import SILENT, drop_input, loopback_addresses, lossy_input, netns_hosts, nft_table

    def test_down_lossy_and_slow():
        down, lossy = loopback_addresses(2)          # 127.X.Y.1, .2: this process's own
        with nft_table([drop_input(down), lossy_input(lossy, 30)]) as table, \
             netns_hosts({"slow": (50, 0), "flaky": (0, 30), "quiet": SILENT}) as lab:
            ...                                      # probe down, lossy, lab["slow"], lab["quiet"]
            table.update([])                         # the loopback hosts recover, atomically
            lab.set_link(False)                      # every namespace host unreachable

From a benchmark in bench/ (run from the repository root as `python -m bench.icmp_sweep`, so
that `tests` is importable; root needed) the same context managers work; `lab.addresses`
maps each spec key to its address and `lab.exec_argv(...)` runs a command inside the
namespace (e.g. an snmpd on one of its addresses). The responder runs at SCHED_FIFO by
default, which is what keeps a 50 ms host at 50.1-50.2 ms while a sweep saturates the CPUs.

Both need root, `nft` and `ip`. Traffic rule: rules only drop packets; the namespace uses
10.231.0.0/16 and nothing leaves it or the host. The veth ends have IPv6 switched off and
static neighbour entries, so the lab sends no multicast, router solicitations or ARP.

Every object carries the creating process's pid in its name (`nvt<pid>n7` namespace,
`nvt<pid>h7` / `nvt<pid>p7` veth ends, `nvt<pid>t7` nft table), so each entry first removes
what a crashed earlier run left behind (`cleanup_stale`). A crashed run's responder exits by
itself within half a second, once its parent is gone. A lock file serialises creation and
clean-up between concurrent runs, so parallel tests never pick the same name or subnet.
(If a dead run's pid has been reused by then, its leftovers wait for the next clean-up.)
"""

from __future__ import annotations

import contextlib
import ipaddress
import itertools
import json
import os
import re
import subprocess
import sys
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Literal, Mapping, NamedTuple, Optional, Sequence, Union

from lab.support import Process, file_lock, pid_alive, require_binary, require_root, wait_until

PREFIX = "nvt"
RESPONDER = Path(__file__).resolve().parent / "icmp_responder.py"
NAME_RE = re.compile(rf"^{PREFIX}(\d+)([nhpt])(\d+)$")
_LOCK_PATH = Path("/run/lock" if Path("/run/lock").is_dir() else tempfile.gettempdir()) / "netvigil-netlab.lock"
# Other engineers' loopback servers listen here while our rules are loaded.
_SHARED_ADDRESSES = (ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1"))

_counter = itertools.count(1)

Address = Union[str, ipaddress.IPv4Address, ipaddress.IPv6Address, ipaddress.IPv4Network, ipaddress.IPv6Network]


# --- names, locking, stale clean-up -----------------------------------------------------------

def _name(kind: str, number: int) -> str:
    # <= 15 characters (IFNAMSIZ - 1) for pids up to 7 digits.
    return f"{PREFIX}{os.getpid()}{kind}{number % 10_000}"


def _run(argv: Sequence[str], stdin: Optional[str] = None, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(list(argv), input=stdin, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({result.returncode}): {result.stderr.strip()}"
                           + (f"\ninput:\n{stdin}" if stdin else ""))
    return result


def _locked() -> contextlib.AbstractContextManager[None]:
    return file_lock(_LOCK_PATH)


def _require_tools() -> None:
    require_root()
    require_binary("ip")
    require_binary("nft")


def _netns_names() -> list[str]:
    return [line.split()[0] for line in _run(["ip", "netns", "list"]).stdout.splitlines() if line.strip()]


def _link_names() -> list[str]:
    return [link["ifname"] for link in json.loads(_run(["ip", "-j", "link", "show"]).stdout or "[]")]


def _nft_table_names() -> list[str]:
    names = []
    for line in _run(["nft", "list", "tables"]).stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "table" and parts[1] == "inet":
            names.append(parts[2])
    return names


def leftovers(pid: Optional[int] = None) -> list[str]:
    """Lab objects present now (namespaces, host-side links, nft tables), optionally only `pid`'s."""
    found = [f"netns {n}" for n in _netns_names()] + [f"link {n}" for n in _link_names()] \
        + [f"nft table inet {n}" for n in _nft_table_names()]
    result = []
    for item in found:
        match = NAME_RE.match(item.rsplit(" ", 1)[1])
        if match and (pid is None or int(match.group(1)) == pid):
            result.append(item)
    return result


def _cleanup_stale_locked() -> list[str]:
    removed = []
    # Links first: deleting a namespace destroys its veth pair asynchronously.
    for item in sorted(leftovers(), key=lambda item: not item.startswith("link ")):
        name = item.rsplit(" ", 1)[1]
        if pid_alive(int(NAME_RE.match(name).group(1))):
            continue
        if item.startswith("netns "):
            argv = ["ip", "netns", "delete", name]
        elif item.startswith("link "):
            argv = ["ip", "link", "delete", name]
        else:
            argv = ["nft", "delete", "table", "inet", name]
        if _run(argv, check=False).returncode == 0:
            removed.append(item)
    return removed


def cleanup_stale() -> list[str]:
    """Remove lab objects whose creating process no longer exists; returns what was removed.

    Runs on every entry to `nft_table` and `netns_hosts`. A responder of a crashed run is not
    killed here (it is not ours): it exits by itself once its parent is gone.
    """
    _require_tools()
    with _locked():
        return _cleanup_stale_locked()


def loopback_addresses(count: int) -> list[str]:
    """`count` (<= 254) loopback addresses that belong to this process: 127.X.Y.1.. with X.Y from the pid.

    Use them as the down / lossy / unreachable hosts of a test, so rules loaded by parallel runs
    (or other engineers' tests using the popular 127.0.0.66) never hit each other's hosts.
    """
    if not 1 <= count <= 254:
        raise ValueError("1..254 addresses per process")
    pid = os.getpid()
    return [f"127.{128 + ((pid >> 8) & 0x7F)}.{pid & 0xFF}.{i}" for i in range(1, count + 1)]


# --- nftables ---------------------------------------------------------------------------------

class Rule(NamedTuple):
    """One nft rule statement and the chain it goes to: "in" (input hook) or "out" (output hook)."""

    chain: Literal["in", "out"]
    text: str


def _match(addr: Address) -> tuple[str, str]:
    """("ip daddr 127.0.0.66", "icmp") for an address or network; refuses the shared loopback addresses."""
    net = ipaddress.ip_network(addr, strict=False)
    for shared in _SHARED_ADDRESSES:
        if shared.version == net.version and shared in net:
            raise ValueError(f"{addr}: a rule covering {shared} would break every other test's loopback "
                             "servers; use another 127.x address")
    target = str(net.network_address) if net.num_addresses == 1 else str(net)
    return (f"ip daddr {target}", "icmp") if net.version == 4 else (f"ip6 daddr {target}", "icmpv6")


def drop_input(addr: Address, extra: str = "") -> Rule:
    """Drop everything arriving for `addr` (or only what `extra` matches, e.g. "udp dport 161").

    A silent "down": the request leaves, nothing comes back, the probe times out. Meant for
    loopback addresses: requests to a `netns_hosts` address never pass the host's input hook
    (use `SILENT`, `set_link(False)` or `drop_output` there).
    """
    daddr, _ = _match(addr)
    return Rule("in", " ".join(part for part in (daddr, extra.strip(), "drop") if part))


def lossy_input(addr: Address, pct: float) -> Rule:
    """Drop `pct` % of the echo requests arriving for `addr`, at random (resolution 0.01 %)."""
    if not 0 <= pct <= 100:
        raise ValueError(f"loss {pct} is not within 0..100 %")
    daddr, icmp = _match(addr)
    return Rule("in", f"{daddr} {icmp} type echo-request numgen random mod 10000 < {round(pct * 100)} drop")


def drop_output(addr: Address, extra: str = "") -> Rule:
    """Drop everything this host sends to `addr`: sendto() fails locally with EPERM."""
    daddr, _ = _match(addr)
    return Rule("out", " ".join(part for part in (daddr, extra.strip(), "drop") if part))


def count_packets(chain: Literal["in", "out"], addr: Address, name: str, extra: str = "") -> Rule:
    """Count, never drop: packets this host sends to `addr` ("out") or receives from it ("in")
    that `extra` matches (e.g. "icmp type echo-request"). `NftTable.counters()[name]` reads it.

    What a benchmark uses to count what really went on the wire, instead of trusting the
    program under test to report it."""
    if not re.fullmatch(r"[a-z][a-z0-9_-]*", name):
        raise ValueError(f"{name!r}: a counter name is lower-case letters, digits, - and _")
    address, _ = _match(addr)
    if chain == "in":
        address = address.replace(" daddr ", " saddr ")
    return Rule(chain, " ".join(part for part in (address, extra.strip(), f'counter comment "{name}"') if part))


def _chain_rules(rules: Sequence[Rule], chain: str) -> list[str]:
    for rule in rules:
        if not isinstance(rule, tuple) or len(rule) != 2 or rule[0] not in ("in", "out"):
            raise ValueError(f"{rule!r}: expected Rule(chain='in'|'out', text)")
        if "\n" in rule[1] or ";" in rule[1] or "}" in rule[1]:
            raise ValueError(f"{rule!r}: one rule statement per Rule")
    return [text for name, text in rules if name == chain]


@dataclass
class NftTable:
    """A loaded `table inet <name>` with chains `in` (input hook) and `out` (output hook)."""

    name: str

    def _script(self, rules: Sequence[Rule]) -> str:
        lines = [f"table inet {self.name} {{"]
        for chain, hook in (("in", "input"), ("out", "output")):
            lines.append(f"  chain {chain} {{ type filter hook {hook} priority 0; policy accept;")
            lines += [f"    {text}" for text in _chain_rules(rules, chain)]
            lines.append("  }")
        lines.append("}")
        return "\n".join(lines) + "\n"

    def load(self, rules: Sequence[Rule]) -> None:
        # "add, delete, define" in one transaction: never merges into a table of the same
        # name (a dead process with our pid), and the rule set is swapped atomically.
        script = f"table inet {self.name} {{}}\ndelete table inet {self.name}\n" + self._script(rules)
        _run(["nft", "-f", "-"], stdin=script)

    def update(self, rules: Sequence[Rule]) -> None:
        """Replace the rules atomically (a host goes down or recovers mid-test)."""
        script = f"flush chain inet {self.name} in\nflush chain inet {self.name} out\n"
        for chain in ("in", "out"):
            script += "".join(f"add rule inet {self.name} {chain} {text}\n" for text in _chain_rules(rules, chain))
        _run(["nft", "-f", "-"], stdin=script)

    def listing(self) -> str:
        return _run(["nft", "list", "table", "inet", self.name]).stdout

    def counters(self) -> dict[str, int]:
        """Packets counted so far by each `count_packets` rule, by its name."""
        listing = json.loads(_run(["nft", "-j", "list", "table", "inet", self.name]).stdout)
        found = {}
        for entry in listing["nftables"]:
            rule = entry.get("rule")
            if rule is None or "comment" not in rule:
                continue
            for expression in rule["expr"]:
                if "counter" in expression:
                    found[rule["comment"]] = expression["counter"]["packets"]
        return found

    def delete(self) -> None:
        result = _run(["nft", "delete", "table", "inet", self.name], check=False)
        if result.returncode != 0 and self.name in _nft_table_names():
            raise RuntimeError(f"could not delete nft table inet {self.name}: {result.stderr.strip()}")


@contextlib.contextmanager
def nft_table(rules: Sequence[Rule]) -> Iterator[NftTable]:
    """Load `rules` into a fresh `table inet nvt<pid>t<n>`; delete exactly that table on exit."""
    _require_tools()
    table = NftTable(_name("t", next(_counter)))
    with _locked():
        _cleanup_stale_locked()
    try:
        table.load(rules)
        yield table
    finally:
        table.delete()


# --- network namespace hosts ------------------------------------------------------------------

@dataclass(frozen=True)
class Host:
    """How the responder treats one address: reply after `delay_ms`, lose `loss_pct` % of requests."""

    delay_ms: float = 0.0
    loss_pct: float = 0.0


class _Silent:
    def __repr__(self) -> str:
        return "SILENT"


SILENT = _Silent()
"""Spec value for an address that is up (ARP, TCP, UDP answer) but never answers an echo request."""

HostSpec = Union[Host, tuple, _Silent, None]
_TEMPLATE_RE = re.compile(r"^10\.231\.X\.(\d{1,3})$")


@dataclass(frozen=True)
class NetnsLab:
    """What `netns_hosts` created. `lab[key]` is the address of spec entry `key`."""

    netns: str
    veth: str  # host side
    peer: str  # namespace side
    subnet: ipaddress.IPv4Network
    gateway: str  # the host side's address, 10.231.X.1
    addresses: Mapping[Union[str, int], str]
    hosts: Mapping[str, Union[Host, _Silent]]  # address -> behaviour
    responder_pid: Optional[int] = None
    _log: Optional[Path] = field(default=None, repr=False)

    def __getitem__(self, key: Union[str, int]) -> str:
        return self.addresses[key]

    def exec_argv(self, *argv: str) -> list[str]:
        """`argv` run inside the namespace (e.g. to start an snmpd on one of its addresses)."""
        return ["ip", "netns", "exec", self.netns, *argv]

    def set_link(self, up: bool) -> None:
        """Take the namespace's side of the link down (every host unreachable) or back up."""
        _run(["ip", "-n", self.netns, "link", "set", self.peer, "up" if up else "down"])

    def responder_log(self) -> str:
        return self._log.read_text(errors="replace") if self._log and self._log.exists() else ""


def _normalise(spec: Mapping[Union[str, int], HostSpec]) -> list[tuple[Union[str, int], int, Union[Host, _Silent]]]:
    """[(key, last octet, behaviour)]: int keys and "10.231.X.N" keys pin N; other keys get the next free one."""
    pinned: dict[Union[str, int], int] = {}
    for key in spec:
        match = _TEMPLATE_RE.match(key) if isinstance(key, str) else None
        if isinstance(key, int) or match:
            octet = key if isinstance(key, int) else int(match.group(1))
            if not 2 <= octet <= 254:
                raise ValueError(f"{key!r}: host numbers are 2..254 (.1 is the host side)")
            pinned[key] = octet
    if len(set(pinned.values())) != len(pinned):
        raise ValueError(f"two spec keys name the same host number: {sorted(pinned.items(), key=str)}")
    free = (n for n in range(2, 255) if n not in set(pinned.values()))
    result = []
    for key, value in spec.items():
        if value is None or isinstance(value, _Silent):
            behaviour: Union[Host, _Silent] = SILENT
        elif isinstance(value, Host):
            behaviour = value
        else:
            delay_ms, loss_pct = value
            behaviour = Host(float(delay_ms), float(loss_pct))
        if isinstance(behaviour, Host) and (behaviour.delay_ms < 0 or not 0 <= behaviour.loss_pct <= 100):
            raise ValueError(f"{key!r}: delay must be >= 0 ms and loss within 0..100 %")
        try:
            octet = pinned[key] if key in pinned else next(free)
        except StopIteration:
            raise ValueError("more than 253 hosts in one namespace") from None
        result.append((key, octet, behaviour))
    return result


def _used_subnets() -> set[int]:
    """Third octets of 10.231.X.0/24 already in use on this host (addresses or routes)."""
    used = set()
    text = _run(["ip", "-4", "-o", "addr", "show"]).stdout + _run(["ip", "-4", "route", "show", "table", "all"]).stdout
    for token in re.findall(r"\b10\.231\.(\d{1,3})\.\d{1,3}(?:/(\d{1,2}))?", text):
        octet, prefix = int(token[0]), int(token[1] or 32)
        if prefix < 24:  # something claims more than one /24 of ours: avoid the whole lab range
            return set(range(256))
        used.add(octet)
    return used


def _pick_subnet(number: int) -> int:
    used = _used_subnets()
    start = (os.getpid() * 31 + number * 7) % 256
    for step in range(256):
        candidate = (start + step) % 256
        if candidate not in used:
            return candidate
    raise RuntimeError("every 10.231.X.0/24 is in use on this host; is a crashed lab still alive?")


def _mac(argv_prefix: list[str], ifname: str) -> str:
    return json.loads(_run([*argv_prefix, "-j", "link", "show", ifname]).stdout)[0]["address"]


def _create(netns: str, veth: str, peer: str, x: int, hosts: list[tuple[object, int, object]]) -> None:
    gateway = f"10.231.{x}.1"
    _run(["ip", "netns", "add", netns])
    # No IPv6 on the veth ends: no router solicitations, MLD or DAD packets leave them.
    _run(["ip", "netns", "exec", netns, "sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1",
          "net.ipv6.conf.all.disable_ipv6=1", "net.ipv4.icmp_echo_ignore_all=1"])
    _run(["ip", "link", "add", veth, "type", "veth", "peer", "name", peer, "netns", netns])
    Path(f"/proc/sys/net/ipv6/conf/{veth}/disable_ipv6").write_text("1\n")
    _run(["ip", "addr", "add", f"{gateway}/24", "dev", veth])
    batch = ["link set lo up"] + [f"addr add 10.231.{x}.{octet}/24 dev {peer}" for _, octet, _ in hosts]
    _run(["ip", "-n", netns, "-batch", "-"], stdin="\n".join(batch) + "\n")
    # Static neighbours both ways: no ARP traffic, and no first-packet ARP delay in measurements.
    host_mac, peer_mac = _mac(["ip"], veth), _mac(["ip", "-n", netns], peer)
    _run(["ip", "-batch", "-"], stdin="".join(
        f"neigh replace 10.231.{x}.{octet} lladdr {peer_mac} dev {veth} nud permanent\n" for _, octet, _ in hosts))
    _run(["ip", "-n", netns, "neigh", "replace", gateway, "lladdr", host_mac, "dev", peer, "nud", "permanent"])
    _run(["ip", "link", "set", veth, "up"])
    _run(["ip", "-n", netns, "link", "set", peer, "up"])


def _destroy(netns: str, veth: str) -> None:
    _run(["ip", "link", "delete", veth], check=False)  # also removes the peer
    _run(["ip", "netns", "delete", netns], check=False)
    left = [item for item in (f"netns {netns}", f"link {veth}") if item.rsplit(" ", 1)[1]
            in (_netns_names() if item.startswith("netns") else _link_names())]
    if left:
        warnings.warn(f"netlab could not remove {left}; the next run removes them once pid {os.getpid()} is gone")


@contextlib.contextmanager
def netns_hosts(spec: Mapping[Union[str, int], HostSpec], realtime: bool = True,
                seed: Optional[int] = None) -> Iterator[NetnsLab]:
    """One namespace with hosts on 10.231.X.0/24 behind a veth pair; yields a `NetnsLab`.

    `spec` maps a key to a behaviour. Keys: any name (gets the next free host number from .2),
    an int N or the string "10.231.X.N" (gets 10.231.X.N). Behaviours: `(delay_ms, loss_pct)`
    or `Host(...)`: answered by the userspace responder; `SILENT` (or None): the address is up
    but echo requests go unanswered. The host side is 10.231.X.1; X is unique among the labs
    alive on this machine.

    `realtime`: run the responder at SCHED_FIFO (accurate delays while the CPUs are saturated).
    `seed`: make the responder's loss decisions reproducible.
    """
    _require_tools()
    require_binary("sysctl")
    hosts = _normalise(spec)
    number = next(_counter)
    netns, veth, peer = _name("n", number), _name("h", number), _name("p", number)
    with contextlib.ExitStack() as stack:
        with _locked():
            _cleanup_stale_locked()
            x = _pick_subnet(number)
            stack.callback(_destroy, netns, veth)
            _create(netns, veth, peer, x, hosts)
        addresses = {key: f"10.231.{x}.{octet}" for key, octet, _ in hosts}
        behaviours = {f"10.231.{x}.{octet}": behaviour for _, octet, behaviour in hosts}
        answered = [f"{addr}={b.delay_ms:g}:{b.loss_pct:g}" for addr, b in behaviours.items() if isinstance(b, Host)]
        responder, log = None, None
        if answered:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=f"{netns}-")))
            log = workdir / "responder.log"
            argv = ["ip", "netns", "exec", netns, sys.executable, "-I", "-S", str(RESPONDER),
                    "--parent-pid", str(os.getpid()), *answered]
            if seed is not None:
                argv += ["--seed", str(seed)]
            if not realtime:
                argv.append("--no-realtime")
            responder = Process(argv, log)
            stack.callback(responder.stop)
            try:
                wait_until(lambda: not responder.alive() or "ready" in log.read_text(), timeout_s=10,
                           what="the ICMP responder")
            except AssertionError:
                raise RuntimeError(f"ICMP responder did not start:\n{responder.log()}") from None
            if not responder.alive():
                raise RuntimeError(f"ICMP responder exited ({responder.popen.returncode}):\n{responder.log()}")
        yield NetnsLab(netns=netns, veth=veth, peer=peer, subnet=ipaddress.IPv4Network(f"10.231.{x}.0/24"),
                       gateway=f"10.231.{x}.1", addresses=addresses, hosts=behaviours,
                       responder_pid=responder.pid if responder else None, _log=log)
