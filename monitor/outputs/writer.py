"""The pipeline of one metrics output: memory -> server, or memory -> spool -> server.

Order is the contract. At any moment the points of one output sit in four places, oldest
first: the request in flight, the on-disk spool, cut batches in memory (`pending`), and
lines not yet cut. Only one request is in flight at a time. A batch goes straight to the
server only while the output is healthy and the spool is empty; otherwise it is appended to
the spool, and a failed in-flight batch goes back to the spool's *front*. So replay after an
outage is in submission order, and a batch is forgotten only once the server accepted it
(or answered that it never will: 400/422, counted as dropped).

Delivery is at least once, not exactly once: a batch whose answer was lost (kill -9, a
timeout after the server stored it) is sent again. InfluxDB overwrites such a point (same
series, same timestamp); VictoriaMetrics keeps both unless it runs with
`-dedup.minScrapeInterval` (docs/operations.md, "Duplicates after a crash").

One bad line loses only itself. A batch the server refuses as malformed (400/422 without a
count of what it dropped) is split in halves and each half sent again, down to the single
line it refuses, which is dropped, counted (`rejected_points`) and logged by measurement and
device, never by field values. Lines over the servers' size limits never get that far: the
encoder refuses them (monitor/lineproto.py), and they are counted and logged the same way.

Drops of every kind are counted once (`dropped_points`) and logged as they happen, at most
one line per `DROP_LOG_INTERVAL_S` (monitor/outputs/droplog.py).

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
from dataclasses import dataclass, field
from typing import Iterable, Optional, Protocol, Sequence

from monitor.lineproto import LineTooLong, describe, describe_line, encode
from monitor.outputs.droplog import DropLog
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
# At most one log line about dropped points per output this often (each with the exact count).
DROP_LOG_INTERVAL_S = 10.0
# A server's error text shown in logs and `status` is cut to this many characters.
MAX_SERVER_MESSAGE = 300


class ErrorKind(enum.Enum):
    RETRY = "retry"  # connection refused, timeout, 5xx, 429: the server may take it later
    AUTH = "auth"  # 401/403: spool until someone fixes the credentials
    NOT_FOUND = "not_found"  # 404: bucket/database missing; spool until it exists
    TOO_LARGE = "too_large"  # 413: split the batch and send the halves
    REJECTED = "rejected"  # 400/422: the server will never take (some of) these points


class WriteError(Exception):
    """A failed write, classified. `message` is for people and never holds a secret."""

    def __init__(self, kind: ErrorKind, message: str, retry_after_s: Optional[float] = None,
                 dropped_points: Optional[int] = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.retry_after_s = retry_after_s
        # For a partial write (400 "... dropped=N") the server kept the other points. None:
        # not known which, so the writer isolates the bad line(s) by splitting the batch.
        self.dropped_points = dropped_points


class Transport(Protocol):
    """How one output talks to its server. `write` raises only WriteError."""

    name: str  # output name in settings: "influxdb", "influxdb_v1"
    secrets: tuple[str, ...]  # values that must never appear in a log line or stats

    async def open(self) -> None: ...

    async def write(self, body: bytes) -> None: ...

    async def close(self) -> None: ...


_DROPPED = re.compile(r"dropped=(\d+)")
_UNPARSED_LINE = re.compile(r"unable to parse '")


def error_for_status(status: int, server_message: str, retry_after: Optional[str],
                     auth_hint: str, not_found_hint: str) -> WriteError:
    """Classify an HTTP error answer of a write endpoint (v1 and v2 share these meanings).

    `server_message` may be long; it is shown without the lines it quotes and cut short.
    """
    unparsed = _UNPARSED_LINE.search(server_message) is not None
    server_message = without_quoted_lines(server_message)[:MAX_SERVER_MESSAGE]
    detail = f"HTTP {status}: {server_message}".rstrip(": ")
    if status in (401, 403):
        return WriteError(ErrorKind.AUTH, f"{detail}; the server refused the credentials: check {auth_hint}")
    if status == 404:
        return WriteError(ErrorKind.NOT_FOUND, f"{not_found_hint} ({detail})")
    if status == 413:
        return WriteError(ErrorKind.TOO_LARGE, detail)
    if status in (400, 422):
        match = _DROPPED.search(server_message)
        # influxd 1.6.7 answered "partial write: unable to parse ... dropped=0" for two lines
        # it did not store: its count leaves out lines it could not parse, so it is no count.
        dropped = int(match.group(1)) if match and not unparsed else None
        return WriteError(ErrorKind.REJECTED, detail, dropped_points=dropped)
    # 429, 5xx and anything unexpected: keep the points and try again later.
    return WriteError(ErrorKind.RETRY, detail, retry_after_s=parse_retry_after(retry_after))


def without_quoted_lines(message: str) -> str:
    """A server's parse error without the lines it quotes, which hold field values (secrets,
    possibly): "unable to parse 'icmp,device=a v= 1': missing field value" becomes
    "unable to parse a line of icmp device=a: missing field value"."""
    out, rest = [], message
    while (match := _UNPARSED_LINE.search(rest)) is not None:
        out.append(rest[:match.start()])
        quoted = rest[match.end():]
        end = quoted.find("': ")
        if end < 0:  # cut off inside the quote
            end = quoted.rfind("'")
        line = quoted[:end] if end >= 0 else quoted
        out.append(f"unable to parse a line of {describe_line(line)}")
        rest = quoted[end + 1:] if end >= 0 else ""
    out.append(rest)
    return "".join(out)


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
    dropped_points: int  # every point given up on: rejected, spool overflow, unencodable, ...
    last_error: str  # "" when there was none; never holds a secret
    healthy: bool  # False from a failed write until the next accepted one
    # Of dropped_points: refused by the server as malformed, or over its size limits (not sent).
    rejected_points: int = 0


@dataclass(slots=True)
class Encoded:
    """Samples as line protocol, and the ones that could not be: what `encode_samples` returns."""

    lines: list[str]
    unwritable: int = 0  # samples with nothing line protocol can carry (e.g. only NaN fields)
    too_long: list[str] = field(default_factory=list)  # `describe` of samples over the size limits


# How the drop log names each reason (monitor/outputs/droplog.py).
_DROP_REASONS = {
    "spool_full": "oldest spooled points, the spool was full (outputs.spool.max_mb)",
    "rejected": "refused by the server as malformed",
    "too_long": "over the servers' size limits, not sent",
    "too_large": "refused by the server as too large (413) even alone",
    "unwritable": "with no value line protocol can carry",
    "memory": "oldest in memory, the spool could not keep up",
    "after_stop": "submitted after the output stopped",
    "unspoolable": "could not be spooled on stop",
}


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
        self._rejected = 0
        self._drops = DropLog(self.name, DROP_LOG_INTERVAL_S, _DROP_REASONS)
        self._spool_drops_seen = spool.counts().dropped_points
        self._replayed = 0  # since the spool was last empty, for the "backlog replayed" line

    # -- public ----------------------------------------------------------------------

    async def start(self) -> None:
        await self._transport.open()
        self._task = asyncio.create_task(self._run(), name=f"output-{self.name}")
        if len(self._spool):
            log.warning("output %s: %d points are spooled (from before a restart or reload); replaying "
                        "them first", self.name, self._spool.counts().points)

    def close_unstarted(self) -> None:
        """Close the spool of a writer that was never started and holds nothing."""
        self._closed = True
        self._spool.close()

    def carry_over(self, previous: "Writer") -> None:
        """Continue the counters of the writer this one replaces (a reload): written, dropped
        and rejected count since the daemon started, in the log and in the metrics alike."""
        self._written += previous._written
        self._rejected += previous._rejected
        self._drops.carry_over(previous._drops)

    def submit(self, samples: Iterable[Sample]) -> None:
        """Queue samples for writing. Never blocks, never raises."""
        try:
            encoded = encode_samples(samples)
        except Exception:  # noqa: BLE001 - e.g. a generator that raised; never into the scheduler
            log.exception("output %s: could not read the submitted samples", self.name)
            return
        self.submit_encoded(encoded)

    def submit_encoded(self, encoded: "Encoded") -> None:
        """Queue samples encoded by `encode_samples` (Outputs encodes once for several writers)."""
        try:
            self._drops.add("unwritable", encoded.unwritable)
            for example in encoded.too_long:
                self._rejected += 1
                self._drops.add("too_long", 1, example)
        except Exception:  # noqa: BLE001 - submit must never raise into the scheduler
            log.exception("output %s: could not count unwritable samples", self.name)
        self.submit_lines(encoded.lines)

    def submit_lines(self, lines: Sequence[str], unwritable: int = 0) -> None:
        """Queue already encoded lines. `unwritable`: samples of the same call that had
        nothing line protocol can carry; they are counted as dropped."""
        try:
            self._drops.add("unwritable", unwritable)
            if self._closed:
                self._drops.add("after_stop", len(lines))
                self._drops.report(final=True)  # no loop is left to report it later
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
        self._note_spool_drops()  # so stats and the drop log never disagree
        return OutputStats(
            name=self.name, queued_points=queued, spooled_points=spooled.points,
            spooled_bytes=spooled.bytes, written_points=self._written,
            dropped_points=self._drops.total, last_error=self._last_error, healthy=self._healthy,
            rejected_points=self._rejected)

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
                self._note_spool_drops()
                self._drops.report()
                await self._wait()
        finally:
            await self._finish()

    def _note_spool_drops(self) -> None:
        """Move the spool's overflow drops (counted in the worker thread) into the drop log."""
        dropped = self._spool.counts().dropped_points
        if dropped > self._spool_drops_seen:
            self._drops.add("spool_full", dropped - self._spool_drops_seen)
            self._spool_drops_seen = dropped

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
        drops_due = self._drops.due_at()
        if drops_due is not None:
            deadlines.append(drops_due)
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
            self._drops.add("unspoolable", lost, f"{type(error).__name__}: {error}")
        finally:
            try:
                await self._transport.close()
            finally:
                await asyncio.to_thread(self._spool.close)
                self._note_spool_drops()
                self._drops.report(final=True)
        counts = self._spool.counts()
        if counts.points:
            log.warning("output %s stopped with %d points spooled in %s; they are sent first after the "
                        "reload or next start", self.name, counts.points, self._spool.path)

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
            # The file has the last word: the replay ends only when it holds no batch.
            if len(self._spool) == 0 and await asyncio.to_thread(self._spool.is_empty):
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
            await self._split(flight, smaller_batches=True)
            return
        if error.kind is ErrorKind.REJECTED and error.dropped_points is None and flight.batch.points > 1:
            # Some line is malformed and the server did not say which: halve until only the
            # line(s) it refuses are left, so the others of the batch still arrive.
            self._server_answered()
            await self._split(flight, smaller_batches=False)
            return
        if error.kind in (ErrorKind.REJECTED, ErrorKind.TOO_LARGE):
            await self._drop(flight, error, message)
            return
        # Unhealthy before the batch is spooled: the spooling yields (a thread), and `stats()`
        # in between must not show the error and the spooled batch with healthy still true.
        self._healthy = False
        if flight.spool_id is None:
            await self._keep_in_front([flight.batch])
        if error.retry_after_s is not None:
            delay = error.retry_after_s
        else:
            # Up to 10 % jitter so several daemons do not all return at the same instant.
            delay = self._backoff_s * (1 + 0.1 * random.random())
            self._backoff_s = min(self._backoff_s * 2, self._retry_max_s)
        self._retry_at = time.monotonic() + delay
        self._log_failure(message, delay)

    async def _split(self, flight: _InFlight, smaller_batches: bool) -> None:
        """Put the two halves of the batch in its place; `smaller_batches` (413): later batches
        are cut no bigger than a half."""
        lines = flight.batch.body.split(b"\n")
        half = len(lines) // 2
        parts = [Batch(b"\n".join(lines[:half]), half), Batch(b"\n".join(lines[half:]), len(lines) - half)]
        # Later batches would be refused too: cut them no bigger than what is being tried now.
        if smaller_batches and half < self._batch_size:
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
        self._written += points - dropped
        self._server_answered()
        self._rejected += dropped
        # One line: name it. More (a partial write): the server's words say which measurement.
        example = f"{describe_line(flight.batch.body)}: {message}" if points == 1 else message
        self._drops.add("rejected" if error.kind is ErrorKind.REJECTED else "too_large", dropped, example)

    def _server_answered(self) -> None:
        """The server answered (even if with a refusal), so it is reachable: no backoff."""
        self._healthy = True
        self._backoff_s = self._retry_initial_s
        self._retry_at = 0.0

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
        self._drops.add("memory", excess)


def encode_samples(samples: Iterable[Sample]) -> Encoded:
    """Lines of the samples that can be written, and which samples could not be.

    Never raises: a sample over the servers' size limits is named in `too_long`, one with a
    value of the wrong type is logged, both are counted, and the other samples of the call
    still go out.
    """
    samples = samples if isinstance(samples, (list, tuple)) else list(samples)
    try:
        lines = [line for line in map(encode, samples) if line]
        return Encoded(lines, len(samples) - len(lines))
    except Exception:  # noqa: BLE001 - rare: find the odd sample(s) one by one
        pass
    encoded = Encoded([])
    for sample in samples:
        try:
            line = encode(sample)
        except LineTooLong as error:
            encoded.too_long.append(error.describe)
            continue
        except Exception as error:  # noqa: BLE001
            log.error("dropped a sample that cannot be encoded (%s): %s: %s",
                      describe(str(getattr(sample, "measurement", "?")), None), type(error).__name__, error)
            encoded.unwritable += 1
            continue
        if line:
            encoded.lines.append(line)
        else:
            encoded.unwritable += 1
    return encoded


def _batch(lines: list[str]) -> Batch:
    return Batch("\n".join(lines).encode(), len(lines))
