"""The lease of an active/standby pair on a real PostgreSQL server (lab/postgres.py).

The lease's end is the database server's `now()` plus lease_s, so the tests move time by
waiting (leases of a few seconds), never by a fake clock on the database side. An unreachable
database is a real one: the connection is cut and new ones go to a closed loopback port."""

from __future__ import annotations

import asyncio
import time

import psycopg
import pytest

from lab.support import free_port
from monitor.leadership import Lease, Leadership

pytestmark = [pytest.mark.integration]


def _lease(postgres_server, database: str, holder: str, lease_s: float = 3.0, share: str = "district") -> Lease:
    lease = Lease(lambda: postgres_server.connect(database), share, holder, lease_s)
    lease.prepare()
    return lease


def _words(exc: BaseException) -> str:
    return type(exc).__name__


def test_one_holder_at_a_time_and_the_other_takes_over_when_it_ends(postgres_server, postgres_database):
    a = _lease(postgres_server, postgres_database, "server-a")
    b = _lease(postgres_server, postgres_database, "server-b")
    assert a.take() and a.epoch == 1
    assert not b.take()
    holder = b.current()
    assert holder.name == "server-a" and holder.epoch == 1 and 0 < holder.expires_in_s <= 3
    assert a.take() and a.epoch == 1  # taking it again while it holds it is a renewal
    assert a.renew()
    time.sleep(3.3)  # a no longer renews: its lease ends on the database's clock
    assert b.take() and b.epoch == 2
    assert not a.renew()  # a learns it lost the lease
    assert not a.take()
    assert b.current().name == "server-b"
    a.disconnect()
    b.disconnect()


def test_a_released_lease_is_taken_at_once(postgres_server, postgres_database):
    a = _lease(postgres_server, postgres_database, "server-a", lease_s=60)
    b = _lease(postgres_server, postgres_database, "server-b", lease_s=60)
    assert a.take()
    assert not b.take()
    a.release()
    assert b.take() and b.epoch == 2


def test_shares_are_independent(postgres_server, postgres_database):
    east = _lease(postgres_server, postgres_database, "server-a", share="east")
    west = _lease(postgres_server, postgres_database, "server-b", share="west")
    assert east.take() and west.take()


async def test_the_standby_waits_then_becomes_active(postgres_server, postgres_database):
    active = _lease(postgres_server, postgres_database, "server-a", lease_s=3)
    assert active.take()
    standby = Leadership(_lease(postgres_server, postgres_database, "server-b", lease_s=3), _words)
    stopping = asyncio.Event()
    started = time.monotonic()
    assert await asyncio.wait_for(standby.wait_until_active(stopping), 10)
    waited = time.monotonic() - started
    assert 1.5 < waited < 3 + 1 + 1.5, waited  # until a's lease ended, plus at most one try interval
    assert standby.role == "active" and standby.status()["active"] == "server-b"
    assert standby.status()["epoch"] == 2


async def test_a_standby_told_to_stop_stops(postgres_server, postgres_database):
    assert _lease(postgres_server, postgres_database, "server-a", lease_s=60).take()
    standby = Leadership(_lease(postgres_server, postgres_database, "server-b", lease_s=60), _words)
    stopping = asyncio.Event()
    waiting = asyncio.create_task(standby.wait_until_active(stopping))
    await asyncio.sleep(0.5)
    assert standby.status()["active"] == "server-a" and standby.role == "standby"
    stopping.set()
    assert await asyncio.wait_for(waiting, 5) is False


async def test_the_active_steps_down_before_its_lease_can_end_when_the_database_is_gone(
        postgres_server, postgres_database):
    reachable = {"yes": True}
    closed_port = free_port()

    def connect():
        if reachable["yes"]:
            return postgres_server.connect(postgres_database)
        return psycopg.connect(host="127.0.0.1", port=closed_port, user="postgres", dbname=postgres_database,
                               connect_timeout=2)

    lease = Lease(connect, "district", "server-a", 3.0)
    lease.prepare()
    active = Leadership(lease, _words)
    assert await active.wait_until_active(asyncio.Event())
    renewed = time.monotonic()
    reachable["yes"] = False
    lease.disconnect()  # the session is gone with the network
    why = await asyncio.wait_for(active.keep(), 10)
    stepped_down = time.monotonic() - renewed
    assert why.startswith("the lease was last renewed") and why.endswith("(OperationalError)"), why and active.role == "standby"
    # before the lease could end on the database's clock (3 s after the last renewal)
    assert stepped_down < 3.0, stepped_down
    # and the other server can take it only after that end
    other = _lease(postgres_server, postgres_database, "server-b", lease_s=3)
    deadline = time.monotonic() + 5
    while not other.take():
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert time.monotonic() - renewed >= 3.0 - 0.3  # the database's clock, seen from here


async def test_the_active_steps_down_at_once_when_another_server_holds_the_lease(postgres_server, postgres_database):
    lease = _lease(postgres_server, postgres_database, "server-a", lease_s=3)
    active = Leadership(lease, _words)
    assert await active.wait_until_active(asyncio.Event())
    # someone took it by hand (an operator forcing a switch-over)
    postgres_server.sql("UPDATE leases SET holder = 'server-b', epoch = epoch + 1", postgres_database)
    why = await asyncio.wait_for(active.keep(), 5)
    assert why == "another server holds the lease"
