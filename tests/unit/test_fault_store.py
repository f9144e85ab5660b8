"""monitor.faults.store: lifecycle, re-open window, worst values, contract clocks (once each, also
across a restart), monthly counts and budget, maintenance rows, retention, and the file itself.

Every test that takes `store` or `fault_database` runs twice: on the SQLite file and on a real
PostgreSQL server (lab/postgres.py), because the statements are shared and the semantics must be
the same; tests of the SQLite file itself name it."""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import stat
import zoneinfo

import pytest

from monitor.faults.model import DeviceInfo, Selector
from monitor.faults.settings import BudgetSettings, HeightenedWatchSettings, Recurrence, SlaSettings
from monitor.faults.store import (FaultError, FaultInputError, FaultNotFound, FaultStateError, FaultStore,
                                  month_bounds)

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
UTC = dt.timezone.utc
T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=SHANGHAI).timestamp()
SLA = SlaSettings()  # acknowledge 3 min (warn 1 min before), resolve 2 h (warn 15 min before)
WINDOW = 600.0

SRV = DeviceInfo("srv-01", "server", ("district", "machine-room-1"))
CODEC = DeviceInfo("community-7-codec", "codec", ("district", "street-03", "community-7"))
SWITCH = DeviceInfo("street-03-sw", "switch", ("district", "street-03"))


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(T0)


@pytest.fixture
def store(fault_database, clock):
    with fault_database.open(clock) as opened:
        yield opened


def trip(store: FaultStore, device: DeviceInfo = SRV, rule: str = "cpu_high", instance: str = "", *,
         value: float = 91.0, severity: str = "major", higher_is_worse: bool = True, sla: SlaSettings = SLA,
         **extra):
    return store.open(device, rule, instance, severity=severity, message=f"{rule} on {device.name}", value=value,
                      threshold=90.0, higher_is_worse=higher_is_worse, sla=sla, reopen_window_s=WINDOW, **extra)


# -- lifecycle -------------------------------------------------------------------------------

def test_open_records_everything(store, clock):
    fault, outcome = trip(store, CODEC, "port_down", "GE0/0/1", severity="critical", value=0)
    assert outcome == "opened"
    assert (fault.device, fault.rule, fault.instance, fault.severity) == ("community-7-codec", "port_down",
                                                                         "GE0/0/1", "critical")
    assert (fault.site, fault.site_path, fault.device_class) == ("community-7",
                                                                 ("district", "street-03", "community-7"), "codec")
    assert fault.opened_at == fault.last_seen_at == T0
    assert (fault.first_value, fault.last_value, fault.worst_value, fault.threshold) == (0, 0, 0, 90)
    assert (fault.occurrences, fault.state, fault.time_to_ack_s, fault.time_to_resolve_s) == (1, "open", None, None)
    assert (fault.ack_deadline, fault.resolve_deadline) == (T0 + 180, T0 + 7200)
    assert store.get(fault.id) == fault


def test_full_lifecycle_with_notes(store, clock):
    fault, _ = trip(store)
    clock.advance(100)
    acked = store.acknowledge(fault.id, "li.wei", note="on my way")
    assert (acked.state, acked.acknowledged_by, acked.time_to_ack_s) == ("acknowledged", "li.wei", 100)
    clock.advance(1000)
    resolved = store.resolve(fault.id, "li.wei", note="replaced the fan")
    assert (resolved.state, resolved.resolved_by, resolved.time_to_resolve_s) == ("resolved", "li.wei", 1100)
    clock.advance(3600)
    closed = store.close(fault.id, "li.wei", cause=" fan failed ", resolution="fan replaced",
                         prevention="fans checked quarterly")
    assert (closed.state, closed.closed_by, closed.cause) == ("closed", "li.wei", "fan failed")
    later = store.add_note(fault.id, "zhang.min", "vendor confirmed the fan batch")
    assert [(n.author, n.text, n.at) for n in later.notes] == [
        ("li.wei", "on my way", T0 + 100), ("li.wei", "replaced the fan", T0 + 1100),
        ("zhang.min", "vendor confirmed the fan batch", T0 + 4700)]


