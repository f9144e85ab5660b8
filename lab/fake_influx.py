"""A small fake of InfluxDB 2.x: POST /api/v2/write, GET /ping, GET /health.

Why a fake at all: the writer must be shown to handle 401, 404, 413, 429 with Retry-After, 503
and 400, and no real server here sends them on /api/v2/write. VictoriaMetrics, the only
/api/v2/write server installable on this machine, answers 204 to everything, even to malformed
lines; no InfluxDB 2.x or 3.x exists for Debian bookworm or on PyPI (apt-cache search and pip
download find clients only). Everything a real server *can* show (points arriving, tags,
values, outages) is tested against VictoriaMetrics and influxd instead.

The fake runs inside the test's event loop. `answer` decides each reply from the request
body; the default accepts everything. Accepted bodies (gzip undone) are kept in arrival
order in `accepted`, and every request's status in `statuses`.
"""

from __future__ import annotations

import asyncio
import gzip
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

from aiohttp import web

from lab.support import free_port


@dataclass
class Answer:
    status: int = 204
    body: str = ""
    headers: dict = field(default_factory=dict)
    delay_s: float = 0.0  # a slow server: answer only after this long


@dataclass
class Request:
    at: float  # time.monotonic()
    status: int
    lines: int
    authorization: str
    query: dict
    gzipped: bool


ACCEPT = Answer(204)


class FakeInflux:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.answer: Callable[[bytes], Answer] = lambda body: ACCEPT
        self.accepted: list[bytes] = []
        self.requests: list[Request] = []
        self._runner: Optional[web.AppRunner] = None

    def accepted_lines(self) -> list[str]:
        return [line for body in self.accepted for line in body.decode().split("\n") if line]

    @property
    def statuses(self) -> list[int]:
        return [r.status for r in self.requests]

    async def start(self) -> "FakeInflux":
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/api/v2/write", self._write)
        app.router.add_get("/ping", self._ping)
        app.router.add_get("/health", self._health)
        # Decompress ourselves: then the test also proves the client really sent gzip.
        self._runner = web.AppRunner(app, auto_decompress=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _write(self, request: web.Request) -> web.Response:
        body = await request.read()
        gzipped = request.headers.get("Content-Encoding") == "gzip"
        if gzipped:
            body = gzip.decompress(body)
        answer = self.answer(body)
        if answer.delay_s:
            await asyncio.sleep(answer.delay_s)
        self.requests.append(Request(time.monotonic(), answer.status, body.count(b"\n") + 1,
                                     request.headers.get("Authorization", ""), dict(request.query), gzipped))
        if 200 <= answer.status < 300:
            self.accepted.append(body)
            return web.Response(status=answer.status)
        return web.Response(status=answer.status, text=answer.body, headers=answer.headers,
                            content_type="application/json")

    async def _ping(self, request: web.Request) -> web.Response:
        return web.Response(status=204, headers={"X-Influxdb-Version": "v2.7.0-fake"})

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"name": "influxdb", "message": "ready for queries and writes",
                                  "status": "pass", "checks": [], "version": "v2.7.0-fake"})
