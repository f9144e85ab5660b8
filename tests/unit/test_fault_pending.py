"""Fault changes kept on the poller's disk while the fault database is away
(monitor/faults/pending.py), and the fault manager applying them in order when it is back.

The queue file is tested on its own; the manager against a PostgreSQL server of this test's
own (lab/postgres.py), stopped in the middle of the run and started again, with the real
rule engine and calendar. The dispatcher is the list of test_fault_manager.py.
"""

from __future__ import annotations

import json
import time

import pytest

from lab.postgres import PostgresServer
from monitor.faults.calendar import Calendar
from monitor.faults.manager import FaultManager
from monitor.faults.model import Transition
from monitor.faults.pending import PENDING_FILE, PendingChanges, Then
from monitor.faults.postgres import PostgresFaultDb
from monitor.faults.settings import DatabaseSettings, FaultsSettings
from monitor.faults.store import FaultStore, FaultStoreUnavailable
from monitor.rules.engine import RuleEngine
from monitor.rules.model import load_rules
from monitor.rules.settings import RulesSettings
from tests.unit.test_fault_manager import NOVEMBER, Alerts, Clock, _devices, _icmp


def change(action: str, device: str = "ups-1", value=None, at_s: float = 0.0, rule: str = "battery_low",
           higher_is_worse: bool = False) -> Transition:
    return Transition(action, rule, device, "", "major", int((NOVEMBER + at_s) * 1e9), value=value, threshold=20.0,
                      message=f"{action} {value}", higher_is_worse=higher_is_worse)


# -- the queue file ------------------------------------------------------------------------------

def test_changes_come_back_in_order_with_what_they_depended_on(tmp_path):
    queue = PendingChanges(tmp_path / PENDING_FILE)
    assert (len(queue), queue.since) == (0, None)
    queue.add([(change("open", "core", 1.0), NOVEMBER + 1, Then(behind=("codec-1",))),
               (change("open", "codec-1", 2.0), NOVEMBER + 2, Then(causes=("core",)))])
    queue.add([(change("clear", "core"), NOVEMBER + 9, Then())])
    assert (len(queue), queue.since) == (3, NOVEMBER + 1)
    got = queue.oldest(10)
    assert [(c.transition.action, c.transition.device, c.at, c.then) for c in got] == [
        ("open", "core", NOVEMBER + 1, Then((), ("codec-1",))), ("open", "codec-1", NOVEMBER + 2, Then(("core",), ())),
        ("clear", "core", NOVEMBER + 9, Then())]
    assert got[1].transition == change("open", "codec-1", 2.0)
    assert [c.seq for c in got] == sorted(c.seq for c in got)
    assert [c.transition.device for c in queue.oldest(2)] == ["core", "codec-1"]
    queue.done(got[1].seq)
    assert [(c.transition.action, c.transition.device) for c in queue.oldest(10)] == [("clear", "core")]
    assert (len(queue), queue.since) == (1, NOVEMBER + 9)
    queue.done(got[2].seq)
    assert (len(queue), queue.since, queue.oldest(10)) == (0, None, [])
    queue.close()


@pytest.mark.parametrize("higher_is_worse, values, worst", [(False, [18.0, 12.0, 15.0, 16.0], 12.0),
                                                            (True, [91.0, 97.0, 93.0, 92.0], 97.0)])
def test_updates_of_one_fault_fold_into_one_keeping_the_worst(tmp_path, higher_is_worse, values, worst):
    queue = PendingChanges(tmp_path / PENDING_FILE)
    queue.add([(change("open", value=values[0], higher_is_worse=higher_is_worse), NOVEMBER, Then())])
    for i, value in enumerate(values[1:], 1):
        queue.add([(change("update", value=value, at_s=30.0 * i, higher_is_worse=higher_is_worse), NOVEMBER, Then())])
    opened, updated = queue.oldest(10)
    assert opened.transition.value == values[0]
    assert (updated.transition.value, updated.worst) == (values[-1], worst)
    assert (updated.transition.time_ns, updated.transition.message) == (int((NOVEMBER + 90) * 1e9), f"update {values[-1]}")
    # Another key's update, and a clear, end the fold: what follows is a change of its own.
    queue.add([(change("update", "ups-2", value=5.0), NOVEMBER, Then()), (change("clear"), NOVEMBER, Then()),
               (change("open", value=10.0), NOVEMBER, Then()), (change("update", value=9.0), NOVEMBER, Then())])
    assert [(c.transition.device, c.transition.action, c.transition.value) for c in queue.oldest(10)] == [
        ("ups-1", "open", values[0]), ("ups-1", "update", values[-1]), ("ups-2", "update", 5.0),
        ("ups-1", "clear", None), ("ups-1", "open", 10.0), ("ups-1", "update", 9.0)]
    assert len(queue) == 6
    queue.close()


def test_an_update_that_is_its_own_worst_says_so_by_none(tmp_path):
    queue = PendingChanges(tmp_path / PENDING_FILE)
    queue.add([(change("update", value=15.0), NOVEMBER, Then()), (change("update", value=11.0), NOVEMBER, Then())])
    [folded] = queue.oldest(10)
    assert (folded.transition.value, folded.worst) == (11.0, None)
    queue.close()