def test_one_record_per_key_and_existing_after_restart(fault_database, clock):
    with fault_database.open(clock) as first:
        fault, _ = trip(first, value=91)
        other, outcome = trip(first, instance="cpu1")  # another instance is another record
        assert outcome == "opened" and other.id != fault.id
    clock.advance(60)
    with fault_database.open(clock) as again:  # the daemon restarted; the rule trips again
        same, outcome = trip(again, value=97, severity="critical")
        assert outcome == "existing" and same.id == fault.id
        assert (same.occurrences, same.last_value, same.worst_value, same.last_seen_at) == (1, 97, 97, T0 + 60)
        assert same.severity == "critical" and same.opened_at == T0
        assert [f.id for f in again.unresolved()] == [fault.id, other.id]
    # The index itself refuses a second unresolved record, whatever a caller does.
    with pytest.raises(fault_database.integrity_error()):
        fault_database.raw("INSERT INTO fault (device, rule, instance, severity, opened_at, last_seen_at, "
                           "ack_deadline, resolve_deadline, ack_warn_at, resolve_warn_at) VALUES ('srv-01', "
                           "'cpu_high', '', 'major', 0, 0, 0, 0, 0, 0)")


@pytest.mark.parametrize("higher_is_worse, values, worst", [
    (True, [91, 99, 93], 99),    # CPU percent: higher is worse
    (False, [9, 4, 7], 4),       # free disk percent, light level: lower is worse
])
def test_worst_value_in_both_directions(store, clock, higher_is_worse, values, worst):
    fault, _ = trip(store, value=values[0], higher_is_worse=higher_is_worse)
    for value in values[1:]:
        clock.advance(10)
        updated = store.update(SRV.name, "cpu_high", "", value=value)
    assert (updated.first_value, updated.last_value, updated.worst_value) == (values[0], values[-1], worst)
    assert updated.last_seen_at == T0 + 10 * (len(values) - 1)
    assert store.update(SRV.name, "cpu_high", "", value=None).last_value == values[-1]  # an event keeps values
    assert store.update(SRV.name, "no_such_rule", "", value=1) is None


def test_reopen_inside_the_window_keeps_deadlines_and_ack(store, clock):
    fault, _ = trip(store, value=91)
    clock.advance(60)
    store.acknowledge(fault.id, "li.wei")
    clock.advance(60)
    resolved = store.resolve_auto(SRV.name, "cpu_high", "")
    assert (resolved.resolved_by, resolved.state) == ("auto", "resolved")
    clock.advance(WINDOW - 1)
    again, outcome = trip(store, value=95, severity="critical")
    assert outcome == "reopened" and again.id == fault.id
    assert (again.state, again.occurrences, again.resolved_at, again.resolved_by) == ("acknowledged", 2, None, None)
    assert (again.acknowledged_by, again.ack_deadline, again.resolve_deadline) == (
        "li.wei", fault.ack_deadline, fault.resolve_deadline)
    assert (again.severity, again.last_value, again.worst_value, again.first_value) == ("critical", 95, 95, 91)
    assert again.opened_at == T0


def test_manual_resolve_also_reopens_with_the_marks_of_now(store, clock):
    fault, _ = trip(store)
    store.resolve(fault.id, "li.wei")
    clock.advance(30)
    again, outcome = trip(store, in_maintenance=True, maintenance="relocation")
    assert outcome == "reopened" and (again.in_maintenance, again.maintenance) == (True, "relocation")


def test_outside_the_window_or_after_close_is_a_new_fault(store, clock):
    fault, _ = trip(store)
    store.resolve_auto(SRV.name, "cpu_high", "")
    clock.advance(WINDOW)  # exactly the window: no longer "within"
    second, outcome = trip(store)
    assert outcome == "opened" and second.id != fault.id and second.occurrences == 1
    store.resolve(second.id, "li.wei")
    store.close(second.id, "li.wei", cause="c", resolution="r", prevention="p")
    clock.advance(1)
    third, outcome = trip(store)  # the closed record's analysis is final: never reopened
    assert outcome == "opened" and third.id not in (fault.id, second.id)


