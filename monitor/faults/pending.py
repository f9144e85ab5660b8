"""Fault changes waiting for the fault database: an ordered queue on the poller's own disk.

A poller whose PostgreSQL server is away goes on probing and writing metrics. What its rule
engine decides meanwhile (a fault opens, its value moves, it clears) must not be lost: a
device that was down for ten minutes of a database outage still counts against its monthly
budget, and its alert is still owed. So the fault manager writes those changes here, in
order, and applies them in that order, as they would have been applied at the time, once
the server answers again (monitor/faults/manager.py).

* The file is `<state_dir>/faults-pending.db`, SQLite with synchronous=FULL: a queued change
  survives kill -9 and a power cut, as a committed fault record does.
* Exactly once: the fault database keeps, per queue, the number of its last change applied
  (`applied_change`, keyed by a random id made with this file), written in the same
  transaction as the changes. A crash between that commit and the clean-up here does not
  apply a change twice: a replayed open after its clear would be a false reopen.
* "update" changes (the value moved: every sample while a fault holds) are folded: when the
  newest queued change of a key is an update, it takes the new value and keeps the worst,
  so an hour's outage is a row or two per fault, not one per sample.
* An open keeps what it depended on at the time, which cannot be read back later (`Then`):
  when it was decided (maintenance windows, heightened watch), the failed parents it was cut
  off behind, and for a failed parent the devices cut off behind it (its alert lists them),
  all from the ICMP answers of that moment.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional

from monitor.faults.model import Transition
from monitor.faults.store import _worse
from monitor.sqlitedb import Database

PENDING_FILE = "faults-pending.db"  # under state_dir

_SCHEMA = """
CREATE TABLE IF NOT EXISTS queue (id TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS change (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: the database remembers the last applied
    device    TEXT NOT NULL,
    rule      TEXT NOT NULL,
    instance  TEXT NOT NULL,
    action    TEXT NOT NULL,
    body      TEXT NOT NULL,   -- JSON: the transition, `at`, `causes`, `behind`, `worst`
    queued_at REAL NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class Then:
    """What the topology said when an open was decided."""

    causes: tuple[str, ...] = ()  # the failed parents it was cut off behind ((): not cut off)
    behind: tuple[str, ...] = ()  # a failed parent's: the devices cut off behind it


@dataclass(frozen=True, slots=True)
class QueuedChange:
    seq: int
    transition: Transition
    at: float                 # when it was decided (unix seconds): maintenance and watch then
    then: Then
    worst: Optional[float]    # a folded update's worst value, when it is not the last one


class PendingChanges:
    """The queue file; used by the fault manager only (one caller at a time: in the daemon, its
    fault thread), `len()` and `since` read from anywhere."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._db = Database(self.path, synchronous="FULL", busy_timeout_s=5)
        try:
            with self._db.write() as connection:
                for statement in _SCHEMA.strip().split(";\n"):
                    connection.execute(statement)
                row = connection.execute("SELECT id FROM queue").fetchone()
                if row is None:
                    row = (uuid.uuid4().hex,)
                    connection.execute("INSERT INTO queue (id) VALUES (?)", row)
            self.id: str = row[0]
            self._count, oldest = self._db.execute("SELECT COUNT(*), MIN(queued_at) FROM change").fetchone()
            self.since: Optional[float] = oldest  # when the oldest waiting change was queued
            # The newest change of each key still waiting: (seq, action), for folding updates.
            self._newest: dict[tuple[str, str, str], tuple[int, str]] = {
                (device, rule, instance): (seq, action) for device, rule, instance, seq, action in self._db.execute(
                    "SELECT device, rule, instance, seq, action FROM change WHERE seq IN "
                    "(SELECT MAX(seq) FROM change GROUP BY device, rule, instance)")}
        except BaseException:
            self._db.close()
            raise

    def __len__(self) -> int:
        return self._count

    def add(self, changes: Iterable[tuple[Transition, float, Then]]) -> None:
        """(transition, decided at, what the topology said) in order, in one commit."""
        with self._db.write() as connection:
            added = 0
            for transition, at, then in changes:
                key = transition.key
                newest = self._newest.get(key)
                if transition.action == "update" and newest is not None and newest[1] == "update":
                    self._fold(connection, newest[0], transition)
                    continue
                body = {**dataclasses.asdict(transition), "at": at, "causes": list(then.causes),
                        "behind": list(then.behind)}
                cursor = connection.execute(
                    "INSERT INTO change (device, rule, instance, action, body, queued_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (*key, transition.action, json.dumps(body), at))
                self._newest[key] = (cursor.lastrowid, transition.action)
                added += 1
                if self.since is None:
                    self.since = at
        self._count += added

    @staticmethod
    def _fold(connection, seq: int, transition: Transition) -> None:
        """The queued update of the same key takes the newer value, time and message; the worst
        of both stays, so the record's worst value is what it would have been."""
        body = json.loads(connection.execute("SELECT body FROM change WHERE seq = ?", (seq,)).fetchone()[0])
        worst = body.get("worst", body["value"])
        if _worse(transition.value, worst, transition.higher_is_worse):
            worst = transition.value
        body.update(value=transition.value, time_ns=transition.time_ns, message=transition.message, worst=worst)
        connection.execute("UPDATE change SET body = ? WHERE seq = ?", (json.dumps(body), seq))

    def oldest(self, limit: int) -> list[QueuedChange]:
        out = []
        for seq, body in self._db.execute("SELECT seq, body FROM change ORDER BY seq LIMIT ?", (limit,)):
            values = json.loads(body)
            at, worst = values.pop("at"), values.pop("worst", None)
            then = Then(tuple(values.pop("causes")), tuple(values.pop("behind")))
            transition = Transition(**values)
            if worst == transition.value:
                worst = None
            out.append(QueuedChange(seq, transition, at, then, worst))
        return out

    def done(self, through_seq: int) -> None:
        """The changes up to `through_seq` are in the fault database."""
        with self._db.write() as connection:
            connection.execute("DELETE FROM change WHERE seq <= ?", (through_seq,))
        self._count, self.since = self._db.execute("SELECT COUNT(*), MIN(queued_at) FROM change").fetchone()
        self._newest = {key: newest for key, newest in self._newest.items() if newest[0] > through_seq}

    def close(self) -> None:
        self._db.close()
