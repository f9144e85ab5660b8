"""Settings of notifications (composed by monitor.config under `notifications:`).

Channels say how to reach someone (an apprise URL, or a plain JSON webhook); groups are
on-call rotas made of tiers of channels; routes pick groups by severity and by what the
device is (site, class, tags, name). Every reference (route -> group -> channel) is checked
here, so a typo is a configuration problem naming its key, not a silently lost alert.

Secrets: an apprise URL carries passwords and tokens, and webhook header values carry API
keys; both are `SecretStr` and may come from secret files named by key path
(`notifications__channels__oncall-mail__apprise`) like every other secret of the project.
A secret that is not set is not a validation error (`check` runs without the unit's
$CREDENTIALS_DIRECTORY): `missing_secrets()` says what is absent.
"""

from __future__ import annotations

import string
from typing import Any, Collection, Optional

from pydantic import (BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator,
                      model_validator)
from pydantic_core import InitErrorDetails, PydanticCustomError

from monitor.faults.model import Selector, check_severities
from monitor.problems import did_you_mean
from monitor.urls import checked_http_url

# Lower case only: environment variable names and secret file names reach pydantic-settings
# lower-cased, so a channel called `OnCall` could never get its URL from either.
_NAME_CHARS = set(string.ascii_lowercase + string.digits + "_.-")
DEFAULT_ACK_HINT = "netvigil ack {id} --by NAME"


def _check_name(kind: str, name: str) -> None:
    if not name or not set(name) <= _NAME_CHARS or name[0] in "_.-":
        raise ValueError(f"{kind} name {name!r}: use lower-case letters, digits, '_', '.' and '-' "
                         f"(starting with a letter or digit), e.g. oncall-mail")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WebhookSettings(_Strict):
    """A plain HTTP POST of the documented JSON body (monitor.notify.message), for ticket systems."""

    url: str = Field(..., description="http:// or https:// URL the JSON body is POSTed to; no password in it "
                                      "(URLs are logged): put tokens in `headers`")
    headers: dict[str, SecretStr] = Field({}, description="extra HTTP headers, e.g. Authorization (values are "
                                                          "secret)")
    verify_tls: bool = Field(True, description="check the server's TLS certificate")

    @field_validator("url")
    @classmethod
    def _url(cls, url: str) -> str:
        return checked_http_url(url, "http://tickets.example/hook",
                                "send credentials in webhook.headers (a secret), e.g. Authorization")


class RateLimitSettings(_Strict):
    messages: int = Field(30, ge=1, le=100_000, description="at most this many messages per channel ...")
    per_s: float = Field(60.0, gt=0, le=86_400, description="... within this many seconds; the excess is folded "
                                                             "into one summary sent when the limit allows")


class ChannelSettings(_Strict):
    """One way to reach people: exactly one of `apprise` or `webhook`."""

    apprise: Optional[SecretStr] = Field(
        None, description="apprise URL (secret: it carries passwords and tokens), e.g. "
                          "mailto://user:pass@smtp.example?to=noc@example.org, wecombot://KEY, dingtalk://TOKEN, "
                          "feishu://TOKEN, json://host/path; see the apprise wiki for every service")
    webhook: Optional[WebhookSettings] = Field(None, description="plain JSON webhook (documented body)")
    timeout_s: float = Field(30.0, gt=0, le=600, description="longest one delivery attempt may take")
    rate_limit: Optional[RateLimitSettings] = Field(None, description="null: notifications.rate_limit")

    @field_validator("apprise")
    @classmethod
    def _apprise_url(cls, url: Optional[SecretStr]) -> Optional[SecretStr]:
        if url is not None:
            from monitor.notify.channels import apprise_url_problem  # apprise is heavy: only when used

            problem = apprise_url_problem(url.get_secret_value())
            if problem:
                raise ValueError(problem)
        return url

    @model_validator(mode="after")
    def _one_kind(self) -> "ChannelSettings":
        if self.apprise is not None and self.webhook is not None:
            raise ValueError("give either apprise or webhook, not both (make two channels to use both)")
        return self

    @property
    def kind(self) -> str:
        return "webhook" if self.webhook is not None else "apprise"