def test_ids_are_never_reused_after_prune(store, clock):
    fault, _ = trip(store)
    store.resolve(fault.id, "li.wei")
    store.close(fault.id, "li.wei", cause="c", resolution="r", prevention="p")
    assert store.prune(86400, now=clock.now + 86401) == 1
    newer, _ = trip(store)
    assert newer.id > fault.id


def test_acknowledge_and_resolve_again(store, clock):
    fault, _ = trip(store)
    first = store.acknowledge(fault.id, "li.wei")
    clock.advance(30)
    again = store.acknowledge(fault.id, "li.wei", note="still on it")  # same person: no change but the note
    assert again.acknowledged_at == first.acknowledged_at and len(again.notes) == 1
    with pytest.raises(FaultStateError) as caught:
        store.acknowledge(fault.id, "zhang.min")
    assert str(caught.value).startswith(f"fault {fault.id} was already acknowledged by li.wei at ")
    assert str(caught.value).endswith("; add a note instead if you are helping")
    store.resolve_auto(SRV.name, "cpu_high", "")
    with pytest.raises(FaultStateError) as caught:
        store.resolve(fault.id, "li.wei")
    assert f"fault {fault.id} was already resolved automatically at " in str(caught.value)
    assert f"close it with the analysis (netvigil close {fault.id} --by NAME" in str(caught.value)


def test_errors_are_sentences(store, clock):
    fault, _ = trip(store)
    cases = [
        (lambda: store.get(4711), FaultNotFound, "there is no fault 4711"),
        (lambda: store.acknowledge(4711, "li.wei"), FaultNotFound, "there is no fault 4711"),
        (lambda: store.close(fault.id, "li.wei", cause="c", resolution="r", prevention="p"), FaultStateError,
         f"fault {fault.id} is still open; resolve it first (netvigil resolve {fault.id} --by NAME)"),
        (lambda: store.close(fault.id, "li.wei", cause=" ", resolution="r", prevention=""), FaultInputError,
         f"closing fault {fault.id} needs the analysis: cause, prevention must not be empty"),
        (lambda: store.acknowledge(fault.id, ""), FaultInputError,
         "the name of who does this (--by NAME) must not be empty"),
        (lambda: store.resolve(fault.id, "auto"), FaultInputError,
         "'auto' is reserved for automatic resolution; give a person's name"),
        (lambda: store.add_note(fault.id, "li.wei", "  "), FaultInputError, "the note must not be empty"),
        (lambda: trip(store, severity="fatal"), FaultInputError,
         "unknown severity 'fatal'; use one of critical, major, minor, warning"),
        (lambda: store.set_symptom_of(fault.id, fault.id), FaultInputError,
         f"fault {fault.id} cannot be a symptom of itself"),
        (lambda: store.maintenance.end(99, by="li.wei"), FaultNotFound, "there is no maintenance window 99"),
    ]
    for call, kind, message in cases:
        with pytest.raises(kind) as caught:
            call()
        assert str(caught.value) == message
        assert isinstance(caught.value, FaultError)
    store.acknowledge(fault.id, "li.wei")
    with pytest.raises(FaultStateError, match=f"^fault {fault.id} is still acknowledged; resolve it first"):
        store.close(fault.id, "li.wei", cause="c", resolution="r", prevention="p")
    store.resolve(fault.id, "li.wei")
    store.close(fault.id, "li.wei", cause="c", resolution="r", prevention="p")
    for call in (lambda: store.acknowledge(fault.id, "li.wei"), lambda: store.resolve(fault.id, "li.wei"),
                 lambda: store.close(fault.id, "li.wei", cause="c", resolution="r", prevention="p")):
        with pytest.raises(FaultStateError) as caught:
            call()
        assert str(caught.value) == f"fault {fault.id} is already closed"


