"""Benchmark: netvigil's SNMP poller against Prometheus's snmp_exporter, and the daemon at 10,000 devices.

Run as root from the repository root:
    .venv/bin/python -m bench.snmp_poller [--seconds 5] [--devices 10000] [--scale-seconds 180]
    .venv/bin/python -m bench.snmp_poller --poller-only [--tables] [--seconds 5]
    .venv/bin/python -m bench.snmp_poller --replayed-ports 384 [--polls 50]
    .venv/bin/python -m bench.snmp_poller --scale-only --devices 3000 --scale-seconds 60 [--daemon-tree DIR] [--py-spy FILE]

1. CPU per 1,000 polls, side by side, one run, same snmpd (net-snmp, 100 loopback addresses
   of this process): a 10-OID v2c GET polled by netvigil's `SnmpPoller` (client + profile
   extraction into samples, i.e. what the daemon does per poll) and by snmp_exporter
   (Debian's prometheus-snmp-exporter, a module with the same 10 OIDs, scraped over HTTP by
   20 concurrent scrapers). CPU is netvigil's process time and the exporter's utime+stime
   from /proc; neither counts snmpd.
2. Scale: `netvigil run` with N devices (default 10,000) each polled every 60 s with the
   profiles `system`, `if` (10 ports) and a UPS-sized profile (11 scalars, 2 small tables),
   writing to a VictoriaMetrics, SNMP alone: one run of bench/daemon_10k.py's harness (the
   agents in network namespaces, every device its own address of 10.234.0.0/18 and its own
   1-request-in-flight gate, as a real fleet has; the figures and targets it prints). With
   ICMP too and the `workers` setting compared: `python -m bench.daemon_10k`.

snmpd does not implement UPS-MIB, so the UPS-sized profile reads the same number of scalars
and table rows from MIBs snmpd has (UCD-SNMP); per poll it costs the same requests and
varbinds as the `ups` profile on a single-phase UPS.

`--poller-only` runs netvigil's side of 1. alone (no snmp_exporter needed); with `--tables`
the devices are servers polled with the shipped `system`, `host` and `if` profiles, i.e. the
table walks, the row bounds and the extraction of snmpd's ifTable and hrStorageTable. It uses
only the poller's public API, so the same file measures an older checkout of probes/ too.

`--scale-only` runs 2. alone; `--daemon-tree DIR` runs its daemon from another source tree (e.g.
`git archive REV | tar -x -C DIR`) with this interpreter and packages, to compare two revisions
in one session; `--py-spy FILE` records the daemon's stacks over the measuring window (py-spy,
folded lines; with PY_SPY_NATIVE=1 also the C frames, e.g. the garbage collector, at the cost
of pausing the daemon for each sample).

`--replayed-ports N` measures the poller's own CPU per poll of a switch with N ports (the
`system`, `if` and `entity_sensor` profiles; ifTable and ifXTable with N rows): the answers
are replayed from memory by a stand-in for the client, because against snmpd the kernel's
side of sendto/epoll is most of the process's CPU (about 60 % in a cProfile of the --tables
run) and drowns what the poller itself does with a walk (bounds, row indexes, extraction).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from probes.snmp import profiles as snmp_profiles  # noqa: E402
from probes.base import Target  # noqa: E402
from probes.snmp.poller import SnmpPoller  # noqa: E402
from probes.snmp.client import SnmpClient  # noqa: E402
from probes.snmp.settings import SnmpSettings  # noqa: E402
from lab.netlab import loopback_addresses  # noqa: E402
from lab.snmplab import COMMUNITY, snmpd_on_addresses  # noqa: E402
from lab.support import free_port, require_binary, wait_until  # noqa: E402

NETVIGIL = str(Path(sys.executable).parent / "netvigil")
TEN_OIDS = [
    "1.3.6.1.2.1.1.1.0", "1.3.6.1.2.1.1.2.0", "1.3.6.1.2.1.1.3.0", "1.3.6.1.2.1.1.4.0", "1.3.6.1.2.1.1.5.0",
    "1.3.6.1.2.1.1.6.0", "1.3.6.1.2.1.2.1.0", "1.3.6.1.2.1.2.2.1.8.1", "1.3.6.1.2.1.2.2.1.10.1",
    "1.3.6.1.2.1.2.2.1.16.1",
]
TEN_PROFILE = """\
name: ten
match: {classes: [other]}
measurement: ten
scalars:
  - {oid: 1.3.6.1.2.1.1.1.0, tag: descr, kind: text}
  - {oid: 1.3.6.1.2.1.1.2.0, tag: object_id, kind: text}
  - {oid: 1.3.6.1.2.1.1.3.0, field: uptime_s, scale: 0.01}
  - {oid: 1.3.6.1.2.1.1.4.0, tag: contact, kind: text}
  - {oid: 1.3.6.1.2.1.1.5.0, tag: name, kind: text}
  - {oid: 1.3.6.1.2.1.1.6.0, tag: location, kind: text}
  - {oid: 1.3.6.1.2.1.2.1.0, field: if_number}
  - {oid: 1.3.6.1.2.1.2.2.1.8.1, field: oper_status, kind: enum, enum: {1: up, 2: down}}
  - {oid: 1.3.6.1.2.1.2.2.1.10.1, field: in_octets}
  - {oid: 1.3.6.1.2.1.2.2.1.16.1, field: out_octets}
