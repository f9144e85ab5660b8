"""Real metrics servers on free loopback ports, started and stopped by their own pid.

`VictoriaMetrics` is the only /api/v2/write server installable here (Debian bookworm and PyPI
have no InfluxDB 2.x or 3.x); `InfluxD` is InfluxDB 1.6.7 for the v1 /write API (it has no
/api/v2 routes). Both can be stopped and
started again on the same data directory, which the outage tests rely on. The helpers are
synchronous: async tests call them through `asyncio.to_thread`, so the outputs under test
keep running while a helper waits.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Callable, Optional, Sequence

import pytest

from lab.support import Process, free_port, require_binary, wait_until


def _http(url: str, data: Optional[bytes] = None, headers: Optional[dict] = None,
          timeout_s: float = 5.0) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


class VictoriaMetrics:
    SETTLE_S = 1.0  # export() without `until`: how long the answer must stay the same

    def __init__(self, tmp_dir: Path, extra_args: Sequence[str] = ()) -> None:
        self.binary = require_binary("victoria-metrics")
        self.dir = Path(tmp_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.extra_args = list(extra_args)  # e.g. ["-dedup.minScrapeInterval=1ms"]
        self.process: Optional[Process] = None

    def start(self) -> "VictoriaMetrics":
        self.process = Process(
            [self.binary, f"-httpListenAddr=127.0.0.1:{self.port}", f"-storageDataPath={self.dir / 'data'}",
             "-retentionPeriod=100y", "-search.latencyOffset=0s", "-search.disableCache", "-loggerLevel=WARN",
             *self.extra_args],
            self.dir / "vm.log")
        wait_until(self._ready, timeout_s=15, what=f"VictoriaMetrics on {self.url}/health (log: {self.dir / 'vm.log'})")
        return self

    def _ready(self) -> bool:
        assert self.process is not None and self.process.alive(), self.process.log() if self.process else ""
        return _http(f"{self.url}/health", timeout_s=1)[1].strip() == b"OK"

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None

    def export(self, match: str, until: Optional[Callable[[list[dict]], bool]] = None,
               timeout_s: float = 10.0) -> list[dict]:
        """Raw series matching `match` (JSON lines of /api/v1/export).

        Polls force_flush + export, because a new series took 3.4-9.4 s to become
        visible otherwise (0.2-1.0 s with the flush), until `until(rows)` holds. Without `until`: until
        the answer is non-empty and has not changed for SETTLE_S, since series written
        together do not become visible together. Returns the last answer at the deadline
        rather than raising, so the test's own assertion shows what was there.
        """
        deadline = time.monotonic() + timeout_s
        previous, unchanged_since = None, time.monotonic()
        while True:
            _http(f"{self.url}/internal/force_flush")
            status, body = _http(f"{self.url}/api/v1/export",
                                 data=urllib.parse.urlencode({"match[]": match}).encode())
            assert status == 200, body
            rows = sorted((json.loads(line) for line in body.splitlines() if line.strip()),
                          key=lambda row: json.dumps(row["metric"], sort_keys=True))
            now = time.monotonic()
            if rows != previous:
                previous, unchanged_since = rows, now
            if until is not None:
                done = until(rows)
            else:
                done = bool(rows) and now - unchanged_since >= self.SETTLE_S
            if done or now >= deadline:
                return rows
            time.sleep(0.1)


_INFLUXD_CONF = """\
reporting-enabled = false
bind-address = "127.0.0.1:{rpc_port}"
[meta]
  dir = "{dir}/data/meta"
[data]
  dir = "{dir}/data/data"
  wal-dir = "{dir}/data/wal"
  query-log-enabled = false
[monitor]
  store-enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:{http_port}"
  auth-enabled = {auth}
  log-enabled = false
[logging]
  level = "warn"
  suppress-logo = true
[ifql]
  enabled = false