# -- contract clocks -------------------------------------------------------------------------

def kinds(events) -> list[tuple[int, str]]:
    return [(fault.id, kind) for fault, kind in events]


def test_clocks_fire_each_event_once_across_a_restart(fault_database, clock):
    store = fault_database.open(clock)
    fault, _ = trip(store)
    assert store.due_clock_events(T0 + 119) == []
    assert kinds(store.due_clock_events(T0 + 120)) == [(fault.id, "ack_warning")]
    assert store.due_clock_events(T0 + 150) == []
    store.disconnect()
    store = fault_database.open(clock)  # the daemon restarted: nothing is repeated
    assert store.due_clock_events(T0 + 179) == []
    [(event_fault, kind)] = store.due_clock_events(T0 + 180)
    assert (event_fault.id, kind, event_fault.ack_breached) == (fault.id, "ack_breach", True)
    assert kinds(store.due_clock_events(T0 + 7200 - 900)) == [(fault.id, "resolve_warning")]
    store.disconnect()
    store = fault_database.open(clock)
    assert kinds(store.due_clock_events(T0 + 7200)) == [(fault.id, "resolve_breach")]
    assert store.due_clock_events(T0 + 99999) == []
    flags = store.get(fault.id)
    assert (flags.ack_warned, flags.ack_breached, flags.resolve_warned, flags.resolve_breached) == (
        True, True, True, True)
    store.disconnect()


def test_a_zero_warning_lead_means_no_warning(store, clock):
    fault, _ = trip(store, sla=SlaSettings(warn_before_ack_s=0, warn_before_resolve_s=0))
    assert store.due_clock_events(T0 + 179) == []
    assert kinds(store.due_clock_events(T0 + 7200)) == [(fault.id, "ack_breach"), (fault.id, "resolve_breach")]


def test_ack_stops_the_ack_clock_and_resolution_stops_both(store, clock):
    acked, _ = trip(store, rule="a")
    resolved, _ = trip(store, rule="b")
    store.acknowledge(acked.id, "li.wei", at=T0 + 60)
    store.resolve_auto(SRV.name, "b", "", at=T0 + 60)
    assert store.due_clock_events(T0 + 180) == []
    assert kinds(store.due_clock_events(T0 + 7200)) == [(acked.id, "resolve_breach")]  # the warning is not sent late


def test_no_clocks_for_symptoms_or_maintenance_until_they_become_root(store, clock):
    parent, _ = trip(store, SWITCH, "unreachable", severity="critical")
    child, _ = trip(store, CODEC, "unreachable", symptom_of=parent.id)
    planned, _ = trip(store, SRV, "unreachable", in_maintenance=True, maintenance="relocation")
    assert (child.symptom_of, planned.in_maintenance, planned.maintenance) == (parent.id, True, "relocation")
    assert [f.id for f in store.symptoms_of(parent.id)] == [child.id]
    assert {f.id for f, _ in store.due_clock_events(T0 + 7200)} == {parent.id}
    # The parent recovers, the codec is still down: it becomes its own fault, clocks from now.
    clock.advance(7300)
    root = store.set_symptom_of(child.id, None, sla=SLA)
    assert (root.symptom_of, root.ack_deadline, root.ack_breached) == (None, clock.now + 180, False)
    assert kinds(store.due_clock_events(clock.now + 179)) == [(child.id, "ack_warning")]
    assert kinds(store.due_clock_events(clock.now + 180)) == [(child.id, "ack_breach")]
    out = store.set_in_maintenance(planned.id, False, sla=SLA)
    assert (out.in_maintenance, out.maintenance, out.resolve_deadline) == (False, None, clock.now + 7200)
    # Without sla the deadlines stay (e.g. marking a fault that already has its clocks).
    marked = store.set_in_maintenance(parent.id, True, "late window")
    assert (marked.maintenance, marked.resolve_deadline) == ("late window", parent.resolve_deadline)


