"""Points an output gave up on: counted exactly, and logged as it happens, at most once per interval.

A full spool drops a batch on every flush of a long outage; a line for each would flood the
journal. Reporting once a minute, and only when the next drop came, once left a log line
saying 212 points while 5,138 were dropped (the rest surfaced at the next reload or stop).
So here: the first drop after a quiet interval is logged at once; later ones are added up
and logged as soon as the interval has passed (`due_at` tells the writer's loop when to
call `report`), and whatever is left is logged by the final `report` at stop. Every line
gives the exact count since the previous line, by reason, and the total since start, which
is the `dropped_points` the output exports: the log and the metric always agree.

Examples name measurement and device (`icmp device=sw-1`) and never field values, which
may be secrets (a configuration diff, a command's output).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from typing import Callable, Mapping, Optional

log = logging.getLogger(__name__)

_MAX_EXAMPLES = 3  # per reason and line: enough to find the culprit, never a flood


class DropLog:
    """Counts drops by reason and says so in the log at most once per `interval_s`."""

    def __init__(self, output: str, interval_s: float, reasons: Mapping[str, str],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.output = output
        self.interval_s = interval_s
        self.reasons = dict(reasons)  # reason -> how a person reads it
        self._clock = clock
        self.total = 0  # since start: the exported dropped_points
        self.by_reason: Counter[str] = Counter()
        self._unreported: Counter[str] = Counter()
        self._examples: dict[str, list[str]] = {}
        self._last_line_at = float("-inf")

    def add(self, reason: str, points: int, example: str = "") -> None:
        """Count `points` dropped for `reason`; logs at once unless a line was written lately."""
        if points <= 0:
            return
        self.total += points
        self.by_reason[reason] += points
        self._unreported[reason] += points
        if example:
            examples = self._examples.setdefault(reason, [])
            if example not in examples and len(examples) < _MAX_EXAMPLES:
                examples.append(example)
        self.report()

    def carry_over(self, previous: "DropLog") -> None:
        """Continue the counts of the output this one replaces (a reload), so totals do not restart."""
        self.total += previous.total
        self.by_reason.update(previous.by_reason)

    def due_at(self) -> Optional[float]:
        """When the unreported drops may be logged (clock time), or None when there are none."""
        if not self._unreported:
            return None
        return self._last_line_at + self.interval_s

    def report(self, final: bool = False) -> bool:
        """Log the drops not reported yet, if the interval has passed (or `final`). True if logged."""
        if not self._unreported:
            return False
        now = self._clock()
        if not final and now < self._last_line_at + self.interval_s:
            return False
        unreported, self._unreported = self._unreported, Counter()
        examples, self._examples = self._examples, {}
        parts = []
        for reason, points in unreported.items():
            text = f"{points} {self.reasons.get(reason, reason)}"
            if examples.get(reason):
                text += " (" + ", ".join(examples[reason]) + ")"
            parts.append(text)
        # A full spool during an outage is expected and bounded by max_mb; a refused line or
        # points lost on stop mean data someone will look for.
        level = logging.WARNING if set(unreported) <= {"spool_full"} else logging.ERROR
        log.log(level, "output %s: dropped %d points: %s; %d dropped since start", self.output,
                sum(unreported.values()), "; ".join(parts), self.total)
        self._last_line_at = now
        return True
