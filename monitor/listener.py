"""Serves an aiohttp app on listening sockets with its own accept loop, so that slow or idle
clients cannot take the daemon down (the HTTP API and the control socket both use it).

What it guarantees, and why each part is here. Measured before this module existed, with the
daemon's open-file limit at 256 and 1,500 clients that each sent half a request and then one
byte every 5 s: every descriptor went to those clients, /healthz and `netvigil status`
stopped answering, and asyncio's accept loop wrote 288,000 lines (130 MB) of "socket.accept()
out of system resource" in 40 s, burning 29 s of CPU.

- At most `max_connections` open connections (one more for the moment it takes to close one),
  and never more than a quarter of the process's open-file limit, so that probes, outputs and
  the fault store keep their descriptors.
- When a new connection would pass the cap, the connection that has waited longest on its
  client (for a request head, for a body being read with `waiting_on_client`, or idle between
  requests) is closed to make room. Slow-loris and slow-body clients hold only such
  connections, so theirs are the ones that go, and a health check that sends its request at
  once is answered in milliseconds while thousands of them keep connecting. A connection whose
  request the daemon is working on is never closed for room; if every other one is, the new
  connection itself is the one closed.
- A connection must deliver its first complete request head within `header_timeout_s` of being
  accepted. aiohttp's keep-alive timeout covers the wait for every later request, but aiohttp
  3.9 (the oldest release this project allows) starts it only after the first answer, so a
  client that never finished its first request was held for ever.
- accept() failing for want of descriptors (EMFILE, ENFILE) or memory does not spin: the loop
  closes a connection waiting on its client if there is one, otherwise backs off (50 ms
  doubling to 1 s), and says so in one log line per 10 s with the number of repeats. asyncio's
  own accept loop (CPython 3.11, selector_events._accept_connection) does not stop at the
  first such error: it retries up to `backlog` times in the same tick and schedules one
  restart per failure, so the restarts multiply; that is where the 288,000 lines came from.
  Hence an accept loop of our own (`loop.sock_accept` + `loop.connect_accepted_socket`) rather
  than `loop.create_server`.

The connection table is kept here and not inferred from aiohttp's private state: `middleware`
(which must be the app's first middleware) marks the connections whose request is in progress.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import resource
import socket
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator, Optional

from aiohttp import web

# A listener may use this share of the process's open-file limit.
NOFILE_SHARE = 4
# accept() errors that mean "no descriptor or memory now", not a broken socket.
_OUT_OF_RESOURCES = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
# The peer gave up between the kernel's handshake and our accept(): nothing to do.
_PEER_GONE = (errno.ECONNABORTED, errno.EPROTO, errno.EPERM)
BACKOFF_FIRST_S, BACKOFF_MAX_S = 0.05, 1.0
CLIENT_ERROR_LOG_S = 60.0


class RateLimitedLog:
    """One log line per `every_s` for a repeating event, with how many repeats it stood for."""

    def __init__(self, logger: logging.Logger, level: int, every_s: float) -> None:
        self.logger, self.level, self.every_s = logger, level, every_s
        self._last = float("-inf")
        self._suppressed = 0

    def __call__(self, message: str, *args: object) -> None:
        now = time.monotonic()
        if now - self._last < self.every_s:
            self._suppressed += 1
            return
        if self._suppressed:
            message += f" ({self._suppressed} more since the last such line, {now - self._last:.0f} s ago)"
        self._last, self._suppressed = now, 0
        self.logger.log(self.level, message, *args)


class HttpErrorLog(logging.LoggerAdapter):
    """What aiohttp's request handler logs, for one server (api, control).

    aiohttp logs a request it cannot parse or read (a Content-Length next to chunked encoding,
    a body that is not the gzip it claims, a client gone mid-body) with a whole traceback, and
    answers it 400 all the same: a client could write kilobytes of log per request at will.
    Those become one warning line per minute with a count of the others; an error of the
    daemon's own keeps its traceback."""

    def __init__(self, name: str) -> None:
        super().__init__(logging.getLogger(f"netvigil.{name}"), {})
        self.server = name
        self._refused = RateLimitedLog(self.logger, logging.WARNING, CLIENT_ERROR_LOG_S)

    def log(self, level: int, msg: object, *args: object, exc_info: object = None, **kwargs: object) -> None:
        from aiohttp.http_exceptions import HttpProcessingError
        from aiohttp.web_protocol import RequestPayloadError

        exc = exc_info if isinstance(exc_info, BaseException) else sys.exc_info()[1] if exc_info else None
        if isinstance(exc, (HttpProcessingError, RequestPayloadError, ConnectionError)):
            reason = " ".join(str(getattr(exc, "message", "") or exc).split())[:200]
            self._refused("%s: a request that could not be read was refused (400): %s", self.server, reason)
            return
        super().log(level, msg, *args, exc_info=exc_info, **kwargs)


