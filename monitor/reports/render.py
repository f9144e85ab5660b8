"""Report tables to files: one printable HTML file with nothing external (styles inline, no
scripts, fonts, images or links: it must open the same on an offline machine and print on A4),
an XLSX workbook (one sheet per table, numbers as numbers) and optionally one CSV per table
(UTF-8 with BOM, so that Excel on a Chinese Windows opens the names right)."""

from __future__ import annotations

import csv
import datetime as dt
import html
import unicodedata
from pathlib import Path
from typing import Sequence

from monitor import i18n
from monitor.i18n import _
from monitor.reports import texts as T
from monitor.reports.tables import Cell, Table

FORMATS = ("html", "xlsx", "csv")

_STYLE = """
@page { size: A4; margin: 15mm; }
body { font-family: "Noto Sans CJK SC", "Microsoft YaHei", "PingFang SC", sans-serif; font-size: 10pt; color: black; }
h1 { font-size: 16pt; margin: 0 0 4pt 0; }
h2 { font-size: 12pt; margin: 14pt 0 4pt 0; }
p.meta { color: dimgray; margin: 0 0 8pt 0; }
table { border-collapse: collapse; margin-bottom: 6pt; page-break-inside: auto; }
tr { page-break-inside: avoid; }
th, td { border: 1px solid gray; padding: 2pt 6pt; text-align: left; vertical-align: top; }
th { background: whitesmoke; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
p.empty { color: dimgray; font-style: italic; }
"""


def text_of(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return f"{value:%Y-%m-%d %H:%M:%S}"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".") if value != int(value) else f"{int(value)}"
    return str(value)


def _width(text: str) -> int:
    """Excel column width of a text: Chinese characters are two columns wide."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def html_document(title: str, subtitle: str, tables: Sequence[Table]) -> str:
    parts = ["<!DOCTYPE html>", f'<html lang="{i18n.language()}"><head><meta charset="utf-8">',
             f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>",
             f"<h1>{html.escape(title)}</h1>", f'<p class="meta">{html.escape(subtitle)}</p>']
    for table in tables:
        parts.append(f'<h2 id="{table.slug}">{html.escape(table.title)}</h2>')
        if not table.rows:
            parts.append(f'<p class="empty">{html.escape(_(T.NONE))}</p>')
            continue
        parts.append("<table><thead><tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in table.columns)
                     + "</tr></thead><tbody>")
        for row in table.rows:
            cells = []
            for value in row:
                numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
                cells.append(f'<td class="num">{text_of(value)}</td>' if numeric
                             else f"<td>{html.escape(text_of(value))}</td>")
            parts.append("<tr>" + "".join(cells) + "</tr>")
        parts.append("</tbody></table>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_html(path: Path, title: str, subtitle: str, tables: Sequence[Table]) -> Path:
    path.write_text(html_document(title, subtitle, tables), encoding="utf-8")
    return path


def write_xlsx(path: Path, title: str, tables: Sequence[Table]) -> Path:
    from openpyxl import Workbook  # ~150 ms to import; only when a workbook is asked for
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    book = Workbook()
    book.remove(book.active)
    book.properties.title = title
    for table in tables:
        sheet = book.create_sheet(table.slug[:31])  # Excel's limit on sheet names
        sheet.append([table.title])
        sheet["A1"].font = Font(bold=True)
        sheet.append(list(table.columns))
        for cell in sheet[2]:
            cell.font = Font(bold=True)
        for row in table.rows:
            sheet.append(list(row))
        for index, column in enumerate(table.columns, start=1):
            widest = max([_width(column)] + [_width(text_of(row[index - 1])) for row in table.rows])
            sheet.column_dimensions[get_column_letter(index)].width = min(60, widest + 2)
        for row in sheet.iter_rows(min_row=3):
            for cell in row:
                if isinstance(cell.value, dt.datetime):
                    cell.number_format = "yyyy-mm-dd hh:mm:ss"
                elif isinstance(cell.value, dt.date):
                    cell.number_format = "yyyy-mm-dd"
        sheet.freeze_panes = "A3"
    book.save(path)
    return path


def write_csv(directory: Path, stem: str, tables: Sequence[Table]) -> list[Path]:
    paths = []
    for table in tables:
        path = directory / f"{stem}-{table.slug}.csv"
        with path.open("w", encoding="utf-8-sig", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(table.columns)
            writer.writerows([text_of(value) for value in row] for row in table.rows)
        paths.append(path)
    return paths


def write(directory: Path, stem: str, formats: Sequence[str], title: str, subtitle: str,
          tables: Sequence[Table]) -> list[Path]:
    """Write the report in each of `formats` into `directory` (created); the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    if "html" in formats:
        paths.append(write_html(directory / f"{stem}.html", title, subtitle, tables))
    if "xlsx" in formats:
        paths.append(write_xlsx(directory / f"{stem}.xlsx", title, tables))
    if "csv" in formats:
        paths.extend(write_csv(directory, stem, tables))
    return paths
