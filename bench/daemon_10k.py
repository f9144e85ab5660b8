"""Benchmark: the daemon at 10,000 SNMP devices plus ICMP on all of them, `workers` side by side.

Run as root from the repository root:
    .venv/bin/python -m bench.daemon_10k --workers 1,2 --runs 3            # the full measurement
    .venv/bin/python -m bench.daemon_10k --smoke                            # 50 devices, 20 s, one run
    .venv/bin/python -m bench.daemon_10k --agent-capacity [--seconds 10]    # what one snmpd answers

`netvigil run` polls N devices (default 10,000) every 60 s over SNMP v2c with `system`, `if`
(10 ports) and a UPS-sized profile (see bench/snmp_poller.py), and pings every one of them at
the default ICMP settings (20 echoes every 30 s), writing to a VictoriaMetrics. The devices are
the addresses of 10.234.0.0/18 (`--net`), 250 to a /24, split by /24 over `--agents` network
namespaces this benchmark creates; each namespace has one snmpd listening on 0.0.0.0:161, 10
network interfaces (9 ifb + its veth end) and its share of the addresses local through an
AnyIP route, so its kernel answers the echoes and every device has an address and an in-flight
gate of its own, as in a real fleet.

`--workers 1,2` runs the configurations alternately (1, 2, 1, 2, ... `--runs` times each), each
on a fresh daemon, state and VictoriaMetrics: `--warmup` seconds, then `--seconds` measured. The
`workers` key is written to the settings only when `--workers` is given. Printed side by side,
per run and min / median / max per configuration, with the ratio of the last configuration to
the first:
  * SNMP polls/s and ICMP runs/s started in the window (the `snmp_error_code` and
    `icmp_result_code` points; expected N/60 and N/30), echoes/s the agents' kernels answered;
  * devices whose last SNMP poll was ok (`snmp_error_code` 0) and whose last ICMP run was ok
    (`icmp_result_code` 0), SNMP timeouts and echoes lost in the window;
  * runs skipped since the daemon started and the scheduler lag (max over the window) from the
    `netvigil_scheduler` self-metrics: summed and maxed over every series, so a daemon of
    several processes that each report (e.g. with a `worker` tag) is read the same way;
  * the daemon's CPU, summed over its process and every descendant (worker processes), in %
    of one core and per device poll (SNMP polls + ICMP runs in the window), and its RSS;
  * the agent side: each snmpd's CPU in % of one core, the UDP datagrams it got and the ones
    its namespace's kernel dropped (`/proc/net/snmp` Udp InErrors, which counts RcvbufErrors
    too), the same drops on the daemon's side (the root namespace, shared with whatever else
    runs), and VictoriaMetrics' CPU.
Targets: every device's last poll ok, 0 runs skipped, lag < 5 s in every run of the last
`workers` listed. Exit 0 when met, 1 otherwise. `--json FILE` writes every figure.

What one snmpd (net-snmp 5.9, single-threaded) sustains, measured on the 2-core development
machine with this benchmark's three profiles (~32 requests a device poll):
  * flat out (`--agent-capacity`: this repository's poller in-process, 100 devices, 10 s): 315
    polls/s with snmpd at 49 % of a core, i.e. ~650 polls per snmpd CPU second (530-730 over
    runs): the poller, not snmpd, saturated its core, so one snmpd would answer ~650 polls/s
    at 100 %;
  * paced as the daemon sends (requests one by one, each a wakeup of its own): 3,000 devices,
    50 polls/s from one snmpd cost it 17.8 % of a core, i.e. ~3.6 ms per poll (1,500 devices
    over two agents: 3.6 % each at 12.5 polls/s).
So at 10,000 devices (167 polls/s) the agents need about 60 % of one core in all, whatever
their number; one snmpd would run at ~60 %, near enough to its ceiling that bursts of a slot's
first requests queue behind each other. The default `--agents 2` keeps each at ~30 %; the
agent lines print each one's share, and `--agents N` spreads further. On a 2-core machine
that CPU, VictoriaMetrics' and the kernel's share of ~7,000 echoes/s are taken from what the
daemon could use.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.snmp_poller import NETVIGIL, UPS_SIZED_PROFILE, _cpu_seconds, _netvigil, poller_run  # noqa: E402
from lab.servers import VictoriaMetrics  # noqa: E402
from lab.snmplab import COMMUNITY  # noqa: E402
from lab.support import require_binary  # noqa: E402

PER_BLOCK = 250  # devices per /24 of the device network
DEFAULT_AGENTS = 2


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")


def _proc_net_snmp(namespace: str | None) -> dict[str, int]:
    """Udp and Icmp counters of a namespace (None: this one), as `Udp.InErrors`, `Icmp.InEchos`..."""
    if namespace is None:
        text = Path("/proc/net/snmp").read_text()
    else:
        text = subprocess.run(["ip", "netns", "exec", namespace, "cat", "/proc/net/snmp"], capture_output=True,
                              text=True, check=True).stdout
    counters: dict[str, int] = {}
    headers: dict[str, list[str]] = {}
    for line in text.splitlines():
        kind, _, rest = line.partition(": ")
        if kind not in ("Udp", "Icmp"):
            continue
        if kind not in headers:
            headers[kind] = rest.split()
        else:
            counters.update((f"{kind}.{name}", int(value)) for name, value in zip(headers[kind], rest.split()))
    return counters


class Fleet:
    """`devices` addresses of `net` spread by /24 over `agents` network namespaces, each with an
    snmpd on 0.0.0.0:161 and its addresses local (AnyIP), reached from here over a veth pair.

    Names carry `tag`, so two fleets (a test, a benchmark) do not meet; the veth pairs' /30s are
    taken from the /24 right after `net`, so a different `net` means no shared address either."""

    def __init__(self, work: Path, devices: int, agents: int, net: str = "10.234.0.0/18", tag: str = "k") -> None:
        self.work, self.devices, self.tag = work, devices, tag
        self.net = ipaddress.ip_network(net)
        blocks = -(-devices // PER_BLOCK)
        if blocks * 256 > self.net.num_addresses:
            raise ValueError(f"{devices} devices need {blocks} /24s at {PER_BLOCK} a block; {net} has "
                             f"{self.net.num_addresses // 256}: give a larger --net or fewer --devices")
        self.agents = max(1, min(agents, blocks))
        self.blocks = [[b for b in range(blocks) if b * self.agents // blocks == k] for k in range(self.agents)]
        self.transit = self.net.broadcast_address + 1  # first address of the /24 after the device network
        self.snmpd: list[subprocess.Popen] = []

    def address(self, i: int) -> str:
        return str(self.net.network_address + (i // PER_BLOCK) * 256 + i % PER_BLOCK + 1)

    def namespace(self, k: int) -> str:
        return f"nvb{self.tag}{k}"

    def _block(self, b: int) -> str:
        return f"{self.net.network_address + b * 256}/24"

    def up(self) -> "Fleet":
        self.down()
        for k, blocks in enumerate(self.blocks):
            ns, host, peer = self.namespace(k), f"nvb{self.tag}{k}h", f"nvb{self.tag}{k}p"
            here, there = self.transit + 4 * k + 1, self.transit + 4 * k + 2
            _ip("netns", "add", ns)
            _ip("link", "add", host, "type", "veth", "peer", "name", peer, "netns", ns)
            _ip("addr", "add", f"{here}/30", "dev", host)
            _ip("link", "set", host, "up")
            _ip("-n", ns, "addr", "add", f"{there}/30", "dev", peer)
            _ip("-n", ns, "link", "set", peer, "up")
            _ip("-n", ns, "link", "set", "lo", "up")
            for port in range(9):  # ifb: the module is there where dummy is not
                _ip("-n", ns, "link", "add", f"port{port}", "type", "ifb")
                _ip("-n", ns, "link", "set", f"port{port}", "up")
            for b in blocks:
                _ip("-n", ns, "route", "add", "local", self._block(b), "dev", "lo")
                _ip("route", "add", self._block(b), "via", str(there))
            conf = self.work / f"snmpd{k}.conf"
            # The agent's receive buffer (4 MB, the kernel's rmem_max here), so bursts of a slot's
            # first requests are not dropped in front of snmpd: with the 208 KB default the
            # agents dropped 12,000-33,000 requests per 3 minutes at 167 polls/s, which is agent
            # capacity, not the poller's. (net.core.rmem_default cannot be raised inside a network
            # namespace on this kernel: EINVAL; snmpd's own setting can.)
            conf.write_text(f"agentAddress udp:0.0.0.0:161\nrocommunity {COMMUNITY}\nsysName bench\n"
                            "sysLocation machine room\nsysContact noc\n[snmp] serverRecvBuf 4194304\n")
            # `ip netns exec` execs snmpd in place: the pid is snmpd's own.
            self.snmpd.append(subprocess.Popen(
                ["ip", "netns", "exec", ns, "/usr/sbin/snmpd", "-f", "-Lo", "-C", "-c", str(conf),
                 f"--persistent-directory={self.work / f'snmpd{k}-state'}"],
                stdout=open(self.work / f"snmpd{k}.log", "wb"), stderr=subprocess.STDOUT))
        time.sleep(1)
        for k, process in enumerate(self.snmpd):
            if process.poll() is not None:
                raise RuntimeError(f"snmpd of agent {k} exited: {(self.work / f'snmpd{k}.log').read_text()[-500:]}")
        return self

    def down(self) -> None:
        for process in self.snmpd:
            if process.poll() is None:
                process.terminate()
                process.wait(10)
        self.snmpd = []
        for k, blocks in enumerate(self.blocks):
            for b in blocks:
                subprocess.run(["ip", "route", "del", self._block(b)], capture_output=True)
            subprocess.run(["ip", "link", "del", f"nvb{self.tag}{k}h"], capture_output=True)
            subprocess.run(["ip", "netns", "del", self.namespace(k)], capture_output=True)

    def counters(self) -> dict:
        """Each agent's snmpd CPU seconds and its namespace's Udp/Icmp counters; the root namespace's."""
        return {"agents": [{"cpu_s": _cpu_seconds(p.pid), **_proc_net_snmp(self.namespace(k))}
                           for k, p in enumerate(self.snmpd)],
                "here": _proc_net_snmp(None)}

    def write_inventory(self, path: Path) -> None:
        lines = ["sites:", "  - {name: district, level: district}", "devices:"]
        lines += [f"  - {{name: d{i}, address: {self.address(i)}, class: switch, site: district}}"
                  for i in range(self.devices)]
        path.write_text("\n".join(lines) + "\n")


