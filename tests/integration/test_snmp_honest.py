"""Honest SNMP results from real agents: an agent that answers but whose profiles find nothing
is `no_data`, not ok; one without the system group is `no_system_group` and is still polled;
one without sysUpTime keeps its sysDescr/sysObjectID and its reboots through hrSystemUptime or
snmpEngineTime. Agents: snmpsim replaying recordings of real devices (and one derived from
them, tests/fixtures/snmprec/SOURCES.md), and net-snmp snmpd with views that leave objects
out."""

from __future__ import annotations

import asyncio

import pytest

from probes.snmp import profiles as snmp_profiles
from probes.snmp.client import SnmpClient
from probes.snmp.poller import ErrorCode, SnmpPoller
from lab import snmprec
from lab.snmplab import COMMUNITY, SYS_UPTIME, recording_path
from tests.integration.test_snmp_poller import by_measurement, settings, target

pytestmark = pytest.mark.integration

PROFILES = snmp_profiles.load_all([snmp_profiles.PACKAGED_PROFILES])
HR_SYSTEM_UPTIME = "1.3.6.1.2.1.25.1.1.0"
SNMP_ENGINE_TIME = "1.3.6.1.6.3.10.2.1.3.0"
UPTIMES = (SYS_UPTIME, HR_SYSTEM_UPTIME, SNMP_ENGINE_TIME)


class CountingClient(SnmpClient):
    """The real client, noting the OIDs of every GET (to see which uptime a poll reads)."""

    def __init__(self) -> None:
        super().__init__()
        self.gets: list[tuple[str, ...]] = []

    async def get(self, agent, oids, options=None):
        self.gets.append(tuple(oids))
        return await super().get(agent, oids, options)


@pytest.fixture
async def client():
    client = CountingClient()
    yield client
    client.close()


# --- uptime without sysUpTime ---------------------------------------------------------------------

@pytest.mark.parametrize("recording,device_class,source,uptime_s", [
    ("openwrt", "router", 2, 3834774601 / 100),               # hrSystemUptime, TimeTicks
    ("Cisco_sfe2000", "switch", 3, 4768598),                  # snmpEngineTime, seconds
    # sysUpTime removed from the AIX recording; its hrSystemUptime reads 0 (no reading)
    ("aix_net-snmp-nosysuptime", "server", 3, 4389977),
])
async def test_an_agent_without_sys_uptime_gets_its_uptime_from_a_fallback(snmpsim, client, recording, device_class,
                                                                           source, uptime_s):
    host, port = snmpsim.endpoint
    poller = SnmpPoller(client, PROFILES)
    device = target(recording, host, device_class)
    first = await poller.poll(device, settings(port, community=recording))
    second = await poller.poll(device, settings(port, community=recording))
    assert first.error is None and second.error is None, (first.error, second.error)
    values = snmprec.read(recording)
    for result in (first, second):
        [system] = by_measurement(result.samples)["snmp_system"]
        assert system.fields == {"uptime_s": pytest.approx(uptime_s), "rebooted": 0, "uptime_source": source}
        assert system.tags["sys_object_id"] == values["1.3.6.1.2.1.1.2.0"].lstrip(".")
        assert system.tags["sys_descr"] == values["1.3.6.1.2.1.1.1.0"].decode()
    # The selection asked for all three; the next poll only for the one this agent answers.
    assert set(UPTIMES) <= set(client.gets[0])
    assert [oid for oid in client.gets[-1] if oid in UPTIMES] == [UPTIMES[source - 1]]


async def test_an_agent_with_no_uptime_at_all_still_writes_its_system_sample(snmpsim, client):
    """The ABB UPS card: sysDescr and sysObjectID, none of the three uptimes. Its system sample
    was lost before; the tags are what identifies the device in the dashboards."""
    host, port = snmpsim.endpoint
    result = await SnmpPoller(client, PROFILES).poll(target("ups-1", host, "ups"),
                                                     settings(port, community="abbups_abbups"))
    assert result.error is None, result.error
    [system] = by_measurement(result.samples)["snmp_system"]
    assert system.fields == {"uptime_source": 0}
    recorded = snmprec.read("abbups_abbups")["1.3.6.1.2.1.1.1.0"].decode()
    assert system.tags["sys_descr"] == recorded and recorded.startswith("Linux ABB-acd364-201f0a 6.6.0-qno ")
    assert system.tags["sys_object_id"] == "1.3.6.1.4.1.8072.3.2.10"
    assert by_measurement(result.samples)["ups"][0].fields["charge_pct"] == 100  # the UPS itself as before


