"""Shared fixtures: real metrics servers (lab/servers.py) and the fake InfluxDB 2.x."""

from __future__ import annotations

import pytest

from lab.fake_influx import FakeInflux
from lab.mailserver import mailserver  # noqa: F401
from lab.webhook_receiver import webhook_receiver  # noqa: F401
from lab.servers import influxd, private_influxd, private_victoria_metrics, victoria_metrics  # noqa: F401
from lab.snmplab import private_snmpd, snmpd, snmpd_factory, snmpsim, snmpsim_factory  # noqa: F401
from lab.sshlab import ssh_test_user, sshd  # noqa: F401
from lab.sshsim import vrp_sim  # noqa: F401


@pytest.fixture
async def fake_influx() -> FakeInflux:
    """See lab/fake_influx.py for why a fake exists next to the real servers."""
    fake = await FakeInflux().start()
    yield fake
    await fake.stop()
