"""A fault-injecting HTTP proxy in front of a real write endpoint (VictoriaMetrics), in a thread.

Why: the daemon-level outage tests need three things no server gives by itself:
* the *arrival order* of points (VictoriaMetrics and influxd store, they do not tell in which
  order points came), to show that a replay keeps submission order;
* an outage that starts and ends at a chosen instant on the *same* port: `stop()` closes the
  listening socket and every open connection (the writer sees "connection refused", as when
  the server is down), `start()` listens again;
* a request held in flight at a chosen moment (`hold_next(seconds)`): the request is forwarded
  and stored by the server, but its answer is delayed, so a test can kill -9 the daemon while
  the write is "in flight" and see what at-least-once replay does.

Every request is forwarded unchanged (gzip included) to `upstream`; only the answer's status
and body come back. Points the upstream accepted are recorded, decompressed, in arrival
order (`arrivals`). The proxy runs its own event loop in a daemon thread, so synchronous tests
(the daemon is a subprocess) and asyncio tests can both use it.
"""

from __future__ import annotations

import asyncio
import gzip
import threading
from dataclasses import dataclass
from typing import Optional

import aiohttp
from aiohttp import web

from lab.support import free_port


@dataclass(frozen=True)
class Arrival:
    """One line protocol point the upstream accepted: its series key, first field and time."""

    key: str  # measurement,tag=value,... exactly as sent
    field: str  # the first field's key=value
    time_ns: int
    request: int  # number of the request it came in (0, 1, ...)


def parse_line(line: str) -> Optional[tuple[str, str, int]]:
    """(series key, first field, timestamp) of a line written by monitor.lineproto; None if not one.

    Good enough for test data: series keys and fields of the test's own samples hold no
    escaped spaces or quoted strings with spaces.
    """
    parts = line.rsplit(" ", 2)
    if len(parts) != 3:
        return None
    key, fields, stamp = parts
    try:
        return key, fields.split(",", 1)[0], int(stamp)
    except ValueError:
        return None


class WriteProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.arrivals: list[Arrival] = []
        self.statuses: list[int] = []
        self._hold_s = 0.0
        self.held = threading.Event()  # set while a held request waits for its answer
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="write-proxy", daemon=True)
        self._runner: Optional[web.AppRunner] = None
        self._session: Optional[aiohttp.ClientSession] = None
        self._thread.start()

    # -- control (from any thread) -----------------------------------------------------------

    def start(self) -> "WriteProxy":
        self._call(self._start())
        return self

    def stop(self) -> None:
        """Outage: close the listener and every connection; the port refuses from now on."""
        self._call(self._stop())

    def hold_next(self, seconds: float) -> None:
        """Forward the next write, then hold its answer this long (the write is "in flight")."""
        with self._lock:
            self._hold_s = seconds
            self.held.clear()

    def close(self) -> None:
        self._call(self._close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def snapshot(self) -> list[Arrival]:
        with self._lock:
            return list(self.arrivals)

    def _call(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(30)

    # -- inside the proxy's loop -------------------------------------------------------------

    async def _start(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(auto_decompress=False)
        if self._runner is not None:
            return
        app = web.Application(client_max_size=256 * 1024 * 1024)
        app.router.add_route("*", "/{path:.*}", self._forward)
        runner = web.AppRunner(app, auto_decompress=False, handle_signals=False)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", self.port, reuse_address=True).start()
        self._runner = runner

    async def _stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()  # the listener and the keep-alive connections

    async def _close(self) -> None:
        await self._stop()
        if self._session is not None:
            await self._session.close()

    async def _forward(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = {k: v for k, v in request.headers.items()
                   if k.lower() in ("content-type", "content-encoding", "authorization")}
        async with self._session.request(request.method, self.upstream + request.path_qs, data=body,
                                         headers=headers) as answer:
            payload = await answer.read()
            status = answer.status
        if request.method == "POST" and request.path.endswith("/write"):
            with self._lock:
                number = len(self.statuses)
                self.statuses.append(status)
                if 200 <= status < 300:
                    text = gzip.decompress(body) if request.headers.get("Content-Encoding") == "gzip" else body
                    for line in text.decode("utf-8", "replace").split("\n"):
                        parsed = parse_line(line)
                        if parsed is not None:
                            self.arrivals.append(Arrival(*parsed, request=number))
                hold, self._hold_s = self._hold_s, 0.0
            if hold:
                self.held.set()
                await asyncio.sleep(hold)
        return web.Response(status=status, body=payload)


def order_inversions(arrivals: list[Arrival]) -> int:
    """Points that arrived after a later point of the same series (a replay out of order)."""
    newest: dict[tuple[str, str], int] = {}
    seen: set[tuple[str, str, int]] = set()
    inversions = 0
    for arrival in arrivals:
        series = (arrival.key, arrival.field.split("=", 1)[0])
        if (*series, arrival.time_ns) in seen:
            continue  # a duplicate (counted by `duplicates`), not an inversion
        seen.add((*series, arrival.time_ns))
        if arrival.time_ns < newest.get(series, -1):
            inversions += 1
        else:
            newest[series] = arrival.time_ns
    return inversions


def duplicates(arrivals: list[Arrival]) -> int:
    """Points that arrived more than once (same series key, field and timestamp)."""
    seen: set[tuple[str, str, int]] = set()
    count = 0
    for arrival in arrivals:
        ident = (arrival.key, arrival.field.split("=", 1)[0], arrival.time_ns)
        count += ident in seen
        seen.add(ident)
    return count