async def test_a_reboot_is_seen_through_snmp_engine_time(snmpsim_factory, client):
    """The Cisco SFE2000's recording (no sysUpTime, no hrSystemUptime), its snmpEngineTime made
    writable so the test can set it back as a reboot does; every other line as recorded."""
    recorded = recording_path("Cisco_sfe2000").read_text().splitlines()
    lines = [f"{SNMP_ENGINE_TIME}|2:writecache|value=4768598" if line.startswith(SNMP_ENGINE_TIME + "|") else line
             for line in recorded]
    assert lines != recorded
    sim = snmpsim_factory(extra_files={"sfe2000_boots": "\n".join(lines)})
    host, port = sim.endpoint
    poller = SnmpPoller(client, PROFILES)
    device, config = target("sw-1", host, "switch"), settings(port, community="sfe2000_boots")
    first = by_measurement((await poller.poll(device, config)).samples)
    sim.set("sfe2000_boots", SNMP_ENGINE_TIME, "i", 4768660)
    second = by_measurement((await poller.poll(device, config)).samples)
    assert first["snmp_system"][0].fields["rebooted"] == 0
    assert second["snmp_system"][0].fields == {"uptime_s": 4768660, "rebooted": 0, "uptime_source": 3}
    sim.set("sfe2000_boots", SNMP_ENGINE_TIME, "i", 25)          # the engine booted again
    booted = by_measurement((await poller.poll(device, config)).samples)
    assert booted["snmp_system"][0].fields == {"uptime_s": 25, "rebooted": 1, "uptime_source": 3}
    # No rate across a reboot: the port counters may have restarted.
    port = {s.tags["index"]: s.fields for s in booted["snmp_if"]}["52"]
    assert "in_bps" not in port
    sim.set("sfe2000_boots", SNMP_ENGINE_TIME, "i", 85)
    later = by_measurement((await poller.poll(device, config)).samples)
    assert later["snmp_system"][0].fields["rebooted"] == 0


# A net-snmp agent whose view leaves out sysUpTime and hrSystemUptime (as the UPS cards and
# small switches of the recordings do): only snmpEngineTime tells its uptime.
NO_UPTIME_VIEW = """\
view noup included .1
view noup excluded .1.3.6.1.2.1.1.3
view noup excluded .1.3.6.1.2.1.25.1.1
rocommunity noup-{secret} 127.0.0.0/8 -V noup
view nosys included .1
view nosys excluded .1.3.6.1.2.1.1
rocommunity nosys-{secret} 127.0.0.0/8 -V nosys
"""


@pytest.fixture
def viewed_snmpd(snmpd_factory):
    return snmpd_factory(users=(), extra_conf=NO_UPTIME_VIEW.format(secret=COMMUNITY))


async def test_a_restarted_snmpd_without_uptimes_is_a_reboot_through_snmp_engine_time(viewed_snmpd, client):
    agent = viewed_snmpd
    assert agent.get(SYS_UPTIME, auth=f"noup-{COMMUNITY}")[SYS_UPTIME].type == "noSuchObject"
    poller = SnmpPoller(client, PROFILES)
    device = target("srv-1", agent.address, "server")
    config = settings(agent.port, community=f"noup-{COMMUNITY}")
    await asyncio.sleep(2.0)  # engine time well above what it will be right after the restart
    first = by_measurement((await poller.poll(device, config)).samples)
    assert first["snmp_system"][0].fields["uptime_source"] == 3
    assert first["snmp_system"][0].fields["uptime_s"] >= 2
    assert first["snmp_system"][0].tags["sys_name"] == "netvigil-snmpd"
    agent.restart()  # snmpEngineBoots + 1, snmpEngineTime from 0
    after = by_measurement((await poller.poll(device, config)).samples)
    assert after["snmp_system"][0].fields["rebooted"] == 1
    assert after["snmp_system"][0].fields["uptime_source"] == 3
    assert after["snmp_system"][0].fields["uptime_s"] < first["snmp_system"][0].fields["uptime_s"]
    later = by_measurement((await poller.poll(device, config)).samples)
    assert later["snmp_system"][0].fields["rebooted"] == 0


# --- no system group --------------------------------------------------------------------------------

async def test_an_snmpd_without_the_system_group_is_an_error_and_still_polled(viewed_snmpd, client):
    agent = viewed_snmpd
    result = await SnmpPoller(client, PROFILES).poll(target("srv-1", agent.address, "server"),
                                                     settings(agent.port, community=f"nosys-{COMMUNITY}"))
    status = result.samples[-1]
    assert (status.fields["up"], status.fields["result_code"], status.fields["error_code"]) == \
        (1, 4, ErrorCode.NO_SYSTEM_GROUP)
    assert result.sys_object_id is None
    assert {"system", "host", "if"} <= set(result.profiles)  # the class's profiles
    assert result.error.detail.startswith("SNMP: no system group: the agent answers sysDescr, sysObjectID, "
                                          "sysUpTime and sysName with noSuchObject/noSuchInstance")
    written = by_measurement(result.samples)
    # What the class's profiles read is there (host resources, ports) ...
    assert 0 <= written["snmp_host"][0].fields["mem_used_pct"] <= 100 and written["snmp_if"]
    # ... and of the system group what the agent has: hrSystemUptime, no tags.
    [system] = written["snmp_system"]
    assert system.fields["uptime_source"] == 2 and system.fields["uptime_s"] > 0
    assert not {"sys_descr", "sys_object_id", "sys_name"} & set(system.tags)


