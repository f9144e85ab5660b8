"""What people read, in Chinese and in English: every notification kind, the command tables and
the reports. In zh-CN no heading or frame word may stay English: each text is rendered with
Chinese names and Chinese rule messages, the data that is English by nature (rule names,
commands, time zone abbreviations) is taken out, and no English word may be left."""

from __future__ import annotations

import csv
import html
import re
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from openpyxl import load_workbook

from monitor import i18n, words
from monitor.cli import main
from monitor.cli.probe import _describe
from monitor.cli.rules import RULE_HEADINGS
from monitor.cli.status import _heading
from monitor.cli.tables import display_width, render_table
from monitor.faults.model import ALERT_EVENTS, SEVERITIES, Alert, DeviceInfo, Selector
from monitor.faults.settings import SlaSettings
from monitor.faults.store import FaultStore
from monitor.inventory import DEVICE_CLASSES
from monitor.notify.message import escalation_note, reminder_note, render, render_summary
from monitor.state import STATE_NAMES, DeviceStates
from probes.base import ResultCode, Sample, Target
from tests.unit import report_month
from tests.unit.test_report_fault import _eve_of_national_day

CST = timezone(timedelta(hours=8), "CST")
OPENED = datetime(2026, 11, 20, 9, 30, tzinfo=CST).timestamp()
HINT = "netvigil ack {id} --by NAME"
CORE = DeviceInfo("核心交换机", "switch", ("区政府", "城东街道"), address="10.1.0.1")
UPS = DeviceInfo("机房UPS", "ups", ("区政府", "城东街道"), address="10.1.0.9")
ENGLISH_WORD = re.compile(r"[A-Za-z]{2,}")
CJK = re.compile(r"[\u4e00-\u9fff]")
# English by nature in any language: abbreviations NOC engineers use as they are.
KEPT = {"CST", "SLA", "UPS", "MCU", "IP"}


def english_left(text: str, *data: str, kept: frozenset = frozenset()) -> list[str]:
    """The English words in `text` once `data` (names, rule ids, commands) is taken out."""
    for item in sorted(data, key=len, reverse=True):
        text = text.replace(item, " ")
    return [word for word in ENGLISH_WORD.findall(text) if word not in KEPT | kept]


def alert(event: str, device=CORE, fault_id=12, **extra) -> Alert:
    defaults = dict(rule="unreachable", instance="", severity="critical", message="城东街道 的 核心交换机 无响应",
                    opened_at=OPENED, time=OPENED + 60, value=100.0, threshold=50.0)
    defaults.update(extra)
    return Alert(fault_id=fault_id, event=event, device=device, **defaults)


def every_notification() -> list:
    """One message of each event kind, with every optional line, plus a grouped one, an
    escalation and a reminder with their notes, and a rate-limit summary."""
    rich = dict(heightened=True, instance="GE0/0/1", symptoms=tuple(f"摄像机{i}" for i in range(25)),
                symptom_sites=tuple(f"社区{i}" for i in range(14)), acknowledged_by="张工", deadline=OPENED + 180)
    messages = [render([alert(event, **rich)], ack_hint=HINT, now=OPENED + 200, tz=CST) for event in ALERT_EVENTS]
    messages.append(render([alert("open"), alert("open", device=UPS, fault_id=13, severity="major",
                                                rule="ups_on_battery",
                                                message="城东街道 的 机房UPS：UPS 由电池供电")],
                           ack_hint=HINT, now=OPENED + 200, tz=CST))
    messages.append(render([alert("escalate")], ack_hint=HINT, now=OPENED + 400, tz=CST,
                           note=escalation_note(360, 3), tier=3))
    messages.append(render([alert("repeat")], ack_hint=HINT, now=OPENED + 400, tz=CST, note=reminder_note(2), tier=1))
    messages += [render([alert("open", severity=severity)], ack_hint=HINT, now=OPENED, tz=CST)
                 for severity in SEVERITIES]
    messages.append(render_summary(messages[:3], window_s=300))
    return messages


DATA = ("unreachable", "ups_on_battery", "GE0/0/1", "netvigil ack 12 --by NAME", "netvigil ack 13 --by NAME",
        "10.1.0.1", "10.1.0.9")


