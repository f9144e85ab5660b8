"""Maintenance windows added from the CLI or the API while the daemon runs.

Configured windows live in the settings (`faults.maintenance`); these are kept in the fault
database (table `maintenance`, created with the fault records' schema) so that a window a
person adds from the command line reaches the running daemon, which reads them again when
`data_version` says another process committed. `calendar.Calendar` combines both kinds.

They share the fault store's connection (`FaultStore.maintenance`): one file, one lock, and
the retention prune of faults and windows is one transaction.
"""

from __future__ import annotations

import builtins
import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence

from monitor.faults.errors import FaultInputError, FaultNotFound, FaultStateError, person, required_text
from monitor.faults.model import Selector, iso_time
from monitor.faults.settings import Recurrence

if TYPE_CHECKING:
    from monitor.faults.store import FaultDb


@dataclass(frozen=True, slots=True)
class MaintenanceWindow:
    """A maintenance window added from the CLI or API (configured ones live in the settings)."""

    id: int
    name: str
    selector: Selector
    starts_at: float
    ends_at: Optional[float]
    recurrence: Optional[Recurrence]
    created_by: str
    created_at: float
    ended_at: Optional[float] = None
    ended_by: Optional[str] = None

    def to_dict(self, tz: Optional[dt.tzinfo] = None) -> dict[str, Any]:
        out = {name: getattr(self, name) for name in ("id", "name", "created_by", "ended_by")}
        out["selector"] = self.selector.model_dump()
        out["recurrence"] = self.recurrence.model_dump(mode="json") if self.recurrence else None
        for name in ("starts_at", "ends_at", "created_at", "ended_at"):
            out[name] = iso_time(getattr(self, name), tz)
            out[f"{name}_unix"] = getattr(self, name)
        return out


class MaintenanceWindows:
    """The `maintenance` table of a fault database; every method is one short transaction
    (or a savepoint of the caller's `FaultStore.transaction()`)."""

    def __init__(self, db: "FaultDb", clock: Callable[[], float]) -> None:
        self._db = db
        self.clock = clock

    def add(self, name: str, selector: Selector, starts_at: float, ends_at: Optional[float], *,
            recurrence: Optional[Recurrence] = None, by: str) -> MaintenanceWindow:
        """A one-off window [starts_at, ends_at), or with `recurrence` a series whose
        occurrences open from starts_at until ends_at (None: for ever)."""
        name = required_text(name, "the window's name")
        by = person(by)
        if recurrence is None and ends_at is None:
            raise FaultInputError("a one-off maintenance window needs an end")
        if ends_at is not None and ends_at <= starts_at:
            raise FaultInputError("the maintenance window must end after it starts")
        created_at = self.clock()
        with self._db.write() as db:
            cursor = db.execute(
                "INSERT INTO maintenance (name, selector, starts_at, ends_at, recurrence, created_by, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (name, selector.model_dump_json(), starts_at, ends_at,
                 recurrence.model_dump_json() if recurrence else None, by, created_at))
            [(window_id,)] = cursor.fetchall()  # to the statement's end (see FaultStore.open)
            return self.get(window_id)

    def get(self, window_id: int) -> MaintenanceWindow:
        found = self._windows("WHERE id = ?", (window_id,))
        if not found:
            raise FaultNotFound(f"there is no maintenance window {window_id}")
        return found[0]

    def _windows(self, where: str, params: Sequence[Any] = ()) -> builtins.list[MaintenanceWindow]:
        with self._db.lock:
            rows = self._db.execute(
                "SELECT id, name, selector, starts_at, ends_at, recurrence, created_by, created_at, ended_at, "
                f"ended_by FROM maintenance {where} ORDER BY starts_at, id", params).fetchall()
        return [MaintenanceWindow(row[0], row[1], Selector.model_validate_json(row[2]), row[3], row[4],
                                  Recurrence.model_validate_json(row[5]) if row[5] else None, *row[6:])
                for row in rows]

    def end(self, window_id: int, *, at: Optional[float] = None, by: str) -> MaintenanceWindow:
        """End a window (or cancel a future one) now; its faults stay marked as they were."""
        by = person(by)
        at = self.clock() if at is None else at
        with self._db.write() as db:
            window = self.get(window_id)
            if window.ended_at is not None:
                raise FaultStateError(f"maintenance window {window_id} was already ended by {window.ended_by}")
            if window.ends_at is not None and window.ends_at <= at:
                raise FaultStateError(f"maintenance window {window_id} is already over")
            db.execute("UPDATE maintenance SET ended_at = ?, ended_by = ? WHERE id = ?", (at, by, window_id))
            return self.get(window_id)

    def prune(self, cutoff: float) -> int:
        """Delete windows over (ended or past their end) before `cutoff`; returns how many."""
        with self._db.write() as db:
            return db.execute("DELETE FROM maintenance WHERE COALESCE(ended_at, ends_at) < ?", (cutoff,)).rowcount

    # `list` last: inside the class body, later annotations would otherwise see this method.
    def list(self, include_ended: bool = False, *, at: Optional[float] = None) -> builtins.list[MaintenanceWindow]:
        """Windows that are current or still to come (all of them with include_ended)."""
        if include_ended:
            return self._windows("")
        at = self.clock() if at is None else at
        return self._windows("WHERE ended_at IS NULL AND (ends_at IS NULL OR ends_at > ?)", (at,))
