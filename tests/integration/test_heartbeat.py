"""The dead man's switch through `netvigil run`: beats reach a real HTTP receiver on loopback at
the period, GET and POST, with their headers; a receiver that is down is logged once and
counted in `netvigil_heartbeat`, beats resume when it is back, and stop with the daemon. The
URL's token and the header's value appear nowhere in the log or in `status`."""

from __future__ import annotations

import asyncio
import json
import socket
import sqlite3
import subprocess

import pytest

from lab.support import VENV_BIN, Process
from lab.webhook_receiver import WebhookReceiver

# Serial: the gaps between beats and the failures counted in 4.5 s are wall-clock figures.
pytestmark = [pytest.mark.integration, pytest.mark.serial]

NETVIGIL = str(VENV_BIN / "netvigil")
TOKEN = "pushtoken7Qx"
HEADER_SECRET = "Bearer s3cr3t-Hb"


def _write(tmp_path, heartbeat: str, port: int):
    (tmp_path / "inventory.yaml").write_text(
        "sites:\n  - {name: room, level: room}\n"
        "devices:\n  - {name: web, address: 127.0.0.1, class: server, site: room, tcp: {ports: [%d]}}\n" % port)
    settings = tmp_path / "netvigil.yaml"
    settings.write_text(
        "inventory: [inventory.yaml]\nstate_dir: state\n"
        "probes:\n  icmp: {enabled: false}\n  tcp: {interval_s: 2, timeout_s: 1}\n"
        "scheduler: {slot_s: 0.5}\n" + heartbeat)
    return settings


def _heartbeat_rows(db) -> dict:
    if not db.exists():
        return {}
    with sqlite3.connect(db) as connection:
        rows = connection.execute(
            "SELECT series.tags, point.fields FROM point JOIN series ON series.id = point.series_id "
            "WHERE series.measurement = 'netvigil_heartbeat' ORDER BY point.time_ns").fetchall()
    newest = {}
    for tags, fields in rows:
        newest[json.loads(tags)["target"]] = json.loads(fields)
    return newest


async def _until(condition, timeout_s: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"no {what} within {timeout_s} s")
        await asyncio.sleep(0.1)


def test_check_refuses_a_bad_heartbeat_url(tmp_path):
    settings = _write(tmp_path, "heartbeat:\n  targets:\n    kuma: {url: 'ftp://kuma.example/push'}\n", 9)
    check = subprocess.run([NETVIGIL, "check", "-c", str(settings)], capture_output=True, text=True, timeout=60)
    assert check.returncode == 2
    lines = [line for line in (check.stdout + check.stderr).splitlines() if "heartbeat" in line]
    assert len(lines) == 1, check.stdout + check.stderr
    assert lines[0].startswith(f"{settings}:9: heartbeat.targets.kuma.url: ")
    assert "http:// or https:// URL" in lines[0] and "Traceback" not in check.stderr
    assert "kuma.example" not in check.stdout + check.stderr  # the URL is a secret: never repeated


async def test_beats_arrive_at_the_period_survive_an_outage_and_stop_with_the_daemon(tmp_path):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    receiver = await WebhookReceiver().start()
    settings = _write(tmp_path, (
        "heartbeat:\n  interval_s: 1\n  targets:\n"
        f"    kuma: {{url: '{receiver.url}/push/{TOKEN}?status=up', timeout_s: 2}}\n"
        f"    watchdog: {{url: '{receiver.url}/watchdog', method: POST, headers: {{Authorization: '{HEADER_SECRET}'}}}}\n"),
        listener.getsockname()[1])
    check = subprocess.run([NETVIGIL, "check", "-c", str(settings)], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    process = Process([NETVIGIL, "run", "-c", str(settings)], tmp_path / "daemon.log")
    try:
        def beats(path_end: str) -> list:
            return [r for r in receiver.requests if r.path.endswith(path_end)]

        await _until(lambda: len(beats("/watchdog")) >= 5, 60, "5 POST beats")
        gets = beats(f"/push/{TOKEN}")
        assert gets and all(r.method == "GET" and r.query == "status=up" for r in gets)
        posts = beats("/watchdog")
        assert all(r.method == "POST" and r.headers["Authorization"] == HEADER_SECRET for r in posts)
        body = posts[-1].body
        assert body["status"] == "alive" and body["service"] == "netvigil" and body["devices"] == 1
        assert body["down"] == 0 and body["faults"] == 0 and "1 devices" in body["summary"]
        gaps = [b.at - a.at for a, b in zip(posts[1:], posts[2:])]  # the first may wait on the start
        assert all(0.7 < gap < 1.6 for gap in gaps), gaps

        # The receiver goes away for about 4 beats: one log line per target, failures counted.
        await receiver.stop()
        await asyncio.sleep(4.5)
        await receiver.start()
        before = len(receiver.requests)
        await _until(lambda: len(beats("/watchdog")) >= len(posts) + 2, 20, "beats after the outage")
        log = process.log()
        assert log.count("heartbeat kuma (http://127.0.0.1:%d/…): failed: cannot connect" % receiver.port) == 1, log
        assert log.count("heartbeat watchdog (") == 2, log  # failed once, delivered again once
        assert "heartbeat kuma (http://127.0.0.1:%d/…): delivered again" % receiver.port in log
        db = tmp_path / "state" / "metrics.db"
        await _until(lambda: _heartbeat_rows(db).get("kuma", {}).get("ok") == 1
                     and _heartbeat_rows(db)["kuma"]["failed_total"] >= 3, 30, "heartbeat self-metrics")
        rows = _heartbeat_rows(db)
        assert 3 <= rows["kuma"]["failed_total"] <= 6 and rows["watchdog"]["failed_total"] >= 3
        assert rows["kuma"]["sent_total"] > rows["kuma"]["failed_total"] and rows["kuma"]["withheld_total"] == 0
        status = subprocess.run([NETVIGIL, "status", "-c", str(settings), "--json"], capture_output=True,
                                text=True, timeout=30)
        heartbeat = json.loads(status.stdout)["daemon"]["heartbeat"]
        assert heartbeat["kuma"]["ok"] is True and heartbeat["kuma"]["failed_total"] >= 3
        assert TOKEN not in status.stdout and HEADER_SECRET not in status.stdout
        assert before < len(receiver.requests)
    finally:
        code = await asyncio.to_thread(process.stop)
        listener.close()
    try:
        assert code == 0, process.log()
        stopped_at = len(receiver.requests)
        await asyncio.sleep(2.5)
        assert len(receiver.requests) == stopped_at  # no beat from a stopped daemon
        log = process.log()
        assert TOKEN not in log and HEADER_SECRET not in log and "Traceback" not in log
    finally:
        await receiver.stop()
