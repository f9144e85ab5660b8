"""`netvigil rollcall` against real endpoints: loopback addresses (one made lossy and one silent
with nftables) and hosts in a network namespace (one slow, one ICMP-silent), recorded in the
state directory, a real influxd 1.x and the embedded store."""

from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from lab.netlab import SILENT, drop_input, loopback_addresses, lossy_input, netns_hosts, nft_table
from lab.servers import INFLUXD_ADMIN
from lab.snmplab import COMMUNITY
from lab.support import VENV_BIN, free_port, require_root, wait_until
from monitor.outputs.embedded import EmbeddedStore

pytestmark = [pytest.mark.integration, pytest.mark.root]


def _settings(tmp_path: Path, devices: list[tuple[str, str, str, str]], influxd) -> Path:
    lines = ["sites:", "  - {name: district, level: district}",
             "  - {name: street-03, parent: district, level: street}",
             "  - {name: 社区一, parent: street-03, level: community}",
             "devices:"]
    lines += [f"  - {{name: {name}, address: {address}, class: {cls}, site: {site}}}"
              for name, address, cls, site in devices]
    (tmp_path / "inventory.yaml").write_text("\n".join(lines) + "\n")
    settings = tmp_path / "netvigil.yaml"
    settings.write_text(
        "inventory: [inventory.yaml]\nstate_dir: state\nrules: {dirs: []}\n"
        f"outputs:\n  influxdb_v1: {{url: '{influxd.url}', database: rollcall, username: {INFLUXD_ADMIN[0]}, "
        f"password: {INFLUXD_ADMIN[1]}}}\n  embedded: {{enabled: true}}\n")
    (tmp_path / "state").mkdir()
    return settings