class GroupSettings(_Strict):
    """An on-call group: tier 1 is told at once, tier 2 too when tier 1 did not acknowledge in time, ..."""

    tiers: list[list[str]] = Field(..., min_length=1, description="tiers of channel names, e.g. "
                                                                  "[[wecom-net, oncall-mail], [lead-sms]]")

    @field_validator("tiers", mode="before")
    @classmethod
    def _tier_lists(cls, value: Any) -> Any:
        # `tiers: [oncall-mail]` means one tier with one channel, as people tend to write it.
        if isinstance(value, list):
            return [[tier] if isinstance(tier, str) else tier for tier in value]
        return value

    @field_validator("tiers")
    @classmethod
    def _no_empty_tier(cls, tiers: list[list[str]]) -> list[list[str]]:
        for index, tier in enumerate(tiers):
            if not tier:
                raise ValueError(f"tier {index + 1} is empty; list at least one channel in every tier")
        return tiers


class RouteSettings(_Strict):
    """Which groups hear about a fault. Routes are tried in order; the first that matches wins
    unless it says `continue: true`."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    match: Selector = Field(Selector(), description="devices this route applies to (empty: every device)")
    severities: list[str] = Field([], description="severities this route applies to (empty: every severity)")
    groups: list[str] = Field(..., min_length=1, description="on-call groups told")
    continue_: bool = Field(False, alias="continue", description="also try the routes after this one")

    @field_validator("severities", "groups", mode="before")
    @classmethod
    def _one_or_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("severities")
    @classmethod
    def _severities(cls, value: list[str]) -> list[str]:
        return check_severities(value)


class RetrySettings(_Strict):
    attempts: int = Field(10, ge=1, le=1000, description="delivery attempts per message before it is recorded "
                                                         "as failed")
    initial_backoff_s: float = Field(5.0, gt=0, le=3600, description="wait before the first retry; doubles with "
                                                                     "each attempt, with jitter")
    max_backoff_s: float = Field(600.0, gt=0, le=86_400, description="longest wait between two attempts")


class NotificationSettings(_Strict):
    """Where alerts go, how they are grouped, repeated and escalated (see config/netvigil.yaml)."""

    channels: dict[str, ChannelSettings] = Field({}, description="channel name -> one channel")
    groups: dict[str, GroupSettings] = Field({}, description="on-call group name -> its tiers of channels")
    routes: list[RouteSettings] = Field([], description="routes tried in order; the first match wins unless "
                                                        "`continue: true`")
    default_groups: list[str] = Field([], description="groups told when no route matches")
    group_wait_s: float = Field(5.0, ge=0, le=60, description="faults opening at one site within this window "
                                                              "become one message")
    repeat_s: float = Field(1800.0, ge=0, description="repeat to the current tier while unacknowledged "
                                                      "(0: never)")
    escalate_after_s: Optional[float] = Field(
        None, gt=0, description="tell the next tier when unacknowledged this long after opening (and again after "
                                "as long for each further tier); null: the fault's acknowledge deadline (SLA)")
    send_resolved: bool = Field(True, description="tell every channel that heard of a fault when it resolves")
    rate_limit: RateLimitSettings = Field(RateLimitSettings(), description="per channel")
    retry: RetrySettings = Field(RetrySettings(), description="delivery retries with exponential backoff")
    ack_hint: str = Field(DEFAULT_ACK_HINT, description="how to acknowledge, shown in every message; {id} is the "
                                                        "fault id")

    @field_validator("channels", "groups")
    @classmethod
    def _names(cls, value: dict, info) -> dict:
        for name in value:
            _check_name(info.field_name[:-1], name)
        return value

    @field_validator("default_groups", mode="before")
    @classmethod
    def _one_or_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("ack_hint")
    @classmethod
    def _ack_hint(cls, value: str) -> str:
        try:
            value.format(id=1)
        except (KeyError, IndexError, ValueError):
            raise ValueError("only the placeholder {id} is available (write {{ and }} for literal braces), "
                             "e.g. 'netvigil ack {id} --by NAME'") from None
        return value

    @model_validator(mode="wrap")
    @classmethod
    def _references(cls, data: Any, handler) -> "NotificationSettings":
        # Wrapped, and read from the raw input, so a typo in a reference is reported together
        # with every other problem of this section, not only after those are fixed.
        references = _reference_errors(data) if isinstance(data, dict) else []
        try:
            settings = handler(data)
        except ValidationError as exc:
            if not references:
                raise
            try:
                kept = [InitErrorDetails(type=e["type"], loc=e["loc"], input=e["input"],
                                         **({"ctx": e["ctx"]} if "ctx" in e else {})) for e in exc.errors()]
                combined = ValidationError.from_exception_data(cls.__name__, kept + references)
            except (KeyError, TypeError, ValueError):  # an error type that cannot be rebuilt: report the first lot
                raise exc from None
            raise combined from None
        if references:
            raise ValidationError.from_exception_data(cls.__name__, references)
        return settings

    def rate_limit_for(self, channel: str) -> RateLimitSettings:
        own = self.channels[channel].rate_limit if channel in self.channels else None
        return own or self.rate_limit


def _reference_errors(data: dict) -> list[InitErrorDetails]:
    """Unknown channels in groups and unknown groups in routes, from the raw (unvalidated) input."""
    def names(value: Any) -> list[str]:
        return [str(name) for name in value] if isinstance(value, dict) else []

    def listed(value: Any) -> list:
        return [value] if isinstance(value, str) else value if isinstance(value, list) else []

    channels, groups = names(data.get("channels")), names(data.get("groups"))
    errors: list[InitErrorDetails] = []

    def check(loc: tuple, kind: str, name: Any, known: list[str], where_defined: str) -> None:
        if not isinstance(name, str) or name in known:
            return  # a wrong type is reported by validation itself
        hint = did_you_mean(name, sorted(known)) or (f" (known: {', '.join(sorted(known))})" if known
                                                     else f"; define it under {where_defined}")
        errors.append(_value_error(loc, name, f"unknown {kind} '{name}'{hint}"))

    for group, settings in (data.get("groups") or {}).items() if isinstance(data.get("groups"), dict) else ():
        tiers = settings.get("tiers") if isinstance(settings, dict) else None
        for t, tier in enumerate(listed(tiers)):
            for c, channel in enumerate(listed(tier)):
                loc = ("groups", group, "tiers", t) + (() if isinstance(tier, str) else (c,))
                check(loc, "channel", channel, channels, "notifications.channels")
    for r, route in enumerate(listed(data.get("routes"))):
        if isinstance(route, dict):
            for g, group in enumerate(listed(route.get("groups"))):
                loc = ("routes", r, "groups") + (() if isinstance(route.get("groups"), str) else (g,))
                check(loc, "group", group, groups, "notifications.groups")
    default = data.get("default_groups")
    for g, group in enumerate(listed(default)):
        check(("default_groups",) + (() if isinstance(default, str) else (g,)), "group", group, groups,
              "notifications.groups")
    return errors


def _value_error(loc: tuple, value: Any, message: str) -> InitErrorDetails:
    # type "value_error" with ctx.error: monitor.problems.describe_error prints the sentence as is.
    return InitErrorDetails(type=PydanticCustomError("value_error", "{error}", {"error": message}),
                            loc=loc, input=value)


# ----------------------------------------------------------------------------- checks needing more

def missing_secrets(settings: NotificationSettings) -> list[str]:
    """One sentence per channel that has neither an apprise URL nor a webhook (its URL is meant
    to come from a secret file that this process does not see)."""
    sentences = []
    for name, channel in sorted(settings.channels.items()):
        if channel.apprise is None and channel.webhook is None:
            sentences.append(
                f"notifications.channels.{name}.apprise: not set; put the apprise URL in a secret file named "
                f"notifications__channels__{name}__apprise ($CREDENTIALS_DIRECTORY via the unit's LoadCredential=, "
                f"or secrets_dir), or give the channel a webhook")
    return sentences


def unknown_group_problems(settings: NotificationSettings, names: Collection[str], key: str) -> list[str]:
    """Sentences for group names used outside this section (e.g. heightened_watch.extra_groups)."""
    return [f"{key}[{index}]: unknown notification group '{name}'{did_you_mean(name, sorted(settings.groups))}"
            for index, name in enumerate(names) if name not in settings.groups]


def route_problems(settings: NotificationSettings, *, sites: Collection[str], classes: Collection[str]) -> list[str]:
    """Sentences for routes whose match names a site or class the inventory does not have: such a
    route would silently never match, and its faults would go to the default groups."""
    problems = []
    for r, route in enumerate(settings.routes):
        for key, word, known, values in (("sites", "site", sites, route.match.sites),
                                         ("classes", "class", classes, route.match.classes)):
            for index, value in enumerate(values):
                if value not in known:
                    problems.append(f"notifications.routes[{r}].match.{key}[{index}]: unknown {word} '{value}'"
                                    f"{did_you_mean(value, sorted(known))}")
    return problems
