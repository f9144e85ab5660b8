"""Active and standby: two servers for the same share, one of them probing and alerting.

The active one holds a lease: a row of the `leases` table in the PostgreSQL database the fault
records live in (faults.database), whose end is a timestamp on the database server's clock,
so the two servers' clocks need not agree.

* **Take**: INSERT ... ON CONFLICT DO UPDATE ... WHERE the row has expired or is already ours;
  a new holder gets the next `epoch`. The standby tries every lease_s / 3.
* **Renew** every lease_s / 3: UPDATE ... WHERE holder and epoch are ours. No row means another
  server holds it now: step down at once.
* **Cannot renew** (the database is unreachable): the active goes on until lease_s - margin
  after its last renewal, measured on its own monotonic clock from before it sent that renewal,
  and then steps down. The standby cannot take the lease before it ends on the database's
  clock, which is later; so two servers never alert for the same share at once, whatever the
  network does.
* **Release** at a clean stop: the lease ends now, and the standby takes over at its next try.

Why a lease row and not an advisory lock: a session lock is let go when the database server
notices the session is gone; at once for a killed process, but only after TCP keepalives
(tens of seconds to hours, the server's settings) when the active server's network is cut,
and during that time nobody would watch the share. A lease's end is a timestamp.

Stepping down is leaving: the daemon stops (exit 1) and systemd (Restart=on-failure) starts it
again, as a standby. One way in and one way out of being active, no half-active states.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional

log = logging.getLogger("netvigil.ha")

LEASE_TABLE = """
CREATE TABLE IF NOT EXISTS leases (
    share      TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    epoch      BIGINT NOT NULL,
    since      TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
)
"""

_TAKE = """
INSERT INTO leases AS l (share, holder, epoch, since, expires_at)
VALUES (%(share)s, %(holder)s, 1, now(), now() + make_interval(secs => %(lease_s)s))
ON CONFLICT (share) DO UPDATE
   SET holder = excluded.holder,
       epoch = CASE WHEN l.holder = excluded.holder AND l.expires_at >= now() THEN l.epoch ELSE l.epoch + 1 END,
       since = CASE WHEN l.holder = excluded.holder AND l.expires_at >= now() THEN l.since ELSE now() END,
       expires_at = excluded.expires_at
 WHERE l.expires_at < now() OR l.holder = excluded.holder
RETURNING epoch, extract(epoch FROM since)
"""
_RENEW = """
UPDATE leases SET expires_at = now() + make_interval(secs => %(lease_s)s)
 WHERE share = %(share)s AND holder = %(holder)s AND epoch = %(epoch)s
RETURNING epoch
"""
_RELEASE = "UPDATE leases SET expires_at = now() WHERE share = %(share)s AND holder = %(holder)s AND epoch = %(epoch)s"
_HOLDER = ("SELECT holder, epoch, extract(epoch FROM since), extract(epoch FROM expires_at - now()) "
           "FROM leases WHERE share = %(share)s")


@dataclass(frozen=True)
class Holder:
    """Who holds a share's lease, as the database says."""

    name: str
    epoch: int
    since: float  # unix seconds
    expires_in_s: float  # negative: expired


