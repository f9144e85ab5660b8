"""Optical transceivers (measurement `optic`, one sample per port) from the recorded walks of
real devices: Huawei S5720 and NE8000 (hwOpticalModuleInfoTable, whose units differ between
firmware releases), an HP FF 5700 (HH3C-TRANSCEIVER-INFO-MIB) and an Arista 7050
(ENTITY-SENSOR-MIB, one row per sensor folded into one sample per port). Where the recordings
come from: tests/fixtures/snmprec/SOURCES.md. And the profile engine's parts they use: log10
in derived fields, derived fields for some rows only, rows merged by a tag."""

from __future__ import annotations

import math

import pytest

from probes.snmp import profiles as sp
from lab import snmprec

PROFILES = sp.load_all([sp.PACKAGED_PROFILES])
TAGS = {"device": "dev", "class": "switch"}
T0 = 1_700_000_000 * 10**9
FIELDS = {"rx_power_dbm", "tx_power_dbm", "bias_ma", "temperature_c", "voltage_v"}


def optics(profile: str, recording: str, changes: dict | None = None) -> dict:
    values = snmprec.read(recording)
    values.update(changes or {})
    samples = sp.extract(PROFILES[profile], values, TAGS, T0, sp.CounterState())
    found = {}
    for sample in samples:
        if sample.measurement == "optic":
            assert sample.tags["port"] not in found, sample.tags
            found[sample.tags["port"]] = sample
    return found


def test_huawei_s5720_microwatts_and_lane_readings_in_dbm():
    """S5720-56C-PWR-EI: hwEntityOpticalRxPower .8 says 536 (uW: -2.71 dBm), the lane column
    .32 says "-270.19" (hundredths of dBm): the lane wins; bias .7 5232 uA, lane .31 "5.23" mA."""
    ports = optics("huawei_optics", "vrp_5720")
    assert sorted(ports) == ["XGigabitEthernet0/0/1", "XGigabitEthernet0/0/2", "XGigabitEthernet0/0/4"]
    one = ports["XGigabitEthernet0/0/1"]
    assert one.tags == {**TAGS, "entity": "67469390", "port": "XGigabitEthernet0/0/1"}
    assert one.fields == {"rx_power_dbm": pytest.approx(-2.7019), "tx_power_dbm": pytest.approx(-2.276),
                          "bias_ma": pytest.approx(5.23), "temperature_c": 39, "voltage_v": pytest.approx(3.299),
                          "rx_power_low_alarm_dbm": pytest.approx(-12.69),
                          "rx_power_low_warn_dbm": pytest.approx(-10.69),
                          "rx_margin_db": pytest.approx(9.9881),
                          "thresholds": 1}
    assert ports["XGigabitEthernet0/0/2"].fields["bias_ma"] == pytest.approx(6.29)


def test_huawei_without_lane_columns_reads_microwatts_or_negative_hundredths_of_dbm():
    hw = "1.3.6.1.4.1.2011.5.25.31.1.1.3.1."
    gone = {f"{hw}{column}.67469390": b"" for column in (31, 32, 33)}
    one = optics("huawei_optics", "vrp_5720", gone)["XGigabitEthernet0/0/1"].fields
    assert one["rx_power_dbm"] == pytest.approx(10 * math.log10(0.536))     # .8 = 536 uW
    assert one["tx_power_dbm"] == pytest.approx(10 * math.log10(0.591))     # .9 = 591 uW
    assert one["bias_ma"] == pytest.approx(5.232)                           # .7 = 5232 uA
    negative = optics("huawei_optics", "vrp_5720", {**gone, f"{hw}8.67469390": -849})["XGigabitEthernet0/0/1"]
    assert negative.fields["rx_power_dbm"] == pytest.approx(-8.49)          # as the AR169 reports it
    dark = optics("huawei_optics", "vrp_5720", {**gone, f"{hw}8.67469390": 0})["XGigabitEthernet0/0/1"]
    assert "rx_power_dbm" not in dark.fields and "rx_margin_db" not in dark.fields   # 0 uW: no reading


