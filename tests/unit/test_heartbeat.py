"""The dead man's switch's settings, its idea of a healthy daemon (the scheduler's stall
check) and a withheld beat; beats over HTTP through the daemon are in
tests/integration/test_heartbeat.py."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
from pydantic import ValidationError

from monitor.heartbeat import Heartbeat, HeartbeatSettings, missing_secrets, shown_url
from monitor.scheduler import STALL_GRACE_S, ProbeScheduler, plan
from monitor.scheduler_settings import SchedulerSettings
from probes.base import Target


def _settings(**target) -> HeartbeatSettings:
    return HeartbeatSettings.model_validate({"targets": {"hc": target}})


def test_defaults_beat_every_minute_with_get_and_no_target():
    settings = HeartbeatSettings()
    assert settings.interval_s == 60 and settings.targets == {}
    target = _settings(url="https://hc-ping.com/5f1e").targets["hc"]
    assert (target.method, target.timeout_s, target.verify_tls, target.headers) == ("GET", 10.0, True, {})


@pytest.mark.parametrize("url, words", [
    ("ftp://hc.example/x", "http:// or https:// URL"),
    ("hc-ping.com/5f1e", "http:// or https:// URL"),
    ("https://:80/x", "http:// or https:// URL"),
    ("https://hc.example:port/x", "http:// or https:// URL"),
    ("https://user:pw@hc.example/x", "must not contain a user name or password"),
])
def test_a_bad_url_is_a_sentence_that_does_not_repeat_it(url, words):
    with pytest.raises(ValidationError) as caught:
        _settings(url=url)
    message = caught.value.errors()[0]["msg"]  # `check` prints this sentence, never the input (a secret)
    assert words in message and "hc.example" not in message


def test_method_names_and_interval_are_checked():
    for bad in ({"targets": {"hc": {"url": "http://a.example/", "method": "PUT"}}},
                {"targets": {"HC": {"url": "http://a.example/"}}},
                {"interval_s": 0.5},
                {"targets": {"hc": {"url": "http://a.example/", "timeot_s": 3}}}):
        with pytest.raises(ValidationError):
            HeartbeatSettings.model_validate(bad)


def test_a_target_without_url_is_a_missing_secret_sentence():
    settings = HeartbeatSettings.model_validate({"targets": {"kuma": {"method": "GET"}}})
    assert missing_secrets(settings) == [
        "heartbeat.targets.kuma.url: not set; put the URL in a secret file named heartbeat__targets__kuma__url "
        "($CREDENTIALS_DIRECTORY via the unit's LoadCredential=, or secrets_dir)"]


def test_secrets_are_never_shown():
    target = _settings(url="https://kuma.example:8443/api/push/TOK3N?status=up",
                       headers={"Authorization": "Bearer V4LUE"}).targets["hc"]
    assert shown_url(target.url.get_secret_value()) == "https://kuma.example:8443/…"
    assert "TOK3N" not in repr(target) and "V4LUE" not in repr(target)


async def test_the_scheduler_is_stalled_when_hung_runs_hold_every_slot_of_a_kind():
    release = asyncio.Event()

    async def hang(batch):
        await release.wait()

    batches = plan("icmp", [(Target("a", "127.0.0.1"), ("g", 1.0), 1.0, None)], slot_s=0.5)
    scheduler = ProbeScheduler(SchedulerSettings(slot_s=0.5), hang, {"icmp": 1})
    scheduler.arm(batches)
    scheduler.start()
    try:
        assert scheduler.stalled() is None  # just armed
        deadline = time.monotonic() + 10
        while not scheduler.stats()["icmp"].running:
            assert time.monotonic() < deadline, "the run did not start"
            await asyncio.sleep(0.05)
        started = time.monotonic()
        assert scheduler.stalled(started + 2 * 1.0 + STALL_GRACE_S - 1) is None
        reason = scheduler.stalled(started + 2 * 1.0 + STALL_GRACE_S + 1)
        assert reason is not None and reason.startswith("no icmp run has started for 3") and "interval 1 s" in reason
    finally:
        release.set()
        await scheduler.shutdown(timeout_s=1)
    assert scheduler.stalled() == "the scheduler is not running"


async def test_an_unhealthy_daemon_withholds_the_beat_and_says_so_once(caplog):
    reason = ["no icmp run has started for 95 s (interval 30 s)"]
    settings = _settings(url="http://127.0.0.1:9/hook")
    heartbeat = Heartbeat(lambda: settings, lambda: reason[0], lambda: {"devices": 1, "down": 0, "faults": 0})
    caplog.set_level(logging.INFO, logger="netvigil.heartbeat")
    for _ in range(3):
        await heartbeat.beat(None, settings)  # withheld: no call, so no session is needed
    assert heartbeat.status()["hc"] == {"ok": False, "sent_total": 0, "failed_total": 0, "withheld_total": 3,
                                        "last_error": ""}
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors == ["heartbeat withheld: no icmp run has started for 95 s (interval 30 s); the outside "
                      "parties will notice the missing beats"]
    sample = heartbeat.samples(123)[0]
    assert (sample.measurement, sample.tags, sample.fields["withheld_total"]) == (
        "netvigil_heartbeat", {"target": "hc"}, 3)


def test_the_counts_are_on_the_prometheus_endpoint():
    from monitor.api.metrics import registry_for, render, snapshot_from_summary

    summary = {"heartbeat": {"kuma": {"ok": False, "sent_total": 12, "failed_total": 3, "withheld_total": 1,
                                      "last_error": "HTTP 503"}}}
    text = render(registry_for(lambda: snapshot_from_summary(summary))).decode()
    assert 'netvigil_heartbeat_sent_total{target="kuma"} 12.0' in text
    assert 'netvigil_heartbeat_failed_total{target="kuma"} 3.0' in text
    assert 'netvigil_heartbeat_withheld_total{target="kuma"} 1.0' in text
    assert 'netvigil_heartbeat_ok{target="kuma"} 0.0' in text
