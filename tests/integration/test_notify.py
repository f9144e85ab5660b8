"""Notifications end to end: the dispatcher against a real SMTP server (aiosmtpd) and a real
HTTP webhook receiver (aiohttp), both on 127.0.0.1, with short timings."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Optional

import pytest

from monitor.faults.model import Alert, DeviceInfo
from monitor.notify.dispatcher import AlertDispatcher
from monitor.notify.settings import NotificationSettings
from lab.mailserver import MAIL_PASSWORD, MAIL_USER
from lab.servers import eventually
from lab.support import free_port
from lab.webhook_receiver import WebhookReceiver

pytestmark = [pytest.mark.integration,
              # AUTH without TLS is what the loopback SMTP server needs (lab/mailserver.py).
              pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")]

FAST_RETRY = {"attempts": 5, "initial_backoff_s": 0.05, "max_backoff_s": 0.2}


def device(name: str, site: str = "street-03", device_class: str = "switch") -> DeviceInfo:
    return DeviceInfo(name, device_class, ("district", site), address=f"10.0.0.{len(name)}")


def opened(fault_id: int, dev: DeviceInfo, *, event: str = "open", severity: str = "critical",
           at: Optional[float] = None, **extra) -> Alert:
    at = time.time() if at is None else at
    return Alert(fault_id=fault_id, event=event, device=dev, rule="unreachable", instance="", severity=severity,
                 message="down", opened_at=extra.pop("opened_at", at), time=at, value=100.0, threshold=50.0,
                 **extra)


def hook(receiver: WebhookReceiver, path: str, **channel) -> dict:
    return {"webhook": {"url": f"http://127.0.0.1:{receiver.port}/{path}",
                        "headers": {"Authorization": "Bearer hook-token-123"}}, "timeout_s": 5, **channel}


def settings(channels: dict, tiers: list[list[str]], **overrides) -> NotificationSettings:
    return NotificationSettings.model_validate({
        "channels": channels, "groups": {"oncall": {"tiers": tiers}}, "default_groups": ["oncall"],
        "group_wait_s": 0.05, "repeat_s": 0, "retry": FAST_RETRY, **overrides})


class Acks:
    """Stands in for the fault store's answers: which faults are acknowledged, and deadlines."""

    def __init__(self) -> None:
        self.acknowledged: set[int] = set()
        self.deadlines: dict[int, float] = {}
        self.asynchronous = False  # answer as the daemon does: a coroutine (its fault thread reads)

    def is_unacknowledged(self, fault_id: int):
        answer = fault_id not in self.acknowledged
        if not self.asynchronous:
            return answer

        async def later() -> bool:
            await asyncio.sleep(0.01)
            return answer
        return later()

    def ack_deadline(self, fault_id: int) -> Optional[float]:
        return self.deadlines.get(fault_id)


@pytest.fixture
async def dispatchers(tmp_path):
    """Builds started dispatchers on `tmp_path/notifications.db` and stops whichever are still running."""
    running: list[AlertDispatcher] = []
    acks = Acks()

    async def start(s: NotificationSettings, **kwargs) -> AlertDispatcher:
        dispatcher = AlertDispatcher(s, tmp_path / "notifications.db", is_unacknowledged=acks.is_unacknowledged,
                                     ack_deadline=acks.ack_deadline, **kwargs)
        await dispatcher.start()
        running.append(dispatcher)
        return dispatcher

    async def stop(dispatcher: AlertDispatcher, timeout_s: float = 2.0) -> None:
        running.remove(dispatcher)
        await dispatcher.stop(timeout_s)

    start.acks, start.stop = acks, stop
    yield start
    for dispatcher in running:
        await dispatcher.stop(1.0)


def bodies_at(receiver: WebhookReceiver, path: str) -> list[dict]:
    return [r.body for r in receiver.requests if r.path == f"/{path}" and 200 <= r.answered < 300]


# ----------------------------------------------------------------------------- delivery

