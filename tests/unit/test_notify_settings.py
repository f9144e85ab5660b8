"""Notification settings: defaults, references, apprise URLs without leaking them, and routing."""

from __future__ import annotations

import logging

import pytest
from pydantic import ValidationError

from monitor.faults.model import Alert, DeviceInfo
from monitor.notify.dispatcher import channels_of, groups_for
from monitor.notify.settings import (NotificationSettings, missing_secrets, route_problems,
                                     unknown_group_problems)

PASSWORD = "Xq9-very-secret-pw"
MAIL = f"mailto://noc:{PASSWORD}@smtp.example.org:2525?to=noc@example.org&from=netvigil@example.org"


def problems(data: dict) -> list[tuple[str, str]]:
    """(field path, sentence) of every problem, as monitor.config would word them."""
    from monitor.config import describe_error
    from monitor.yamlfile import format_path

    with pytest.raises(ValidationError) as caught:
        NotificationSettings.model_validate(data)
    return [(format_path(e["loc"]), describe_error(e, show_input=False)) for e in caught.value.errors()]


def example() -> dict:
    return {
        "channels": {"oncall-mail": {"apprise": MAIL}, "wecom-net": {"apprise": "wecombot://KEY0123456789"},
                     "lead-sms": {"apprise": "json://sms.example.org/send"},
                     "tickets": {"webhook": {"url": "http://127.0.0.1:9000/hook",
                                             "headers": {"Authorization": "Bearer tok-123456"}}}},
        "groups": {"network-oncall": {"tiers": [["wecom-net", "oncall-mail"], ["lead-sms"]]},
                   "video-oncall": {"tiers": ["tickets"]}},
        "routes": [{"match": {"sites": ["street-03"], "classes": ["codec"]}, "severities": ["critical", "major"],
                    "groups": ["video-oncall"], "continue": True},
                   {"match": {"classes": ["switch", "codec"]}, "groups": ["network-oncall"]}],
        "default_groups": ["video-oncall"],
    }


def test_defaults_are_what_the_documentation_promises():
    settings = NotificationSettings()
    assert (settings.group_wait_s, settings.repeat_s, settings.escalate_after_s, settings.send_resolved) == \
        (5.0, 1800.0, None, True)
    assert (settings.rate_limit.messages, settings.rate_limit.per_s) == (30, 60.0)
    assert (settings.retry.attempts, settings.retry.initial_backoff_s, settings.retry.max_backoff_s) == (10, 5.0, 600.0)
    assert settings.ack_hint == "netvigil ack {id} --by NAME"


def test_every_settings_field_is_described():
    from monitor.notify import settings as module

    for model in (module.NotificationSettings, module.ChannelSettings, module.WebhookSettings, module.GroupSettings,
                  module.RouteSettings, module.RateLimitSettings, module.RetrySettings):
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name}"


def test_the_example_loads():
    settings = NotificationSettings.model_validate(example())
    assert settings.groups["video-oncall"].tiers == [["tickets"]]  # one channel is one tier
    assert settings.routes[0].continue_ is True
    assert settings.channels["tickets"].kind == "webhook" and settings.channels["lead-sms"].kind == "apprise"


def test_secrets_stay_out_of_repr_and_dumps():
    settings = NotificationSettings.model_validate(example())
    for text in (repr(settings), str(settings), settings.model_dump_json()):
        assert PASSWORD not in text and "tok-123456" not in text and "KEY0123456789" not in text


def test_unknown_references_are_named_with_their_path_and_a_suggestion():
    data = example()
    data["groups"]["network-oncall"]["tiers"][1] = ["lead-smss"]
    data["routes"][1]["groups"] = ["network-oncal"]
    data["default_groups"] = ["nobody"]
    assert problems(data) == [
        ("groups.network-oncall.tiers[1][0]", "unknown channel 'lead-smss' (did you mean 'lead-sms'?)"),
        ("routes[1].groups[0]", "unknown group 'network-oncal' (did you mean 'network-oncall'?)"),
        ("default_groups[0]", "unknown group 'nobody' (known: network-oncall, video-oncall)"),
    ]


def test_references_are_reported_with_every_other_problem():
    data = example()
    data["retry"] = {"attempts": 0}
    data["groups"]["video-oncall"]["tiers"] = ["tickts"]  # a one-channel tier written as a string
    assert problems(data) == [
        ("retry.attempts", "must be >= 1"),
        ("groups.video-oncall.tiers[0]", "unknown channel 'tickts' (did you mean 'tickets'?)")]


def test_a_group_naming_a_channel_when_there_are_none():
    assert problems({"groups": {"g": {"tiers": [["mail"]]}}}) == [
        ("groups.g.tiers[0][0]", "unknown channel 'mail'; define it under notifications.channels")]


def test_an_invalid_apprise_url_names_the_channel_and_scheme_but_never_the_url(caplog):
    caplog.set_level(logging.DEBUG)
    data = {"channels": {"oncall-mail": {"apprise": f"mailto://noc:{PASSWORD}@"},
                         "ding": {"apprise": f"dingtalkk://{PASSWORD}"},
                         "odd": {"apprise": f"{PASSWORD}"}}}
    found = problems(data)
    assert [path for path, _ in found] == ["channels.oncall-mail.apprise", "channels.ding.apprise",
                                           "channels.odd.apprise"]
    mail, ding, odd = (sentence for _, sentence in found)
    assert mail.startswith("apprise cannot use this mailto:// URL (not shown: it holds secrets)")
    assert ding.startswith("apprise has no service 'dingtalkk://' (did you mean 'dingtalk'?)")
    assert odd.startswith("is not an apprise URL")
    assert all(PASSWORD not in sentence for _, sentence in found)
    assert PASSWORD not in caplog.text


