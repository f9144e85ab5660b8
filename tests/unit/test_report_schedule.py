"""Which reports are due when: the inspection slots, the monthly report on the 1st working day
(the 2026 calendar, National Day included) and the analysis reminder on the working day after
a resolution, with the floor of the first start and what is done already. The schedule itself,
over real parts, is in tests/integration/test_report_schedule.py."""

import datetime as dt
from pathlib import Path

from monitor.faults.model import DeviceInfo
from monitor.faults.settings import SlaSettings
from monitor.faults.store import FaultStore
from monitor.reports.schedule import due_jobs
from monitor.reports.settings import ReportsSettings
from monitor.reports.workdays import WorkCalendar
from tests.unit.report_month import ZONE

ROOT = Path(__file__).resolve().parents[2]
CN_2026 = WorkCalendar.load([ROOT / "config" / "holidays" / "cn-2026.yaml"])
SLA = SlaSettings()


def t(month, day, hour, minute=0, second=0):
    return dt.datetime(2026, month, day, hour, minute, second, tzinfo=ZONE).timestamp()


def keys(jobs):
    return [job.key for job in jobs]


def test_inspection_slots_and_the_monthly_report():
    settings = ReportsSettings()
    floor = t(12, 1, 0)
    assert keys(due_jobs(settings, ZONE, CN_2026, t(12, 7, 9, 0, 10), floor, set())) == [
        "inspection 2026-12-07 09:00", "monthly 2026-11"]  # 1 December, a Tuesday, was the delivery day
    assert keys(due_jobs(settings, ZONE, CN_2026, t(12, 7, 8, 59), floor, {"monthly 2026-11"})) == [
        "inspection 2026-12-06 17:00"]  # before 09:00 the latest slot is yesterday's 17:00
    done = {"inspection 2026-12-07 09:00", "monthly 2026-11"}
    assert due_jobs(settings, ZONE, CN_2026, t(12, 7, 16, 59), floor, done) == []
    assert keys(due_jobs(settings, ZONE, CN_2026, t(12, 7, 17), floor, done)) == ["inspection 2026-12-07 17:00"]
    # Nothing from before the first start.
    assert due_jobs(settings, ZONE, CN_2026, t(12, 7, 9, 30), t(12, 7, 9, 10), set()) == []
    quiet = ReportsSettings(inspection_times=[], monthly_time=None)
    assert due_jobs(quiet, ZONE, CN_2026, t(12, 7, 9, 30), floor, set()) == []


def test_the_monthly_report_waits_for_the_first_working_day_after_national_day():
    settings = ReportsSettings(inspection_times=[])
    floor = t(9, 1, 0)
    for day in range(1, 8):  # 1-7 October 2026: National Day holiday
        assert due_jobs(settings, ZONE, CN_2026, t(10, day, 12), floor, set()) == []
    assert due_jobs(settings, ZONE, CN_2026, t(10, 8, 8, 59), floor, set()) == []
    [job] = due_jobs(settings, ZONE, CN_2026, t(10, 8, 9), floor, set())
    assert (job.key, job.month, job.slot) == ("monthly 2026-09", (2026, 9), t(10, 8, 9))


def _resolved_fault(path, resolved_at, device="core-sw"):
    with FaultStore(path) as store:
        fault, _ = store.open(DeviceInfo(device, "switch", ("机房",)), "device_unreachable", severity="critical",
                              message=f"{device} does not answer ping", at=resolved_at - 1800, sla=SLA,
                              reopen_window_s=0)
        store.resolve_auto(device, "device_unreachable", at=resolved_at)
        return store.get(fault.id)


def test_a_reminder_on_the_working_day_after_the_resolution(tmp_path):
    settings = ReportsSettings(inspection_times=[], monthly_time=None)
    fault = _resolved_fault(tmp_path / "faults.db", t(9, 30, 17, 30))  # due Thursday 8 October
    floor = t(9, 1, 0)
    assert due_jobs(settings, ZONE, CN_2026, t(10, 8, 9, 59), floor, set(), [fault]) == []
    [job] = due_jobs(settings, ZONE, CN_2026, t(10, 8, 10), floor, set(), [fault])
    assert (job.kind, job.fault_ids, job.key) == ("reminder", (fault.id,), f"reminder {fault.id}")
    assert due_jobs(settings, ZONE, CN_2026, t(10, 8, 10), floor, {f"reminder {fault.id}"}, [fault]) == []
