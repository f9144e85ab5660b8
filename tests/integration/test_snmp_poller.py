"""The SNMP poller end to end: real agents (net-snmp snmpd; snmpsim replaying recordings of
real devices), profiles selected by class and sysObjectID, counters turned into rates,
reboots, dead and broken agents. Each test's agents are its own or the session's read-only
ones from lab/snmplab.py."""

from __future__ import annotations

import asyncio
import logging
import socket
import time

import pytest

from probes.snmp import profiles as snmp_profiles
from probes.base import ResultCode, Target
from probes.snmp.poller import ErrorCode, SnmpPoller
from probes.snmp.client import SnmpClient
from probes.snmp.settings import SnmpSettings
from lab import snmprec
from lab.netlab import drop_input, loopback_addresses, nft_table
from lab.snmplab import ALL_RECORDINGS, COMMUNITY, recording_path
from lab.support import require_root, wait_until
from lab.udpfake import UdpResponder, hostile_agent

pytestmark = pytest.mark.integration

PROFILES = snmp_profiles.load_all([snmp_profiles.PACKAGED_PROFILES])
IF_HC_IN_OCTETS = "1.3.6.1.2.1.31.1.1.1.6"
IF_TABLE, IF_X_TABLE = "1.3.6.1.2.1.2.2", "1.3.6.1.2.1.31.1.1"

# The class an operator would give each recorded device (unknown ones: `other`, so only the
# sysObjectID selects).
RECORDING_CLASSES = {
    "abbups_abbups": "ups", "aix_net-snmp": "server", "Cisco_sfe2000": "switch", "openwrt": "router",
    "hwg-poseidon": "env_sensor", "apc_surt3000xl": "ups", "apc_netbotz": "env_sensor", "hikvision-nvr": "nvr",
    "hikvision": "nvr", "dahua-nvr": "nvr", "vccodec": "codec", "vrp": "switch", "vrp_ar169fgwl": "router",
    "comware_h3c": "switch", "arista_eos": "switch", "comware": "switch", "hikvision-cam": "camera",
    "linux_lsi": "server", "netagent2": "ups", "eatonups": "ups",
    "huaweiups_ups2000": "ups",
    "vrp_5720": "switch", "vrp_ne8000-m8": "router", "comware_transceivers": "switch", "iosxe_c9600-svl": "switch",
}


def settings(port: int, community: str = COMMUNITY, **changes) -> SnmpSettings:
    values = {"credentials": {"lab": {"version": "v2c", "community": community}}, "credential": "lab",
              "port": port, "timeout_s": 1.0, "retries": 1, **changes}
    return SnmpSettings.model_validate(values)


def target(name: str, address: str, device_class: str) -> Target:
    return Target(name, address, {"device": name, "address": address, "class": device_class, "site": "room"})


@pytest.fixture
async def poller():
    client = SnmpClient()
    yield SnmpPoller(client, PROFILES)
    client.close()


def comparable(samples) -> list[tuple]:
    return sorted((s.measurement, tuple(sorted(s.tags.items())), tuple(sorted(s.fields.items())))
                  for s in samples if s.measurement != "snmp")


def by_measurement(samples) -> dict[str, list]:
    out: dict = {}
    for sample in samples:
        out.setdefault(sample.measurement, []).append(sample)
    return out


# --- every recording, through the wire ---------------------------------------------------------

