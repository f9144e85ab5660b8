"""The fault store on a real PostgreSQL server (lab/postgres.py): what SQLite has no twin of.

Migrations from an empty database, step by step and all or nothing; a schema of a newer
netvigil refused; two pollers migrating at once; the change counter behind data_version();
a connection that broke replaced at the next call; and `netvigil check` / the commands
reporting an unreachable server, refused credentials, a missing database or a newer schema
in one sentence, never with the password. (The lifecycle itself runs on both backends in
test_fault_store.py and test_faults_cli.py.)
"""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lab.support import REPO, free_port
from monitor import cli
from monitor.faults import postgres
from monitor.faults.model import DeviceInfo, Selector
from monitor.faults.postgres import SCHEMA_VERSION, PostgresFaultDb, inspect
from monitor.faults.settings import DatabaseSettings, SlaSettings
from monitor.faults.store import FaultError, FaultStore, FaultStoreMissing, FaultStoreUnavailable

SRV = DeviceInfo("srv-01", "server", ("district", "machine-room-1"))
PASSWORD = "Pg-s3cr3t-Do-Not-Print"
INVENTORY = """
sites:
  - {name: district, level: district}
devices:
  - {name: srv-01, address: 127.0.61.1, class: server, site: district}
"""


def trip(store: FaultStore, rule: str = "cpu_high"):
    return store.open(SRV, rule, "", severity="major", value=91.0, threshold=90.0, sla=SlaSettings(),
                      reopen_window_s=600)


def settings_of(server, database: str, **extra) -> DatabaseSettings:
    return DatabaseSettings(url=server.url(database), **extra)


def versions(server, database: str) -> list[int]:
    return [row[0] for row in server.sql("SELECT version FROM schema_migrations ORDER BY version", database)]


# -- migrations --------------------------------------------------------------------------------

