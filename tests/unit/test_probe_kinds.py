"""The probe kind map: every kind has the one shape the daemon, the configuration and `status`
use, and the kinds are taken from the map rather than listed by hand."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from monitor import config, inventory, state, yamlfile
from monitor.probing import concurrency, plan_batches
from probes.base import Prober, ProbeKind
from probes.registry import JOBS, KINDS
from probes.snmp.errors import ErrorCode as SnmpErrorCode
from probes.ssh.errors import ErrorCode as SshErrorCode
from probes.tcp.settings import TcpSettings
from lab.support import REPO

# What state.py mirrored by hand before it read the probes' own enums: `status` must keep
# showing exactly these names.
SNMP_STATES = {0: "ok", 1: "timeout", 2: "send_failed", 3: "resolve_failed", 4: "auth", 5: "malformed",
               6: "no_such_object", 7: "agent_error", 8: "walk_loop", 9: "too_many_rows", 10: "internal",
               11: "too_many_rows_device", 12: "index_too_long", 13: "wrong_type",
               14: "no_data", 15: "no_system_group"}
SSH_STATES = {0: "ok", 1: "timeout", 2: "refused", 3: "resolve_failed", 4: "auth", 5: "auth_timeout",
              6: "host_key_unknown", 7: "host_key_changed", 8: "command_failed", 9: "command_timeout",
              10: "output_too_large", 11: "disconnected", 12: "session_timeout", 13: "protocol", 14: "internal"}


def test_the_map_holds_every_kind_once_with_its_jobs():
    assert list(KINDS) == ["icmp", "snmp", "ssh", "tcp"]
    assert all(isinstance(kind, ProbeKind) and kind.name == name for name, kind in KINDS.items())
    assert dict(JOBS) == {"icmp": "icmp", "snmp": "snmp", "ssh": "ssh", "ssh_config": "ssh", "tcp": "tcp"}
    for kind in KINDS.values():
        kind.settings()  # the defaults are valid on their own


def test_status_names_the_codes_from_the_probes_own_enums():
    assert state.SNMP_STATES == SNMP_STATES == {int(c): ("ok" if c == 0 else c.name.lower()) for c in SnmpErrorCode}
    assert state.SSH_STATES == SSH_STATES == {int(c): ("ok" if c == 0 else c.name.lower()) for c in SshErrorCode}
    assert state.STATE_NAMES["tcp"] == {0: "ok", 1: "timeout", 2: "refused", 3: "resolve_failed", 4: "unreachable",
                                        5: "error"}
    # timeout, send_failed, resolve_failed: the device did not answer; an auth error proves it is there
    assert not state.answered("snmp", 1) and not state.answered("snmp", 2) and state.answered("snmp", 4)
    assert not state.answered("ssh", 1) and state.answered("ssh", 2)
    assert not state.answered("tcp", 1) and state.answered("tcp", 2)  # a reset is an answer


def test_the_settings_file_and_the_scheduler_take_the_kinds_from_the_map():
    assert set(config.ProbesSettings.model_fields) == set(KINDS)
    cfg = config.load(REPO / "config" / "netvigil.yaml")
    assert set(concurrency(cfg.settings)) == set(JOBS)
    with pytest.raises(ValidationError):
        config.ProbesSettings.model_validate({"tcpp": {}})


def _resolve(text: str) -> inventory.Inventory:
    bases = {name: kind.settings() for name, kind in KINDS.items()}
    return inventory.resolve([yamlfile.parse(text, "inv.yaml")], bases)


def test_tcp_ports_per_class_and_device_plan_tcp_batches():
    inv = _resolve("""\
sites: [{name: room, level: room}]
classes: {server: {tcp: {ports: [22]}}}
devices:
  - {name: web, address: 127.0.0.1, class: server, site: room, tcp: {ports: [80, 443], interval_s: 30}}
  - {name: db, address: 127.0.0.2, class: server, site: room}
  - {name: sw, address: 127.0.0.3, class: switch, site: room}
""")
    assert inv.by_name("web").tcp.ports == (80, 443) and inv.by_name("db").tcp.ports == (22,)
    assert not inv.by_name("sw").tcp.active
    batches = [batch for batch in plan_batches(inv, 1.0) if batch.kind == "tcp"]
    assert {(batch.interval_s, target.device) for batch in batches for target in batch.targets} == {
        (30.0, "web"), (60.0, "db")}
    assert state.first_state(inv.by_name("sw")) == "pending"  # ICMP is on
    watched = [batch for batch in plan_batches(inv, 1.0, {"tcp": 10}) if batch.kind == "tcp"]
    assert {batch.interval_s for batch in watched} == {10.0}


def test_an_unknown_inventory_key_names_the_kinds_from_the_map():
    with pytest.raises(config.ConfigError) as raised:
        _resolve("""\
sites: [{name: room, level: room}]
devices:
  - {name: web, address: 127.0.0.1, class: server, site: room, tpc: {ports: [80]}}
""")
    assert "did you mean 'tcp'" in "\n".join(raised.value.problems)


@pytest.mark.parametrize("values, problem", [
    ({"ports": [0]}, "greater than or equal to 1"),
    ({"ports": [70000]}, "less than or equal to 65535"),
    ({"timeout_s": 5, "interval_s": 5}, "timeout_s = 5 s must be shorter than interval_s = 5 s"),
])
def test_tcp_settings_refuse_what_cannot_run(values, problem):
    with pytest.raises(ValidationError) as raised:
        TcpSettings.model_validate(values)
    assert problem in str(raised.value)


def test_every_started_prober_has_the_one_shape():
    from probes.icmp.plugin import IcmpPlugin
    from probes.snmp.plugin import SnmpPlugin
    from probes.ssh.plugin import SshPlugin
    from probes.tcp.plugin import TcpPlugin

    for plugin in (IcmpPlugin, SnmpPlugin, SshPlugin, TcpPlugin):
        assert all(callable(getattr(plugin, name, None)) for name in ("probe", "reconfigure", "close"))
        assert plugin.kind in KINDS
    assert isinstance(TcpPlugin(TcpSettings()), Prober)


def test_a_device_answers_for_every_kind_and_nothing_else():
    inv = _resolve("""\
sites: [{name: room, level: room}]
devices:
  - {name: web, address: 127.0.0.1, class: server, site: room}
""")
    device = inv.by_name("web")
    assert {name: getattr(device, name) for name in KINDS} == dict(device.probes)
    with pytest.raises(AttributeError, match="no attribute 'tcpp'"):
        device.tcpp  # noqa: B018
