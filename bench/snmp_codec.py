"""Benchmark: CPU per 10-OID SNMP v2c GET, netvigil's codec and client against pysnmp's, same snmpd.

Run from the repository root:  .venv/bin/python -m bench.snmp_codec [--seconds 3]

Starts one net-snmp snmpd of the SNMP test lab (lab/snmplab.py `Snmpd`, no v3 users) listening
on 100 loopback addresses of this process (127.X.Y.1-100, lab/netlab.py) and prints:

1. codec only: encode the request + decode the real 10-OID answer, netvigil
   (probes/snmp/ber.py) against pysnmp's message API + pyasn1's BER codec;
2. the whole client path at 10 concurrent pollers (10 agents): netvigil's SnmpClient against
   pysnmp's hlapi `get_cmd` (asyncio, lookupMib=False, numeric OIDs, one engine);
3. netvigil's client alone at concurrency 1, 10 and 100 (one agent per poller, the default
   cap of 1 request in flight per agent): polls/s, CPU per poll, and snmpd's CPU meanwhile.

CPU is this process's (time.process_time); snmpd runs in its own process. Target:
at most 0.4 ms CPU per 10-OID v2c GET (pysnmp's engine costs about 2 ms here).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from probes.snmp.ber import VERSION_2C, PduType, RequestTemplate, decode_message  # noqa: E402
from probes.snmp.client import Agent, RequestOptions, SnmpClient  # noqa: E402
from lab.snmplab import COMMUNITY, Snmpd, snmpd_on_addresses  # noqa: E402
from lab.netlab import loopback_addresses  # noqa: E402

TEN_OIDS = [
    "1.3.6.1.2.1.1.1.0", "1.3.6.1.2.1.1.2.0", "1.3.6.1.2.1.1.3.0", "1.3.6.1.2.1.1.4.0", "1.3.6.1.2.1.1.5.0",
    "1.3.6.1.2.1.1.6.0", "1.3.6.1.2.1.2.1.0", "1.3.6.1.2.1.2.2.1.8.1", "1.3.6.1.2.1.2.2.1.10.1",
    "1.3.6.1.2.1.2.2.1.16.1",
]
TARGET_US = 400.0


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- 1. codec only ----------------------------------------------------------------------------

def _real_answer(agent: Snmpd) -> bytes:
    import socket
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(2)
        sock.sendto(RequestTemplate(VERSION_2C, COMMUNITY.encode(), PduType.GET, TEN_OIDS).encode(0x1234567),
                    agent.endpoint)
        return sock.recv(65535)


def codec_ours(answer: bytes, seconds: float) -> float:
    template = RequestTemplate(VERSION_2C, COMMUNITY.encode(), PduType.GET, TEN_OIDS)
    count, started, deadline = 0, time.process_time(), time.monotonic() + seconds
    while time.monotonic() < deadline:
        for request_id in range(0x1000000, 0x1000000 + 1000):
            template.encode(request_id)
            decode_message(answer)
        count += 1000
    return (time.process_time() - started) / count * 1e6


def codec_pysnmp(answer: bytes, seconds: float) -> float:
    from pyasn1.codec.ber import decoder, encoder
    from pysnmp.proto import api

    module = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]
    oids = [tuple(int(arc) for arc in oid.split(".")) for oid in TEN_OIDS]
    count, started, deadline = 0, time.process_time(), time.monotonic() + seconds
    while time.monotonic() < deadline:
        for request_id in range(0x1000000, 0x1000000 + 100):
            pdu = module.GetRequestPDU()
            module.apiPDU.set_defaults(pdu)
            module.apiPDU.set_request_id(pdu, request_id)
            module.apiPDU.set_varbinds(pdu, [(oid, module.Null("")) for oid in oids])
            message = module.Message()
            module.apiMessage.set_defaults(message)
            module.apiMessage.set_community(message, COMMUNITY)
            module.apiMessage.set_pdu(message, pdu)
            encoder.encode(message)
            decoded, _ = decoder.decode(answer, asn1Spec=module.Message())
            module.apiPDU.get_varbinds(module.apiMessage.get_pdu(decoded))
        count += 100
    return (time.process_time() - started) / count * 1e6


# --- 2./3. whole client paths -----------------------------------------------------------------

async def _poll_for(seconds: float, pollers: int, poll_once) -> tuple[int, int]:
    """(polls done, failed polls) by `pollers` coroutines calling `poll_once(i)` for `seconds`."""
    deadline = time.monotonic() + seconds
    done = failed = 0

    async def poller(index: int) -> None:
        nonlocal done, failed
        while time.monotonic() < deadline:
            ok = await poll_once(index)
            done += 1
            failed += not ok

    await asyncio.gather(*(poller(i) for i in range(pollers)))
    return done, failed


async def client_ours(agents: list[Agent], pollers: int, seconds: float, snmpd_pid: int) -> dict:
    client = SnmpClient(RequestOptions(timeout_s=2.0, retries=0))

    async def poll_once(index: int) -> bool:
        return (await client.get(agents[index], TEN_OIDS)).ok

    await _poll_for(0.3, pollers, poll_once)  # warm-up: templates, OID caches, sockets
    cpu, wall, agent_cpu = time.process_time(), time.monotonic(), _cpu_seconds(snmpd_pid)
    done, failed = await _poll_for(seconds, pollers, poll_once)
    wall, cpu, agent_cpu = (time.monotonic() - wall, time.process_time() - cpu, _cpu_seconds(snmpd_pid) - agent_cpu)
    client.close()
    return {"polls": done, "failed": failed, "rate": done / wall, "cpu_us": cpu / max(done, 1) * 1e6,
            "agent_pct": agent_cpu / wall * 100, "client_pct": cpu / wall * 100}


async def client_pysnmp(agents: list[Agent], pollers: int, seconds: float) -> dict:
    from pysnmp.hlapi.v3arch.asyncio import (CommunityData, ContextData, ObjectIdentity, ObjectType, SnmpEngine,
                                             UdpTransportTarget, get_cmd)

    engine = SnmpEngine()
    auth = CommunityData(COMMUNITY, mpModel=1)
    targets = [await UdpTransportTarget.create((a.host, a.port), timeout=2, retries=0) for a in agents[:pollers]]
    objects = [ObjectType(ObjectIdentity(oid)) for oid in TEN_OIDS]

    async def poll_once(index: int) -> bool:
        error_indication, error_status, _, varbinds = await get_cmd(
            engine, auth, targets[index], ContextData(), *objects, lookupMib=False)
        return not error_indication and not error_status and len(varbinds) == 10

    await _poll_for(0.3, pollers, poll_once)
    cpu, wall = time.process_time(), time.monotonic()
    done, failed = await _poll_for(seconds, pollers, poll_once)
    wall, cpu = time.monotonic() - wall, time.process_time() - cpu
    engine.close_dispatcher()
    return {"polls": done, "failed": failed, "rate": done / wall, "cpu_us": cpu / max(done, 1) * 1e6}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="measuring time per point")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 10, 100])
    args = parser.parse_args()
    addresses = loopback_addresses(max(max(args.concurrency), 10))
    with tempfile.TemporaryDirectory(prefix="nv-snmp-bench-") as work:
        agent = snmpd_on_addresses(Path(work), addresses)
        try:
            agent.start()
            agents = [Agent(address, agent.port, "v2c", COMMUNITY) for address in addresses]
            answer = _real_answer(agent)
            print(f"snmpd {agent.process.pid} on {addresses[0]}..{addresses[-1]} port {agent.port}; "
                  f"10-OID GET answer {len(answer)} bytes")

            ours, theirs = codec_ours(answer, args.seconds), codec_pysnmp(answer, args.seconds)
            full_ours = asyncio.run(client_ours(agents, 10, args.seconds, agent.process.pid))
            full_theirs = asyncio.run(client_pysnmp(agents, 10, args.seconds))
            print("\n10-OID v2c GET                         netvigil      pysnmp   ratio")
            print(f"  CPU, codec only (encode + decode) {ours:>8.1f} us {theirs:>8.1f} us "
                  f"{theirs / ours:>6.1f}x less CPU")
            print(f"  CPU, whole client, 10 pollers     {full_ours['cpu_us']:>8.1f} us "
                  f"{full_theirs['cpu_us']:>8.1f} us {full_theirs['cpu_us'] / full_ours['cpu_us']:>6.1f}x less CPU")
            print(f"  polls/s, 10 pollers               {full_ours['rate']:>8.0f}    {full_theirs['rate']:>8.0f}    "
                  f"{full_ours['rate'] / full_theirs['rate']:>6.1f}x more polls")
            if full_ours["failed"] or full_theirs["failed"]:
                print(f"  failed polls: netvigil {full_ours['failed']}, pysnmp {full_theirs['failed']}")

            print("\nnetvigil SnmpClient, one agent per poller, 1 request in flight per agent")
            print(f"  {'pollers':>7} {'polls/s':>9} {'CPU/poll':>10} {'client CPU':>10} {'snmpd CPU':>10} "
                  f"{'failed':>7}")
            worst = 0.0
            for pollers in args.concurrency:
                r = asyncio.run(client_ours(agents, pollers, args.seconds, agent.process.pid))
                worst = max(worst, r["cpu_us"])
                print(f"  {pollers:>7} {r['rate']:>9.0f} {r['cpu_us']:>7.1f} us {r['client_pct']:>9.0f}% "
                      f"{r['agent_pct']:>9.0f}% {r['failed']:>7}")
            print(f"\ntarget <= {TARGET_US:.0f} us CPU per 10-OID v2c GET: "
                  f"{'met' if worst <= TARGET_US else 'MISSED'} (worst {worst:.1f} us)")
            return 0 if worst <= TARGET_US else 1
        finally:
            agent.stop()


if __name__ == "__main__":
    sys.exit(main())