def test_channel_kinds_and_names():
    found = problems({"channels": {
        "both": {"apprise": "json://a.example/x", "webhook": {"url": "http://a.example/x"}},
        "pw": {"webhook": {"url": "http://user:secretpw@a.example/x"}},
        "ftp": {"webhook": {"url": "ftp://a.example/x"}}}})
    sentences = dict(found)
    assert sentences["channels.both"].startswith("give either apprise or webhook, not both")
    assert sentences["channels.pw.webhook.url"].startswith("must not contain a user name or password")
    assert "secretpw" not in sentences["channels.pw.webhook.url"]
    assert sentences["channels.ftp.webhook.url"].startswith("must be an http:// or https:// URL")


def test_channel_and_group_names_are_lower_case():
    # Environment variables and secret files reach pydantic-settings lower-cased.
    assert dict(problems({"channels": {"OnCall": {"webhook": {"url": "http://a.example/x"}}}})) == {
        "channels": "channel name 'OnCall': use lower-case letters, digits, '_', '.' and '-' (starting with a "
                    "letter or digit), e.g. oncall-mail"}
    assert dict(problems({"groups": {"-x": {"tiers": [["a"]]}}}))["groups"].startswith("group name '-x': use")


def test_a_tier_must_name_a_channel():
    assert problems({"channels": {"a": {}}, "groups": {"g": {"tiers": [["a"], []]}}}) == [
        ("groups.g.tiers", "tier 2 is empty; list at least one channel in every tier")]


def test_routes_check_severities_and_ack_hint_placeholders():
    found = dict(problems({"routes": [{"severities": ["critcal"], "groups": []}], "ack_hint": "ack {fault}"}))
    assert found["routes[0].severities"].startswith("unknown severity 'critcal'")
    assert found["routes[0].groups"] == "list should have at least 1 item after validation, not 0"
    assert found["ack_hint"].startswith("only the placeholder {id} is available")


def test_a_channel_without_url_is_a_missing_secret_not_an_error():
    settings = NotificationSettings.model_validate({"channels": {"oncall-mail": {}}})
    assert missing_secrets(settings) == [
        "notifications.channels.oncall-mail.apprise: not set; put the apprise URL in a secret file named "
        "notifications__channels__oncall-mail__apprise ($CREDENTIALS_DIRECTORY via the unit's LoadCredential=, "
        "or secrets_dir), or give the channel a webhook"]
    assert missing_secrets(NotificationSettings.model_validate(example())) == []


def test_checks_against_the_inventory_and_other_sections():
    settings = NotificationSettings.model_validate(example())
    assert route_problems(settings, sites={"street-03", "street-04"}, classes={"switch", "codec"}) == []
    assert route_problems(settings, sites={"street-30"}, classes={"switch"}) == [
        "notifications.routes[0].match.sites[0]: unknown site 'street-03' (did you mean 'street-30'?)",
        "notifications.routes[0].match.classes[0]: unknown class 'codec'",
        "notifications.routes[1].match.classes[1]: unknown class 'codec'"]
    assert unknown_group_problems(settings, ["video-oncall", "networkoncall"], "faults.heightened_watch.extra_groups") \
        == ["faults.heightened_watch.extra_groups[1]: unknown notification group 'networkoncall' "
            "(did you mean 'network-oncall'?)"]


# ----------------------------------------------------------------------------- routing

def fault(device: DeviceInfo, severity: str = "critical", heightened: bool = False) -> Alert:
    return Alert(1, "open", device, "r", "", severity, "m", 0.0, 0.0, heightened=heightened)


CODEC_03 = DeviceInfo("codec-1", "codec", ("district", "street-03", "community-7"))
CODEC_04 = DeviceInfo("codec-2", "codec", ("district", "street-04"))
UPS = DeviceInfo("ups-1", "ups", ("district",))


def test_routes_first_match_wins_unless_continue():
    settings = NotificationSettings.model_validate(example())
    assert groups_for(settings, fault(CODEC_03)) == ["video-oncall", "network-oncall"]  # continue: true
    assert groups_for(settings, fault(CODEC_03, "minor")) == ["network-oncall"]  # severity filter skips route 0
    assert groups_for(settings, fault(CODEC_04)) == ["network-oncall"]
    assert groups_for(settings, fault(UPS)) == ["video-oncall"]  # default_groups


def test_heightened_watch_adds_extra_groups():
    data = example()
    data["groups"]["leaders"] = {"tiers": [["lead-sms"]]}
    settings = NotificationSettings.model_validate(data)
    assert groups_for(settings, fault(UPS, heightened=True), ["leaders"]) == ["video-oncall", "leaders"]
    assert groups_for(settings, fault(UPS), ["leaders"]) == ["video-oncall"]


def test_channels_of_tiers():
    settings = NotificationSettings.model_validate(example())
    assert channels_of(settings, ["network-oncall", "video-oncall"], [1]) == ["wecom-net", "oncall-mail", "tickets"]
    assert channels_of(settings, ["network-oncall", "video-oncall"], [2]) == ["lead-sms"]
