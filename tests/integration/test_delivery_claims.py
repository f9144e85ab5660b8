"""Delivery claims on a real PostgreSQL server: one notice per key across servers."""

from __future__ import annotations

import psycopg
import pytest

from lab.support import free_port
from monitor.notify.claims import DeliveryClaims

pytestmark = [pytest.mark.integration]


def _claims(postgres_server, database: str, server: str) -> DeliveryClaims:
    return DeliveryClaims(lambda: postgres_server.connect(database), lambda exc: type(exc).__name__, server)


def test_a_key_is_sent_by_the_first_server_that_claims_it(postgres_server, postgres_database):
    a = _claims(postgres_server, postgres_database, "a:/var/lib/netvigil")
    b = _claims(postgres_server, postgres_database, "b:/var/lib/netvigil")
    keys = ["fault 1 open tier 1 channel mail", "fault 1 open tier 1 channel tickets"]
    assert a.claim(keys) == set(keys)
    assert b.claim(keys) == set()
    assert b.claim(keys + ["fault 2 open tier 1 channel mail"]) == {"fault 2 open tier 1 channel mail"}
    # a claimed them before: they are still its own (a crash between claim and outbox commit)
    assert a.claim(keys) == set(keys)
    assert a.claim([]) == set()
    # which channels were told about fault 1, by whichever server (its resolved notice goes there)
    assert b.channels_told(1) == ["mail", "tickets"]
    assert b.claim(["fault 1 resolved 1765000000000 channel mail"]) == {"fault 1 resolved 1765000000000 channel mail"}
    assert a.channels_told(1) == ["mail", "tickets"] and a.channels_told(2) == ["mail"]
    assert a.channels_told(12) == []  # not fault 1's prefix


def test_an_unreachable_database_lets_every_notice_through_and_says_so_once(postgres_server, postgres_database,
                                                                            caplog):
    port = free_port()
    claims = DeliveryClaims(lambda: psycopg.connect(host="127.0.0.1", port=port, connect_timeout=2),
                            lambda exc: "cannot reach PostgreSQL at 127.0.0.1", "a:/state")
    with caplog.at_level("WARNING", logger="netvigil.notify"):
        assert claims.claim(["fault 3 open tier 1 channel mail"]) == {"fault 3 open tier 1 channel mail"}
        assert claims.claim(["fault 4 open tier 1 channel mail"]) == {"fault 4 open tier 1 channel mail"}
    assert [r.getMessage() for r in caplog.records].count(
        "notifications: cannot claim deliveries in the shared database (cannot reach PostgreSQL at 127.0.0.1); "
        "sending without the guard against a second server sending the same notice") == 1