async def test_an_opening_arrives_by_mail_and_webhook_with_every_item(dispatchers, mailserver, webhook_receiver):
    mail_url = (f"mailto://{MAIL_USER}:{MAIL_PASSWORD}@127.0.0.1:{mailserver.port}"
                f"?to=noc@example.org&from=netvigil@example.org")
    s = settings({"oncall-mail": {"apprise": mail_url}, "tickets": hook(webhook_receiver, "hook")},
                 [["oncall-mail", "tickets"]], ack_hint="netvigil ack {id} --by NAME")
    dispatcher = await dispatchers(s)
    core = device("core-sw-01")
    dispatcher.submit(opened(12, core, opened_at=time.time() - 200, symptoms=("cam-1", "cam-2"),
                             symptom_sites=("community-7",)))

    [body] = await webhook_receiver.wait_for(1)
    await eventually(lambda: mailserver.received(), what="the e-mail")
    [mail] = mailserver.received()

    title = "[CRITICAL] core-sw-01: down: 2 devices at 1 site unreachable (fault 12)"
    assert mail.subject == title and body["title"] == title
    assert mail.recipients == ("noc@example.org",) and mail.login == MAIL_USER
    for text in (mail.body, body["text"]):
        for item in ("Device: core-sw-01 (switch, 10.0.0.10)", "Site: district / street-03",
                     "What tripped: rule unreachable: down (value 100, threshold 50)", "(for 3m 2",
                     "Fault 12:", "Acknowledge: netvigil ack 12 --by NAME", "  - cam-1", "  - cam-2"):
            assert item in text, item
    assert body["version"] == 1 and body["event"] == "open" and body["sent_at"]
    assert body["faults"][0]["id"] == 12 and body["faults"][0]["site_path"] == ["district", "street-03"]
    assert webhook_receiver.requests[0].headers["Authorization"] == "Bearer hook-token-123"
    await eventually(lambda: dispatcher.stats()["sent"] == 2, what="both recorded as sent")
    assert {m.channel: m.status for m in dispatcher.outbox.messages()} == {"oncall-mail": "sent", "tickets": "sent"}


async def test_faults_opening_at_one_site_together_are_one_message(dispatchers, webhook_receiver):
    dispatcher = await dispatchers(settings({"tickets": hook(webhook_receiver, "hook")}, [["tickets"]],
                                            group_wait_s=0.5))
    for fault_id, name in ((1, "sw-a"), (2, "sw-b"), (3, "sw-c")):
        dispatcher.submit(opened(fault_id, device(name, "street-03")))
    dispatcher.submit(opened(4, device("sw-d", "street-09")))

    bodies = await webhook_receiver.wait_for(2)
    by_site = {b["faults"][0]["site"]: b for b in bodies}
    assert [f["id"] for f in by_site["street-03"]["faults"]] == [1, 2, 3]
    assert by_site["street-03"]["title"] == "[CRITICAL] 3 faults at street-03 (faults 1, 2, 3)"
    assert [f["id"] for f in by_site["street-09"]["faults"]] == [4]
    await eventually(lambda: dispatcher.stats()["sent"] == 2, what="two messages recorded")
    assert len(dispatcher.outbox.messages()) == 2


# ----------------------------------------------------------------------------- escalation

@pytest.mark.parametrize("asynchronous", [False, True], ids=["answered-at-once", "answered-by-a-coroutine"])
async def test_escalation_to_tier_2_only_when_unacknowledged(dispatchers, webhook_receiver, asynchronous):
    s = settings({"t1": hook(webhook_receiver, "t1"), "t2": hook(webhook_receiver, "t2")}, [["t1"], ["t2"]],
                 escalate_after_s=1, group_wait_s=0)
    dispatchers.acks.asynchronous = asynchronous
    dispatcher = await dispatchers(s)
    now = time.time()
    dispatchers.acks.acknowledged.add(7)
    # Fault 7 (acknowledged) is due to escalate before fault 8, so when 8's escalation has
    # arrived, the decision about 7 has been made.
    dispatcher.submit(opened(7, device("sw-ack", "s1"), at=now - 0.3))
    dispatcher.submit(opened(8, device("sw-nak", "s2"), at=now))

    await eventually(lambda: bodies_at(webhook_receiver, "t2"), what="the escalation to tier 2")
    [escalated] = bodies_at(webhook_receiver, "t2")
    assert escalated["event"] == "escalate" and escalated["tier"] == 2
    assert escalated["title"].startswith("[ESCALATED] sw-nak: down") and "escalated to tier 2" in escalated["text"]
    assert time.time() - now >= 1.0
    acked = dispatcher.outbox.escalation(7)
    assert acked.tier == 1 and acked.next_escalation_at is None
    assert sorted(b["faults"][0]["id"] for b in bodies_at(webhook_receiver, "t1")) == [7, 8]


