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
import functools
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Sequence

log = logging.getLogger("netvigil.faults")
HANDOVER_S = 0.1


class FaultThread:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._loop_thread = threading.get_ident()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="netvigil-faults")
        self._samples: list = []
        self._process: Callable[[Sequence], None] | None = None
        self._handover_due = False
        self._closed = False

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
            self._executor.submit(self._guarded, self._process, batch)

    def post(self, fn: Callable, *args: Any) -> None:
        """Run `fn(*args)` on the thread after everything handed over before; do not wait.
        An exception is logged (the manager's own methods never raise). Nothing once closed."""
        self._hand_over()  # the samples of this turn first: order is what the manager sees
        if not self._closed:
            self._executor.submit(self._guarded, fn, *args)

    async def call(self, fn: Callable, *args: Any, **kwargs: Any) -> Any:
        """Run `fn(*args, **kwargs)` on the thread after everything handed over before; its
        result, or its exception."""
        self._hand_over()
        return await self.loop.run_in_executor(self._executor, functools.partial(fn, *args, **kwargs))

    async def close(self) -> None:
        """Let what was handed over finish, then end the thread; later hand-overs are dropped
        (the daemon is stopping) and `call` raises RuntimeError."""
        self._hand_over()
        self._closed = True
        await self.loop.run_in_executor(None, self._executor.shutdown, True)

    # -- from the thread -------------------------------------------------------------------------

    def to_loop(self, fn: Callable) -> Callable:
        """`fn` made callable from the thread: it runs on the loop, soon, in call order."""
        def from_anywhere(*args: Any) -> None:
            if self.on_loop():
                fn(*args)
            elif not self.loop.is_closed():
                self.loop.call_soon_threadsafe(fn, *args)
        return from_anywhere

    @staticmethod
    def _guarded(fn: Callable, *args: Any) -> None:
        try:
            fn(*args)
        except Exception:  # noqa: BLE001 - the thread must go on with the next call
            log.exception("faults: %s failed", getattr(fn, "__name__", fn))
