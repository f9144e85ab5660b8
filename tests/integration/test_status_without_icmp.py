"""Devices with ICMP disabled: reachability from their SNMP answers, in the daemon's `status` and in
the embedded store's picture once it stopped; a device with no probe at all is `unmonitored`,
not `pending` forever."""

from __future__ import annotations

import subprocess

import pytest

from tests.integration.test_daemon import NETVIGIL, _start, _status, workdir  # noqa: F401 - fixture
from tests.integration.test_snmp_daemon import _credentials
from lab.netlab import loopback_addresses
from lab.support import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.root]


def test_devices_without_icmp_are_up_down_or_unmonitored_not_pending(workdir, snmpd_factory):  # noqa: F811
    here, nobody = loopback_addresses(2)
    agent = snmpd_factory(here, users=())
    (workdir / "inventory.yaml").write_text(
        "sites:\n  - {name: room, level: room}\n"
        "classes:\n  ups: {snmp: {credential: lab}}\n"
        "devices:\n"
        f"  - {{name: answers, address: {agent.address}, class: ups, site: room, icmp: {{enabled: false}}, "
        f"snmp: {{port: {agent.port}}}}}\n"
        # Nothing listens there: SNMP times out.
        f"  - {{name: silent, address: {nobody}, class: ups, site: room, icmp: {{enabled: false}}}}\n"
        "  - {name: nothing, address: 127.0.0.1, class: other, site: room, icmp: {enabled: false}}\n")
    settings = workdir / "netvigil.yaml"
    settings.write_text(
        "inventory: [inventory.yaml]\nstate_dir: state\napi: {enabled: false}\n"
        "probes:\n  snmp:\n    interval_s: 5\n    timeout_s: 0.5\n    retries: 0\n"
        "    credentials:\n      lab: {version: v2c}\n"
        "scheduler: {slot_s: 0.5}\n")
    process, listener = _start(workdir, settings, **_credentials(workdir))
    expected = {"answers": "up", "silent": "down", "nothing": "unmonitored"}

    def states() -> dict:
        return {row["device"]: row["state"] for row in _status(settings)["devices"]}

    try:
        listener.wait_for("READY=1")
        wait_until(lambda: states() == expected, timeout_s=30, what=f"{expected}")
        answer = _status(settings)
        assert (answer["daemon"]["up"], answer["daemon"]["down"], answer["daemon"]["unmonitored"]) == (1, 1, 1)
        text = subprocess.run([NETVIGIL, "status", "-c", str(settings)], capture_output=True, text=True,
                              timeout=30).stdout
        assert "1 unmonitored" in text.splitlines()[0]
    finally:
        code = process.stop()
        listener.close()
    assert code == 0, process.log()
    answer = _status(settings)  # the daemon is gone: from the embedded store
    assert answer["source"] != "daemon"
    assert {row["device"]: row["state"] for row in answer["devices"]} == expected