async def test_escalation_waits_for_the_acknowledge_deadline_by_default(dispatchers, webhook_receiver):
    s = settings({"t1": hook(webhook_receiver, "t1"), "t2": hook(webhook_receiver, "t2")}, [["t1"], ["t2"]],
                 group_wait_s=0)
    dispatcher = await dispatchers(s)
    now = time.time()
    dispatchers.acks.deadlines[5] = now + 1.2
    dispatcher.submit(opened(5, device("sw"), at=now))
    await eventually(lambda: bodies_at(webhook_receiver, "t2"), what="the escalation at the deadline")
    assert time.time() >= now + 1.2
    assert dispatcher.outbox.escalation(5).interval_s == pytest.approx(1.2, abs=0.01)


async def test_repeats_while_unacknowledged_and_stops_after_ack(dispatchers, webhook_receiver):
    dispatcher = await dispatchers(settings({"t1": hook(webhook_receiver, "t1")}, [["t1"]], repeat_s=0.3,
                                            group_wait_s=0))
    dispatcher.submit(opened(3, device("sw")))
    bodies = await webhook_receiver.wait_for(3)
    assert [b["event"] for b in bodies] == ["open", "repeat", "repeat"]
    assert "reminder 2" in bodies[2]["text"]

    dispatchers.acks.acknowledged.add(3)
    await eventually(lambda: dispatcher.outbox.escalation(3).next_repeat_at is None, what="timers ending on ack")
    told = len(dispatcher.outbox.messages())
    await eventually(lambda: dispatcher.stats()["pending"] == 0, what="the last repeat sent")
    assert len(dispatcher.outbox.messages()) == told and dispatcher.stats()["active_timers"] == 0


async def test_resolved_goes_to_every_channel_told_and_stops_timers(dispatchers, webhook_receiver):
    s = settings({"a": hook(webhook_receiver, "a"), "b": hook(webhook_receiver, "b"),
                  "c": hook(webhook_receiver, "c")}, [["a", "b"], ["c"]], escalate_after_s=60, repeat_s=60,
                 group_wait_s=0)
    dispatcher = await dispatchers(s)
    alert = opened(9, device("sw"))
    dispatcher.submit(alert)
    await webhook_receiver.wait_for(2)
    dispatcher.submit(opened(9, device("sw"), event="resolved", opened_at=alert.opened_at, at=time.time()))
    await webhook_receiver.wait_for(4)

    for path in ("a", "b"):
        assert [b["event"] for b in bodies_at(webhook_receiver, path)] == ["open", "resolved"]
    assert bodies_at(webhook_receiver, "a")[1]["title"] == "[RESOLVED] sw: down (fault 9)"
    assert dispatcher.outbox.messages("c") == []  # tier 2 never heard of it
    state = dispatcher.outbox.escalation(9)
    assert state.resolved and state.next_repeat_at is None and state.next_escalation_at is None


# ----------------------------------------------------------------------------- failures

async def test_a_failing_webhook_is_retried_and_delivered_once(dispatchers, webhook_receiver):
    webhook_receiver.fail_first = 2
    dispatcher = await dispatchers(settings({"tickets": hook(webhook_receiver, "hook")}, [["tickets"]]))
    dispatcher.submit(opened(1, device("sw")))
    await webhook_receiver.wait_for(1)
    assert [r.answered for r in webhook_receiver.requests] == [500, 500, 200]
    await eventually(lambda: dispatcher.outbox.messages()[0].status == "sent", what="recorded as sent")
    [message] = dispatcher.outbox.messages()
    assert message.attempts == 3 and message.last_error.startswith("HTTP 500")