def open_file_limit() -> int:
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


@dataclass
class _Connection:
    transport: asyncio.Transport
    idle_since: float  # accepted, or its last request handled
    requests: int = 0
    in_request: bool = False
    head_deadline: Optional[asyncio.TimerHandle] = field(default=None, repr=False)


class Listener:
    """Accepts connections on `sockets` (bound, listening) for `runner` (set up, no sites).

    `await start()`, `await stop()` (before `runner.cleanup()`); `middleware` goes first in
    the app's middlewares. `name` starts every log line (`api`, `control socket`)."""

    def __init__(self, sockets: list[socket.socket], *, max_connections: int, header_timeout_s: float,
                 name: str, logger: logging.Logger, limit_hint: str) -> None:
        self.sockets = sockets
        self.max_connections = max_connections
        self.header_timeout_s = header_timeout_s
        self.name = name
        self.log = logger
        self.limit_hint = limit_hint  # which setting raises the cap, for the log lines
        self._factory: Optional[Callable[[], asyncio.Protocol]] = None
        self._connections: dict[asyncio.BaseProtocol, _Connection] = {}
        self._tasks: list[asyncio.Task] = []
        self._accept_failed = RateLimitedLog(logger, logging.WARNING, 10.0)
        self._displaced_log = RateLimitedLog(logger, logging.WARNING, 60.0)
        self.displaced_total = 0
        self.head_timeouts_total = 0
        self.accept_errors_total = 0

    @web.middleware
    async def middleware(self, request: web.Request, handler) -> web.StreamResponse:
        connection = self._connections.get(request.protocol)
        if connection is None:
            return await handler(request)
        connection.requests += 1
        connection.in_request = True
        if connection.head_deadline is not None:
            connection.head_deadline.cancel()
            connection.head_deadline = None
        try:
            return await handler(request)
        finally:
            connection.in_request = False
            connection.idle_since = asyncio.get_running_loop().time()

    @contextlib.contextmanager
    def waiting_on_client(self, request: web.Request) -> Iterator[None]:
        """Inside, the request's connection waits on its client (e.g. for the body) and may be
        closed to make room like an idle one; the read then fails with a connection error."""
        connection = self._connections.get(request.protocol)
        if connection is None or not connection.in_request:
            yield
            return
        connection.in_request = False
        connection.idle_since = asyncio.get_running_loop().time()
        try:
            yield
        finally:
            connection.in_request = True

    def limit(self) -> int:
        """The cap in force: the setting, or a quarter of the open-file limit if that is lower
        (read each time: `prlimit` can change it under a running daemon)."""
        return max(1, min(self.max_connections, open_file_limit() // NOFILE_SHARE))

    @property
    def open_connections(self) -> int:
        self._forget_closed()
        return len(self._connections)

    async def start(self, runner: web.AppRunner) -> None:
        if runner.server is None:
            raise RuntimeError("runner.setup() first")
        self._factory = runner.server
        for sock in self.sockets:
            sock.setblocking(False)
            self._tasks.append(asyncio.create_task(self._accept_loop(sock), name=f"{self.name} accept"))
        if self.limit() < self.max_connections:
            self.log.warning("%s: at most %d connections at once, a quarter of the open-file limit %d "
                             "(%s asks for %d); raise LimitNOFILE= in the unit to allow more",
                             self.name, self.limit(), open_file_limit(), self.limit_hint, self.max_connections)

    async def stop(self) -> None:
        """Stop accepting and close the listening sockets; open connections are the runner's to
        close (runner.cleanup() lets requests in progress finish)."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
        self._tasks.clear()
        for sock in self.sockets:
            sock.close()
        for connection in self._connections.values():
            if connection.head_deadline is not None:
                connection.head_deadline.cancel()

    # -- the accept loop ------------------------------------------------------------------------

    async def _accept_loop(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        backoff = BACKOFF_FIRST_S
        while True:
            try:
                conn, _ = await loop.sock_accept(sock)
            except OSError as exc:
                if exc.errno in _PEER_GONE:
                    continue
                self.accept_errors_total += 1
                self._accept_failed("%s: cannot accept a connection: %s%s", self.name, exc.strerror or exc,
                                    self._resource_hint(exc))
                if exc.errno in _OUT_OF_RESOURCES and self._displace("no descriptor left for a new one"):
                    await asyncio.sleep(0)  # the displaced socket is closed on the next loop turn
                else:
                    await asyncio.sleep(backoff)
                    backoff = min(BACKOFF_MAX_S, backoff * 2)
                continue
            backoff = BACKOFF_FIRST_S
            try:
                transport, protocol = await loop.connect_accepted_socket(self._factory, conn)
            except OSError:  # the peer went away before the transport was made
                conn.close()
                continue
            connection = _Connection(transport, loop.time())
            connection.head_deadline = loop.call_later(self.header_timeout_s, self._head_overdue, protocol)
            self._connections[protocol] = connection
            self._make_room()

    def _make_room(self) -> None:
        # One over the cap for a moment (the connection just accepted) costs one descriptor and
        # means no connection is closed before another actually arrives.
        while self.open_connections > self.limit() and self._displace(f"more than {self.limit()} connections open"):
            pass

    def _resource_hint(self, exc: OSError) -> str:
        if exc.errno == errno.EMFILE:
            return (f" (the daemon's open-file limit {open_file_limit()} is reached; raise LimitNOFILE= "
                    f"or find what holds descriptors)")
        if exc.errno == errno.ENFILE:
            return " (the system-wide open-file table is full)"
        return ""

    def _forget_closed(self) -> None:
        closed = [protocol for protocol, connection in self._connections.items() if connection.transport.is_closing()]
        for protocol in closed:
            connection = self._connections.pop(protocol)
            if connection.head_deadline is not None:
                connection.head_deadline.cancel()

    def _displace(self, reason: str) -> bool:
        """Close the connection that has waited longest on its client; False if the daemon is
        working on a request on every open connection."""
        idle = [(connection.idle_since, index, protocol)
                for index, (protocol, connection) in enumerate(self._connections.items())
                if not connection.in_request and not connection.transport.is_closing()]
        if not idle:
            return False
        _, _, protocol = min(idle)
        self._close(protocol, self._connections[protocol])
        self.displaced_total += 1
        self._displaced_log("%s: %s; closed the connection that waited longest on its client (clients connect "
                            "and send nothing, or send slowly; %d closed so far)", self.name, reason,
                            self.displaced_total)
        return True

    def _head_overdue(self, protocol: asyncio.BaseProtocol) -> None:
        connection = self._connections.get(protocol)
        if connection is None or connection.requests or connection.transport.is_closing():
            return
        connection.head_deadline = None
        self.head_timeouts_total += 1
        self._close(protocol, connection)

    def _close(self, protocol: asyncio.BaseProtocol, connection: _Connection) -> None:
        # abort(), not close(): close() keeps the socket until unsent data is flushed, which a
        # client that does not read would make never.
        connection.transport.abort()
        self._connections.pop(protocol, None)
        if connection.head_deadline is not None:
            connection.head_deadline.cancel()


def tcp_sockets(host: str, port: int, backlog: int = 1024) -> list[socket.socket]:
    """Listening sockets for every address `host` resolves to (as loop.create_server binds them);
    OSError when one cannot be bound (all are closed then)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(infos):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(backlog)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def unix_socket(path: str, backlog: int = 128) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(path)
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    return sock