# --- the daemon's processes -----------------------------------------------------------------------

def _tree(pid: int) -> list[int]:
    """`pid` and every process descending from it (a daemon's worker processes and theirs)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue  # gone meanwhile
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo += children.get(current, [])
    return found


def tree_cpu(pid: int) -> dict[int, float]:
    """CPU seconds of every process of the daemon's tree, by pid."""
    cpu = {}
    for member in _tree(pid):
        try:
            cpu[member] = _cpu_seconds(member)
        except OSError:
            pass
    return cpu


def tree_rss_mb(pid: int) -> float:
    total = 0
    for member in _tree(pid):
        try:
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def _knows_workers(tree: str | None) -> bool:
    """Whether the daemon's settings have a `workers` key (older trees reject it as unknown)."""
    code = "from monitor.config import Settings; print('workers' in Settings.model_fields)"
    command = [sys.executable, "-c", code] if tree is None else [
        sys.executable, "-c", f"import sys; sys.path.insert(0, {str(Path(tree).resolve())!r}); {code}"]
    return subprocess.run(command, capture_output=True, text=True).stdout.strip() == "True"


# --- one run ----------------------------------------------------------------------------------------

@dataclass
class Options:
    devices: int = 10_000
    agents: int = DEFAULT_AGENTS
    seconds: float = 180.0
    warmup: float = 60.0
    snmp_interval_s: float = 60.0
    icmp_interval_s: float | None = None  # None: the default
    icmp: bool = True
    tree: str | None = None
    py_spy: str | None = None


