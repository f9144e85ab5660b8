"""Which server tells people: delivery keys claimed in the shared PostgreSQL database.

Each server keeps its own outbox (state_dir/notifications.db): a notice is sent once per
delivery key ("fault 12 open tier 1 channel oncall-mail"), across restarts and kill -9. Two
servers that share fault records (an active/standby pair, or pollers on one database) would
each send it once: after a takeover the new active server hands every open fault to its
dispatcher again, and its outbox has never seen them. So, before a key is queued, it is
claimed here; a key another server claimed is left out.

Claims are a guard against duplicates, never a reason for silence: when the database cannot
be asked, the notice is queued anyway (and the outage logged once), since a repeated alert
costs a glance and a missing one costs the contract clock. A key this server claimed before
is its own again (a crash between the claim and the outbox's commit must not lose the notice).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from typing import Any, Callable, Optional, Sequence

log = logging.getLogger("netvigil.notify")

CLAIMS_TABLE = """
CREATE TABLE IF NOT EXISTS delivery_claims (
    key        TEXT PRIMARY KEY,
    server     TEXT NOT NULL,
    claimed_at DOUBLE PRECISION NOT NULL
)
"""
_CLAIM = """
WITH wanted AS (SELECT unnest(%(keys)s::text[]) AS key),
     taken AS (
        INSERT INTO delivery_claims (key, server, claimed_at)
        SELECT key, %(server)s, %(now)s FROM wanted
        ON CONFLICT (key) DO NOTHING
        RETURNING key)
SELECT key FROM taken
UNION
SELECT c.key FROM delivery_claims c JOIN wanted w ON w.key = c.key WHERE c.server = %(server)s
"""


class DeliveryClaims:
    """`connect()`: a new autocommit psycopg connection; `problem(exc)`: its sentence."""

    def __init__(self, connect: Callable[[], Any], problem: Callable[[BaseException], str],
                 server: Optional[str] = None, clock: Callable[[], float] = time.time) -> None:
        self.connect = connect
        self.problem = problem
        self.server = server or socket.gethostname()
        self.clock = clock
        self._connection = None
        self._lock = threading.Lock()
        self._prepared = False
        self._failing: Optional[str] = None

    def claim(self, keys: Sequence[str]) -> set[str]:
        """The keys this server may send: claimed now, or by it before. Every key when the
        database cannot say."""
        if not keys:
            return set()
        with self._lock:
            try:
                if self._connection is None or self._connection.closed:
                    self._connection = self.connect()
                if not self._prepared:
                    self._connection.execute(CLAIMS_TABLE)
                    self._prepared = True
                rows = self._connection.execute(_CLAIM, {"keys": list(keys), "server": self.server,
                                                         "now": self.clock()}).fetchall()
            except Exception as exc:  # noqa: BLE001 - sending twice beats not sending
                self._drop_connection()
                sentence = self.problem(exc)
                if sentence != self._failing:
                    log.warning("notifications: cannot claim deliveries in the shared database (%s); sending "
                                "without the guard against a second server sending the same notice", sentence)
                    self._failing = sentence
                return set(keys)
        if self._failing is not None:
            log.info("notifications: claiming deliveries in the shared database again")
            self._failing = None
        return {row[0] for row in rows}

    def channels_told(self, fault_id: int) -> list[str]:
        """Channels any server claimed a notice about the fault for (its resolved notice goes
        to them), oldest first; [] when the database cannot say."""
        with self._lock:
            try:
                if self._connection is None or self._connection.closed:
                    self._connection = self.connect()
                rows = self._connection.execute(
                    "SELECT key FROM delivery_claims WHERE key LIKE %s AND key NOT LIKE %s ORDER BY claimed_at",
                    (f"fault {fault_id} %", f"fault {fault_id} resolved %")).fetchall()
            except Exception:  # noqa: BLE001 - the local outbox's channels still get it
                self._drop_connection()
                return []
        channels: list[str] = []
        for (key,) in rows:
            channel = key.rsplit(" channel ", 1)[-1]
            if channel not in channels:
                channels.append(channel)
        return channels

    def _drop_connection(self) -> None:
        if self._connection is not None:
            try:
                self._connection.close()
            except Exception:  # noqa: BLE001
                pass
            self._connection = None

    def close(self) -> None:
        with self._lock:
            self._drop_connection()
