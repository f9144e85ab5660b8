"""Benchmark: netvigil's SNMP client against gufo-snmp, CPU per 10-OID GET, v2c and v3 authPriv.

Run from the repository root:  .venv/bin/python -m bench.snmp_engines [--gets 20000] [--runs 3]

The SNMP engine decision, kept repeatable: one net-snmp snmpd of the lab (with two v3 users)
listens on `--pollers` (100) loopback addresses of this process; `--gets` 10-OID GETs go to it
from one poller per address, for v2c, SHA/AES-128 and SHA-256/AES-256, through

* netvigil's client (probes/snmp/client.py: one socket for all agents, retries, bounds,
  restart healing, errors as data), and
* gufo-snmp's own asyncio API (`gufo.snmp.aio.SnmpSession`, one session and socket per agent,
  none of the above),

`--runs` (3) interleaved runs each, printing min / median / max CPU per GET, the ratio of the
medians and the sockets each opened. CPU is this process's (time.process_time).

gufo-snmp 0.13 is faster per GET but was not adopted: it does not verify the digest of SNMPv3
answers, returns no value types (Counter32, Gauge32 and TimeTicks read as INTEGER), turns
genErr/tooBig into "nothing found" or a complete-looking walk, and needs a socket per agent
(docs/benchmarks.md has the figures). Re-run this when a new gufo-snmp release fixes those.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.snmp_codec import TEN_OIDS  # noqa: E402
from bench.snmp_v3 import usm_user  # noqa: E402
from lab.netlab import loopback_addresses  # noqa: E402
from lab.snmplab import COMMUNITY, V3_USERS_BY_NAME, snmpd_on_addresses  # noqa: E402
from probes.snmp.client import Agent, RequestOptions, SnmpClient  # noqa: E402
from probes.snmp.usm import UsmUser  # noqa: E402

# (label, lab user, netvigil's protocol names); None: v2c
CASES = [
    ("v2c", None, None),
    ("v3 authPriv SHA/AES-128", "nv-sha-aes", ("sha", "aes")),
    ("v3 authPriv SHA-256/AES-256", "nv-sha256-aes256", ("sha256", "aes256")),
]
ENGINES = ("netvigil", "gufo-snmp")


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _gufo_user(user: UsmUser):
    """netvigil's localized keys as gufo-snmp key objects (both take the pass phrase's key)."""
    from gufo.snmp import Aes128Key, Aes256Key, KeyExpansion, Sha1Key, Sha256Key, User

    auth = {"sha": Sha1Key, "sha256": Sha256Key}[user.auth_protocol](user.auth_passphrase.encode())
    priv = {"aes": Aes128Key, "aes256": Aes256Key}[user.priv_protocol](user.priv_passphrase.encode())
    return User(user.name, auth_key=auth, priv_key=priv, key_expansion=KeyExpansion.Blumenthal)


class _Gufo:
    """gufo-snmp's asyncio API as it comes: one SnmpSession per agent; a failure raises."""

    def __init__(self) -> None:
        self.sessions: dict = {}

    async def ok(self, agent: Agent) -> bool:
        from gufo.snmp.aio import SnmpSession

        session = self.sessions.get(agent)
        if session is None:
            if agent.version == "v3":
                session = SnmpSession(agent.host, agent.port, user=_gufo_user(agent.user), timeout=2.0)
                await session.refresh()
            else:
                session = SnmpSession(agent.host, agent.port, community=agent.community, timeout=2.0)
            self.sessions[agent] = session
        try:
            return len(await session.get_many(TEN_OIDS)) == len(TEN_OIDS)
        except Exception:  # noqa: BLE001 - a failed GET is counted, not raised
            return False

    def close(self) -> None:
        self.sessions.clear()


class _Netvigil:
    def __init__(self) -> None:
        self.client = SnmpClient()

    async def ok(self, agent: Agent) -> bool:
        return (await self.client.get(agent, TEN_OIDS, RequestOptions(timeout_s=2.0, retries=0))).ok

    def close(self) -> None:
        self.client.close()


