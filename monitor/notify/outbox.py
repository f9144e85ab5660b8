"""The outbox and sent-log of notifications, and each fault's escalation timers, in SQLite
(`<state_dir>/notifications.db`), so a restart neither re-alerts nor forgets.

Tables:
  message     every message to one channel, from pending to sent / failed / folded (rate limit)
  delivery    one row per (fault, what, channel) a message stands for; its key, e.g.
              "fault 12 open tier 1 channel oncall-mail", is unique, so that notice happens
              once ever, across restarts and kill -9
  escalation  per fault: groups, tier reached, next repeat, next escalation, resolved

Delivery is at-least-once: the row is committed before the attempt and marked sent after
it, so a crash between the two sends that message once more on the next start; it never
sends nothing. WAL with synchronous=NORMAL survives a killed process (power loss may lose
the last transactions, which at worst repeats a message); commits take well under a
millisecond, so the dispatcher calls this store directly from the event loop.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from monitor.faults.model import Alert, DeviceInfo
from monitor.notify.message import Message
from monitor.sqlitedb import Database

STATUSES = ("pending", "sent", "failed", "folded")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS message (
    id          INTEGER PRIMARY KEY,
    key         TEXT NOT NULL,            -- the first delivery key, for people reading the table
    channel     TEXT NOT NULL,
    fault_ids   TEXT NOT NULL,            -- JSON list
    event       TEXT NOT NULL,
    title       TEXT NOT NULL,
    body        TEXT NOT NULL,
    payload     TEXT NOT NULL,            -- webhook JSON without sent_at
    created_at  REAL NOT NULL,
    due_at      REAL NOT NULL,            -- next attempt
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT,                     -- never a secret: built from status codes and exception classes
    sent_at     REAL,
    status      TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed', 'folded')),
    folded_into INTEGER REFERENCES message(id)
);
CREATE INDEX IF NOT EXISTS message_due ON message(channel, due_at) WHERE status = 'pending';
CREATE TABLE IF NOT EXISTS delivery (
    key        TEXT PRIMARY KEY,
    message_id INTEGER NOT NULL REFERENCES message(id),
    fault_id   INTEGER NOT NULL,
    channel    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS delivery_fault ON delivery(fault_id);
CREATE TABLE IF NOT EXISTS escalation (
    fault_id           INTEGER PRIMARY KEY,
    alert              TEXT NOT NULL,     -- JSON of the alert that opened this episode
    groups             TEXT NOT NULL,     -- JSON list of on-call groups
    episode            INTEGER NOT NULL,  -- 0 for the first opening, else the reopening's time in ms
    tier               INTEGER NOT NULL,  -- highest tier told, from 1
    interval_s         REAL,              -- time from one tier to the next
    repeats            INTEGER NOT NULL DEFAULT 0,
    last_notified_at   REAL,
    next_repeat_at     REAL,
    next_escalation_at REAL,
    resolved           INTEGER NOT NULL DEFAULT 0
);
"""


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    id: int
    key: str
    channel: str
    fault_ids: tuple[int, ...]
    event: str
    message: Message
    created_at: float
    due_at: float
    attempts: int
    last_error: Optional[str]
    sent_at: Optional[float]
    status: str


@dataclass(slots=True)
class Escalation:
    """A fault's notification timers (mutable: the dispatcher moves them on and saves)."""

    fault_id: int
    alert: Alert
    groups: list[str]
    episode: int
    tier: int = 1
    interval_s: Optional[float] = None
    repeats: int = 0
    last_notified_at: Optional[float] = None
    next_repeat_at: Optional[float] = None
    next_escalation_at: Optional[float] = None
    resolved: bool = False

    def next_due(self) -> Optional[float]:
        times = [t for t in (self.next_repeat_at, self.next_escalation_at) if t is not None]
        return min(times) if times and not self.resolved else None