def test_heightened_watch_sla_resolves_within_an_hour(store, clock):
    watch = HeightenedWatchSettings().sla
    fault, _ = trip(store, sla=watch, heightened=True)
    assert (fault.heightened, fault.resolve_deadline) == (True, T0 + 3600)
    # Nobody looked until 50 minutes in: the ack warning is not sent late, only its breach.
    assert kinds(store.due_clock_events(T0 + 2999)) == [(fault.id, "ack_breach")]
    store.acknowledge(fault.id, "li.wei", at=T0 + 2999)
    events = kinds(store.due_clock_events(T0 + 3000))
    assert events == [(fault.id, "resolve_warning")]  # 10 minutes before the hour
    assert kinds(store.due_clock_events(T0 + 3600)) == [(fault.id, "resolve_breach")]


def test_reopened_fault_keeps_its_clock_and_reports_a_passed_deadline(store, clock):
    fault, _ = trip(store)
    store.acknowledge(fault.id, "li.wei", at=T0 + 10)
    store.resolve_auto(SRV.name, "cpu_high", "", at=T0 + 7000)
    assert store.due_clock_events(T0 + 7300) == []  # resolved: no clock
    clock.now = T0 + 7300
    again, outcome = trip(store)
    assert outcome == "reopened"
    assert kinds(store.due_clock_events(T0 + 7300)) == [(fault.id, "resolve_breach")]


# -- batches and other connections ------------------------------------------------------------

def test_transaction_is_all_or_nothing(store, clock):
    with pytest.raises(RuntimeError):
        with store.transaction():
            for number in range(5):
                trip(store, DeviceInfo(f"cam-{number}", "camera", ("district",)), "unreachable")
            raise RuntimeError("the daemon failed mid-batch")
    assert store.list() == []
    with store.transaction():
        opened = [trip(store, DeviceInfo(f"cam-{n}", "camera", ("district",)), "unreachable")[0] for n in range(5)]
        # A call that fails inside a batch undoes only itself when the caller handles it.
        with pytest.raises(FaultNotFound):
            store.acknowledge(4711, "li.wei")
    assert sorted(f.id for f in store.list()) == sorted(f.id for f in opened)


def test_data_version_changes_when_another_process_commits(fault_database, clock):
    daemon = fault_database.open(clock)
    cli = fault_database.open(clock)
    fault, _ = trip(daemon)
    seen = daemon.data_version()
    assert daemon.data_version() == seen  # its own commits do not count
    trip(daemon, rule="other")
    assert daemon.data_version() == seen
    cli.acknowledge(fault.id, "li.wei")
    assert daemon.data_version() != seen
    assert daemon.get(fault.id).acknowledged_by == "li.wei"
    cli.disconnect()
    daemon.disconnect()


# -- listing ---------------------------------------------------------------------------------

def test_list_filters_newest_first(store, clock):
    srv, _ = trip(store, SRV)
    clock.advance(10)
    codec, _ = trip(store, CODEC)
    clock.advance(10)
    switch, _ = trip(store, SWITCH)
    store.resolve(switch.id, "li.wei")
    assert [f.id for f in store.list()] == [switch.id, codec.id, srv.id]
    assert [f.id for f in store.list(open_only=True)] == [codec.id, srv.id]
    assert [f.id for f in store.list(site="street-03")] == [switch.id, codec.id]  # a subtree
    assert [f.id for f in store.list(site="street-0")] == []  # whole site names only
    assert [f.id for f in store.list(site="district", limit=2)] == [switch.id, codec.id]
    assert [f.id for f in store.list(device="srv-01")] == [srv.id]
    assert [f.id for f in store.list(since=T0 + 5)] == [switch.id, codec.id]