@dataclass
class Run:
    workers: int | None
    figures: dict = field(default_factory=dict)
    agents: list[dict] = field(default_factory=list)


def settings_text(vm_url: str, options: Options, workers: int | None) -> str:
    icmp = "{enabled: false}" if not options.icmp else (
        f"{{interval_s: {options.icmp_interval_s}}}" if options.icmp_interval_s else "{}")
    return ("inventory: [inventory.yaml]\nstate_dir: state\nlog_level: warning\nsecrets_dir: creds\n"
            + (f"workers: {workers}\n" if workers is not None else "")
            + f"probes:\n  icmp: {icmp}\n"
            f"  snmp: {{credential: lab, credentials: {{lab: {{version: v2c}}}}, interval_s: {options.snmp_interval_s},"
            f" profile_dirs: [profiles]}}\n"
            f"outputs:\n  influxdb: {{url: '{vm_url}', bucket: netvigil}}\n")


def _status(config: Path) -> dict | None:
    done = subprocess.run([NETVIGIL, "status", "-c", str(config), "--json"], capture_output=True, text=True)
    if done.returncode:
        return None
    answer = json.loads(done.stdout)
    return answer if answer.get("source") == "daemon" else None


def run_once(fleet: Fleet, options: Options, workers: int | None, work: Path) -> Run:
    work.mkdir(parents=True)
    (work / "profiles").mkdir()
    (work / "profiles" / "ups_sized.yaml").write_text(UPS_SIZED_PROFILE)
    fleet.write_inventory(work / "inventory.yaml")
    (work / "creds").mkdir()
    (work / "creds" / "probes__snmp__credentials__lab__community").write_text(COMMUNITY)
    vm = VictoriaMetrics(work / "vm").start()
    daemon = None
    try:
        config = work / "netvigil.yaml"
        config.write_text(settings_text(vm.url, options, workers))
        daemon = subprocess.Popen([*_netvigil(options.tree), "run", "-c", str(config)],
                                  stderr=open(work / "daemon.log", "wb"))
        deadline = time.monotonic() + 120
        while _status(config) is None:  # start-up: inventory, sockets, schedule armed
            if daemon.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the daemon did not come up: {(work / 'daemon.log').read_text()[-2000:]}")
            time.sleep(0.5)
        time.sleep(options.warmup)
        vm_pid = vm.process.popen.pid
        cpu0, agents0, vm0, t0 = tree_cpu(daemon.pid), fleet.counters(), _cpu_seconds(vm_pid), time.time()
        spy = None
        if options.py_spy:  # sampled stacks of the window, folded; --subprocesses follows worker processes
            spy = subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(daemon.pid),
                                    "--subprocesses", "--duration", str(int(options.seconds)), "--rate", "200",
                                    "--format", "raw", "--output", options.py_spy,
                                    *(["--native"] if os.environ.get("PY_SPY_NATIVE") else ["--nonblocking"])],
                                   stdout=subprocess.DEVNULL)
        time.sleep(options.seconds)
        if spy is not None:
            spy.wait(60)
        cpu1, agents1, vm1, t1 = tree_cpu(daemon.pid), fleet.counters(), _cpu_seconds(vm_pid), time.time()
        rss = tree_rss_mb(daemon.pid)
        processes = len(cpu1)
        daemon.terminate()  # the outputs flush what is queued before the figures are read
        daemon.wait(60)
        wall = t1 - t0
        cpu = sum(value - cpu0.get(pid, 0.0) for pid, value in cpu1.items())
        run = Run(workers, read_figures(vm, fleet.devices, t0, t1, options.icmp))
        polls = run.figures["snmp_polls"] + run.figures["icmp_runs"]
        here = {key: agents1["here"][key] - agents0["here"][key] for key in agents1["here"]}
        run.figures.update({
            "seconds": wall, "processes": processes, "daemon_cpu_pct": 100 * cpu / wall,
            "cpu_ms_per_poll": 1000 * cpu / polls if polls else float("nan"), "daemon_rss_mb": rss,
            "here_udp_drops": here["Udp.InErrors"], "vm_cpu_pct": 100 * (vm1 - vm0) / wall,
            "echoes_per_s": sum(a1["Icmp.InEchos"] - a0["Icmp.InEchos"]
                                for a0, a1 in zip(agents0["agents"], agents1["agents"])) / wall,
            "daemon_exit": daemon.returncode})
        for a0, a1 in zip(agents0["agents"], agents1["agents"]):
            run.agents.append({"cpu_pct": 100 * (a1["cpu_s"] - a0["cpu_s"]) / wall,
                               "udp_in": a1["Udp.InDatagrams"] - a0["Udp.InDatagrams"],
                               "udp_drops": a1["Udp.InErrors"] - a0["Udp.InErrors"]})  # RcvbufErrors included
        run.figures["agent_cpu_pct_max"] = max(a["cpu_pct"] for a in run.agents)
        run.figures["agent_udp_drops"] = sum(a["udp_drops"] for a in run.agents)
        return run
    finally:
        if daemon is not None and daemon.poll() is None:
            daemon.kill()
            daemon.wait()
        vm.stop()