"""


class InfluxD:
    """influxd 1.6.7. With `admin` (user, password) set, auth is on and that admin exists."""

    def __init__(self, tmp_dir: Path, admin: Optional[tuple[str, str]] = None) -> None:
        self.binary = require_binary("influxd")
        self.dir = Path(tmp_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.admin = admin
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # The RPC/backup port too: the default 8088 would collide with other instances.
        (self.dir / "influxdb.conf").write_text(_INFLUXD_CONF.format(
            rpc_port=free_port(), http_port=self.port, dir=self.dir, auth="true" if admin else "false"))
        self.process: Optional[Process] = None
        self._admin_created = False

    def start(self) -> "InfluxD":
        self.process = Process([self.binary, "run", "-config", str(self.dir / "influxdb.conf")],
                               self.dir / "influxd.log")
        wait_until(self._ready, timeout_s=15, what=f"influxd on {self.url}/ping (log: {self.dir / 'influxd.log'})")
        if self.admin and not self._admin_created:
            # With auth on and no user yet, influxd accepts exactly this statement unauthenticated.
            user, password = self.admin
            self._post_query(f"CREATE USER \"{user}\" WITH PASSWORD '{password}' WITH ALL PRIVILEGES", auth=False)
            self._admin_created = True
        return self

    def _ready(self) -> bool:
        assert self.process is not None and self.process.alive(), self.process.log() if self.process else ""
        return _http(f"{self.url}/ping", timeout_s=1)[0] == 204

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None

    def _headers(self, auth: bool = True) -> dict:
        if not (self.admin and auth):
            return {}
        token = base64.b64encode(f"{self.admin[0]}:{self.admin[1]}".encode()).decode()
        return {"Authorization": f"Basic {token}"}

    def _post_query(self, q: str, auth: bool = True) -> dict:
        status, body = _http(f"{self.url}/query", data=urllib.parse.urlencode({"q": q}).encode(),
                             headers=self._headers(auth))
        assert status == 200, body
        result = json.loads(body)
        assert "error" not in result["results"][0], result
        return result

    def create_database(self, name: str) -> None:
        self._post_query(f'CREATE DATABASE "{name}"')

    def write(self, db: str, lines: Sequence[str]) -> None:
        """Line protocol (nanosecond timestamps) into `db`, for data no component under test writes."""
        params = urllib.parse.urlencode({"db": db})
        status, body = _http(f"{self.url}/write?{params}", data="\n".join(lines).encode(), headers=self._headers())
        assert status == 204, body

    def results(self, q: str, db: str) -> dict:
        """The first statement's raw result ({"series": [...]} or {"error": "..."}), epoch=ns;
        for callers that report a failing query themselves."""
        params = urllib.parse.urlencode({"q": q, "db": db, "epoch": "ns"})
        status, body = _http(f"{self.url}/query?{params}", headers=self._headers())
        if status != 200:
            return {"error": f"HTTP {status}: {body[:300]!r}"}
        return json.loads(body)["results"][0]

    def query(self, q: str, db: str) -> list[dict]:
        """Rows of the first series of an InfluxQL query, as dicts (epoch=ns); [] when none."""
        params = urllib.parse.urlencode({"q": q, "db": db, "epoch": "ns"})
        status, body = _http(f"{self.url}/query?{params}", headers=self._headers())
        assert status == 200, body
        result = json.loads(body)["results"][0]
        assert "error" not in result, result
        rows = []
        for series in result.get("series", []):
            for values in series["values"]:
                rows.append(dict(zip(series["columns"], values)) | series.get("tags", {}))
        return rows


async def eventually(predicate: Callable[[], bool], timeout_s: float = 10.0, what: str = "condition") -> None:
    """Await until `predicate()` holds, letting the outputs under test run meanwhile."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(0.02)


# -- pytest fixtures (imported by tests/conftest.py) ----------------------------------------

INFLUXD_ADMIN = ("netvigil", "influx-admin-pw")


@pytest.fixture(scope="session")
def victoria_metrics(tmp_path_factory) -> VictoriaMetrics:
    """One VictoriaMetrics for the session: tests use their own measurement names."""
    server = VictoriaMetrics(tmp_path_factory.mktemp("vm")).start()
    yield server
    server.stop()


@pytest.fixture
def private_victoria_metrics(tmp_path) -> VictoriaMetrics:
    """A VictoriaMetrics of this test's own, which the test may stop and start."""
    server = VictoriaMetrics(tmp_path / "vm").start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def influxd(tmp_path_factory) -> InfluxD:
    """One influxd (auth on, admin INFLUXD_ADMIN) for the session."""
    server = InfluxD(tmp_path_factory.mktemp("influxd"), admin=INFLUXD_ADMIN).start()
    yield server
    server.stop()


@pytest.fixture
def private_influxd(tmp_path) -> InfluxD:
    """An influxd of this test's own (auth on), which the test may stop and start."""
    server = InfluxD(tmp_path / "influxd", admin=INFLUXD_ADMIN).start()
    yield server
    server.stop()
