"""`netvigil inventory import`: an equipment list (CSV saved from a spreadsheet) to inventory YAML.

Columns, named in a header row, in any order, case-insensitive::

    name, address, class, site [, parent, tags]

Chinese headers are accepted too (see COLUMN_NAMES): 名称/设备名称, IP/IP地址/管理地址,
类型/设备类型, 站点/位置/location, 上级设备/上联设备, 标签. Other columns (model, serial number, ...)
are ignored, and said so. `parent` holds one or more device names separated by `;` or `|`;
`tags` are separated by `;`, `|`, commas or spaces (full-width `；`, `，` and `、` too).

Encoding: UTF-8 with or without a BOM; bytes that are not UTF-8 are read as GB18030, which
is how Excel on Chinese Windows saves "CSV", and a note says so.

The class column takes the canonical classes (mcu, codec, phone, switch, router, ups, nvr,
camera, server, env_sensor, other) in any case, or these spreadsheet words (CLASS_SYNONYMS):

    switch      交换机, 核心交换机, 汇聚交换机, 接入交换机, sw
    router      路由器, 网关, gateway
    camera      摄像机, 摄像头, 网络摄像机, 枪机, 球机, 半球, IPC, IP camera
    nvr         录像机, 硬盘录像机, 网络硬盘录像机, 存储, 磁盘阵列, DVR, storage
    server      服务器
    codec       终端, 会议终端, 视频终端, 视频会议终端, 一体机, terminal
    mcu         多点控制单元
    phone       IP电话, 视频电话, 可视电话, IP phone, video phone
    ups         不间断电源, UPS电源
    env_sensor  温湿度, 温湿度传感器, 环境监控, 动环, 动环监控, 烟感, 水浸, sensor, environment sensor
    other       其他, 其它, 打印机, 自助终端, 门禁, printer, kiosk

Spaces, `-` and `_` do not matter when matching ("env sensor", "IP-Phone").

A bad row (missing name, address or site; unknown class; invalid address; a name or address
already used in the CSV or, with `-c`, in the existing inventory; an unknown or skipped
parent) is reported as `file.csv:ROW: column: message` (ROW is the line in the file, the
header is line 1) and skipped; the good rows are written. Sites the existing inventory does
not define (matched by name, then by label) are written as new root sites, so the output
passes `netvigil check` when dropped next to the existing inventory; move them under their
parents afterwards. Exit 0 when no row was skipped, 2 otherwise.
"""

from __future__ import annotations

import csv
import io
import re
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import yaml

from monitor import config, inventory, yamlfile
from monitor.problems import EXIT_CONFIG, EXIT_OK, EXIT_RUNTIME
from probes.icmp.settings import IcmpSettings

CLASS_SYNONYMS: dict[str, str] = {
    **dict.fromkeys(("交换机", "核心交换机", "汇聚交换机", "接入交换机", "sw"), "switch"),
    **dict.fromkeys(("路由器", "网关", "gateway"), "router"),
    **dict.fromkeys(("摄像机", "摄像头", "网络摄像机", "枪机", "球机", "半球", "IPC", "IP camera"), "camera"),
    **dict.fromkeys(("录像机", "硬盘录像机", "网络硬盘录像机", "存储", "磁盘阵列", "DVR", "storage"), "nvr"),
    **dict.fromkeys(("服务器",), "server"),
    **dict.fromkeys(("终端", "会议终端", "视频终端", "视频会议终端", "一体机", "terminal"), "codec"),
    **dict.fromkeys(("多点控制单元",), "mcu"),
    **dict.fromkeys(("IP电话", "视频电话", "可视电话", "IP phone", "video phone"), "phone"),
    **dict.fromkeys(("不间断电源", "UPS电源"), "ups"),
    **dict.fromkeys(("温湿度", "温湿度传感器", "环境监控", "动环", "动环监控", "烟感", "水浸", "sensor",
                     "environment sensor"), "env_sensor"),
    **dict.fromkeys(("其他", "其它", "打印机", "自助终端", "门禁", "printer", "kiosk"), "other"),
}