async def test_a_recorded_camera_without_the_system_group_is_an_error_and_gives_what_its_profile_finds(snmpsim,
                                                                                                     client):
    """The Hikvision camera whose agent has no system group at all, only HIK-DEVICE-MIB: its
    class selects its profile and the readings are written; the poll is `no_system_group`
    (the rule `snmp_no_system_group` reports it), and no system sample is invented."""
    host, port = snmpsim.endpoint
    result = await SnmpPoller(client, PROFILES).poll(target("cam-1", host, "camera"),
                                                     settings(port, community="hikvision-cam"))
    status = result.samples[-1]
    assert (status.fields["up"], status.fields["result_code"], status.fields["error_code"]) == \
        (1, 4, ErrorCode.NO_SYSTEM_GROUP)
    assert result.sys_object_id is None and "hikvision_camera" in result.profiles
    assert result.error.detail.startswith("SNMP: no system group: the agent answers sysDescr, sysObjectID, "
                                          "sysUpTime and sysName with noSuchObject/noSuchInstance, so its profiles "
                                          "come from its class alone (system, ")
    written = by_measurement(result.samples)
    assert written["hikvision_camera"][0].fields["cpu_pct"] == 15           # "15 PERCENT" as recorded
    assert written["hikvision_camera"][0].tags["model"] == "DS-2CD2185FWD-I"
    assert "snmp_system" not in written and "hikvision_camera" not in result.empty


# --- no data ----------------------------------------------------------------------------------------

async def test_a_ups_whose_profiles_find_nothing_is_no_data(snmpsim, client):
    """The APC Smart-UPS card speaks PowerNet-MIB, not UPS-MIB: a device of class ups whose
    `apc_ups` profile is skipped has only `ups`, which finds nothing there."""
    host, port = snmpsim.endpoint
    result = await SnmpPoller(client, PROFILES).poll(
        target("ups-1", host, "ups"), settings(port, community="apc_surt3000xl", skip_profiles=["apc_ups"]))
    others = sorted(name for name in result.profiles if name != "system")
    assert "ups" in others and result.empty == tuple(others)
    status = result.samples[-1]
    assert (status.fields["result_code"], status.fields["error_code"]) == (4, ErrorCode.NO_DATA)
    assert status.fields["profiles_empty"] == len(others)
    assert status.tags["empty_profiles"] == ",".join(others)
    assert result.error.detail == (
        f"SNMP: no data: the agent answered, but the profiles {', '.join(others)} found nothing on it "
        "(sysObjectID 1.3.6.1.4.1.318.1.3.2.17); check the device's class, or choose its profiles with "
        "snmp: {profiles: [...], skip_profiles: [...]}")
    # The system group is identity, not health: written, and not what makes a poll "data".
    assert by_measurement(result.samples)["snmp_system"][0].tags["sys_object_id"] == "1.3.6.1.4.1.318.1.3.2.17"


async def test_some_profiles_finding_nothing_is_ok_and_named(snmpsim, client):
    """The Catalyst 2960-X stack: CISCO-ENVMON and friends answer, ENTITY-SENSOR-MIB and (in
    this trimmed recording) the ifTable do not. Normal for such a switch: ok, and counted."""
    host, port = snmpsim.endpoint
    result = await SnmpPoller(client, PROFILES).poll(target("sw-1", host, "switch"),
                                                     settings(port, community="ios_2960x"))
    assert result.error is None, result.error
    assert {"entity_sensor", "if"} <= set(result.empty) and "cisco_ios" not in result.empty
    status = result.samples[-1]
    assert status.fields["error_code"] == 0 and status.fields["profiles_empty"] == len(result.empty)
    assert status.tags["empty_profiles"] == ",".join(result.empty)
    assert by_measurement(result.samples)["cisco_temperature"]


async def test_a_healthy_poll_leaves_the_snmp_series_as_it_was(snmpsim, client):
    host, port = snmpsim.endpoint
    result = await SnmpPoller(client, PROFILES).poll(target("env-1", host, "env_sensor"),
                                                     settings(port, community="hwg-poseidon"))
    status = result.samples[-1]
    assert result.error is None and result.empty == ()
    assert status.fields["profiles_empty"] == 0 and "empty_profiles" not in status.tags


async def test_ports_left_out_by_the_devices_own_filter_were_found_all_the_same(snmpd, client):
    """A switch whose `interfaces:` filter keeps none of snmpd's ports: `if` writes nothing,
    but it did find the ifTable, so the poll is not "no data" (the sensor and optics profiles,
    whose MIBs snmpd does not implement, are the ones that found nothing)."""
    result = await SnmpPoller(client, PROFILES).poll(
        target("sw-1", snmpd.address, "switch"),
        settings(snmpd.port, interfaces={"include": {"name": "^no-such-port$"}, "exclude": {}},
                 skip_profiles=["host"]))  # snmpd's host resources would be data anyway
    assert "host" not in result.profiles and "if" in result.profiles
    assert result.error is None, result.error
    assert "snmp_if" not in by_measurement(result.samples)
    assert "if" not in result.empty and "entity_sensor" in result.empty
    assert sorted(result.empty) == sorted(name for name in result.profiles if name not in ("system", "if"))
