"""A month of known faults (November 2026, Asia/Shanghai) in a real fault store and
configuration store, shared by the monthly report's computation and rendering tests.
The expected figures are worked out by hand in test_report_monthly.py."""

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

from monitor.config_store import ConfigStore
from monitor.faults.model import DeviceInfo
from monitor.faults.settings import FaultsSettings, SlaSettings
from monitor.faults.store import FaultStore

ZONE = ZoneInfo("Asia/Shanghai")
SLA = SlaSettings(acknowledge_s=180, resolve_s=3600, warn_before_ack_s=60, warn_before_resolve_s=600)
SETTINGS = FaultsSettings.model_validate({
    "timezone": "Asia/Shanghai", "sla": SLA.model_dump(),
    "heightened_watch": {"periods": [{"name": "major event", "start": "2026-11-09", "end": "2026-11-11"},
                                     {"name": "year end", "start": "11-30", "end": "12-02"}]}})

CORE = DeviceInfo("core-sw", "switch", ("机房",))
SRV = DeviceInfo("srv-1", "server", ("机房",))
UPS = DeviceInfo("ups-1", "ups", ("机房",))
CODEC_A = DeviceInfo("codec-a", "codec", ("街道A",))
CODEC_B = DeviceInfo("codec-b", "codec", ("街道A",))
DEVICES = (CORE, SRV, UPS, CODEC_A, CODEC_B)
NOW = dt.datetime(2026, 12, 7, 10, 0, tzinfo=ZONE).timestamp()
MIN = 60


def t(month: int, day: int, hour: int, minute: int = 0, second: int = 0) -> float:
    return dt.datetime(2026, month, day, hour, minute, second, tzinfo=ZONE).timestamp()


def build(directory: Path) -> tuple[FaultStore, ConfigStore]:
    store = FaultStore(directory / "faults.db", clock=lambda: NOW)

    def opened(device, rule, at, *, instance="", severity="critical", **marks):
        fault, how = store.open(device, rule, instance, severity=severity, at=at, sla=SLA, reopen_window_s=600,
                                **marks)
        assert how == "opened"
        return fault.id

    # Carried over from October: one hour of it falls in November.
    old = opened(CODEC_A, "device_unreachable", t(10, 31, 23))
    store.acknowledge(old, "wang", at=t(10, 31, 23, 2))
    store.resolve_auto("codec-a", "device_unreachable", at=t(11, 1, 1))

    # srv-1: six faults, one over the budget of five; the 4th acknowledged late, the 6th fixed late.
    for day in range(2, 8):
        fid = opened(SRV, "cpu_high", t(11, day, 10), severity="major")
        store.acknowledge(fid, "li", at=t(11, day, 10) + (300 if day == 4 else 120))
        store.resolve(fid, "li", at=t(11, day, 10) + (7200 if day == 6 else 1800))

    # The core switch fails for 30 minutes; codec-b behind it is its symptom.
    core = opened(CORE, "device_unreachable", t(11, 10, 8))
    opened(CODEC_B, "device_unreachable", t(11, 10, 8, 0, 30), symptom_of=core)
    store.acknowledge(core, "zhang", at=t(11, 10, 8, 1))
    store.resolve_auto("core-sw", "device_unreachable", at=t(11, 10, 8, 30))
    store.resolve_auto("codec-b", "device_unreachable", at=t(11, 10, 8, 30))

    # Planned work on the UPS: recorded, neither down time nor a fault of the month.
    opened(UPS, "device_unreachable", t(11, 15, 2), in_maintenance=True, maintenance="UPS battery swap")
    store.resolve_auto("ups-1", "device_unreachable", at=t(11, 15, 3))

    # codec-a: two overlapping reachability faults (IPv4 and IPv6): down 10:00-10:30 once.
    fid = opened(CODEC_A, "device_unreachable", t(11, 20, 10))
    store.acknowledge(fid, "wang", at=t(11, 20, 10) + 100)
    opened(CODEC_A, "device_unreachable", t(11, 20, 10, 10), instance="v6")
    store.resolve_auto("codec-a", "device_unreachable", at=t(11, 20, 10, 20))
    store.resolve_auto("codec-a", "device_unreachable", "v6", at=t(11, 20, 10, 30))  # never acknowledged

    # The month ends with two faults still open.
    opened(CODEC_A, "packet_loss_video", t(11, 30, 23, 50), severity="major")
    fid = opened(CODEC_B, "device_unreachable", t(11, 30, 22))
    store.acknowledge(fid, "zhao", at=t(11, 30, 22, 2))

    # December: not in November's figures.
    opened(SRV, "cpu_high", t(12, 1, 9), severity="major")

    configs = ConfigStore(directory / "configs")
    configs.save("core-sw", "hostname core\n", fetched_at=t(10, 20, 3))
    configs.save("core-sw", "hostname core\nvlan 10\n", fetched_at=t(11, 12, 15))
    configs.save("srv-1", "first backup\n", fetched_at=t(11, 3, 4))
    configs.save("srv-1", "changed in December\n", fetched_at=t(12, 2, 4))
    return store, configs
