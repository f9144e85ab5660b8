"""The daemon's report schedule over real parts: settings loaded from files, DeviceStates and
LatestReadings fed with samples, a fault store and the ledger under a state directory, a real
webhook receiver on loopback; the clock moved by hand. Each report delivered once, a restart
sends nothing twice, a slot missed while down is made once at the next start, a failed
channel is tried again, a report that cannot be written is retried, a damaged ledger starts
afresh, reminders of missing analyses."""

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from monitor import config as config_module
from monitor.faults.store import FaultStore
from monitor.reports import schedule as schedule_module
from monitor.reports.readings import LatestReadings
from monitor.reports.schedule import LEDGER, ReportSchedule
from monitor.state import DeviceStates
from probes.base import Sample
from tests.unit.test_report_schedule import ROOT, _resolved_fault, t

pytestmark = pytest.mark.integration


@pytest.fixture
def setup(tmp_path, webhook_receiver):
    (tmp_path / "inventory.yaml").write_text(
        "sites: [{name: 机房}]\ndevices:\n  - {name: core-sw, address: 192.0.2.1, class: switch, site: 机房}\n"
        "  - {name: ups-1, address: 192.0.2.2, class: ups, site: 机房}\n", encoding="utf-8")
    (tmp_path / "netvigil.yaml").write_text(f"""
inventory: [inventory.yaml]
state_dir: state
faults: {{timezone: Asia/Shanghai}}
rules: {{dirs: []}}
notifications:
  channels:
    tickets: {{webhook: {{url: "{webhook_receiver.url}"}}}}
reports:
  holiday_files: [{ROOT / 'config/holidays/cn-2026.yaml'}]
  deliver: {{channels: [tickets], formats: [xlsx]}}
""", encoding="utf-8")
    (tmp_path / "state").mkdir()
    cfg = config_module.load(tmp_path / "netvigil.yaml")
    states, readings = DeviceStates(), LatestReadings()
    states.set_inventory(cfg.inventory.devices)
    store = FaultStore(cfg.settings.state_dir / "faults.db")
    yield SimpleNamespace(cfg=cfg, states=states, readings=readings, fault_store=store), webhook_receiver
    store.disconnect()


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_each_report_once_across_restarts_and_a_missed_slot_once(setup):
    daemon, receiver = setup
    clock = Clock(t(12, 1, 0))
    ReportSchedule(daemon, clock)  # the first start: the ledger's floor
    samples = [Sample("icmp", {"device": name}, {"up": 1, "rtt_avg_ms": 1.0, "loss_pct": 0.0, "jitter_ms": 0.1},
                      int((t(12, 7, 9) - 30) * 1e9)) for name in ("core-sw", "ups-1")]
    samples.append(Sample("ups", {"device": "ups-1"}, {"output_source": 5, "battery_status": 2, "charge_pct": 93,
                                                        "runtime_remaining_min": 31}, int((t(12, 7, 9) - 30) * 1e9)))
    daemon.states.update(samples)
    daemon.readings.update(samples)

    clock.now = t(12, 7, 9, 0, 20)
    schedule = ReportSchedule(daemon, clock)  # restarted on the 7th: the November report was missed
    await schedule.tick()
    bodies = await receiver.wait_for(2)
    assert [(b["event"], b["report"]) for b in bodies] == [("report", "inspection"), ("report", "monthly")]
    inspection = bodies[0]
    assert inspection["title"] == "[REPORT] Machine-room inspection record 2026-12-07 09:00"
    assert inspection["figures"]["up"] == 2 and inspection["figures"]["ups_not_normal"] == 1  # on battery
    assert inspection["files"] == [str(daemon.cfg.settings.reports.out_dir / "inspection-2026-12-07-0900.xlsx")]
    assert Path(inspection["files"][0]).exists() and inspection["files"][0] in inspection["text"]
    assert bodies[1]["figures"]["month"] == "2026-11"

    clock.now += 60
    await schedule.tick()
    await ReportSchedule(daemon, clock).tick()  # a restart a minute later
    assert len(receiver.requests) == 2

    clock.now = t(12, 7, 17, 40)  # down over the 17:00 slot, started at 17:40
    await ReportSchedule(daemon, clock).tick()
    [late] = (await receiver.wait_for(3))[2:]
    assert late["title"].endswith("2026-12-07 17:00")  # named by its slot; made with the values at 17:40
    assert late["files"][0].endswith("inspection-2026-12-07-1700.xlsx")
    assert "Made at 2026-12-07 17:40 for the 2026-12-07 17:00 slot: the daemon was not running then." in late["text"]
    ledger = json.loads((daemon.cfg.settings.state_dir / LEDGER).read_text(encoding="utf-8"))
    assert sorted(ledger["jobs"]) == ["inspection 2026-12-07 09:00", "inspection 2026-12-07 17:00", "monthly 2026-11"]
    assert all(entry["channels"] == {"tickets": "sent"} for entry in ledger["jobs"].values())


