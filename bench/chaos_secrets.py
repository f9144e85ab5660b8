"""Chaos: secrets planted everywhere a sysadmin puts one; where do they show up?

Run as root from the repository root:  .venv/bin/python -m bench.chaos_secrets

Twelve distinct secrets, each given the way docs/configuration.md says (secret files in a credentials
directory, the API token in the environment), and each *used* by a running daemon against real
servers on loopback, most of them in a failing way, since errors are where secrets leak:

* metrics servers that are down: the InfluxDB 2.x token and the InfluxDB 1.x password (errors,
  spool);
* a real snmpd: a right community, a wrong community (timeouts), SNMPv3 with wrong auth and
  privacy pass phrases (authentication errors);
* the VRP CLI simulator: a right SSH password (configuration backups of a running configuration
  that itself holds two secrets: a community and a local-user password) and a wrong one;
* a device dropped by nftables: its fault alerts by e-mail through a real SMTP server with AUTH
  (the password in the apprise URL) and by webhook with an Authorization header;
* the HTTP API: requests with a wrong token and with the right one.

Then every place a person or another program can read is searched for every secret: the daemon's
log (debug level), `status`, `status --json`, `faults --json`, `faults show`, `config history`,
`config diff`, `check` of a broken copy, every API answer, the e-mails and webhook bodies received,
and every byte of every file under state_dir (stores, spool, outbox, fault records, backups).
Prints the count per place; exit 1 if any secret was found anywhere.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import aiohttp

warnings.filterwarnings("ignore")  # aiosmtpd's notes about AUTH without TLS: loopback on purpose

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lab.mailserver import MailServer  # noqa: E402
from lab.netlab import drop_input, loopback_addresses, nft_table  # noqa: E402
from lab.snmplab import V3_USERS_BY_NAME, Snmpd  # noqa: E402
from lab.sshsim import CliSim, default_config  # noqa: E402
from lab.support import Process, free_port  # noqa: E402
from lab.webhook_receiver import WebhookReceiver  # noqa: E402

NETVIGIL = str(Path(sys.executable).parent / "netvigil")
SECRETS = {
    "influxdb token": "TokInflux-7f3a9c2e",
    "influxdb_v1 password": "PwInfluxV1-91be4d",
    "snmp community (right)": "CommGood-5521dfa",
    "snmp community (wrong)": "CommWrong-77e1c0",
    "snmpv3 auth pass phrase": "AuthWrong-88aa31",
    "snmpv3 privacy pass phrase": "PrivWrong-77bb42",
    "ssh password (right)": "SshGood-4242abc",
    "ssh password (wrong)": "SshWrong-4343def",
    "api token": "ApiTok-0d1e2f3a4b5c6d7e8f90",
    "smtp password": "MailPw-55aa77cc",
    "webhook header": "HookSecret-99cc10",
    "device config: community": "CfgComm-123abc45",
    "device config: local-user password": "CfgUserPw-998877",
}


def _inventory(agents: list[Snmpd], sims: list[CliSim], dropped: str) -> str:
    right, wrong, v3 = agents
    return f"""sites:
  - {{name: room, level: room}}
devices:
  - {{name: snmp-right, address: {right.address}, class: server, site: room, snmp: {{credential: right, port: {right.port}}}}}
  - {{name: snmp-wrong, address: {wrong.address}, class: switch, site: room, snmp: {{credential: wrong, port: {wrong.port}}}}}
  - {{name: snmp-v3, address: {v3.address}, class: ups, site: room, snmp: {{credential: v3, port: {v3.port}}}}}
  - {{name: ssh-right, address: {sims[0].host}, class: switch, site: room, icmp: {{enabled: false}},
     ssh: {{credential: right, port: {sims[0].port}, profiles: [huawei_vrp], backup: true, interval_s: 30}}}}
  - {{name: ssh-wrong, address: {sims[1].host}, class: router, site: room, icmp: {{enabled: false}},
     ssh: {{credential: wrong, port: {sims[1].port}, profiles: [huawei_vrp], interval_s: 30}}}}
  - {{name: dropped, address: {dropped}, class: switch, site: room}}
"""


def _settings(workdir: Path, dead_port: int, mail: MailServer, hooks: WebhookReceiver, api_port: int,
              known_hosts: Path) -> str:
    user = V3_USERS_BY_NAME["nv-sha-aes"]
    return f"""inventory: [inventory.yaml]