def test_the_queue_survives_a_restart_and_keeps_its_id_and_folding(tmp_path):
    queue = PendingChanges(tmp_path / PENDING_FILE)
    queue.add([(change("open", value=18.0), NOVEMBER + 5, Then()), (change("update", value=12.0), NOVEMBER + 6, Then())])
    identity = queue.id
    queue.close()
    again = PendingChanges(tmp_path / PENDING_FILE)
    assert (again.id, len(again), again.since) == (identity, 2, NOVEMBER + 5)
    again.add([(change("update", value=14.0), NOVEMBER + 7, Then())])  # folds into the update kept before
    assert [(c.transition.action, c.transition.value, c.worst) for c in again.oldest(10)] == [
        ("open", 18.0, None), ("update", 14.0, 12.0)]
    again.close()
    other = PendingChanges(tmp_path / "elsewhere.db")
    assert other.id != identity and len(other) == 0  # a new file is a new queue: its own numbering
    other.close()


def test_the_file_is_private_and_durable(tmp_path):
    queue = PendingChanges(tmp_path / PENDING_FILE)
    assert (tmp_path / PENDING_FILE).stat().st_mode & 0o077 == 0
    assert queue._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    row = queue._db.execute("SELECT COUNT(*) FROM change").fetchone()
    assert row == (0,)
    queue.close()


# -- the manager with a database that goes away -------------------------------------------------

@pytest.fixture
def own_server():
    """A PostgreSQL server this test may stop and start (not the session's shared one)."""
    server = PostgresServer().start()
    yield server
    server.remove()


class Poller:
    """A fault manager on PostgreSQL with its queue under `tmp`, as the daemon builds it."""

    def __init__(self, server: PostgresServer, database: str, tmp, clock: Clock) -> None:
        self.server, self.database, self.tmp = server, database, tmp
        self.clock = clock
        self.settings = FaultsSettings(timezone="Asia/Shanghai")
        self.store = FaultStore.over(PostgresFaultDb.open(DatabaseSettings(url=server.url(database))), clock)
        self.pending = PendingChanges(tmp / PENDING_FILE)
        self.devices = _devices(30)
        self.alerts = Alerts()
        self.events = []
        rules = RulesSettings(dirs=[])
        self.manager = FaultManager(store=self.store, engine=RuleEngine(load_rules(rules), self.devices, rules),
                                    calendar=Calendar(self.settings, self.store.maintenance.list()),
                                    settings=self.settings, devices=self.devices, emit=self.events.extend,
                                    dispatcher=self.alerts, clock=clock, pending=self.pending)
        self.manager.restore()

    def feed(self, states: dict[str, bool], advance_s: float = 30.0) -> None:
        self.clock.now += advance_s
        self.manager.process([_icmp(name, up, self.clock.now) for name, up in states.items()])

    def everyone(self, up: bool, **but: bool) -> dict[str, bool]:
        return {**{device.name: up for device in self.devices}, **but}

    def drained(self, timeout_s: float = 60.0) -> None:
        """Housekeeping until the queue is empty (the store's reconnect waits out its backoff)."""
        deadline = time.monotonic() + timeout_s
        while len(self.pending):
            assert time.monotonic() < deadline, "the queued changes were not applied"
            self.manager.housekeeping()
            time.sleep(0.2)

    def store_answers(self) -> bool:
        try:
            self.store.unresolved()
        except FaultStoreUnavailable:
            return False
        return True

    def restarted(self) -> "Poller":
        """The daemon started again on the same database and state_dir (restore() runs)."""
        return Poller(self.server, self.database, self.tmp, self.clock)

    def close(self) -> None:
        self.store.disconnect()
        self.pending.close()


@pytest.fixture
def poller(own_server, tmp_path):
    """A poller on a fresh database of `own_server` that has seen every device answer."""
    started = Poller(own_server, own_server.fresh_database(), tmp_path, Clock(NOVEMBER))
    started.feed(started.everyone(True))
    return started