"""
# What `ups` reads from a single-phase UPS (11 scalars, 1-row input and output tables), from
# MIBs snmpd serves: 11 UCD scalars, laTable (3 rows) and hrProcessorTable (2 rows here).
UPS_SIZED_PROFILE = """\
name: ups_sized
match: {classes: [switch]}
measurement: ups_sized
scalars:
  - {oid: 1.3.6.1.4.1.2021.4.3.0, field: swap_total_kb}
  - {oid: 1.3.6.1.4.1.2021.4.4.0, field: swap_avail_kb}
  - {oid: 1.3.6.1.4.1.2021.4.5.0, field: mem_total_kb}
  - {oid: 1.3.6.1.4.1.2021.4.6.0, field: mem_avail_kb}
  - {oid: 1.3.6.1.4.1.2021.4.11.0, field: mem_free_kb}
  - {oid: 1.3.6.1.4.1.2021.4.14.0, field: mem_buffer_kb}
  - {oid: 1.3.6.1.4.1.2021.4.15.0, field: mem_cached_kb}
  - {oid: 1.3.6.1.4.1.2021.11.9.0, field: cpu_user_pct}
  - {oid: 1.3.6.1.4.1.2021.11.10.0, field: cpu_system_pct}
  - {oid: 1.3.6.1.4.1.2021.11.11.0, field: cpu_idle_pct}
  - {oid: 1.3.6.1.4.1.2021.10.1.5.1, field: load1, scale: 0.01}
tables:
  - measurement: ups_sized_load
    columns:
      - {oid: 1.3.6.1.4.1.2021.10.1.2, tag: name, kind: text}
      - {oid: 1.3.6.1.4.1.2021.10.1.5, field: load, scale: 0.01}
  - measurement: ups_sized_cpu
    columns:
      - {oid: 1.3.6.1.2.1.25.3.3.1.2, field: load_pct}