def test_huawei_ne8000_hundredths_of_dbm_milliamps_and_a_port_without_light():
    ports = optics("huawei_optics", "vrp_ne8000-m8")
    assert len(ports) == 9
    first = ports["GigabitEthernet0/7/0"].fields
    assert (first["rx_power_dbm"], first["tx_power_dbm"], first["bias_ma"]) == (-2.9, 2.56, 34)
    assert (first["rx_power_low_alarm_dbm"], first["rx_power_low_warn_dbm"]) == (-16, -15)
    assert first["voltage_v"] == pytest.approx(3.37) and first["temperature_c"] == 35
    dark = ports["GigabitEthernet0/7/3"].fields           # -4000: -40 dBm, no light at all
    assert dark["rx_power_dbm"] == -40 and dark["rx_margin_db"] == pytest.approx(-13.98)
    assert ports["GigabitEthernet0/8/9"].fields["bias_ma"] == 7   # 7 mA, not 7 uA


def test_huawei_empty_cages_and_boards_write_no_optic_sample():
    # vrp_ar169fgwl: ten optical cages, all empty (zeros, -1 voltage is absent)
    assert optics("huawei_optics", "vrp_ar169fgwl") == {}
    # the S5720's 50 rows of temperature -255 (no module) are not written
    assert len(optics("huawei_optics", "vrp_5720")) == 3


def test_h3c_transceivers_of_an_ff5700_in_the_mibs_units():
    ports = optics("h3c_optics", "comware_transceivers")
    assert len(ports) == 22       # 27 rows; 5 modules without digital diagnostics (2147483647)
    port = ports["Ten-GigabitEthernet9/0/10"]
    assert port.tags == {**TAGS, "index": "13", "port": "Ten-GigabitEthernet9/0/10"}
    assert port.fields == {"rx_power_dbm": pytest.approx(-10.05), "tx_power_dbm": pytest.approx(-5.41),
                           "bias_ma": pytest.approx(9.99), "temperature_c": 31, "voltage_v": pytest.approx(3.31),
                           "rx_power_low_alarm_dbm": -20, "rx_margin_db": pytest.approx(9.95), "thresholds": 1}
    assert ports["Ten-GigabitEthernet8/0/16"].fields["rx_power_dbm"] == pytest.approx(-14.85)
    assert all(FIELDS <= set(sample.fields) for sample in ports.values())


def test_h3c_a_module_without_diagnostics_is_not_written():
    diagnostic = "1.3.6.1.4.1.25506.2.70.1.1.1.8.13"
    assert "Ten-GigabitEthernet9/0/10" not in optics("h3c_optics", "comware_transceivers", {diagnostic: 2})


def test_entity_sensor_dom_sensors_of_an_arista_7050_per_port():
    """32 transceivers, five DOM sensors each (entPhysicalDescr "DOM RX Power Sensor for
    Ethernet1"): watts at milli scale with 4 decimals become dBm, amperes mA."""
    ports = optics("entity_sensor_optics", "arista_eos")
    assert len(ports) == 32
    one = ports["Ethernet1"]
    assert one.tags == {**TAGS, "port": "Ethernet1"}
    # raw 6322, milli(8), precision 4 = 0.6322 mW = -1.99 dBm; rx raw 1 = 0.0001 mW = -40 dBm
    assert one.fields == {"temperature_c": pytest.approx(25.8), "voltage_v": pytest.approx(3.31),
                          "bias_ma": pytest.approx(33.45), "tx_power_dbm": pytest.approx(-1.9915, abs=1e-4),
                          "rx_power_dbm": pytest.approx(-40), "status": 1, "thresholds": 0}
    # -1000000000 is no reading: a receiver without light has no rx_power_dbm
    assert "rx_power_dbm" not in ports["Ethernet2"].fields
    assert ports["Ethernet2"].fields["tx_power_dbm"] == pytest.approx(-6.0713, abs=1e-4)


def test_entity_sensor_dom_power_reported_in_dbm_is_taken_as_it_is():
    values = snmprec.read("arista_eos")
    sensor = "1.3.6.1.2.1.99.1.1.1."
    values.update({sensor + "1.100301213": 14, sensor + "2.100301213": 9, sensor + "3.100301213": 2,
                   sensor + "4.100301213": -1234})
    one = sp.extract(PROFILES["entity_sensor_optics"], values, TAGS, T0, sp.CounterState())
    rx = [s.fields["rx_power_dbm"] for s in one if s.measurement == "optic" and s.tags["port"] == "Ethernet1"]
    assert rx == [pytest.approx(-12.34)]