class Lease:
    """One server's lease on one share. `connect()` returns a new autocommit psycopg connection;
    every call here blocks (the daemon runs them in a thread)."""

    def __init__(self, connect: Callable[[], Any], share: str, holder: str, lease_s: float) -> None:
        self.connect = connect
        self.share = share
        self.holder = holder
        self.lease_s = lease_s
        self.epoch: Optional[int] = None  # ours while active
        self.since: Optional[float] = None
        self._connection = None
        self._prepared = False
        # A call the daemon stopped waiting for may still run in its thread: the next one waits.
        self._lock = threading.Lock()

    def _execute(self, sql: str, **params) -> list:
        with self._lock:
            if self._connection is None or self._connection.closed:
                self._connection = self.connect()
            try:
                with self._connection.cursor() as cursor:
                    cursor.execute(sql, {"share": self.share, "holder": self.holder, "lease_s": self.lease_s,
                                         "epoch": self.epoch, **params})
                    return cursor.fetchall() if cursor.description else []
            except Exception:
                self._close()  # a fresh connection next time
                raise

    def prepare(self) -> None:
        """The table, made by the first server that needs it (it holds nothing worth migrating)."""
        self._execute(LEASE_TABLE)
        self._prepared = True

    def take(self) -> bool:
        """True if the lease is ours now (taken, or still ours)."""
        if not self._prepared:
            self.prepare()
        rows = self._execute(_TAKE)
        if not rows:
            return False
        self.epoch, self.since = int(rows[0][0]), float(rows[0][1])
        return True

    def renew(self) -> bool:
        """True if still ours; False if another server holds it (raises if the database cannot say)."""
        return bool(self._execute(_RENEW))

    def release(self) -> None:
        if self.epoch is not None:
            self._execute(_RELEASE)

    def current(self) -> Optional[Holder]:
        rows = self._execute(_HOLDER)
        if not rows:
            return None
        name, epoch, since, left = rows[0]
        return Holder(name, int(epoch), float(since), float(left))

    def disconnect(self) -> None:
        with self._lock:
            self._close()

    def _close(self) -> None:
        if self._connection is not None:
            try:
                self._connection.close()
            except Exception:  # noqa: BLE001 - closing a broken connection
                pass
            self._connection = None


