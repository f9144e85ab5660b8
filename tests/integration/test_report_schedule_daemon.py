"""The inspection record from a running daemon, on schedule, by e-mail and webhook.

Real parts: the daemon as the installed console script; snmpsim replaying recordings of an APC
UPS, a Hikvision NVR and an HW group environment monitor, each on a loopback address of its
own; a codec on a loopback address made silent with nftables (an open fault); a camera with
no probe on (no data); a real SMTP server requiring AUTH; a real webhook receiver. First
`netvigil report inspection` asks the running daemon; then the schedule is set to the current
minute and the daemon reloaded: the e-mail arrives with the HTML and XLSX attached, the webhook
gets the summary and the paths; a restart sends nothing again."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from openpyxl import load_workbook

from lab.mailserver import MAIL_PASSWORD, MAIL_USER
from lab.netlab import drop_input, loopback_addresses, nft_table
from lab.support import VENV_BIN, Process, require_root

pytestmark = [pytest.mark.integration, pytest.mark.root]

NETVIGIL = str(VENV_BIN / "netvigil")
RECORDINGS = {"ups-1": "apc_surt3000xl", "nvr-1": "hikvision-nvr", "env-1": "hwg-poseidon"}


@pytest.fixture
def workdir():
    path = Path(tempfile.mkdtemp(prefix="nvi"))  # short: the control socket path must stay under 108 bytes
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _sheet(book, name: str) -> list[tuple]:
    return [tuple(row) for row in book[name].iter_rows(min_row=3, values_only=True)]


async def test_inspection_record_by_mail_and_webhook_from_the_running_daemon(workdir, snmpsim_factory, mailserver,
                                                                          webhook_receiver):
    require_root()
    ups, nvr, env, codec = loopback_addresses(4)
    sim = snmpsim_factory(recordings=list(RECORDINGS.values()), addresses=[ups, nvr, env])
    (workdir / "inventory.yaml").write_text(f"""
sites:
  - {{name: 机房}}
  - {{name: 街道A}}
devices:
  - {{name: ups-1, address: {ups}, class: ups, site: 机房, snmp: {{port: {sim.port}, credential: ups}}}}
  - {{name: env-1, address: {env}, class: env_sensor, site: 机房, snmp: {{port: {sim.port}, credential: env}}}}
  - {{name: nvr-1, address: {nvr}, class: nvr, site: 街道A, snmp: {{port: {sim.port}, credential: nvr}}}}
  - {{name: codec-a, address: {codec}, class: codec, site: 街道A}}
  - {{name: cam-9, address: 192.0.2.99, class: camera, site: 街道A, icmp: {{enabled: false}}}}
""", encoding="utf-8")
    mail_url = (f"mailto://{MAIL_USER}:{MAIL_PASSWORD}@127.0.0.1:{mailserver.port}"
                f"?to=noc@example.org&from=netvigil@example.org")
    settings = workdir / "netvigil.yaml"

    def write_settings(times: str) -> None:
        settings.write_text(f"""
inventory: [inventory.yaml]
state_dir: state
probes:
  icmp: {{interval_s: 1, count: 2, echo_interval_ms: 50, timeout_s: 0.5}}
  snmp:
    interval_s: 5
    timeout_s: 0.5
    retries: 0
    credentials:
      ups: {{version: v2c, community: {RECORDINGS['ups-1']}}}
      nvr: {{version: v2c, community: {RECORDINGS['nvr-1']}}}
      env: {{version: v2c, community: {RECORDINGS['env-1']}}}
scheduler: {{slot_s: 0.5}}
rules: {{dirs: []}}
faults: {{timezone: Asia/Shanghai, heightened_watch: {{periods: []}}}}
notifications:
  channels:
    noc-mail: {{apprise: "{mail_url}"}}
    tickets: {{webhook: {{url: "{webhook_receiver.url}"}}}}
reports:
  inspection_times: {times}
  monthly_time: null
  reminder_time: null
  deliver: {{channels: [noc-mail, tickets], formats: [html, xlsx]}}