def test_to_dict_is_json_safe_with_iso_and_unix_times(store, clock):
    fault, _ = trip(store, CODEC)
    store.add_note(fault.id, "li.wei", "checking")
    data = json.loads(json.dumps(store.get(fault.id).to_dict(SHANGHAI)))
    assert data["opened_at"] == "2026-03-02T09:00:00+08:00" and data["opened_at_unix"] == T0
    assert data["ack_deadline"] == "2026-03-02T09:03:00+08:00"
    assert data["acknowledged_at"] is None and data["state"] == "open"
    assert data["site_path"] == ["district", "street-03", "community-7"]
    assert data["notes"] == [{"at": "2026-03-02T09:00:00+08:00", "at_unix": T0, "author": "li.wei",
                              "text": "checking"}]
    assert {"time_to_ack_s", "time_to_resolve_s", "in_maintenance", "symptom_of", "cause"} <= set(data)


# -- monthly counts and budget ----------------------------------------------------------------

def test_month_boundary_depends_on_the_zone(store):
    # 2026-03-31 20:00 UTC is already April 1, 04:00 in Shanghai.
    at = dt.datetime(2026, 3, 31, 20, 0, tzinfo=UTC).timestamp()
    trip(store, SRV, "a", at=at)
    trip(store, SRV, "b", at=dt.datetime(2026, 3, 31, 15, 59, 59, tzinfo=UTC).timestamp())  # 23:59:59 Shanghai
    assert store.monthly_counts(2026, 3, SHANGHAI) == {"srv-01": 1}
    assert store.monthly_counts(2026, 4, SHANGHAI) == {"srv-01": 1}
    assert store.monthly_counts(2026, 3, UTC) == {"srv-01": 2}
    assert store.monthly_counts(2026, 4, UTC) == {}
    assert month_bounds(2026, 12, UTC)[1] == dt.datetime(2027, 1, 1, tzinfo=UTC).timestamp()


def test_counts_leave_out_symptoms_maintenance_and_reopens(store, clock):
    parent, _ = trip(store, SWITCH, "unreachable")
    trip(store, CODEC, "unreachable", symptom_of=parent.id)
    trip(store, SRV, "disk", in_maintenance=True, maintenance="upgrade")
    fault, _ = trip(store, SRV, "cpu_high")
    store.resolve_auto(SRV.name, "cpu_high", "")
    clock.advance(60)
    assert trip(store, SRV, "cpu_high")[1] == "reopened"
    assert store.monthly_counts(2026, 3, SHANGHAI) == {"street-03-sw": 1, "srv-01": 1}


def test_over_budget_flags_the_sixth_fault_per_server(store, clock):
    for number in range(6):
        trip(store, SRV, f"rule-{number}")
        trip(store, SWITCH, f"rule-{number}")
    for number in range(5):
        trip(store, DeviceInfo("srv-02", "server", ("district",)), f"rule-{number}")
    classes = {"srv-01": "server", "srv-02": "server", "street-03-sw": "switch"}
    servers = BudgetSettings(classes=["server"])
    assert store.over_budget(2026, 3, servers, classes, SHANGHAI) == [("srv-01", 6)]
    assert store.over_budget(2026, 3, BudgetSettings(), classes, SHANGHAI) == [("srv-01", 6), ("street-03-sw", 6)]
    assert store.over_budget(2026, 4, BudgetSettings(), classes, SHANGHAI) == []
    # A server no longer in the inventory still counts, by the class its faults recorded.
    assert store.over_budget(2026, 3, servers, {}, SHANGHAI) == [("srv-01", 6)]
    assert store.over_budget(2026, 3, BudgetSettings(faults_per_month=4), classes, SHANGHAI)[-1] == ("srv-02", 5)


# -- maintenance rows, retention --------------------------------------------------------------

