"""Fault records: lifecycle, contract clocks, monthly counts, on SQLite or PostgreSQL.

One database, by default the SQLite file `<state_dir>/faults.db` (sqlite_backend.py), or a
PostgreSQL server several pollers share (`faults.database`, postgres.py); the statements
and the lifecycle here are the same for both, and `open_fault_store(settings)` opens the one
the settings name. The daemon and CLI commands use it at the same time:
the CLI writes acknowledgements directly and the daemon notices through `data_version()`.
So every method is one short transaction of its own (or part of the caller's
`transaction()`), and nothing is cached between calls. The same database keeps the
maintenance windows added from the CLI or API (`monitor/faults/maintenance.py`,
`FaultStore.maintenance`).

Durability (SQLite; on PostgreSQL it is the server's): WAL with `synchronous=FULL`, so a
commit that returned survives kill -9 and a power cut. Measured here (ext4 on a virtual
disk): one open or acknowledge commits in 0.26-0.38 ms with FULL against 0.07-0.10 ms with
NORMAL (the WAL fsync); a batch of 500 opens in one `transaction()` takes 24 ms either way.
Faults change a few times a minute, or in one batch when a core switch fails, so FULL costs
nothing that matters. With 150,000
resolved faults in the file, `due_clock_events()` takes 0.2 ms (partial index).

Choices worth knowing (tests pin each one):

* One unresolved record per (device, rule, instance), enforced by a partial unique index,
  so even two processes racing cannot open a second one.
* Re-open: a condition that returns less than `reopen_window_s` after its record resolved,
  and before that record was closed, reopens it: the deadlines, the acknowledgement and the
  clock flags are kept, because for the contract it is the same fault that was not really
  fixed (time to resolve runs from the first opening). A resolve deadline that passed in
  the meantime is reported as a breach right after the reopen.
* Clocks: the acknowledge clock stops at acknowledgement or resolution (a fault that cleared
  by itself needs no acknowledgement); the resolve clock stops at resolution. Symptom faults
  (cut off behind a failed parent) and faults in maintenance have no clocks: the parent's
  fault carries the contract, and planned work is not a breach. A warning whose time passed
  together with its deadline (the daemon was down) is not sent late: only the breach is.
* Acknowledging or resolving again by the same person is a no-op; by someone else it is an
  error that names who did it, so two engineers learn they are on the same fault.
* The name "auto" is reserved for automatic resolution.
"""

from __future__ import annotations

import builtins
import contextlib
import datetime as dt
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Optional, Protocol, Sequence

# The errors live with the maintenance windows' in errors.py; callers still import them from here.
from monitor.faults.errors import (AUTO, FaultError, FaultInputError, FaultNotFound, FaultStateError,  # noqa: F401
                                   FaultStoreMissing, FaultStoreUnavailable, person, required_text)
from monitor.faults.maintenance import MaintenanceWindows
from monitor.faults.model import SEVERITY_RANK, DeviceInfo, iso_time
from monitor.faults.settings import BudgetSettings, SlaSettings
from monitor.faults.sqlite_backend import BUSY_TIMEOUT_MS, SCHEMA_VERSION, SqliteFaultDb  # noqa: F401 - re-exported

CLOCK_EVENTS = ("ack_warning", "ack_breach", "resolve_warning", "resolve_breach")
FAULTS_FILE = "faults.db"  # under state_dir, when faults.database is sqlite


@dataclass(frozen=True, slots=True)
class Note:
    at: float
    author: str
    text: str


# Times in a Fault, shown both as ISO text and as unix seconds by to_dict().
_TIME_FIELDS = ("opened_at", "last_seen_at", "acknowledged_at", "resolved_at", "closed_at",
                "ack_deadline", "resolve_deadline", "ack_warn_at", "resolve_warn_at")