async def one_run(engine: str, agents: list[Agent], gets: int) -> dict:
    fds = _open_fds()
    client = _Netvigil() if engine == "netvigil" else _Gufo()
    failed = 0

    async def poller(agent: Agent, count: int) -> None:
        nonlocal failed
        for _ in range(count):
            failed += not await client.ok(agent)

    await asyncio.gather(*(poller(agent, 3) for agent in agents))  # warm-up: discovery, keys, sockets
    sockets = _open_fds() - fds
    failed = 0
    share = gets // len(agents)
    cpu, wall = time.process_time(), time.monotonic()
    await asyncio.gather(*(poller(agent, share) for agent in agents))
    wall, cpu = time.monotonic() - wall, time.process_time() - cpu
    client.close()
    done = share * len(agents)
    return {"cpu_us": cpu / done * 1e6, "rate": done / wall, "failed": failed, "sockets": sockets}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gets", type=int, default=20_000, help="10-OID GETs per point")
    parser.add_argument("--runs", type=int, default=3, help="interleaved runs per point (min/median/max)")
    parser.add_argument("--pollers", type=int, default=100, help="pollers, one agent address each")
    args = parser.parse_args()
    try:
        import gufo.snmp  # noqa: F401
    except ImportError:
        print("gufo-snmp is not installed: scripts/setup-venv.sh test installs it", file=sys.stderr)
        return 2
    addresses = loopback_addresses(args.pollers)
    users = [V3_USERS_BY_NAME[name] for _, name, _ in CASES if name]
    with tempfile.TemporaryDirectory(prefix="nv-snmp-engines-") as work:
        snmpd = snmpd_on_addresses(Path(work), addresses, users)
        port = snmpd.port
        try:
            snmpd.start()
            print(f"snmpd {snmpd.process.pid} on {addresses[0]}..{addresses[-1]} port {port}; {args.gets} 10-OID "
                  f"GETs per point from {len(addresses)} pollers, {args.runs} runs, engines interleaved")
            results: dict[tuple[str, str], list[dict]] = {}
            for _ in range(args.runs):
                for label, name, protocols in CASES:
                    if name is None:
                        agents = [Agent(a, port, "v2c", COMMUNITY) for a in addresses]
                    else:
                        agents = [Agent(a, port, "v3", user=usm_user(name, *protocols)) for a in addresses]
                    for engine in ENGINES:
                        results.setdefault((label, engine), []).append(asyncio.run(one_run(engine, agents, args.gets)))
        finally:
            snmpd.stop()
    print(f"\nCPU per 10-OID GET, min / median / max of {args.runs}:")
    print(f"  {'':<30} {'netvigil':>26} {'gufo-snmp':>26}   netvigil/gufo (medians)")
    for label, _, _ in CASES:
        cells, medians = [], []
        for engine in ENGINES:
            cpu = sorted(r["cpu_us"] for r in results[(label, engine)])
            medians.append(statistics.median(cpu))
            cells.append(f"{cpu[0]:.1f} / {medians[-1]:.1f} / {cpu[-1]:.1f} us")
        print(f"  {label:<30} {cells[0]:>26} {cells[1]:>26}   {medians[0] / medians[1]:.2f}x")
    print("\nGETs/s (median), failed GETs, sockets opened:")
    for label, _, _ in CASES:
        parts = []
        for engine in ENGINES:
            runs = results[(label, engine)]
            parts.append(f"{engine} {statistics.median(r['rate'] for r in runs):.0f}/s, "
                         f"{sum(r['failed'] for r in runs)} failed, {max(r['sockets'] for r in runs)} sockets")
        print(f"  {label:<30} {'; '.join(parts)}")
    failed = sum(r["failed"] for runs in results.values() for r in runs)
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
