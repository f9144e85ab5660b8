"""Dead man's switch (`heartbeat:` in the settings): the daemon tells outside parties it is alive.

Every `interval_s` the daemon calls each target URL (GET or POST), the way healthchecks.io
checks, Uptime Kuma push monitors and an Alertmanager-style Watchdog receiver expect; the
outside party alarms when the calls stop. A dead server, a killed or hung daemon, a lost
network path and a stalled scheduler all look the same from outside: no beat.

What "healthy" means (a beat is sent only then), kept simple so that a beat is honest:
- the beat is sent from the daemon's own event loop, so a blocked loop sends nothing;
- the scheduler is running (not paused, not stopping);
- every probe kind that has jobs started a run within twice its longest interval (plus 30 s): runs that hang and hold every slot of a kind, or a scheduler that fires
  nothing, withhold the beat (monitor.scheduler.ProbeScheduler.stalled).
Outputs are not part of it: an InfluxDB that is down is already measured (`netvigil_output`)
and spooled, and the monitor still probes and alerts meanwhile.

Failures (an error status, a timeout, a refused connection) are logged once per outage per
target, and again once when beats get through again; every beat is counted in the
`netvigil_heartbeat` self-metrics. URLs may carry a token (healthchecks.io's UUID, Uptime
Kuma's push token), so the URL and header values are secrets: logs, status and errors show a
target by its name and its scheme://host only.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import socket
import string
import time
from dataclasses import dataclass
from typing import Callable, Literal, Optional
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from monitor.i18n import N_, _
from monitor.urls import checked_http_url

log = logging.getLogger("netvigil.heartbeat")

_NAME_CHARS = set(string.ascii_lowercase + string.digits + "_.-")

# The sentence a receiver that shows a message (an Alertmanager-style receiver, a chat hook) gets.
TEXT = {"alive": N_("netvigil on {host} is alive: {devices} devices, {down} down, {faults} open faults")}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def shown_url(url: str) -> str:
    """What logs and status show of a target URL: scheme and host, never the path or query
    (healthchecks.io and Uptime Kuma put the token there)."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}/…"


class TargetSettings(_Strict):
    """One outside party told the daemon is alive."""

    url: Optional[SecretStr] = Field(
        None, description="http:// or https:// URL called every beat (secret: it may carry a token), e.g. "
                          "https://hc-ping.com/UUID or https://kuma.example/api/push/TOKEN?status=up; null: from a "
                          "secret file named heartbeat__targets__NAME__url")
    method: Literal["GET", "POST"] = Field(
        "GET", description="GET (healthchecks.io, Uptime Kuma push) or POST (a JSON body: status, host, devices, "
                           "down, open faults and a sentence; Alertmanager-style receivers)")
    timeout_s: float = Field(10.0, gt=0, le=300, description="longest one call may take; longer counts as failed")
    headers: dict[str, SecretStr] = Field({}, description="extra HTTP headers, e.g. Authorization (values are secret)")
    verify_tls: bool = Field(True, description="check the server's TLS certificate")

    @field_validator("url")
    @classmethod
    def _url(cls, url: Optional[SecretStr]) -> Optional[SecretStr]:
        if url is None:
            return url
        # The URL is a secret here (it may carry the token), so it is not logged.
        checked_http_url(url.get_secret_value(), "https://hc-ping.com/UUID",
                         "send credentials in headers (a secret), e.g. Authorization", logged=False)
        return url


class HeartbeatSettings(_Strict):
    """The dead man's switch: targets called while the daemon is healthy (docs/operations.md)."""

    interval_s: float = Field(60.0, ge=1, le=86_400, description="seconds between beats; set the outside party's "
                                                                 "period to this and its grace to 2-3 beats")
    targets: dict[str, TargetSettings] = Field({}, description="outside parties by name (lower-case letters, "
                                                               "digits, _ . -); {}: no heartbeat")

    @field_validator("targets")
    @classmethod
    def _names(cls, targets: dict[str, TargetSettings]) -> dict[str, TargetSettings]:
        for name in targets:
            if not name or not set(name) <= _NAME_CHARS or name[0] in "_.-":
                raise ValueError(f"target name {name!r}: use lower-case letters, digits, '_', '.' and '-' "
                                 f"(starting with a letter or digit), e.g. healthchecks")
        return targets


def missing_secrets(settings: HeartbeatSettings) -> list[str]:
    """One sentence per target without a URL (meant to come from a secret file this process does not see)."""
    return [f"heartbeat.targets.{name}.url: not set; put the URL in a secret file named heartbeat__targets__{name}__url "
            f"($CREDENTIALS_DIRECTORY via the unit's LoadCredential=, or secrets_dir)"
            for name, target in sorted(settings.targets.items()) if target.url is None]


