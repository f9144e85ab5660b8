from dataclasses import dataclass, field
from types import SimpleNamespace

from monitor.cli.tables import render_table
from monitor.state import DeviceStates
from probes.base import Sample


@dataclass
class _Device:
    name: str
    address: str
    device_class: str
    site_path: tuple
    icmp: SimpleNamespace = field(default_factory=lambda: SimpleNamespace(enabled=True))
    snmp: SimpleNamespace = field(default_factory=lambda: SimpleNamespace(active=False))
    ssh: SimpleNamespace = field(default_factory=lambda: SimpleNamespace(active=False))


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
    assert states.counts() == {"up": 2, "down": 1, "pending": 1, "unmonitored": 0}
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


def _without_icmp(name, snmp=False, ssh=False):
    return _Device(name, "127.0.0.9", "ups", ("d",), icmp=SimpleNamespace(enabled=False),
                   snmp=SimpleNamespace(active=snmp), ssh=SimpleNamespace(active=ssh))


def test_without_icmp_reachability_comes_from_snmp_and_ssh_answers():
    # ICMP blocked by a firewall, managed over SNMP and SSH: it used to stay PENDING forever.
    states = DeviceStates()
    states.set_inventory([_without_icmp("ups-1", snmp=True, ssh=True), _without_icmp("nothing")])
    assert {r["device"]: r["state"] for r in states.rows()} == {"ups-1": "pending", "nothing": "unmonitored"}
    states.update([Sample("snmp", {"device": "ups-1"}, {"error_code": 0}, 1_000_000_000)])
    row = states.rows()[0]
    assert (row["state"], row["last_seen"], row["snmp"]) == ("up", "1970-01-01T00:00:01+00:00", "ok")
    # A wrong SNMPv3 key is still an answer; a timeout of both protocols is down.
    states.update([Sample("snmp", {"device": "ups-1"}, {"error_code": 4}, 2_000_000_000)])
    assert states.rows()[0]["state"] == "up"
    states.update([Sample("ssh", {"device": "ups-1"}, {"error_code": 2}, 3_000_000_000)])  # refused: it is there
    states.update([Sample("snmp", {"device": "ups-1"}, {"error_code": 1}, 3_500_000_000)])
    assert states.rows()[0]["state"] == "up"  # SSH still answers
    states.update([Sample("ssh", {"device": "ups-1"}, {"error_code": 1}, 4_000_000_000)])
    row = states.rows()[0]
    assert (row["state"], row["since"], row["ssh"]) == ("down", "1970-01-01T00:00:04+00:00", "timeout")
    # An ICMP re-probe for the fault manager does not decide it.
    states.update([_sample("ups-1", 5_000_000_000, up=1, loss_pct=0.0)])
    assert states.rows()[0]["state"] == "down"
    assert states.counts() == {"up": 0, "down": 1, "pending": 0, "unmonitored": 1}
    assert "UNMONITORED" in render_table(states.rows())


def test_control_characters_from_devices_are_shown_escaped_not_sent_to_the_terminal():
    states = DeviceStates()
    states.set_inventory([_Device("sw", "127.0.0.1", "switch", ("d",))])
    states.update([_sample("sw", 1_000_000_000, up=1, loss_pct=0.0)])
    states.note_error("sw", "agent said \x1b[2J\x1b[31mPWNED\nfake line", kind="snmp")
    table = render_table(states.rows())
    assert "\x1b" not in table and "\\x1b[2J" in table
    assert table.splitlines()[-1] == "  sw: agent said \\x1b[2J\\x1b[31mPWNED\\nfake line"


def test_every_snmp_error_code_has_its_name_in_status():
    """`status` names an SNMP error by the name of its ErrorCode (the table is kept apart so
    `status` does not import the SNMP engine; this keeps the two in step)."""
    from monitor.state import SNMP_STATES
    from probes.snmp.poller import ErrorCode

    assert SNMP_STATES == {code.value: "ok" if code is ErrorCode.NONE else code.name.lower() for code in ErrorCode}