@dataclass(frozen=True, slots=True)
class Fault:
    """One fault record with its notes (oldest first). Times are unix seconds."""

    id: int
    device: str
    rule: str
    instance: str
    severity: str
    message: str
    site: str
    site_path: tuple[str, ...]
    device_class: str
    opened_at: float
    last_seen_at: float
    first_value: Optional[float]
    last_value: Optional[float]
    worst_value: Optional[float]
    threshold: Optional[float]
    higher_is_worse: bool
    occurrences: int
    acknowledged_at: Optional[float]
    acknowledged_by: Optional[str]
    resolved_at: Optional[float]
    resolved_by: Optional[str]
    closed_at: Optional[float]
    closed_by: Optional[str]
    cause: Optional[str]
    resolution: Optional[str]
    prevention: Optional[str]
    symptom_of: Optional[int]
    in_maintenance: bool
    maintenance: Optional[str]
    heightened: bool
    ack_deadline: float
    resolve_deadline: float
    ack_warn_at: float
    resolve_warn_at: float
    ack_warned: bool
    ack_breached: bool
    resolve_warned: bool
    resolve_breached: bool
    notes: tuple[Note, ...] = ()

    @property
    def state(self) -> str:
        if self.closed_at is not None:
            return "closed"
        if self.resolved_at is not None:
            return "resolved"
        if self.acknowledged_at is not None:
            return "acknowledged"
        return "open"

    @property
    def has_clocks(self) -> bool:
        return self.symptom_of is None and not self.in_maintenance

    @property
    def time_to_ack_s(self) -> Optional[float]:
        return None if self.acknowledged_at is None else self.acknowledged_at - self.opened_at

    @property
    def time_to_resolve_s(self) -> Optional[float]:
        return None if self.resolved_at is None else self.resolved_at - self.opened_at

    def to_dict(self, tz: Optional[dt.tzinfo] = None) -> dict[str, Any]:
        """JSON-safe: every column, times as ISO text (in `tz`, default the machine's zone) and
        as `<name>_unix` seconds, plus state, time_to_ack_s, time_to_resolve_s and notes."""
        out: dict[str, Any] = {}
        for name, value in ((name, getattr(self, name)) for name in _FAULT_COLUMNS):
            if name in _TIME_FIELDS:
                out[name] = iso_time(value, tz)
                out[f"{name}_unix"] = value
            else:
                out[name] = list(value) if isinstance(value, tuple) else value
        out["state"] = self.state
        out["time_to_ack_s"] = self.time_to_ack_s
        out["time_to_resolve_s"] = self.time_to_resolve_s
        out["notes"] = [{"at": iso_time(note.at, tz), "at_unix": note.at, "author": note.author, "text": note.text}
                        for note in self.notes]
        return out


_FAULT_COLUMNS = tuple(f.name for f in fields(Fault) if f.name != "notes")
_BOOL_COLUMNS = frozenset({"higher_is_worse", "in_maintenance", "heightened", "ack_warned", "ack_breached",
                           "resolve_warned", "resolve_breached"})
_SELECT_FAULT = f"SELECT {', '.join(_FAULT_COLUMNS)} FROM fault"


