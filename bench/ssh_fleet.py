"""Benchmark: SSH command checks of 1,000 simulated Huawei VRP devices in one 60 s cycle, with ICMP and SNMP beside.

Run as root from the repository root:
    .venv/bin/python -m bench.ssh_fleet [--devices 1000] [--snmp-devices 200] [--seconds 150]
                                        [--workers 16[,32]] [--peer-devices 200] [--fleet-procs 2]

1. Fleet: N simulated VRP CLIs (lab/sshsim.py) on 127.1.0.1 .. (consecutive), one port, one
   shared ed25519 host key, split over `--fleet-procs` processes (asyncssh is CPU-bound: one
   event loop serving every login of the fleet competes with the daemon for the 2 cores).
   A known_hosts file with one line per address is written for netvigil.
2. snmpd (net-snmp, as lab/snmplab.py runs it), one per 100 of the addresses 127.2.0.1 .. 127.2.0.M
   (`agentAddress` list, loopback only), v2c community from its own config.
3. `netvigil run` with the N devices (class switch, `ssh: {credential, profiles: [huawei_vrp],
   interval_s: 60, session_timeout_s: 50}`, ICMP every 10 s) and the M SNMP devices (system +
   if every 10 s, ICMP every 10 s); SSH password in a secrets_dir file, never in the YAML;
   embedded store (no output configured), scheduler defaults. It runs `--seconds` (default
   150 s, 2.5 SSH cycles); then the store is read back:
   * SSH coverage: distinct devices with an `ssh` sample with error_code 0 in each 60 s window
     counted from the first SSH run's start (a window is one cycle of the 60 slot jobs);
     distribution of `duration_ms` (from the run's start: includes waiting for a CLI worker)
     and `login_ms`; errors by error_code;
   * scheduler lag per kind: max of `netvigil_scheduler.lag_max_ms` (10 s windows) over the run;
     runs skipped;
   * ICMP/SNMP health: samples with up = 0, loss, SNMP errors;
   * CPU (utime+stime from /proc, % of one core) of the daemon, the fleet and snmpd.
   With `--workers 16,32` the daemon run is repeated for each `cli_workers` value.
4. Peer, same fleet, same machine, daemon stopped: `--peer-devices` sessions (display
   cpu-usage, memory-usage, version, device) through netvigil's path (SshProber -> CliPool ->
   netmiko with quit + transport close, samples parsed) and through plain netmiko as commonly
   used (ConnectHandler(device_type="huawei"), 4 x send_command, disconnect(), which waits
   about 2 s for silence to check for configuration mode), each on a ThreadPoolExecutor of the
   same size.
   Printed: sessions/s, wall time per session, CPU per session (this process), and ratios.

Targets: every one of the N devices probed OK within one 60 s cycle; ICMP and SNMP
scheduler lag < 2 s; no session ends without a prompt (COMMAND_TIMEOUT: the simulator answers
every command at once, so each is a false fault). The exit status is 1 when a target is missed.
Every process is started and stopped by its own pid; temp dirs are removed, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import json
import os
import re
import selectors
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import asyncssh  # noqa: E402

from lab.snmplab import COMMUNITY, Snmpd, free_udp_port  # noqa: E402
from lab.sshsim import fleet_addresses  # noqa: E402
from lab.support import free_port  # noqa: E402

NETVIGIL = str(Path(sys.executable).parent / "netvigil")
USER, PASSWORD = "admin", "Admin@123"
COMMANDS = ["display cpu-usage", "display memory-usage", "display version", "display device"]  # huawei_vrp
SSH_INTERVAL_S = 60.0
SNMPD_ADDRESSES = 100  # agentAddress lines per snmpd (see main)
ERROR_NAMES = {0: "NONE", 1: "TIMEOUT", 2: "REFUSED", 3: "RESOLVE_FAILED", 4: "AUTH", 5: "AUTH_TIMEOUT",
               6: "HOST_KEY_UNKNOWN", 7: "HOST_KEY_CHANGED", 8: "COMMAND_FAILED", 9: "COMMAND_TIMEOUT",
               10: "OUTPUT_TOO_LARGE", 11: "DISCONNECTED", 12: "SESSION_TIMEOUT", 13: "PROTOCOL", 14: "INTERNAL"}


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _stop(popen: subprocess.Popen, timeout_s: float = 15.0) -> None:
    """SIGTERM by pid, then SIGKILL by pid if it does not go."""
    if popen.poll() is None:
        popen.send_signal(signal.SIGTERM)
        try:
            popen.wait(timeout_s)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait(5)


def _snmpd_cpu(snmpds) -> float:
    return sum(_cpu_seconds(s.process.pid) for s in snmpds)


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


# -- the simulated fleet ------------------------------------------------------------------------

class Fleet:
    def __init__(self, work: Path, addresses: list[str], procs: int) -> None:
        self.work, self.addresses = work, addresses
        self.port = free_port(host=addresses[0])
        self.key_path = work / "fleet_hostkey"
        key = asyncssh.generate_private_key("ssh-ed25519")
        key.write_private_key(str(self.key_path))
        os.chmod(self.key_path, 0o600)
        self.key_line = " ".join(key.export_public_key("openssh").decode().split()[:2])
        size = -(-len(addresses) // procs)
        self.chunks = [addresses[i:i + size] for i in range(0, len(addresses), size)]
        self.processes: list[subprocess.Popen] = []

    def known_hosts(self, path: Path) -> Path:
        path.write_text("".join(f"[{a}]:{self.port} {self.key_line}\n" for a in self.addresses))
        return path

    def start(self, timeout_s: float = 120.0) -> float:
        started = time.monotonic()
        for n, chunk in enumerate(self.chunks):
            self.processes.append(subprocess.Popen(
                [sys.executable, "-m", "lab.sshsim", "--first-address", chunk[0], "--count", str(len(chunk)),
                 "--port", str(self.port), "--hostkey", str(self.key_path)],
                cwd=REPO, stdout=subprocess.PIPE, stderr=open(self.work / f"fleet{n}.log", "wb"), text=True))
        for n, (process, chunk) in enumerate(zip(self.processes, self.chunks)):
            selector = selectors.DefaultSelector()
            selector.register(process.stdout, selectors.EVENT_READ)
            deadline = started + timeout_s
            line = ""
            while time.monotonic() < deadline and process.poll() is None:
                if selector.select(timeout=0.5):
                    line = process.stdout.readline().strip()
                    break
            selector.close()
            if line != f"ready {len(chunk)}":
                raise RuntimeError(f"fleet process {n} not ready ({line!r}); see {self.work / f'fleet{n}.log'}: "
                                   + (self.work / f"fleet{n}.log").read_text()[-2000:])
        return time.monotonic() - started

    def cpu(self) -> float:
        return sum(_cpu_seconds(p.pid) for p in self.processes)

    def stop(self) -> None:
        for process in self.processes:
            _stop(process)
        self.processes = []


# -- the daemon run -------------------------------------------------------------------------------

def write_settings(work: Path, fleet: Fleet, snmp_addresses: list[str], snmp_port: int, workers: int) -> Path:
    (work / "creds").mkdir(exist_ok=True)
    (work / "creds" / "probes__ssh__credentials__lab__password").write_text(PASSWORD)
    (work / "creds" / "probes__snmp__credentials__lab__community").write_text(COMMUNITY)
    fleet.known_hosts(work / "known_hosts")
    ssh = "{credential: lab, profiles: [huawei_vrp], interval_s: 60, session_timeout_s: 50}"
    lines = ["sites:", "  - {name: lab, level: district}", "devices:"]
    lines += [f"  - {{name: sw{i:04d}, address: {a}, class: switch, site: lab, ssh: {ssh}}}"
              for i, a in enumerate(fleet.addresses)]
    lines += [f"  - {{name: snmp{i:03d}, address: {a}, class: router, site: lab, snmp: {{credential: lab}}}}"
              for i, a in enumerate(snmp_addresses)]
    (work / "inventory.yaml").write_text("\n".join(lines) + "\n")
    max_sessions = max(32, workers)
    settings = work / "netvigil.yaml"
    settings.write_text(
        "inventory: [inventory.yaml]\nstate_dir: state\nlog_level: warning\nsecrets_dir: creds\n"
        "probes:\n"
        "  icmp: {interval_s: 10}\n"
        f"  snmp: {{credentials: {{lab: {{version: v2c}}}}, port: {snmp_port}, interval_s: 10,"
        " skip_profiles: [host], profile_dirs: []}\n"
        f"  ssh: {{credentials: {{lab: {{username: {USER}}}}}, port: {fleet.port}, known_hosts: [known_hosts],"
        f" host_key_policy: known_hosts, profile_dirs: [], cli_workers: {workers}, max_sessions: {max_sessions}}}\n")
    return settings


def _ssh_errors(settings: Path) -> dict[str, str]:
    done = subprocess.run([NETVIGIL, "status", "-c", str(settings), "--json"], capture_output=True, text=True)
    if done.returncode != 0:
        return {}
    return {row["device"]: row["ssh_error"] for row in json.loads(done.stdout).get("devices", [])
            if row.get("ssh_error")}


def read_store(db_path: Path) -> dict[str, list[tuple[dict, int, dict]]]:
    db = sqlite3.connect(f"{db_path.resolve().as_uri()}?mode=ro", uri=True, timeout=10)
    try:
        rows = db.execute(
            "SELECT s.measurement, s.tags, p.time_ns, p.fields FROM point p JOIN series s ON s.id = p.series_id "
            "WHERE s.measurement IN ('ssh', 'ssh_command', 'icmp', 'snmp', 'netvigil_scheduler') ORDER BY p.time_ns").fetchall()
    finally:
        db.close()
    out: dict[str, list] = defaultdict(list)
    for measurement, tags, time_ns, fields in rows:
        out[measurement].append((json.loads(tags), time_ns, json.loads(fields)))
    return out


def daemon_run(work: Path, fleet: Fleet, snmpds: list[Snmpd], snmp_addresses: list[str], workers: int,
               seconds: float) -> dict:
    run_dir = work / f"run-w{workers}"
    run_dir.mkdir()
    settings = write_settings(run_dir, fleet, snmp_addresses, snmpds[0].port if snmpds else 161, workers)
    check = subprocess.run([NETVIGIL, "check", "-c", str(settings)], capture_output=True, text=True)
    if check.returncode != 0:
        raise RuntimeError(f"netvigil check failed:\n{check.stdout}\n{check.stderr}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NETVIGIL_")}
    log_path = run_dir / "daemon.log"
    fleet_cpu0, snmpd_cpu0 = fleet.cpu(), _snmpd_cpu(snmpds)
    wall0, epoch0 = time.monotonic(), time.time()
    daemon = subprocess.Popen([NETVIGIL, "run", "-c", str(settings)], stdout=subprocess.DEVNULL,
                              stderr=open(log_path, "wb"), env=env)
    try:
        status = None
        errors_seen: dict[str, str] = {}  # device -> SSH error sentence, from `netvigil status` every 10 s
        while time.monotonic() - wall0 < seconds:
            time.sleep(min(10.0, seconds - (time.monotonic() - wall0)))
            if daemon.poll() is not None:
                raise RuntimeError(f"netvigil run exited with {daemon.returncode}: {log_path.read_text()[-3000:]}")
            errors_seen.update(_ssh_errors(settings))
        cpu, wall = _cpu_seconds(daemon.pid), time.monotonic() - wall0
        fleet_cpu = fleet.cpu() - fleet_cpu0
        snmpd_cpu = _snmpd_cpu(snmpds) - snmpd_cpu0
        done = subprocess.run([NETVIGIL, "status", "-c", str(settings), "--json"], capture_output=True, text=True)
        if done.returncode == 0:
            status = json.loads(done.stdout)
    finally:
        _stop(daemon, 30)
    log_text = log_path.read_text(errors="replace")
    data = read_store(run_dir / "state" / "metrics.db")
    return analyse(data, status, errors_seen, log_text, len(fleet.addresses), len(snmp_addresses), workers, seconds,
                   cpu, wall, fleet_cpu, snmpd_cpu, epoch0, daemon.returncode)


def analyse(data, status, errors_seen, log_text, n_ssh, n_snmp, workers, seconds, cpu, wall, fleet_cpu, snmpd_cpu, epoch0,
            returncode) -> dict:
    ssh = [(tags["device"], ns / 1e9, fields) for tags, ns, fields in data["ssh"]]
    r: dict = {"workers": workers, "devices": n_ssh, "snmp_devices": n_snmp, "seconds": wall,
               "daemon_cpu_pct": 100 * cpu / wall, "fleet_cpu_pct": 100 * fleet_cpu / wall,
               "snmpd_cpu_pct": 100 * snmpd_cpu / wall, "exit": returncode}
    r["ssh_samples"] = len(ssh)
    starts = [t - f["duration_ms"] / 1000 for _, t, f in ssh]
    # Windows start half a slot before the first run: a slot's next run may start a few ms
    # earlier in its interval than its first did, and must not fall into the previous window.
    t0 = min(starts) - 0.5 if starts else epoch0
    r["first_ssh_after_s"] = t0 - epoch0
    cycles = []
    k = 0
    while t0 + (k + 1) * SSH_INTERVAL_S <= epoch0 + wall + 1e-6 or k == 0:
        lo, hi = t0 + k * SSH_INTERVAL_S, t0 + (k + 1) * SSH_INTERVAL_S
        inside = [(d, f) for d, t, f in ssh if lo <= t - f["duration_ms"] / 1000 < hi]  # by session start
        ok = {d for d, f in inside if f["error_code"] == 0}
        cycles.append({"n": k + 1, "ok_devices": len(ok), "samples": len(inside),
                       "complete": hi <= epoch0 + wall + 1e-6})
        k += 1
        if hi > epoch0 + wall:
            break
    r["cycles"] = cycles
    # The same by sample time (a slot-59 session ends in the next window).
    r["ok_ended_in_first_cycle"] = len({d for d, t, f in ssh if f["error_code"] == 0 and t0 <= t < t0 + SSH_INTERVAL_S})
    r["ok_devices_any"] = len({d for d, _, f in ssh if f["error_code"] == 0})
    good = [f for _, _, f in ssh if f["error_code"] == 0]
    r["duration_ms"] = [f["duration_ms"] for f in good]
    r["login_ms"] = [f["login_ms"] for f in good]
    r["command_ms"] = [f["command_ms"] for f in good]
    r["failures"] = []
    for d, t, f in ssh:
        if f["error_code"] != 0:
            cmds = [(tags.get("command"), fields.get("duration_ms"), fields.get("ok"))
                    for tags, ns, fields in data["ssh_command"]
                    if tags.get("device") == d and abs(ns / 1e9 - t) < 5 and not fields.get("ok")]
            r["failures"].append(f"{d} at {t - epoch0:.0f} s: {ERROR_NAMES.get(f['error_code'])}, "
                                 f"duration {f['duration_ms']:.0f} ms, login {f['login_ms']:.0f} ms, "
                                 f"commands ok {f.get('commands_ok')}/{f.get('commands')}, failed commands "
                                 f"(name, ms): {cmds}; daemon said: {errors_seen.get(d, '?')}")
    r["errors"] = Counter(ERROR_NAMES.get(f["error_code"], str(f["error_code"])) for _, _, f in ssh
                          if f["error_code"] != 0)
    # On the CLI driver COMMAND_TIMEOUT means "no prompt came back": against the simulator,
    # which answers every command at once, each one is a false fault.
    r["no_prompt"] = r["errors"].get("COMMAND_TIMEOUT", 0)
    lag: dict = defaultdict(lambda: (0.0, 0.0))
    skipped: dict = defaultdict(int)
    for tags, ns, fields in data["netvigil_scheduler"]:
        kind = tags.get("kind")
        if fields.get("lag_max_ms", 0) > lag[kind][0] or kind not in lag:
            lag[kind] = (fields["lag_max_ms"], ns / 1e9 - epoch0)
        skipped[kind] = max(skipped[kind], fields.get("skipped_total", 0))
    r["lag"] = dict(lag)
    r["skipped"] = dict(skipped)
    icmp = data["icmp"]
    r["icmp_samples"] = len(icmp)
    r["icmp_down"] = sum(1 for _, _, f in icmp if not f.get("up"))
    r["icmp_lossy"] = sum(1 for _, _, f in icmp if f.get("loss_pct", 0) > 0)
    r["icmp_devices"] = len({t["device"] for t, _, _ in icmp})
    snmp = data["snmp"]
    r["snmp_samples"] = len(snmp)
    r["snmp_failed"] = Counter(f.get("error_code") for _, _, f in snmp if f.get("error_code") != 0)
    r["snmp_devices_ok"] = len({t["device"] for t, _, f in snmp if f.get("error_code") == 0})
    r["snmp_ms"] = [f["duration_ms"] for _, _, f in snmp if f.get("error_code") == 0]
    if status is not None:
        d = status["daemon"]
        r["status"] = {"devices": d["devices"], "up": d["up"], "down": d["down"], "pending": d["pending"]}
    warnings = [line for line in log_text.splitlines() if " WARNING " in line or " ERROR " in line
                or "Traceback" in line]
    r["log_warnings"] = len(warnings)
    r["log_sample"] = warnings[:8]
    return r


# -- peer comparison ------------------------------------------------------------------------------

def peer_netmiko(addresses: list[str], port: int, workers: int) -> dict:
    from netmiko import ConnectHandler

    def one(address: str) -> tuple[bool, float, str]:
        started = time.monotonic()
        why = ""
        try:
            conn = ConnectHandler(device_type="huawei", host=address, port=port, username=USER, password=PASSWORD)
            outputs = [conn.send_command(command) for command in COMMANDS]
            conn.disconnect()
            ok = all(o and "Error:" not in o for o in outputs)
            why = "" if ok else "CLI error in output"
        except Exception as exc:  # noqa: BLE001 - counted as failed, by kind
            ok = False
            why = exc.__class__.__name__
            # netmiko's prompt search pressed Enter several times and took "<X><X>..." as the prompt
            if why == "ReadTimeout" and re.search(r"Pattern not detected: '(<[^<>']+>)\1+'", str(exc)):
                why = "ReadTimeout waiting for a repeated prompt"
        return ok, time.monotonic() - started, why

    cpu0, wall0 = time.process_time(), time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(one, addresses))
    wall, cpu = time.monotonic() - wall0, time.process_time() - cpu0
    return {"sessions": len(results), "ok": sum(ok for ok, _, _ in results), "wall": wall, "cpu": cpu,
            "per_session": [s for _, s, _ in results], "failed": Counter(why for ok, _, why in results if not ok)}


def netvigil_path(addresses: list[str], port: int, workers: int, known_hosts: Path) -> dict:
    from probes.base import Target
    from probes.ssh.prober import SshProber
    from probes.ssh.hostkeys import HostKeyStore
    from probes.ssh.profiles import load_profiles
    from probes.ssh.settings import SshSettings

    settings = SshSettings.model_validate({
        "credentials": {"lab": {"username": USER, "password": PASSWORD}}, "credential": "lab",
        "profiles": ["huawei_vrp"], "port": port, "interval_s": 60, "session_timeout_s": 50,
        "known_hosts": [known_hosts], "profile_dirs": [], "cli_workers": workers,
        "max_sessions": max(32, workers)})
    targets = [Target(f"sw{i:04d}", a, {"device": f"sw{i:04d}"}) for i, a in enumerate(addresses)]

    async def go():
        prober = SshProber(settings, load_profiles([]), HostKeyStore([known_hosts], None))
        try:
            cpu0, wall0 = time.process_time(), time.monotonic()
            samples = await prober.probe(targets, lambda device: settings)
            return samples, time.monotonic() - wall0, time.process_time() - cpu0
        finally:
            prober.close()

    samples, wall, cpu = asyncio.run(go())
    summaries = [s for s in samples if s.measurement == "ssh"]
    return {"sessions": len(summaries), "ok": sum(s.fields["error_code"] == 0 for s in summaries), "wall": wall,
            "cpu": cpu, "per_session": [s.fields["login_ms"] / 1000 + s.fields["command_ms"] / 1000 for s in summaries],
            "samples": len(samples)}


# -- report -------------------------------------------------------------------------------------

def _dist(values: list[float]) -> str:
    if not values:
        return "n/a"
    return (f"min {min(values):6.0f}  median {statistics.median(values):7.0f}  p95 {_pct(values, 0.95):7.0f}  "
            f"max {max(values):7.0f} ms")


def report_run(r: dict) -> bool:
    n = r["devices"]
    print(f"\n== netvigil run: {n} SSH devices (huawei_vrp, 60 s), {r['snmp_devices']} SNMP devices (10 s), "
          f"ICMP on {n + r['snmp_devices']} (10 s); cli_workers {r['workers']}; {r['seconds']:.0f} s ==")
    print(f"  first SSH run started {r['first_ssh_after_s']:.1f} s after `netvigil run` was started")
    for c in r["cycles"]:
        tag = "" if c["complete"] else " (partial window, run ended)"
        print(f"  SSH cycle {c['n']}: {c['ok_devices']:5d} of {n} devices OK ({c['samples']} sessions started){tag}")
    print(f"  SSH sessions OK and ended within cycle 1: {r['ok_ended_in_first_cycle']} of {n}; "
          f"devices OK at least once: {r['ok_devices_any']}")
    print(f"  ssh duration_ms  {_dist(r['duration_ms'])}   (run start to end, incl. wait for a worker)")
    print(f"  ssh login_ms     {_dist(r['login_ms'])}")
    print(f"  ssh command_ms   {_dist(r['command_ms'])}   (4 commands)")
    print(f"  ssh errors       {dict(r['errors']) or 'none'}")
    print(f"  no prompt back   {r['no_prompt']} of {r['ssh_samples']} sessions (COMMAND_TIMEOUT)")
    for line in r["failures"][:10]:
        print(f"      {line}")
    for kind in ("icmp", "snmp", "ssh"):
        lag_ms, at = r["lag"].get(kind, (float('nan'), 0.0))
        print(f"  lag max {kind:5s}   {lag_ms / 1000:6.2f} s (10-s window ending {at:.0f} s into the run); "
              f"runs skipped {r['skipped'].get(kind, 0)}")
    print(f"  ICMP             {r['icmp_samples']} samples of {r['icmp_devices']} devices; down {r['icmp_down']}, "
          f"with loss {r['icmp_lossy']}")
    print(f"  SNMP             {r['snmp_samples']} polls, {r['snmp_devices_ok']} of {r['snmp_devices']} devices OK; "
          f"failed {dict(r['snmp_failed']) or 'none'}; poll {_dist(r['snmp_ms'])}")
    if "status" in r:
        s = r["status"]
        print(f"  status at end    {s['devices']} devices: {s['up']} up, {s['down']} down, {s['pending']} pending")
    print(f"  CPU              daemon {r['daemon_cpu_pct']:.0f} % of one core, fleet {r['fleet_cpu_pct']:.0f} %, "
          f"snmpd {r['snmpd_cpu_pct']:.1f} %   (2 cores = 200 %)")
    print(f"  daemon log       {r['log_warnings']} warning/error lines; exit on SIGTERM {r['exit']}")
    for line in r["log_sample"]:
        print(f"      {line[:200]}")
    full = [c for c in r["cycles"] if c["complete"]]
    coverage = max((c["ok_devices"] for c in full), default=0)
    met = _met(r)
    print(f"  targets          SSH {n} devices in a 60 s cycle: {'met' if coverage >= n else 'MISSED'} "
          f"(best full cycle {coverage}); ICMP lag < 2 s: "
          f"{'met' if r['lag'].get('icmp', (1e9,))[0] < 2000 else 'MISSED'}; SNMP lag < 2 s: "
          f"{'met' if r['lag'].get('snmp', (1e9,))[0] < 2000 else 'MISSED'}; no prompt back 0: "
          f"{'met' if r['no_prompt'] == 0 else 'MISSED'}")
    return met


def report_peer(ours: dict, theirs: dict, workers: int) -> None:
    a, b = ours["sessions"] / ours["wall"], theirs["sessions"] / theirs["wall"]
    # Thread time per session: how long a session holds one of the `workers` threads.
    ta, tb = ours["wall"] * workers / ours["sessions"], theirs["wall"] * workers / theirs["sessions"]
    ca, cb = ours["cpu"] / ours["sessions"] * 1000, theirs["cpu"] / theirs["sessions"] * 1000
    print(f"\n== {ours['sessions']} sessions x 4 commands, {workers} threads, same fleet, daemon stopped ==")
    print("                          netvigil path   plain netmiko   ratio")
    print(f"  sessions/s              {a:10.1f}      {b:10.1f}      {a / b:5.1f}x")
    print(f"  thread time per session {ta:10.2f} s    {tb:10.2f} s    {tb / ta:5.1f}x shorter")
    print(f"  CPU per session (client){ca:10.0f} ms   {cb:10.0f} ms   {cb / ca:5.2f}x")
    print(f"  sessions OK             {ours['ok']:>10}      {theirs['ok']:>10}")
    if theirs["failed"]:
        print(f"  plain netmiko failed:   {dict(theirs['failed'])}")
    print(f"  wall for all            {ours['wall']:10.1f} s    {theirs['wall']:10.1f} s")
    print(f"netvigil: {a:.1f} sessions/s, peer (plain netmiko, {workers} threads): {b:.1f} sessions/s, "
          f"ratio {a / b:.1f}")


def readme_table(runs: list[dict], peers: list[tuple[int, dict, dict]]) -> None:
    print("\n== docs/benchmarks.md figures ==")
    print("| cli_workers | SSH devices OK per 60 s cycle | ssh duration median / p95 | login median | "
          "no prompt back | lag max icmp / snmp / ssh | daemon CPU | fleet CPU |")
    print("|---|---|---|---|---|---|---|---|")
    for r in runs:
        full = [c["ok_devices"] for c in r["cycles"] if c["complete"]]
        lag = {k: r["lag"].get(k, (float("nan"),))[0] / 1000 for k in ("icmp", "snmp", "ssh")}
        print(f"| {r['workers']} | {' / '.join(map(str, full))} of {r['devices']} | "
              f"{statistics.median(r['duration_ms']) / 1000 if r['duration_ms'] else float('nan'):.2f} / "
              f"{_pct(r['duration_ms'], 0.95) / 1000:.2f} s | "
              f"{statistics.median(r['login_ms']) / 1000 if r['login_ms'] else float('nan'):.2f} s | "
              f"{r['no_prompt']} of {r['ssh_samples']} | "
              f"{lag['icmp']:.2f} / {lag['snmp']:.2f} / {lag['ssh']:.2f} s | {r['daemon_cpu_pct']:.0f} % | "
              f"{r['fleet_cpu_pct']:.0f} % |")
    for workers, ours, theirs in peers:
        a, b = ours["sessions"] / ours["wall"], theirs["sessions"] / theirs["wall"]
        print(f"\nPeer, {ours['sessions']} sessions on {workers} threads: netvigil {a:.1f} sessions/s, "
              f"plain netmiko {b:.1f} sessions/s ({a / b:.1f}x)")


# -- main -------------------------------------------------------------------------------------------

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=1000, help="simulated VRP devices (SSH)")
    parser.add_argument("--snmp-devices", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=150.0, help="length of each daemon run")
    parser.add_argument("--workers", default="16", help="cli_workers; a comma list runs the daemon once per value")
    parser.add_argument("--peer-devices", type=int, default=200, help="0: no peer comparison")
    parser.add_argument("--fleet-procs", type=int, default=2)
    args = parser.parse_args()
    workers_list = [int(w) for w in args.workers.split(",")]

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    work = Path(tempfile.mkdtemp(prefix="nv-sshfleet-"))
    fleet = None
    snmpds: list[Snmpd] = []
    runs, peers = [], []
    try:
        fleet = Fleet(work, fleet_addresses("127.1.0.1", args.devices), args.fleet_procs)
        ready_s = fleet.start()
        snmp_addresses = fleet_addresses("127.2.0.1", args.snmp_devices) if args.snmp_devices else []
        port = free_udp_port(snmp_addresses or ["127.0.0.1"])
        # net-snmp 5.9.3 listened on only the first 121 of 200 `agentAddress` lines (found here:
        # the rest timed out), so one snmpd per 100 addresses.
        for n, i in enumerate(range(0, len(snmp_addresses), SNMPD_ADDRESSES)):
            chunk = snmp_addresses[i:i + SNMPD_ADDRESSES]
            others = "".join(f"agentAddress udp:{a}:{port}\n" for a in chunk[1:])
            snmpds.append(Snmpd(work / f"snmpd{n}", address=chunk[0], port=port, users=(), extra_conf=others))
            snmpds[-1].start()
        print(f"fleet: {args.devices} VRP CLIs on {fleet.addresses[0]} .. {fleet.addresses[-1]} port {fleet.port} "
              f"in {len(fleet.processes)} process(es), ready in {ready_s:.1f} s; {len(snmpds)} snmpd on "
              f"{len(snmp_addresses)} addresses port {port}", flush=True)
        for workers in workers_list:
            runs.append(daemon_run(work, fleet, snmpds, snmp_addresses, workers, args.seconds))
            report_run(runs[-1])
            sys.stdout.flush()
        if args.peer_devices:
            known_hosts = fleet.known_hosts(work / "known_hosts_peer")
            addresses = fleet.addresses[:args.peer_devices]
            netvigil_path(addresses[:2], fleet.port, 2, known_hosts)  # warm-up: imports, templates
            peer_netmiko(addresses[:2], fleet.port, 2)
            for workers in workers_list:
                f0 = fleet.cpu()
                ours = netvigil_path(addresses, fleet.port, workers, known_hosts)
                f1 = fleet.cpu()
                theirs = peer_netmiko(addresses, fleet.port, workers)
                f2 = fleet.cpu()
                ours["fleet_cpu"], theirs["fleet_cpu"] = f1 - f0, f2 - f1
                peers.append((workers, ours, theirs))
                report_peer(ours, theirs, workers)
                sys.stdout.flush()
        readme_table(runs, peers)
        met = all(r_met for r_met in (_met(r) for r in runs))
        print(f"\nall targets {'met' if met else 'MISSED'}")
        return 0 if met else 1
    except KeyboardInterrupt:
        print("interrupted; cleaning up", file=sys.stderr)
        return 130
    finally:
        for snmpd in snmpds:
            snmpd.stop()
        if fleet is not None:
            fleet.stop()
        shutil.rmtree(work, ignore_errors=True)


def _met(r: dict) -> bool:
    full = [c["ok_devices"] for c in r["cycles"] if c["complete"]]
    return (max(full, default=0) >= r["devices"] and r["lag"].get("icmp", (1e9,))[0] < 2000
            and r["lag"].get("snmp", (1e9,))[0] < 2000 and r["no_prompt"] == 0)


if __name__ == "__main__":
    sys.exit(main())