state_dir: state
log_level: debug
probes:
  icmp: {{interval_s: 2, count: 2, echo_interval_ms: 50, timeout_s: 0.5}}
  snmp:
    interval_s: 5
    timeout_s: 0.5
    retries: 0
    credentials:
      right: {{version: v2c}}
      wrong: {{version: v2c}}
      v3: {{version: v3, user: {user.name}, auth_protocol: sha, priv_protocol: aes}}
  ssh:
    credentials:
      right: {{username: admin}}
      wrong: {{username: admin}}
    connect_timeout_s: 5
    session_timeout_s: 25
    known_hosts: [{known_hosts}]
scheduler: {{slot_s: 0.5}}
outputs:
  influxdb: {{url: "http://127.0.0.1:{dead_port}", bucket: b, flush_interval_s: 0.3}}
  influxdb_v1: {{url: "http://127.0.0.1:{dead_port}", database: d, username: u, flush_interval_s: 0.3}}
  embedded: {{enabled: true}}
rules: {{dirs: []}}
faults: {{heightened_watch: {{periods: []}}}}
notifications:
  channels:
    mail: {{}}
    hook: {{webhook: {{url: "{hooks.url}"}}}}
  groups:
    oncall: {{tiers: [[mail, hook]]}}
  default_groups: [oncall]
  group_wait_s: 1
api:
  listen: 127.0.0.1:{api_port}
