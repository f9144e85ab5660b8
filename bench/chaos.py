"""Chaos, in one command: netvigil attacked and broken on purpose, as a hostile network and a
careless operator would, with the figures docs/operations.md ("Reliability and security") quotes.

Run as root from the repository root:

    .venv/bin/python -m bench.chaos            # short sizes, a few minutes
    .venv/bin/python -m bench.chaos --full     # the sizes docs/operations.md quotes, about 6 minutes
    .venv/bin/python -m bench.chaos --only outputs api

Scenarios (each also runs alone; see its module):

* outputs  (bench/chaos_outputs.py): the metrics server down (500 devices, 120 s), a reload
  changing `outputs` during the outage, kill -9 while a replayed write is in flight, then five
  more kill -9 at random moments; samples lost, duplicated, out of order.
* config   (bench/chaos_config.py): broken settings, inventory and CSV files; tracebacks, hangs.
* api      (bench/chaos_api.py): 1,500 slow clients against a daemon limited to 256 open files;
  /healthz and `status` answered, log growth.
* requests (here): hostile HTTP requests against a running daemon's API (every route and
  method, without, with a wrong and with the right token; broken, huge, deep, wrongly typed
  and wrongly encoded bodies; odd paths and ids); answers of 500 or more, changes let through.
* acks     (here): 40 API and 10 CLI acknowledgements of one fault at once; how many recorded.
* secrets  (bench/chaos_secrets.py): 13 secrets planted and used, searched everywhere.
* snmp     (bench/chaos_snmp.py): hostile agents (ever-longer OIDs, endless rows, malformed);
  series added after the first poll.
* icmp     (bench/chaos_icmp.py): a forger answering for a dropped device; up samples.

Everything runs on loopback or in network namespaces the scenarios create, and every process is
stopped by its own pid. Exit 1 if any scenario broke its promise.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SCENARIOS = ("outputs", "config", "api", "requests", "acks", "secrets", "snmp", "icmp")


def outputs(full: bool) -> tuple[bool, str]:
    from bench.chaos_outputs import scenario

    result = scenario(devices=500 if full else 100, outage_s=120.0 if full else 20.0, kills=5)
    ok = result.lost == result.lost_at_kill and result.order_inversions == 0 and not result.stuck_spooled_points
    return ok, (f"{result.summary()}; {result.kills} kill -9 cost {result.lost_at_kill:,} samples that were only in "
                f"memory; {result.duplicated:,} received twice (at-least-once replay)")


def config(full: bool) -> tuple[bool, str]:
    from bench.chaos_config import run

    result = run(count=150 if full else 60)
    bad = result["outcomes"].get("traceback", 0) + result["outcomes"].get("hang", 0)
    others = sum(n for verdict, n in result["outcomes"].items() if verdict not in ("ok", "traceback", "hang"))
    kinds = ", ".join(f"{n} {kind}" for kind, n in result["kinds"].items())
    return bad + others == 0, (f"{result['files']} broken files ({kinds}) gave {result['outcomes'].get('traceback', 0)} "
                               f"tracebacks and {result['outcomes'].get('hang', 0)} hangs")


def api(full: bool) -> tuple[bool, str]:
    from bench.chaos_api import attack

    figures = attack(clients=1500, seconds=40.0 if full else 20.0, nofile=256)
    ok = figures["healthz_answered"] == figures["healthz_tried"] and figures["status_ok"] == figures["status_tried"]
    return ok, (f"{figures['clients']} slow clients at {figures['nofile']} open files: /healthz answered "
                f"{figures['healthz_answered']} of {figures['healthz_tried']} (worst {figures['healthz_max_ms']} ms), "
                f"status {figures['status_ok']} of {figures['status_tried']}, connections held at most "
                f"{figures['held_max']}, log {figures['log_bytes']:,} bytes")


ROUTES = [("GET", "/healthz"), ("GET", "/metrics"), ("GET", "/openapi.json"), ("GET", "/api/v1/faults"),
          ("GET", "/api/v1/faults/{id}"), ("POST", "/api/v1/faults/{id}/ack"), ("POST", "/api/v1/faults/{id}/resolve"),
          ("POST", "/api/v1/faults/{id}/close"), ("POST", "/api/v1/faults/{id}/notes"), ("GET", "/api/v1/maintenance"),
          ("POST", "/api/v1/maintenance"), ("POST", "/api/v1/maintenance/{id}/end"), ("GET", "/api/v1/status"),
          ("GET", "/api/v1/budget")]
HOSTILE_BODIES = [b"", b"{", b"[]", b"null", b'"x"', b"{}", b'{"by": 5}', b'{"by": "' + b"x" * 100_000 + b'"}',
                  b'{"by": "a\u0000b\u001b[31m"}', b"[" * 10_000 + b"]" * 10_000, b'{"by": "x", "extra": 1}',
                  b"\xff\xfe\x00", b'{"by": "x", "cause": "c", "resolution": "r", "prevention": "p"}',
                  b'{"name": "w", "match": {"sites": ["nowhere"]}, "start": "yesterday", "end": 1e400}']
ODD_IDS = ["1", "0", "-1", "99999999999999999999999", "1.5", "abc", "%00", "..%2f..%2fetc%2fpasswd", "%1b[31m",
           "1;DROP TABLE fault", "\u4e1c\u57ce"]


async def _hostile_requests(port: int, token: str) -> dict:
    import aiohttp

    counts = {"requests": 0, "5xx": 0, "changes_without_token": 0, "refused_without_token": 0}
    async with aiohttp.ClientSession() as session:
        async def send(method: str, path: str, body: bytes = b"", headers: dict | None = None) -> int:
            async with session.request(method, f"http://127.0.0.1:{port}{path}", data=body,
                                       headers={"Content-Type": "application/json", **(headers or {})}) as response:
                await response.read()
                counts["requests"] += 1
                counts["5xx"] += response.status >= 500
                return response.status

        for method, route in ROUTES:
            for fault_id in ODD_IDS if "{id}" in route else [""]:
                path = route.replace("{id}", fault_id)
                for auth in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic YWRtaW46YWRtaW4="}):
                    status = await send(method, path, b'{"by": "intruder"}', auth)
                    if method == "POST":
                        counts["changes_without_token"] += status < 400
                        counts["refused_without_token"] += status in (401, 403)
                if method == "POST":
                    for body in HOSTILE_BODIES:
                        await send(method, path, body, {"Authorization": f"Bearer {token}"})
        for method in ("PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "PROPFIND"):
            await send(method, "/api/v1/faults/1", b"{}", {"Authorization": f"Bearer {token}"})
        for headers in ({"Content-Encoding": "gzip"}, {"Content-Encoding": "deflate"}, {"Content-Length": "5"},
                        {"Content-Type": "text/plain"}, {"Transfer-Encoding": "chunked"}):
            try:
                await send("POST", "/api/v1/faults/1/notes", b'{"author": "a", "text": "t"}',
                           {"Authorization": f"Bearer {token}", **headers})
            except aiohttp.ClientError:
                counts["requests"] += 1  # the server closed a request it could not frame: no answer, no 500
    return counts


def requests(full: bool) -> tuple[bool, str]:
    import subprocess

    from lab.netlab import drop_input, loopback_addresses, nft_table
    from lab.support import free_port

    netvigil = str(Path(sys.executable).parent / "netvigil")
    token = "chaos-token-abcdef0123456789"
    port = free_port()
    (down,) = loopback_addresses(1)
    with tempfile.TemporaryDirectory(prefix="nvq") as work, nft_table([drop_input(down)]):
        work = Path(work)
        (work / "inventory.yaml").write_text("sites:\n  - {name: room}\ndevices:\n"
                                             f"  - {{name: down-1, address: {down}, class: switch, site: room}}\n")
        (work / "netvigil.yaml").write_text(
            "inventory: [inventory.yaml]\nstate_dir: state\n"
            "probes:\n  icmp: {interval_s: 2, count: 2, echo_interval_ms: 50, timeout_s: 0.5}\n"
            f"api: {{listen: '127.0.0.1:{port}'}}\n")
        daemon = subprocess.Popen([netvigil, "run", "-c", str(work / "netvigil.yaml")], stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL, stderr=open(work / "daemon.log", "wb"),
                                  env={**os.environ, "NETVIGIL_API__TOKEN": token})
        try:
            deadline = time.monotonic() + 60
            while "down-1" not in subprocess.run([netvigil, "faults", "--open", "-c", str(work / "netvigil.yaml")],
                                                 capture_output=True, text=True).stdout:
                if time.monotonic() > deadline or daemon.poll() is not None:
                    raise RuntimeError("the fault to attack never opened:\n"
                                       + (work / "daemon.log").read_text(errors="replace")[-2000:])
                time.sleep(0.5)
            counts = asyncio.run(_hostile_requests(port, token))
            alive = daemon.poll() is None
            tracebacks = (work / "daemon.log").read_text(errors="replace").count("Traceback")
        finally:
            daemon.terminate()
            daemon.wait(30)
    posts = sum(1 for method, route in ROUTES if method == "POST" for _ in (ODD_IDS if "{id}" in route else [""])) * 3
    ok = (alive and counts["5xx"] == 0 and counts["changes_without_token"] == 0 and tracebacks == 0
          and counts["refused_without_token"] == posts)
    return ok, (f"{counts['requests']} hostile requests: {counts['5xx']} answers of 500 or more, "
                f"{counts['refused_without_token']} of {posts} changes without the token refused with 401/403, "
                f"{counts['changes_without_token']} let through, {tracebacks} tracebacks in the log")


async def _ack_race() -> tuple[int, int, str]:
    import aiohttp

    from monitor.api.server import ApiServer
    from monitor.api.service import FaultService
    from monitor.api.settings import ApiSettings
    from monitor.faults.model import DeviceInfo
    from monitor.faults.settings import SlaSettings
    from monitor.faults.store import FaultStore

    netvigil = str(Path(sys.executable).parent / "netvigil")
    token = "chaos-token-0123456789abcdef"
    with tempfile.TemporaryDirectory(prefix="nvchaos-acks-") as work:
        work = Path(work)
        (work / "inventory.yaml").write_text("sites:\n  - {name: district}\ndevices: []\n")
        (work / "netvigil.yaml").write_text("inventory: [inventory.yaml]\nstate_dir: state\n")
        with FaultStore(work / "state" / "faults.db") as store:
            fault, _ = store.open(DeviceInfo("core-sw", "switch", ("district",)), "device_unreachable",
                                  severity="critical", message="core-sw down", value=1.0, at=time.time(),
                                  sla=SlaSettings(), reopen_window_s=0)
            server = ApiServer(ApiSettings(listen="127.0.0.1:0", token=token), FaultService(store))
            await server.start()
            try:
                async with aiohttp.ClientSession() as session:
                    async def by_api(name: str) -> bool:
                        async with session.post(f"http://127.0.0.1:{server.port}/api/v1/faults/{fault.id}/ack",
                                                json={"by": name}, headers={"Authorization": f"Bearer {token}"}) as r:
                            return r.status == 200

                    async def by_cli(name: str) -> bool:
                        process = await asyncio.create_subprocess_exec(
                            netvigil, "ack", str(fault.id), "--by", name, "-c", str(work / "netvigil.yaml"),
                            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
                        return await process.wait() == 0

                    answers = await asyncio.gather(*[by_api(f"api-{n}") for n in range(40)],
                                                   *[by_cli(f"cli-{n}") for n in range(10)])
            finally:
                await server.stop()
            recorded = store.get(fault.id).acknowledged_by
    return len(answers), sum(answers), recorded


def acks(full: bool) -> tuple[bool, str]:
    attempts, accepted, recorded = asyncio.run(_ack_race())
    return accepted == 1 and recorded is not None, (
        f"{attempts} concurrent acknowledgements (40 API, 10 CLI processes) of one fault: {accepted} accepted, "
        f"recorded by {recorded}")


def secrets(full: bool) -> tuple[bool, str]:
    from bench.chaos_secrets import run

    result = asyncio.run(run())
    found = {place: names for place, names in result["places"].items() if names}
    return not found, (f"{result['secrets']} secrets planted and used appeared in {len(found)} of "
                       f"{len(result['places'])} places" + (f": {found}" if found else ""))


def snmp(full: bool) -> tuple[bool, str]:
    from bench.chaos_snmp import run_scenario
    from lab.udpfake import HOSTILE_BEHAVIOURS

    parts, ok = [], True
    for behaviour in HOSTILE_BEHAVIOURS:
        figures = run_scenario(behaviour, polls=3)
        grew = sum(f.new_series for f in figures[1:])
        ok = ok and grew == 0
        parts.append(f"{behaviour}: {figures[-1].samples} samples a poll, {grew} new series after the first poll")
    return ok, f"{len(HOSTILE_BEHAVIOURS)} hostile agents: " + "; ".join(parts)


def icmp(full: bool) -> tuple[bool, str]:
    from bench.chaos_icmp import run

    result = run(devices=50, seconds=60.0 if full else 20.0)
    return result["victim_up_samples"] == 0 and result["fault_still_open"], (
        f"{result['forger']['forged_sent']:,} forged echo replies for a dropped device: {result['victim_up_samples']} "
        f"of its {result['victim_samples']} samples said up; its fault "
        f"{'stayed open' if result['fault_still_open'] else 'was RESOLVED'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="the sizes docs/operations.md quotes (longer)")
    parser.add_argument("--only", nargs="+", choices=SCENARIOS, help="run only these scenarios")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench/chaos.py needs root (ICMP, nftables, network namespaces)", file=sys.stderr)
        return 2
    failed = []
    for name in args.only or SCENARIOS:
        started = time.monotonic()
        try:
            ok, figures = globals()[name](args.full)
        except Exception:  # noqa: BLE001 - one broken scenario must not hide the others' figures
            ok, figures = False, "the scenario itself failed:\n" + traceback.format_exc()
        print(f"{'ok  ' if ok else 'FAIL'} {name:<8} {figures}  ({time.monotonic() - started:.0f} s)", flush=True)
        if not ok:
            failed.append(name)
    print(f"\n{len(args.only or SCENARIOS) - len(failed)} of {len(args.only or SCENARIOS)} scenarios held"
          + (f"; broken: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