"""


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- 1. CPU per 1,000 polls -------------------------------------------------------------------------

def exporter_config(path: Path) -> None:
    """A snmp_exporter 0.21 module (`ten`) reading the same 10 OIDs with GET."""
    metrics = []
    for index, oid in enumerate(TEN_OIDS):
        base, _, instance = oid.rpartition(".")
        kind = "DisplayString" if oid.startswith("1.3.6.1.2.1.1.") and oid not in (
            "1.3.6.1.2.1.1.3.0", "1.3.6.1.2.1.1.2.0") else "gauge"
        entry = {"name": f"m{index}", "oid": base if instance == "0" else oid.rpartition(".")[0], "type": kind,
                 "help": oid}
        if instance != "0":
            entry["indexes"] = [{"labelname": "ifIndex", "type": "gauge"}]
        if oid == "1.3.6.1.2.1.1.2.0":
            entry["type"] = "OctetString"
        metrics.append(entry)
    module = {"ten": {"get": TEN_OIDS, "metrics": metrics, "version": 2, "auth": {"community": COMMUNITY},
                      "timeout": "2s", "retries": 0, "max_repetitions": 25}}
    path.write_text(json.dumps(module))  # JSON is YAML


def exporter_run(binary: str, config: Path, targets: list[str], seconds: float, scrapers: int = 20) -> dict:
    port = free_port()
    log = open(config.parent / "exporter.log", "wb")
    process = subprocess.Popen([binary, f"--config.file={config}", f"--web.listen-address=127.0.0.1:{port}"],
                               stdout=log, stderr=subprocess.STDOUT)
    try:
        def scrape(connection: http.client.HTTPConnection, target: str) -> bool:
            connection.request("GET", f"/snmp?module=ten&target={target}")
            response = connection.getresponse()
            body = response.read()
            return response.status == 200 and b"\nm9{" in body  # the 10th OID came back

        wait_until(lambda: _port_open(port), timeout_s=10, what="snmp_exporter listening")
        probe = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        assert scrape(probe, targets[0]), "snmp_exporter did not return the 10 metrics; see exporter.log"
        counts = [0] * scrapers
        failures = [0] * scrapers
        deadline = [0.0]

        def worker(index: int) -> None:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            n = index
            while time.monotonic() < deadline[0]:
                ok = scrape(connection, targets[n % len(targets)])
                counts[index] += 1
                failures[index] += not ok
                n += scrapers

        deadline[0] = time.monotonic() + 0.5  # warm-up
        threads = [threading.Thread(target=worker, args=(i,)) for i in range(scrapers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        counts[:] = [0] * scrapers
        failures[:] = [0] * scrapers
        cpu0, wall0 = _cpu_seconds(process.pid), time.monotonic()
        deadline[0] = wall0 + seconds
        threads = [threading.Thread(target=worker, args=(i,)) for i in range(scrapers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        cpu, wall = _cpu_seconds(process.pid) - cpu0, time.monotonic() - wall0
        polls = sum(counts)
        return {"polls": polls, "failed": sum(failures), "rate": polls / wall, "cpu_per_1000": cpu / polls * 1000}
    finally:
        process.terminate()
        process.wait(10)
        log.close()


def _port_open(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


async def poller_run(addresses: list[str], port: int, seconds: float, profile_dir: Path,
                     tables: bool = False, device_class: str | None = None, observe=None) -> dict:
    """Poll every address flat out for `seconds` after a warm-up. Default: the `ten` profile
    alone; `tables`: servers with the shipped profiles; `device_class`: that class with the
    shipped profiles and those of `profile_dir`. `observe()` (e.g. another process's CPU
    seconds) is read at the window's start and end; the difference is returned as `observed`."""
    ten = not tables and device_class is None
    if tables:  # the shipped profiles a server gets: system, host (2 tables), if (1 table)
        profiles = snmp_profiles.load_all([snmp_profiles.PACKAGED_PROFILES])
        device_class = "server"
    elif device_class is not None:
        profiles = snmp_profiles.load_all([snmp_profiles.PACKAGED_PROFILES, profile_dir])
    else:
        profiles = snmp_profiles.load_all([profile_dir])  # only `ten`: exactly the 10 OIDs
        device_class = "other"
    client = SnmpClient()
    poller = SnmpPoller(client, profiles)
    settings = SnmpSettings.model_validate({"credentials": {"lab": {"community": COMMUNITY}}, "credential": "lab",
                                            "port": port, "timeout_s": 2, "retries": 0})
    targets = [Target(f"d{i}", address, {"device": f"d{i}", "class": device_class})
               for i, address in enumerate(addresses)]
    polls = failed = samples = 0

    async def loop(target: Target, deadline: float) -> None:
        nonlocal polls, failed, samples
        while time.monotonic() < deadline:
            result = await poller.poll(target, settings)
            polls += 1
            samples += len(result.samples)
            failed += result.error is not None or (ten and len(result.samples) != 2)

    await asyncio.gather(*(loop(t, time.monotonic() + 0.5) for t in targets))  # warm-up: selection, caches
    polls = failed = samples = 0
    observed0 = observe() if observe else 0.0
    cpu0, wall0 = time.process_time(), time.monotonic()
    await asyncio.gather(*(loop(t, wall0 + seconds) for t in targets))
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    observed = observe() - observed0 if observe else None
    client.close()
    return {"polls": polls, "failed": failed, "rate": polls / wall, "cpu_per_1000": cpu / polls * 1000,
            "samples_per_poll": samples / polls, "wall": wall, "observed": observed}


