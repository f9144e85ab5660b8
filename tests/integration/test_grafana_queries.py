"""Every query of every provisioned Grafana dashboard, against what the real daemon wrote.

No Grafana server can be installed on these machines (there is no Debian package), so this
test does what needs no Grafana binary: it runs the daemon on a small fleet with real agents
writing to a real influxd 1.x, then reads grafana/dashboards/*/*.json (English and Chinese:
the same queries, other titles and column names), expands each query's
template variables the way Grafana's InfluxDB datasource does (lab/grafana.py: `$timeFilter`,
`$__interval`, `$site`/`$class`/`$device` as `=~ /^(a|b)$/`, variable queries run first for
their values) and runs it. Every panel's every query and every annotation must parse and
return at least one series with data, else the test fails naming the dashboard, the panel and
the query. Then a few panels are read value by value (the UPS's load, the NVR disk, the
devices down, the worst loss, the codec's model, the roll call, the SLA table).
tests/unit/test_grafana.py checks the structure (ids, datasource uids, variables).

The fleet, each device on a loopback address of this test's own:
  sw-core   switch   room      snmpsim: Cisco Catalyst 2960-X recording (interfaces, CPU, memory, sensors)
  ups-1     ups      room      snmpsim: APC Smart-UPS RT 3000 recording (PowerNet-MIB), plus an output
                               load the recording lacks (AMENDED: one line added here, so the APC
                               query of "UPS load" is exercised as on any APC that reports it)
  ups-2     ups      room      snmpsim: ABB UPS recording (UPS-MIB)
  ups-3     ups      room      snmpsim: INVT UPS behind a Megatec NetAgent card (XPPC-MIB, written as UPS-MIB)
  ups-4     ups      room      snmpsim: Eaton ConnectUPS card (XUPS-MIB, written as UPS-MIB)
  env-1     env_sensor room    snmpsim: AKCP sensorProbe8 recording (temperature, humidity, dry contacts)
  env-2     env_sensor room    snmpsim: APC NetBotz recording (temperature/humidity pods, fire-alarm inputs)
  env-3     env_sensor room    snmpsim: HW-group Poseidon recording (temperature/humidity with units, inputs)
  nvr-1     nvr      room      snmpsim: Hikvision NVR recording (a disk: capacity, free space), plus the
                               disk's state the recording lacks (AMENDED: "normal")
  codec-3   codec    street-1  snmpsim: Cisco TelePresence SX20 recording (model, software)
  rt-huawei router   street-1  snmpsim: Huawei AR169FGW-L recording (board CPU, memory, temperature)
  sw-h3c    switch   room      snmpsim: HP/H3C Comware 5700 recording (board CPU, memory, temperatures)
  srv-1     server   room      net-snmp snmpd (host resources)
  sw-access switch   street-1  simulated Huawei VRP over SSH: CPU/memory commands, and a configuration
                               changed before the daemon's first backup (a `config_changed` annotation)
  mcu-1     mcu      street-1  answers
  codec-1   codec    street-1  silenced with an nftables drop: `device_unreachable` stays open
  codec-2   codec    street-1  silenced, acknowledged with `netvigil ack`, then answers again: a
                               resolved fault with times to acknowledge and resolve
  cam-1     camera   room      the same (an acknowledged and a resolved fault in the machine room)
  cam-2     camera   street-1  silenced: a camera down now

The fault budget is 0, so every device with a fault this month is over it. Once the silent
devices' faults are open, `netvigil rollcall` calls the MCU and the codecs (codec-1 absent)
and writes `rollcall` and `rollcall_summary` for the conference dashboard's roll-call panels.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest

from lab import grafana
from lab.netlab import drop_input, loopback_addresses, nft_table
from lab.servers import INFLUXD_ADMIN
from lab.snmplab import COMMUNITY, recording_path
from lab.sshsim import CliSim
from monitor.config_store import ConfigStore
from lab.support import Process, require_root, wait_until
from tests.integration.test_daemon import NETVIGIL, workdir  # noqa: F401 - fixture

pytestmark = [pytest.mark.integration, pytest.mark.root]

DATABASE = "grafana"
VRP_PASSWORD = "Admin@123"
#: SNMP devices replayed by snmpsim: device -> (recording = community, class, site, credential name).
SIMULATED = {"sw-core": ("ios_2960x", "switch", "room", "ios"),
             "ups-1": ("apc_surt3000xl_amended", "ups", "room", "apc"),
             "ups-2": ("abbups_abbups", "ups", "room", "abb"),
             "ups-3": ("netagent2", "ups", "room", "ppc"),
             "ups-4": ("eatonups", "ups", "room", "xups"),
             "env-1": ("akcp_serverprobe8", "env_sensor", "room", "akcp"),
             "env-2": ("apc_netbotz", "env_sensor", "room", "netbotz"),
             "env-3": ("hwg-poseidon", "env_sensor", "room", "hwg"),
             "nvr-1": ("hikvision-nvr_amended", "nvr", "room", "hik"),
             "codec-3": ("vccodec", "codec", "street-1", "tp"),
             "rt-huawei": ("vrp_ar169fgwl", "router", "street-1", "vrp_snmp"),
             "sw-h3c": ("comware", "switch", "room", "h3c")}
#: Devices that only answer ping (or do not): device -> (class, site).
PINGED = {"mcu-1": ("mcu", "street-1"), "codec-1": ("codec", "street-1"), "codec-2": ("codec", "street-1"),
          "cam-1": ("camera", "room"), "cam-2": ("camera", "street-1")}
SILENT = ("codec-1", "codec-2", "cam-1", "cam-2")
COME_BACK = ("codec-2", "cam-1")
#: Lines added to recordings that lack a value a panel reads (served as "<recording>_amended"):
#: upsHighPrecOutputLoad 23.0 % (the APC recording has the output current but not the load),
#: hikDiskStatus 0 "normal" and hikDiskVolume of the Hikvision NVR's one disk.
AMENDED = {"apc_surt3000xl": ["1.3.6.1.4.1.318.1.1.1.4.3.3.0|66|230"],
           "hikvision-nvr": ["1.3.6.1.4.1.50001.1.241.1.2.1.0|4|HDD1", "1.3.6.1.4.1.50001.1.241.1.3.1.0|2|0"]}
#: Long enough for two SNMP polls (rates), a few self-metrics points (differences) and the SSH checks.
SETTLE_S = 180


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


def _write(workdir: Path, addresses: dict[str, str], influxd, sim_port: int, snmpd, sim: CliSim) -> Path:
    (workdir / "known_hosts").write_text(sim.known_hosts_line() + "\n")
    simulated = "".join(
        f"  - {{name: {name}, address: {addresses[name]}, class: {cls}, site: {site}, "
        f"snmp: {{port: {sim_port}, credential: {cred}}}}}\n" for name, (_, cls, site, cred) in SIMULATED.items())
    pinged = "".join(f"  - {{name: {name}, address: {addresses[name]}, class: {cls}, site: {site}"
                     + (", parent: sw-access" if site == "street-1" else "") + "}\n"
                     for name, (cls, site) in PINGED.items())
    (workdir / "inventory.yaml").write_text(
        "sites:\n  - {name: district, level: district}\n  - {name: room, parent: district, level: room}\n"
        "  - {name: street-1, parent: district, level: street}\n"
        "devices:\n" + simulated + pinged +
        f"  - {{name: srv-1, address: {addresses['srv-1']}, class: server, site: room, "
        f"snmp: {{port: {snmpd.port}, credential: lab}}}}\n"
        f"  - {{name: sw-access, address: {addresses['sw-access']}, class: switch, site: street-1, parent: sw-core,\n"
        f"      ssh: {{port: {sim.port}, credential: vrp, profiles: [huawei_vrp], backup: true}}}}\n")
    settings = workdir / "netvigil.yaml"
    simulated_credentials = "".join(f"      {cred}: {{version: v2c}}\n" for *_, cred in SIMULATED.values())
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
{simulated_credentials}  ssh:
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
  budget: {{faults_per_month: 0}}
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
            **{f"NETVIGIL_PROBES__SNMP__CREDENTIALS__{cred.upper()}__COMMUNITY": recording
               for recording, *_, cred in SIMULATED.values()}}


def _has_data(result: dict) -> bool:
    return any(value is not None for series in result.get("series", [])
               for row in series.get("values", []) for value in row[1:])


def _run_dashboard(influxd, board: dict, *, require_data: bool, pinned: dict | None = None,
                   key: str = "") -> list[str]:
    """Runs every query of one dashboard as Grafana would; returns one line per failure. Variables
    are resolved in order, each with the values of the ones before; "All" unless `pinned`."""
    variables = {var["name"]: var for var in board.get("templating", {}).get("list", [])}
    expander = grafana.Expander(variables=variables)
    failures = []
    for query in grafana.queries(board):
        text = expander.expand(query.text)
        result = influxd.results(text, DATABASE)
        if "error" in result:
            failures.append(f"{key} ({query.dashboard}) / {query.where}: {result['error']}\n    {text}")
            continue
        if require_data and not _has_data(result):
            failures.append(f"{key} ({query.dashboard}) / {query.where}: no data\n    {text}")
        if query.where.startswith("variable "):
            name = query.where.split(" ", 1)[1]
            values = [row[1] for series in result.get("series", []) for row in series["values"]]
            if pinned and name in pinned and pinned[name] in values:
                values = [pinned[name]]
            expander.values[name] = values or ["none"]
    return failures


def _panel_rows(influxd, key: str, title: str) -> dict[str, dict]:
    """The rows a table panel of dashboard `key` (e.g. "zh-CN/video") shows with every variable at
    "All", by device (tags and columns together, as Grafana's table has them); `title` is the
    English title, the panel in the same place of either language."""
    boards = grafana.dashboards()
    board = boards[key]
    index = [panel["title"] for panel in boards["en/" + key.split("/")[1]]["panels"]].index(title)
    expander = grafana.Expander(variables={var["name"]: var for var in board["templating"]["list"]})
    for var in board["templating"]["list"]:
        rows = influxd.query(expander.expand(var["query"]), DATABASE)
        expander.values[var["name"]] = [row["value"] for row in rows]
    panel = board["panels"][index]
    return {row.get("device", str(index)): row for index, row in enumerate(
        influxd.query(expander.expand(panel["targets"][0]["query"]), DATABASE))}


def _run_all(influxd, require_data: bool = True) -> list[str]:
    failures = []
    for key, board in grafana.dashboards().items():
        failures += _run_dashboard(influxd, board, require_data=require_data, key=key)
    return failures


def _amended(name: str) -> str:
    """A recording with AMENDED's lines, in OID order (snmpsim walks in file order)."""
    lines = recording_path(name).read_text().splitlines() + AMENDED[name]

    def oid(line: str) -> tuple[int, ...]:
        return tuple(int(part) for part in line.split("|", 1)[0].split("."))
    return "\n".join(sorted(lines, key=oid)) + "\n"


def _roll_call(settings: Path, workdir: Path) -> None:
    """`netvigil rollcall` of the conference endpoints, written by the command to the settings'
    outputs (this influxd): codec-1 is silent, so it is absent and the command exits 1."""
    roll = subprocess.run([NETVIGIL, "rollcall", "--class", "mcu,codec", "--name", "district meeting",
                           "-c", str(settings)], cwd=workdir, capture_output=True, text=True, env=_env(), timeout=60)
    assert roll.returncode == 1 and "codec-1" in roll.stdout, roll.stdout + roll.stderr


def _fault_id(influxd, device: str) -> int:
    """The id of the device's open fault, from its `fault` event (written within a flush of the log line)."""
    query = f'SELECT last("id") AS "id" FROM "fault" WHERE "device" = \'{device}\' AND "event" = 1'
    wait_until(lambda: influxd.query(query, DATABASE), timeout_s=10, interval_s=0.5, what=f"{device}'s fault event")
    return int(influxd.query(query, DATABASE)[0]["id"])


def test_every_dashboard_query_returns_data_from_the_daemons_writes(workdir, influxd, snmpd_factory,
                                                                     snmpsim_factory):
    require_root()
    names = [*SIMULATED, *PINGED, "srv-1", "sw-access"]
    addresses = dict(zip(names, loopback_addresses(len(names))))
    influxd.create_database(DATABASE)
    sim_agent = snmpsim_factory(recordings=[recording for recording, *_ in SIMULATED.values()
                                            if not recording.endswith("_amended")],
                                extra_files={f"{name}_amended": _amended(name) for name in AMENDED},
                                addresses=[addresses[name] for name in SIMULATED])
    snmpd = snmpd_factory(addresses["srv-1"], users=())
    vrp = ThreadedSim(addresses["sw-access"])
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
        # Four devices silent at first; once their faults are open, codec-2's and cam-1's are
        # acknowledged from the CLI and both answer again, so there are resolved faults with
        # SLA times, while codec-1's and cam-2's stay open.
        with nft_table([drop_input(addresses[name]) for name in SILENT]) as table:
            daemon = Process([NETVIGIL, "run", "-c", str(settings)], workdir / "daemon.log", env=_env())
            deadline = time.monotonic() + SETTLE_S
            failures = ["not run yet"]
            released = False
            while failures and time.monotonic() < deadline:
                time.sleep(5)
                assert daemon.alive(), daemon.log()[-3000:]
                if not released and all(f" opened: {name} at" in daemon.log() for name in SILENT):
                    for name in COME_BACK:
                        ack = subprocess.run([NETVIGIL, "ack", str(_fault_id(influxd, name)), "--by", "noc",
                                              "-c", str(settings)], cwd=workdir, capture_output=True, text=True,
                                             env=_env(), timeout=30)
                        assert ack.returncode == 0, ack.stdout + ack.stderr
                    table.update([drop_input(addresses[name]) for name in SILENT if name not in COME_BACK])
                    released = True
                    _roll_call(settings, workdir)
                failures = _run_all(influxd)
            assert not failures, ("queries without data or with errors after "
                                  f"{SETTLE_S} s:\n" + "\n".join(failures) + "\n" + daemon.log()[-3000:])

            # The open-fault table names the silenced devices, with time left on their clocks.
            board = grafana.dashboards()["en/noc-overview"]
            [panel] = [p for p in board["panels"] if p["title"].startswith("Open faults now")]
            text = grafana.Expander().expand(panel["targets"][0]["query"])

            def open_faults() -> dict:
                series = influxd.results(text, DATABASE).get("series", [])
                return {(s["tags"]["device"], s["tags"]["rule"]): dict(zip(s["columns"], s["values"][0]))
                        for s in series}
            # A fault leaves the snapshot's one-minute window within a minute of its resolve; the
            # configuration change is a fault of its own (rule config_changed). The recordings may
            # hold real alarms of their own, so only the faults made here are asserted.
            made = {("codec-1", "device_unreachable"), ("cam-2", "device_unreachable"),
                    ("sw-access", "config_changed")}
            came_back = {(name, "device_unreachable") for name in COME_BACK}
            wait_until(lambda: made <= set(open_faults()) and not came_back & set(open_faults()),
                       timeout_s=75, interval_s=1, what="the silent devices' faults alone open of those made here")
            row = open_faults()[("codec-1", "device_unreachable")]
            assert row["resolve left"] > 0 and row["acknowledged"] == 0 and row["breached"] in (0, 1)

            # codec-2's resolve event carries its times against the SLA, acknowledged from the CLI.
            [resolved] = influxd.query('SELECT "ack_s", "resolve_s", "ack_sla_s", "resolve_sla_s" FROM "fault" '
                                       'WHERE "device" = \'codec-2\' AND "event" = 4', DATABASE)
            assert 0 < resolved["ack_s"] < resolved["resolve_s"] and resolved["ack_sla_s"] > 0

            # Every device made to fail is over the budget of 0, with its one fault this month.
            budget = {row["device"]: row for row in influxd.query(
                'SELECT last("faults") AS "faults", last("over") AS "over" FROM "fault_budget" '
                'WHERE time > now() - 1m GROUP BY "device"', DATABASE)}
            assert all(budget[name]["faults"] == 1 and budget[name]["over"] == 1 for name in SILENT), budget

            # What some panels show, value by value, against the recordings and what happened here.
            ups = _panel_rows(influxd, "en/machine-room", "UPS now (APC)")["ups-1"]
            assert ups["load %"] == 23.0 and ups["output status"] == 2  # the amended load; online
            # The Megatec card's readings land in the UPS-MIB panels beside the ABB card's.
            megatec = _panel_rows(influxd, "en/machine-room", "UPS now (UPS-MIB)")
            assert megatec["ups-3"]["source"] == 7 and megatec["ups-3"]["charge %"] == 100   # on buck (reducer)
            assert megatec["ups-2"]["source"] == 3
            assert megatec["ups-4"]["charge %"] == 100 and megatec["ups-4"]["source"] is None   # no state recorded
            disk = _panel_rows(influxd, "en/video", "NVR disks")["nvr-1"]
            assert disk["state"] == 0 and disk["used %"] == pytest.approx((3815447 - 2715648) / 3815447 * 100)
            assert set(_panel_rows(influxd, "en/video", "Cameras down now")) == {"cam-2"}
            assert set(_panel_rows(influxd, "en/noc-overview", "Devices down now")) == {"codec-1", "cam-2"}
            worst = _panel_rows(influxd, "zh-CN/noc-overview", "Worst loss now")
            assert len(worst) <= 10 and worst["codec-1"]["v"] == 100 and worst["cam-2"]["v"] == 100
            assert "SX20" in _panel_rows(influxd, "en/conference", "Codec models and software")["codec-3"]["model"]
            [call] = _panel_rows(influxd, "en/conference", "Last roll calls").values()
            assert (call["meeting"], call["selected"], call["absent"]) == ("district meeting", 4, 1)
            missing = _panel_rows(influxd, "zh-CN/conference", "Missing at the last roll calls")
            assert list(missing) == ["codec-1"] and missing["codec-1"]["reason"]
            sla = _panel_rows(influxd, "en/sla-budget", "Acknowledge and resolve times against the SLA")
            assert sum(row["resolved"] for row in sla.values()) == 2  # codec-2 and cam-1
            assert sum(row["ack late"] or 0 for row in sla.values()) == 0

            # Each site and device on its own parses too (data where the device has it).
            device_board = grafana.dashboards()["en/site-device"]
            for site in ("room", "street-1"):
                errors = _run_dashboard(influxd, device_board, require_data=False, pinned={"site": site})
                assert not errors, "\n".join(errors)
        assert "Traceback" not in daemon.log()
    finally:
        if daemon is not None:
            daemon.stop()
        vrp.stop()
