"""The pipeline of one metrics output: memory -> server, or memory -> spool -> server.

Order is the contract. At any moment the points of one output sit in four places, oldest
first: the request in flight, the on-disk spool, cut batches in memory (`pending`), and
lines not yet cut. Only one request is in flight at a time. A batch goes straight to the
server only while the output is healthy and the spool is empty; otherwise it is appended to
the spool, and a failed in-flight batch goes back to the spool's *front*. So replay after an
outage is in submission order, and a batch is forgotten only once the server accepted it
(or answered that it never will: 400/422, counted as dropped).

One loop task owns every decision; the HTTP request runs as its own task so the loop can
keep moving memory to disk while a slow server holds the request for `timeout_s`.
"""

from __future__ import annotations

import asyncio
import email.utils
import enum
import logging
import random
import re
import time
from collections import deque
from dataclasses import dataclass
from typing import Iterable, Optional, Protocol, Sequence

from monitor.lineproto import encode
from monitor.outputs.settings import BatchingSettings, SpoolSettings
from monitor.outputs.spool import Batch, Spool
from probes.base import Sample

log = logging.getLogger(__name__)

# Batches kept in memory behind a request in flight before they go to disk.
_MAX_PENDING_BATCHES = 4
# Longest Retry-After honoured; a server asking for more is retried after this.
_MAX_RETRY_AFTER_S = 3600.0
# A repeated identical failure is logged again at most this often (with the backlog).
_REPEAT_LOG_S = 60.0
_MIN_SECRET_LEN = 4


class ErrorKind(enum.Enum):
    RETRY = "retry"  # connection refused, timeout, 5xx, 429: the server may take it later
    AUTH = "auth"  # 401/403: spool until someone fixes the credentials
    NOT_FOUND = "not_found"  # 404: bucket/database missing; spool until it exists
    TOO_LARGE = "too_large"  # 413: split the batch and send the halves
    REJECTED = "rejected"  # 400/422: the server will never take these points; drop them


class WriteError(Exception):
    """A failed write, classified. `message` is for people and never holds a secret."""

    def __init__(self, kind: ErrorKind, message: str, retry_after_s: Optional[float] = None,
                 dropped_points: Optional[int] = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.retry_after_s = retry_after_s
        # For a partial write (400 "... dropped=N") the server kept the other points.
        self.dropped_points = dropped_points


class Transport(Protocol):
    """How one output talks to its server. `write` raises only WriteError."""

    name: str  # output name in settings: "influxdb", "influxdb_v1"
    secrets: tuple[str, ...]  # values that must never appear in a log line or stats

    async def open(self) -> None: ...

    async def write(self, body: bytes) -> None: ...

    async def close(self) -> None: ...


_DROPPED = re.compile(r"dropped=(\d+)")


def error_for_status(status: int, server_message: str, retry_after: Optional[str],
                     auth_hint: str, not_found_hint: str) -> WriteError:
    """Classify an HTTP error answer of a write endpoint (v1 and v2 share these meanings)."""
    detail = f"HTTP {status}: {server_message}".rstrip(": ")
    if status in (401, 403):
        return WriteError(ErrorKind.AUTH, f"{detail}; the server refused the credentials: check {auth_hint}")
    if status == 404:
        return WriteError(ErrorKind.NOT_FOUND, f"{not_found_hint} ({detail})")
    if status == 413:
        return WriteError(ErrorKind.TOO_LARGE, detail)
    if status in (400, 422):
        match = _DROPPED.search(server_message)
        return WriteError(ErrorKind.REJECTED, detail, dropped_points=int(match.group(1)) if match else None)
    # 429, 5xx and anything unexpected: keep the points and try again later.
    return WriteError(ErrorKind.RETRY, detail, retry_after_s=parse_retry_after(retry_after))


def parse_retry_after(value: Optional[str]) -> Optional[float]:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0.0), _MAX_RETRY_AFTER_S)