class _ReplayedClient:
    """Answers GETs and walks from memory (the same methods and results as SnmpClient)."""

    def __init__(self, ports: int) -> None:
        from probes.snmp.ber import NO_SUCH_OBJECT, Kind, Value

        self.missing = NO_SUCH_OBJECT
        self.scalars = {"1.3.6.1.2.1.1.1.0": Value(Kind.OCTETS, b"bench switch"),
                        "1.3.6.1.2.1.1.2.0": Value(Kind.OID, "1.3.6.1.4.1.99999.1"),  # no vendor profile
                        "1.3.6.1.2.1.1.3.0": Value(Kind.TIMETICKS, 100_000),
                        "1.3.6.1.2.1.1.5.0": Value(Kind.OCTETS, b"sw")}
        text, counter32, counter64 = "text", Kind.COUNTER32, Kind.COUNTER64
        columns = {"1.3.6.1.2.1.2.2.1.2": text, "1.3.6.1.2.1.2.2.1.3": 6, "1.3.6.1.2.1.2.2.1.5": 1_000_000_000,
                   "1.3.6.1.2.1.2.2.1.7": 1,
                   "1.3.6.1.2.1.2.2.1.8": 1, "1.3.6.1.2.1.2.2.1.10": counter32, "1.3.6.1.2.1.2.2.1.13": counter32,
                   "1.3.6.1.2.1.2.2.1.14": counter32, "1.3.6.1.2.1.2.2.1.16": counter32,
                   "1.3.6.1.2.1.2.2.1.19": counter32, "1.3.6.1.2.1.2.2.1.20": counter32,
                   "1.3.6.1.2.1.31.1.1.1.1": text, "1.3.6.1.2.1.31.1.1.1.6": counter64,
                   "1.3.6.1.2.1.31.1.1.1.10": counter64, "1.3.6.1.2.1.31.1.1.1.15": 1000,
                   "1.3.6.1.2.1.31.1.1.1.18": text}
        self.columns = {}
        for column, kind in columns.items():
            rows = []
            for port in range(1, ports + 1):
                if kind is text:
                    value = Value(Kind.OCTETS, f"GigabitEthernet1/0/{port}".encode())
                elif isinstance(kind, int):
                    value = Value(Kind.INTEGER, kind)
                else:
                    value = Value(kind, port * 1_000_000)
                rows.append((f"{column}.{port}", value))
            self.columns[column] = tuple(rows)

    async def get(self, agent, oids, options=None):
        from probes.snmp.client import SnmpResult

        return SnmpResult(tuple((oid, self.scalars.get(oid, self.missing)) for oid in oids), None, 1)

    async def walk(self, agent, root, options=None):
        from probes.snmp.client import SnmpResult

        return SnmpResult(self.columns.get(root, ()), None, 1, "getbulk")

    def close(self) -> None:
        pass


def replayed(ports: int, polls: int) -> None:
    """The poller's own CPU per poll of a switch with `ports` ports, answers replayed from memory."""
    async def run() -> tuple[float, int]:
        poller = SnmpPoller(_ReplayedClient(ports), snmp_profiles.load_all([snmp_profiles.PACKAGED_PROFILES]))
        settings = SnmpSettings.model_validate({"credentials": {"lab": {"community": "bench"}}, "credential": "lab"})
        target = Target("sw", "127.0.0.1", {"device": "sw", "class": "switch"})
        for _ in range(3):  # selection, caches, counter state (rates from the second poll on)
            await poller.poll(target, settings)
        started = time.process_time()
        for _ in range(polls):
            result = await poller.poll(target, settings)
        assert result.error is None, result.error
        return (time.process_time() - started) / polls, len(result.samples)

    cpu, samples = asyncio.run(run())
    print(f"netvigil poller, switch with {ports} ports (system + if + entity_sensor), answers replayed: "
          f"{cpu * 1000:.2f} ms CPU per poll, {samples} samples per poll")


@contextlib.contextmanager
def _hundred_agents():
    """One snmpd answering on 100 loopback addresses, and the ten-OID profile: (work dir,
    addresses, port)."""
    addresses = loopback_addresses(100)
    with tempfile.TemporaryDirectory(prefix="nv-snmp-bench-") as work:
        work = Path(work)
        agent = snmpd_on_addresses(work / "snmpd", addresses)
        port = agent.port
        agent.start()
        try:
            (work / "profiles").mkdir()
            (work / "profiles" / "ten.yaml").write_text(TEN_PROFILE)
            yield work, addresses, port
        finally:
            agent.stop()


def poller_only(seconds: float, tables: bool) -> None:
    """netvigil's poller alone against one snmpd on 100 loopback addresses (no snmp_exporter)."""
    with _hundred_agents() as (work, addresses, port):
        ours = asyncio.run(poller_run(addresses, port, seconds, work / "profiles", tables))
    what = "system + host + if (table walks)" if tables else "10-OID v2c GET"
    print(f"netvigil poller, {what}, 100 agents (one snmpd), {seconds:g} s: "
          f"{ours['cpu_per_1000'] * 1000:.0f} us CPU per poll, {ours['rate']:.0f} polls/s, "
          f"{ours['samples_per_poll']:.1f} samples per poll, {ours['failed']} failed")