def test_every_notification_kind_reads_in_chinese():
    with i18n.using("zh-CN"):
        messages = every_notification()
    for message in messages:
        for text in (message.title, message.text):
            assert english_left(text, *DATA) == [], text
    titles = "\n".join(message.title for message in messages)
    bodies = "\n".join(message.text for message in messages)
    for word in ("[紧急]", "[重要]", "[次要]", "[提示]", "[已恢复]", "[已升级]", "[重复提醒]", "[超时未确认]", "[修复超时]", "[维护窗口结束]", "[汇总]",
                 "发生 2 个故障", "14 个站点共 25 台设备不可达", "再次发生"):
        assert word in titles, word
    for word in ("级别：紧急", "设备：核心交换机（交换机，10.1.0.1）", "站点：区政府 / 城东街道", "触发规则：unreachable",
                 "发生时间：2026-11-20 09:30:00 CST", "已持续 3分钟20秒", "确认人：张工", "确认方法：netvigil ack 12",
                 "重点保障期", "已超过确认时限", "修复时限即将到期", "维护窗口已结束", "……另有 5 台", "另有 2 个",
                 "6分钟 内无人确认，已升级至第 3 级", "第 2 次提醒", "5分钟内到达的通知超过了本通道的频率限制"):
        assert word in bodies, word


def test_every_notification_kind_reads_in_english():
    with i18n.using("en"):
        messages = every_notification()
    titles = "\n".join(message.title for message in messages)
    bodies = "\n".join(message.text for message in messages)
    for word in ("[CRITICAL]", "[MAJOR]", "[MINOR]", "[WARNING]", "[RESOLVED]", "[ESCALATED]", "[REPEAT]",
                 "[NOT ACKNOWLEDGED IN TIME]", "[FIX OVERDUE]",
                 "[MAINTENANCE OVER]", "[SUMMARY]", "2 faults at 城东街道", "25 devices at 14 sites unreachable",
                 "reopened"):
        assert word in titles, word
    for word in ("Severity: critical", "Device: 核心交换机 (switch, 10.1.0.1)", "Since: 2026-11-20 09:30:00 CST",
                 "Acknowledged by: 张工", "HEIGHTENED WATCH",
                 "Not acknowledged within 6m of opening; escalated to tier 3.",
                 "Still not acknowledged (reminder 2).", "arrived within 5m;"):
        assert word in bodies, word
    chinese_data = r"核心交换机|机房UPS|城东街道|区政府|张工|摄像机\d+|社区\d+|无响应|的|：UPS 由电池供电"
    assert not CJK.search(re.sub(chinese_data, "", titles + bodies))


def test_the_payload_keeps_its_keys_and_codes_in_english():
    with i18n.using("zh-CN"):
        message = render([alert("ack_breach", deadline=OPENED + 180)], ack_hint=HINT, now=OPENED + 200, tz=CST)
    assert message.payload["event"] == "ack_breach" and message.payload["severity"] == "critical"
    assert message.payload["faults"][0]["class"] == "switch" and message.payload["faults"][0]["event"] == "ack_breach"
    assert message.payload["title"] == message.title and "超时未确认" in message.title


@pytest.mark.parametrize("table, keys", [
    (words.SEVERITIES, SEVERITIES), (words.DEVICE_CLASSES, DEVICE_CLASSES),
    (words.PROBE_STATES, {name for names in STATE_NAMES.values() for name in names.values()}),
    (words.FAULT_STATES, ("open", "acknowledged", "resolved", "closed")),
    (words.REACHABILITY, ("up", "down", "pending", "unmonitored"))])
def test_every_shared_word_has_an_entry(table, keys):
    assert set(keys) <= set(table), set(keys) - set(table)


@pytest.mark.parametrize("seconds, en, zh", [
    (45, "45s", "45秒"), (200, "3m 20s", "3分钟20秒"), (3725, "1h 2m", "1小时2分钟"), (90000, "1d 1h", "1天1小时"),
    (7200, "2h", "2小时")])
def test_durations(seconds, en, zh):
    with i18n.using("en"):
        assert words.duration(seconds) == en
    with i18n.using("zh-CN"):
        assert words.duration(seconds) == zh


# -- the command line -----------------------------------------------------------------------------

STATUS_EN = ("DEVICE", "ADDRESS", "CLASS", "SITE", "STATE", "RTT ms", "LOSS %", "JITTER ms", "CONFIG", "LAST SEEN",
             "SINCE")
STATUS_ZH = ("设备", "地址", "类别", "站点", "状态", "时延 ms", "丢包 %", "抖动 ms", "配置", "最后在线", "状态起始")
KEPT_CLI = frozenset({"ms", "SNMP", "SSH", "TCP", "ICMP"})


