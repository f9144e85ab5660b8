"""Every query of every provisioned Grafana dashboard, against what the real daemon wrote.

No Grafana server can be installed on these machines (there is no Debian package), so this
test does what needs no Grafana binary: it runs the daemon on a small fleet with real agents
writing to a real influxd 1.x, then reads grafana/dashboards/*.json, expands each query's
template variables the way Grafana's InfluxDB datasource does (lab/grafana.py: `$timeFilter`,
`$__interval`, `$site`/`$class`/`$device` as `=~ /^(a|b)$/`, variable queries run first for
their values) and runs it. Every panel's every query and every annotation must parse and
return at least one series with data, else the test fails naming the dashboard, the panel and
the query. tests/unit/test_grafana.py checks the structure (ids, datasource uids, variables).

The fleet, each device on a loopback address of this test's own:
  sw-core   switch   snmpsim: Cisco Catalyst 2960-X recording (interfaces, CPU, memory, sensors)
  ups-1     ups      snmpsim: APC Smart-UPS SRT 3000 recording
  env-1     env_sensor snmpsim: AKCP sensorProbe8 recording (temperature, humidity)
  srv-1     server   net-snmp snmpd (host resources)
  sw-access switch   simulated Huawei VRP over SSH: CPU/memory commands, and a configuration
                     changed before the daemon's first backup (a `config_changed` annotation)
  codec-1   codec    silenced with an nftables drop: `device_unreachable` is open
  codec-2   codec    answers
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path

import pytest

from lab import grafana
from lab.netlab import drop_input, loopback_addresses, nft_table
from lab.servers import INFLUXD_ADMIN
from lab.snmplab import COMMUNITY
from lab.sshsim import CliSim
from monitor.config_store import ConfigStore
from lab.support import Process, require_root, wait_until
from tests.integration.test_daemon import NETVIGIL, workdir  # noqa: F401 - fixture

pytestmark = [pytest.mark.integration, pytest.mark.root]

DATABASE = "grafana"
VRP_PASSWORD = "Admin@123"
RECORDINGS = {"sw-core": "ios_2960x", "ups-1": "apc_surt3000xl", "env-1": "akcp_serverprobe8"}
#: Long enough for two SNMP polls (rates), a few self-metrics points (differences) and the SSH checks.
SETTLE_S = 150


class ThreadedSim:
    """The VRP simulator on a thread of its own, so the daemon's and the CLI's SSH sessions reach
    it while the test blocks; its configuration can change between fetches."""

    def __init__(self, host: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.sim: CliSim = asyncio.run_coroutine_threadsafe(CliSim().start(host=host), self.loop).result(10)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.sim.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


def _write(workdir: Path, addresses: list[str], influxd, sim_port: int, snmpd, sim: CliSim) -> Path:
    core, ups, env, srv, access, codec1, codec2 = addresses
    (workdir / "known_hosts").write_text(sim.known_hosts_line() + "\n")
    snmp = "snmp: {{port: {port}, credential: {cred}}}"
    (workdir / "inventory.yaml").write_text(
        "sites:\n  - {name: district, level: district}\n  - {name: room, parent: district, level: room}\n"
        "  - {name: street-1, parent: district, level: street}\n"
        "devices:\n"
        f"  - {{name: sw-core, address: {core}, class: switch, site: room, {snmp.format(port=sim_port, cred='ios')}}}\n"
        f"  - {{name: ups-1, address: {ups}, class: ups, site: room, {snmp.format(port=sim_port, cred='ups')}}}\n"
        f"  - {{name: env-1, address: {env}, class: env_sensor, site: room, "
        f"{snmp.format(port=sim_port, cred='env')}}}\n"
        f"  - {{name: srv-1, address: {srv}, class: server, site: room, {snmp.format(port=snmpd.port, cred='lab')}}}\n"
        f"  - {{name: sw-access, address: {access}, class: switch, site: street-1, parent: sw-core,\n"
        f"      ssh: {{port: {sim.port}, credential: vrp, profiles: [huawei_vrp], backup: true}}}}\n"
        f"  - {{name: codec-1, address: {codec1}, class: codec, site: street-1, parent: sw-access}}\n"
        f"  - {{name: codec-2, address: {codec2}, class: codec, site: street-1, parent: sw-access}}\n")
    settings = workdir / "netvigil.yaml"
    settings.write_text(f"""
inventory: [inventory.yaml]
state_dir: state
probes:
  icmp: {{interval_s: 2, count: 3, echo_interval_ms: 50, timeout_s: 0.5}}
  snmp:
    interval_s: 5
    timeout_s: 1
    retries: 1
    credentials:
      lab: {{version: v2c}}
      ios: {{version: v2c}}
      ups: {{version: v2c}}
      env: {{version: v2c}}
  ssh:
    interval_s: 30
    session_timeout_s: 20
    known_hosts: [known_hosts]
    credentials:
      vrp: {{username: admin}}
scheduler: {{slot_s: 0.5}}
rules:
  dirs: []
faults:
  heightened_watch: {{periods: []}}
api:
  enabled: false
outputs:
  influxdb_v1: {{url: "{influxd.url}", database: {DATABASE}, username: {INFLUXD_ADMIN[0]}, flush_interval_s: 0.5}}