def test_cisco_dom_sensors_of_a_catalyst_9600_stack_per_port():
    """C9600 stack, IOS-XE 17.12.4: five sensors per port named "Twe1/1/0/45 Receive Power
    Sensor" (dBm, precision 1), bias in amperes at milli scale; the QSFP lane sensors and the
    chassis' power sensors are not ports."""
    ports = optics("cisco_optics", "iosxe_c9600-svl")
    assert sorted(ports) == [f"Twe{unit}/1/0/{port}" for unit in (1, 2) for port in (45, 46, 47, 48)]
    assert ports["Twe1/1/0/45"].fields == {"temperature_c": pytest.approx(20.1), "voltage_v": pytest.approx(3.3),
                                           "bias_ma": pytest.approx(26.1), "tx_power_dbm": pytest.approx(-2.2),
                                           "rx_power_dbm": pytest.approx(-2.0), "thresholds": 0}
    assert ports["Twe1/1/0/48"].fields["rx_power_dbm"] == pytest.approx(-3.3)
    # entSensorStatus (not in this recording) of the receive power sensor becomes the port's status
    status = {"1.3.6.1.4.1.9.9.91.1.1.1.1.5.1907": 3, "1.3.6.1.4.1.9.9.91.1.1.1.1.5.1906": 1}
    assert optics("cisco_optics", "iosxe_c9600-svl", status)["Twe1/1/0/45"].fields["status"] == 3
    # a sensor whose type does not match its name gives nothing (a recording artefact seen elsewhere)
    wrong = optics("cisco_optics", "iosxe_c9600-svl", {"1.3.6.1.4.1.9.9.91.1.1.1.1.1.1907": 8})
    assert "rx_power_dbm" not in wrong["Twe1/1/0/45"].fields


# -- the engine --------------------------------------------------------------------------------

def test_log10_in_a_derived_field_and_no_value_without_a_positive_argument():
    spec = sp.DerivedSpec(field="dbm", expr="10 * log10(mw)")
    assert spec.compute({"mw": 1}) == 0
    assert spec.compute({"mw": 0.5}) == pytest.approx(-3.0103)
    assert spec.compute({"mw": 0}) is None and spec.compute({"mw": -1}) is None
    for expr in ("log(mw)", "log10(mw, 2)", "log10()", "mw.log10()", "log10(x=mw)"):
        with pytest.raises(ValueError, match="call log10|expr may use"):
            sp.DerivedSpec(field="dbm", expr=expr)


def test_merge_by_folds_rows_into_one_sample_per_tag_value_first_field_wins():
    table = sp.TableSpec.model_validate({
        "measurement": "m", "merge_by": ["port"],
        "columns": [{"oid": "1.1", "tag": "port", "kind": "text"}, {"oid": "1.2", "tag": "what", "kind": "text"},
                    {"oid": "1.3", "field": "raw", "keep": False}],
        "derived": [{"field": "a", "expr": "raw", "rows": {"include": {"what": "^a$"}}},
                    {"field": "b", "expr": "raw * 2", "rows": {"include": {"what": "^b$"}}}]})
    profile = sp.Profile(name="p", tables=(table,))
    values = {"1.1.1": b"P1", "1.2.1": b"a", "1.3.1": 5, "1.1.2": b"P1", "1.2.2": b"b", "1.3.2": 7,
              "1.1.3": b"P2", "1.2.3": b"a", "1.3.3": 1, "1.1.4": b"P1", "1.2.4": b"a", "1.3.4": 9,
              "1.2.5": b"a", "1.3.5": 3}                  # row 5 has no port: not written
    samples = sp.extract(profile, values, {"device": "d"}, T0, sp.CounterState())
    assert [(s.tags, dict(s.fields)) for s in samples] == [
        ({"device": "d", "port": "P1"}, {"a": 5, "b": 14}), ({"device": "d", "port": "P2"}, {"a": 1})]


@pytest.mark.parametrize("text,problem", [
    ("name: x\ntables: [{measurement: m, merge_by: [port], columns: [{oid: 1.3.6, field: a}]}]\n",
     "tables.0: Value error, merge_by: 'port' is not a tag of this table's columns"),
    ("name: x\nmeasurement: m\nscalars: [{oid: 1.3.6, field: a}]\n"
     "derived: [{field: b, expr: a, rows: {include: {port: x}}}]\n",
     "rows of a derived field is for tables, not scalars"),
    ("name: x\nmeasurement: m\nscalars: [{oid: 1.3.6, field: a}]\nderived: [{field: b, expr: 'log10(a, 2)'}]\n",
     "expr may call log10 with one argument only"),
])
def test_a_broken_merge_or_derived_row_filter_is_a_sentence_naming_file_and_key(tmp_path, text, problem):
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    with pytest.raises(sp.ProfileError) as caught:
        sp.load_file(path)
    assert str(caught.value).startswith(f"{path}: ") and problem in str(caught.value), str(caught.value)
