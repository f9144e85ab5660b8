"""Reports from what a running daemon really recorded: a loopback device made silent with
nftables opens a fault, the webhook receiver is alerted, an engineer acknowledges with the
CLI, the device comes back; then `netvigil report monthly` for the month in progress and
`netvigil report fault ID`, run as the installed console script, must give the same figures
as the fault record (down time, clocks, timeline with the alert sent)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from openpyxl import load_workbook

from lab.netlab import drop_input, loopback_addresses, nft_table
from lab.support import Process, REPO, VENV_BIN, require_root, until_daemon

pytestmark = [pytest.mark.integration, pytest.mark.root]

NETVIGIL = str(VENV_BIN / "netvigil")


@pytest.fixture
def workdir():
    path = Path(tempfile.mkdtemp(prefix="nvr"))  # short: the control socket path must stay under 108 bytes
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _rows(book, sheet: str) -> list[tuple]:
    return [tuple(row) for row in book[sheet].iter_rows(min_row=3, values_only=True)]


async def test_monthly_and_fault_reports_from_a_real_fault(workdir, webhook_receiver):
    require_root()
    codec, server = loopback_addresses(2)
    (workdir / "inventory.yaml").write_text(
        "sites:\n  - {name: 机房}\n  - {name: 街道A}\n"
        f"devices:\n  - {{name: codec-a, address: {codec}, class: codec, site: 街道A}}\n"
        f"  - {{name: srv-1, address: {server}, class: server, site: 机房}}\n", encoding="utf-8")
    settings = workdir / "netvigil.yaml"
    settings.write_text(f"""
inventory: [inventory.yaml]
state_dir: state
probes:
  icmp: {{interval_s: 1, count: 2, echo_interval_ms: 50, timeout_s: 0.5}}
scheduler: {{slot_s: 0.5}}
rules: {{dirs: []}}
faults:
  timezone: UTC
  sla: {{acknowledge_s: 600, warn_before_ack_s: 60, resolve_s: 1200}}
  heightened_watch: {{periods: []}}
notifications:
  channels:
    tickets: {{webhook: {{url: "{webhook_receiver.url}"}}}}
  groups:
    oncall: {{tiers: [[tickets]]}}
  default_groups: [oncall]
  group_wait_s: 0
reports:
  holiday_files: [{REPO / 'config/holidays/cn-2026.yaml'}]
api: {{enabled: false}}
""", encoding="utf-8")

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([NETVIGIL, *args, "-c", str(settings)], capture_output=True, text=True, timeout=60)

    def faults() -> list[dict]:
        result = cli("faults", "--json")
        return json.loads(result.stdout)["faults"] if result.returncode == 0 else []

    async def until(predicate, timeout_s: float, what: str) -> None:
        await until_daemon(daemon, predicate, timeout_s, what)

    daemon = Process([NETVIGIL, "run", "-c", str(settings)], workdir / "daemon.log",
                     env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
    try:
        await asyncio.sleep(3)
        with nft_table([drop_input(codec)]):
            await until(lambda: any(f["device"] == "codec-a" for f in faults()), 30, "the fault")
            [fault] = faults()
            await until(lambda: webhook_receiver.requests, 15, "the alert")
            assert cli("ack", str(fault["id"]), "--by", "wang").returncode == 0
            await asyncio.sleep(2)
        await until(lambda: faults()[0]["resolved_at"] is not None, 30, "the resolution")
    finally:
        daemon.stop()
    [fault] = faults()
    assert fault["rule"] == "device_unreachable" and fault["resolved_by"] == "auto"

    month = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m")
    result = cli("report", "monthly", "--month", month, "--out", str(workdir / "out"))
    # The only thing allowed on stderr: the warning that no calendar covers next year yet.
    assert result.returncode == 0, result.stderr
    assert all(line.startswith("warning: no holiday file covers ") for line in result.stderr.splitlines())
    book = load_workbook(workdir / "out" / f"monthly-{month}.xlsx")
    summary = dict(_rows(book, "summary"))
    assert summary["Faults (root faults opened in the month)"] == 1 and summary["Devices"] == 2
    assert summary["Acknowledge clock breached (count)"] == 0 and summary["Resolve clock breached (count)"] == 0
    down_min = round((fault["resolved_at_unix"] - fault["opened_at_unix"]) / 60, 1)
    assert [row[:5] for row in _rows(book, "availability-device")] == [
        ("codec-a", "街道A", "codec", 1, down_min), ("srv-1", "机房", "server", 0, 0)]
    assert _rows(book, "faults-rule") == [("device_unreachable", 1)]
    html = (workdir / "out" / f"monthly-{month}.html").read_text(encoding="utf-8")
    assert "http" not in html and "codec-a" in html

    result = cli("report", "fault", str(fault["id"]), "--format", "xlsx", "--out", str(workdir / "out"))
    assert result.returncode == 0, result.stderr
    book = load_workbook(workdir / "out" / f"fault-{fault['id']}.xlsx")
    events = [row[1] for row in _rows(book, "timeline")]
    assert events[0] == "opened" and "notification" in events and "acknowledged" in events
    assert events.index("acknowledged") < events.index("resolved")
    assert dict(_rows(book, "fault"))["Acknowledge clock"] == "met"
    assert "Traceback" not in daemon.log()