def test_an_empty_database_is_migrated_once(postgres_server, postgres_database):
    settings = settings_of(postgres_server, postgres_database)
    assert inspect(settings)[0] == "empty"
    with FaultStore.over(PostgresFaultDb.open(settings)) as store:
        trip(store)
    with FaultStore.over(PostgresFaultDb.open(settings)) as again:  # the next start: nothing to do
        assert [f.rule for f in again.unresolved()] == ["cpu_high"]
    assert versions(postgres_server, postgres_database) == [1, 2]
    applied_by = {row[0] for row in postgres_server.sql("SELECT applied_by FROM schema_migrations", postgres_database)}
    assert len(applied_by) == 1 and applied_by.pop().startswith("netvigil ")
    tables = {row[0] for row in postgres_server.sql(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public'", postgres_database)}
    assert tables == {"fault", "note", "maintenance", "fault_change", "schema_migrations", "applied_change"}
    assert inspect(settings) == ("ok", f"faults.database: {settings.shown()}: reachable, fault schema 2")


def test_a_database_of_the_first_schema_is_migrated_with_its_records(postgres_server, postgres_database,
                                                                     monkeypatch):
    settings = settings_of(postgres_server, postgres_database)
    with monkeypatch.context() as first:  # the netvigil that knew step 1 only
        first.setattr(postgres, "MIGRATIONS", {1: postgres.MIGRATIONS[1]})
        first.setattr(postgres, "SCHEMA_VERSION", 1)
        with FaultStore.over(PostgresFaultDb.open(settings)) as store:
            fault, _ = trip(store)
    assert versions(postgres_server, postgres_database) == [1]
    assert inspect(settings)[0] == "migrate"
    with FaultStore.over(PostgresFaultDb.open(settings)) as store:
        assert [f.id for f in store.unresolved()] == [fault.id]
        assert store.applied_through("q") == 0
        with store.transaction():
            store.set_applied_through("q", 41)
        assert store.applied_through("q") == 41
    assert versions(postgres_server, postgres_database) == [1, 2]


def test_commands_that_only_look_do_not_create_the_schema(postgres_server, postgres_database):
    settings = settings_of(postgres_server, postgres_database)
    with pytest.raises(FaultStoreMissing, match=rf"^no fault records in {settings.shown()} yet: the daemon "
                                                r"creates them when it starts$"):
        PostgresFaultDb.open(settings, create=False)
    assert postgres_server.sql("SELECT to_regclass('schema_migrations') IS NULL", postgres_database) == [(True,)]


def test_a_later_step_is_applied_in_order_and_all_or_nothing(postgres_server, postgres_database, monkeypatch):
    settings = settings_of(postgres_server, postgres_database)
    PostgresFaultDb.open(settings).close()
    now, later = SCHEMA_VERSION, SCHEMA_VERSION + 1
    # A netvigil with one more step: a broken step leaves the database as it was.
    monkeypatch.setattr(postgres, "MIGRATIONS", {**postgres.MIGRATIONS, later: "ALTER TABLE fault ADD COLUMN ticket "
                                                 "TEXT; ALTER TABLE nowhere ADD COLUMN x TEXT;"})
    monkeypatch.setattr(postgres, "SCHEMA_VERSION", later)
    assert inspect(settings) == ("migrate", f"faults.database: {settings.shown()} has fault schema {now}; this "
                                            f"netvigil migrates it to {later} when the daemon starts (older pollers "
                                            f"sharing it must be upgraded first)")
    with pytest.raises(FaultError, match=r'relation "nowhere" does not exist'):
        PostgresFaultDb.open(settings)
    assert versions(postgres_server, postgres_database) == list(range(1, later))
    assert postgres_server.sql("SELECT count(*) FROM information_schema.columns WHERE column_name = 'ticket'",
                               postgres_database) == [(0,)]
    monkeypatch.setattr(postgres, "MIGRATIONS", {**postgres.MIGRATIONS, later: "ALTER TABLE fault ADD COLUMN ticket "
                                                                               "TEXT"})
    with FaultStore.over(PostgresFaultDb.open(settings)) as store:
        assert trip(store)[1] == "opened"
    assert versions(postgres_server, postgres_database) == list(range(1, later + 1))
    assert inspect(settings)[0] == "ok"


def test_a_database_of_a_newer_netvigil_is_refused(postgres_server, postgres_database):
    settings = settings_of(postgres_server, postgres_database)
    PostgresFaultDb.open(settings).close()
    postgres_server.sql("INSERT INTO schema_migrations VALUES (7, 0, 'netvigil 9.0 on elsewhere')", postgres_database)
    sentence = (f"{settings.shown()} was written by a newer netvigil (schema 7, this one knows {SCHEMA_VERSION}); "
                f"upgrade netvigil")
    with pytest.raises(FaultError, match=f"^{sentence}$".replace("(", r"\(").replace(")", r"\)")):
        PostgresFaultDb.open(settings)
    assert inspect(settings) == ("newer", f"faults.database: {sentence}")


MIGRATE_AT_ONCE = """
import sys, time
from pathlib import Path
from monitor.faults.postgres import PostgresFaultDb
from monitor.faults.settings import DatabaseSettings
go = Path(sys.argv[2])
while not go.exists():
    time.sleep(0.001)
PostgresFaultDb.open(DatabaseSettings(url=sys.argv[1])).close()
print("ok")
"""


def test_pollers_starting_at_once_migrate_once(postgres_server, postgres_database, tmp_path):
    go = tmp_path / "go"
    starters = [subprocess.Popen([sys.executable, "-c", MIGRATE_AT_ONCE, postgres_server.url(postgres_database),
                                  str(go)], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for _ in range(4)]
    time.sleep(0.5)  # all four are waiting for the same moment
    go.touch()
    results = [starter.communicate(timeout=60) for starter in starters]
    assert [(starter.returncode, out.strip()) for starter, (out, _) in zip(starters, results)] == [(0, "ok")] * 4, \
        [err for _, err in results]
    assert versions(postgres_server, postgres_database) == list(range(1, SCHEMA_VERSION + 1))
    assert postgres_server.sql("SELECT seq >= 1 FROM fault_change", postgres_database) == [(True,)]


# -- another connection's changes, and a broken connection ---------------------------------

def test_data_version_moves_for_changes_of_others_only(postgres_server, postgres_database):
    settings = settings_of(postgres_server, postgres_database)
    daemon = FaultStore.over(PostgresFaultDb.open(settings))
    other = FaultStore.over(PostgresFaultDb.open(settings))
    fault, _ = trip(daemon)
    seen = daemon.data_version()
    # Another poller's clock check that finds nothing due changes no row: nothing to notice.
    assert other.due_clock_events(time.time()) == []
    assert other.update("nobody", "cpu_high") is None
    assert daemon.data_version() == seen
    other.maintenance.add("relocation", Selector(devices=["srv-01"]), time.time(), time.time() + 3600, by="li.wei")
    moved = daemon.data_version()
    assert moved != seen
    trip(daemon, "mem_high")  # our own change
    assert daemon.data_version() == moved
    [window] = daemon.maintenance.list()
    assert (window.name, window.created_by) == ("relocation", "li.wei")
    assert other.get(fault.id).device == "srv-01"
    daemon.disconnect()
    other.disconnect()


def end_sessions(server, database: str) -> None:
    """What a server restart or an idle-session timeout does to the store's connection."""
    server.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
               "AND pid <> pg_backend_pid()", database, (database,))


def test_a_broken_connection_is_replaced_between_transactions(postgres_server, postgres_database):
    store = FaultStore.over(PostgresFaultDb.open(settings_of(postgres_server, postgres_database)))
    fault, _ = trip(store)
    end_sessions(postgres_server, postgres_database)
    assert store.get(fault.id).id == fault.id  # a read: sent again on a new connection
    end_sessions(postgres_server, postgres_database)
    assert store.acknowledge(fault.id, "li.wei").acknowledged_by == "li.wei"  # BEGIN on a new one
    # Broken in the middle of a batch: the batch fails as a whole, nothing of it is kept, and
    # the store goes on with the next call.
    with pytest.raises(FaultStoreUnavailable, match=r"the connection was lost"):
        with store.transaction():
            trip(store, "mem_high")
            end_sessions(postgres_server, postgres_database)
            trip(store, "disk_full")
    assert [f.rule for f in store.list()] == ["cpu_high"]
    assert trip(store, "mem_high")[1] == "opened"
    store.disconnect()


def test_an_unreachable_server_is_one_sentence(postgres_server):
    port = free_port()
    settings = DatabaseSettings(url=f"postgresql://netvigil@127.0.0.1:{port}/netvigil", connect_timeout_s=2)
    expected = (f"faults.database: cannot reach PostgreSQL at 127.0.0.1:{port} (Connection refused); start the "
                f"server or correct faults.database.url (postgresql://netvigil@127.0.0.1:{port}/netvigil)")
    with pytest.raises(FaultStoreUnavailable) as caught:
        PostgresFaultDb.open(settings)
    assert str(caught.value) == expected
    assert inspect(settings) == ("unreachable", expected)


# -- netvigil check and the commands ----------------------------------------------------------

def site_with(tmp_path: Path, database: str) -> Path:
    (tmp_path / "inventory.yaml").write_text(INVENTORY)
    (tmp_path / "state").mkdir(exist_ok=True)
    settings = tmp_path / "netvigil.yaml"
    settings.write_text(f"inventory: [inventory.yaml]\nstate_dir: state\nrules: {{dirs: []}}\napi: {{enabled: false}}\n"
                        f"faults:\n  database: {database}\n")
    return settings


def check(path: Path, capsys, caplog) -> tuple[int, str]:
    caplog.set_level(logging.DEBUG)
    code = cli.main(["check", "-c", str(path)])
    out, err = capsys.readouterr()
    return code, out + err + caplog.text


def test_check_says_what_is_wrong_with_the_database_in_one_sentence(postgres_server, tmp_path, capsys, caplog,
                                                                    monkeypatch):
    database = postgres_server.fresh_database()
    postgres_server.add_role("poller_a", PASSWORD, owns=database)
    url = f"postgresql://poller_a@127.0.0.1:{postgres_server.port}/{database}"
    server = f"127.0.0.1:{postgres_server.port}"

    monkeypatch.setenv("NETVIGIL_FAULTS__DATABASE__PASSWORD", "wrong-" + PASSWORD)
    code, output = check(site_with(tmp_path, f"{{url: '{url}'}}"), capsys, caplog)
    assert (code, output.splitlines()) == (1, [
        f"faults.database: PostgreSQL at {server} refused poller_a (password authentication failed for user "
        f"\"poller_a\"); check the user in faults.database.url, faults.database.password (a secret) and the "
        f"server's pg_hba.conf", "1 problem(s) found"])

    # The password from a secret file (systemd's LoadCredential=): reachable, nothing created yet.
    monkeypatch.delenv("NETVIGIL_FAULTS__DATABASE__PASSWORD")
    (tmp_path / "creds").mkdir()
    (tmp_path / "creds" / "faults__database__password").write_text(PASSWORD)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path / "creds"))
    code, output = check(site_with(tmp_path, f"{{url: '{url}'}}"), capsys, caplog)
    assert code == 0, output
    assert output.splitlines()[1] == (f"note: faults.database: {url} has no fault records yet; the daemon creates "
                                      f"them (schema {SCHEMA_VERSION}) when it starts")
    assert PASSWORD not in output

    code, output = check(site_with(tmp_path, f"{{url: 'postgresql://poller_a@{server}/nosuch'}}"), capsys, caplog)
    assert (code, output.splitlines()[0]) == (1, (
        f"faults.database: PostgreSQL at {server} has no database 'nosuch' (database \"nosuch\" does not exist); "
        f"create it (docs/operations.md, \"Fault records on PostgreSQL\")"))

    port = free_port()
    code, output = check(site_with(tmp_path, f"{{url: 'postgresql://poller_a@127.0.0.1:{port}/x', "
                                             f"connect_timeout_s: 2}}"), capsys, caplog)
    assert (code, output.splitlines()[0]) == (1, (
        f"faults.database: cannot reach PostgreSQL at 127.0.0.1:{port} (Connection refused); start the server or "
        f"correct faults.database.url (postgresql://poller_a@127.0.0.1:{port}/x)"))
    assert PASSWORD not in output and "Traceback" not in output