def status_rows() -> list[dict]:
    class Device:
        def __init__(self, name, address, device_class, site_path, snmp=False):
            self.name, self.address, self.device_class, self.site_path = name, address, device_class, site_path
            self.icmp = type("On", (), {"enabled": True})()
            self.snmp = type("Active", (), {"active": snmp})()
            self.ssh = self.tcp = type("Active", (), {"active": False})()

    states = DeviceStates()
    states.set_inventory([Device("核心交换机", "10.1.0.1", "switch", ("区政府", "中心机房")),
                          Device("机房UPS", "10.1.0.9", "ups", ("区政府", "中心机房"), snmp=True),
                          Device("东街道-终端-01", "10.2.0.7", "codec", ("区政府", "东街道")),
                          Device("nvr-1", "10.3.0.2", "nvr", ("district", "street-3"))])
    states.update([Sample("icmp", {"device": "核心交换机"}, {"up": 1, "loss_pct": 0.0, "rtt_avg_ms": 1.2,
                                                              "jitter_ms": 0.1}, 10**9),
                   Sample("icmp", {"device": "机房UPS"}, {"up": 1, "loss_pct": 0.0, "rtt_avg_ms": 0.8,
                                                          "jitter_ms": 0.1}, 10**9),
                   Sample("snmp", {"device": "机房UPS"}, {"error_code": 1}, 10**9),
                   Sample("icmp", {"device": "东街道-终端-01"}, {"up": 0, "loss_pct": 100.0}, 2 * 10**9)])
    return states.rows()


def column_starts(table: str, cells_per_line: list[str]) -> set[int]:
    return {display_width(line[:line.index(cell)]) for line, cell in zip(table.splitlines(), cells_per_line)}


def test_the_status_table_reads_in_chinese_and_stays_aligned():
    rows = status_rows()
    with i18n.using("zh-CN"):
        table = render_table(rows)
    header = table.splitlines()[0]
    assert all(word in header for word in STATUS_ZH), header
    assert english_left(table, *(row["device"] for row in rows), "district", "street-3", kept=KEPT_CLI) == [], table
    for word in ("离线", "在线", "待检测", "交换机", "UPS", "视频会议终端", "硬盘录像机", "超时"):
        assert word in table, word
    body = table.splitlines()[:5]
    # The SITE column and the STATE column start at one terminal column on every line.
    order = [row["device"] for row in rows]
    sites = ["站点"] + ["/".join(next(r for r in rows if r["device"] == name)["site"].split("/")) for name in order]
    assert len(column_starts("\n".join(body), sites)) == 1, table
    states = ["状态"] + [{"up": "在线", "down": "离线", "pending": "待检测"}[next(
        r for r in rows if r["device"] == name)["state"]] for name in order]
    assert len(column_starts("\n".join(body), states)) == 1, table


def test_the_status_table_reads_in_english():
    with i18n.using("en"):
        table = render_table(status_rows())
    assert all(word in table.splitlines()[0] for word in STATUS_EN)
    assert "DOWN" in table and "PENDING" in table and "timeout" in table and "codec" in table
    assert not CJK.search(re.sub(r"核心交换机|机房UPS|东街道-终端-01|区政府|中心机房|东街道", "", table))


def test_the_status_heading_in_each_language(tmp_path):
    daemon = {"pid": 4242, "devices": 4, "up": 2, "down": 1, "pending": 1, "unmonitored": 1, "icmp_mode": "privileged"}
    with i18n.using("zh-CN"):
        assert _heading(daemon, tmp_path) == "netvigil 进程 4242：共 4 台设备，在线 2，离线 1，待检测 1，未监测 1（ICMP：特权模式）"
        assert _heading(None, tmp_path).startswith("守护进程未运行")
    with i18n.using("en"):
        assert _heading(daemon, tmp_path) == ("netvigil pid 4242: 4 devices, 2 up, 1 down, 1 pending, 1 unmonitored "
                                              "(icmp: privileged)")
    waiting = {**daemon, "unmonitored": 0, "fault_changes_waiting": 12}
    with i18n.using("en"):
        assert _heading(waiting, tmp_path) == ("netvigil pid 4242: 4 devices, 2 up, 1 down, 1 pending; 12 fault "
                                               "changes kept on disk, waiting for the fault database (icmp: privileged)")
    with i18n.using("zh-CN"):
        assert "；12 条故障变更暂存在本机磁盘，等待故障数据库恢复" in _heading(waiting, tmp_path)


FAULT_INVENTORY = """
sites:
  - {name: 区政府}
  - {name: 中心机房, parent: 区政府}
  - {name: 东街道, parent: 区政府}
devices:
  - {name: 核心交换机, address: 127.0.61.1, class: switch, site: 中心机房}
  - {name: 东街道-终端-01, address: 127.0.61.2, class: codec, site: 东街道, parent: 核心交换机}
  - {name: 机房UPS, address: 127.0.61.3, class: ups, site: 中心机房}
"""