def _points(vm: VictoriaMetrics, name: str) -> list[dict]:
    return vm.export(f'{{__name__="{name}"}}', timeout_s=60)


def _last_by_device(series: list[dict]) -> dict[str, float]:
    """The newest value of each device over all its series (a tag set may change between polls)."""
    newest: dict[str, tuple[int, float]] = {}
    for row in series:
        device = row["metric"].get("device")
        if device is None or not row["timestamps"]:
            continue
        stamp, value = max(zip(row["timestamps"], row["values"]))
        if device not in newest or stamp > newest[device][0]:
            newest[device] = (stamp, value)
    return {device: value for device, (_, value) in newest.items()}


def _in_window(series: list[dict], t0: float, t1: float) -> list[float]:
    low, high = t0 * 1000, t1 * 1000
    return [v for row in series for t, v in zip(row["timestamps"], row["values"]) if low <= t < high]


def read_figures(vm: VictoriaMetrics, devices: int, t0: float, t1: float, icmp: bool) -> dict:
    """The run's figures from what the daemon wrote: its samples and its self-metrics."""
    wall = t1 - t0
    snmp_codes = _points(vm, "snmp_error_code")
    figures = {"devices": devices, "snmp_polls": len(_in_window(snmp_codes, t0, t1)),
               "snmp_ok": sum(1 for v in _last_by_device(snmp_codes).values() if v == 0),
               "snmp_timeouts": sum(1 for v in _in_window(snmp_codes, t0, t1) if v == 1)}
    figures["snmp_polls_per_s"] = figures["snmp_polls"] / wall
    if icmp:
        icmp_codes = _points(vm, "icmp_result_code")
        sent = sum(_in_window(_points(vm, "icmp_sent"), t0, t1))
        received = sum(_in_window(_points(vm, "icmp_received"), t0, t1))
        figures.update({"icmp_runs": len(_in_window(icmp_codes, t0, t1)),
                        "icmp_ok": sum(1 for v in _last_by_device(icmp_codes).values() if v == 0),
                        "echoes_lost": int(sent - received)})
    else:
        figures.update({"icmp_runs": 0, "icmp_ok": None, "echoes_lost": None})
    figures["icmp_runs_per_s"] = figures["icmp_runs"] / wall
    # Self-metrics: one series per kind and per reporting process; skipped are counters since start.
    skipped = _points(vm, "netvigil_scheduler_skipped_total")
    figures["runs_skipped"] = int(sum(max(row["values"]) for row in skipped if row["values"]))
    lags = _points(vm, "netvigil_scheduler_lag_max_ms")
    figures["lag_max_s"] = max(_in_window(lags, t0, t1), default=float("nan")) / 1000
    figures["self_metric_series"] = len(lags)
    return figures