def test_a_password_in_the_url_is_refused_without_showing_it(tmp_path, capsys, caplog):
    code = cli.main(["check", "-c", str(site_with(
        tmp_path, f"{{url: 'postgresql://netvigil:{PASSWORD}@127.0.0.1:5432/netvigil'}}"))])
    out, err = capsys.readouterr()
    assert code == 2
    assert err.splitlines()[0] == (
        f"{tmp_path / 'netvigil.yaml'}:6: faults.database.url: must not contain a password (URLs are logged); put "
        f"the password in faults.database.password, a secret (a secret file named faults__database__password, or "
        f"NETVIGIL_FAULTS__DATABASE__PASSWORD)")
    assert PASSWORD not in out + err + caplog.text


def test_the_commands_use_the_password_and_never_print_it(postgres_server, tmp_path, capsys, caplog, monkeypatch):
    database = postgres_server.fresh_database()
    postgres_server.add_role("poller_b", PASSWORD, owns=database)
    url = f"postgresql://poller_b@127.0.0.1:{postgres_server.port}/{database}"
    monkeypatch.setenv("NETVIGIL_FAULTS__DATABASE__PASSWORD", PASSWORD)
    settings = DatabaseSettings(url=url, password=PASSWORD)
    with FaultStore.over(PostgresFaultDb.open(settings)) as store:  # what the daemon does at start
        fault, _ = trip(store)
    path = site_with(tmp_path, f"{{url: '{url}'}}")
    caplog.set_level(logging.DEBUG)
    assert cli.main(["faults", "--json", "-c", str(path)]) == 0
    out, err = capsys.readouterr()
    assert '"device": "srv-01"' in out and PASSWORD not in out + err + caplog.text
    assert cli.main(["ack", str(fault.id), "--by", "li.wei", "-c", str(path)]) == 0
    cli.main(["status", "-c", str(path)])  # no daemon runs: a sentence, and still no password
    out, err = capsys.readouterr()
    assert PASSWORD not in out + err + caplog.text
    monkeypatch.setenv("NETVIGIL_FAULTS__DATABASE__PASSWORD", "wrong-" + PASSWORD)
    assert cli.main(["faults", "-c", str(path)]) == 1
    out, err = capsys.readouterr()
    assert "refused poller_b (password authentication failed" in err
    assert PASSWORD not in out + err + caplog.text and "Traceback" not in err
    with FaultStore.over(PostgresFaultDb.open(settings)) as store:
        assert store.get(fault.id).acknowledged_by == "li.wei"