@pytest.fixture
def fault_site(tmp_path):
    """A settings file naming a language, and a fault store with a root fault, its symptom, a
    resolved and closed one and a maintenance window: every line `faults` and `faults show` print."""
    (tmp_path / "inventory.yaml").write_text(FAULT_INVENTORY, encoding="utf-8")
    (tmp_path / "state").mkdir()
    now = time.time()
    store = FaultStore(tmp_path / "state" / "faults.db")

    def open_(name, cls, path, rule, message, **kw):
        fault, _created = store.open(DeviceInfo(name, cls, path), rule, "", severity=kw.pop("severity", "critical"),
                                     message=message, value=100.0, threshold=50.0, higher_is_worse=True,
                                     at=kw.pop("at", now - 600), sla=SlaSettings(), reopen_window_s=600, **kw)
        return fault

    core = open_("核心交换机", "switch", ("区政府", "中心机房"), "device_unreachable", "中心机房 的 核心交换机 无响应")
    codec = open_("东街道-终端-01", "codec", ("区政府", "东街道"), "device_unreachable", "东街道 的 东街道-终端-01 无响应",
                  symptom_of=core.id)
    ups = open_("机房UPS", "ups", ("区政府", "中心机房"), "ups_on_battery", "中心机房 的 机房UPS：UPS 由电池供电",
                severity="major", at=now - 7200)
    store.acknowledge(ups.id, "张工", note="已通知供电局")
    store.resolve(ups.id, "张工")
    store.close(ups.id, "张工", cause="市电中断", resolution="恢复供电", prevention="增加电池组")
    store.maintenance.add("东街道线路割接", Selector(sites=["东街道"], classes=["codec"]), now - 60, now + 3600, by="李工")
    store.disconnect()

    def settings(language: str):
        path = tmp_path / f"netvigil-{language}.yaml"
        path.write_text(f"language: {language}\ninventory: [inventory.yaml]\nstate_dir: state\nrules: {{dirs: []}}\n"
                        "faults: {timezone: Asia/Shanghai, budget: {faults_per_month: 0}}\n", encoding="utf-8")
        return path

    return settings, {"core": core.id, "codec": codec.id, "ups": ups.id}


def cli(capsys, *argv) -> str:
    with i18n.using("en"):  # the settings' language applies inside; the tests after this one keep theirs
        code = main(list(argv))
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


FAULT_NAMES = ("核心交换机", "东街道-终端-01", "机房UPS", "device_unreachable", "ups_on_battery", "区政府", "中心机房",
               "东街道", "张工", "李工", "市电中断", "恢复供电", "增加电池组", "已通知供电局", "东街道线路割接",
               "netvigil close", "--cause", "--resolution", "--prevention")


def test_faults_and_faults_show_read_in_chinese_from_the_language_setting(fault_site, capsys):
    settings, ids = fault_site
    listing = cli(capsys, "faults", "-c", str(settings("zh-CN")))
    assert listing.splitlines()[0].split() == ["编号", "状态", "级别", "设备", "规则", "发生时间", "持续时长", "确认人", "备注"]
    for word in ("未处理", "已关闭", "紧急", "重要", f"衍生于 {ids['core']}", "本月故障次数超出每月 0 次预算的设备"):
        assert word in listing, word
    assert english_left(listing, *FAULT_NAMES) == [], listing
    lines = listing.splitlines()[:4]
    devices = ["设备"] + [next(name for name in ("核心交换机", "东街道-终端-01", "机房UPS") if name in line)
                        for line in lines[1:]]
    assert len(column_starts("\n".join(lines), devices)) == 1, listing

    shown = "\n".join(cli(capsys, "faults", "show", str(ids[key]), "-c", str(settings("zh-CN")))
                      for key in ("core", "codec", "ups"))
    for word in (f"故障 {ids['core']}：未处理  紧急  核心交换机", "  描述：", "  站点：", "类别：交换机", "  数值：",
                 "首次 100", "发生次数 1", "  确认：", "尚未完成，已超出 SLA 时限 3分钟 达 ", "  修复：", "其下游衍生故障 1 个",
                 f"故障 {ids['core']}（本身不单独告警）", "无 SLA 计时", "由 张工 完成", "  原因：", "  处理措施：",
                 "  预防措施：", "  备注 "):
        assert word in shown, word
    assert english_left(shown, *FAULT_NAMES) == [], shown
    labels = [line for line in shown.splitlines() if line.startswith("  描述：") or line.startswith("  站点：")]
    assert len({display_width(line[:line.index("  ", 4)]) for line in labels}) == 1

    maintenance = cli(capsys, "maintenance", "list", "-c", str(settings("zh-CN")))
    assert maintenance.splitlines()[0].split() == ["编号", "名称", "开始", "结束", "范围", "添加人", "提前结束"]
    assert "站点 东街道; 类别 视频会议终端" in maintenance
    assert english_left(maintenance, *FAULT_NAMES) == [], maintenance


