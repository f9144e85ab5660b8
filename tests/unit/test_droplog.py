"""monitor.outputs.droplog: drops are logged as they happen, at most once per interval, exactly."""

from __future__ import annotations

import logging
import re

from monitor.outputs.droplog import DropLog

REASONS = {"spool_full": "oldest spooled points, the spool was full", "rejected": "refused by the server"}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def logged_counts(caplog) -> list[int]:
    return [int(re.search(r"dropped (\d+) points", r.getMessage()).group(1)) for r in caplog.records]


def test_first_drop_is_logged_at_once_later_ones_when_the_interval_has_passed(caplog):
    clock = Clock()
    drops = DropLog("influxdb", 10.0, REASONS, clock)
    with caplog.at_level(logging.WARNING):
        drops.add("spool_full", 212)
        assert logged_counts(caplog) == [212]
        for _ in range(49):  # a full spool drops a batch per flush for the next 9.8 s
            clock.now += 0.2
            drops.add("spool_full", 100)
        assert logged_counts(caplog) == [212]  # not one line per drop
        assert drops.due_at() == 1010.0
        clock.now = 1010.0
        assert drops.report()  # what the writer's loop calls when due_at() has come
        assert drops.due_at() is None and not drops.report(final=True)  # nothing left over
    assert logged_counts(caplog) == [212, 4900]
    assert sum(logged_counts(caplog)) == drops.total == 5112
    assert "5112 dropped since start" in caplog.records[-1].getMessage()


def test_final_report_logs_the_rest_and_reasons_are_named(caplog):
    clock = Clock()
    drops = DropLog("influxdb_v1", 10.0, REASONS, clock)
    with caplog.at_level(logging.WARNING):
        drops.add("spool_full", 5)
        clock.now += 1
        drops.add("rejected", 1, "icmp device=sw-1")
        drops.add("rejected", 1, "icmp device=sw-1")  # the same line again: named once
        drops.add("rejected", 1, "snmp device=ups-2")
        drops.add("spool_full", 0)  # nothing: no line, no count
        assert drops.report(final=True)
    first, last = (r.getMessage() for r in caplog.records)
    assert first == ("output influxdb_v1: dropped 5 points: 5 oldest spooled points, the spool was full; "
                     "5 dropped since start")
    assert last == ("output influxdb_v1: dropped 3 points: 3 refused by the server (icmp device=sw-1, "
                    "snmp device=ups-2); 8 dropped since start")
    assert [r.levelno for r in caplog.records] == [logging.WARNING, logging.ERROR]


def test_carry_over_continues_the_totals_of_the_replaced_output(caplog):
    old = DropLog("influxdb", 10.0, REASONS, Clock())
    old.add("spool_full", 40)
    new = DropLog("influxdb", 10.0, REASONS, Clock())
    new.carry_over(old)
    with caplog.at_level(logging.WARNING):
        new.add("rejected", 2)
    assert new.total == 42 and new.by_reason == {"spool_full": 40, "rejected": 2}
    assert "42 dropped since start" in caplog.records[-1].getMessage()
