"""The daemon with its fault records on a real PostgreSQL server (`faults.database`).

A loopback host made silent with nftables opens device_unreachable in the PostgreSQL database
(and no faults.db appears under state_dir); `netvigil faults`, a separate process, lists it
from there and acknowledges it; the password comes from the environment and is never in the
daemon's log. A daemon whose server cannot be reached at start says so in one sentence and
exits 1. One whose server stops while it runs goes on probing and writing metrics, logs the
outage in a few lines without a traceback, keeps its fault changes on its own disk, and
applies them in order once the server is back: a fault that opened and cleared during the
outage is recorded with its times and its alerts go out, also when the daemon was killed
(-9) before the server came back.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from lab.netlab import drop_input, loopback_addresses, nft_table
from lab.postgres import PostgresServer
from lab.support import VENV_BIN, Process, free_port, require_root, until_daemon, webhook_alerting
from tests.integration.test_api import AUTH, TOKEN, start_api, store  # noqa: F401 - fixtures
from tests.integration.test_faults_daemon import workdir  # noqa: F401 - fixture (a short path for the socket)

pytestmark = [pytest.mark.integration, pytest.mark.root]

NETVIGIL = str(VENV_BIN / "netvigil")
PASSWORD = "Pg-daemon-s3cr3t-Do-Not-Print"


def write_site(workdir: Path, url: str, addresses: list[str], extra: str = "") -> Path:
    (workdir / "inventory.yaml").write_text(
        "sites:\n  - {name: district, level: district}\n  - {name: room, parent: district, level: room}\n"
        "devices:\n"
        f"  - {{name: core-sw, address: {addresses[0]}, class: switch, site: room}}\n"
        f"  - {{name: server-1, address: {addresses[1]}, class: server, site: room}}\n")
    settings = workdir / "netvigil.yaml"
    settings.write_text(f"""
inventory: [inventory.yaml]
state_dir: state
api: {{enabled: false}}
probes:
  icmp: {{interval_s: 2, count: 2, echo_interval_ms: 50, timeout_s: 0.5}}