@dataclass
class TargetStats:
    """Counts of one target, exported as `netvigil_heartbeat`."""

    sent_total: int = 0
    failed_total: int = 0
    withheld_total: int = 0  # beats not sent because the daemon was not healthy
    ok: bool = False  # the last call got a 2xx
    last_error: str = ""


class Heartbeat:
    """The beat loop. `settings()` is read every beat (a reload takes effect at the next beat);
    `unhealthy()` returns a reason, or None when the daemon is healthy; `facts()` the figures of
    the POST body."""

    def __init__(self, settings: Callable[[], HeartbeatSettings], unhealthy: Callable[[], Optional[str]],
                 facts: Callable[[], dict]) -> None:
        self._settings = settings
        self._unhealthy = unhealthy
        self._facts = facts
        self.stats: dict[str, TargetStats] = {}
        self._withholding: Optional[str] = None

    async def run(self) -> None:
        import aiohttp  # the daemon already has it for the API; `check` need not import it

        async with aiohttp.ClientSession() as session:
            while True:
                settings = self._settings()
                started = time.monotonic()
                if settings.targets:
                    try:
                        await self.beat(session, settings)
                    except Exception:  # noqa: BLE001 - a bug here must not end the beats for good
                        log.exception("heartbeat: a beat failed")
                await asyncio.sleep(max(0.0, settings.interval_s - (time.monotonic() - started)))

    async def beat(self, session, settings: HeartbeatSettings) -> None:
        for name in list(self.stats):
            if name not in settings.targets:
                del self.stats[name]
        targets = {name: t for name, t in settings.targets.items() if t.url is not None}
        for name in targets:
            self.stats.setdefault(name, TargetStats())
        reason = self._unhealthy()
        if reason is not None:
            if self._withholding is None:
                log.error("heartbeat withheld: %s; the outside parties will notice the missing beats", reason)
            self._withholding = reason
            for name in targets:
                self.stats[name].withheld_total += 1
            return
        if self._withholding is not None:
            log.info("heartbeat resumed: the daemon is healthy again")
            self._withholding = None
        body = self._body()
        await asyncio.gather(*(self._call(session, name, target, body) for name, target in targets.items()))

    def _body(self) -> dict:
        facts = self._facts()
        host = socket.gethostname()
        return {"status": "alive", "service": "netvigil", "host": host,
                "time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), **facts,
                "summary": _(TEXT["alive"]).format(host=host, **facts)}

    async def _call(self, session, name: str, target: TargetSettings, body: dict) -> None:
        import aiohttp

        stats = self.stats[name]
        url = target.url.get_secret_value()
        headers = {key: value.get_secret_value() for key, value in target.headers.items()}
        stats.sent_total += 1
        try:
            async with session.request(target.method, url, headers=headers,
                                       json=body if target.method == "POST" else None,
                                       ssl=None if target.verify_tls else False,
                                       timeout=aiohttp.ClientTimeout(total=target.timeout_s)) as response:
                await response.read()
                error = None if 200 <= response.status < 300 else f"HTTP {response.status}"
        except asyncio.TimeoutError:
            error = f"no answer within {target.timeout_s:g} s"
        except aiohttp.ClientError as exc:
            # The exception's text may repeat the URL (and its token): name the kind of failure only.
            error = _client_error(exc)
        except (ValueError, OSError) as exc:  # e.g. a header value with a line break; the text may hold it
            error = type(exc).__name__
        if error is None:
            if not stats.ok and stats.failed_total:
                log.info("heartbeat %s (%s): delivered again", name, shown_url(url))
            stats.ok, stats.last_error = True, ""
            return
        stats.failed_total += 1
        if stats.ok or not stats.last_error:
            log.warning("heartbeat %s (%s): failed: %s; logged once until a beat gets through again",
                        name, shown_url(url), error)
        stats.ok, stats.last_error = False, error

    def samples(self, now_ns: int) -> list:
        from probes.base import Sample

        return [Sample("netvigil_heartbeat", {"target": name}, {
            "sent_total": s.sent_total, "failed_total": s.failed_total, "withheld_total": s.withheld_total,
            "ok": int(s.ok)}, now_ns) for name, s in sorted(self.stats.items())]

    def status(self) -> dict:
        """For `status --json` and the API: counts and the last error per target (no URL, no header)."""
        return {name: {"ok": s.ok, "sent_total": s.sent_total, "failed_total": s.failed_total,
                       "withheld_total": s.withheld_total, "last_error": s.last_error}
                for name, s in sorted(self.stats.items())}


def _client_error(exc: Exception) -> str:
    import aiohttp

    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return "TLS certificate not trusted"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"cannot connect ({exc.os_error.strerror or type(exc.os_error).__name__})"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the server closed the connection"
    return type(exc).__name__