def test_many_people_acknowledging_at_once_record_exactly_one(postgres_server, postgres_database):
    # Each person on a connection of their own (other pollers, CLI commands): the write lock makes
    # "acknowledged already?" and the update one step, as BEGIN IMMEDIATE does on SQLite.
    import threading

    settings = settings_of(postgres_server, postgres_database)
    with FaultStore.over(PostgresFaultDb.open(settings)) as store:
        fault, _ = trip(store)
    people = [FaultStore.over(PostgresFaultDb.open(settings)) for _ in range(8)]
    start, outcomes = threading.Barrier(len(people)), {}

    def acknowledge(number: int) -> None:
        start.wait()
        try:
            people[number].acknowledge(fault.id, f"engineer-{number}")
            outcomes[number] = "ok"
        except FaultError as exc:
            outcomes[number] = str(exc)

    threads = [threading.Thread(target=acknowledge, args=(n,)) for n in range(len(people))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    winners = [n for n, outcome in outcomes.items() if outcome == "ok"]
    assert len(outcomes) == 8 and len(winners) == 1, outcomes
    refused = [outcome for n, outcome in outcomes.items() if n != winners[0]]
    assert all(f"already acknowledged by engineer-{winners[0]}" in text for text in refused), refused
    assert people[0].get(fault.id).acknowledged_by == f"engineer-{winners[0]}"
    for person in people:
        person.disconnect()


def test_connection_attempts_to_a_server_that_is_away_are_spaced_out(monkeypatch):
    # Each attempt may block the daemon's event loop for connect_timeout_s: between attempts,
    # calls fail at once with the last sentence.
    port = free_port()
    db = PostgresFaultDb(DatabaseSettings(url=f"postgresql://netvigil@127.0.0.1:{port}/netvigil"))
    attempts = []
    real = postgres.connect
    monkeypatch.setattr(postgres, "connect", lambda settings: attempts.append(1) or real(settings))
    sentences = set()
    for _ in range(5):
        with pytest.raises(FaultStoreUnavailable) as caught:
            db.execute("SELECT 1")
        sentences.add(str(caught.value))
    assert len(attempts) == 1 and len(sentences) == 1 and "Connection refused" in sentences.pop()
    db._retry_at = 0.0  # the wait is over
    with pytest.raises(FaultStoreUnavailable):
        db.execute("SELECT 1")
    assert len(attempts) == 2


# -- pollers sharing one database ----------------------------------------------------------------

async def test_pollers_sharing_the_database_leave_each_others_faults_alone(postgres_server, postgres_database,
                                                                         tmp_path, monkeypatch):
    from tests.unit import test_fault_manager as managers

    settings = settings_of(postgres_server, postgres_database)
    first = managers.Rig(tmp_path, managers.NOVEMBER, children=0, store=FaultStore.over(PostgresFaultDb.open(settings)))
    first.feed({"server": True})
    first.feed({"server": False})
    [theirs] = first.store.list(open_only=True)
    # Another poller with other devices starts: to it, "server" is not a device gone from its
    # configuration (whose fault a single server resolves at start) but another poller's.
    monkeypatch.setattr(managers, "_devices", lambda children: [DeviceInfo("ups-1", "ups", ("district", "room"))])
    second = managers.Rig(tmp_path, first.clock.now, store=FaultStore.over(PostgresFaultDb.open(settings)))
    assert second.store.get(theirs.id).resolved_at is None
    assert not [s for s in second.manager.snapshot() if s.measurement == "fault_open"]
    second.feed({"ups-1": True})
    second.feed({"ups-1": False})
    first.manager.housekeeping()  # the other poller's commit moves data_version: nothing of ours changed
    assert [(a.event, a.fault_id) for a in first.alerts.items] == [("open", theirs.id)]
    assert [a.event for a in second.alerts.items] == ["open"]
    assert {f.device for f in first.store.list(open_only=True)} == {"server", "ups-1"}
    assert [s.tags["device"] for s in first.manager.snapshot() if s.measurement == "fault_open"] == ["server"]
    # Past both acknowledge deadlines: each poller warns and reports the breach of its own fault.
    first.clock.now = second.clock.now = second.clock.now + 600
    second.manager.housekeeping()
    first.manager.housekeeping()
    assert [(a.event, a.fault_id) for a in second.alerts.items if a.event.startswith("ack")] == [
        ("ack_breach", second.store.list(device="ups-1")[0].id)]
    assert [(a.event, a.fault_id) for a in first.alerts.items if a.event.startswith("ack")] == [
        ("ack_breach", theirs.id)]