"""


def _credentials(directory: Path, mail: MailServer) -> None:
    directory.mkdir()
    files = {
        "outputs__influxdb__token": SECRETS["influxdb token"],
        "outputs__influxdb_v1__password": SECRETS["influxdb_v1 password"],
        "probes__snmp__credentials__right__community": SECRETS["snmp community (right)"],
        "probes__snmp__credentials__wrong__community": SECRETS["snmp community (wrong)"],
        "probes__snmp__credentials__v3__auth_passphrase": SECRETS["snmpv3 auth pass phrase"],
        "probes__snmp__credentials__v3__priv_passphrase": SECRETS["snmpv3 privacy pass phrase"],
        "probes__ssh__credentials__right__password": SECRETS["ssh password (right)"],
        "probes__ssh__credentials__wrong__password": SECRETS["ssh password (wrong)"],
        "notifications__channels__mail__apprise": (
            f"mailto://{mail.user}:{SECRETS['smtp password']}@127.0.0.1:{mail.port}"
            f"?to=noc@example.org&from=netvigil@example.org"),
        "notifications__channels__hook__webhook__headers__Authorization": f"Bearer {SECRETS['webhook header']}",
    }
    for name, value in files.items():
        (directory / name).write_text(value + "\n")


def _found(text: str) -> list[str]:
    return [name for name, secret in SECRETS.items() if secret in text]


async def _api(port: int, method: str, path: str, token: str, body=None) -> str:
    async with aiohttp.ClientSession() as session:
        async with session.request(method, f"http://127.0.0.1:{port}{path}", json=body,
                                   headers={"Authorization": f"Bearer {token}"}) as response:
            return f"{response.status} {dict(response.headers)} {await response.text()}"


async def run() -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="nvchaos-secrets-"))
    mail = MailServer("netvigil", SECRETS["smtp password"]).start()
    hooks = await WebhookReceiver().start()
    *agent_addresses, sim_address, dropped = loopback_addresses(5)
    agents = [Snmpd(workdir / f"snmpd{i}", address=address, community=SECRETS["snmp community (right)"],
                    users=[V3_USERS_BY_NAME["nv-sha-aes"]]).start() for i, address in enumerate(agent_addresses)]
    config = default_config() + (f"snmp-agent community read cipher {SECRETS['device config: community']}\n"
                                 f"local-user admin password irreversible-cipher "
                                 f"{SECRETS['device config: local-user password']}\n")
    sims = [await CliSim(users={"admin": SECRETS["ssh password (right)"]}, config=config).start(host=host)
            for host in ("127.0.0.1", sim_address)]
    known_hosts = workdir / "known_hosts"
    known_hosts.write_text("".join(sim.known_hosts_line() + "\n" for sim in sims))
    api_port, dead_port = free_port(), free_port()
    places: dict[str, list[str]] = {}
    daemon = None
    try:
        (workdir / "inventory.yaml").write_text(_inventory(agents, sims, dropped))
        settings = workdir / "netvigil.yaml"
        settings.write_text(_settings(workdir, dead_port, mail, hooks, api_port, known_hosts))
        _credentials(workdir / "creds", mail)
        env = {**os.environ, "CREDENTIALS_DIRECTORY": str(workdir / "creds"),
               "NETVIGIL_API__TOKEN": SECRETS["api token"]}
        env.pop("NOTIFY_SOCKET", None)

        def run_cli(*args: str) -> subprocess.CompletedProcess:
            return subprocess.run([NETVIGIL, *args, "-c", str(settings)], capture_output=True, text=True,
                                  timeout=60, env=env)

        def cli(*args: str) -> str:
            result = run_cli(*args)
            return result.stdout + result.stderr

        with nft_table([drop_input(dropped)]):
            daemon = Process([NETVIGIL, "run", "-c", str(settings)], workdir / "daemon.log", env=env)
            deadline = time.monotonic() + 120
            while not (mail.received() and hooks.delivered and (workdir / "state" / "configs").exists()):
                if time.monotonic() > deadline or not daemon.alive():
                    raise RuntimeError(f"alerts or backups never came:\n{daemon.log()[-3000:]}")
                await asyncio.sleep(1)
            await asyncio.sleep(12)  # a few more SNMP and SSH rounds, failing ones included
            answers = [await _api(api_port, "GET", path, token)
                       for token in ("wrong-token", SECRETS["api token"])
                       for path in ("/healthz", "/metrics", "/api/v1/status", "/api/v1/faults", "/openapi.json")]
            fault_id = str(json.loads(run_cli("faults", "--json").stdout)["faults"][0]["id"])
            answers.append(await _api(api_port, "POST", f"/api/v1/faults/{fault_id}/ack", "wrong-token", {"by": "x"}))
            answers.append(await _api(api_port, "POST", f"/api/v1/faults/{fault_id}/ack", SECRETS["api token"],
                                      {"by": "chaos"}))
            places["API answers"] = _found("\n".join(answers))
            places["status"] = _found(cli("status"))
            places["status --json"] = _found(cli("status", "--json"))
            places["faults --json, faults show"] = _found(cli("faults", "--json") + cli("faults", "show", fault_id))
            places["config history, config diff"] = _found(cli("config", "history", "ssh-right")
                                                           + cli("config", "diff", "ssh-right"))
            broken = workdir / "broken.yaml"
            broken.write_text(settings.read_text().replace("retries: 0", f"retries: {SECRETS['snmp community (wrong)']}")
                              .replace("bucket: b", f"bucket: [{SECRETS['influxdb token']}]"))
            checked = subprocess.run([NETVIGIL, "check", "-c", str(broken)], capture_output=True, text=True,
                                     timeout=60, env=env)
            places["check of a broken copy"] = _found(checked.stdout + checked.stderr)
            daemon.stop()
        places["daemon log"] = _found(daemon.log())
        places["e-mails"] = _found("\n".join(f"{m.subject}\n{m.body}" for m in mail.received()))
        places["webhook bodies"] = _found("\n".join(json.dumps(r.body, ensure_ascii=False) for r in hooks.requests))
        state_files = [path for path in (workdir / "state").rglob("*") if path.is_file()]
        found_in_files = set()
        for path in state_files:
            data = path.read_bytes()
            found_in_files.update(name for name, secret in SECRETS.items() if secret.encode() in data)
        places[f"{len(state_files)} files under state_dir"] = sorted(found_in_files)
        return {"secrets": len(SECRETS), "places": places, "mails": len(mail.received()),
                "webhooks": len(hooks.delivered)}
    finally:
        if daemon is not None:
            daemon.stop()
        for sim in sims:
            await sim.stop()
        for agent in agents:
            agent.stop()
        await hooks.stop()
        mail.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> int:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    result = asyncio.run(run())
    leaks = {place: found for place, found in result["places"].items() if found}
    print(f"{result['secrets']} secrets planted and used ({result['mails']} e-mails and {result['webhooks']} webhooks "
          f"sent); searched {len(result['places'])} places; found in {len(leaks)}:")
    for place, found in result["places"].items():
        print(f"  {place:<40} {', '.join(found) if found else '0'}")
    return 1 if leaks else 0


if __name__ == "__main__":
    sys.exit(main())
