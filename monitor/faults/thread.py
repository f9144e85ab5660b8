"""The fault manager on a thread of its own, so that the fault database never holds up the loop.

Every fault change is a few round trips to the database (seven for an open). With the
records on a PostgreSQL server elsewhere each one is a network round trip; a cut network
holds a statement for up to `tcp_user_timeout` (10 s) and each reconnection attempt for
`connect_timeout_s`. On the event loop that time was taken from probing, the control socket
(`status`), the API and the systemd watchdog. So every call into the FaultManager (samples,
housekeeping, snapshots, reloads, the API's acknowledgements and reads) runs here, on one
thread, in the order it was made: the manager and its rule engine still have one caller at
a time, as they always had, and the loop only hands work over. What the manager hands out
goes back to the loop: samples to the outputs (`to_loop`), alerts (the dispatcher's
`submit` is thread-safe), re-probes (the manager schedules them on the loop).

Samples are handed over in batches, every HANDOVER_S, however many probe results came
meanwhile: handed over per result (one per turn of the loop), the thread's wake-ups and the
GIL's hand-offs cost 13 % more CPU per device poll at 3,000 devices (1.90 -> 2.14 ms, median
of three runs each); a fault decision a tenth of a second later changes nothing against
clocks counted in minutes. A call (`post`, `call`) hands over the samples before it first,
so the manager sees everything in the order it happened.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from typing import Any, Callable, Optional, Sequence

log = logging.getLogger("netvigil.faults")
HANDOVER_S = 0.1


class FaultThread:
    """One daemon thread (a store call that hangs on a dead network cannot hold up the
    process's exit, as a ThreadPoolExecutor's worker would: those are joined at exit) and a
    queue of calls, in order."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._loop_thread = threading.get_ident()
        self._calls: "queue.SimpleQueue[Optional[tuple]]" = queue.SimpleQueue()
        self._samples: list = []
        self._process: Optional[Callable[[Sequence], None]] = None
        self._handover_due = False
        self._closed = False
        self._current = ""  # what the thread is doing, for the stop's sentence
        self._thread = threading.Thread(target=self._run, name="netvigil-faults", daemon=True)
        self._thread.start()

    def on_loop(self) -> bool:
        return threading.get_ident() == self._loop_thread

    # -- from the loop ---------------------------------------------------------------------------

    def samples(self, process: Callable[[Sequence], None], samples: Sequence) -> None:
        """Hand `samples` to `process` on the thread, with the others of the next HANDOVER_S."""
        self._process = process
        self._samples.extend(samples)
        if not self._handover_due:
            self._handover_due = True
            self.loop.call_later(HANDOVER_S, self._hand_over)

    def _hand_over(self) -> None:
        self._handover_due = False
        if self._samples and not self._closed:
            batch, self._samples = self._samples, []
            self._calls.put((self._process, (batch,), {}, None))

    def post(self, fn: Callable, *args: Any) -> None:
        """Run `fn(*args)` on the thread after everything handed over before; do not wait.
        An exception is logged (the manager's own methods never raise). Nothing once closed."""
        self._hand_over()  # the samples so far first: order is what the manager sees
        if not self._closed:
            self._calls.put((fn, args, {}, None))

    async def call(self, fn: Callable, *args: Any, **kwargs: Any) -> Any:
        """Run `fn(*args, **kwargs)` on the thread after everything handed over before; its
        result, or its exception. RuntimeError once closed."""
        self._hand_over()
        if self._closed:
            raise RuntimeError("the fault thread has stopped")
        future = self.loop.create_future()
        self._calls.put((fn, args, kwargs, future))
        return await future

    async def close(self, timeout_s: float = 10.0) -> None:
        """Let what was handed over finish (at most `timeout_s`), then end the thread; later
        hand-overs are dropped (the daemon is stopping) and `call` raises RuntimeError."""
        self._hand_over()
        self._closed = True
        self._calls.put(None)
        deadline = time.monotonic() + timeout_s
        while self._thread.is_alive() and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        if self._thread.is_alive():
            log.error("faults: the fault thread is still in %s after %g s; stopping without it (an unfinished "
                      "change is not saved: the rules say it again after the restart)", self._current, timeout_s)

    # -- on the thread ---------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            item = self._calls.get()
            if item is None:
                return
            fn, args, kwargs, future = item
            self._current = getattr(fn, "__qualname__", repr(fn))
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:  # noqa: BLE001 - the thread must go on with the next call
                if future is not None:
                    self._answer(future, exc, failed=True)
                elif isinstance(exc, Exception):
                    log.exception("faults: %s failed", self._current)
                if not isinstance(exc, Exception):
                    raise
            else:
                if future is not None:
                    self._answer(future, result)
            self._current = ""

    def _answer(self, future: asyncio.Future, value: Any, failed: bool = False) -> None:
        def settle() -> None:
            if future.cancelled():
                return
            if failed:
                future.set_exception(value)
            else:
                future.set_result(value)
        if not self.loop.is_closed():
            self.loop.call_soon_threadsafe(settle)

    def to_loop(self, fn: Callable) -> Callable:
        """`fn` made callable from the thread: it runs on the loop, soon, in call order."""
        def from_anywhere(*args: Any) -> None:
            if self.on_loop():
                fn(*args)
            elif not self.loop.is_closed():
                self.loop.call_soon_threadsafe(fn, *args)
        return from_anywhere