def test_faults_and_faults_show_read_in_english_from_the_language_setting(fault_site, capsys):
    settings, ids = fault_site
    listing = cli(capsys, "faults", "-c", str(settings("en")))
    assert listing.splitlines()[0].split() == ["ID", "STATE", "SEVERITY", "DEVICE", "RULE", "OPENED", "FOR", "ACK",
                                               "NOTE"]
    assert "OPEN" in listing and "CLOSED" in listing and f"symptom of {ids['core']}" in listing
    shown = cli(capsys, "faults", "show", str(ids["ups"]), "-c", str(settings("en")))
    assert "  cause:        市电中断" in shown and "  acknowledge:  " in shown
    assert "sites 东街道; classes codec" in cli(capsys, "maintenance", "list", "-c", str(settings("en")))


def test_rules_list_reads_in_each_language(tmp_path, capsys):
    settings = tmp_path / "netvigil.yaml"
    (tmp_path / "inventory.yaml").write_text(FAULT_INVENTORY, encoding="utf-8")
    settings.write_text("language: zh-CN\ninventory: [inventory.yaml]\nstate_dir: state\n", encoding="utf-8")
    out = cli(capsys, "rules", "list", "-c", str(settings))
    assert out.splitlines()[0].split() == ["规则", "状态", "级别", "指标", "/", "适用范围", "/", "来源"]
    assert "内置" in out and "全部设备" in out and "条规则生效" in out
    with i18n.using("en"):
        assert [i18n._(text) for text in RULE_HEADINGS] == ["RULE", "STATUS", "SEVERITY",
                                                             "MEASUREMENT / MATCH / SOURCE"]


def test_probe_output_reads_in_each_language():
    target = Target(device="核心交换机", address="10.1.0.1", tags={})
    up = {"up": 1, "sent": 5, "received": 5, "loss_pct": 0.0, "rtt_min_ms": 0.5, "rtt_avg_ms": 0.6, "rtt_max_ms": 0.7,
          "jitter_ms": 0.1, "result_code": ResultCode.OK}
    down = {"up": 0, "sent": 5, "received": 0, "loss_pct": 100.0, "result_code": ResultCode.TIMEOUT}
    with i18n.using("zh-CN"):
        assert _describe(target, up, [], "unprivileged") == (
            "核心交换机 (10.1.0.1)：在线，应答 5/5，丢包 0.0 %，时延 最小/平均/最大 0.500/0.600/0.700 ms，抖动 0.100 ms"
            "  [ICMP，非特权 ICMP 套接字]")
        assert _describe(target, down, [], "privileged") == (
            "核心交换机 (10.1.0.1)：离线，应答 0/5，丢包 100.0 %，超时前无应答  [ICMP，原始套接字]")
    with i18n.using("en"):
        assert _describe(target, down, [], "privileged") == (
            "核心交换机 (10.1.0.1): DOWN, 0/5 replies, loss 100.0 %, no reply before the timeout  [icmp via raw sockets]")


# -- the reports ----------------------------------------------------------------------------------

REPORT_ROOT = Path(__file__).resolve().parents[2]
CN_2026 = REPORT_ROOT / "config" / "holidays" / "cn-2026.yaml"
# What the reports' rows carry that is English by nature: names of devices and rules, the zone,
# the heightened-watch periods' names from the settings, the notification channel, people.
REPORT_DATA = ("core-sw", "srv-1", "ups-1", "codec-a", "codec-b", "device_unreachable", "cpu_high", "packet_loss_video",
               "Asia/Shanghai", "major event", "year end", "oncall-mail", "zhang", "on my way",
               "power supply replaced", "core-sw does not answer ping")
# Why the monthly report's network quality table has no figures here (no metrics store): a
# sentence naming a path, English like every sentence about the configuration.
NO_METRICS = re.compile(r"no metrics store: no InfluxDB output and no \S+")
REPORT_KEPT = frozenset({"UPS", "SLA", "ICMP", "ms", "html", "head", "meta", "charset", "utf", "title", "style", "body", "table",
                         "thead", "tbody", "tr", "th", "td", "class", "num", "id", "lang", "zh", "CN", "DOCTYPE", "h1",
                         "h2", "p", "empty"})


def report_site(tmp_path: Path, language: str) -> Path:
    (tmp_path / "inventory.yaml").write_text(REPORT_INVENTORY, encoding="utf-8")
    settings = tmp_path / f"netvigil-{language}.yaml"
    settings.write_text(
        f"language: {language}\ninventory: [inventory.yaml]\nstate_dir: state\nrules: {{dirs: []}}\n"
        "faults: {timezone: Asia/Shanghai, sla: {acknowledge_s: 180, resolve_s: 3600, warn_before_resolve_s: 600},\n"
        "         heightened_watch: {periods: [{name: major event, start: '2026-11-09', end: '2026-11-11'}]}}\n"
        f"reports: {{holiday_files: [{CN_2026}]}}\n", encoding="utf-8")
    return settings