async def test_a_refused_message_is_recorded_as_failed_without_retries(dispatchers, webhook_receiver):
    webhook_receiver.status = 400
    dispatcher = await dispatchers(settings({"tickets": hook(webhook_receiver, "hook")}, [["tickets"]]))
    dispatcher.submit(opened(1, device("sw")))
    await eventually(lambda: dispatcher.stats()["failed"] == 1, what="the failure recorded")
    [message] = dispatcher.outbox.messages()
    assert message.attempts == 1 and "HTTP 400" in message.last_error and "not retried" in message.last_error
    assert len(webhook_receiver.requests) == 1


async def test_a_header_that_cannot_be_sent_fails_the_message_not_the_channel(dispatchers, webhook_receiver):
    """A header value with a newline (a YAML block scalar) makes aiohttp refuse the request:
    recorded as failed, without quoting the secret value, and the channel goes on."""
    bad = {"webhook": {"url": webhook_receiver.url, "headers": {"Authorization": "Bearer tok\nen-9"}},
           "timeout_s": 5}
    dispatcher = await dispatchers(settings({"tickets": bad, "good": hook(webhook_receiver, "good")},
                                            [["tickets", "good"]]))
    dispatcher.submit(opened(1, device("sw")))
    await eventually(lambda: dispatcher.stats()["failed"] == 1 and dispatcher.stats()["sent"] == 1,
                     what="one failure and one delivery")
    [failed] = dispatcher.outbox.messages("tickets")
    assert "could not be built" in failed.last_error and "en-9" not in failed.last_error
    dispatcher.submit(opened(2, device("sw-2", "elsewhere")))
    await eventually(lambda: len(dispatcher.outbox.messages("tickets")) == 2
                     and dispatcher.outbox.messages("tickets")[1].status == "failed", what="the channel still working")


async def test_the_rate_limit_folds_the_excess_into_one_later_summary(dispatchers, webhook_receiver):
    s = settings({"tickets": hook(webhook_receiver, "hook", rate_limit={"messages": 2, "per_s": 1})},
                 [["tickets"]], group_wait_s=0)
    dispatcher = await dispatchers(s)
    for fault_id in range(1, 7):
        dispatcher.submit(opened(fault_id, device(f"sw-{fault_id}", f"site-{fault_id}")))

    bodies = await webhook_receiver.wait_for(3)
    assert [b["event"] for b in bodies] == ["open", "open", "summary"]
    summary = bodies[2]
    assert summary["title"] == "[SUMMARY] 4 notifications held back by the rate limit"
    told = [f["id"] for b in bodies for f in b["faults"]]
    assert sorted(told) == [1, 2, 3, 4, 5, 6]  # nothing dropped
    counts = dispatcher.stats()
    assert (counts["folded"], counts["pending"]) == (4, 0)
    await eventually(lambda: dispatcher.stats()["sent"] == 3, what="the summary recorded as sent")


async def test_a_dead_or_slow_channel_does_not_delay_another(dispatchers, webhook_receiver):
    slow = await WebhookReceiver(delay_s=3).start()
    try:
        dead = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens there
        s = settings({"dead": {"webhook": {"url": dead}, "timeout_s": 5},
                      "slow": {**hook(slow, "hook"), "timeout_s": 5},
                      "fast": hook(webhook_receiver, "hook")}, [["dead", "slow", "fast"]], group_wait_s=0)
        dispatcher = await dispatchers(s)
        dispatcher.submit(opened(1, device("sw")))
        await webhook_receiver.wait_for(1)
        assert slow.requests == []  # still waiting for its answer
        assert dispatcher.outbox.messages("dead")[0].status == "pending"
        await eventually(lambda: dispatcher.outbox.messages("dead")[0].attempts >= 1, what="a failed attempt")
        assert dispatcher.outbox.messages("dead")[0].last_error.startswith("cannot connect")
    finally:
        await slow.stop()


