"""UPS cards that speak a vendor MIB, polled over the wire: snmpsim replays the recordings of a
real Megatec NET Agent II card (INVT three-phase UPS, tests/fixtures/snmprec/netagent2.snmprec)
and of an Eaton ConnectUPS card (eatonups.snmprec); the poller, given each device as class
`ups`, selects `megatec_ups` / `eaton_xups` in place of RFC 1628's `ups` by sysObjectID. What it
writes is then read by the same code that reads any UPS: the shipped rules, `status`'s health
figures and the inspection record's UPS line."""

from __future__ import annotations

import pytest

from monitor.faults.model import DeviceInfo
from monitor.health import summarise
from monitor.reports.inspection import _ups_lines
from monitor.reports.readings import Reading
from monitor.rules.engine import RuleEngine
from monitor.rules.model import load_rules
from monitor.rules.settings import RulesSettings
from probes.base import Target
from probes.snmp import profiles as snmp_profiles
from probes.snmp.client import SnmpClient
from probes.snmp.poller import SnmpPoller
from probes.snmp.settings import SnmpSettings

pytestmark = pytest.mark.integration

PROFILES = snmp_profiles.load_all([snmp_profiles.PACKAGED_PROFILES])


@pytest.fixture
async def poller():
    client = SnmpClient()
    yield SnmpPoller(client, PROFILES)
    client.close()


def _settings(port: int, community: str = "netagent2") -> SnmpSettings:
    return SnmpSettings.model_validate({"credentials": {"lab": {"version": "v2c", "community": community}},
                                        "credential": "lab", "port": port, "timeout_s": 1.0, "retries": 1})


async def test_a_netagent_ups_polled_through_snmpsim_reads_as_any_ups(snmpsim, poller):
    host, port = snmpsim.endpoint
    device = Target("street-ups-07", host, {"device": "street-ups-07", "address": host, "class": "ups",
                                             "site": "street-03"})
    result = await poller.poll(device, _settings(port))
    assert result.error is None, result.error
    assert sorted(result.profiles) == ["megatec_ups", "system"]
    assert result.sys_object_id == "1.3.6.1.4.1.935"
    by = {}
    for sample in result.samples:
        by.setdefault(sample.measurement, {})[sample.tags.get("line", "")] = sample.fields
    assert by["ups"] == {"": {"battery_status": 2, "charge_pct": 100, "battery_voltage_v": 269.0,
                              "battery_temperature_c": 25.0, "output_source": 7, "ppc_output_status": 9,
                              "output_frequency_hz": 49.9}}
    assert by["ups_input"] == {"1": {"frequency_hz": 49.9, "voltage_v": 236.0}, "2": {"voltage_v": 236.7},
                               "3": {"voltage_v": 237.9}}
    assert by["ups_output"] == {"1": {"voltage_v": 231.2, "load_pct": 23.5}, "2": {"voltage_v": 231.3, "load_pct": 32.7},
                                "3": {"voltage_v": 231.2, "load_pct": 32.7}}
    assert by["snmp_system"][""]["uptime_s"] == pytest.approx(1_493_907)
    status = by["snmp"][""]
    assert status["up"] == 1 and status["error_code"] == 0 and status["profiles"] == 2 and status["wrong_type"] == 0

    # status: the health figures
    health = summarise((s.measurement, s.tags, s.fields) for s in result.samples)
    assert health == {"power": "mains", "battery": "normal", "charge_pct": 100, "load_pct": 32.7}
    # the inspection record: one UPS line with the worst output load and the lowest input voltage
    readings = [Reading(s.tags["device"], s.measurement, s.tags, s.fields, s.time_ns) for s in result.samples]
    (line,) = _ups_lines(readings, {"street-ups-07": "street-03"})
    assert (line.source, line.battery, line.charge_pct, line.load_pct, line.input_v) == (
        "reducer", "normal", 100, 32.7, 236.0)
    # the shipped rules: nothing to report on the healthy card
    engine = RuleEngine(load_rules(RulesSettings(dirs=[])), [DeviceInfo("street-ups-07", "ups", ("street-03",))],
                        RulesSettings(dirs=[]))
    assert [t for t in engine.evaluate(result.samples) if t.action == "open"] == []


async def test_an_eaton_connectups_card_polled_through_snmpsim(snmpsim, poller):
    host, port = snmpsim.endpoint
    device = Target("room-ups-02", host, {"device": "room-ups-02", "address": host, "class": "ups", "site": "room"})
    result = await poller.poll(device, _settings(port, "eatonups"))
    assert result.error is None, result.error
    assert sorted(result.profiles) == ["eaton_xups", "system"]
    by = {}
    for sample in result.samples:
        by.setdefault(sample.measurement, {})[sample.tags.get("line", "")] = sample.fields
    assert by["ups"] == {"": {"charge_pct": 100, "battery_voltage_v": 78, "output_frequency_hz": 50.0,
                              "input_frequency_hz": 50.0}}
    assert by["ups_input"] == {"1": {"voltage_v": 228}}
    assert by["ups_output"] == {"1": {"voltage_v": 230, "current_a": 1, "power_w": 231}}
    assert by["snmp"][""]["error_code"] == 0 and by["snmp"][""]["tables_dropped"] == 0
    readings = [Reading(s.tags["device"], s.measurement, s.tags, s.fields, s.time_ns) for s in result.samples]
    (line,) = _ups_lines(readings, {"room-ups-02": "room"})
    assert (line.source, line.battery, line.charge_pct, line.input_v, line.normal) == (None, None, 100, 228, True)
