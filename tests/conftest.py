"""Shared fixtures: real metrics servers (lab/servers.py), PostgreSQL (lab/postgres.py) and the fake
InfluxDB 2.x."""

from __future__ import annotations

import os

import pytest

from lab.fake_influx import FakeInflux
from lab.support import Process
from lab.mailserver import mailserver  # noqa: F401
from lab.webhook_receiver import webhook_receiver  # noqa: F401
from lab.postgres import fault_database, postgres_database, postgres_server  # noqa: F401
from lab.servers import influxd, private_influxd, private_victoria_metrics, victoria_metrics  # noqa: F401
from lab.snmplab import private_snmpd, snmpd, snmpd_factory, snmpsim, snmpsim_factory  # noqa: F401
from lab.sshlab import ssh_test_user, sshd  # noqa: F401
from lab.sshsim import vrp_sim  # noqa: F401

# The language netvigil speaks follows the locale when no setting names one; the tests read
# English unless they ask for Chinese (monitor.i18n.using, or `language:` in their settings), on
# any developer's machine, and so do the commands they start.
os.environ["LC_ALL"] = "C.UTF-8"
os.environ.pop("NETVIGIL_LANGUAGE", None)


@pytest.fixture(autouse=True)
def _stop_what_the_test_left_running():
    """A test that fails between starting a daemon and stopping it leaves the daemon running (its
    `stop()` was in the part that did not run); stop every Process the test started, by its pid.
    Session and module servers were started before this fixture and are left alone."""
    before = set(Process.started)
    yield
    for process in list(Process.started):
        if process not in before and process.alive():
            process.stop()


@pytest.fixture
async def fake_influx() -> FakeInflux:
    """See lab/fake_influx.py for why a fake exists next to the real servers."""
    fake = await FakeInflux().start()
    yield fake
    await fake.stop()


def pytest_addoption(parser):
    parser.addoption(
        "--serial-tests", choices=("include", "exclude", "only"), default="include",
        help="tests marked `serial` (wall-clock bounds that other tests beside them on the CPUs "
             "could break): run them with the others (include, the default), leave them out "
             "(exclude: scripts/test.sh's parallel run) or run only them (only: its second run, "
             "in one process)")


def pytest_collection_modifyitems(config, items):
    mode = config.getoption("serial_tests")
    if mode == "include":
        return
    keep, drop = [], []
    for item in items:
        serial = item.get_closest_marker("serial") is not None
        (keep if serial == (mode == "only") else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
