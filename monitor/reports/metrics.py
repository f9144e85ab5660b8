"""Network quality per device over a month, from the metrics store: what the probes measured,
next to the fault-based figures of the monthly report.

Per device, over the `icmp` samples in [start, end): probe runs, answered (%) (the share of
runs with at least one echo answered: availability as the probes saw it, at the probe
interval's resolution), mean RTT, mean loss, mean and highest jitter. The sources, first that
is configured:

* `outputs.influxdb_v1`: InfluxQL over `/query` (user and password when set);
* `outputs.influxdb` (2.x): the same InfluxQL through its v1-compatible `/query` with the
  bucket as database and the token; it needs the bucket's DBRP mapping (`influx v1 dbrp
  create --db BUCKET --rp autogen --bucket-id ID --default`); VictoriaMetrics has no InfluxQL;
* the embedded store (`<state_dir>/metrics.db`), which keeps `retention_days` (7 by default):
  usually only the end of a month.

The figures say which source and what span of samples they cover, so a partial month is not
mistaken for a whole one. A source that cannot answer gives no rows and one sentence why;
the monthly report is still made from the fault records.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import sqlite3
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from monitor import words
from monitor.i18n import _
from monitor.reports import texts as T
from monitor.reports.tables import Table

QUERY_TIMEOUT_S = 20.0  # per statement; a report waits at most this long for a store that hangs


@dataclass(frozen=True)
class DeviceQuality:
    device: str
    runs: int
    answered_pct: Optional[float]
    rtt_ms: Optional[float]
    loss_pct: Optional[float]
    jitter_ms: Optional[float]
    jitter_max_ms: Optional[float]


@dataclass(frozen=True)
class NetworkQuality:
    source: str  # which store, for the report
    first_ns: Optional[int]  # the span the samples cover
    last_ns: Optional[int]
    devices: tuple[DeviceQuality, ...]  # by device name
    problem: str = ""  # why there are no figures


def _round(value, digits: int = 3) -> Optional[float]:
    return None if value is None else round(float(value), digits)


def _quality(device: str, runs, up_mean, rtt, loss, jitter, jitter_max) -> DeviceQuality:
    return DeviceQuality(device, int(runs or 0), None if up_mean is None else round(100.0 * up_mean, 3),
                         _round(rtt), _round(loss), _round(jitter), _round(jitter_max))


def from_embedded(path: Path, start: float, end: float) -> NetworkQuality:
    source = f"embedded store {path}"
    db = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=ro", uri=True, timeout=10)
    try:
        rows = db.execute(
            "SELECT s.device, count(*), avg(json_extract(p.fields, '$.up')), avg(json_extract(p.fields, "
            "'$.rtt_avg_ms')), avg(json_extract(p.fields, '$.loss_pct')), avg(json_extract(p.fields, '$.jitter_ms')), "
            "max(json_extract(p.fields, '$.jitter_ms')), min(p.time_ns), max(p.time_ns) "
            "FROM series s JOIN point p ON p.series_id = s.id "
            "WHERE s.measurement = 'icmp' AND p.time_ns >= ? AND p.time_ns < ? GROUP BY s.device ORDER BY s.device",
            (int(start * 1e9), int(end * 1e9))).fetchall()
    except sqlite3.OperationalError as error:
        if "no such table" not in str(error):
            raise
        rows = []
    finally:
        db.close()
    devices = tuple(_quality(*row[:7]) for row in rows)
    first = min((row[7] for row in rows), default=None)
    last = max((row[8] for row in rows), default=None)
    return NetworkQuality(source, first, last, devices)


def _influxql(url: str, params: dict, headers: dict, start: float, end: float, verify_tls: bool) -> dict:
    """The three statements' results in one answer. One request each: with several statements
    in one request, influxd 1.x answers only "not executed" for a missing database."""
    where = f"WHERE time >= {int(start * 1e9)} AND time < {int(end * 1e9)}"
    statements = (f'SELECT count("up"), mean("up"), mean("rtt_avg_ms"), mean("loss_pct"), mean("jitter_ms"), '
                  f'max("jitter_ms") FROM "icmp" {where} GROUP BY "device"',
                  f'SELECT first("up") FROM "icmp" {where}', f'SELECT last("up") FROM "icmp" {where}')
    context = None
    if not verify_tls:
        import ssl

        context = ssl._create_unverified_context()  # noqa: S323 - the operator turned verification off
    results = []
    for statement in statements:
        query = urllib.parse.urlencode({**params, "q": statement, "epoch": "ns"})
        request = urllib.request.Request(f"{url.rstrip('/')}/query?{query}", headers=headers)
        with urllib.request.urlopen(request, timeout=QUERY_TIMEOUT_S, context=context) as response:
            answer = json.loads(response.read())
        if "error" in answer:
            return answer
        results.extend(answer.get("results", []))
    return {"results": results}


def _from_influx(answer: dict, source: str) -> NetworkQuality:
    results = answer.get("results", [])
    errors = [result["error"] for result in results if "error" in result] or (
        [answer["error"]] if "error" in answer else [])
    if errors:
        return NetworkQuality(source, None, None, (), f"{source}: {errors[0]}")
    devices = []
    for series in results[0].get("series", []) if results else []:
        values = series["values"][0]
        devices.append(_quality(series.get("tags", {}).get("device", ""), *values[1:7]))

    def moment(result: dict) -> Optional[int]:
        series = result.get("series", [])
        return int(series[0]["values"][0][0]) if series else None

    first = moment(results[1]) if len(results) > 1 else None
    last = moment(results[2]) if len(results) > 2 else None
    return NetworkQuality(source, first, last, tuple(sorted(devices, key=lambda d: d.device)))


def network_quality(settings, start: float, end: float) -> NetworkQuality:
    """The figures from the first configured source (see the module docstring); never raises
    for a source that cannot answer: `problem` says why."""
    outputs = settings.outputs
    source = "the metrics store"
    try:
        if outputs.influxdb_v1 is not None:
            v1 = outputs.influxdb_v1
            source = f"InfluxDB 1.x {v1.url} database {v1.database}"
            headers = {}
            if v1.username:
                secret = f"{v1.username}:{v1.password.get_secret_value()}".encode()
                headers["Authorization"] = "Basic " + base64.b64encode(secret).decode()
            params = {"db": v1.database, **({"rp": v1.retention_policy} if v1.retention_policy else {})}
            return _from_influx(_influxql(v1.url, params, headers, start, end, v1.verify_tls), source)
        if outputs.influxdb is not None:
            v2 = outputs.influxdb
            source = f"InfluxDB {v2.url} bucket {v2.bucket} (v1-compatible query)"
            headers = {"Authorization": f"Token {v2.token.get_secret_value()}"} if v2.token.get_secret_value() else {}
            return _from_influx(_influxql(v2.url, {"db": v2.bucket}, headers, start, end, v2.verify_tls), source)
        path = settings.state_dir / "metrics.db"
        if not path.exists():
            return NetworkQuality("", None, None, (), f"no metrics store: no InfluxDB output and no {path}")
        return from_embedded(path, start, end)
    except urllib.error.HTTPError as exc:
        detail = ""
        try:
            detail = json.loads(exc.read()).get("error", "")
        except (ValueError, OSError):
            pass
        return NetworkQuality(source, None, None, (), f"{source}: HTTP {exc.code}{f': {detail}' if detail else ''}")
    except (urllib.error.URLError, OSError, ValueError, KeyError, IndexError, sqlite3.Error) as exc:
        return NetworkQuality(source, None, None, (), f"{source}: {getattr(exc, 'reason', None) or exc}")


def network_table(quality: NetworkQuality, devices, zone) -> Table:
    """The monthly report's `network-device` table; its title names the source and the span
    of the samples (or why there are none)."""
    def local(time_ns: Optional[int]) -> str:
        return "" if time_ns is None else f"{dt.datetime.fromtimestamp(time_ns / 1e9, zone):%Y-%m-%d %H:%M}"

    if quality.problem:
        title = _(T.N_TITLE_NONE).format(problem=quality.problem)
    else:
        title = _(T.N_TITLE).format(source=quality.source, first=local(quality.first_ns), last=local(quality.last_ns))
    where = {device.name: ("/".join(device.site_path), words.device_class(device.device_class)) for device in devices}
    rows = tuple((d.device, *where.get(d.device, ("", "")), d.runs, d.answered_pct, d.rtt_ms, d.loss_pct, d.jitter_ms,
                  d.jitter_max_ms) for d in quality.devices)
    columns = tuple(_(text) for text in (T.IC_DEVICE, T.IC_SITE, T.IC_CLASS, T.N_RUNS, T.N_ANSWERED, T.N_RTT, T.N_LOSS,
                                         T.N_JITTER, T.N_JITTER_MAX))
    return Table("network-device", title, columns, rows)
