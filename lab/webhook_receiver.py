"""A real HTTP server (aiohttp) on 127.0.0.1 that keeps every JSON body POSTed to it.

It can answer an error status for the first N requests (retries), always answer one status
(permanent failures), or wait before answering (timeouts, a slow channel). It runs on the
test's event loop, so `wait_for` is awaited on a condition, not polled.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any, Optional

import pytest
from aiohttp import web

from lab.support import free_port


@dataclass(frozen=True)
class ReceivedHook:
    path: str
    method: str
    query: str
    headers: dict[str, str]
    body: Any  # the parsed JSON
    answered: int  # the status this request got
    at: float = 0.0  # time.monotonic() when it arrived


@dataclass
class WebhookReceiver:
    fail_first: int = 0  # answer `fail_status` to this many requests first
    fail_status: int = 500
    status: int = 200  # the answer after that
    delay_s: float = 0.0  # wait this long before answering
    requests: list[ReceivedHook] = field(default_factory=list)
    port: int = 0
    _runner: Optional[web.AppRunner] = None
    _changed: Optional[asyncio.Condition] = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    @property
    def delivered(self) -> list[Any]:
        """Bodies of requests answered with 2xx."""
        return [r.body for r in self.requests if 200 <= r.answered < 300]

    async def start(self) -> "WebhookReceiver":
        self._changed = asyncio.Condition()
        app = web.Application()
        # Any method: the dead man's switch calls with GET (healthchecks.io, Uptime Kuma push) too.
        app.router.add_route("*", "/{path:.*}", self._handle)
        # A short shutdown: a test may stop the receiver while a delayed answer is pending.
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        self.port = self.port or free_port()  # a receiver started again keeps its port
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def wait_for(self, count: int, timeout_s: float = 10.0, *, delivered: bool = True) -> list[Any]:
        """Wait until `count` requests (2xx-answered ones when `delivered`) have arrived."""
        def enough() -> bool:
            return len(self.delivered if delivered else self.requests) >= count

        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(enough), timeout_s)
        return self.delivered if delivered else [r.body for r in self.requests]

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        if self.delay_s:
            await asyncio.sleep(self.delay_s)  # the behaviour under test: a slow receiver
        seen = len(self.requests)
        status = self.fail_status if seen < self.fail_first else self.status
        try:
            body = json.loads(raw)
        except ValueError:
            body = raw.decode(errors="replace")
        self.requests.append(ReceivedHook(request.path, request.method, request.query_string, dict(request.headers), body, status,
                                           time.monotonic()))
        async with self._changed:
            self._changed.notify_all()
        return web.json_response({"ok": 200 <= status < 300}, status=status)


@pytest.fixture
async def webhook_receiver() -> WebhookReceiver:
    receiver = await WebhookReceiver().start()
    yield receiver
    await receiver.stop()