REPORT_INVENTORY = """
sites: [{name: 机房}, {name: 街道A}]
devices:
  - {name: core-sw, address: 127.0.62.1, class: switch, site: 机房}
  - {name: srv-1, address: 127.0.62.2, class: server, site: 机房}
  - {name: ups-1, address: 127.0.62.3, class: ups, site: 机房}
  - {name: codec-a, address: 127.0.62.4, class: codec, site: 街道A}
  - {name: codec-b, address: 127.0.62.5, class: codec, site: 街道A}
"""


def workbook_texts(path: Path) -> tuple[list[str], list[str]]:
    """Every sheet's title and headings (rows 1-2), and every text cell below them."""
    book = load_workbook(path)
    headings, cells = [], []
    for sheet in book.worksheets:
        for number, row in enumerate(sheet.iter_rows(values_only=True), start=1):
            texts = [value for value in row if isinstance(value, str)]
            (headings if number <= 2 else cells).extend(texts)
    return headings, cells


@pytest.fixture(scope="module")
def report_files(tmp_path_factory):
    """The monthly report of a month of known faults and the fault report of a fault with a
    timeline, each written (HTML and XLSX) by `netvigil report` in zh-CN and in en."""
    tmp_path = tmp_path_factory.mktemp("reports")
    state = tmp_path / "state"
    state.mkdir()
    store, _configs = report_month.build(state)
    store.disconnect()
    with FaultStore(state / "faults.db") as store:
        late = store.list(limit=1)[0]
    eve = tmp_path / "eve"
    eve.mkdir()
    _eve_of_national_day(eve)
    files = {}
    for language in ("zh-CN", "en"):
        settings = report_site(tmp_path, language)
        out = tmp_path / f"out-{language}"
        cli_quiet("report", "monthly", "--month", "2026-11", "-c", str(settings), "--out", str(out),
                  "--format", "html,xlsx,csv")
        cli_quiet("report", "fault", str(late.id), "-c", str(settings), "--out", str(out))
        eve_settings = tmp_path / f"eve-{language}.yaml"
        eve_settings.write_text(settings.read_text(encoding="utf-8").replace("state_dir: state", "state_dir: eve"),
                                encoding="utf-8")
        cli_quiet("report", "fault", "1", "-c", str(eve_settings), "--out", str(out / "eve"))
        files[language] = {"monthly": out / "monthly-2026-11", "fault": out / f"fault-{late.id}",
                           "eve": out / "eve" / "fault-1"}
    return files


def cli_quiet(*argv: str) -> None:
    with i18n.using("en"):
        assert main(list(argv)) == 0


@pytest.mark.parametrize("report", ["monthly", "fault", "eve"])
def test_the_reports_read_in_chinese(report_files, report):
    stem = report_files["zh-CN"][report]
    headings, cells = workbook_texts(stem.with_suffix(".xlsx"))
    headings = [NO_METRICS.sub(" ", text) for text in headings]
    assert english_left(" ".join(headings), *REPORT_DATA, kept=frozenset({"ICMP", "ms"})) == [], headings
    assert english_left(" ".join(cells), *REPORT_DATA, kept=REPORT_KEPT) == [], cells
    page = stem.with_suffix(".html").read_text(encoding="utf-8")
    text = NO_METRICS.sub(" ", html.unescape(re.sub(r"<style>.*?</style>|<[^>]+>", " ", page, flags=re.S)))
    assert english_left(text, *REPORT_DATA, kept=REPORT_KEPT) == [], text
    assert '<html lang="zh-CN">' in page
    expected = {
        "monthly": ("月度运维报告 2026-11", "概要", "月份", "本报告所有时间的时区", "各站点可用率", "各类别设备可用率",
                    "按级别统计故障", "合同时限", "超出合同时限的故障", "故障最多的设备", "重点保障期", "可用率（%）",
                    "交换机", "视频会议终端", "紧急", "确认", "修复"),
        "fault": ("故障分析报告", "故障编号", "处理过程", "下游受影响设备（衍生故障）", "故障分析", "尚未填写"),
        "eve": ("故障分析报告", "确认时限", "达标", "分析报告截止日期（恢复后 1 个工作日）", "是", "发生", "已确认",
                "已恢复", "通知", "告警 -> oncall-mail（已发送）", "紧急: core-sw does not answer ping"),
    }[report]
    everything = " ".join(headings + cells) + page
    for word in expected:
        assert word in everything, word
    if report == "monthly":  # one CSV per table: its header row is the table's headings
        with (stem.parent / "monthly-2026-11-summary.csv").open(encoding="utf-8-sig") as handle:
            assert next(csv.reader(handle)) == ["项目", "值"]
        with (stem.parent / "monthly-2026-11-availability-device.csv").open(encoding="utf-8-sig") as handle:
            assert next(csv.reader(handle)) == ["设备", "站点", "类别", "故障数", "中断时长（分钟）", "可用率（%）"]