COLUMN_NAMES: dict[str, tuple[str, ...]] = {
    "name": ("name", "名称", "设备名称", "设备名"),
    "address": ("address", "ip", "ip地址", "管理地址", "host"),
    "class": ("class", "type", "类型", "设备类型", "类别"),
    "site": ("site", "location", "站点", "位置", "地点", "所属站点"),
    "parent": ("parent", "parents", "上级设备", "上联设备", "上级"),
    "tags": ("tags", "tag", "标签"),
}
REQUIRED_COLUMNS = ("name", "address", "class", "site")

_TAG_SEPARATORS = re.compile(r"[;|,\s；，、]+")
_PARENT_SEPARATORS = re.compile(r"\s*[;|；、]\s*")


def _folded(text: str) -> str:
    return re.sub(r"[\s_-]+", "", text.casefold())


_CLASS_LOOKUP = {_folded(word): cls for word, cls in CLASS_SYNONYMS.items()}
_CLASS_LOOKUP.update({_folded(cls): cls for cls in inventory.DEVICE_CLASSES})
_COLUMN_LOOKUP = {_folded(word): column for column, words in COLUMN_NAMES.items() for word in words}


@dataclass
class _Row:
    line: int
    name: Optional[str] = None
    address: Optional[str] = None
    address_key: Optional[str] = None
    device_class: Optional[str] = None
    site: Optional[str] = None
    parents: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    skipped: bool = False


class _Existing:
    """What the current inventory already defines (empty without `-c`)."""

    def __init__(self, cfg: Optional[config.Config]) -> None:
        self.cfg = cfg
        self.devices = {d.name: d.source for d in cfg.inventory.devices} if cfg else {}
        self.addresses = {inventory.address_key(d.address): d for d in cfg.inventory.devices} if cfg else {}
        self.sites = set(cfg.inventory.sites) if cfg else set()
        labels: dict[str, list[str]] = {}
        for site in (cfg.inventory.sites.values() if cfg else ()):
            labels.setdefault(site.label, []).append(site.name)
        self.site_by_label = {label: names[0] for label, names in labels.items() if len(names) == 1}

    def site_name(self, text: str) -> Optional[str]:
        if text in self.sites:
            return text
        return self.site_by_label.get(text)