def month_bounds(year: int, month: int, tz: dt.tzinfo) -> tuple[float, float]:
    """Unix seconds of local midnight on the 1st of the month and of the next month."""
    first = dt.datetime(year, month, 1, tzinfo=tz)
    following = dt.datetime(year + month // 12, month % 12 + 1, 1, tzinfo=tz)
    return first.timestamp(), following.timestamp()


def open_fault_store(settings: Any, *, clock: Callable[[], float] = time.time,
                     must_exist: bool = False) -> "FaultStore":
    """The fault records `settings.faults.database` names (`settings`: the whole Settings):
    the SQLite file `state_dir/faults.db`, or the PostgreSQL server, migrated.

    `must_exist`: commands that only look raise FaultStoreMissing where the daemon has not
    created the records yet, instead of creating them. Other refusals are FaultError
    sentences (unreadable file, newer schema; for PostgreSQL also FaultStoreUnavailable:
    unreachable, credentials refused); the SQLite file may also raise sqlite3.Error or
    OSError (permissions), which callers word with their own advice."""
    database = settings.faults.database
    if database.postgresql:
        from monitor.faults.postgres import PostgresFaultDb

        return FaultStore.over(PostgresFaultDb.open(database, create=not must_exist), clock)
    path = settings.state_dir / FAULTS_FILE
    if must_exist and not path.exists():
        raise FaultStoreMissing(f"no fault records at {path} yet: the daemon creates them when it starts")
    return FaultStore(path, clock)


def fault_store_location(settings: Any) -> str:
    """Where the fault records are, for sentences: the file, or the server's URL (no secrets)."""
    database = settings.faults.database
    return database.shown() if database.postgresql else str(settings.state_dir / FAULTS_FILE)


def _worse(value: Optional[float], than: Optional[float], higher_is_worse: bool) -> bool:
    if value is None:
        return False
    if than is None:
        return True
    return value > than if higher_is_worse else value < than


class FaultDb(Protocol):
    """What the store needs of a database (`SqliteFaultDb`, `postgres.PostgresFaultDb`)."""

    lock: Any            # re-entrant; held around reads and by write()
    SHARED: bool         # pollers on other servers write the same records
    GREATEST: str        # the two-argument scalar maximum: MAX or GREATEST
    FIND: str            # position of a needle in a haystack (1-based, 0 if absent): instr or strpos
    where: str           # the file or the URL without secrets, for sentences

    def execute(self, sql: str, params: Sequence[Any] = ...) -> Any: ...
    def write(self) -> contextlib.AbstractContextManager: ...
    def data_version(self) -> int: ...
    def close(self) -> None: ...
    def ids_in(self, column: str) -> str: ...
    def ids(self, values: Sequence[int]) -> Any: ...


class FaultStore:
    """The fault database. One connection per instance; methods may be called from any one
    thread at a time (a lock serialises them); the daemon uses it from its fault thread
    (monitor/faults/thread.py), and for a few reads from its event loop.

    `FaultStore(path)` opens the SQLite file; `FaultStore.over(db)` any `FaultDb`
    (`open_fault_store` picks by `faults.database`). The statements below are written once,
    with `?` placeholders, for both databases; where the dialects differ they ask the db."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        self.path: Optional[Path] = Path(path)
        self._attach(SqliteFaultDb.open(self.path), clock)

    @classmethod
    def over(cls, db: FaultDb, clock: Callable[[], float] = time.time) -> "FaultStore":
        """A store on an opened (and migrated) database."""
        store = cls.__new__(cls)
        store.path = getattr(db, "path", None)
        store._attach(db, clock)
        return store

    def _attach(self, db: FaultDb, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._db = db
        self._lock = db.lock
        self.maintenance = MaintenanceWindows(db, clock)

    @property
    def where(self) -> str:
        """The file or the server (no secrets), for sentences and `status`."""
        return self._db.where

    @property
    def shared(self) -> bool:
        """True on PostgreSQL, where pollers on other servers keep their records too: a daemon
        then restores, reports and clears only the faults of its own devices."""
        return self._db.SHARED

    def __enter__(self) -> "FaultStore":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.disconnect()

    def disconnect(self) -> None:
        """Close the database (`close()` closes a fault)."""
        self._db.close()

    # -- transactions --------------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self) -> Iterator["FaultStore"]:
        """Apply many calls in ONE commit (all or none survive a crash). May be nested."""
        with self._write():
            yield self

    def _write(self) -> contextlib.AbstractContextManager:
        """BEGIN IMMEDIATE ... COMMIT, or a savepoint inside an outer transaction, so a
        failed call inside a batch undoes only itself if the caller handles its error."""
        return self._db.write()

    def data_version(self) -> int:
        """Changes when ANOTHER connection committed (how the daemon notices CLI acks)."""
        return self._db.data_version()

    def applied_through(self, queue: str) -> int:
        """The last change of a poller's queue (monitor/faults/pending.py) already applied; 0
        for none. Read inside the `transaction()` that applies the next ones."""
        with self._lock:
            row = self._db.execute("SELECT seq FROM applied_change WHERE queue = ?", (queue,)).fetchone()
        return row[0] if row else 0

    def set_applied_through(self, queue: str, seq: int) -> None:
        """Inside the transaction that applied them: so they are never applied twice."""
        with self._write():
            self._db.execute("INSERT INTO applied_change (queue, seq, applied_at) VALUES (?, ?, ?) "
                             "ON CONFLICT (queue) DO UPDATE SET seq = excluded.seq, applied_at = excluded.applied_at",
                             (queue, seq, self.clock()))

    # -- reading -------------------------------------------------------------------------

    def _faults(self, where: str = "", params: Sequence[Any] = (), tail: str = "") -> builtins.list[Fault]:
        with self._lock:
            rows = self._db.execute(f"{_SELECT_FAULT} {where} {tail}", params).fetchall()
            if not rows:
                return []
            ids = [row[0] for row in rows]
            notes: dict[int, builtins.list[Note]] = {}
            for fault_id, at, author, text in self._db.execute(
                    f"SELECT fault_id, at, author, text FROM note WHERE {self._db.ids_in('fault_id')} ORDER BY id",
                    (self._db.ids(ids),)):
                notes.setdefault(fault_id, []).append(Note(at, author, text))
        return [self._fault(row, notes.get(row[0], ())) for row in rows]

    @staticmethod
    def _fault(row: Sequence[Any], notes: Sequence[Note]) -> Fault:
        values = dict(zip(_FAULT_COLUMNS, row))
        for name in _BOOL_COLUMNS:
            values[name] = bool(values[name])
        values["site_path"] = tuple(values["site_path"].split("/")) if values["site_path"] else ()
        return Fault(**values, notes=tuple(notes))

    def get(self, fault_id: int) -> Fault:
        found = self._faults("WHERE id = ?", (fault_id,))
        if not found:
            raise FaultNotFound(f"there is no fault {fault_id}")
        return found[0]

    def _unresolved_of(self, device: str, rule: str, instance: str) -> Optional[Fault]:
        found = self._faults("WHERE device = ? AND rule = ? AND instance = ? AND resolved_at IS NULL",
                             (device, rule, instance))
        return found[0] if found else None

    def unresolved(self) -> builtins.list[Fault]:
        """Every fault not resolved yet, oldest first (the daemon restores its state from them)."""
        return self._faults("WHERE resolved_at IS NULL", tail="ORDER BY id")

    def symptoms_of(self, fault_id: int) -> builtins.list[Fault]:
        return self._faults("WHERE symptom_of = ?", (fault_id,), "ORDER BY id")

    # -- the lifecycle -------------------------------------------------------------------

    def open(self, device: DeviceInfo, rule: str, instance: str = "", *, severity: str, message: str = "",
             value: Optional[float] = None, threshold: Optional[float] = None, higher_is_worse: bool = True,
             at: Optional[float] = None, sla: SlaSettings, reopen_window_s: float,
             symptom_of: Optional[int] = None, in_maintenance: bool = False, maintenance: Optional[str] = None,
             heightened: bool = False) -> tuple[Fault, str]:
        """A rule tripped: returns the record and "opened", "reopened" or "existing".

        "existing": a record is still unresolved (a daemon restart): only last_seen, last and
        worst value and a worse severity move. "reopened": see the module docstring; the
        record takes this call's symptom_of and maintenance marks (the situation now), keeps
        its deadlines, acknowledgement and `heightened`."""
        if severity not in SEVERITY_RANK:
            raise FaultInputError(f"unknown severity {severity!r}; use one of {', '.join(SEVERITY_RANK)}")
        at = self.clock() if at is None else at
        with self._write():
            current = self._unresolved_of(device.name, rule, instance)
            if current is not None:
                self._move_values(current, value, message or None, at, severity)
                return self.get(current.id), "existing"
            newest = self._faults("WHERE device = ? AND rule = ? AND instance = ?", (device.name, rule, instance),
                                  "ORDER BY id DESC LIMIT 1")
            if newest and newest[0].closed_at is None and 0 <= at - newest[0].resolved_at < reopen_window_s:
                fault = newest[0]
                self._db.execute(
                    "UPDATE fault SET resolved_at = NULL, resolved_by = NULL, occurrences = occurrences + 1, "
                    "symptom_of = ?, in_maintenance = ?, maintenance = ? WHERE id = ?",
                    (symptom_of, int(in_maintenance), maintenance if in_maintenance else None, fault.id))
                self._move_values(fault, value, message or None, at, severity)
                return self.get(fault.id), "reopened"
            cursor = self._db.execute(
                "INSERT INTO fault (device, rule, instance, severity, message, site, site_path, device_class, "
                "opened_at, last_seen_at, first_value, last_value, worst_value, threshold, higher_is_worse, "
                "symptom_of, in_maintenance, maintenance, heightened, ack_deadline, resolve_deadline, "
                "ack_warn_at, resolve_warn_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
                "?, ?) RETURNING id",
                (device.name, rule, instance, severity, message, device.site, "/".join(device.site_path),
                 device.device_class, at, at, value, value, value, threshold, int(higher_is_worse), symptom_of,
                 int(in_maintenance), maintenance if in_maintenance else None, int(heightened),
                 *self._deadlines(at, sla)))
            # fetchall, not fetchone: it runs the statement to its end, so SQLite does not keep
            # the INSERT open while the next statements run.
            [(fault_id,)] = cursor.fetchall()
            return self.get(fault_id), "opened"

    @staticmethod
    def _deadlines(at: float, sla: SlaSettings) -> tuple[float, float, float, float]:
        ack, resolve = at + sla.acknowledge_s, at + sla.resolve_s
        return ack, resolve, ack - sla.warn_before_ack_s, resolve - sla.warn_before_resolve_s

    def _move_values(self, fault: Fault, value: Optional[float], message: Optional[str], at: float,
                     severity: Optional[str] = None) -> None:
        worst = value if _worse(value, fault.worst_value, fault.higher_is_worse) else fault.worst_value
        if severity is None or SEVERITY_RANK[severity] >= SEVERITY_RANK[fault.severity]:
            severity = fault.severity  # never lowered while the fault lives
        self._db.execute(
            f"UPDATE fault SET last_seen_at = {self._db.GREATEST}(last_seen_at, ?), "
            "last_value = COALESCE(?, last_value), "
            "worst_value = ?, message = COALESCE(?, message), severity = ? WHERE id = ?",
            (at, value, worst, message, severity, fault.id))

    def update(self, device_name: str, rule: str, instance: str = "", *, value: Optional[float] = None,
               message: Optional[str] = None, at: Optional[float] = None) -> Optional[Fault]:
        """The condition still holds: last and worst value, last_seen. None when no record is unresolved."""
        at = self.clock() if at is None else at
        with self._write():
            current = self._unresolved_of(device_name, rule, instance)
            if current is None:
                return None
            self._move_values(current, value, message, at)
            return self.get(current.id)

    def resolve_auto(self, device_name: str, rule: str, instance: str = "", *,
                     at: Optional[float] = None) -> Optional[Fault]:
        """The clear condition held. None when no record is unresolved (e.g. resolved by hand)."""
        at = self.clock() if at is None else at
        with self._write():
            current = self._unresolved_of(device_name, rule, instance)
            if current is None:
                return None
            self._db.execute("UPDATE fault SET resolved_at = ?, resolved_by = ? WHERE id = ?", (at, AUTO, current.id))
            return self.get(current.id)

    def acknowledge(self, fault_id: int, by: str, *, note: Optional[str] = None,
                    at: Optional[float] = None) -> Fault:
        """Someone took the fault. Again by the same person: no change (the note is still added)."""
        return self._once(fault_id, by, note, at, "acknowledged", lambda fault: (
            f"fault {fault_id} was already acknowledged by {fault.acknowledged_by} at "
            f"{iso_time(fault.acknowledged_at, None)}; add a note instead if you are helping"))

    def resolve(self, fault_id: int, by: str, *, note: Optional[str] = None, at: Optional[float] = None) -> Fault:
        """Resolved by hand (the condition may still hold; the rule then opens it again later)."""
        def already(fault: Fault) -> str:
            who = "automatically" if fault.resolved_by == AUTO else f"by {fault.resolved_by}"
            return (f"fault {fault_id} was already resolved {who} at {iso_time(fault.resolved_at, None)}; "
                    f"close it with the analysis (netvigil close {fault_id} --by NAME --cause ... "
                    f"--resolution ... --prevention ...)")
        return self._once(fault_id, by, note, at, "resolved", already)

    def _once(self, fault_id: int, by: str, note: Optional[str], at: Optional[float], step: str,
              already: Callable[[Fault], str]) -> Fault:
        """Set `<step>_at` / `<step>_by` (acknowledged, resolved) once: again by the same person
        changes nothing (a retried click or command), by someone else is refused with `already`."""
        by = person(by)
        at = self.clock() if at is None else at
        with self._write():
            fault = self.get(fault_id)
            if fault.closed_at is not None:
                raise FaultStateError(f"fault {fault_id} is already closed")
            if getattr(fault, f"{step}_at") is None:
                self._db.execute(f"UPDATE fault SET {step}_at = ?, {step}_by = ? WHERE id = ?", (at, by, fault_id))
            elif getattr(fault, f"{step}_by") != by:
                raise FaultStateError(already(fault))
            if note:
                self._add_note(fault_id, by, note, at)
            return self.get(fault_id)

    def close(self, fault_id: int, by: str, *, cause: str, resolution: str, prevention: str,
              at: Optional[float] = None) -> Fault:
        """The analysis report is written: cause, how it was resolved, what prevents a repeat."""
        by = person(by)
        texts = {"cause": cause, "resolution": resolution, "prevention": prevention}
        empty = [name for name, text in texts.items() if not (text or "").strip()]
        if empty:
            raise FaultInputError(f"closing fault {fault_id} needs the analysis: {', '.join(empty)} "
                                  f"must not be empty")
        at = self.clock() if at is None else at
        with self._write():
            fault = self.get(fault_id)
            if fault.closed_at is not None:
                raise FaultStateError(f"fault {fault_id} is already closed")
            if fault.resolved_at is None:
                raise FaultStateError(f"fault {fault_id} is still {fault.state}; resolve it first "
                                      f"(netvigil resolve {fault_id} --by NAME)")
            self._db.execute(
                "UPDATE fault SET closed_at = ?, closed_by = ?, cause = ?, resolution = ?, prevention = ? WHERE id = ?",
                (at, by, cause.strip(), resolution.strip(), prevention.strip(), fault_id))
            return self.get(fault_id)

    def add_note(self, fault_id: int, author: str, text: str, *, at: Optional[float] = None) -> Fault:
        """A note in any state, closed included (later findings belong to the record)."""
        author = person(author)
        text = required_text(text, "the note")
        at = self.clock() if at is None else at
        with self._write():
            self.get(fault_id)
            self._add_note(fault_id, author, text, at)
            return self.get(fault_id)

    def _add_note(self, fault_id: int, author: str, text: str, at: float) -> None:
        self._db.execute("INSERT INTO note (fault_id, at, author, text) VALUES (?, ?, ?, ?)",
                         (fault_id, at, author, text.strip()))

    def set_symptom_of(self, fault_id: int, parent_fault_id: Optional[int], *, sla: Optional[SlaSettings] = None,
                       at: Optional[float] = None) -> Fault:
        """Mark a fault as a symptom of its failed parent's fault, or (None) as a root fault.

        With `sla`, a fault that gains clocks this way (it was a symptom and is not in
        maintenance) gets fresh deadlines from `at`: its contract time starts when it became
        its own problem, not when its parent failed."""
        return self._set_marks(fault_id, {"symptom_of": parent_fault_id}, sla, at)

    def set_in_maintenance(self, fault_id: int, flag: bool, name: Optional[str] = None, *,
                           sla: Optional[SlaSettings] = None, at: Optional[float] = None) -> Fault:
        """Mark a fault as in (or out of) a maintenance window; `sla` as in set_symptom_of."""
        return self._set_marks(fault_id, {"in_maintenance": int(flag), "maintenance": name if flag else None}, sla, at)

    def _set_marks(self, fault_id: int, marks: Mapping[str, Any], sla: Optional[SlaSettings],
                   at: Optional[float]) -> Fault:
        at = self.clock() if at is None else at
        with self._write():
            before = self.get(fault_id)
            if "symptom_of" in marks and marks["symptom_of"] is not None:
                if marks["symptom_of"] == fault_id:
                    raise FaultInputError(f"fault {fault_id} cannot be a symptom of itself")
                self.get(marks["symptom_of"])
            self._db.execute(f"UPDATE fault SET {', '.join(f'{name} = ?' for name in marks)} WHERE id = ?",
                             (*marks.values(), fault_id))
            after = self.get(fault_id)
            if sla is not None and not before.has_clocks and after.has_clocks and after.resolved_at is None:
                self._db.execute(
                    "UPDATE fault SET ack_deadline = ?, resolve_deadline = ?, ack_warn_at = ?, resolve_warn_at = ?, "
                    "ack_warned = 0, ack_breached = 0, resolve_warned = 0, resolve_breached = 0 WHERE id = ?",
                    (*self._deadlines(at, sla), fault_id))
                after = self.get(fault_id)
            return after

    # -- contract clocks -----------------------------------------------------------------

    def due_clock_events(self, now: Optional[float] = None, *,
                         devices: Optional[Sequence[str]] = None) -> builtins.list[tuple[Fault, str]]:
        """Warnings and breaches due by `now`, each returned once per fault ever: the flag is
        set in the same transaction, so a restart neither repeats nor loses one. `devices`:
        only theirs (a poller sharing the store takes the events of its own devices)."""
        now = self.clock() if now is None else now
        only, only_params = "", ()
        if devices is not None:
            only, only_params = f" AND {self._db.ids_in('device')}", (self._db.ids(devices),)
        clocked = "symptom_of IS NULL AND in_maintenance = 0 AND resolved_at IS NULL"
        ack_running = f"{clocked} AND acknowledged_at IS NULL"
        checks = (  # kind, condition, flags it sets (a breach also settles its warning)
            ("ack_breach", f"{ack_running} AND ack_breached = 0 AND ack_deadline <= ?",
             "ack_breached = 1, ack_warned = 1"),
            ("ack_warning", f"{ack_running} AND ack_warned = 0 AND ack_warn_at <= ?", "ack_warned = 1"),
            ("resolve_breach", f"{clocked} AND resolve_breached = 0 AND resolve_deadline <= ?",
             "resolve_breached = 1, resolve_warned = 1"),
            ("resolve_warning", f"{clocked} AND resolve_warned = 0 AND resolve_warn_at <= ?", "resolve_warned = 1"),
        )
        events: builtins.list[tuple[Fault, str]] = []
        with self._write():
            for kind, condition, flags in checks:
                ids = [row[0] for row in self._db.execute(f"SELECT id FROM fault WHERE {condition}{only}",
                                                          (now, *only_params))]
                if not ids:
                    continue
                self._db.execute(f"UPDATE fault SET {flags} WHERE {self._db.ids_in('id')}", (self._db.ids(ids),))
                events.extend((fault, kind) for fault in
                              self._faults(f"WHERE {self._db.ids_in('id')}", (self._db.ids(ids),)))
        deadline = {"ack_warning": "ack_deadline", "ack_breach": "ack_deadline",
                    "resolve_warning": "resolve_deadline", "resolve_breach": "resolve_deadline"}
        events.sort(key=lambda event: (getattr(event[0], deadline[event[1]]), event[0].id))
        return events

    # -- monthly budget ------------------------------------------------------------------

    def monthly_counts(self, year: int, month: int, tz: dt.tzinfo) -> dict[str, int]:
        """Root faults (not symptoms, not in maintenance) OPENED in that local calendar month,
        per device; a reopen is the same fault and does not count again."""
        start, end = month_bounds(year, month, tz)
        with self._lock:
            rows = self._db.execute(
                "SELECT device, COUNT(*) FROM fault WHERE opened_at >= ? AND opened_at < ? "
                "AND symptom_of IS NULL AND in_maintenance = 0 GROUP BY device", (start, end)).fetchall()
        return dict(rows)

    def over_budget(self, year: int, month: int, budget: BudgetSettings, classes: Mapping[str, str],
                    tz: dt.tzinfo) -> builtins.list[tuple[str, int]]:
        """Devices with more faults than the budget that month, most first.

        A device's class comes from `classes` (the inventory now), else from its newest fault
        of the month (a device removed from the inventory still counted that month)."""
        counts = self.monthly_counts(year, month, tz)
        if budget.classes:
            start, end = month_bounds(year, month, tz)
            with self._lock:
                recorded = dict(self._db.execute(
                    "SELECT device, device_class FROM fault WHERE opened_at >= ? AND opened_at < ? ORDER BY id",
                    (start, end)).fetchall())
            counts = {device: count for device, count in counts.items()
                      if classes.get(device, recorded.get(device)) in budget.classes}
        over = [(device, count) for device, count in counts.items() if count > budget.faults_per_month]
        return sorted(over, key=lambda item: (-item[1], item[0]))

    def unanalysed(self) -> builtins.list[Fault]:
        """Resolved root faults (not symptoms, not in maintenance) whose written analysis is still
        missing (not closed), oldest resolution first: the report schedule's reminders."""
        return self._faults("WHERE resolved_at IS NOT NULL AND closed_at IS NULL AND symptom_of IS NULL "
                            "AND in_maintenance = 0", (), "ORDER BY resolved_at, id")

    def overlapping(self, start: float, end: float) -> builtins.list[Fault]:
        """Every fault open at some time in [start, end) or opened in it (even if resolved the
        same instant), oldest first: the monthly report's availability needs the outages carried
        over from the month before as well as those opened in it."""
        return self._faults("WHERE opened_at < ? AND (resolved_at IS NULL OR resolved_at >= ?)", (end, start),
                            "ORDER BY opened_at, id")

    # -- retention -----------------------------------------------------------------------

    def prune(self, older_than_s: float, *, now: Optional[float] = None) -> int:
        """Delete faults closed more than `older_than_s` ago (with their notes), and
        maintenance windows over for as long. Returns the number of faults deleted."""
        cutoff = (self.clock() if now is None else now) - older_than_s
        with self._write():
            deleted = self._db.execute("DELETE FROM fault WHERE closed_at IS NOT NULL AND closed_at < ?",
                                       (cutoff,)).rowcount
            self.maintenance.prune(cutoff)
        return deleted

    # `list` last: inside the class body, later annotations would otherwise see this method.
    def list(self, *, open_only: bool = False, site: Optional[str] = None, device: Optional[str] = None,
             since: Optional[float] = None, limit: int = 1000) -> builtins.list[Fault]:
        """Newest first. `site` matches the site or any site below it; `open_only`: not resolved."""
        conditions, params = [], []
        if open_only:
            conditions.append("resolved_at IS NULL")
        if site:
            conditions.append(f"{self._db.FIND}('/' || site_path || '/', '/' || CAST(? AS TEXT) || '/') > 0")
            params.append(site)
        if device:
            conditions.append("device = ?")
            params.append(device)
        if since is not None:
            conditions.append("opened_at >= ?")
            params.append(since)
        where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
        return self._faults(where, params, f"ORDER BY opened_at DESC, id DESC LIMIT {int(limit)}")