@pytest.mark.parametrize("recording", ALL_RECORDINGS)
async def test_a_poll_through_snmpsim_gives_what_the_profiles_read_from_the_recording(snmpsim, poller, recording):
    """The poller fetches exactly what its profiles need (GET + walks) and the samples are the
    same as the profiles applied to the whole recording file: nothing lost on the wire, no OID
    forgotten in scalar_oids/walk_roots, values typed the same."""
    device_class = RECORDING_CLASSES.get(recording, "other")
    host, port = snmpsim.endpoint
    device = target(recording, host, device_class)
    result = await poller.poll(device, settings(port, community=recording))

    values = snmprec.read(recording)
    chosen = snmp_profiles.select(PROFILES, device_class, values.get("1.3.6.1.2.1.1.2.0"), values)
    assert sorted(result.profiles) == sorted(profile.name for profile in chosen)
    expected = []
    counters = snmp_profiles.CounterState()
    for profile in sorted(chosen, key=lambda p: (p.name != "system", p.name)):
        expected += snmp_profiles.extract(profile, values, device.tags, result.samples[0].time_ns, counters)
    assert comparable(result.samples) == comparable(expected)

    # Some recordings hold nothing but sysDescr and sysObjectID (or nothing the profiles read):
    # an agent that answers and tells nothing about the device's health is `no_data`, not ok;
    # one without the system group is `no_system_group`.
    empty = [profile.name for profile in sorted(chosen, key=lambda p: (p.name != "system", p.name))
             if profile.name != "system" and found_nothing(profile, values)]
    no_system = not {"1.3.6.1.2.1.1.1.0", "1.3.6.1.2.1.1.2.0", "1.3.6.1.2.1.1.3.0", "1.3.6.1.2.1.1.5.0"} & set(values)
    no_data = not no_system and bool(empty) and len(empty) == len(chosen) - ("system" in result.profiles)
    assert list(result.empty) == empty
    status = result.samples[-1]
    assert status.measurement == "snmp"
    assert status.fields["up"] == 1 and status.fields["profiles"] == len(chosen)
    assert status.fields["profiles_empty"] == len(empty)
    assert status.tags.get("empty_profiles") == (",".join(empty) if empty else None)
    if no_system:
        assert (status.fields["result_code"], status.fields["error_code"]) == (4, 15), result.error
    elif no_data:
        assert (status.fields["result_code"], status.fields["error_code"]) == (4, 14), result.error
        assert result.error.detail.startswith(
            f"SNMP: no data: the agent answered, but the profiles {', '.join(empty)} found nothing on it")
    else:
        assert result.error is None, result.error
        assert (status.fields["result_code"], status.fields["error_code"]) == (0, 0)


def found_nothing(profile, values) -> bool:
    """The profile writes no sample from the recording."""
    return not snmp_profiles.extract(profile, values, {"device": "d"}, 0, snmp_profiles.CounterState())


def test_the_recordings_without_health_data_are_the_ones_the_poll_calls_no_data():
    """The recordings of real devices that answered with nothing but their system group (as the
    agents of real Hikvision cameras, H3C and Huawei switches did), named, so the parametrised
    test above does not pass by finding "no data" nowhere."""
    no_data = []
    for recording in ALL_RECORDINGS:
        values = snmprec.read(recording)
        chosen = snmp_profiles.select(PROFILES, RECORDING_CLASSES.get(recording, "other"),
                                      values.get("1.3.6.1.2.1.1.2.0"))
        others = [profile for profile in chosen if profile.name != "system"]
        if others and all(found_nothing(profile, values) for profile in others):
            no_data.append(recording)
    assert {"comware_h3c", "vrp"} <= set(no_data), no_data
    assert "vccodec" not in no_data  # cisco_tp reads model and software from sysDescr


async def test_an_apc_ups_poll_has_its_real_readings(snmpsim, poller):
    host, port = snmpsim.endpoint
    result = await poller.poll(target("ups-1", host, "ups"), settings(port, community="apc_surt3000xl"))
    assert "apc_ups" in result.profiles
    ups = by_measurement(result.samples)["apc_ups"][0].fields
    assert ups["capacity_pct"] == 100
    assert ups["runtime_remaining_min"] > 0


async def test_a_camera_without_a_system_group_still_gets_its_profile_and_data(snmpsim, poller):
    """hikvision-cam answers noSuchObject for the whole system group: the device is up, its
    class selects hikvision_camera (its agent has deviceType), and the values are written."""
    host, port = snmpsim.endpoint
    result = await poller.poll(target("cam-1", host, "camera"), settings(port, community="hikvision-cam"))
    assert result.sys_object_id is None
    assert sorted(result.profiles) == ["hikvision_camera", "system"]
    found = by_measurement(result.samples)
    assert "snmp_system" not in found
    [camera] = found["hikvision_camera"]
    assert (camera.tags["model"], camera.tags["software"]) == ("DS-2CD2185FWD-I", "V5.5.3 build 171025")
    assert camera.fields == {"cpu_pct": 15, "mem_used_pct": 83, "mem_total_mb": 512, "sd_size_gb": 0, "sd_used_pct": 0}
    assert found["snmp"][0].fields["up"] == 1
    # The second poll reads the camera's values again, without selecting anew.
    again = by_measurement((await poller.poll(target("cam-1", host, "camera"),
                                              settings(port, community="hikvision-cam"))).samples)
    assert again["hikvision_camera"][0].fields["cpu_pct"] == 15