api: {{enabled: false}}
""", encoding="utf-8")

    write_settings("[]")

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([NETVIGIL, *args, "-c", str(settings)], capture_output=True, text=True, timeout=60)

    def start() -> Process:
        return Process([NETVIGIL, "run", "-c", str(settings)], workdir / "daemon.log",
                       env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})

    async def until(check, timeout_s: float, what: str):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = check()
            if found:
                return found
            assert daemon.alive(), daemon.log()[-3000:]
            await asyncio.sleep(0.5)
        raise AssertionError(f"timed out waiting for {what}; last seen: {seen}; daemon log:\n{daemon.log()[-3000:]}")

    def live_record():
        """`netvigil report inspection` now, from the running daemon; the workbook once every
        UPS, sensor and disk value and the codec's fault are in it."""
        result = cli("report", "inspection", "--format", "xlsx", "--out", str(workdir / "cli"))
        assert result.returncode == 0, result.stderr
        book = load_workbook(result.stdout.split()[0])
        ups_rows, open_faults = _sheet(book, "ups"), _sheet(book, "open-faults")
        seen[:] = [ups_rows, _sheet(book, "nvr-disks"), _sheet(book, "environment"), open_faults]
        ready = (ups_rows and ups_rows[0][4] is not None and _sheet(book, "nvr-disks")[0][5] is not None
                 and any(row[4] is not None for row in _sheet(book, "environment"))
                 and any(row[1] == "codec-a" for row in open_faults))
        return book if ready else None

    seen: list = []
    daemon = start()
    started = time.time()
    try:
        await until(lambda: "started:" in daemon.log(), 20, "the daemon's start")
        with nft_table([drop_input(codec)]):
            book = await until(live_record, 60, "the UPS, sensor and disk values and the codec's fault")
            summary = dict(_sheet(book, "summary"))
            assert summary["Values from"].startswith("the running daemon (pid ")
            assert (summary["Devices up"], summary["Devices down"], summary["Devices with no data"]) == (3, 1, 1)
            [ups_row] = _sheet(book, "ups")
            # The recorded card publishes no battery status (upsBasicBatteryStatus): shown empty.
            assert ups_row[:4] == ("机房", "ups-1", "on_line", None) and 0 < ups_row[4] <= 100
            assert [row[1:5] for row in _sheet(book, "no-data")] == [
                ("cam-9", "camera", "192.0.2.99", "not monitored (no probe that tells reachability is on)")]

            # The schedule: this minute (not before the daemon's first start, which is the floor).
            while dt.datetime.fromtimestamp(time.time()).replace(second=0, microsecond=0).timestamp() < started:
                await asyncio.sleep(1)
            slot = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).replace(second=0, microsecond=0)
            write_settings(f'["{slot:%H:%M}"]')
            daemon.popen.send_signal(signal.SIGHUP)
            await until(lambda: mailserver.received(), 40, "the e-mail")
            [body] = await webhook_receiver.wait_for(1, timeout_s=20)
    finally:
        daemon.stop()

    [mail] = mailserver.received()
    title = f"[REPORT] Machine-room inspection record {slot:%Y-%m-%d %H:%M}"
    assert mail.subject == title and body["title"] == title
    names = sorted(name for name, _ in mail.attachments)
    stem = f"inspection-{slot:%Y-%m-%d-%H%M}"
    assert names == [f"{stem}.html", f"{stem}.xlsx"]
    attached = load_workbook(io.BytesIO(dict(mail.attachments)[f"{stem}.xlsx"]))
    assert [row[1] for row in _sheet(attached, "open-faults")] == ["codec-a"]
    assert _sheet(attached, "ups")[0][2] == "on_line"
    html = dict(mail.attachments)[f"{stem}.html"].decode("utf-8")
    assert "Sign-off" in html and "http" not in html
    assert body["event"] == "report" and body["report"] == "inspection"
    assert body["figures"]["down"] == 1 and body["figures"]["open_faults"] == 1
    assert all(Path(path).exists() and path in body["text"] for path in body["files"])
    assert "1 down" in mail.body and str(body["files"][0]) in mail.body

    daemon = start()  # a restart: the slot was delivered, nothing is sent again
    try:
        await until(lambda: "started:" in daemon.log().split("stopped")[-1], 20, "the restart")
        await asyncio.sleep(12)  # more than one tick of the schedule
    finally:
        daemon.stop()
    assert len(mailserver.received()) == 1 and len(webhook_receiver.requests) == 1
    assert "Traceback" not in daemon.log()
