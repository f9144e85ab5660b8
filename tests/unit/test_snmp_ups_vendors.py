"""UPS cards that speak a vendor MIB instead of RFC 1628 (profiles megatec_ups: Megatec/PPC
XPPC-MIB, NetAgent cards; eaton_xups: Eaton/Santak XUPS-MIB) on recordings of real cards, and
what the rest of netvigil makes of them: the profiles write measurement `ups` (and `ups_input` /
`ups_output` rows by line) with RFC 1628's field names, units and codes, so `status`'s health
figures, the inspection record and the UPS rules read them unchanged. Reference values:
LibreNMS's sensors for the same recordings, tests/data/netagent2.json @ 5c260ee3 and
tests/data/eatonups.json @ 0fc0fc24 (tests/fixtures/snmprec/SOURCES.md)."""

from __future__ import annotations

import pytest

from lab import snmprec
from monitor.cli.tables import health_text
from monitor.health import summarise
from monitor.reports.inspection import _ups_lines
from monitor.reports.readings import Reading, enum_labels
from probes.snmp import profiles as sp

PROFILES = sp.load_all([sp.PACKAGED_PROFILES])
T0 = 1_700_000_000 * 10**9
XPPC = "1.3.6.1.4.1.935.1.1.1."


def _poll(recording: str, device_class: str = "ups", changes: dict | None = None) -> list:
    """What one poll selects and extracts, as the poller does (selection by class and sysObjectID)."""
    values = snmprec.read(recording)
    values.update(changes or {})
    chosen = sp.select(PROFILES, device_class, values.get("1.3.6.1.2.1.1.2.0"))
    samples = []
    for profile in chosen:
        samples += sp.extract(profile, values, {"device": "ups-1"}, T0, sp.CounterState())
    return samples


def _by(samples, measurement: str) -> dict:
    return {s.tags.get("line", ""): s.fields for s in samples if s.measurement == measurement}


def test_a_netagent_card_gets_the_megatec_profile_in_place_of_rfc1628():
    values = snmprec.read("netagent2")
    assert values["1.3.6.1.2.1.1.2.0"] == "1.3.6.1.4.1.935"       # recorded with a leading dot
    names = sorted(p.name for p in sp.select(PROFILES, "ups", values["1.3.6.1.2.1.1.2.0"]))
    assert names == ["megatec_ups", "system"]                      # not `ups` on top: one `ups` sample
    # The same card given another class, and other UPS cards, are unchanged.
    assert sorted(p.name for p in sp.select(PROFILES, "other", ".1.3.6.1.4.1.935")) == ["megatec_ups", "system"]
    assert sorted(p.name for p in sp.select(PROFILES, "ups", "1.3.6.1.4.1.8072.3.2.10")) == ["host", "system", "ups"]
    assert sorted(p.name for p in sp.select(PROFILES, "ups", "1.3.6.1.4.1.318.1.3.2.17")) == [
        "apc_ups", "system", "ups"]
    # Without `replaces`, the card's one RFC 1628 reading would make a second `ups` sample.
    alone = sp.extract(PROFILES["ups"], values, {"device": "ups-1"}, T0, sp.CounterState())
    assert [(s.measurement, s.fields) for s in alone] == [("ups", {"battery_voltage_v": 269.0})]


def test_megatec_profile_on_a_real_three_phase_ups():
    samples = _poll("netagent2")
    assert sum(s.measurement == "ups" for s in samples) == 1
    ups = _by(samples, "ups")[""]
    assert ups == {
        "battery_status": 2,              # upsBaseBatteryStatus batteryNormal = RFC 1628 normal
        "charge_pct": 100,                # LibreNMS: Battery Charge 100
        "battery_voltage_v": 269.0,       # the card's RFC 1628 upsBatteryVoltage; LibreNMS: 269
        "battery_temperature_c": 25.0,    # tenths; LibreNMS: Temperature 25
        "output_source": 7,               # upsBaseOutputStatus 9 onBuck -> RFC 1628 reducer
        "ppc_output_status": 9,           # the vendor's own code, kept
        "output_frequency_hz": 49.9,      # three-phase group; LibreNMS: Output frequency 49.9
    }
    assert "leak_state" not in ups and "smoke_state" not in ups   # 0: no sensor fitted
    assert _by(samples, "ups_input") == {"1": {"frequency_hz": 49.9, "voltage_v": 236.0},
                                         "2": {"voltage_v": 236.7}, "3": {"voltage_v": 237.9}}
    assert _by(samples, "ups_output") == {"1": {"voltage_v": 231.2, "load_pct": 23.5},
                                          "2": {"voltage_v": 231.3, "load_pct": 32.7},
                                          "3": {"voltage_v": 231.2, "load_pct": 32.7}}


