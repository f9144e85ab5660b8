"""SNMP in the daemon and on the command line: credentials from systemd's credential directory
and the environment, samples in the embedded store, `status` showing SNMP health, SIGHUP,
`netvigil profiles list`, `netvigil probe --kind snmp`, `netvigil snmp walk`."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
from pathlib import Path

import pytest

from monitor.outputs.embedded import EmbeddedStore
from tests.integration.test_daemon import NETVIGIL, _start, _status, workdir  # noqa: F401 - fixture
from lab.netlab import loopback_addresses
from lab.snmplab import COMMUNITY, recording_path
from lab.support import wait_until
from lab.udpfake import hostile_agent

pytestmark = [pytest.mark.integration, pytest.mark.root]

SIM_COMMUNITY = "apc_surt3000xl"  # snmpsim: the community names the recording


@pytest.fixture
def server_snmpd(snmpd_factory):
    """The server's agent, on an address of its own (the UPS's snmpsim has 127.0.0.1)."""
    return snmpd_factory(loopback_addresses(1)[0], users=())


def _write(workdir: Path, snmpd, snmpsim, extra_device: str = "") -> Path:
    sim_host, sim_port = snmpsim.endpoint
    (workdir / "inventory.yaml").write_text(
        "sites:\n  - {name: room, level: room}\n"
        "classes:\n  ups: {snmp: {credential: sim}}\n"
        "devices:\n"
        f"  - {{name: srv-1, address: {snmpd.address}, class: server, site: room, snmp: {{port: {snmpd.port}}}}}\n"
        f"  - {{name: ups-1, address: {sim_host}, class: ups, site: room, snmp: {{port: {sim_port}}}}}\n"
        + extra_device)
    settings = workdir / "netvigil.yaml"
    settings.write_text(
        "inventory: [inventory.yaml]\nstate_dir: state\n"
        "probes:\n"
        "  icmp: {interval_s: 5, count: 1, timeout_s: 0.5}\n"
        "  snmp:\n"
        "    credential: lab\n"
        "    interval_s: 5\n    timeout_s: 0.5\n    retries: 1\n"
        "    credentials:\n"
        "      lab: {version: v2c}\n"           # community: from the credential directory
        "      sim: {version: v2c}\n"           # community: from the environment
        "scheduler: {slot_s: 0.5}\n")
    return settings


def _credentials(workdir: Path, community: str = COMMUNITY) -> dict:
    directory = workdir / "creds"
    directory.mkdir(exist_ok=True)
    (directory / "probes__snmp__credentials__lab__community").write_text(community + "\n")
    return {"CREDENTIALS_DIRECTORY": str(directory), "NETVIGIL_PROBES__SNMP__CREDENTIALS__SIM__COMMUNITY": SIM_COMMUNITY}


def _rows(settings: Path) -> dict:
    return {row["device"]: row for row in _status(settings)["devices"]}


def test_the_daemon_polls_snmp_writes_samples_and_status_shows_snmp_health(workdir, server_snmpd, snmpsim):
    settings = _write(workdir, server_snmpd, snmpsim)
    env = _credentials(workdir)
    process, listener = _start(workdir, settings, **env)
    try:
        listener.wait_for("READY=1")
        try:
            wait_until(lambda: {r["snmp"] for r in _rows(settings).values()} == {"ok"}, timeout_s=20,
                       what="SNMP ok for both devices")
        except AssertionError:
            raise AssertionError(f"{_rows(settings)}\n{process.log()}") from None
        def latest_rows() -> dict:
            return {(row.device, row.measurement): row
                    for row in EmbeddedStore.read_latest(workdir / "state" / "metrics.db")}

        wanted = {("ups-1", "apc_ups"), ("ups-1", "snmp"), ("srv-1", "snmp_system"), ("srv-1", "snmp_host")}
        wait_until(lambda: wanted <= set(latest_rows()), timeout_s=15, what="SNMP samples in the embedded store")
        latest = latest_rows()
        # The UPS: real readings of the recorded APC Smart-UPS, through the daemon.
        assert latest[("ups-1", "apc_ups")].fields["capacity_pct"] == 100
        assert latest[("ups-1", "snmp")].fields["up"] == 1
        assert latest[("ups-1", "apc_ups")].tags["room"] == "room"  # site levels tag SNMP samples too
        # The server (snmpd): system and host resources.
        assert latest[("srv-1", "snmp_system")].tags["sys_name"] == "netvigil-snmpd"
        assert 0 <= latest[("srv-1", "snmp_host")].fields["mem_used_pct"] <= 100

        # Now the server's community is wrong (the credential file changes; SIGHUP re-reads it).
        _credentials(workdir, community="wrong-" + COMMUNITY)
        process.popen.send_signal(signal.SIGHUP)
        wait_until(lambda: _rows(settings)["srv-1"]["snmp"] == "timeout", timeout_s=20,
                   what="SNMP timeout for srv-1 after the wrong community")
        rows = _rows(settings)
        assert rows["ups-1"]["snmp"] == "ok"
        assert "no answer" in rows["srv-1"]["snmp_error"]
        table = subprocess.run([NETVIGIL, "status", "-c", str(settings)], capture_output=True, text=True,
                               timeout=30).stdout
        assert "SNMP" in table.splitlines()[1] and "timeout" in table
    finally:
        code = process.stop()
        listener.close()
    assert code == 0, process.log()
    log = process.log()
    assert COMMUNITY not in log and SIM_COMMUNITY not in log.replace("apc_surt3000xl.snmprec", "")


def test_an_unknown_credential_in_the_inventory_is_a_configuration_error(workdir, server_snmpd, snmpsim):
    settings = _write(workdir, server_snmpd, snmpsim, extra_device=(
        "  - {name: sw-1, address: 127.0.0.9, class: switch, site: room, snmp: {credential: campsu}}\n"))
    result = _netvigil("check", "-c", str(settings), env=_credentials(workdir))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"{workdir / 'inventory.yaml'}:8: devices[2].snmp.credential: unknown credential 'campsu'; defined: lab, sim "
        "(probes.snmp.credentials of the settings file)", "1 problem(s) found"]


# --- hostile and broken agents --------------------------------------------------------------------------

def _series(metrics_db: Path, device: str) -> tuple[set, int]:
    """(distinct (measurement, tags, field) of `device` in the embedded store, its `snmp` samples)."""
    with sqlite3.connect(f"file:{metrics_db}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT s.measurement, s.tags, p.fields FROM point p JOIN series s ON s.id = p.series_id "
                          "WHERE s.device = ?", (device,)).fetchall()
    series = {(measurement, tags, field) for measurement, tags, fields in rows for field in json.loads(fields)}
    return series, sum(1 for measurement, _, _ in rows if measurement == "snmp")


def test_a_hostile_agent_cannot_grow_the_series_and_status_says_why(workdir, server_snmpd, snmpsim_factory):
    """Two broken devices in a running daemon writing to its embedded store. `hostile`: an agent
    that answers every table walk with ever-longer random OIDs, new ones each poll (a fake,
    lab/udpfake.py, in front of a real snmpd that answers the GETs: no real agent behaves
    like this on demand). Before the bounds every invented row was a new series each poll
    (58,476 series and a 47 MB store in 100 s in the report). `ups-1`: a real UPS recording
    (abbups) with its charge as an OctetString where UPS-MIB has an INTEGER, through snmpsim."""
    charge = "1.3.6.1.2.1.33.1.2.4.0"
    recorded = recording_path("abbups_abbups").read_text().splitlines()
    wrong_typed = [f"{charge}|4|full" if line.startswith(charge + "|") else line for line in recorded]
    assert wrong_typed != recorded
    sim = snmpsim_factory(extra_files={"ups_wrong_type": "\n".join(wrong_typed)})
    agent = hostile_agent(server_snmpd.endpoint, "ever-longer", address=loopback_addresses(2)[1])
    try:
        settings = _write(workdir, server_snmpd, sim, extra_device=(
            f"  - {{name: hostile, address: {agent.address}, class: switch, site: room, "
            f"snmp: {{port: {agent.port}}}}}\n"))
        # A walk cap far below the default, so that without the bounds a poll of `hostile` (hundreds of
        # thousands of invented rows at 20,000 varbinds a column) would still end within the interval.
        settings.write_text(settings.read_text().replace("    retries: 1\n",
                                                         "    retries: 1\n    max_walk_varbinds: 200\n"))
        env = {**_credentials(workdir), "NETVIGIL_PROBES__SNMP__CREDENTIALS__SIM__COMMUNITY": "ups_wrong_type"}
        process, listener = _start(workdir, settings, **env)
        metrics_db = workdir / "state" / "metrics.db"
        try:
            try:
                listener.wait_for("READY=1")
            except AssertionError:
                raise AssertionError(process.log()) from None
            wait_until(lambda: metrics_db.exists() and _series(metrics_db, "hostile")[1] >= 1, timeout_s=30,
                       what="the first poll of the hostile agent in the store")
            after_first, _ = _series(metrics_db, "hostile")
            wait_until(lambda: _series(metrics_db, "hostile")[1] >= 4, timeout_s=60,
                       what="four polls of the hostile agent in the store")
            after_four, polls = _series(metrics_db, "hostile")
            rows = _rows(settings)
            table = subprocess.run([NETVIGIL, "status", "-c", str(settings)], capture_output=True, text=True,
                                   timeout=30).stdout
        finally:
            code = process.stop()
            listener.close()
    finally:
        agent.stop()
    assert code == 0, process.log()
    measurements = {measurement for measurement, _, _ in after_four}
    assert after_four == after_first, (f"{len(after_four) - len(after_first)} new series in {polls - 1} polls: "
                                       f"{sorted(measurements)}")
    assert measurements <= {"icmp", "snmp", "snmp_system", "snmp_host"}, measurements  # no invented table row
    assert len(after_four) < 40
    assert rows["hostile"]["snmp"] == "index_too_long"
    assert ("a row index of more than 64 sub-identifiers" in rows["hostile"]["snmp_error"]
            and "raise probes.snmp.max_index_length or check the agent" in rows["hostile"]["snmp_error"])
    assert rows["ups-1"]["snmp"] == "wrong_type"
    assert rows["ups-1"]["snmp_error"].startswith(
        f"SNMP value of the wrong type: {charge} (profile ups, field charge_pct) is an OCTET STRING ('full')")
    assert "index_too_long" in table and "wrong_type" in table
    assert rows["srv-1"]["snmp"] == "ok"  # a healthy device next to them is polled as before
    latest = {(row.device, row.measurement): row for row in EmbeddedStore.read_latest(metrics_db)}
    assert latest[("ups-1", "snmp")].fields["wrong_type"] == 1
    assert latest[("hostile", "snmp")].fields["tables_dropped"] >= 1
    assert COMMUNITY not in process.log()


# --- command line -------------------------------------------------------------------------------------

def _netvigil(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    import os

    return subprocess.run([NETVIGIL, *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})


def test_profiles_list_names_every_shipped_profile_and_how_it_is_chosen():
    from probes.snmp import profiles as snmp_profiles

    result = _netvigil("profiles", "list", "--json")
    assert result.returncode == 0, result.stderr
    listed = {row["name"]: row for row in json.loads(result.stdout) if row["kind"] == "snmp"}
    assert set(listed) == set(snmp_profiles.load_all([snmp_profiles.PACKAGED_PROFILES]))
    assert listed["apc_ups"]["sysobjectid"] == ["1.3.6.1.4.1.318"]
    assert "ups" in listed["ups"]["classes"] and listed["ups"]["measurements"] == ["ups", "ups_input", "ups_output"]
    text = _netvigil("profiles", "list").stdout
    assert "selected by: classes ups" in text


def test_probe_kind_snmp_shows_the_profiles_and_what_they_extract(workdir, server_snmpd, snmpsim):
    settings = _write(workdir, server_snmpd, snmpsim)
    env = _credentials(workdir)
    result = _netvigil("probe", "ups-1", "--kind", "snmp", "-c", str(settings), env=env)
    assert result.returncode == 0, result.stderr
    assert "profiles: system, apc_ups, ups" in result.stdout or "apc_ups" in result.stdout.splitlines()[2]
    assert "capacity_pct=100" in result.stdout
    as_json = json.loads(_netvigil("probe", "srv-1", "--kind", "snmp", "--json", "-c", str(settings), env=env).stdout)
    assert as_json["sys_object_id"].startswith("1.3.6.1.4.1.8072.3.2")
    assert {"system", "host", "if"} <= set(as_json["profiles"])
    assert any(s["measurement"] == "snmp_if" and "in_bps" in s["fields"] for s in as_json["samples"])  # 2 polls
    assert COMMUNITY not in result.stdout + result.stderr + json.dumps(as_json)
    wrong = _netvigil("probe", "srv-1", "--kind", "snmp", "-c", str(settings),
                      env={**env, "CREDENTIALS_DIRECTORY": str(workdir)})  # no community file there
    assert wrong.returncode == 2
    assert wrong.stderr.startswith("probes.snmp.credentials.lab.community: not set; put it in a secret file named "
                                   "probes__snmp__credentials__lab__community")


def test_probe_kind_snmp_of_a_silent_device_exits_1(workdir, server_snmpd, snmpsim):
    settings = _write(workdir, server_snmpd, snmpsim)
    env = _credentials(workdir, community="wrong")
    result = _netvigil("probe", "srv-1", "--kind", "snmp", "-c", str(settings), env=env)
    assert result.returncode == 1
    assert "SNMP DOWN" in result.stdout and "no answer" in result.stdout


def test_snmp_walk_prints_what_snmpwalk_prints(workdir, server_snmpd, snmpsim):
    settings = _write(workdir, server_snmpd, snmpsim)
    env = _credentials(workdir)
    ours = _netvigil("snmp", "walk", "ups-1", "1.3.6.1.4.1.318.1.1.1.2", "-c", str(settings), env=env)
    assert ours.returncode == 0, ours.stderr
    theirs = snmpsim.walk(SIM_COMMUNITY, "1.3.6.1.4.1.318.1.1.1.2")
    our_oids = [line.split(" = ")[0] for line in ours.stdout.splitlines()]
    assert our_oids == list(theirs)
    for line in ours.stdout.splitlines():
        oid, shown = line.split(" = ", 1)
        kind, _, value = shown.partition(": ")
        if kind in ("INTEGER", "Gauge32", "Counter32"):
            assert int(value) == theirs[oid].int
    unknown = _netvigil("snmp", "walk", "nobody", "-c", str(settings), env=env)
    assert unknown.returncode == 2 and "no device named 'nobody'" in unknown.stderr
    bad_oid = _netvigil("snmp", "walk", "ups-1", "ifTable", "-c", str(settings), env=env)
    assert bad_oid.returncode == 2 and "not a numeric OID" in bad_oid.stderr


def test_sighup_changing_the_snmp_in_flight_caps_swaps_the_client_and_keeps_polling(workdir, server_snmpd, snmpsim):
    settings = _write(workdir, server_snmpd, snmpsim)
    process, listener = _start(workdir, settings, **_credentials(workdir))
    try:
        listener.wait_for("READY=1")
        wait_until(lambda: {r["snmp"] for r in _rows(settings).values()} == {"ok"}, timeout_s=20,
                   what="SNMP ok for both devices")
        settings.write_text(settings.read_text().replace("    interval_s: 5\n",
                                                         "    interval_s: 5\n    max_in_flight: 7\n"))
        before = _status(settings)["daemon"]["scheduler"]["snmp"]["runs_total"]
        process.popen.send_signal(signal.SIGHUP)
        wait_until(lambda: _status(settings)["daemon"]["reloads"] == 1, timeout_s=15, what="the reload")
        wait_until(lambda: _status(settings)["daemon"]["scheduler"]["snmp"]["runs_total"] >= before + 2,
                   timeout_s=20, what="SNMP runs after the reload")
        assert {r["snmp"] for r in _rows(settings).values()} == {"ok"}
    finally:
        code = process.stop()
        listener.close()
    assert code == 0, process.log()
    assert "Traceback" not in process.log()