async def test_a_server_with_megaraid_controllers_and_one_without(snmpsim, poller):
    """linux_lsi: three MegaRAID controllers, 92 disks, two CacheVaults, memory from hrStorage
    without buffers and cache. aix_net-snmp, also a server, has no MegaRAID agent: it does not
    get the profile, so no walk of the RAID tables is spent on it."""
    host, port = snmpsim.endpoint
    result = await poller.poll(target("srv-1", host, "server"), settings(port, community="linux_lsi"))
    assert result.error is None, result.error
    assert "megaraid" in result.profiles
    found = by_measurement(result.samples)
    assert len(found["raid_disk"]) == 92 and len(found["raid_bbu"]) == 2 and len(found["raid_enclosure"]) == 4
    assert sorted(s.fields["temperature_c"] for s in found["raid_controller"]) == [55, 71, 74]
    assert found["snmp_host"][0].fields["mem_used_pct"] == pytest.approx((87508416 - 215652 - 763148) / 131714596 * 100)
    other = await poller.poll(target("srv-2", host, "server"), settings(port, community="aix_net-snmp"))
    assert other.error is None and "megaraid" not in other.profiles
    assert not {"raid_controller", "raid_disk", "raid_bbu", "raid_enclosure"} & set(by_measurement(other.samples))


async def test_a_port_without_ifhighspeed_gets_speed_from_ifspeed_over_the_wire(snmpsim, poller):
    host, port = snmpsim.endpoint
    result = await poller.poll(target("nvr-1", host, "nvr"), settings(port, community="dahua-nvr"))
    [eth0] = by_measurement(result.samples)["snmp_if"]
    assert eth0.tags["descr"] == "eth0" and eth0.fields["speed_mbps"] == 100
    assert by_measurement(result.samples)["dahua"][0].fields["status"] == 1
async def test_optical_levels_of_three_vendors_through_snmpsim_in_one_measurement(snmpsim, poller):
    """One `optic` sample per port with a module, same fields and units whatever the MIB: a
    Huawei NE8000 (hundredths of dBm), an S5720 (microwatts, lane text), an HP FF 5700
    (HH3C-TRANSCEIVER-INFO-MIB), an Arista 7050 (ENTITY-SENSOR-MIB, five sensor rows per port)
    and a Catalyst 9600 stack (CISCO-ENTITY-SENSOR-MIB, likewise)."""
    host, port = snmpsim.endpoint
    optics = {}
    for recording, device_class in (("vrp_ne8000-m8", "router"), ("vrp_5720", "switch"),
                                    ("comware_transceivers", "switch"), ("arista_eos", "switch"),
                                    ("iosxe_c9600-svl", "switch")):
        result = await poller.poll(target(recording, host, device_class), settings(port, community=recording))
        assert result.error is None, result.error
        optics[recording] = {s.tags["port"]: s.fields for s in by_measurement(result.samples)["optic"]}
    ne8000, s5720, ff5700, arista, c9600 = (optics[name] for name in optics)
    assert len(ne8000) == 9 and len(s5720) == 3 and len(ff5700) == 22 and len(arista) == 32 and len(c9600) == 8
    assert ne8000["GigabitEthernet0/7/1"]["rx_power_dbm"] == -16.84
    assert ne8000["GigabitEthernet0/7/1"]["rx_power_low_alarm_dbm"] == -26.02
    assert ne8000["GigabitEthernet0/7/3"]["rx_power_dbm"] == -40          # no light
    assert s5720["XGigabitEthernet0/0/2"]["rx_power_dbm"] == pytest.approx(-2.1875)
    assert s5720["XGigabitEthernet0/0/2"]["bias_ma"] == pytest.approx(6.29)
    assert ff5700["Ten-GigabitEthernet8/0/16"]["rx_power_dbm"] == pytest.approx(-14.85)
    assert ff5700["Ten-GigabitEthernet8/0/16"]["rx_margin_db"] == pytest.approx(5.15)
    assert arista["Ethernet1"]["tx_power_dbm"] == pytest.approx(-1.9915, abs=1e-4)
    assert arista["Ethernet1"]["bias_ma"] == pytest.approx(33.45)
    assert c9600["Twe2/1/0/46"] == {"temperature_c": 21.7, "voltage_v": 3.3, "bias_ma": 27, "tx_power_dbm": -2.5,
                                    "rx_power_dbm": -1.6, "thresholds": 0}
    fields = {"rx_power_dbm", "tx_power_dbm", "bias_ma", "temperature_c", "voltage_v"}
    assert all(fields <= set(port_fields)
               for port_fields in (*ne8000.values(), *s5720.values(), *ff5700.values(), *c9600.values()))


