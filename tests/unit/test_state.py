from dataclasses import dataclass

from monitor.state import DeviceStates, render_table
from probes.base import Sample


@dataclass
class _Device:
    name: str
    address: str
    device_class: str
    site_path: tuple


def _sample(device, t, **fields):
    return Sample("icmp", {"device": device}, fields, t)


def test_rows_are_worst_first_and_track_last_seen_and_since():
    states = DeviceStates()
    states.set_inventory([_Device("a", "127.0.0.1", "switch", ("d", "s")), _Device("b", "127.0.0.2", "ups", ("d",)),
                          _Device("c", "127.0.0.3", "codec", ("d",)), _Device("摄像机-1", "127.0.0.4", "camera", ("东城",))])
    states.update([_sample("a", 1_000_000_000, up=1, loss_pct=0.0, rtt_avg_ms=1.0, jitter_ms=0.1),
                   _sample("b", 1_000_000_000, up=1, loss_pct=10.0, rtt_avg_ms=1.0, jitter_ms=0.1),
                   _sample("c", 1_000_000_000, up=1, loss_pct=0.0, rtt_avg_ms=1.0, jitter_ms=0.1)])
    states.update([_sample("c", 2_000_000_000, up=0, loss_pct=100.0)])
    rows = states.rows()
    assert [r["device"] for r in rows] == ["c", "b", "a", "摄像机-1"]
    assert rows[0]["state"] == "down"
    assert rows[0]["last_seen"] == "1970-01-01T00:00:01+00:00"
    assert rows[0]["since"] == "1970-01-01T00:00:02+00:00"
    assert rows[-1]["state"] == "pending"
    assert states.counts() == {"up": 2, "down": 1, "pending": 1}
    table = render_table(rows)
    assert table.splitlines()[1].split()[:5] == ["c", "127.0.0.3", "codec", "d", "DOWN"]
    assert "摄像机-1" in table


def test_reload_keeps_state_of_devices_that_stay():
    states = DeviceStates()
    states.set_inventory([_Device("a", "127.0.0.1", "switch", ("d",)), _Device("b", "127.0.0.2", "ups", ("d",))])
    states.update([_sample("a", 5, up=1, loss_pct=0.0)])
    states.set_inventory([_Device("a", "127.0.0.1", "switch", ("d",))])
    rows = states.rows()
    assert [(r["device"], r["state"]) for r in rows] == [("a", "up")]


def test_every_snmp_error_code_has_its_name_in_status():
    """`status` names an SNMP error by the name of its ErrorCode (the table is kept apart so
    `status` does not import the SNMP engine; this keeps the two in step)."""
    from monitor.state import SNMP_STATES
    from probes.snmp import ErrorCode

    assert SNMP_STATES == {code.value: "ok" if code is ErrorCode.NONE else code.name.lower() for code in ErrorCode}