def compare(seconds: float) -> None:
    binary = require_binary("prometheus-snmp-exporter")
    with _hundred_agents() as (work, addresses, port):
        exporter_config(work / "snmp.yml")
        ours = asyncio.run(poller_run(addresses, port, seconds, work / "profiles"))
        theirs = exporter_run(binary, work / "snmp.yml", [f"{a}:{port}" for a in addresses], seconds)
    print("10-OID v2c GET, same snmpd      netvigil poller   snmp_exporter   ratio")
    print(f"  CPU s per 1,000 polls        {ours['cpu_per_1000']:>10.3f} s   {theirs['cpu_per_1000']:>10.3f} s   "
          f"{theirs['cpu_per_1000'] / ours['cpu_per_1000']:>5.1f}x less CPU")
    print(f"  CPU per poll                 {ours['cpu_per_1000'] * 1000:>10.0f} us  "
          f"{theirs['cpu_per_1000'] * 1000:>10.0f} us")
    print(f"  polls/s                      {ours['rate']:>10.0f}     {theirs['rate']:>10.0f}")
    print(f"  failed polls                 {ours['failed']:>10}     {theirs['failed']:>10}")
    verdict = "met" if ours["cpu_per_1000"] <= 0.4 else "MISSED"
    print(f"  target <= 0.4 ms CPU per 10-OID v2c GET (poller): {verdict} "
          f"({ours['cpu_per_1000']:.3f} ms)")


# --- 2. 10,000 devices in the daemon --------------------------------------------------------------

def scale(devices: int, seconds: float, py_spy: str | None = None, tree: str | None = None) -> int:
    """The daemon with SNMP alone, one run: bench/daemon_10k.py's harness (its fleet of agents in
    network namespaces, its figures), without ICMP and without the `workers` key."""
    from bench import daemon_10k

    options = daemon_10k.Options(devices=devices, seconds=seconds, warmup=5.0, icmp=False, tree=tree, py_spy=py_spy)
    return daemon_10k.measure(options, [None], runs=1)


# The editable install's import hook comes before sys.path, so PYTHONPATH alone would not do.
_FROM_TREE = ("import sys; tree = sys.argv.pop(1); "
              "sys.meta_path[:] = [f for f in sys.meta_path if 'editable' not in repr(f).lower()]; "
              "sys.path.insert(0, tree); sys.argv[0] = 'netvigil'; from monitor.cli import main; sys.exit(main())")


def _netvigil(tree: str | None) -> list[str]:
    """The command that runs netvigil from another checkout's source (same interpreter and
    packages), so two revisions are measured by one benchmark; None: this tree."""
    return [NETVIGIL] if tree is None else [sys.executable, "-c", _FROM_TREE, str(Path(tree).resolve())]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="measuring time of the CPU comparison")
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--scale-seconds", type=float, default=180.0, help="measuring time of the scale run")
    parser.add_argument("--skip-scale", action="store_true")
    parser.add_argument("--py-spy", metavar="FILE", help="record the daemon's stacks during the scale run (py-spy)")
    parser.add_argument("--scale-only", action="store_true", help="the scale run alone")
    parser.add_argument("--daemon-tree", metavar="DIR",
                        help="scale run: the daemon from this source tree (e.g. `git archive REV` unpacked)")
    parser.add_argument("--poller-only", action="store_true", help="netvigil's poller alone (no exporter, no scale)")
    parser.add_argument("--tables", action="store_true", help="with --poller-only: shipped profiles with table walks")
    parser.add_argument("--replayed-ports", type=int, help="the poller's own CPU for a switch with this many ports")
    parser.add_argument("--polls", type=int, default=50, help="with --replayed-ports: polls measured")
    args = parser.parse_args()
    if args.replayed_ports:
        replayed(args.replayed_ports, args.polls)
        return 0
    if args.poller_only:
        poller_only(args.seconds, args.tables)
        return 0
    if not args.scale_only:
        compare(args.seconds)
    if args.skip_scale:
        return 0
    return scale(args.devices, args.scale_seconds, args.py_spy, args.daemon_tree)


if __name__ == "__main__":
    sys.exit(main())