class Outbox:
    """Thread-safe (one lock): `stats()` may be read from a metrics thread."""

    def __init__(self, path: Path, claims=None) -> None:
        self.path = Path(path)
        self.claims = claims  # monitor.notify.claims.DeliveryClaims when servers share fault records
        self._db = Database(self.path, synchronous="NORMAL", busy_timeout_s=10)
        self._lock = self._db.lock
        try:
            self._db.executescript(_SCHEMA)
        except BaseException:
            self._db.close()
            raise

    def close(self) -> None:
        self._db.close()
        if self.claims is not None:
            self.claims.close()

    def _write(self, work: Callable[[sqlite3.Connection], Any]) -> Any:
        with self._db.write() as db:
            return work(db)

    # -- messages ----------------------------------------------------------------------------

    def enqueue(self, channel: str, keys: Sequence[tuple[int, str]], event: str,
                build: Callable[[list[int]], Message], now: float) -> Optional[int]:
        """Queue one message to `channel` standing for `keys` ((fault id, delivery key) pairs).

        Keys already recorded are left out (that notice was queued before, perhaps by an
        earlier process); `build` gets the fault ids still to tell and renders the message.
        Returns the new message id, or None when every key was already recorded."""

        def work(db: sqlite3.Connection) -> Optional[int]:
            fresh = [(fault_id, key) for fault_id, key in keys
                     if db.execute("SELECT 1 FROM delivery WHERE key = ?", (key,)).fetchone() is None]
            if fresh and self.claims is not None:  # another server may have told these already
                mine = self.claims.claim([key for _, key in fresh])
                fresh = [(fault_id, key) for fault_id, key in fresh if key in mine]
            if not fresh:
                return None
            fault_ids = list(dict.fromkeys(fault_id for fault_id, _ in fresh))
            message = build(fault_ids)
            cursor = db.execute(
                "INSERT INTO message (key, channel, fault_ids, event, title, body, payload, created_at, due_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (fresh[0][1], channel, json.dumps(fault_ids), event, message.title, message.text,
                 json.dumps(message.payload), now, now))
            db.executemany("INSERT INTO delivery (key, message_id, fault_id, channel) VALUES (?, ?, ?, ?)",
                           [(key, cursor.lastrowid, fault_id, channel) for fault_id, key in fresh])
            return cursor.lastrowid

        return self._write(work)

    def due(self, channel: str, now: float, limit: int = 1000) -> list[OutboxMessage]:
        """Pending messages of `channel` whose attempt is due, oldest first."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM message WHERE status = 'pending' AND channel = ? AND due_at <= ? "
                "ORDER BY due_at, id LIMIT ?", (channel, now, limit)).fetchall()
        return [_message(row) for row in rows]

    def next_due(self, channel: str) -> Optional[float]:
        with self._lock:
            row = self._db.execute("SELECT MIN(due_at) FROM message WHERE status = 'pending' AND channel = ?",
                                   (channel,)).fetchone()
        return row[0]

    def get(self, message_id: int) -> Optional[OutboxMessage]:
        with self._lock:
            row = self._db.execute(f"SELECT {_COLUMNS} FROM message WHERE id = ?", (message_id,)).fetchone()
        return _message(row) if row else None

    def messages(self, channel: Optional[str] = None) -> list[OutboxMessage]:
        """Every message (of one channel), in the order queued: the sent-log, for tests and tools."""
        with self._lock:
            if channel is None:
                rows = self._db.execute(f"SELECT {_COLUMNS} FROM message ORDER BY id").fetchall()
            else:
                rows = self._db.execute(f"SELECT {_COLUMNS} FROM message WHERE channel = ? ORDER BY id",
                                        (channel,)).fetchall()
        return [_message(row) for row in rows]

    def mark_sent(self, message_id: int, now: float) -> None:
        self._write(lambda db: db.execute(
            "UPDATE message SET status = 'sent', sent_at = ?, attempts = attempts + 1 WHERE id = ?",
            (now, message_id)))

    def mark_retry(self, message_id: int, error: str, due_at: float) -> None:
        self._write(lambda db: db.execute(
            "UPDATE message SET attempts = attempts + 1, last_error = ?, due_at = ? WHERE id = ?",
            (error, due_at, message_id)))

    def mark_failed(self, message_id: int, error: str) -> None:
        self._write(lambda db: db.execute(
            "UPDATE message SET status = 'failed', attempts = attempts + 1, last_error = ? WHERE id = ?",
            (error, message_id)))

    def fold(self, folded: Sequence[OutboxMessage], summary: Message, now: float) -> int:
        """Replace `folded` (pending, one channel) by one summary message; returns its id."""
        channel = folded[0].channel
        fault_ids = list(dict.fromkeys(fault_id for message in folded for fault_id in message.fault_ids))

        def work(db: sqlite3.Connection) -> int:
            cursor = db.execute(
                "INSERT INTO message (key, channel, fault_ids, event, title, body, payload, created_at, due_at) "
                "VALUES (?, ?, ?, 'summary', ?, ?, ?, ?, ?)",
                (f"summary of messages {folded[0].id}..{folded[-1].id} channel {channel}", channel,
                 json.dumps(fault_ids), summary.title, summary.text, json.dumps(summary.payload), now, now))
            db.executemany("UPDATE message SET status = 'folded', folded_into = ? WHERE id = ? AND status = 'pending'",
                           [(cursor.lastrowid, message.id) for message in folded])
            return cursor.lastrowid

        return self._write(work)

    def told_channels(self, fault_id: int) -> list[str]:
        """Channels that were told (or are about to be told) about a fault, in the order first told."""
        with self._lock:
            rows = self._db.execute(
                "SELECT d.channel, MIN(m.id) FROM delivery d JOIN message m ON m.id = d.message_id "
                "WHERE d.fault_id = ? AND m.status IN ('pending', 'sent', 'folded') AND m.event != 'resolved' "
                "GROUP BY d.channel ORDER BY 2", (fault_id,)).fetchall()
        told = [row[0] for row in rows]
        if self.claims is not None:  # and those another server told (before a takeover)
            told += [channel for channel in self.claims.channels_told(fault_id) if channel not in told]
        return told

    def notices(self, fault_id: int) -> list[tuple[float, Optional[float], str, str, str]]:
        """What was sent (or tried) about a fault, oldest first: (created_at, sent_at, channel,
        event, status), for the fault's written timeline."""
        with self._lock:
            rows = self._db.execute(
                "SELECT m.created_at, m.sent_at, m.channel, m.event, m.status FROM delivery d "
                "JOIN message m ON m.id = d.message_id WHERE d.fault_id = ? ORDER BY m.created_at, m.id",
                (fault_id,)).fetchall()
        return [tuple(row) for row in rows]

    def pending_channels(self) -> list[str]:
        with self._lock:
            return [row[0] for row in self._db.execute(
                "SELECT DISTINCT channel FROM message WHERE status = 'pending' ORDER BY channel")]

    def counts(self) -> dict[str, dict[str, int]]:
        """channel -> status -> number of messages."""
        result: dict[str, dict[str, int]] = {}
        with self._lock:
            for channel, status, number in self._db.execute(
                    "SELECT channel, status, COUNT(*) FROM message GROUP BY channel, status"):
                result.setdefault(channel, dict.fromkeys(STATUSES, 0))[status] = number
        return result

    # -- escalation timers -------------------------------------------------------------------

    def save_escalation(self, state: Escalation) -> None:
        self._write(lambda db: db.execute(
            "INSERT OR REPLACE INTO escalation (fault_id, alert, groups, episode, tier, interval_s, repeats, "
            "last_notified_at, next_repeat_at, next_escalation_at, resolved) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (state.fault_id, json.dumps(alert_to_json(state.alert)), json.dumps(state.groups), state.episode,
             state.tier, state.interval_s, state.repeats, state.last_notified_at, state.next_repeat_at,
             state.next_escalation_at, int(state.resolved))))

    def escalation(self, fault_id: int) -> Optional[Escalation]:
        with self._lock:
            row = self._db.execute(f"SELECT {_ESCALATION_COLUMNS} FROM escalation WHERE fault_id = ?",
                                   (fault_id,)).fetchone()
        return _escalation(row) if row else None

    def due_escalations(self, now: float) -> list[Escalation]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_ESCALATION_COLUMNS} FROM escalation WHERE resolved = 0 AND "
                "(next_repeat_at <= ? OR next_escalation_at <= ?) ORDER BY fault_id", (now, now)).fetchall()
        return [_escalation(row) for row in rows]

    def next_escalation_due(self) -> Optional[float]:
        with self._lock:
            row = self._db.execute(
                "SELECT MIN(MIN(COALESCE(next_repeat_at, 1e300), COALESCE(next_escalation_at, 1e300))) "
                "FROM escalation WHERE resolved = 0").fetchone()
        return row[0] if row[0] is not None and row[0] < 1e300 else None

    def active_timers(self) -> int:
        with self._lock:
            return self._db.execute(
                "SELECT COUNT(*) FROM escalation WHERE resolved = 0 AND "
                "(next_repeat_at IS NOT NULL OR next_escalation_at IS NOT NULL)").fetchone()[0]


