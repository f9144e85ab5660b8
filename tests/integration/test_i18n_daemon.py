"""A daemon whose settings say `language: zh-CN` speaks Chinese end to end: a loopback device
with a Chinese name, silenced with nftables, opens a fault through the shipped rule; the alert
the real webhook receiver gets, and what `netvigil status`, `faults` and `faults show` print
(run as the installed console script, with an English locale), are Chinese, with the columns
aligned; the webhook body's keys and codes and `status --json` stay English."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from lab.netlab import drop_input, loopback_addresses, nft_table
from lab.support import Process, VENV_BIN, require_root, until_daemon
from monitor.cli.tables import display_width

pytestmark = [pytest.mark.integration, pytest.mark.root]

NETVIGIL = str(VENV_BIN / "netvigil")
# Abbreviations and tool names a Chinese NOC writes as they are.
KEPT = ("ms", "SNMP", "SSH", "TCP", "ICMP", "SLA", "ping")
ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C.UTF-8"}  # the setting, not the locale, decides


@pytest.fixture
def workdir():
    path = Path(tempfile.mkdtemp(prefix="nvi"))  # short: the control socket path must stay under 108 bytes
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _column(lines: list[str], cells: list[str]) -> set[int]:
    return {display_width(line[:line.index(cell)]) for line, cell in zip(lines, cells)}


async def test_a_chinese_daemon_alerts_and_answers_in_chinese(workdir, webhook_receiver):
    require_root()
    codec, switch = loopback_addresses(2)
    (workdir / "inventory.yaml").write_text(
        "sites:\n  - {name: 区政府}\n  - {name: 中心机房, parent: 区政府}\n  - {name: 东街道, parent: 区政府}\n"
        f"devices:\n  - {{name: 东街道-终端-01, address: {codec}, class: codec, site: 东街道}}\n"
        f"  - {{name: 核心交换机, address: {switch}, class: switch, site: 中心机房}}\n", encoding="utf-8")
    settings = workdir / "netvigil.yaml"
    settings.write_text(f"""
language: zh-CN
inventory: [inventory.yaml]
state_dir: state
probes:
  icmp: {{interval_s: 1, count: 2, echo_interval_ms: 50, timeout_s: 0.5}}
scheduler: {{slot_s: 0.5}}
rules: {{dirs: []}}
faults:
  timezone: Asia/Shanghai
  sla: {{acknowledge_s: 600, warn_before_ack_s: 60, resolve_s: 1200}}
  heightened_watch: {{periods: []}}
notifications:
  channels:
    tickets: {{webhook: {{url: "{webhook_receiver.url}"}}}}
  groups:
    oncall: {{tiers: [[tickets]]}}
  default_groups: [oncall]
  group_wait_s: 0
api: {{enabled: false}}
""", encoding="utf-8")

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([NETVIGIL, *args, "-c", str(settings)], capture_output=True, text=True, timeout=60,
                              env=ENV)

    def faults() -> list[dict]:
        result = cli("faults", "--json")
        return json.loads(result.stdout)["faults"] if result.returncode == 0 else []

    async def until(predicate, timeout_s: float, what: str) -> None:
        await until_daemon(daemon, predicate, timeout_s, what)

    daemon = Process([NETVIGIL, "run", "-c", str(settings)], workdir / "daemon.log", env=ENV)
    try:
        await until(lambda: (json.loads(cli("status", "--json").stdout or "{}").get("daemon") or {}).get("up") == 2,
                    30, "both devices up")
        with nft_table([drop_input(codec)]):
            await until(lambda: any(f["device"] == "东街道-终端-01" for f in faults()), 30, "the fault")
            await until(lambda: webhook_receiver.delivered, 15, "the alert")
            status = cli("status")
            listing = cli("faults")
            [fault] = faults()
            shown = cli("faults", "show", str(fault["id"]))
            machine = json.loads(cli("status", "--json").stdout)
    finally:
        daemon.stop()

    # The alert: a Chinese title and body around the rule's Chinese message; codes stay English.
    [alert] = webhook_receiver.delivered
    assert alert["event"] == "open" and alert["severity"] == "critical"
    assert alert["faults"][0]["class"] == "codec" and alert["faults"][0]["rule"] == "device_unreachable"
    assert alert["title"].startswith("[紧急] 东街道 的 东街道-终端-01 ") and f"（故障 {fault['id']}）" in alert["title"]
    for line in ("级别：紧急", "设备：东街道-终端-01（视频会议终端，", "站点：区政府 / 东街道", "触发规则：device_unreachable",
                 "发生时间：", "确认方法："):
        assert line in alert["text"], alert["text"]
    assert fault["message"].startswith("东街道 的 东街道-终端-01 无 ping 响应"), fault["message"]

    # status: Chinese headings and states, the Chinese names aligned; --json keeps its English codes.
    assert status.returncode == 0, status.stderr
    lines = status.stdout.splitlines()
    assert lines[0].startswith("netvigil 进程 ") and "共 2 台设备，在线 1，离线 1" in lines[0], lines[0]
    table = lines[1:4]
    assert table[0].split()[:5] == ["设备", "地址", "类别", "站点", "状态"], status.stdout
    assert [line.split()[0] for line in table[1:]] == ["东街道-终端-01", "核心交换机"]
    assert "离线" in table[1] and "在线" in table[2] and "视频会议终端" in table[1] and "交换机" in table[2]
    assert len(_column(table, ["站点", "区政府/东街道", "区政府/中心机房"])) == 1, status.stdout
    assert len(_column(table, ["状态", "离线", "在线"])) == 1, status.stdout
    # Nothing English is left in what the operator reads but names, codes and abbreviations.
    names = ("东街道-终端-01", "核心交换机", "device_unreachable", "netvigil faults show ID", "ack", "resolve", "close",
             "netvigil")
    for output in (status.stdout, listing.stdout, shown.stdout):
        text = output
        for name in names:
            text = text.replace(name, " ")
        left = [word for word in re.findall(r"[A-Za-z]{2,}", text) if word not in KEPT]
        assert left == [], output
    assert {row["device"]: row["state"] for row in machine["devices"]} == {"东街道-终端-01": "down", "核心交换机": "up"}
    assert {row["class"] for row in machine["devices"]} == {"codec", "switch"}

    # faults and faults show.
    assert listing.returncode == 0, listing.stderr
    assert listing.stdout.splitlines()[0].split() == ["编号", "状态", "级别", "设备", "规则", "发生时间", "持续时长",
                                                      "确认人", "备注"]
    assert "未处理" in listing.stdout and "紧急" in listing.stdout
    assert shown.returncode == 0, shown.stderr
    for line in (f"故障 {fault['id']}：未处理  紧急  东街道-终端-01  device_unreachable", "  描述：", "类别：视频会议终端",
                 "  确认：        尚未完成，SLA 时限 10分钟 还剩 "):
        assert line in shown.stdout, shown.stdout
    assert "Traceback" not in daemon.log()