def test_megatec_samples_have_the_types_rfc1628_samples_have():
    """One measurement, two profiles: a field must not be an integer from one and a float from
    the other (InfluxDB refuses the second type)."""
    megatec = {(s.measurement, k): type(v) for s in _poll("netagent2") for k, v in s.fields.items()}
    rfc1628 = {(s.measurement, k): type(v) for s in _poll("abbups_abbups") for k, v in s.fields.items()}
    shared = set(megatec) & set(rfc1628)
    assert {("ups", "battery_status"), ("ups", "output_source"), ("ups", "charge_pct"),
            ("ups_output", "load_pct"), ("ups_input", "voltage_v")} <= shared
    assert {key: megatec[key] for key in shared} == {key: rfc1628[key] for key in shared}


@pytest.mark.parametrize("vendor, written, name", [
    (1, 1, "other"), (2, 3, "normal"), (3, 5, "battery"), (4, 6, "booster"), (5, 2, "none"), (6, 4, "bypass"),
    (7, 2, "none"), (8, 3, "normal"), (9, 7, "reducer"),
])
def test_every_xppc_output_status_lands_on_an_rfc1628_code(vendor, written, name):
    ups = _by(_poll("netagent2", changes={XPPC + "4.1.1.0": vendor}), "ups")[""]
    assert ups["output_source"] == written and ups["ppc_output_status"] == vendor
    assert PROFILES["ups"].scalars[7].enum[written] == name     # upsOutputSource's own names
    assert "output_source" not in _by(_poll("netagent2", changes={XPPC + "4.1.1.0": 12}), "ups")[""]  # unknown code


def test_rfc1628_objects_come_first_where_the_card_has_them():
    ups = _by(_poll("netagent2", changes={"1.3.6.1.2.1.33.1.4.1.0": 5, "1.3.6.1.2.1.33.1.2.4.0": 40,
                                          XPPC + "2.2.4.0": 900}), "ups")[""]
    assert ups["output_source"] == 5 and ups["charge_pct"] == 40
    assert ups["runtime_remaining_min"] == 15       # upsSmartBatteryRunTimeRemaining is in seconds


def test_a_single_phase_unit_has_line_1_from_the_smart_group():
    three_phase = [oid for oid in snmprec.read("netagent2") if oid.startswith(XPPC + "8.")]
    samples = _poll("netagent2", changes=dict.fromkeys(three_phase))
    assert _by(samples, "ups_input") == {"1": {"frequency_hz": 50.0, "voltage_v": 254.5}}
    assert _by(samples, "ups_output") == {"1": {"voltage_v": 228.5, "load_pct": 44}}
    assert _by(samples, "ups")[""]["output_frequency_hz"] == 50.0


def test_the_enum_names_other_code_reads_are_rfc1628s():
    """The inspection record names codes by the first profile naming them: a vendor profile
    must name the shared fields exactly as RFC 1628 does."""
    labels = enum_labels()
    assert labels[("ups", "output_source")] == dict(PROFILES["ups"].scalars[7].enum)
    assert labels[("ups", "battery_status")] == dict(PROFILES["ups"].scalars[0].enum)


def test_status_health_reads_the_netagent_ups_like_any_other():
    health = summarise((s.measurement, s.tags, s.fields) for s in _poll("netagent2"))
    assert health == {"power": "mains", "battery": "normal", "charge_pct": 100, "load_pct": 32.7}
    assert health_text(health) == "on mains, battery normal, charge 100 %, load 32.7 %"
    on_battery = summarise((s.measurement, s.tags, s.fields)
                           for s in _poll("netagent2", changes={XPPC + "4.1.1.0": 3, XPPC + "2.1.1.0": 3}))
    assert on_battery["power"] == "battery" and on_battery["battery"] == "low"