# ----------------------------------------------------------------------------- restart

async def test_a_restart_neither_re_alerts_nor_forgets_its_timers(dispatchers, webhook_receiver):
    s = settings({"t1": hook(webhook_receiver, "t1"), "t2": hook(webhook_receiver, "t2")}, [["t1"], ["t2"]],
                 escalate_after_s=1.5, group_wait_s=0)
    first = await dispatchers(s)
    alert = opened(21, device("sw"))
    first.submit(alert)
    await webhook_receiver.wait_for(1)
    await eventually(lambda: first.stats()["sent"] == 1, what="recorded as sent")
    await dispatchers.stop(first)
    assert bodies_at(webhook_receiver, "t2") == []  # the escalation was still pending at the stop

    second = await dispatchers(s)
    second.submit(alert)  # the fault manager telling it again after the restart
    await eventually(lambda: bodies_at(webhook_receiver, "t2"), what="the escalation after the restart")
    assert [b["event"] for b in bodies_at(webhook_receiver, "t1")] == ["open"]
    assert time.time() >= alert.opened_at + 1.5


async def test_messages_queued_before_a_stop_are_sent_after_the_next_start(dispatchers, webhook_receiver):
    webhook_receiver.status = 503  # down while the first process runs
    s = settings({"tickets": hook(webhook_receiver, "hook")}, [["tickets"]],
                 retry={"attempts": 5, "initial_backoff_s": 30, "max_backoff_s": 30})
    first = await dispatchers(s)
    first.submit(opened(1, device("sw")))
    await eventually(lambda: first.outbox.messages() and first.outbox.messages()[0].attempts == 1,
                     what="the first attempt")
    await dispatchers.stop(first, 0.5)

    webhook_receiver.status = 200
    # Its next attempt is 30 s away; a new process keeps that schedule, so move it up as a
    # restart much later would find it.
    second = await dispatchers(settings({"tickets": hook(webhook_receiver, "hook")}, [["tickets"]]),
                               clock=lambda: time.time() + 60)
    await webhook_receiver.wait_for(1)
    await eventually(lambda: second.stats()["sent"] == 1, what="sent after the restart")
    assert second.outbox.messages()[0].attempts == 2


# ----------------------------------------------------------------------------- secrets

async def test_no_secret_in_logs_sent_log_or_stats(dispatchers, caplog):
    password = "Pw-9f8e7d6c5b"
    url = f"mailto://{MAIL_USER}:{password}@127.0.0.1:{free_port()}?to=noc@example.org&from=nv@example.org"
    apprise_log = logging.getLogger("apprise")
    settings({"mail": {"apprise": url}}, [["mail"]])  # the first validation installs netvigil's log filter
    caplog.set_level(1)
    # Everything, including apprise's TRACE lines that print whole URLs while parsing them.
    apprise_log.setLevel(1)
    try:
        s = settings({"mail": {"apprise": url, "timeout_s": 5}}, [["mail"]])
        dispatcher = await dispatchers(s)
        dispatcher.submit(opened(1, device("sw")))
        await eventually(lambda: dispatcher.outbox.messages() and dispatcher.outbox.messages()[0].attempts >= 2,
                         what="two failed attempts")
        apprise_log.warning("a plugin quoting its URL: %s", url)  # what a careless plugin might do
    finally:
        apprise_log.setLevel(logging.WARNING)
    [message] = dispatcher.outbox.messages()
    assert message.last_error and "mailto://" in message.last_error
    sent_log = repr(dispatcher.outbox.messages()) + repr(dispatcher.outbox.escalation(1))
    assert sum(r.name == "apprise" for r in caplog.records) > 5  # apprise did log, at every level
    assert "a plugin quoting its URL: ***" in caplog.text
    for text in (caplog.text, sent_log, repr(dispatcher.stats()), repr(dispatcher.settings)):
        assert password not in text