scheduler: {{slot_s: 0.5}}
rules: {{dirs: []}}
faults:
  database: {{url: '{url}', connect_timeout_s: 3}}
  heightened_watch: {{periods: []}}
{extra}""")
    return settings


def daemon_summary(settings: Path, env: dict) -> dict:
    result = cli(settings, env, "status", "--json")
    if result.returncode != 0:
        return {}
    return json.loads(result.stdout)["daemon"] or {}


async def started_on_own_server(workdir: Path, server: PostgresServer, receiver):
    """A daemon alerting to `receiver` with its records on a fresh database of `server`, once
    both its devices answer: (settings, env, daemon, addresses, database)."""
    database = server.fresh_database()
    addresses = loopback_addresses(2)
    settings = write_site(workdir, server.url(database), addresses, webhook_alerting(receiver.url))
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    daemon = Process([NETVIGIL, "run", "-c", str(settings)], workdir / "daemon.log", env=env)
    await until_daemon(daemon, lambda: daemon_summary(settings, env).get("up") == 2, 30, "both devices up")
    return settings, env, daemon, addresses, database


def alerts_of(receiver) -> list[tuple[str, str]]:
    return [(alert["event"], fault["device"]) for alert in receiver.delivered for fault in alert["faults"]]


def cli(settings: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([NETVIGIL, *args, "-c", str(settings)], capture_output=True, text=True, timeout=30, env=env)


async def test_the_daemon_records_faults_in_postgresql_and_the_commands_read_them(workdir, postgres_server):
    require_root()
    database = postgres_server.fresh_database()
    postgres_server.add_role("poller_it", PASSWORD, owns=database)
    url = f"postgresql://poller_it@127.0.0.1:{postgres_server.port}/{database}"
    addresses = loopback_addresses(2)
    settings = write_site(workdir, url, addresses)
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "NETVIGIL_FAULTS__DATABASE__PASSWORD": PASSWORD}
    daemon = Process([NETVIGIL, "run", "-c", str(settings)], workdir / "daemon.log", env=env)

    def unreachable() -> list[dict]:
        result = cli(settings, env, "faults", "--json", "--open")
        if result.returncode != 0:  # the schema may not be there yet in the first moments
            return []
        return [f for f in json.loads(result.stdout)["faults"] if f["rule"] == "device_unreachable"]

    with nft_table([drop_input(addresses[0])]):
        [fault] = await until_daemon(daemon, unreachable, 40, "device_unreachable of core-sw in PostgreSQL")
    assert (fault["device"], fault["site"], fault["state"], fault["severity"]) == ("core-sw", "room", "open",
                                                                                    "critical")
    rows = postgres_server.sql("SELECT device, rule, resolved_at IS NULL FROM fault WHERE rule = "
                               "'device_unreachable'", database)
    assert rows == [("core-sw", "device_unreachable", True)]
    acked = cli(settings, env, "ack", str(fault["id"]), "--by", "li.wei")
    assert acked.returncode == 0, acked.stderr
    assert postgres_server.sql("SELECT acknowledged_by FROM fault WHERE id = %s", database,
                               (fault["id"],)) == [("li.wei",)]
    assert not (workdir / "state" / "faults.db").exists()
    daemon.popen.send_signal(signal.SIGTERM)
    assert daemon.stop() == 0, daemon.log()
    log = daemon.log()
    assert PASSWORD not in log and "Traceback" not in log
    assert postgres_server.sql("SELECT version FROM schema_migrations ORDER BY version", database) == [(1,), (2,)]


def test_an_unreachable_server_at_start_is_one_sentence_and_exit_1(workdir, postgres_server):
    require_root()
    port = free_port()
    settings = write_site(workdir, f"postgresql://netvigil@127.0.0.1:{port}/netvigil", loopback_addresses(2))
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "NETVIGIL_FAULTS__DATABASE__PASSWORD": PASSWORD}
    daemon = Process([NETVIGIL, "run", "-c", str(settings)], workdir / "daemon.log", env=env)
    assert daemon.popen.wait(60) == 1
    daemon.stop()
    log = daemon.log()
    [line] = [line for line in log.splitlines() if "cannot start" in line]
    assert line.endswith(f"cannot start: faults.database: cannot reach PostgreSQL at 127.0.0.1:{port} (Connection "
                         f"refused); start the server or correct faults.database.url "
                         f"(postgresql://netvigil@127.0.0.1:{port}/netvigil)")
    assert PASSWORD not in log and "Traceback" not in log


async def test_a_server_stopped_mid_run_costs_sentences_not_probing_and_the_changes_are_applied_when_it_is_back(
        workdir, webhook_receiver):
    require_root()
    server = PostgresServer().start()  # this test's own: it is stopped and started again
    try:
        settings, env, daemon, addresses, database = await started_on_own_server(workdir, server, webhook_receiver)
        server.stop()
        written = daemon_summary(settings, env)["outputs"][0]["written_points"]
        with nft_table([drop_input(addresses[0])]):
            # The core goes silent while the database is away: its open is kept on disk.
            await until_daemon(daemon, lambda: "fault changes are kept in order" in daemon.log(), 30,
                               "the open kept on disk")
            went_silent = time.time()
            await asyncio.sleep(4)  # two more ICMP runs of the silent core meet the outage
        # ... and answers again before the database is back: the clear is kept behind the open.
        now = await until_daemon(daemon, lambda: (lambda d: d if d.get("up") == 2 else None)(
            daemon_summary(settings, env)), 30, "the core answering again")
        came_back = time.time()
        assert now["fault_changes_waiting"] >= 2, now  # open (+ its update) + clear
        assert now["outputs"][0]["written_points"] > written  # the metrics went on
        assert webhook_receiver.delivered == []  # the alert goes out with the record
        assert "fault changes kept on disk, waiting" in cli(settings, env, "status").stdout
        server.start()
        rows = await until_daemon(daemon, lambda: server.sql(
            "SELECT device, rule, opened_at, resolved_at, resolved_by FROM fault", database), 90,
            "the kept changes applied once the server is back")
        [(device, rule, opened_at, resolved_at, resolved_by)] = rows
        assert (device, rule, resolved_by) == ("core-sw", "device_unreachable", "auto")
        assert went_silent - 10 < opened_at < resolved_at <= came_back, (went_silent, rows, came_back)
        await webhook_receiver.wait_for(2, timeout_s=20)
        await asyncio.sleep(2)
        assert alerts_of(webhook_receiver) == [("open", "core-sw"), ("resolved", "core-sw")]
        assert daemon_summary(settings, env)["fault_changes_waiting"] == 0
        daemon.popen.send_signal(signal.SIGTERM)
        assert daemon.stop() == 0, daemon.log()
        log = daemon.log()
        assert "Traceback" not in log, log[-3000:]
        assert "faults: the fault database answers again; " in log
        # Whichever call met the outage first (a batch, housekeeping, the self-metrics, the report
        # schedule) logs its sentence; the same sentence again within a minute is not repeated.
        outage = [line for line in log.splitlines() if " error " in line]
        assert 2 <= len(outage) <= 10, outage  # dozens of batches and rounds met it
        assert all(f"fault records on {server.url(database)}" in line or "cannot reach PostgreSQL" in line
                   or "fault changes are kept in order in " in line for line in outage), outage
    finally:
        server.remove()


async def test_changes_kept_on_disk_survive_kill_9_and_are_applied_at_the_next_start(workdir, webhook_receiver):
    require_root()
    server = PostgresServer().start()
    try:
        settings, env, daemon, addresses, database = await started_on_own_server(workdir, server, webhook_receiver)
        server.stop()
        with nft_table([drop_input(addresses[1])]):
            await until_daemon(daemon, lambda: daemon_summary(settings, env).get("fault_changes_waiting"), 30,
                               "the server's open kept on disk")
            went_silent = time.time()
            daemon.stop(signal.SIGKILL)
            server.start()
            again = Process([NETVIGIL, "run", "-c", str(settings)], workdir / "again.log", env=env)
            rows = await until_daemon(again, lambda: server.sql(
                "SELECT device, opened_at, resolved_at FROM fault", database), 60, "the kept open applied at start")
            [(device, opened_at, resolved_at)] = rows
            assert device == "server-1" and resolved_at is None and opened_at < went_silent
            await webhook_receiver.wait_for(1, timeout_s=20)
        rows = await until_daemon(again, lambda: server.sql(
            "SELECT resolved_by FROM fault WHERE resolved_at IS NOT NULL", database), 30, "the fault resolved")
        assert rows == [("auto",)]
        await webhook_receiver.wait_for(2, timeout_s=20)
        assert alerts_of(webhook_receiver) == [("open", "server-1"), ("resolved", "server-1")]
        again.popen.send_signal(signal.SIGTERM)
        assert again.stop() == 0, again.log()
        assert "Traceback" not in again.log() + daemon.log()
    finally:
        server.remove()


async def test_the_api_answers_503_with_the_sentence_while_the_server_is_away(start_api, tmp_path):  # noqa: F811
    from monitor.api.service import FaultService
    from monitor.faults.model import DeviceInfo
    from monitor.faults.postgres import PostgresFaultDb
    from monitor.faults.settings import DatabaseSettings, SlaSettings
    from monitor.faults.store import FaultStore

    server = PostgresServer().start()
    try:
        settings = DatabaseSettings(url=server.url(server.fresh_database()))
        records = FaultStore.over(PostgresFaultDb.open(settings))
        fault, _ = records.open(DeviceInfo("core-sw", "switch", ("district",)), "device_unreachable",
                              severity="critical", sla=SlaSettings(), reopen_window_s=600)
        api = await start_api(service=FaultService(records), token=TOKEN)
        status, body, _ = await api.call("GET", f"/api/v1/faults/{fault.id}")
        assert (status, body["device"]) == (200, "core-sw")
        server.stop()
        for _ in range(2):  # the lost connection, then the server that cannot be reached
            status, body, response = await api.call("POST", f"/api/v1/faults/{fault.id}/ack", body={"by": "li.wei"},
                                                    headers=AUTH)
            assert (status, response.headers.get("Retry-After")) == (503, "5"), body
            assert f"{settings.shown()}" in body["error"] or "cannot reach PostgreSQL" in body["error"], body
        server.start()
        records._db._retry_at = 0.0  # the store's wait between attempts is over
        status, body, _ = await api.call("POST", f"/api/v1/faults/{fault.id}/ack", body={"by": "li.wei"},
                                         headers=AUTH)
        assert (status, body["acknowledged_by"]) == (200, "li.wei")
        records.disconnect()
    finally:
        server.remove()


async def test_a_slow_database_holds_up_the_fault_thread_not_probing_or_status(workdir, postgres_server):
    """The fault records are written on a thread of their own (monitor/faults/thread.py): while
    the database takes 20 s over one fault (a trigger that sleeps, on a real server), the
    control socket answers and the other device goes on being probed."""
    require_root()
    database = postgres_server.fresh_database()
    addresses = loopback_addresses(2)
    settings = write_site(workdir, postgres_server.url(database), addresses)
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    daemon = Process([NETVIGIL, "run", "-c", str(settings)], workdir / "daemon.log", env=env)
    try:
        await until_daemon(daemon, lambda: daemon_summary(settings, env).get("up") == 2, 30, "both devices up")
        postgres_server.sql("CREATE FUNCTION slowly() RETURNS trigger LANGUAGE plpgsql AS "
                            "$$ BEGIN PERFORM pg_sleep(20); RETURN NEW; END $$", database)
        postgres_server.sql("CREATE TRIGGER slowly BEFORE INSERT ON fault FOR EACH ROW EXECUTE FUNCTION slowly()",
                            database)

        def sleeping() -> bool:
            return bool(postgres_server.sql("SELECT 1 FROM pg_stat_activity WHERE datname = %s AND query LIKE "
                                            "'INSERT INTO fault%%' AND state = 'active'", "postgres", (database,)))

        with nft_table([drop_input(addresses[0])]):
            await until_daemon(daemon, sleeping, 30, "the open held up in the database")
            before = cli(settings, env, "status", "--json")
            await asyncio.sleep(4)  # two ICMP intervals
            after = cli(settings, env, "status", "--json")
            assert (before.returncode, after.returncode) == (0, 0), before.stderr + after.stderr
            before, after = json.loads(before.stdout)["daemon"], json.loads(after.stdout)["daemon"]
            assert sleeping(), "the database finished before the test could look: make the trigger sleep longer"
        # Answered while the write was held up, with the probing that went on meanwhile.
        assert before and after, "status did not answer while the fault write was held up"
        assert after["scheduler"]["icmp"]["runs_total"] > before["scheduler"]["icmp"]["runs_total"]
        rows = await until_daemon(daemon, lambda: postgres_server.sql(
            "SELECT device FROM fault", database), 60, "the held-up open recorded")
        assert rows == [("core-sw",)]
        daemon.popen.send_signal(signal.SIGTERM)
        assert daemon.stop() == 0, daemon.log()
        assert "Traceback" not in daemon.log()
    finally:
        daemon.stop()