def test_the_inspection_record_reads_the_netagent_ups():
    readings = [Reading("ups-1", s.measurement, s.tags, s.fields, s.time_ns) for s in _poll("netagent2")]
    (line,) = _ups_lines(readings, {"ups-1": "room"})
    assert (line.source, line.battery, line.charge_pct, line.load_pct, line.input_v) == (
        "reducer", "normal", 100, 32.7, 236.0)   # worst output line's load, lowest input line's voltage
    assert not line.normal                       # on buck: regulating high mains, as for RFC 1628 cards
    readings = [Reading("ups-1", s.measurement, s.tags, s.fields, s.time_ns)
                for s in _poll("netagent2", changes={XPPC + "4.1.1.0": 2})]
    (line,) = _ups_lines(readings, {"ups-1": "room"})
    assert line.source == "normal" and line.normal


# -- the profile language: map, replaces, scalar_rows ------------------------------------------

def test_map_is_for_enums_and_writes_only_named_codes(tmp_path):
    def load(text):
        path = tmp_path / "p.yaml"
        path.write_text(text)
        return sp.load_file(path)

    with pytest.raises(sp.ProfileError, match="map is for kind: enum"):
        load("name: p\nmeasurement: m\nscalars: [{oid: 1.3.6.1.0, field: a, map: {1: 2}}]\n")
    with pytest.raises(sp.ProfileError, match=r"map writes codes \[9\] that enum does not name"):
        load("name: p\nmeasurement: m\nscalars: [{oid: 1.3.6.1.0, field: a, kind: enum, enum: {1: x}, "
             "map: {1: 9}}]\n")
    with pytest.raises(sp.ProfileError, match="scalar_rows.0.tags"):
        load("name: p\nscalar_rows: [{measurement: m, tags: {}, scalars: [{oid: 1.3.6.1.0, field: a}]}]\n")
    profile = load("name: p\nmatch: {replaces: [ups]}\nscalar_rows: [{measurement: m, tags: {line: '1'}, "
                   "scalars: [{oid: 1.3.6.1.0, field: a}, {oid: 1.3.6.2.0, field: b}]}]\n")
    assert profile.scalar_oids() == ["1.3.6.1.0", "1.3.6.2.0"]
    samples = sp.extract(profile, {"1.3.6.2.0": 7, "1.3.6.1.0": b"x"}, {"device": "d"}, T0, sp.CounterState(),
                         wrong_types=(wrong := sp.WrongTypes()))
    assert [(s.measurement, s.tags, s.fields) for s in samples] == [("m", {"device": "d", "line": "1"}, {"b": 7.0})]
    assert wrong.count == 1 and wrong.first[:3] == ("1.3.6.1.0", "p", "a")
    assert sp.extract(profile, {}, {"device": "d"}, T0, sp.CounterState()) == []   # no reading, no row


def test_replaces_drops_only_what_the_selected_profile_names():
    profiles = {name: PROFILES[name] for name in ("system", "ups", "megatec_ups", "host")}
    assert sorted(p.name for p in sp.select(profiles, "ups", "1.3.6.1.4.1.935.10")) == ["megatec_ups", "system"]
    assert sorted(p.name for p in sp.select(profiles, "ups", "1.3.6.1.4.1.9350")) == ["system", "ups"]


def test_replaces_naming_no_profile_is_a_sentence_naming_file_and_key(tmp_path):
    (tmp_path / "site_ups.yaml").write_text("name: site_ups\nmatch: {sysobjectid: [1.3.6.1.4.1.99999], "
                                           "replaces: [usp]}\n")
    with pytest.raises(sp.ProfileError) as caught:
        sp.load_all([sp.PACKAGED_PROFILES, tmp_path])
    assert str(caught.value).startswith(f"{tmp_path / 'site_ups.yaml'}: match.replaces: no profile named 'usp'; "
                                        "known: akcp, apc_ups, ")


# -- Eaton / Santak (XUPS-MIB) -------------------------------------------------------------------

XUPS = "1.3.6.1.4.1.534.1."