class Leadership:
    """The daemon's side: wait to become active, then keep the lease or say that it is lost.

    `problem(exc)` turns a database error into a sentence for the log (never a secret)."""

    def __init__(self, lease: Lease, problem: Callable[[BaseException], str],
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.lease = lease
        self.problem = problem
        self.monotonic = monotonic
        self.role = "standby"
        self.active: Optional[Holder] = None  # who is active, as last read (for status)
        self.lost: Optional[str] = None  # why the lease was lost
        self._renewed_at: Optional[float] = None  # monotonic time before the last successful renewal
        self._failing: Optional[str] = None  # why the last renewal did not happen
        self._lost_future: Optional[asyncio.Future] = None
        self._stop_renewing = threading.Event()

    @property
    def interval_s(self) -> float:
        return self.lease.lease_s / 3

    @property
    def margin_s(self) -> float:
        """Stop this long before the lease could end on the database's clock."""
        return self.lease.lease_s / 3

    async def wait_until_active(self, stopping: asyncio.Event) -> bool:
        """Try to take the lease every interval; True once active, False if `stopping` was set."""
        unreachable = None
        while not stopping.is_set():
            started = self.monotonic()
            try:
                taken = await asyncio.to_thread(self.lease.take)
                if not taken:
                    self.active = await asyncio.to_thread(self.lease.current)
                if unreachable is not None:
                    log.info("ha: the database answers again")
                    unreachable = None
            except Exception as exc:  # noqa: BLE001 - a standby keeps trying
                taken = False
                sentence = self.problem(exc)
                if sentence != unreachable:
                    log.warning("ha: standby, cannot read the lease: %s; trying every %.0f s", sentence,
                                self.interval_s)
                    unreachable = sentence
            if taken:
                self._renewed_at = started
                self.role = "active"
                self.active = Holder(self.lease.holder, self.lease.epoch, self.lease.since, self.lease.lease_s)
                return True
            try:
                await asyncio.wait_for(stopping.wait(), self.interval_s)
            except asyncio.TimeoutError:
                pass
        return False

    def start_renewing(self, loop_alive: Callable[[], bool] = lambda: True) -> None:
        """Renew from now on, on a thread of its own: a start-up or a reload that keeps the event
        loop busy for seconds does not lose the lease; but only while `loop_alive()` says the
        daemon's loop still turns, so a hung daemon stops renewing and the standby takes over.
        Call it at once after becoming active, from the event loop; `keep()` then waits."""
        self._lost_future = asyncio.get_running_loop().create_future()
        self._stop_renewing = threading.Event()
        threading.Thread(target=self._renew_thread, args=(asyncio.get_running_loop(), loop_alive),
                         name="netvigil-lease", daemon=True).start()

    async def keep(self, loop_alive: Callable[[], bool] = lambda: True) -> str:
        """Until the lease is lost; returns why (the daemon then stops). Starts renewing if
        `start_renewing` was not called.

        Lost when another server holds the lease, or when lease_s - margin_s have passed since
        the last renewal (counted from before it was sent); a renewal that hangs on a dead
        network is not waited for past that moment (the loop checks the time itself)."""
        if self._lost_future is None:
            self.start_renewing(loop_alive)
        lost = self._lost_future
        try:
            while not lost.done():
                await asyncio.wait([lost], timeout=min(1.0, self.interval_s))
                overdue = self.monotonic() - self._renewed_at
                if not lost.done() and overdue >= self.lease.lease_s - self.margin_s:
                    self._say(f"the lease was last renewed {overdue:.0f} s ago "
                              f"({self._failing or 'this server was too busy to renew it'})")
            return lost.result()
        finally:
            self._stop_renewing.set()

    def _say(self, why: str) -> None:
        if not self._lost_future.done():
            self.lost, self.role = why, "standby"
            self._lost_future.set_result(why)

    def _renew_thread(self, loop, loop_alive) -> None:
        delay = 0.0  # the first renewal at once: the lease was taken a start-up ago
        while not self._stop_renewing.wait(delay):
            delay = self.interval_s
            started = self.monotonic()
            if not loop_alive():
                self._failing = "the daemon's event loop does not turn"
                continue
            try:
                still = self.lease.renew()
            except Exception as exc:  # noqa: BLE001 - judged by the time left
                sentence = self.problem(exc)
                if sentence != self._failing:
                    loop.call_soon_threadsafe(log.error, "ha: cannot renew the lease: %s; still active for at most "
                                              "%.0f s", sentence, self._renewed_at + self.lease.lease_s
                                              - self.margin_s - self.monotonic())
                self._failing = sentence
                continue
            if not still:
                loop.call_soon_threadsafe(self._say, "another server holds the lease")
                return
            self._renewed_at, self._failing = started, None
            self.active = Holder(self.lease.holder, self.lease.epoch, self.lease.since, self.lease.lease_s)

    async def release(self) -> None:
        if self.role != "active":
            return
        try:
            await asyncio.to_thread(self.lease.release)
        except Exception as exc:  # noqa: BLE001 - the lease then ends by itself
            log.warning("ha: could not release the lease (%s); the standby takes over when it ends", self.problem(exc))
        finally:
            self.role = "standby"

    def status(self) -> dict:
        active = self.active
        return {"role": self.role, "server": self.lease.holder, "share": self.lease.share,
                "active": active.name if active else None, "epoch": active.epoch if active else None,
                "active_since": active.since if active else None, "lost": self.lost}

    def close(self) -> None:
        self.lease.disconnect()


# -- settings (the `ha:` section) ---------------------------------------------------------------

from pydantic import BaseModel, ConfigDict, Field  # noqa: E402 - the settings model sits by the code that reads it


class HaSettings(BaseModel):
    """Active/standby (docs/operations.md, "Active and standby"): both servers of a pair have the
    same settings and inventory except `server`, and share faults.database (PostgreSQL)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(False, description="true: this server is one of a pair for the same share; it probes "
                                             "and alerts only while it holds the share's lease in faults.database")
    share: str = Field("default", min_length=1, max_length=200,
                       description="the lease's name: both servers of a pair use the same one, pollers of other "
                                   "shares another")
    server: Optional[str] = Field(None, min_length=1, max_length=200,
                                  description="this server's name in `status` and the log; null: the host name")
    lease_s: float = Field(15.0, ge=3, le=300,
                           description="how long a lease lasts without renewal: the standby takes over at most "
                                       "this long (plus lease_s / 3) after the active server died or lost the "
                                       "database; renewed every lease_s / 3")

    def server_name(self) -> str:
        import socket

        return self.server or socket.gethostname()