_COLUMNS = ("id, key, channel, fault_ids, event, title, body, payload, created_at, due_at, attempts, last_error, "
            "sent_at, status")
_ESCALATION_COLUMNS = ("fault_id, alert, groups, episode, tier, interval_s, repeats, last_notified_at, "
                       "next_repeat_at, next_escalation_at, resolved")


def _message(row: tuple) -> OutboxMessage:
    (id_, key, channel, fault_ids, event, title, body, payload, created_at, due_at, attempts, last_error, sent_at,
     status) = row
    return OutboxMessage(id_, key, channel, tuple(json.loads(fault_ids)), event,
                         Message(title, body, json.loads(payload)), created_at, due_at, attempts, last_error,
                         sent_at, status)


def _escalation(row: tuple) -> Escalation:
    (fault_id, alert, groups, episode, tier, interval_s, repeats, last_notified_at, next_repeat_at,
     next_escalation_at, resolved) = row
    return Escalation(fault_id, alert_from_json(json.loads(alert)), json.loads(groups), episode, tier, interval_s,
                      repeats, last_notified_at, next_repeat_at, next_escalation_at, bool(resolved))


def alert_to_json(alert: Alert) -> dict[str, Any]:
    data = {f.name: getattr(alert, f.name) for f in dataclasses.fields(alert)}
    device = alert.device
    data["device"] = {f.name: getattr(device, f.name) for f in dataclasses.fields(device)}
    data["device"]["sample_tags"] = dict(device.sample_tags)
    return data


def alert_from_json(data: dict[str, Any]) -> Alert:
    device = dict(data["device"])
    for key in ("site_path", "tags", "parents"):
        device[key] = tuple(device.get(key) or ())
    fields = dict(data, device=DeviceInfo(**device))
    fields["symptoms"] = tuple(fields.get("symptoms") or ())
    fields["symptom_sites"] = tuple(fields.get("symptom_sites") or ())
    return Alert(**fields)