class _Importer:
    def __init__(self, csv_name: str, existing: _Existing) -> None:
        self.csv_name = csv_name
        self.existing = existing
        self.problems: list[tuple[int, str]] = []
        self.rows: list[_Row] = []

    def problem(self, row: _Row, column: str, message: str) -> None:
        self.problems.append((row.line, f"{self.csv_name}:{row.line}: {column}: {message}"))
        row.skipped = True

    def read_row(self, row: _Row, cells: dict[str, str]) -> None:
        for column in ("name", "site"):
            value = cells.get(column, "")
            problem = "missing" if not value else inventory.name_problem(value)
            if problem:
                self.problem(row, column, problem)
            else:
                setattr(row, column, value)
        address = cells.get("address", "")
        if not address:
            self.problem(row, "address", "missing")
        else:
            row.address, row.address_key = address, inventory.address_key(address)
            if row.address_key is None:
                self.problem(row, "address",
                             f"invalid address {address!r}: neither an IP address nor a valid host name")
        text = cells.get("class", "")
        row.device_class = _CLASS_LOOKUP.get(_folded(text))
        if not text:
            self.problem(row, "class", f"missing (one of {', '.join(inventory.DEVICE_CLASSES)})")
        elif row.device_class is None:
            choices = list(inventory.DEVICE_CLASSES) + list(CLASS_SYNONYMS)
            hint = config.did_you_mean(text, choices) or f" (one of {', '.join(inventory.DEVICE_CLASSES)})"
            self.problem(row, "class", f"unknown class {text!r}{hint}")
        parents = [p for p in _PARENT_SEPARATORS.split(cells.get("parent", "")) if p]
        row.parents = tuple(dict.fromkeys(parents))
        row.tags = tuple(dict.fromkeys(t for t in _TAG_SEPARATORS.split(cells.get("tags", "")) if t))
        if row.site is not None:
            row.site = self.existing.site_name(row.site) or row.site

    def check_duplicates(self) -> None:
        names: dict[str, _Row] = {}
        addresses: dict[str, _Row] = {}
        for row in self.rows:
            if row.name is not None:
                if row.name in self.existing.devices:
                    self.problem(row, "name", f"device '{row.name}' already exists "
                                              f"({self.existing.devices[row.name]})")
                elif row.name in names:
                    self.problem(row, "name", f"duplicate name '{row.name}' (also on line {names[row.name].line})")
                else:
                    names[row.name] = row
            if row.address_key is not None:
                device = self.existing.addresses.get(row.address_key)
                if device is not None:
                    self.problem(row, "address", f"address '{row.address}' is already used by device "
                                                 f"'{device.name}' ({device.source})")
                elif row.address_key in addresses:
                    other = addresses[row.address_key]
                    by = f"by '{other.name}' (line {other.line})" if other.name else f"on line {other.line}"
                    self.problem(row, "address", f"address '{row.address}' is also used {by}")
                else:
                    addresses[row.address_key] = row

    def check_parents(self) -> None:
        """Parents must be written too (or exist already); a skipped parent skips its children."""
        by_name: dict[str, _Row] = {}
        for row in self.rows:
            if row.name is not None and row.name not in self.existing.devices:
                by_name.setdefault(row.name, row)  # a later duplicate is skipped; the first is the parent
        for row in self.rows:
            for parent in row.parents:
                if parent not in by_name and parent not in self.existing.devices:
                    hint = config.did_you_mean(parent, list(by_name) + list(self.existing.devices))
                    self.problem(row, "parent", f"unknown device '{parent}'{hint}")
        graph = {row.name: tuple(p for p in row.parents if p in by_name)
                 for row in by_name.values() if not row.skipped}
        for cycle in inventory.find_cycles(graph):
            for name in cycle[:-1]:
                self.problem(by_name[name], "parent", f"parent cycle: {' -> '.join(cycle)}")
        changed = True
        while changed:  # a skipped parent skips its children, and theirs
            changed = False
            for row in self.rows:
                if row.skipped:
                    continue
                skipped = next((p for p in row.parents if p in by_name and by_name[p].skipped), None)
                if skipped is not None:
                    self.problem(row, "parent", f"device '{skipped}' (line {by_name[skipped].line}) is skipped")
                    changed = True

    def document(self) -> dict:
        rows = [row for row in self.rows if not row.skipped]
        new_sites = list(dict.fromkeys(row.site for row in rows if row.site not in self.existing.sites))
        data: dict = {}
        if new_sites:
            data["sites"] = [{"name": site} for site in new_sites]
        devices = []
        for row in rows:
            entry = {"name": row.name, "address": row.address, "class": row.device_class, "site": row.site}
            if row.parents:
                entry["parent"] = row.parents[0] if len(row.parents) == 1 else list(row.parents)
            if row.tags:
                entry["tags"] = list(row.tags)
            devices.append(entry)
        data["devices"] = devices
        return data


def _decode(raw: bytes, name: str) -> tuple[str, Optional[str]]:
    try:
        return raw.decode("utf-8-sig"), None
    except UnicodeDecodeError:
        text = raw.decode("gb18030")  # raises on bytes that are not GB18030 either
        return text, f"{name}: not UTF-8; read as GB18030 (how Excel on Chinese Windows saves CSV)"


def _records(text: str):
    """(first physical line, cells) for every record; a quoted cell may span lines."""
    reader = csv.reader(io.StringIO(text, newline=""))
    line = 1
    for cells in reader:
        yield line, cells
        line = reader.line_num + 1


def _header(cells: list[str], line: int, name: str, problems: list[str], notes: list[str]) -> dict[str, int]:
    columns: dict[str, int] = {}
    ignored = []
    for index, cell in enumerate(cells):
        column = _COLUMN_LOOKUP.get(_folded(cell))
        if column is None:
            if cell.strip():
                ignored.append(cell.strip())
        elif column in columns:
            problems.append(f"{name}:{line}: {column}: the header names this column twice")
        else:
            columns[column] = index
    for column in REQUIRED_COLUMNS:
        if column not in columns:
            hint = config.did_you_mean(column, ignored)
            problems.append(f"{name}:{line}: {column}: missing column; the header row must name "
                            f"{', '.join(REQUIRED_COLUMNS)}{hint}")
    if ignored:
        notes.append(f"{name}:{line}: ignoring columns: {', '.join(ignored)}")
    return columns