# --- the table ------------------------------------------------------------------------------------

ROWS = [  # (key, label, format)
    ("snmp_polls_per_s", "SNMP polls/s", "{:.1f}"),
    ("icmp_runs_per_s", "ICMP runs/s", "{:.1f}"),
    ("echoes_per_s", "echoes/s answered by the agents", "{:.0f}"),
    ("snmp_ok", "devices whose last SNMP poll was ok", "{:,.0f}"),
    ("icmp_ok", "devices whose last ICMP run was ok", "{:,.0f}"),
    ("snmp_timeouts", "SNMP timeouts in the window", "{:,.0f}"),
    ("echoes_lost", "echoes lost in the window", "{:,.0f}"),
    ("runs_skipped", "runs skipped since start", "{:,.0f}"),
    ("lag_max_s", "scheduler lag, max (s)", "{:.2f}"),
    ("daemon_cpu_pct", "daemon CPU, % of one core (all processes)", "{:.1f}"),
    ("cpu_ms_per_poll", "CPU per device poll (ms, SNMP + ICMP)", "{:.2f}"),
    ("processes", "daemon processes", "{:.0f}"),
    ("daemon_rss_mb", "daemon RSS (MB, all processes)", "{:.0f}"),
    ("agent_cpu_pct_max", "busiest snmpd, % of one core", "{:.1f}"),
    ("agent_udp_drops", "UDP drops at the agents", "{:,.0f}"),
    ("here_udp_drops", "UDP drops on the daemon's side", "{:,.0f}"),
    ("vm_cpu_pct", "VictoriaMetrics, % of one core", "{:.1f}"),
]