def test_an_eaton_connectups_card_gets_the_xups_profile_in_place_of_rfc1628():
    values = snmprec.read("eatonups")
    assert sorted(p.name for p in sp.select(PROFILES, "ups", values["1.3.6.1.2.1.1.2.0"])) == ["eaton_xups", "system"]
    samples = _poll("eatonups")
    # LibreNMS: Battery Charge 100, Input and Output frequency 50 (divisor 10), Output current 1,
    # Power Usage 231 W.
    assert _by(samples, "ups") == {"": {"charge_pct": 100, "battery_voltage_v": 78, "output_frequency_hz": 50.0,
                                        "input_frequency_hz": 50.0}}
    assert _by(samples, "ups_input") == {"1": {"voltage_v": 228}}
    assert _by(samples, "ups_output") == {"1": {"voltage_v": 230, "current_a": 1, "power_w": 231}}
    # No state in this recording: nothing to call normal or not, and no alarm.
    health = summarise((s.measurement, s.tags, s.fields) for s in samples)
    assert health == {"charge_pct": 100}


def test_on_a_card_that_speaks_rfc1628_the_xups_profile_writes_what_ups_writes():
    """Cards of the last decade answer both MIBs: taking `ups`'s place loses nothing (the ABB
    card's RFC 1628 recording through both profiles)."""
    values = snmprec.read("abbups_abbups")
    def comparable(profile):
        return sorted((s.measurement, sorted(s.tags.items()), sorted(s.fields.items()))
                      for s in sp.extract(PROFILES[profile], values, {"device": "d"}, T0, sp.CounterState()))
    assert comparable("eaton_xups") == comparable("ups")
    assert len(comparable("ups")) == 7      # ups, three input and three output lines


@pytest.mark.parametrize("vendor, written", [
    (1, 1), (2, 2), (3, 3), (4, 4), (5, 5), (6, 6), (7, 7), (8, 3), (9, 3), (10, 3), (11, 4), (12, 3),
])
def test_every_xups_output_source_lands_on_an_rfc1628_code(vendor, written):
    ups = _by(_poll("eatonups", changes={XUPS + "4.5.0": vendor}), "ups")[""]
    assert ups["output_source"] == written and ups["xups_output_source"] == vendor


def test_xups_states_runtime_alarms_and_total_load():
    samples = _poll("eatonups", changes={XUPS + "2.10.0": 1, XUPS + "2.1.0": 3155, XUPS + "7.1.0": 2,
                                         XUPS + "2.5.0": 4, XUPS + "4.1.0": 19, XUPS + "4.5.0": 5})
    ups = _by(samples, "ups")[""]
    assert (ups["battery_status"], ups["runtime_remaining_min"], ups["alarms_present"],
            ups["xups_battery_abm_status"]) == (3, pytest.approx(52.583333333), 2, 4)
    assert _by(samples, "ups_output")["total"] == {"load_pct": 19}
    health = summarise((s.measurement, s.tags, s.fields) for s in samples)
    assert (health["power"], health["battery"], health["load_pct"]) == ("battery", "low", 19)
    readings = [Reading("ups-1", s.measurement, s.tags, s.fields, s.time_ns) for s in samples]
    (line,) = _ups_lines(readings, {"ups-1": "room"})
    assert (line.source, line.battery, line.load_pct, line.input_v, line.normal) == ("battery", "low", 19, 228, False)


# -- Huawei UPS2000: RFC 1628 under Huawei's own sysObjectID ----------------------------------------

def test_a_huawei_ups2000_card_is_read_by_the_rfc1628_profile():
    """Its card answers RFC 1628 in full (and no HUAWEI-UPS-MIB object in the recording), so no
    vendor profile: `ups` by class, nothing selected by its sysObjectID (2011.6.174 is not a
    VRP switch's 2011.2 or 2011.10)."""
    values = snmprec.read("huaweiups_ups2000")
    assert sorted(p.name for p in sp.select(PROFILES, "ups", values["1.3.6.1.2.1.1.2.0"])) == ["system", "ups"]
    samples = _poll("huaweiups_ups2000")
    assert _by(samples, "ups") == {"": {"battery_status": 2, "seconds_on_battery_s": 0, "charge_pct": 100,
                                        "battery_voltage_v": 270.7, "battery_current_a": 0.4,
                                        "battery_temperature_c": 21, "output_source": 3,
                                        "output_frequency_hz": 50.0}}     # runtime 4294967295: no reading
    assert _by(samples, "ups_input") == {"1": {"frequency_hz": 50.0, "voltage_v": 233}}
    assert _by(samples, "ups_output") == {"1": {"voltage_v": 230, "current_a": 7.2, "power_w": 1, "load_pct": 27}}
    health = summarise((s.measurement, s.tags, s.fields) for s in samples)
    assert health_text(health) == "on mains, battery normal, charge 100 %, load 27 %"
