"""The fault manager with the real rule engine (shipped rules), fault store (SQLite in a temp
dir) and calendar: topology suppression, re-probing parents, promotion after recovery,
maintenance, manual resolves from another process, restarts, heightened watch, SLA clocks.

The dispatcher is replaced by a list that collects the Alerts handed to it: this tests which
alerts the manager decides to send; delivery itself is tested against real SMTP and HTTP
servers in tests/integration/test_notify.py and end to end in test_faults_daemon.py.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest

from monitor.faults.calendar import Calendar
from monitor.faults.manager import FaultManager
from monitor.faults.model import DeviceInfo
from monitor.faults.settings import FaultsSettings
from monitor.faults.store import FaultStore
from monitor.rules.engine import RuleEngine
from monitor.rules.model import load_rules
from monitor.rules.settings import RulesSettings
from probes.base import Sample

NOVEMBER = dt.datetime(2026, 11, 10, 10, 0, tzinfo=dt.timezone.utc).timestamp()  # not heightened watch
JULY = dt.datetime(2026, 7, 10, 10, 0, tzinfo=dt.timezone.utc).timestamp()  # flood season


class Clock:
    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


class Alerts:
    """Collects what the manager hands the dispatcher."""

    def __init__(self) -> None:
        self.items = []

    def submit(self, alert) -> None:
        self.items.append(alert)

    def events(self, event: str = "open") -> list:
        return [a for a in self.items if a.event == event]


def _devices(children: int = 30) -> list[DeviceInfo]:
    devices = [DeviceInfo("egress", "router", ("district", "room")),
               DeviceInfo("core", "switch", ("district", "room"), parents=("egress",)),
               DeviceInfo("server", "server", ("district", "room"))]
    for i in range(children):
        site = ("district", f"street-{i % 5}")
        devices.append(DeviceInfo(f"codec-{i}", "codec", site, parents=("core",),
                                  sample_tags={"device": f"codec-{i}", "site": site[-1]}))
    return devices


def _icmp(device: str, up: bool, at: float) -> Sample:
    fields = {"up": int(up), "sent": 20, "received": 20 if up else 0, "loss_pct": 0.0 if up else 100.0,
              "result_code": 0 if up else 1}
    if up:
        fields.update(rtt_avg_ms=1.0, jitter_ms=0.1)
    return Sample("icmp", {"device": device}, fields, int(at * 1e9))


_DATABASE = None  # this test's fault database: the SQLite file in tmp_path, or one on PostgreSQL


@pytest.fixture(autouse=True)
def _on_both_databases(fault_database):
    """Every test here runs on SQLite and on PostgreSQL (lab/postgres.py): the manager must not
    depend on which one keeps the records, above all for changes made by another process."""
    global _DATABASE
    _DATABASE = fault_database
    yield
    _DATABASE = None


class Rig:
    def __init__(self, tmp: Path, start: float, settings: FaultsSettings | None = None, children: int = 30,
                 store: FaultStore | None = None) -> None:
        self.clock = Clock(start)
        self.settings = settings or FaultsSettings(timezone="Asia/Shanghai")
        self.store = store or _DATABASE.open(self.clock)
        self.devices = _devices(children)
        self.alerts = Alerts()
        self.events = []
        self.reprobed: list[list[str]] = []
        self.answers: dict[str, bool] = {}  # what a re-probe finds
        engine = RuleEngine(load_rules(RulesSettings(dirs=[])), self.devices, RulesSettings(dirs=[]))
        self.manager = FaultManager(store=self.store, engine=engine,
                                    calendar=Calendar(self.settings, self.store.maintenance.list()),
                                    settings=self.settings, devices=self.devices, emit=self.events.extend,
                                    dispatcher=self.alerts, reprobe=self._reprobe, clock=self.clock)
        self.manager.restore()

    async def _reprobe(self, names) -> None:
        self.reprobed.append(list(names))
        self.manager.process([_icmp(name, self.answers.get(name, True), self.clock.now) for name in names])

    def feed(self, states: dict[str, bool], advance_s: float = 30.0) -> None:
        self.clock.now += advance_s
        self.manager.process([_icmp(name, up, self.clock.now) for name, up in states.items()])

    async def settle(self) -> None:
        while self.manager._tasks:
            await asyncio.gather(*self.manager._tasks)
            await asyncio.sleep(0)  # let the tasks' done callbacks run


def _everyone(rig: Rig, up: bool, *, but: dict | None = None) -> dict[str, bool]:
    states = {device.name: up for device in rig.devices}
    states.update(but or {})
    return states


async def test_core_switch_down_with_30_children_is_one_alert(tmp_path):
    rig = Rig(tmp_path, NOVEMBER)
    rig.feed(_everyone(rig, True))
    rig.feed(_everyone(rig, False, but={"egress": True, "server": True}))
    await rig.settle()
    opened = rig.alerts.events("open")
    assert [a.device.name for a in opened] == ["core"]
    assert len(opened[0].symptoms) == 30 and set(opened[0].symptom_sites) == {f"street-{i}" for i in range(5)}
    faults = rig.store.list(open_only=True)
    core = next(f for f in faults if f.device == "core")
    children = [f for f in faults if f.device.startswith("codec-")]
    assert len(children) == 30 and all(f.symptom_of == core.id for f in children)
    assert core.symptom_of is None and core.ack_deadline is not None
    assert not any(f.has_clocks for f in children)  # symptoms have no SLA clocks
    codes = {s.fields["event"] for s in rig.events if s.tags["device"].startswith("codec-")}
    assert codes == {6}  # recorded as symptoms in the outputs too


async def test_child_failing_before_its_parents_slot_re_probes_the_parent_first(tmp_path):
    rig = Rig(tmp_path, NOVEMBER)
    rig.feed(_everyone(rig, True))
    rig.answers = {"core": False, "egress": True}
    # The children's slot comes first: the core's last answer (up) is older than theirs.
    rig.feed({f"codec-{i}": False for i in range(30)})
    await rig.settle()
    assert rig.reprobed and set(rig.reprobed[0]) == {"core", "egress"}
    assert sum(len(names) for names in rig.reprobed) == 2  # one re-probe for 30 children
    assert [a.device.name for a in rig.alerts.events("open")] == ["core"]


async def test_child_failing_alone_is_its_own_fault_after_the_parent_answers(tmp_path):
    rig = Rig(tmp_path, NOVEMBER)
    rig.feed(_everyone(rig, True))
    rig.feed({"codec-3": False}, advance_s=5)
    await rig.settle()
    assert rig.reprobed == [["core", "egress"]]
    assert [a.device.name for a in rig.alerts.events("open")] == ["codec-3"]
    assert rig.alerts.events("open")[0].symptoms == ()


async def test_parent_recovery_re_evaluates_children(tmp_path):
    rig = Rig(tmp_path, NOVEMBER)
    rig.feed(_everyone(rig, True))
    rig.feed(_everyone(rig, False, but={"egress": True, "server": True}))
    await rig.settle()
    rig.reprobed.clear()
    # The core comes back; codec-0 stays down (its own problem), the rest answer again.
    rig.answers = {"codec-0": False}
    rig.feed({"core": True})
    await rig.settle()
    assert rig.reprobed and set(rig.reprobed[0]) == {f"codec-{i}" for i in range(30)}
    resolved = {a.device.name for a in rig.alerts.events("resolved")}
    assert resolved == {"core"}  # symptoms resolve quietly: nobody was told about them
    opened = [a.device.name for a in rig.alerts.events("open")]
    assert opened == ["core", "codec-0"]
    codec0 = rig.store.list(device="codec-0", open_only=True)[0]
    assert codec0.symptom_of is None and codec0.has_clocks
    assert len(rig.store.list(open_only=True)) == 1


async def test_redundant_uplink_keeps_a_device_its_own_fault(tmp_path):
    rig = Rig(tmp_path, NOVEMBER, children=0)
    rig.devices.append(DeviceInfo("dual", "router", ("district",), parents=("core", "server")))
    rig.manager.set_inventory(rig.devices)
    rig.feed({name: True for name in ("egress", "core", "server", "dual")})
    rig.feed({"egress": True, "server": True, "core": False, "dual": False})
    await rig.settle()
    assert sorted(a.device.name for a in rig.alerts.events("open")) == ["core", "dual"]


async def test_maintenance_records_without_alerting_and_alerts_when_it_ends(tmp_path):
    settings = FaultsSettings(timezone="UTC", maintenance=[{
        "name": "relocation", "match": {"devices": ["server"]},
        "start": dt.datetime.fromtimestamp(NOVEMBER, dt.timezone.utc).isoformat(),
        "end": dt.datetime.fromtimestamp(NOVEMBER + 600, dt.timezone.utc).isoformat()}])
    rig = Rig(tmp_path, NOVEMBER, settings=settings, children=0)
    rig.feed({"server": True})
    rig.feed({"server": False})
    await rig.settle()
    assert rig.alerts.items == []
    fault = rig.store.list(device="server")[0]
    assert fault.in_maintenance and fault.maintenance == "relocation" and not fault.has_clocks
    rig.clock.now = NOVEMBER + 601
    rig.manager.housekeeping()
    assert [a.event for a in rig.alerts.items] == ["maintenance_over"]
    fault = rig.store.get(fault.id)
    assert not fault.in_maintenance and fault.ack_deadline == pytest.approx(NOVEMBER + 601 + 180)


async def test_manual_resolve_from_another_process_resets_the_rule(tmp_path):
    rig = Rig(tmp_path, NOVEMBER, children=0)
    rig.feed({"server": True})
    rig.feed({"server": False})
    fault = rig.store.list(device="server")[0]
    cli = _DATABASE.open()  # what `netvigil resolve` opens
    cli.resolve(fault.id, "li.wei", at=rig.clock.now)
    cli.disconnect()
    rig.manager.housekeeping()  # notices data_version
    assert [a.event for a in rig.alerts.items] == ["open", "resolved"]
    rig.feed({"server": False})  # still down: the rule opens it again, the same record
    again = rig.store.list(device="server")
    assert len(again) == 1 and again[0].resolved_at is None and again[0].occurrences == 2
    assert [a.event for a in rig.alerts.items] == ["open", "resolved", "reopen"]


async def test_restart_keeps_open_faults_without_realerting_and_clears_them(tmp_path):
    rig = Rig(tmp_path, NOVEMBER, children=0)
    rig.feed({"server": True})
    rig.feed({"server": False})
    rig.store.disconnect()
    restarted = Rig(tmp_path, rig.clock.now)
    # At start the open fault is handed to the dispatcher again (an alert still being grouped
    # in memory when the daemon died must not be lost); the dispatcher's sent-log keeps it from
    # going out twice (tests/integration: kill -9 in test_faults_daemon.py).
    assert [(a.event, a.fault_id) for a in restarted.alerts.items] == [("open", 1)]
    restarted.feed({"server": False})
    assert len(restarted.alerts.items) == 1  # the same fault, still open: nothing new
    assert len(restarted.store.list(device="server")) == 1
    restarted.feed({"server": True})
    assert [a.event for a in restarted.alerts.items] == ["open", "resolved"]
    assert restarted.store.list(device="server")[0].resolved_by == "auto"


async def test_flood_season_uses_the_heightened_watch_sla(tmp_path):
    rig = Rig(tmp_path, JULY, children=0)
    rig.feed({"server": True})
    rig.feed({"server": False})
    fault = rig.store.list(device="server")[0]
    assert fault.heightened
    assert fault.resolve_deadline - fault.opened_at == pytest.approx(3600)
    assert rig.alerts.items[0].heightened


async def test_sla_clock_warnings_and_breach_are_alerted_once(tmp_path):
    rig = Rig(tmp_path, NOVEMBER, children=0)
    rig.feed({"server": True})
    rig.feed({"server": False})
    opened = rig.clock.now
    rig.clock.now = opened + 130  # 60 s warning before the 180 s deadline
    rig.manager.housekeeping()
    rig.manager.housekeeping()
    rig.clock.now = opened + 181
    rig.manager.housekeeping()
    assert [a.event for a in rig.alerts.items] == ["open", "ack_warning", "ack_breach"]
    assert rig.alerts.items[-1].deadline == pytest.approx(opened + 180)


async def test_after_a_restart_a_parent_answering_again_re_evaluates_its_symptoms(tmp_path):
    rig = Rig(tmp_path, NOVEMBER)
    rig.feed(_everyone(rig, True))
    rig.feed(_everyone(rig, False, but={"egress": True, "server": True}))
    await rig.settle()
    rig.store.disconnect()
    restarted = Rig(tmp_path, rig.clock.now)
    restarted.answers = {"codec-0": False}
    restarted.feed({"core": True})  # its first answer after the restart
    await restarted.settle()
    assert restarted.reprobed and "codec-0" in restarted.reprobed[0]
    assert [a.device.name for a in restarted.alerts.events("open")] == ["core", "codec-0"]


async def test_a_failed_write_loses_nothing(tmp_path):
    rig = Rig(tmp_path, NOVEMBER, children=0)
    rig.feed({"server": True})
    real_open = rig.store.open

    def locked(*args, **kwargs):
        raise __import__("sqlite3").OperationalError("database is locked")

    rig.store.open = locked  # the CLI held the write lock past busy_timeout
    rig.feed({"server": False})
    assert rig.store.list() == [] and rig.alerts.items == [] and rig.manager.open_ids == {}
    rig.store.open = real_open
    rig.feed({"server": False})  # the rule says it again: recorded and alerted now
    assert [f.device for f in rig.store.list(open_only=True)] == ["server"]
    assert [a.event for a in rig.alerts.items] == ["open"]


async def test_api_change_does_not_hide_a_cli_change(tmp_path):
    rig = Rig(tmp_path, NOVEMBER, children=0)
    rig.feed({"server": True, "egress": True})
    rig.feed({"server": False, "egress": False})
    server, egress = (rig.store.list(device=name)[0] for name in ("server", "egress"))
    cli = _DATABASE.open()
    cli.resolve(server.id, "li.wei", at=rig.clock.now)
    cli.disconnect()
    rig.manager.acknowledge(egress.id, "wang.fang")  # through the API, before the daemon polled
    rig.manager.housekeeping()
    assert ("resolved", server.id) in [(a.event, a.fault_id) for a in rig.alerts.items]


async def test_rule_evaluation_time_is_accounted(tmp_path):
    rig = Rig(tmp_path, NOVEMBER)
    rig.feed(_everyone(rig, True))
    assert rig.manager.stats["samples"] == 33 and rig.manager.stats["eval_seconds"] > 0


async def test_snapshot_lists_open_faults_with_sla_time_left_and_counts_every_severity(tmp_path):
    rig = Rig(tmp_path, NOVEMBER)
    rig.feed(_everyone(rig, True))
    rig.feed({"server": False})
    await rig.settle()
    rig.clock.now += 60
    samples = rig.manager.snapshot()
    rows = [s for s in samples if s.measurement == "fault_open"]
    assert len(rows) == 1
    row = rows[0]
    fault = rig.store.list(open_only=True)[0]
    assert row.tags["device"] == "server" and row.tags["severity"] == fault.severity
    assert row.tags["rule"] == fault.rule
    assert row.fields["id"] == fault.id and row.fields["ack"] == 0 and row.fields["breached"] == 0
    assert row.fields["age_s"] == pytest.approx(rig.clock.now - fault.opened_at, abs=0.1)
    assert row.fields["ack_left_s"] == pytest.approx(fault.ack_deadline - rig.clock.now, abs=0.1)
    assert row.fields["resolve_left_s"] == pytest.approx(fault.resolve_deadline - rig.clock.now, abs=0.1)
    assert row.time_ns == int(rig.clock.now * 1e9)
    counts = {s.tags["severity"]: s.fields for s in samples if s.measurement == "fault_open_count"}
    assert set(counts) == {"critical", "major", "minor", "warning"}  # 0 is a value, not a gap
    assert counts[fault.severity] == {"open": 1, "alerting": 1, "unacknowledged": 1, "breached": 0}
    assert sum(c["open"] for c in counts.values()) == 1
    assert all(isinstance(v, (int, float)) for s in samples for v in s.fields.values())  # no strings

    # Past the acknowledge deadline: time left goes negative and the fault counts as breached.
    rig.clock.now = fault.ack_deadline + 30
    row = next(s for s in rig.manager.snapshot() if s.measurement == "fault_open")
    assert row.fields["ack_left_s"] == pytest.approx(-30, abs=0.1) and row.fields["breached"] == 1

    # Acknowledged (late): the acknowledge clock stops where it stood; resolved: gone from the
    # snapshot, counts back to 0.
    rig.manager.acknowledge(fault.id, "ops")
    rig.clock.now += 100
    row = next(s for s in rig.manager.snapshot() if s.measurement == "fault_open")
    assert row.fields["ack"] == 1 and row.fields["ack_left_s"] == pytest.approx(-30, abs=0.1)
    rig.manager.resolve(fault.id, "ops")
    samples = rig.manager.snapshot()
    assert not [s for s in samples if s.measurement == "fault_open"]
    assert all(s.fields["open"] == 0 for s in samples if s.measurement == "fault_open_count")


async def test_resolve_events_carry_ack_and_resolve_times_against_the_sla(tmp_path):
    rig = Rig(tmp_path, NOVEMBER)
    rig.feed(_everyone(rig, True))
    rig.feed({"server": False})
    await rig.settle()
    fault = rig.store.list(open_only=True)[0]
    opened = [s for s in rig.events if s.measurement == "fault" and s.fields["event"] == 1]
    assert opened[0].fields["ack_sla_s"] == pytest.approx(fault.ack_deadline - fault.opened_at, abs=0.1)
    assert "ack_s" not in opened[0].fields and "resolve_s" not in opened[0].fields
    rig.clock.now = fault.ack_deadline + 30  # acknowledged 30 s late
    rig.manager.acknowledge(fault.id, "ops")
    rig.clock.now += 60
    rig.manager.resolve(fault.id, "ops")
    resolved = [s for s in rig.events if s.measurement == "fault" and s.fields["event"] == 4][-1]
    assert resolved.fields["ack_s"] == pytest.approx(fault.ack_deadline + 30 - fault.opened_at, abs=0.1)
    assert resolved.fields["ack_breached"] == 1
    assert resolved.fields["resolve_s"] == pytest.approx(fault.ack_deadline + 90 - fault.opened_at, abs=0.1)
    assert resolved.fields["resolve_sla_s"] == pytest.approx(fault.resolve_deadline - fault.opened_at, abs=0.1)
    assert resolved.fields["resolve_breached"] == int(fault.ack_deadline + 90 > fault.resolve_deadline)


async def test_budget_snapshot_counts_this_months_root_faults_per_device(tmp_path):
    settings = FaultsSettings(timezone="Asia/Shanghai", budget={"faults_per_month": 1})
    rig = Rig(tmp_path, NOVEMBER, settings=settings)
    rig.feed(_everyone(rig, True))
    budget = {s.measurement: s for s in rig.manager.snapshot() if s.measurement.startswith("fault_budget")}
    assert budget == {"fault_budget_count": budget["fault_budget_count"]}  # nobody yet: the total alone
    assert budget["fault_budget_count"].fields == {"over": 0, "with_faults": 0, "budget": 1}
    for _ in range(2):  # two faults of the server this month (each resolved, then a new one)
        rig.feed({"server": False})
        await rig.settle()
        rig.manager.resolve(rig.store.list(open_only=True)[0].id, "ops")
        rig.clock.now += settings.reopen_window_s + 60
        rig.feed({"server": True})
    samples = rig.manager.snapshot()
    [row] = [s for s in samples if s.measurement == "fault_budget"]
    assert row.tags["device"] == "server" and row.tags["class"] == "server"
    assert row.fields == {"faults": 2, "budget": 1, "left": -1, "over": 1}
    [total] = [s for s in samples if s.measurement == "fault_budget_count"]
    assert total.fields == {"over": 1, "with_faults": 1, "budget": 1}
    # A budget for other classes leaves the server out.
    rig.manager.set_settings(FaultsSettings(timezone="Asia/Shanghai", budget={"classes": ["ups"]}), rig.manager.calendar)
    assert [s.measurement for s in rig.manager.snapshot() if s.measurement.startswith("fault_budget")] \
        == ["fault_budget_count"]


async def test_acknowledgements_and_resolves_from_the_cli_become_fault_events(tmp_path):
    rig = Rig(tmp_path, NOVEMBER)
    rig.feed(_everyone(rig, True))
    rig.feed({"server": False, "egress": False})
    await rig.settle()
    server, egress = (rig.store.list(device=name)[0] for name in ("server", "egress"))
    cli = _DATABASE.open()
    cli.acknowledge(server.id, "li.wei", at=rig.clock.now + 20)
    cli.resolve(egress.id, "wang.fang", at=rig.clock.now + 30)
    cli.disconnect()
    rig.events.clear()
    rig.manager.housekeeping()
    events = {(s.tags["device"], s.fields["event"]): s.fields for s in rig.events if s.measurement == "fault"}
    assert set(events) == {("server", 3), ("egress", 4)}
    assert events[("server", 3)]["ack_s"] == pytest.approx(rig.clock.now + 20 - server.opened_at, abs=0.1)
    assert events[("egress", 4)]["resolve_s"] == pytest.approx(rig.clock.now + 30 - egress.opened_at, abs=0.1)
    # Written once: the next poll (another change) does not repeat them, nor does an
    # acknowledgement through the API repeat as a CLI one.
    rig.events.clear()
    rig.manager.maintenance_changed()
    _DATABASE.open().add_note(server.id, "li.wei", "on site")
    rig.manager.housekeeping()
    assert not [s for s in rig.events if s.measurement == "fault"]


async def test_an_acknowledgement_from_the_cli_is_not_lost_when_the_fault_clears_before_the_poll(tmp_path):
    rig = Rig(tmp_path, NOVEMBER)
    rig.feed(_everyone(rig, True))
    rig.feed({"server": False})
    await rig.settle()
    [fault] = rig.store.list(open_only=True)
    cli = _DATABASE.open()
    cli.acknowledge(fault.id, "li.wei", at=rig.clock.now + 5)
    cli.disconnect()
    rig.events.clear()
    rig.feed({"server": True})  # answers again before housekeeping noticed the acknowledgement
    rig.manager.housekeeping()
    codes = [s.fields["event"] for s in rig.events if s.measurement == "fault"]
    assert codes == [3, 4]