async def test_changes_made_while_the_server_is_stopped_are_applied_in_order_when_it_is_back(own_server, poller):
    clock, database = poller.clock, poller.database
    own_server.stop()
    # The core switch fails with its 30 codecs behind it, answers again 2 minutes later; the
    # server fails and stays down.
    poller.feed(poller.everyone(False, egress=True, server=True))
    outage_started = clock.now
    poller.feed(poller.everyone(False, egress=True))
    server_failed = clock.now
    poller.feed(poller.everyone(False, egress=True))
    poller.feed(poller.everyone(True, server=False))
    core_back = clock.now
    poller.manager.housekeeping()  # fails quietly: the server is away
    assert poller.alerts.items == [] and not [e for e in poller.events if e.measurement == "fault"]
    # Per fault its open, one update however many samples followed (folded), and its clear.
    assert len(poller.pending) == (31 + 1) + (31 + 1) + 31
    assert poller.manager.stats["waiting"] == len(poller.pending) and poller.manager.stats["queued"] > 63

    own_server.start()
    poller.drained()
    faults = {f.device: f for f in poller.store.list()}
    core, server = faults["core"], faults["server"]
    assert (core.opened_at, core.resolved_at, core.resolved_by) == (outage_started, core_back, "auto")
    assert core.symptom_of is None and core.occurrences == 1
    codecs = [faults[f"codec-{i}"] for i in range(30)]
    assert all(c.symptom_of == core.id and c.resolved_at == core_back for c in codecs)
    assert (server.opened_at, server.resolved_at, server.symptom_of) == (server_failed, None, None)
    # The alerts that were owed, in the order of the changes: the core's open with its 30 codecs,
    # the server's open, the core's resolve; the codecs none of their own.
    assert [(a.event, a.device.name, len(a.symptoms)) for a in poller.alerts.items] == [
        ("open", "core", 30), ("open", "server", 0), ("resolved", "core", 0)]
    # Their `fault` events carry the time of the change, not of the replay.
    events = [(e.tags["device"], e.fields["event"], e.time_ns) for e in poller.events if e.measurement == "fault"]
    assert ("core", 1, int(outage_started * 1e9)) in events and ("core", 4, int(core_back * 1e9)) in events
    assert len(poller.pending) == 0 and poller.manager.stats["waiting"] == 0
    assert own_server.sql("SELECT seq FROM applied_change", database) == [(poller.pending._db.execute(
        "SELECT seq FROM sqlite_sequence WHERE name = 'change'").fetchone()[0],)]

    # Back to normal: a change goes straight to the database again.
    poller.feed(poller.everyone(True))
    assert poller.store.get(server.id).resolved_at == clock.now and len(poller.pending) == 0
    poller.close()


async def test_a_restart_before_the_server_is_back_applies_the_kept_changes_first(own_server, poller, tmp_path):
    clock = poller.clock
    own_server.stop()
    poller.feed(poller.everyone(True, server=False))
    failed = clock.now
    poller.feed(poller.everyone(True, server=False))  # an update, folded into nothing: no open's update yet
    poller.pending.close()  # the daemon dies here (the file is all that is left of its memory)
    kept = len(PendingChanges(tmp_path / PENDING_FILE))
    assert kept >= 1

    own_server.start()
    again = poller.restarted()  # restore() applies them before reading
    [fault] = again.store.unresolved()
    assert (fault.device, fault.opened_at) == ("server", failed)
    # The alert that was owed (restore() hands it to the dispatcher again too, whose sent-log
    # makes that a no-op: tested with the real dispatcher in test_faults_daemon.py).
    assert {(a.fault_id, a.event) for a in again.alerts.items} == {(fault.id, "open")}
    assert len(again.pending) == 0
    # It was restored as firing: the answer that comes next resolves it.
    again.feed(again.everyone(True))
    assert again.store.get(fault.id).resolved_at == clock.now
    again.close()


async def test_a_crash_between_the_commit_and_the_clean_up_applies_nothing_twice(own_server, poller, tmp_path,
                                                                                 monkeypatch):
    own_server.stop()
    poller.feed(poller.everyone(True, server=False))
    poller.feed(poller.everyone(True))  # open, then clear: applied twice it would be a reopen
    assert len(poller.pending) == 2
    own_server.start()

    def crash(through_seq):
        raise SystemExit("killed after the database committed")

    monkeypatch.setattr(poller.pending, "done", crash)
    with pytest.raises(SystemExit):
        poller.drained()
    poller.pending.close()
    monkeypatch.undo()
    assert len(PendingChanges(tmp_path / PENDING_FILE)) == 2  # still on disk

    again = poller.restarted()
    [fault] = again.store.list()
    assert (fault.device, fault.occurrences, fault.resolved_by) == ("server", 1, "auto")
    assert again.alerts.items == [] and len(again.pending) == 0
    again.close()


async def test_without_a_queue_a_failed_batch_is_retried_with_the_next_samples(own_server, poller):
    """SQLite's case (a locked or full disk is retried, never queued on the same disk), shown
    on PostgreSQL without a queue: the engine says the open again once the server is back."""
    poller.manager.pending = None
    own_server.stop()
    poller.feed(poller.everyone(True, server=False))
    assert len(poller.pending) == 0 and poller.alerts.items == []
    own_server.start()
    deadline = time.monotonic() + 60
    while not poller.store_answers():
        assert time.monotonic() < deadline
        time.sleep(0.2)
    poller.feed(poller.everyone(True, server=False))
    assert [f.device for f in poller.store.unresolved()] == ["server"]
    poller.close()


def test_the_queued_body_is_json_a_person_can_read(tmp_path):
    queue = PendingChanges(tmp_path / PENDING_FILE)
    queue.add([(change("open", value=18.0), NOVEMBER, Then(causes=("core",)))])
    [(body,)] = queue._db.execute("SELECT body FROM change").fetchall()
    assert json.loads(body)["causes"] == ["core"] and json.loads(body)["device"] == "ups-1"
    queue.close()