# --- a real agent: rates, filters, reboots ------------------------------------------------------

def _loopback_traffic(total_bytes: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        receiver.bind(("127.0.0.1", 0))
        for _ in range(total_bytes // 1000):
            sender.sendto(b"x" * 1000, receiver.getsockname())


LO_ONLY = {"interfaces": {"include": {"name": "^lo$"}, "exclude": {}}}


async def test_counters_become_rates_from_the_second_poll_on(snmpd, poller):
    device = target("server-1", snmpd.address, "server")
    config = settings(snmpd.port, **LO_ONLY)
    first = by_measurement((await poller.poll(device, config)).samples)
    assert [s.tags["name"] for s in first["snmp_if"]] == ["lo"]  # the filter: only lo, loopback included
    assert "in_bps" not in first["snmp_if"][0].fields         # one reading is not a rate
    index = first["snmp_if"][0].tags["index"]
    before = snmpd.get(f"{IF_HC_IN_OCTETS}.{index}")[f"{IF_HC_IN_OCTETS}.{index}"].int
    started = time.monotonic()
    _loopback_traffic(400_000)
    # snmpd caches interface counters for a few seconds: wait until it shows the traffic.
    wait_until(lambda: snmpd.get(f"{IF_HC_IN_OCTETS}.{index}")[f"{IF_HC_IN_OCTETS}.{index}"].int
               >= before + 400_000, timeout_s=15, what="snmpd to show the loopback traffic")
    second = by_measurement((await poller.poll(device, config)).samples)
    elapsed = time.monotonic() - started
    port = second["snmp_if"][0].fields
    assert port["oper_status"] == 1
    # At least the 400 kB this test sent went in through lo between the two readings, which
    # were at most `elapsed` + the first poll's duration apart.
    assert port["in_bps"] >= 400_000 * 8 / (elapsed + 1.0)
    assert port["in_bps"] < 10e9
    host = second["snmp_host"][0].fields
    assert 0 <= host["mem_used_pct"] <= 100
    storages = {s.tags["name"]: s.fields for s in second["snmp_storage"]}
    assert "Physical memory" in storages
    assert 0 < storages["Physical memory"]["used_pct"] <= 100


async def test_without_a_filter_loopbacks_are_left_out(snmpd, poller):
    result = await poller.poll(target("server-1", snmpd.address, "server"), settings(snmpd.port))
    names = [s.tags.get("name") for s in by_measurement(result.samples).get("snmp_if", [])]
    assert "lo" not in names


# serial: uptime_s < 1.0 right after the restart only holds when the restart and the poll are not
# held up by other tests busy on the same CPUs.
@pytest.mark.serial
async def test_a_reboot_gives_a_reboot_sample_and_no_bogus_rates(private_snmpd, poller):
    device = target("server-1", private_snmpd.address, "server")
    config = settings(private_snmpd.port, **LO_ONLY)
    # Uptime well above what it will be right after the restart, even on a loaded machine where
    # the restart itself takes a second or two.
    await asyncio.sleep(3.0)
    await poller.poll(device, config)
    second = by_measurement((await poller.poll(device, config)).samples)
    assert second["snmp_system"][0].fields["rebooted"] == 0
    assert "in_bps" in second["snmp_if"][0].fields
    restarted = time.monotonic()
    private_snmpd.restart()  # sysUpTime starts again from 0
    after = by_measurement((await poller.poll(device, config)).samples)
    assert after["snmp_system"][0].fields["rebooted"] == 1
    # The new agent's uptime, not the old one's: no more than the time since the restart began
    # (TimeTicks are hundredths, hence the 0.01).
    assert after["snmp_system"][0].fields["uptime_s"] <= time.monotonic() - restarted + 0.01
    assert after["snmp_system"][0].fields["uptime_s"] < second["snmp_system"][0].fields["uptime_s"]
    assert "in_bps" not in after["snmp_if"][0].fields  # counters may have restarted: no rate across a reboot
    later = by_measurement((await poller.poll(device, config)).samples)
    assert later["snmp_system"][0].fields["rebooted"] == 0
    assert "in_bps" in later["snmp_if"][0].fields


# --- failures are data -----------------------------------------------------------------------------

async def test_wrong_community_is_a_timeout_and_the_sentence_holds_no_secret(snmpd, poller, caplog):
    caplog.set_level(logging.DEBUG)
    result = await poller.poll(target("sw-1", snmpd.address, "switch"),
                               settings(snmpd.port, community="not-" + COMMUNITY, timeout_s=0.3, retries=0))
    status = result.samples[-1].fields
    assert len(result.samples) == 1
    assert (status["up"], status["result_code"], status["error_code"]) == (0, ResultCode.TIMEOUT, ErrorCode.TIMEOUT)
    assert status["requests"] == 1  # no walk was tried after the agent did not answer
    assert "no answer" in result.error.detail and "community" in result.error.detail
    assert COMMUNITY not in result.error.detail and COMMUNITY not in caplog.text


# serial: the healthy poll must end within 1 s, which other tests busy on the same CPUs can stretch.
@pytest.mark.serial
@pytest.mark.root
async def test_a_dropped_device_does_not_delay_the_others(snmpd, snmpd_factory, poller):
    require_root()
    address = loopback_addresses(1)[0]
    dead = snmpd_factory(address, users=())
    errors = []
    config = settings(snmpd.port, timeout_s=1.0, retries=1)
    per_device = {"alive": config, "dead": settings(dead.port, timeout_s=1.0, retries=1)}
    with nft_table([drop_input(address, f"udp dport {dead.port}")]):
        samples = await poller.probe([target("dead", address, "server"), target("alive", snmpd.address, "server")],
                                     per_device.get, on_error=lambda t, e: errors.append((t.device, e.detail)))
    status = {s.tags["device"]: s.fields for s in samples if s.measurement == "snmp"}
    assert status["dead"]["up"] == 0 and status["dead"]["error_code"] == ErrorCode.TIMEOUT
    assert status["dead"]["requests"] == 2  # one GET and its retry; no table was walked
    assert status["alive"]["up"] == 1 and status["alive"]["error_code"] == 0
    # The healthy agent's poll finished while the dead one was still waiting out its first timeout.
    assert status["alive"]["duration_ms"] < 1000
    assert [device for device, _ in errors] == ["dead"]
    assert any(s.measurement == "snmp_host" and s.tags["device"] == "alive" for s in samples)


def garbage_agent() -> UdpResponder:
    """Answers every request with a truncated SNMP message carrying no request id we sent.

    A fake because no real agent sends broken packets on demand; the poller must report the
    device as malformed rather than as merely silent, and go on.
    """
    return UdpResponder(lambda request: [request[:7]])  # a valid start, cut short


async def test_an_agent_sending_garbage_is_malformed_and_others_go_on(snmpd, poller):
    garbage = garbage_agent()
    try:
        per_device = {"broken": settings(garbage.port, timeout_s=0.5, retries=0), "fine": settings(snmpd.port)}
        errors = {}
        samples = await poller.probe([target("broken", "127.0.0.1", "switch"), target("fine", "127.0.0.1", "server")],
                                     per_device.get, on_error=lambda t, e: errors.setdefault(t.device, e.detail))
    finally:
        garbage.stop()
    status = {s.tags["device"]: s.fields for s in samples if s.measurement == "snmp"}
    assert status["broken"]["error_code"] == ErrorCode.MALFORMED
    assert status["broken"]["result_code"] == ResultCode.ERROR
    assert "not valid SNMP responses" in errors["broken"]
    assert status["fine"]["error_code"] == 0
    assert "fine" not in errors


async def test_an_enormous_table_is_that_devices_error_and_the_rest_is_written(snmpd, tmp_path):
    (tmp_path / "everything.yaml").write_text(
        "name: everything\nmatch: {classes: [server]}\n"
        "tables:\n  - measurement: everything\n    columns:\n      - {oid: 1.3.6.1.2.1, tag: value, kind: text}\n")
    profiles = snmp_profiles.load_all([snmp_profiles.PACKAGED_PROFILES, tmp_path])
    client = SnmpClient()
    try:
        result = await SnmpPoller(client, profiles).poll(target("server-1", snmpd.address, "server"),
                                                         settings(snmpd.port, max_walk_varbinds=100))
    finally:
        client.close()
    status = result.samples[-1].fields
    assert (status["up"], status["error_code"]) == (1, ErrorCode.TOO_MANY_ROWS)
    assert ("the agent returned more than 100 rows for table everything (profile everything, column 1.3.6.1.2.1); "
            "none of its rows were written; raise probes.snmp.max_walk_varbinds or check the agent"
            ) in result.error.detail
    written = by_measurement(result.samples)
    assert "everything" not in written  # not the first 100 rows, as if that were the whole table
    assert status["tables_dropped"] == 1
    assert "snmp_system" in written and "snmp_host" in written and "snmp_if" in written  # the rest still counts


# --- hostile and broken agents: bounds on what one device may write ---------------------------------

# serial: the real snmpd behind the hostile agent answers within the 0.5 s timeout only when other
# tests are not busy on the same CPUs; a timeout would be a different error than the one asserted.
@pytest.mark.serial
@pytest.mark.parametrize("behaviour, error_code, sentence", [
    ("ever-longer", "INDEX_TOO_LONG",
     "the agent returned a row index of more than 64 sub-identifiers for table snmp_if (profile if, column "),
    ("endless", "TOO_MANY_ROWS",
     "the agent returned more than 10000 rows for table snmp_if (profile if, column "),
    ("malformed-after", "MALFORMED", "SNMP table walk: malformed: "),
])
async def test_a_hostile_agent_gets_none_of_its_invented_rows_written(snmpd, poller, behaviour, error_code, sentence):
    """The agent answers the walks of ifTable and ifXTable with rows it invents each poll (endless
    random indexes, ever-longer random OIDs) or breaks off half way with a malformed answer; the
    rest (system group, host resources) comes from a real snmpd. A fake: no real agent behaves
    like this on demand (lab/udpfake.py). Before the bounds, every invented row became a
    series: thousands per poll, new ones each poll."""
    agent = hostile_agent(snmpd.endpoint, behaviour, subtrees=(IF_TABLE, IF_X_TABLE))
    device = target("server-1", "127.0.0.1", "server")
    try:
        results = [await poller.poll(device, settings(agent.port, timeout_s=0.5, retries=0)) for _ in range(2)]
    finally:
        agent.stop()
    for result in results:
        written = by_measurement(result.samples)
        assert "snmp_if" not in written, f"{len(written['snmp_if'])} rows of a table the agent invented or broke off"
        assert {"snmp_system", "snmp_host", "snmp_storage"} <= set(written)  # the real tables are still written
        status = result.samples[-1].fields
        assert (status["up"], status["result_code"], status["error_code"]) == (1, ResultCode.ERROR,
                                                                               ErrorCode[error_code])
        assert status["tables_dropped"] == 1
        assert sentence in result.error.detail, result.error.detail
        assert COMMUNITY not in result.error.detail
    if behaviour == "malformed-after":
        assert "table snmp_if (profile if) not written" in results[0].error.detail
    else:
        assert "none of its rows were written; raise probes.snmp.max_" in results[0].error.detail
    assert agent.walk_requests < 1000  # a doomed table's other columns are not walked


async def test_a_device_with_more_rows_than_max_rows_per_device_gets_the_table_that_crossed_left_out(snmpd, poller):
    device = target("server-1", snmpd.address, "server")
    unbounded = await poller.poll(device, settings(snmpd.port))
    rows = unbounded.samples[-1].fields["rows"]
    written = by_measurement(unbounded.samples)
    assert {"snmp_storage", "snmp_if"} <= set(written) and unbounded.samples[-1].fields["tables_dropped"] == 0
    # Tables are counted in profile order (system; host: snmp_cpu, which this snmpd leaves empty,
    # snmp_storage; if: snmp_if): one row fewer than the device has leaves the last table out, whole.
    bounded = await poller.poll(device, settings(snmpd.port, max_rows_per_device=rows - 1))
    written = by_measurement(bounded.samples)
    assert "snmp_if" not in written
    assert {"snmp_system", "snmp_host", "snmp_storage"} <= set(written)
    status = bounded.samples[-1].fields
    assert (status["result_code"], status["error_code"], status["tables_dropped"]) == (
        ResultCode.ERROR, ErrorCode["TOO_MANY_ROWS_DEVICE"], 1)
    assert status["rows"] < rows
    assert bounded.error.detail == (
        f"the agent returned more than {rows - 1} table rows in this poll; table snmp_if (profile if) was not "
        "written; raise probes.snmp.max_rows_per_device or check the agent")


async def test_a_table_over_max_rows_per_table_is_left_out_whole(snmpd, poller):
    device = target("server-1", snmpd.address, "server")
    storages = len(by_measurement((await poller.poll(device, settings(snmpd.port))).samples)["snmp_storage"])
    assert storages >= 3
    result = await poller.poll(device, settings(snmpd.port, max_rows_per_table=storages - 1))
    written = by_measurement(result.samples)
    assert "snmp_storage" not in written
    assert {"snmp_if", "snmp_host"} <= set(written)
    assert result.samples[-1].fields["error_code"] == ErrorCode.TOO_MANY_ROWS
    assert (f"more than {storages - 1} rows for table snmp_storage (profile host, column 1.3.6.1.2.1.25.2.3.1."
            in result.error.detail)
    assert "raise probes.snmp.max_rows_per_table or check the agent" in result.error.detail


def _with_line(recording: str, oid: str, tag_and_value: str) -> str:
    """Recording `recording` with the value of `oid` replaced (its other lines as recorded)."""
    lines = recording_path(recording).read_text().splitlines()
    replaced = [f"{oid}|{tag_and_value}" if line.split("|", 1)[0] == oid else line for line in lines]
    assert replaced != lines, f"{oid} is not in {recording}"
    return "\n".join(replaced) + "\n"


async def test_a_value_of_the_wrong_type_is_a_visible_error_naming_the_oid_and_field(snmpsim_factory, poller):
    """A real UPS recording (abbups) served by snmpsim with one value of the wrong type: the
    charge as an OctetString "full" where UPS-MIB has an INTEGER (a firmware bug seen on UPS
    cards). It used to vanish with error_code 0."""
    charge = "1.3.6.1.2.1.33.1.2.4.0"
    sim = snmpsim_factory(extra_files={"ups_wrong_type": _with_line("abbups_abbups", charge, "4|full")})
    host, port = sim.endpoint
    result = await poller.poll(target("ups-1", host, "ups"), settings(port, community="ups_wrong_type"))
    ups = by_measurement(result.samples)["ups"][0].fields
    assert "charge_pct" not in ups
    assert ups["runtime_remaining_min"] == 452  # the rest of the sample is still written
    status = result.samples[-1].fields
    assert (status["up"], status["result_code"], status["error_code"], status["wrong_type"]) == (
        1, ResultCode.ERROR, ErrorCode["WRONG_TYPE"], 1)
    assert result.error.detail == (
        f"SNMP value of the wrong type: {charge} (profile ups, field charge_pct) is an OCTET STRING ('full'), "
        "expected a number (INTEGER, Gauge32, Counter32, Counter64, TimeTicks, or text starting with one); "
        "the field was not written")


async def test_a_host_name_that_does_not_resolve_is_an_error_not_an_exception(poller):
    result = await poller.poll(target("ghost", "no-such-host.invalid", "switch"), settings(161))
    status = result.samples[-1].fields
    assert (status["up"], status["result_code"], status["error_code"]) == (
        0, ResultCode.RESOLVE_FAILED, ErrorCode.RESOLVE_FAILED)
    assert "no-such-host.invalid" in result.error.detail


async def test_a_credential_change_starts_the_device_over(snmpd, poller):
    device = target("server-1", snmpd.address, "server")
    await poller.poll(device, settings(snmpd.port, **LO_ONLY))
    again = by_measurement((await poller.poll(device, settings(snmpd.port, retries=2, **LO_ONLY))).samples)
    assert "in_bps" in again["snmp_if"][0].fields  # same address, port, credential: the state is kept
    other = settings(snmpd.port, **LO_ONLY).model_copy(update={"port": snmpd.port})
    other = SnmpSettings.model_validate({**dict(other), "credentials": {"lab": {"community": COMMUNITY,
                                                                                "version": "v1"}}})
    fresh = by_measurement((await poller.poll(device, other)).samples)
    assert "in_bps" not in fresh["snmp_if"][0].fields  # v1 now: counter state from v2c is not trusted