@pytest.mark.parametrize("report", ["monthly", "fault", "eve"])
def test_the_reports_read_in_english(report_files, report):
    stem = report_files["en"][report]
    headings, cells = workbook_texts(stem.with_suffix(".xlsx"))
    assert not CJK.search(re.sub(r"机房|街道A", "", " ".join(headings + cells)))
    page = stem.with_suffix(".html").read_text(encoding="utf-8")
    assert '<html lang="en">' in page
    expected = {"monthly": ("Monthly operations and maintenance report 2026-11", "Summary", "Availability by site",
                            "switch", "critical"),
                "fault": ("Fault analysis report", "Timeline", "not written yet"),
                "eve": ("open -> oncall-mail (sent)", "critical: core-sw does not answer ping", "met")}[report]
    for word in expected:
        assert word in " ".join(headings + cells) + page, word


# -- what the rule engine says itself, `rules test`, `config history` -----------------------------------

FLAPPY = """
rules:
  - {name: port_down, measurement: snmp_if, when: "oper_status == 2", instance: "{name}", severity: major,
     flap: {changes: 3, window: 10m}, message: "{device}: port {instance} down"}
"""


def test_cleared_and_flapping_messages_read_in_each_language(tmp_path):
    from monitor.rules.engine import RuleEngine
    from monitor.rules.model import load_paths
    from monitor.rules.settings import RulesSettings

    (tmp_path / "rules.yaml").write_text(FLAPPY, encoding="utf-8")
    switch = DeviceInfo("核心交换机", "switch", ("区政府",))
    said = {}
    for language in ("zh-CN", "en"):
        with i18n.using(language):
            engine = RuleEngine(load_paths([tmp_path / "rules.yaml"]), [switch], RulesSettings())
            out = []
            for step, status in enumerate([2, 1, 2]):
                out += engine.evaluate([Sample("snmp_if", {"device": "核心交换机", "name": "GE0/0/1"},
                                               {"oper_status": status}, (1_780_000_000 + 30 * step) * 10**9)])
            out += engine.tick((1_780_000_000 + 60 + 660) * 10**9)
            said[language] = [t.message for t in out if t.rule == "flapping" or t.action == "clear"]
    assert said["en"] == ["核心交换机: port_down GE0/0/1 cleared (back to normal)",
                          "核心交换机: port_down GE0/0/1 flapping, 3 changes in 10m",
                          "核心交换机: port_down GE0/0/1 no longer flapping (stable for a whole window)"]
    assert said["zh-CN"] == ["核心交换机：port_down GE0/0/1 已恢复（恢复正常）",
                             "核心交换机：port_down GE0/0/1 频繁振荡，10分钟 内变化 3 次",
                             "核心交换机：port_down GE0/0/1 已停止振荡（整个观察窗口内保持稳定）"]


def test_rules_test_reads_in_chinese(capsys):
    from tests.unit.test_rules_cli import run as rules_cli

    samples = REPORT_ROOT / "tests" / "data" / "rules" / "samples.lp"
    with i18n.using("zh-CN"):  # the command's own function: no settings file to name a language
        assert rules_cli("rules", "test", str(REPORT_ROOT / "monitor" / "rules" / "defaults"), str(samples)) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    # The action and severity columns keep their width in terminal columns.
    for text in ("Z  发生      提示      east-sw-01", "Z  持续 ×1   重要      community-a-codec",
                 "自 2026-06-01T08:02:30Z 起持续；最近值 15，最差值 15", "Z  恢复      重要      community-a-codec",
                 "community-a-codec：packet_loss_video 已恢复（恢复正常）"):
        assert text in out, out
    assert lines[-2].startswith("-- 样本 11 个，规则 ") and lines[-2].endswith("；结束时未恢复：1"), lines[-2]


def test_config_history_reads_in_each_language(tmp_path, capsys):
    from monitor.config_store import ConfigStore

    (tmp_path / "inventory.yaml").write_text(FAULT_INVENTORY, encoding="utf-8")
    (tmp_path / "state").mkdir()
    store = ConfigStore(tmp_path / "state" / "configs")
    store.save("核心交换机", "sysname core\n", fetched_at=1_780_000_000)
    store.save("核心交换机", "sysname core\nvlan 10\n", fetched_at=1_780_086_400)
    for language, expected in (("zh-CN", ("核心交换机：共 2 个版本；最近检查 ", "     2 行  sha256 ")),
                               ("en", ("核心交换机: 2 versions; last checked ", "     2 lines  sha256 "))):
        settings = tmp_path / f"netvigil-{language}.yaml"
        settings.write_text(f"language: {language}\ninventory: [inventory.yaml]\nstate_dir: state\n",
                            encoding="utf-8")
        out = cli(capsys, "config", "history", "核心交换机", "-c", str(settings))
        assert all(text in out for text in expected), out