def _read_table(text: str, name: str, importer: _Importer) -> tuple[list[str], list[str]]:
    """The header, then every row into `importer`; returns the problems that stop the import
    (no usable header) and notes (ignored columns)."""
    problems: list[str] = []
    notes: list[str] = []
    columns: Optional[dict[str, int]] = None
    try:
        for line, cells in _records(text):
            if not any(cell.strip() for cell in cells):
                continue  # spreadsheets leave empty rows (",,,,") behind
            if columns is None:
                columns = _header(cells, line, name, problems, notes)
                if problems:
                    break
                continue
            row = _Row(line)
            importer.rows.append(row)
            importer.read_row(row, {column: cells[index].strip() if index < len(cells) else ""
                                    for column, index in columns.items()})
    except csv.Error as exc:
        problems.append(f"{name}: not a readable CSV file: {exc}")
    if columns is None and not problems:
        problems.append(f"{name}:1: the file is empty; the first row must name the columns "
                        f"{', '.join(REQUIRED_COLUMNS)}")
    return problems, notes


def _self_check(data: dict, output_name: str, existing: _Existing) -> list[str]:
    """Resolve the output with the existing inventory, exactly as `netvigil check` will."""
    text = _dump(data, "")
    documents = []
    icmp = IcmpSettings()
    if existing.cfg is not None:
        documents = [yamlfile.read(Path(name), name) for name in existing.cfg.inventory.files]
        icmp = existing.cfg.settings.probes.icmp
    documents.append(yamlfile.parse(text, output_name))
    try:
        inventory.resolve(documents, icmp)
    except config.ConfigError as exc:
        return exc.problems
    return []


def _dump(data: dict, source: str) -> str:
    header = f"# Imported by `netvigil inventory import` from {source}\n" if source else ""
    return header + yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=120)


def import_command(args) -> int:
    """Convert `args.csv` to inventory YAML (to `args.output`, or standard output)."""
    try:
        return _import(args)
    except BrokenPipeError:
        raise  # standard output closed (`| head`): monitor.cli.main ends quietly
    except Exception as exc:  # noqa: BLE001 - a bug; say where without the message (it may quote data)
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        print(f"netvigil inventory import: internal error {type(exc).__name__} at {frame.filename}:{frame.lineno}; "
              "please report it", file=sys.stderr)
        return EXIT_RUNTIME


def _import(args) -> int:
    name = str(args.csv)
    try:
        raw = args.csv.read_bytes()
    except OSError as exc:
        print(f"{name}: cannot read: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_CONFIG
    try:
        text, note = _decode(raw, name)
    except UnicodeDecodeError:
        print(f"{name}: neither UTF-8 nor GB18030 text; save the sheet as \"CSV UTF-8\"", file=sys.stderr)
        return EXIT_CONFIG
    if note:
        print(note, file=sys.stderr)

    cfg = None
    if args.config is not None:
        try:
            # The output may already sit in the inventory (a re-import): compare without it.
            cfg = config.load(args.config, exclude=args.output)
        except config.ConfigError as exc:
            for problem in exc.problems:
                print(problem, file=sys.stderr)
            print(f"{args.config}: the configuration has problems; fix them first, so the import can be "
                  "compared with the existing inventory", file=sys.stderr)
            return EXIT_CONFIG
    importer = _Importer(name, _Existing(cfg))
    problems, notes = _read_table(text, name, importer)
    for message in notes + problems:
        print(message, file=sys.stderr)
    if problems:
        return EXIT_CONFIG

    importer.check_duplicates()
    importer.check_parents()
    for _, problem in sorted(importer.problems, key=lambda item: item[0]):
        print(problem, file=sys.stderr)

    data = importer.document()
    output_name = str(args.output) if args.output is not None else "<stdout>"
    leftovers = _self_check(data, output_name, importer.existing)
    for problem in leftovers:  # a bug in this importer; say so rather than write a file check rejects
        print(f"{problem} (import bug: please report it)", file=sys.stderr)
    result = _dump(data, name)
    if args.output is not None:
        try:
            args.output.write_text(result, encoding="utf-8")
        except OSError as exc:
            print(f"{args.output}: cannot write: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_RUNTIME
    else:
        sys.stdout.write(result)
    written, skipped = len(data["devices"]), sum(row.skipped for row in importer.rows)
    print(f"{written} devices written, {skipped} rows skipped", file=sys.stderr)
    return EXIT_OK if not skipped and not leftovers else EXIT_CONFIG