def test_maintenance_rows(store, clock):
    relocation = store.maintenance.add("relocation street-03", Selector(sites=["street-03"]), T0 + 3600,
                                       T0 + 7200, by="li.wei")
    weekly = store.maintenance.add("mcu upgrade", Selector(classes=["mcu"]), T0, None, by="li.wei",
                                   recurrence=Recurrence(every="week", weekdays=["sat"], start_time="23:00",
                                                         duration_s=10800))
    assert relocation.selector.sites == ["street-03"] and relocation.created_at == T0
    assert weekly.recurrence.weekdays == ["sat"] and weekly.ends_at is None
    assert [w.id for w in store.maintenance.list()] == [weekly.id, relocation.id]
    ended = store.maintenance.end(relocation.id, by="zhang.min", at=T0 + 4000)
    assert (ended.ended_at, ended.ended_by) == (T0 + 4000, "zhang.min")
    assert [w.id for w in store.maintenance.list(at=T0 + 4000)] == [weekly.id]
    assert len(store.maintenance.list(include_ended=True)) == 2
    with pytest.raises(FaultStateError, match=f"^maintenance window {relocation.id} was already ended by zhang.min$"):
        store.maintenance.end(relocation.id, by="li.wei")
    with pytest.raises(FaultInputError, match="^the maintenance window must end after it starts$"):
        store.maintenance.add("x", Selector(), T0, T0, by="li.wei")
    with pytest.raises(FaultInputError, match="^a one-off maintenance window needs an end$"):
        store.maintenance.add("x", Selector(), T0, None, by="li.wei")
    data = json.loads(json.dumps(weekly.to_dict(SHANGHAI)))
    assert data["recurrence"]["start_time"] == "23:00:00" and data["ends_at"] is None


def test_prune_keeps_open_and_recent_faults(store, clock):
    old, _ = trip(store, rule="old")
    store.add_note(old.id, "li.wei", "n")
    store.resolve(old.id, "li.wei")
    store.close(old.id, "li.wei", cause="c", resolution="r", prevention="p")
    resolved, _ = trip(store, rule="resolved-not-closed")
    store.resolve(resolved.id, "li.wei")
    still_open, _ = trip(store, rule="open")
    keep = 400 * 86400
    assert store.prune(keep, now=T0 + keep - 1) == 0
    assert store.prune(keep, now=T0 + keep + 1) == 1
    assert sorted(f.id for f in store.list()) == [resolved.id, still_open.id]
    with pytest.raises(FaultNotFound):
        store.get(old.id)


# -- the file ----------------------------------------------------------------------------------

def test_file_is_private_wal_full_and_versioned(tmp_path, clock):
    old_umask = os.umask(0o022)
    try:
        store = FaultStore(tmp_path / "faults.db", clock=clock)
        trip(store)
    finally:
        os.umask(old_umask)
    for name in ("faults.db", "faults.db-wal", "faults.db-shm"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name
    assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert store._db.execute("PRAGMA user_version").fetchone()[0] == 2
    store.disconnect()


def test_a_file_of_the_first_schema_is_migrated_with_its_records(tmp_path, clock, monkeypatch):
    from monitor.faults import sqlite_backend

    with monkeypatch.context() as first:  # the netvigil that knew step 1 only
        first.setattr(sqlite_backend, "SCHEMA_VERSION", 1)
        store = FaultStore(tmp_path / "faults.db", clock=clock)
        fault, _ = trip(store)
        assert store._db.execute("PRAGMA user_version").fetchone()[0] == 1
        store.disconnect()
    store = FaultStore(tmp_path / "faults.db", clock=clock)
    assert store._db.execute("PRAGMA user_version").fetchone()[0] == 2
    assert [f.id for f in store.unresolved()] == [fault.id]
    assert store.applied_through("q") == 0
    with store.transaction():
        store.set_applied_through("q", 7)
        store.set_applied_through("q", 9)
    assert (store.applied_through("q"), store.applied_through("other")) == (9, 0)
    store.disconnect()


def test_unreadable_or_newer_files_are_sentences(tmp_path):
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(FaultError, match=r"junk.db: cannot open the fault database \(file is not a database\); "
                                         r"move the file aside to start a new one$"):
        FaultStore(junk)
    newer = tmp_path / "newer.db"
    db = sqlite3.connect(newer)
    db.execute("PRAGMA user_version=7")
    db.close()
    with pytest.raises(FaultError, match=r"newer.db was written by a newer netvigil \(schema 7, this one knows 2\); "
                                         r"upgrade netvigil$"):
        FaultStore(newer)