def _cell(fmt: str, value) -> str:
    return "-" if value is None or value != value else fmt.format(value)


def _label(workers: int | None) -> str:
    return "workers default" if workers is None else f"workers={workers}"


def render(runs: list[Run]) -> str:
    """Every run side by side, then (with several runs of a configuration) min / median / max per
    configuration and the ratio of the last configuration's median to the first's, then the agents."""
    heads = [f"{_label(run.workers)}, run {sum(1 for r in runs[:i + 1] if r.workers == run.workers)}"
             for i, run in enumerate(runs)]
    lines = _table("per run", heads, [[_cell(fmt, run.figures.get(key)) for run in runs] for key, _, fmt in ROWS])
    configs = list(dict.fromkeys(run.workers for run in runs))
    if len(runs) > len(configs):
        heads = [f"{_label(c)} min / median / max" for c in configs]
        if len(configs) > 1:
            heads.append(f"{_label(configs[-1])} / {_label(configs[0])} (median)")
        rows = []
        for key, _, fmt in ROWS:
            cells, medians = [], []
            for config in configs:
                values = [v for v in (r.figures.get(key) for r in runs if r.workers == config) if v is not None and v == v]
                medians.append(statistics.median(values) if values else None)
                cells.append(" / ".join(_cell(fmt, v) for v in (min(values), medians[-1], max(values))) if values else "-")
            if len(configs) > 1:
                first, last = medians[0], medians[-1]
                cells.append(f"{last / first:.2f}" if first and last is not None else "-")
            rows.append(cells)
        lines += ["", *_table("summary", heads, rows)]
    lines.append("")
    for i, run in enumerate(runs):
        agents = ", ".join(f"agent {k}: {a['cpu_pct']:.1f} % CPU, {a['udp_in']:,} datagrams in, {a['udp_drops']} dropped"
                           for k, a in enumerate(run.agents))
        lines.append(f"run {i + 1} ({_label(run.workers)}): {agents}")
    return "\n".join(lines)


def _table(corner: str, heads: list[str], rows: list[list[str]]) -> list[str]:
    width = max(len(label) for _, label, _ in ROWS)
    return ["| " + " | ".join([corner.ljust(width), *heads]) + " |", "| " + " | ".join(["---"] * (len(heads) + 1)) + " |",
            *("| " + " | ".join([label.ljust(width), *cells]) + " |" for (_, label, _), cells in zip(ROWS, rows))]