def test_lossy_silent_slow_and_quiet_endpoints_are_reported_and_recorded(tmp_path, influxd):
    require_root()
    influxd.create_database("rollcall")
    good, good2, lossy, silent, switch = loopback_addresses(5)
    with nft_table([lossy_input(lossy, 40), drop_input(silent)]), \
            netns_hosts({"slow": (130, 0), "quiet": SILENT, "near": (0, 0)}) as lab:
        devices = [("mcu-1", good, "mcu", "district"), ("会议终端-甲", good2, "codec", "社区一"),
                   ("codec-lossy", lossy, "codec", "社区一"), ("codec-silent", silent, "codec", "street-03"),
                   ("codec-slow", lab["slow"], "codec", "street-03"), ("phone-quiet", lab["quiet"], "phone", "社区一"),
                   ("codec-near", lab["near"], "codec", "street-03"), ("core-sw", switch, "switch", "district")]
        settings = _settings(tmp_path, devices, influxd)
        result = subprocess.run([str(VENV_BIN / "netvigil"), "rollcall", "-c", str(settings), "--name", "区会议"],
                                capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        as_json = subprocess.run([str(VENV_BIN / "netvigil"), "rollcall", "-c", str(settings), "--json",
                                  "--class", "codec", "--site", "street-03"],
                                 capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 1, result.stderr
    assert result.stderr == ""
    lines = {line.split()[0]: line for line in result.stdout.splitlines() if line.startswith("  ")}
    assert "core-sw" not in lines  # a switch is not a conference endpoint
    assert "present" in lines["mcu-1"] and "present" in lines["会议终端-甲"] and "present" in lines["codec-near"]
    assert "DEGRADED" in lines["codec-lossy"] and "loss" in lines["codec-lossy"]
    assert "ABSENT" in lines["codec-silent"] and "no reply to 20 echoes" in lines["codec-silent"]
    assert "DEGRADED" in lines["codec-slow"] and "round trip 13" in lines["codec-slow"]
    assert "ABSENT" in lines["phone-quiet"]
    assert result.stdout.splitlines()[0].endswith("3 present, 2 degraded, 2 absent of 7")

    assert as_json.returncode == 1, as_json.stderr
    record = json.loads(as_json.stdout)
    assert {e["device"]: e["state"] for e in record["endpoints"]} == {
        "codec-silent": "absent", "codec-slow": "degraded", "codec-near": "present",
        "codec-lossy": "degraded", "会议终端-甲": "present"}  # 社区一 is below street-03

    files = sorted((tmp_path / "state" / "rollcalls").glob("*.json"))
    assert len(files) == 2
    first = json.loads(files[0].read_text())
    assert first["name"] == "区会议" and first["summary"] == {
        "present": 3, "degraded": 2, "absent": 2, "total": 7}
    assert first["probe"]["icmp_count"] == 20

    rows = influxd.query("SELECT * FROM rollcall WHERE meeting = '区会议'", "rollcall")
    assert {row["device"]: row["state"] for row in rows} == {
        "mcu-1": 0, "会议终端-甲": 0, "codec-near": 0, "codec-lossy": 1, "codec-slow": 1,
        "codec-silent": 2, "phone-quiet": 2}
    assert {row["community"] for row in rows if row["device"] == "codec-lossy"} == {"社区一"}
    summary = influxd.query("SELECT * FROM rollcall_summary", "rollcall")
    assert [(row["selected"], row["absent"]) for row in summary] == [(7, 2), (5, 1)]
    # The queries docs/operations.md gives for a Grafana table of the last roll calls.
    last = influxd.query('SELECT "meeting", "selected", "present", "degraded", "absent" FROM "rollcall_summary" '
                         "ORDER BY time DESC LIMIT 10", "rollcall")
    assert [(row["meeting"], row["present"], row["degraded"]) for row in last] == [("", 2, 2), ("区会议", 3, 2)]
    missing = influxd.query(f'SELECT "device", "site", "reason" FROM "rollcall" WHERE "rollcall" = '
                            f"'{first['id']}' AND \"state\" > 0", "rollcall")
    assert {row["device"] for row in missing} == {"codec-lossy", "codec-slow", "codec-silent", "phone-quiet"}

    latest = {row.device: row for row in EmbeddedStore.read_latest(tmp_path / "state" / "metrics.db")
              if row.measurement == "rollcall"}
    assert latest["codec-silent"].fields["state"] == 2


def test_unreachable_output_is_a_sentence_and_the_roster_still_comes(tmp_path):
    require_root()
    (good,) = loopback_addresses(1)
    (tmp_path / "inventory.yaml").write_text(
        f"sites:\n  - {{name: district, level: district}}\n"
        f"devices:\n  - {{name: mcu-1, address: {good}, class: mcu, site: district}}\n")
    settings = tmp_path / "netvigil.yaml"
    settings.write_text("inventory: [inventory.yaml]\nstate_dir: state\nrules: {dirs: []}\n"
                        "outputs:\n  influxdb_v1: {url: 'http://127.0.0.1:9', database: x, timeout_s: 2}\n")
    result = subprocess.run([str(VENV_BIN / "netvigil"), "rollcall", "-c", str(settings)],
                            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    assert "1 present, 0 degraded, 0 absent of 1" in result.stdout
    assert result.stderr.startswith("netvigil rollcall: not recorded in influxdb_v1:")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_an_endpoint_whose_snmp_agent_is_silent_is_degraded_and_says_so(tmp_path, snmpd_factory):
    require_root()
    answering, mute = loopback_addresses(2)
    agent = snmpd_factory(answering, users=())
    (tmp_path / "inventory.yaml").write_text(
        "sites:\n  - {name: district, level: district}\n"
        "devices:\n"
        f"  - {{name: mcu-1, address: {answering}, class: mcu, site: district, snmp: {{port: {agent.port}}}}}\n"
        f"  - {{name: codec-mute, address: {mute}, class: codec, site: district}}\n")
    (tmp_path / "creds").mkdir()
    (tmp_path / "creds" / "probes__snmp__credentials__lab__community").write_text(COMMUNITY + "\n")
    settings = tmp_path / "netvigil.yaml"
    settings.write_text("inventory: [inventory.yaml]\nstate_dir: state\nrules: {dirs: []}\n"
                        "probes:\n  snmp:\n    credential: lab\n    timeout_s: 0.5\n    retries: 1\n"
                        "    credentials: {lab: {version: v2c}}\n")
    with nft_table([drop_input(mute, "udp dport 161")]):
        result = subprocess.run([str(VENV_BIN / "netvigil"), "rollcall", "-c", str(settings), "--json"],
                                capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
                                env={**os.environ, "CREDENTIALS_DIRECTORY": str(tmp_path / "creds")})
    assert result.returncode == 1, result.stderr
    endpoints = {e["device"]: e for e in json.loads(result.stdout)["endpoints"]}
    assert endpoints["mcu-1"]["state"] == "present" and endpoints["mcu-1"]["checks"] == {"snmp": "ok"}
    assert endpoints["codec-mute"]["state"] == "degraded"
    assert endpoints["codec-mute"]["reasons"] == ["SNMP does not answer (timeout)"]
    assert endpoints["codec-mute"]["icmp"]["loss_pct"] == 0.0
    assert COMMUNITY not in result.stdout + result.stderr


def test_ssh_checks_run_with_the_devices_credentials_and_a_refusal_degrades(tmp_path, sshd):
    require_root()
    (closed,) = loopback_addresses(1)  # answers ping, nothing listens on the SSH port
    (tmp_path / "inventory.yaml").write_text(
        "sites:\n  - {name: district, level: district}\n"
        "devices:\n"
        "  - {name: mcu-1, address: 127.0.0.1, class: mcu, site: district, ssh: {credential: good}}\n"
        f"  - {{name: mcu-2, address: {closed}, class: mcu, site: district, ssh: {{credential: good}}}}\n")
    settings = tmp_path / "netvigil.yaml"
    settings.write_text(
        "inventory: [inventory.yaml]\nstate_dir: state\nrules: {dirs: []}\n"
        f"probes:\n  ssh:\n    port: {sshd.port}\n    profiles: [linux]\n    host_key_policy: tofu\n"
        "    credentials:\n"
        f"      good: {{username: {sshd.user}, password: '{sshd.password}'}}\n")
    (tmp_path / "state").mkdir()
    result = subprocess.run([str(VENV_BIN / "netvigil"), "rollcall", "-c", str(settings), "--json"],
                            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 1, result.stderr
    endpoints = {e["device"]: e for e in json.loads(result.stdout)["endpoints"]}
    assert (endpoints["mcu-1"]["state"], endpoints["mcu-1"]["checks"]) == ("present", {"ssh": "ok"})
    assert (endpoints["mcu-2"]["state"], endpoints["mcu-2"]["reasons"]) == ("degraded", ["SSH: refused"])
    assert "refused" in endpoints["mcu-2"]["details"]["ssh"].lower()
    assert sshd.password not in result.stdout + result.stderr


def test_a_roll_call_while_the_daemon_runs_shares_its_state_directory_and_icmp(tmp_path):
    """The NOC calls the roll while the daemon probes the same endpoints: both pingers get
    their own replies, and the roll call's samples land in the daemon's embedded store."""
    from tests.integration.test_daemon import _start, _status

    require_root()
    addresses = loopback_addresses(3)
    (tmp_path / "inventory.yaml").write_text(
        "sites:\n  - {name: district, level: district}\ndevices:\n"
        + "".join(f"  - {{name: codec-{i}, address: {a}, class: codec, site: district}}\n"
                  for i, a in enumerate(addresses)))
    settings = tmp_path / "netvigil.yaml"
    # Echoes every 50 ms to each endpoint, so the daemon's runs overlap the roll call's.
    settings.write_text("inventory: [inventory.yaml]\nstate_dir: state\nrules: {dirs: []}\n"
                        "probes:\n  icmp: {interval_s: 1, count: 10, echo_interval_ms: 50, timeout_s: 0.4}\n"
                        "scheduler: {slot_s: 0.5}\n")
    process, listener = _start(tmp_path, settings)
    try:
        listener.wait_for("READY=1")
        results = [subprocess.run([str(VENV_BIN / "netvigil"), "rollcall", "-c", str(settings), "--json"],
                                  capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
                   for _ in range(3)]
        devices = {row["device"]: row for row in _status(settings)["devices"]}
    finally:
        process.stop()
    for result in results:
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stderr == ""
        record = json.loads(result.stdout)
        assert [e["icmp"]["received"] for e in record["endpoints"]] == [20, 20, 20]
    assert {row["state"] for row in devices.values()} == {"up"}
    rows = {(row.device, row.measurement): row for row in EmbeddedStore.read_latest(tmp_path / "state" / "metrics.db")}
    for i in range(3):
        assert rows[(f"codec-{i}", "rollcall")].fields["state"] == 0
        assert rows[(f"codec-{i}", "icmp")].fields["up"] == 1  # the daemon's own, next to it


def _post(url: str, body: dict, token: str = "") -> tuple[int, dict]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json",
                                              **({"Authorization": f"Bearer {token}"} if token else {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_the_daemons_api_calls_the_roll_and_records_it_through_its_outputs(tmp_path):
    from tests.integration.test_daemon import _start

    require_root()
    good, silent = loopback_addresses(2)
    port = free_port()
    (tmp_path / "inventory.yaml").write_text(
        "sites:\n  - {name: district, level: district}\n  - {name: street-03, parent: district, level: street}\n"
        f"devices:\n  - {{name: mcu-1, address: {good}, class: mcu, site: district}}\n"
        f"  - {{name: codec-1, address: {silent}, class: codec, site: street-03}}\n")
    settings = tmp_path / "netvigil.yaml"
    settings.write_text("inventory: [inventory.yaml]\nstate_dir: state\nrules: {dirs: []}\n"
                        f"api: {{listen: '127.0.0.1:{port}'}}\n")
    token = "rollcall-token-0123456789abcdef"
    url = f"http://127.0.0.1:{port}/api/v1/rollcall"
    with nft_table([drop_input(silent)]):
        process, listener = _start(tmp_path, settings, NETVIGIL_API__TOKEN=token)
        try:
            listener.wait_for("READY=1")
            status, record = _post(url, {"name": "区会议", "classes": ["mcu", "codec"]}, token)
            bad = _post(url, {"classes": ["beamer"]}, token)
            nothing = _post(url, {"classes": ["ups"]}, token)
            anonymous = _post(url, {}, "")
            wait_until(lambda: any(row.measurement == "rollcall_summary" for row in
                                   EmbeddedStore.read_latest(tmp_path / "state" / "metrics.db")),
                       timeout_s=10, what="the roll call in the daemon's embedded store")
        finally:
            process.stop()
    assert status == 200, record
    assert record["summary"] == {"present": 1, "degraded": 0, "absent": 1, "total": 2}
    assert {e["device"]: e["state"] for e in record["endpoints"]} == {"mcu-1": "present", "codec-1": "absent"}
    assert Path(record["file"]).exists()
    assert bad[0] == 400 and "unknown class 'beamer'" in json.dumps(bad[1])
    assert nothing[0] == 400 and "no device matches class ups" in json.dumps(nothing[1])
    assert anonymous[0] == 401
    rows = {row.device: row for row in EmbeddedStore.read_latest(tmp_path / "state" / "metrics.db")
            if row.measurement == "rollcall"}
    assert rows["codec-1"].fields["state"] == 2 and rows["codec-1"].fields["meeting"] == "区会议"


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")  # the loopback SMTP server's AUTH
async def test_the_meeting_calendar_calls_the_roll_and_sends_the_roster_by_mail_and_webhook(
        tmp_path, webhook_receiver, mailserver):
    """Two meetings a few seconds ahead (a one-off at two offsets, a weekly series for one
    street): the daemon calls each roll at its time, keeps the record, writes the samples
    through its outputs and sends the roster to each meeting's on-call group."""
    import asyncio
    import datetime as dt
    import time

    from lab.mailserver import MAIL_PASSWORD, MAIL_USER
    from lab.support import Process

    require_root()
    good, silent, lossy = loopback_addresses(3)
    (tmp_path / "inventory.yaml").write_text(
        "sites:\n  - {name: district, level: district}\n  - {name: street-03, parent: district, level: street}\n"
        f"devices:\n  - {{name: mcu-1, address: {good}, class: mcu, site: district}}\n"
        f"  - {{name: 会议终端-甲, address: {silent}, class: codec, site: street-03}}\n"
        f"  - {{name: codec-lossy, address: {lossy}, class: codec, site: street-03}}\n", encoding="utf-8")
    mail = (f"mailto://{MAIL_USER}:{MAIL_PASSWORD}@127.0.0.1:{mailserver.port}"
            f"?to=noc@example.org&from=netvigil@example.org")
    settings = tmp_path / "netvigil.yaml"

    def write_settings(start: dt.datetime) -> None:
        settings.write_text(f"""
inventory: [inventory.yaml]
state_dir: state
rules: {{dirs: []}}
probes: {{icmp: {{interval_s: 5}}}}
outputs: {{embedded: {{enabled: true}}}}
api: {{enabled: false}}
faults: {{timezone: UTC}}
notifications:
  channels:
    oncall-mail: {{apprise: "{mail}"}}
    tickets: {{webhook: {{url: "{webhook_receiver.url}/oncall"}}}}
    video-desk: {{webhook: {{url: "{webhook_receiver.url}/video"}}}}
    lead-sms: {{webhook: {{url: "{webhook_receiver.url}/lead"}}}}
  groups:
    oncall: {{tiers: [[oncall-mail, tickets], [lead-sms]]}}
    video: {{tiers: [[video-desk]]}}
  default_groups: [oncall]
rollcall:
  meetings:
    - {{name: 区视频会议, at: "{start.isoformat()}", before: [14s, 7s]}}
    - name: street weekly
      weekdays: [{start.strftime('%a').lower()}]
      time: "{start.time().isoformat()}"
      sites: [street-03]
      classes: [codec]
      before: 7s
      groups: [video]
""", encoding="utf-8")

    # Local time in faults.timezone, as a meeting planner writes it (seconds only because the
    # test cannot wait for the next whole minute). The 22 s lead is for the daemon's start and
    # the first roll call 14 s before: the settings are checked first, with a meeting as far
    # off, so that the check's own seconds (many on a busy machine) do not eat into it.
    write_settings(dt.datetime.now(dt.timezone.utc).replace(microsecond=0, tzinfo=None) + dt.timedelta(seconds=22))
    checked = subprocess.run([str(VENV_BIN / "netvigil"), "check", "-c", str(settings)], capture_output=True,
                             text=True, timeout=60)
    assert checked.returncode == 0, checked.stderr
    start = dt.datetime.now(dt.timezone.utc).replace(microsecond=0, tzinfo=None) + dt.timedelta(seconds=22)
    write_settings(start)

    with nft_table([drop_input(silent), lossy_input(lossy, 40)]):
        daemon = Process([str(VENV_BIN / "netvigil"), "run", "-c", str(settings)], tmp_path / "daemon.log")
        try:
            deadline = time.monotonic() + 40
            # The silent endpoint also opens a fault (the shipped rules): rosters are told apart.
            def rosters() -> list:
                return [body for body in webhook_receiver.delivered if body["event"] == "rollcall"]

            def roster_mails() -> list:
                return [m for m in mailserver.received() if m.subject.startswith("[ROLL CALL]")]

            while len(rosters()) < 3 or len(roster_mails()) < 2:
                assert time.monotonic() < deadline, (webhook_receiver.requests, daemon.log()[-3000:])
                assert daemon.alive(), daemon.log()[-3000:]
                await asyncio.sleep(0.2)
            await asyncio.sleep(1)  # anything more would arrive now
        finally:
            daemon.stop()
    log = daemon.log()
    assert "Traceback" not in log

    by_path: dict = {}
    for hook in webhook_receiver.requests:
        if hook.body["event"] == "rollcall":
            by_path.setdefault(hook.path, []).append(hook.body)
    assert sorted(by_path) == ["/hook/oncall", "/hook/video"]  # tier 2 (lead-sms) is never told of a roster
    first, second = by_path["/hook/oncall"]
    local = start.strftime("%Y-%m-%d %H:%M")
    assert first["title"] == f"[ROLL CALL] 区视频会议 at {local}: 1 present, 1 degraded, 1 absent of 3"
    assert first["event"] == "rollcall" and second["title"] == first["title"]
    roster = first["rollcall"]
    assert roster["before_s"] == 14 and second["rollcall"]["before_s"] == 7
    assert [(e["device"], e["reasons"]) for e in roster["absent"]] == [("会议终端-甲", ["no reply to 20 echoes"])]
    assert [e["device"] for e in roster["degraded"]] == ["codec-lossy"]
    assert roster["degraded"][0]["reasons"][0].startswith("loss ")
    for line in ("Absent (1):", "  会议终端-甲 (street-03, " + silent + "): no reply to 20 echoes",
                 "Degraded (1):", "Record: "):
        assert line in first["text"], first["text"]
    [weekly] = by_path["/hook/video"]
    assert weekly["title"].startswith(f"[ROLL CALL] street weekly at {local}: 0 present, 1 degraded, 1 absent of 2")

    mails = sorted(roster_mails(), key=lambda m: m.body)
    assert [m.subject for m in mails] == [first["title"]] * 2
    assert "会议终端-甲 (street-03" in mails[0].body and mails[0].recipients == ("noc@example.org",)

    # The records: one file per roll call, the meeting's start and offset with it; the samples
    # went through the daemon's outputs into its embedded store.
    records = [json.loads(path.read_text()) for path in sorted((tmp_path / "state" / "rollcalls").glob("*.json"))]
    assert sorted((r["name"], r["meeting"]["before_s"]) for r in records) == [
        ("street weekly", 7.0), ("区视频会议", 7.0), ("区视频会议", 14.0)]
    assert {r["meeting"]["starts"] for r in records} == {start.replace(tzinfo=dt.timezone.utc).isoformat()}
    assert roster["file"] in {str(path) for path in (tmp_path / "state" / "rollcalls").glob("*.json")}
    import sqlite3

    with sqlite3.connect(tmp_path / "state" / "metrics.db") as db:
        meetings = sorted(json.loads(fields)["meeting"] for (fields,) in db.execute(
            "SELECT fields FROM point JOIN series ON series.id = point.series_id "
            "WHERE measurement = 'rollcall_summary'"))
    assert meetings == ["street weekly", "区视频会议", "区视频会议"]