""")
    return settings


def _env() -> dict:
    return {**os.environ, "NETVIGIL_PROBES__SSH__CREDENTIALS__VRP__PASSWORD": VRP_PASSWORD,
            "NETVIGIL_OUTPUTS__INFLUXDB_V1__PASSWORD": INFLUXD_ADMIN[1],
            "NETVIGIL_PROBES__SNMP__CREDENTIALS__LAB__COMMUNITY": COMMUNITY,
            **{f"NETVIGIL_PROBES__SNMP__CREDENTIALS__{cred.upper()}__COMMUNITY": RECORDINGS[device]
               for cred, device in (("ios", "sw-core"), ("ups", "ups-1"), ("env", "env-1"))}}


def _has_data(result: dict) -> bool:
    return any(value is not None for series in result.get("series", [])
               for row in series.get("values", []) for value in row[1:])


def _run_dashboard(influxd, board: dict, *, require_data: bool, pinned: dict | None = None) -> list[str]:
    """Runs every query of one dashboard as Grafana would; returns one line per failure. Variables
    are resolved in order, each with the values of the ones before; "All" unless `pinned`."""
    variables = {var["name"]: var for var in board.get("templating", {}).get("list", [])}
    expander = grafana.Expander(variables=variables)
    failures = []
    for query in grafana.queries(board):
        text = expander.expand(query.text)
        result = influxd.results(text, DATABASE)
        if "error" in result:
            failures.append(f"{query.dashboard} / {query.where}: {result['error']}\n    {text}")
            continue
        if require_data and not _has_data(result):
            failures.append(f"{query.dashboard} / {query.where}: no data\n    {text}")
        if query.where.startswith("variable "):
            name = query.where.split(" ", 1)[1]
            values = [row[1] for series in result.get("series", []) for row in series["values"]]
            if pinned and name in pinned and pinned[name] in values:
                values = [pinned[name]]
            expander.values[name] = values or ["none"]
    return failures


def _run_all(influxd, require_data: bool = True) -> list[str]:
    failures = []
    for board in grafana.dashboards().values():
        failures += _run_dashboard(influxd, board, require_data=require_data)
    return failures


def test_every_dashboard_query_returns_data_from_the_daemons_writes(workdir, influxd, snmpd_factory,
                                                                     snmpsim_factory):
    require_root()
    addresses = loopback_addresses(7)
    influxd.create_database(DATABASE)
    sim_agent = snmpsim_factory(recordings=list(RECORDINGS.values()), addresses=addresses[:3])
    snmpd = snmpd_factory(addresses[3], users=())
    vrp = ThreadedSim(addresses[4])
    daemon = None
    try:
        settings = _write(workdir, addresses, influxd, sim_agent.port, snmpd, vrp.sim)
        # A configuration version from a week ago that differs from the device's: the daemon's
        # catch-up backup at start stores a new version and writes `config_changed` (backups
        # are due at most every 5 minutes, so a fresh version would not be fetched again).
        week_ago = time.time() - 7 * 86400
        ConfigStore(workdir / "state" / "configs").save(
            "sw-access", vrp.sim.config.replace(" description MCU-01\n", " description MCU-01-SPARE\n"),
            fetched_at=week_ago)
        # Both codecs silent at first; codec-2 answers again once its fault is open, so there is
        # a resolved fault too, and codec-1's fault stays open.
        with nft_table([drop_input(addresses[5]), drop_input(addresses[6])]) as table:
            daemon = Process([NETVIGIL, "run", "-c", str(settings)], workdir / "daemon.log", env=_env())
            deadline = time.monotonic() + SETTLE_S
            failures = ["not run yet"]
            while failures and time.monotonic() < deadline:
                time.sleep(5)
                assert daemon.alive(), daemon.log()[-3000:]
                if all(f" opened: {name} at" in daemon.log() for name in ("codec-1", "codec-2")):
                    table.update([drop_input(addresses[5])])
                failures = _run_all(influxd)
            assert not failures, ("queries without data or with errors after "
                                  f"{SETTLE_S} s:\n" + "\n".join(failures) + "\n" + daemon.log()[-3000:])

            # The open-fault table names the silenced codec, with time left on its clocks.
            board = grafana.dashboards()["noc-overview"]
            [panel] = [p for p in board["panels"] if p["title"].startswith("Open faults now")]
            text = grafana.Expander().expand(panel["targets"][0]["query"])

            def open_faults() -> dict:
                series = influxd.results(text, DATABASE).get("series", [])
                return {(s["tags"]["device"], s["tags"]["rule"]): dict(zip(s["columns"], s["values"][0]))
                        for s in series}
            # codec-2's fault leaves the snapshot's one-minute window within a minute of its resolve;
            # the configuration change is a fault of its own (rule config_changed).
            wanted = {("codec-1", "device_unreachable"), ("sw-access", "config_changed")}
            wait_until(lambda: set(open_faults()) == wanted, timeout_s=75, interval_s=1,
                       what="codec-1's and sw-access's faults alone in the open-fault table")
            rows = open_faults()
            row = rows[("codec-1", "device_unreachable")]
            assert row["resolve left"] > 0 and row["acknowledged"] == 0 and row["breached"] in (0, 1)

            # Each site and device on its own parses too (data where the device has it).
            device_board = grafana.dashboards()["site-device"]
            for site in ("room", "street-1"):
                errors = _run_dashboard(influxd, device_board, require_data=False, pinned={"site": site})
                assert not errors, "\n".join(errors)
        assert "Traceback" not in daemon.log()
    finally:
        if daemon is not None:
            daemon.stop()
        vrp.stop()