def test_check_and_the_snmp_probe_line_read_in_each_language(tmp_path, capsys):
    from types import SimpleNamespace

    from monitor.cli.snmp import _describe as snmp_line

    (tmp_path / "inventory.yaml").write_text(FAULT_INVENTORY, encoding="utf-8")
    settings = tmp_path / "netvigil.yaml"
    settings.write_text("language: zh-CN\ninventory: [inventory.yaml]\nstate_dir: state\n", encoding="utf-8")
    assert cli(capsys, "check", "-c", str(settings)) == f"正常：{settings}：1 个设备清单文件，3 个站点，3 台设备\n"

    device = SimpleNamespace(name="机房UPS", address="10.1.0.9", sample_tags={"device": "机房UPS"})
    result = SimpleNamespace(samples=[Sample("snmp", {"device": "机房UPS"}, {"up": 0, "requests": 3, "varbinds": 0,
                                                                             "duration_ms": 3000.0}, 0)],
                             sys_object_id=None, profiles=[], error=SimpleNamespace(detail="no answer in 1 s"),
                             empty=())
    with i18n.using("zh-CN"):
        assert snmp_line(device, result) == ("机房UPS（10.1.0.9）：SNMP 离线，请求 3 次，变量绑定 0 个，耗时 3000.0 ms\n"
                                             "  采集模板：无\n  错误：no answer in 1 s")
    with i18n.using("en"):
        assert snmp_line(device, result) == ("机房UPS (10.1.0.9): SNMP DOWN, 3 requests, 0 varbinds, 3000.0 ms\n"
                                             "  profiles: none\n  error: no answer in 1 s")
    answered = SimpleNamespace(samples=[Sample("snmp", {"device": "机房UPS"}, {"up": 1, "requests": 2, "varbinds": 9,
                                                                               "duration_ms": 4.0}, 0)],
                               sys_object_id=None, profiles=["system", "ups"], error=None, empty=("ups",))
    with i18n.using("zh-CN"):
        assert snmp_line(device, answered).splitlines()[-2:] == ["  采集模板：system, ups",
                                                                 "  在此代理上未采到任何数据：ups"]
    with i18n.using("en"):
        assert snmp_line(device, answered).splitlines()[-1] == "  found nothing on this agent: ups"


def test_ack_resolve_close_and_maintenance_confirmations_read_in_chinese(fault_site, capsys):
    settings, ids = fault_site
    zh = str(settings("zh-CN"))
    said = [cli(capsys, "ack", str(ids["core"]), "--by", "王工", "-c", zh),
            cli(capsys, "resolve", str(ids["core"]), "--by", "王工", "-c", zh),
            cli(capsys, "close", str(ids["core"]), "--by", "王工", "--cause", "光纤中断", "--resolution", "熔接",
                "--prevention", "加装保护", "-c", zh),
            cli(capsys, "maintenance", "add", "机房搬迁", "--site", "中心机房", "--class", "ups", "--for", "2h",
                "--by", "李工", "-c", zh)]
    window = re.match(r"维护窗口 (\d+)“", said[-1]).group(1)
    said.append(cli(capsys, "maintenance", "end", window, "--by", "李工", "-c", zh))
    text = "".join(said)
    for words_said in (f"故障 {ids['core']} 已由 王工 确认，用时 ", f"故障 {ids['core']} 已由 王工 标记为恢复",
                       "请填写故障分析：netvigil close", f"故障 {ids['core']} 已由 王工 关闭", "维护窗口 ",
                       "“机房搬迁”：", "范围 站点 中心机房; 类别 UPS；期间故障照常记录但不告警", "“机房搬迁”已结束"):
        assert words_said in text, text
    assert english_left(text, *FAULT_NAMES, "王工", "机房搬迁") == [], text


def test_profiles_list_frames_read_in_chinese(tmp_path, capsys):
    (tmp_path / "inventory.yaml").write_text(FAULT_INVENTORY, encoding="utf-8")
    settings = tmp_path / "netvigil.yaml"
    settings.write_text("language: zh-CN\ninventory: [inventory.yaml]\nstate_dir: state\n", encoding="utf-8")
    out = cli(capsys, "profiles", "list", "-c", str(settings))
    # The profiles' own descriptions are written in English in their YAML files; the frame is not.
    for text in ("SNMP 采集模板（按设备类别和 sysObjectID 选用）：", "    选用条件：类别 ups", "    写入指标：",
                 "SSH 命令模板（在 ssh: {profiles: [...]} 中指定）：", "    执行（netmiko cisco_ios）：",
                 "    配置备份：show running-config", "    执行（exec 通道）：",
                 "    选用条件：类别 server; 仅当代理有 1.3.6.1.4.1.3582.4.1.4.1.2.1.1.0 时"):
        assert text in out, text