def targets_met(run: Run) -> bool:
    f = run.figures
    return (f["snmp_ok"] == f["devices"] and (f["icmp_ok"] is None or f["icmp_ok"] == f["devices"])
            and f["runs_skipped"] == 0 and f["lag_max_s"] < 5)


# --- one snmpd's capacity ---------------------------------------------------------------------------

def agent_capacity(seconds: float, devices: int = 100, net: str = "10.234.0.0/18") -> dict:
    """Device polls (system + if + UPS-sized) per second of one snmpd's CPU, polled flat out."""
    work = Path(tempfile.mkdtemp(prefix="nvbcap"))
    fleet = Fleet(work, devices, 1, net, tag="c")
    try:
        fleet.up()
        (work / "profiles").mkdir()
        (work / "profiles" / "ups_sized.yaml").write_text(UPS_SIZED_PROFILE)
        snmpd = fleet.snmpd[0].pid
        figures = asyncio.run(poller_run([fleet.address(i) for i in range(devices)], 161, seconds, work / "profiles",
                                         device_class="switch", observe=lambda: _cpu_seconds(snmpd)))
        agent_cpu = figures["observed"]
        return {"polls_per_s": figures["rate"], "agent_cpu_pct": 100 * agent_cpu / figures["wall"],
                "polls_per_agent_cpu_s": figures["polls"] / agent_cpu, "failed": figures["failed"],
                "poller_cpu_ms": figures["cpu_per_1000"]}
    finally:
        fleet.down()
        shutil.rmtree(work, ignore_errors=True)


# --- command line -----------------------------------------------------------------------------------

def _workers(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--workers takes numbers separated by commas, e.g. 1,2 (got {text!r})")
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"--workers takes numbers of at least 1 (got {text!r})")
    return values


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--workers", type=_workers, help="the `workers` settings to compare, e.g. 1,2 "
                        "(default: the key is not written)")
    parser.add_argument("--runs", type=int, default=3, help="runs of each configuration, alternated")
    parser.add_argument("--seconds", "--scale-seconds", type=float, default=180.0, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=60.0, help="seconds between start-up and the window")
    parser.add_argument("--agents", type=int, default=DEFAULT_AGENTS, help="snmpd processes the fleet is spread over")
    parser.add_argument("--net", default="10.234.0.0/18", help="the device addresses (250 to a /24)")
    parser.add_argument("--snmp-interval", type=float, default=60.0, help="SNMP interval_s")
    parser.add_argument("--icmp-interval", type=float, help="ICMP interval_s (default: the daemon's default)")
    parser.add_argument("--no-icmp", action="store_true", help="SNMP alone")
    parser.add_argument("--smoke", action="store_true",
                        help="a quick check of the harness: 50 devices, 1 agent, 1 run, 5 s warm-up, 20 s measured, "
                             "SNMP and ICMP every 10 s (the other flags still apply after these)")
    parser.add_argument("--daemon-tree", metavar="DIR", help="run the daemon from this source tree")
    parser.add_argument("--py-spy", metavar="FILE", help="record the daemon's stacks over the window (py-spy)")
    parser.add_argument("--json", metavar="FILE", help="write every figure as JSON")
    parser.add_argument("--tag", default="k", help="namespace and link names carry this (a-z0-9, short)")
    parser.add_argument("--agent-capacity", action="store_true", help="measure what one snmpd answers, then stop")
    if "--smoke" in (sys.argv[1:] if argv is None else argv):  # defaults only: flags given still count
        parser.set_defaults(devices=50, agents=1, runs=1, warmup=5.0, seconds=20.0, snmp_interval=10.0,
                            icmp_interval=10.0)
    args = parser.parse_args(argv)
    if not re.fullmatch(r"[a-z0-9]{1,8}", args.tag):
        parser.error(f"--tag {args.tag!r}: 1 to 8 of a-z and 0-9 (it goes into interface names of at most 15 characters)")
    if os.geteuid() != 0:
        print("bench.daemon_10k needs root (network namespaces, routes, raw ICMP sockets)", file=sys.stderr)
        return 2
    require_binary("ip")
    try:
        return _main(args)
    except ValueError as exc:  # e.g. a fleet larger than --net
        print(f"bench.daemon_10k: {exc}", file=sys.stderr)
        return 2
    except RuntimeError as exc:  # an agent or the daemon did not come up, an `ip` command failed
        print(f"bench.daemon_10k: {exc}", file=sys.stderr)
        return 1