@dataclass(frozen=True, slots=True)
class OutputStats:
    name: str
    queued_points: int  # in memory, including the request in flight
    spooled_points: int
    spooled_bytes: int
    written_points: int
    dropped_points: int  # rejected by the server, spool overflow, or unencodable samples
    last_error: str  # "" when there was none; never holds a secret
    healthy: bool  # False from a failed write until the next accepted one


@dataclass(slots=True)
class _InFlight:
    task: asyncio.Task
    batch: Batch
    spool_id: Optional[int]  # None: sent straight from memory


class Writer:
    """Batches, writes, spools and replays the points of one output.

    `submit` never blocks and never raises. Start with `await start()`, end with
    `await stop(timeout_s)`, which spools whatever it could not write in time.
    """

    def __init__(self, transport: Transport, spool: Spool, batching: BatchingSettings,
                 retry: SpoolSettings) -> None:
        self.name = transport.name
        self._transport = transport
        self._spool = spool
        self._batch_size = batching.batch_size
        self._flush_interval_s = batching.flush_interval_s
        self._retry_initial_s = retry.retry_initial_s
        self._retry_max_s = max(retry.retry_max_s, retry.retry_initial_s)
        # Hard cap on lines waiting in memory, only reached if the disk cannot keep up.
        self._max_memory_lines = max(20 * batching.batch_size, 200_000)
        # Shorter "secrets" are not redacted: replacing every "t" or "abc" would garble the
        # messages, and such a value protects nothing anyway.
        self._secrets = tuple(s for s in transport.secrets if len(s) >= _MIN_SECRET_LEN)

        self._lines: list[str] = []
        self._first_line_at: Optional[float] = None
        self._pending: deque[Batch] = deque()
        self._in_flight: Optional[_InFlight] = None
        self._wake = asyncio.Event()
        self._task: Optional[asyncio.Task] = None
        self._stopping = False
        self._stop_deadline = 0.0
        self._closed = False

        self._healthy = True
        self._backoff_s = self._retry_initial_s
        self._retry_at = 0.0
        self._last_error = ""
        self._last_logged: tuple[str, float] = ("", 0.0)
        self._written = 0
        self._dropped = 0
        self._replayed = 0  # since the spool was last empty, for the "backlog replayed" line

    # -- public ----------------------------------------------------------------------

    async def start(self) -> None:
        await self._transport.open()
        self._task = asyncio.create_task(self._run(), name=f"output-{self.name}")
        if len(self._spool):
            log.warning("output %s: %d points from a previous run are spooled; replaying them first",
                        self.name, self._spool.counts().points)

    def submit(self, samples: Iterable[Sample]) -> None:
        """Queue samples for writing. Never blocks, never raises."""
        try:
            lines, unwritable = encode_samples(samples)
        except Exception:  # noqa: BLE001 - e.g. a generator that raised; never into the scheduler
            log.exception("output %s: could not read the submitted samples", self.name)
            return
        self.submit_lines(lines, unwritable)

    def submit_lines(self, lines: Sequence[str], unwritable: int = 0) -> None:
        """Queue already encoded lines (Outputs encodes once for several writers).

        `unwritable`: samples of the same call that had nothing line protocol can carry;
        they are counted as dropped.
        """
        try:
            self._dropped += unwritable
            if self._closed:
                self._dropped += len(lines)
                log.error("output %s: %d points submitted after stop were dropped", self.name, len(lines))
                return
            if not lines:
                return
            if self._first_line_at is None:
                self._first_line_at = time.monotonic()
                self._wake.set()  # an idle loop has no timer yet: let it arm flush_interval_s
            self._lines.extend(lines)
            if len(self._lines) > self._max_memory_lines:
                self._drop_oldest_in_memory()
            if len(self._lines) >= self._batch_size:
                self._wake.set()
        except Exception:  # noqa: BLE001 - submit must never raise into the scheduler
            log.exception("output %s: could not queue %d points", self.name, len(lines))

    async def stop(self, timeout_s: float) -> None:
        """Write what can be written within `timeout_s`, spool the rest, close everything."""
        if self._closed:
            return
        if self._task is None:  # never started: keep what was submitted for the next run
            self._closed = True  # first: from now on submit() must not touch the lines the thread spools
            await asyncio.to_thread(self._spool_everything_left)
            await asyncio.to_thread(self._spool.close)
            return
        # Keep a little of the budget for moving what is left to disk.
        self._stop_deadline = time.monotonic() + max(0.0, timeout_s - min(1.0, timeout_s * 0.2))
        self._stopping = True
        self._wake.set()
        await asyncio.shield(self._task)

    def stats(self) -> OutputStats:
        spooled = self._spool.counts()
        queued = len(self._lines) + sum(b.points for b in self._pending)
        if self._in_flight is not None and self._in_flight.spool_id is None:
            queued += self._in_flight.batch.points
        return OutputStats(
            name=self.name, queued_points=queued, spooled_points=spooled.points,
            spooled_bytes=spooled.bytes, written_points=self._written,
            dropped_points=self._dropped + spooled.dropped_points,
            last_error=self._last_error, healthy=self._healthy)

    # -- the loop --------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            while True:
                self._wake.clear()
                try:
                    self._cut_batches()
                    if self._in_flight is not None and self._in_flight.task.done():
                        await self._settle()
                    if self._stopping and self._done_stopping():
                        break
                    await self._spool_pending_if_needed()
                    if self._in_flight is None:
                        await self._send_next()
                except Exception as error:  # noqa: BLE001 - e.g. disk full: keep the data in memory, go on
                    self._last_error = f"spool {self._spool.path}: {type(error).__name__}: {error}"
                    self._log_failure(self._last_error, self._retry_initial_s)
                    self._retry_at = time.monotonic() + self._retry_initial_s
                    if self._stopping:
                        break
                await self._wait()
        finally:
            await self._finish()

    def _cut_batches(self) -> None:
        lines, size = self._lines, self._batch_size
        if not lines:
            return
        taken = 0
        while len(lines) - taken >= size:
            self._pending.append(_batch(lines[taken:taken + size]))
            taken += size
        due = self._stopping or (self._first_line_at is not None
                                 and time.monotonic() - self._first_line_at >= self._flush_interval_s)
        if due and taken < len(lines):
            self._pending.append(_batch(lines[taken:]))
            taken = len(lines)
        del lines[:taken]
        if not lines:
            self._first_line_at = None

    async def _spool_pending_if_needed(self) -> None:
        if not self._pending:
            return
        # Spooled data is older than pending, and while unhealthy nothing goes direct.
        must = len(self._spool) > 0 or not self._healthy
        # A slow request in flight: keep memory bounded by moving the rest to disk.
        must = must or (self._in_flight is not None and len(self._pending) > _MAX_PENDING_BATCHES)
        if must:
            batches = list(self._pending)
            await asyncio.to_thread(self._spool.append, batches)
            # Only now: if the disk refused them they are still here. Nothing else adds
            # to pending while this loop awaits, so these are exactly the ones spooled.
            for _ in batches:
                self._pending.popleft()

    async def _send_next(self) -> None:
        if self._stopping and not self._healthy:
            return  # no retries on the way out: spool and go
        if time.monotonic() < self._retry_at:
            return
        if len(self._spool):
            head = await asyncio.to_thread(self._spool.head)
            if head is not None:
                self._begin(Batch(head.body, head.points), head.id)
        elif self._pending and self._healthy:
            self._begin(self._pending.popleft(), None)

    def _begin(self, batch: Batch, spool_id: Optional[int]) -> None:
        task = asyncio.create_task(self._transport.write(batch.body), name=f"write-{self.name}")
        self._in_flight = _InFlight(task, batch, spool_id)

    async def _wait(self) -> None:
        now = time.monotonic()
        deadlines = []
        if self._first_line_at is not None and not self._stopping:
            deadlines.append(self._first_line_at + self._flush_interval_s)
        if self._in_flight is None and self._retry_at > now:
            deadlines.append(self._retry_at)
        if self._stopping:
            deadlines.append(self._stop_deadline)
        waiters: set[asyncio.Future] = {asyncio.ensure_future(self._wake.wait())}
        if self._in_flight is not None:
            waiters.add(self._in_flight.task)
        try:
            timeout = max(0.0, min(deadlines) - now) if deadlines else None
            await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                if self._in_flight is None or waiter is not self._in_flight.task:
                    waiter.cancel()

    def _done_stopping(self) -> bool:
        if time.monotonic() >= self._stop_deadline:
            return True
        if self._in_flight is not None:
            return False
        if not self._healthy:
            return True
        return not self._pending and not self._lines and len(self._spool) == 0

    async def _finish(self) -> None:
        if self._in_flight is not None:
            self._in_flight.task.cancel()
            await asyncio.gather(self._in_flight.task, return_exceptions=True)
            await self._settle()
        self._stopping = True
        self._cut_batches()
        self._closed = True
        try:
            await asyncio.to_thread(self._spool_everything_left)
        except Exception as error:  # noqa: BLE001 - the disk refused: say exactly what is lost
            lost = sum(b.points for b in self._pending)
            self._dropped += lost
            log.error("output %s: could not spool %d points on stop, they are lost: %s: %s",
                      self.name, lost, type(error).__name__, error)
        finally:
            try:
                await self._transport.close()
            finally:
                await asyncio.to_thread(self._spool.close)
        counts = self._spool.counts()
        if counts.points:
            log.warning("output %s stopped with %d points spooled in %s; they are sent on the next start",
                        self.name, counts.points, self._spool.path)

    def _spool_everything_left(self) -> None:
        self._cut_batches_all()
        if self._pending:
            self._spool.append(list(self._pending))
            self._pending.clear()

    def _cut_batches_all(self) -> None:
        if self._lines:
            for start in range(0, len(self._lines), self._batch_size):
                self._pending.append(_batch(self._lines[start:start + self._batch_size]))
            self._lines.clear()
            self._first_line_at = None

    # -- outcome of one request ----------------------------------------------------------

    async def _settle(self) -> None:
        flight, self._in_flight = self._in_flight, None
        assert flight is not None
        self._wake.set()  # whatever happened, the loop has work to look at again
        try:
            flight.task.result()
        except asyncio.CancelledError:
            # Cut off by stop(): not the server's fault. Keep the batch, oldest first.
            if flight.spool_id is None:
                await self._keep_in_front([flight.batch])
            return
        except WriteError as error:
            await self._failed(flight, error)
            return
        except Exception as error:  # noqa: BLE001 - a transport bug: keep the data, retry
            await self._failed(flight, WriteError(ErrorKind.RETRY, f"unexpected {type(error).__name__}"))
            return
        await self._accepted(flight)

    async def _accepted(self, flight: _InFlight) -> None:
        if flight.spool_id is not None:
            await asyncio.to_thread(self._spool.remove, flight.spool_id)
            self._replayed += flight.batch.points
            if len(self._spool) == 0:
                log.warning("output %s: backlog replayed, %d points from the spool written",
                            self.name, self._replayed)
                self._replayed = 0
        self._written += flight.batch.points
        if not self._healthy:
            log.warning("output %s: the server accepts writes again; replaying %d spooled points",
                        self.name, self._spool.counts().points)
        self._healthy = True
        self._backoff_s = self._retry_initial_s
        self._retry_at = 0.0

    async def _failed(self, flight: _InFlight, error: WriteError) -> None:
        message = self._redact(error.message)
        self._last_error = message
        if error.kind is ErrorKind.TOO_LARGE and flight.batch.points > 1:
            await self._split(flight)
            return
        if error.kind in (ErrorKind.REJECTED, ErrorKind.TOO_LARGE):
            await self._drop(flight, error, message)
            return
        if flight.spool_id is None:
            await self._keep_in_front([flight.batch])
        self._healthy = False
        if error.retry_after_s is not None:
            delay = error.retry_after_s
        else:
            # Up to 10 % jitter so several daemons do not all return at the same instant.
            delay = self._backoff_s * (1 + 0.1 * random.random())
            self._backoff_s = min(self._backoff_s * 2, self._retry_max_s)
        self._retry_at = time.monotonic() + delay
        self._log_failure(message, delay)

    async def _split(self, flight: _InFlight) -> None:
        lines = flight.batch.body.split(b"\n")
        half = len(lines) // 2
        parts = [Batch(b"\n".join(lines[:half]), half), Batch(b"\n".join(lines[half:]), len(lines) - half)]
        # Later batches would be refused too: cut them no bigger than what is being tried now.
        if half < self._batch_size:
            self._batch_size = max(1, half)
            log.warning("output %s: the server refused %d points in one request as too large (413); "
                        "sending at most %d per request from now on (lower batch_size in the settings)",
                        self.name, flight.batch.points, self._batch_size)
        if flight.spool_id is not None:
            await asyncio.to_thread(self._spool.replace, flight.spool_id, parts)
        elif len(self._spool):
            await self._keep_in_front(parts)
        else:
            self._pending.extendleft(reversed(parts))

    async def _keep_in_front(self, batches: list[Batch]) -> None:
        """Put batches that were in flight back before everything else that is queued."""
        try:
            await asyncio.to_thread(self._spool.prepend, batches)
        except Exception as error:  # noqa: BLE001 - disk trouble: memory keeps them, in order
            self._pending.extendleft(reversed(batches))
            log.error("output %s: could not spool %d points (%s: %s); keeping them in memory",
                      self.name, sum(b.points for b in batches), type(error).__name__, error)

    async def _drop(self, flight: _InFlight, error: WriteError, message: str) -> None:
        points = flight.batch.points
        dropped = points
        if error.dropped_points is not None and 0 <= error.dropped_points <= points:
            dropped = error.dropped_points  # partial write: the server stored the others
        if flight.spool_id is not None:
            await asyncio.to_thread(self._spool.remove, flight.spool_id)
        self._dropped += dropped
        self._written += points - dropped
        # The server answered, so it is reachable: no backoff for the next batch.
        self._healthy = True
        self._backoff_s = self._retry_initial_s
        self._retry_at = 0.0
        log.error("output %s: the server will never accept %d of %d points, dropped them "
                  "(%d dropped since start): %s", self.name, dropped, points, self.stats().dropped_points, message)

    def _log_failure(self, message: str, delay_s: float) -> None:
        now = time.monotonic()
        previous, at = self._last_logged
        if message == previous and now - at < _REPEAT_LOG_S:
            return
        self._last_logged = (message, now)
        counts = self._spool.counts()
        log.warning("output %s: write failed: %s; %d points (%.1f MB) spooled, next try in %.1f s",
                    self.name, message, counts.points, counts.bytes / 1e6, delay_s)

    # -- small helpers ---------------------------------------------------------------------

    def _redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def _drop_oldest_in_memory(self) -> None:
        excess = len(self._lines) - self._max_memory_lines
        del self._lines[:excess]
        self._dropped += excess
        log.error("output %s: more than %d points waiting in memory (the spool cannot keep up); "
                  "dropped the %d oldest", self.name, self._max_memory_lines, excess)


def encode_samples(samples: Iterable[Sample]) -> tuple[list[str], int]:
    """Lines of the samples that can be written, and how many samples could not be.

    Never raises: a sample with a value of the wrong type is logged and counted, and the
    other samples of the call still go out.
    """
    samples = samples if isinstance(samples, (list, tuple)) else list(samples)
    try:
        lines = [line for line in map(encode, samples) if line]
        return lines, len(samples) - len(lines)
    except Exception:  # noqa: BLE001 - rare: find the odd sample(s) one by one
        pass
    lines = []
    for sample in samples:
        try:
            line = encode(sample)
        except Exception as error:  # noqa: BLE001
            log.error("dropped a sample that cannot be encoded (measurement %r): %s: %s",
                      getattr(sample, "measurement", "?"), type(error).__name__, error)
            continue
        if line:
            lines.append(line)
    return lines, len(samples) - len(lines)


def _batch(lines: list[str]) -> Batch:
    return Batch("\n".join(lines).encode(), len(lines))