async def test_a_failed_channel_is_tried_again_and_a_restart_does_not_repeat_it(setup):
    daemon, receiver = setup
    receiver.fail_first = 1
    clock = Clock(t(12, 7, 8, 0))
    ReportSchedule(daemon, clock)
    clock.now = t(12, 7, 9, 0, 5)
    await ReportSchedule(daemon, clock).tick()
    assert [r.answered for r in receiver.requests] == [500]  # the monthly report came before the floor
    clock.now += 60
    await ReportSchedule(daemon, clock).tick()  # restarted: the retry waits for its time
    assert len(receiver.requests) == 1
    clock.now += schedule_module.RETRY_S
    schedule = ReportSchedule(daemon, clock)
    await schedule.tick()
    assert [r.answered for r in receiver.requests] == [500, 200]
    clock.now += schedule_module.RETRY_S
    await schedule.tick()
    assert len(receiver.requests) == 2


async def test_reminder_of_a_missing_analysis_and_none_once_it_is_written(setup):
    daemon, receiver = setup
    clock = Clock(t(9, 20, 0))
    daemon.cfg.settings.reports.inspection_times.clear()
    ReportSchedule(daemon, clock)
    fault = _resolved_fault(daemon.cfg.settings.state_dir / "faults.db", t(9, 30, 17, 30))
    other = _resolved_fault(daemon.cfg.settings.state_dir / "faults.db", t(9, 30, 18), device="ups-1")
    daemon.fault_store.close(other.id, "li", cause="mains cut", resolution="restored", prevention="second feed",
                             at=t(9, 30, 19))
    clock.now = t(10, 7, 10, 30)
    await ReportSchedule(daemon, clock).tick()
    assert receiver.requests == []  # still the holiday
    clock.now = t(10, 8, 10, 0, 5)
    schedule = ReportSchedule(daemon, clock)
    await schedule.tick()
    bodies = await receiver.wait_for(2)  # the September report, and the reminder
    [reminder] = [b for b in bodies if b["report"] == "reminder"]
    assert reminder["title"] == (f"[ANALYSIS DUE] fault {fault.id} core-sw device_unreachable: the written analysis "
                                 f"is due by the end of 2026-10-08")
    assert [f["id"] for f in reminder["faults"]] == [fault.id]
    assert f"netvigil close {fault.id} --by NAME" in reminder["text"]
    clock.now += 3600
    await schedule.tick()
    assert len(receiver.requests) == 2


async def test_a_report_that_cannot_be_written_is_logged_and_made_again_later(setup, caplog):
    daemon, receiver = setup
    blocker = daemon.cfg.settings.state_dir / "not-a-directory"
    blocker.write_text("")
    daemon.cfg.settings.reports.out_dir = blocker / "reports"
    clock = Clock(t(12, 7, 8, 0))
    ReportSchedule(daemon, clock)
    clock.now = t(12, 7, 9, 0, 5)
    schedule = ReportSchedule(daemon, clock)
    await schedule.tick()
    clock.now += 60
    await schedule.tick()  # not again within RETRY_S: one line, not one per tick
    failures = [r.getMessage() for r in caplog.records if "could not make" in r.getMessage()]
    assert len(failures) == 1 and failures[0].startswith("reports: could not make inspection 2026-12-07 09:00: ")
    assert receiver.requests == []
    blocker.unlink()
    clock.now += schedule_module.RETRY_S
    await schedule.tick()
    [body] = await receiver.wait_for(1)
    assert body["report"] == "inspection" and Path(body["files"][0]).exists()


async def test_a_damaged_ledger_starts_afresh_without_a_flood(setup, caplog):
    daemon, receiver = setup
    ledger = daemon.cfg.settings.state_dir / LEDGER
    ledger.write_text("{not json", encoding="utf-8")
    clock = Clock(t(12, 7, 9, 30))
    schedule = ReportSchedule(daemon, clock)
    assert any("is unreadable" in r.getMessage() and "starting a new one" in r.getMessage() for r in caplog.records)
    await schedule.tick()  # the 09:00 slot is before the new floor: not made again
    assert receiver.requests == [] and json.loads(ledger.read_text(encoding="utf-8"))["since"] == clock.now