def _main(args: argparse.Namespace) -> int:
    if args.agent_capacity:
        figures = agent_capacity(args.seconds if args.seconds != 180.0 else 10.0, net=args.net)
        print(f"one snmpd, 100 devices polled flat out (system + if 10 ports + UPS-sized): "
              f"{figures['polls_per_s']:.0f} device polls/s at {figures['agent_cpu_pct']:.0f} % of one core, "
              f"i.e. {figures['polls_per_agent_cpu_s']:.0f} polls per snmpd CPU second; {figures['failed']} failed; "
              f"poller {figures['poller_cpu_ms']:.2f} ms CPU per poll")
        return 0
    workers = args.workers or [None]
    if any(w is not None for w in workers) and not _knows_workers(args.daemon_tree):
        print("bench.daemon_10k: this netvigil has no `workers` setting (its settings reject the key); "
              "leave out --workers, or run a tree that has it (--daemon-tree)", file=sys.stderr)
        return 2
    options = Options(devices=args.devices, agents=args.agents, seconds=args.seconds, warmup=args.warmup,
                      snmp_interval_s=args.snmp_interval, icmp_interval_s=args.icmp_interval, icmp=not args.no_icmp,
                      tree=args.daemon_tree, py_spy=args.py_spy)
    return measure(options, workers, args.runs, args.net, args.tag, args.json)


def measure(options: Options, workers: list[int | None], runs: int, net: str = "10.234.0.0/18", tag: str = "k",
            json_path: str | None = None) -> int:
    work = Path(tempfile.mkdtemp(prefix="nvb10k"))
    fleet = None
    done: list[Run] = []
    try:
        fleet = Fleet(work, options.devices, options.agents, net, tag)
        fleet.up()
        for n in range(runs):
            for config in workers:
                done.append(run_once(fleet, options, config, work / f"run{len(done) + 1}"))
                print(f"run {len(done)} ({_label(config)}) done", file=sys.stderr, flush=True)
    finally:
        if fleet is not None:
            fleet.down()
        shutil.rmtree(work, ignore_errors=True)
    icmp = (f"ICMP ({'every ' + format(options.icmp_interval_s, 'g') + ' s' if options.icmp_interval_s else 'defaults'})"
            if options.icmp else "no ICMP")
    print(f"\n{options.devices:,} devices: SNMP v2c (system + if 10 ports + UPS-sized) every "
          f"{options.snmp_interval_s:g} s + {icmp}; {fleet.agents} agent(s); {options.warmup:g} s warm-up, "
          f"{options.seconds:g} s measured per run; VictoriaMetrics output\n")
    print(render(done))
    longest = max(options.snmp_interval_s, (options.icmp_interval_s or 30.0) if options.icmp else 0.0)
    if options.warmup + options.seconds < longest:
        print(f"\nnote: warm-up + window ({options.warmup + options.seconds:g} s) is shorter than an interval "
              f"({longest:g} s): some devices were not probed yet and do not count as ok")
    last = [run for run in done if run.workers == workers[-1]]
    met = all(targets_met(run) for run in last)
    print(f"\ntargets ({_label(workers[-1])}: every device's last poll ok, 0 runs skipped, lag < 5 s, in every run): "
          f"{'met' if met else 'MISSED'}")
    if json_path:
        Path(json_path).write_text(json.dumps([{"workers": r.workers, **r.figures, "agents": r.agents} for r in done],
                                              indent=1))
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
