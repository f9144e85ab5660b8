"""Delivery to one channel: apprise (e-mail, WeCom, DingTalk, Feishu, SMS gateways, ...) or a
plain JSON webhook. Each `send` is one attempt; retries, rate limits and records belong to
the dispatcher.

Secrets: apprise URLs hold passwords and tokens, and apprise logs (its own masking still
shows the first and last characters of a password, and its TRACE lines print whole URLs).
Every apprise URL this process knows is registered with a filter on the `apprise` logger
that replaces each secret part with `***` before any handler sees the record, and that
logger is kept at WARNING. Errors returned from `send` are built here from status codes
and exception classes, never from a URL or a header.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator, Optional, Protocol
from urllib.parse import parse_qsl, unquote, urlsplit

import aiohttp

from monitor.notify.message import Message, iso
from monitor.problems import did_you_mean

if TYPE_CHECKING:  # annotations only: the settings import this module to check an apprise URL
    from monitor.notify.settings import ChannelSettings, WebhookSettings

log = logging.getLogger(__name__)

_MIN_SECRET_LEN = 4  # shorter parts ("to", "1") would blank out ordinary words in log lines
_MAIL_SCHEMES = frozenset({"mailto", "mailtos"})
_SCHEME = re.compile(r"\s*([A-Za-z][A-Za-z0-9+.-]*)://")


@dataclass(frozen=True, slots=True)
class Delivery:
    """The outcome of one attempt. `error` is for logs and the sent-log: it never holds a secret.
    `permanent`: retrying cannot help (e.g. HTTP 400), so the message is recorded as failed."""

    ok: bool
    error: str = ""
    permanent: bool = False


class Channel(Protocol):
    name: str

    async def send(self, message: Message) -> Delivery: ...

    async def close(self) -> None: ...


# ----------------------------------------------------------------------------- keeping secrets out of logs

class _SecretScrubber(logging.Filter):
    """Replaces registered secret fragments in apprise's log records; drops records entirely
    while a thread parses a URL only to validate it (we word that problem ourselves)."""

    def __init__(self) -> None:
        super().__init__()
        self._fragments: tuple[str, ...] = ()
        self._lock = threading.Lock()
        self._quiet = threading.local()

    def add(self, fragments: set[str]) -> None:
        with self._lock:
            # Longest first: a whole URL is replaced before its parts are.
            self._fragments = tuple(sorted(set(self._fragments) | fragments, key=len, reverse=True))

    def scrub(self, text: str) -> str:
        for fragment in self._fragments:
            if fragment in text:
                text = text.replace(fragment, "***")
        return text

    @contextlib.contextmanager
    def quiet(self) -> Iterator[None]:
        self._quiet.depth = getattr(self._quiet, "depth", 0) + 1
        try:
            yield
        finally:
            self._quiet.depth -= 1

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(self._quiet, "depth", 0):
            return False
        message = record.getMessage()
        scrubbed = self.scrub(message)
        if scrubbed != message:
            record.msg, record.args = scrubbed, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = self.scrub(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = self.scrub(record.exc_text)
        return True


_SCRUBBER = _SecretScrubber()
_installed = False


def _install_scrubber() -> None:
    global _installed
    if not _installed:
        apprise_log = logging.getLogger("apprise")
        apprise_log.addFilter(_SCRUBBER)
        # DEBUG and TRACE lines dump parsed URLs; failures come at WARNING and above.
        apprise_log.setLevel(logging.WARNING)
        _installed = True


def secret_fragments(url: str) -> set[str]:
    """The parts of an apprise URL that may be secret: user, password, token-like host, path
    segments, query values, and the URL itself (plain and percent-decoded)."""
    fragments = {url, unquote(url)}
    try:
        parts = urlsplit(url)
        candidates = [parts.username, parts.password, parts.netloc.rsplit("@", 1)[0] if "@" in parts.netloc else None]
        host = parts.hostname or ""
        if host and "." not in host and ":" not in host and host != "localhost":
            candidates.append(host)  # wecombot://KEY: the "host" is the token; real host names have dots
        candidates += parts.path.split("/")
        candidates += [value for _, value in parse_qsl(parts.query, keep_blank_values=False)]
        candidates.append(parts.query)
    except ValueError:  # an unparsable URL: the whole of it is all we can register
        candidates = []
    for candidate in candidates:
        if candidate:
            fragments |= {candidate, unquote(candidate)}
    return {fragment for fragment in fragments if len(fragment) >= _MIN_SECRET_LEN}


def scrub(text: str) -> str:
    """Text with every registered secret fragment replaced by `***` (a last line of defence)."""
    return _SCRUBBER.scrub(text)


# ----------------------------------------------------------------------------- apprise

def _scheme(url: str) -> Optional[str]:
    found = _SCHEME.match(url)
    return found.group(1).lower() if found else None


def apprise_url_problem(url: str) -> Optional[str]:
    """A sentence when apprise cannot use `url` (naming the scheme only: the URL holds secrets), else None."""
    _install_scrubber()
    _SCRUBBER.add(secret_fragments(url))
    scheme = _scheme(url)
    if scheme is None:
        return "is not an apprise URL (service://...); the value is not shown because it may hold secrets"
    if _instantiate(url) is not None:
        return None
    from apprise.apprise import N_MGR

    schemes = sorted(N_MGR.schemas())
    if scheme not in schemes and scheme not in ("http", "https"):
        return (f"apprise has no service '{scheme}://'{did_you_mean(scheme, schemes)}; "
                f"see the apprise documentation for the services it supports")
    return (f"apprise cannot use this {scheme}:// URL (not shown: it holds secrets); check it against apprise's "
            f"documentation of {scheme}://, e.g. with `apprise -vv --dry-run URL`")


def _instantiate(url: str):
    import apprise

    with _SCRUBBER.quiet():
        return apprise.Apprise.instantiate(url.strip(), asset=apprise.AppriseAsset(secure_logging=True))


class AppriseChannel:
    """Any service apprise supports, by URL."""

    def __init__(self, name: str, url: str, timeout_s: float) -> None:
        import apprise

        _install_scrubber()
        _SCRUBBER.add(secret_fragments(url))
        self.name = name
        self.timeout_s = timeout_s
        self.scheme = _scheme(url) or "?"
        self._apprise = apprise.Apprise(asset=apprise.AppriseAsset(secure_logging=True))
        plugin = _instantiate(url)
        # Added as an object, not as text: Apprise.add() would split a URL at its commas
        # (mailto://...?to=a@x,b@y), turning one channel into several broken ones.
        self._usable = plugin is not None
        self._attachments = self.scheme in _MAIL_SCHEMES and bool(getattr(plugin, "attachment_support", False))
        if plugin is not None:
            # apprise sleeps (in its worker thread) up to 5.5 s between two messages of one
            # service by default; the channel's rate_limit does that job here, and a second
            # alert must not wait behind the first.
            plugin.request_rate_per_sec = 0
            self._apprise.add(plugin)

    async def send(self, message: Message) -> Delivery:
        if not self._usable:
            return Delivery(False, f"apprise cannot use this channel's {self.scheme}:// URL", permanent=True)
        from apprise import NotifyFormat

        try:
            # apprise runs blocking services (SMTP, ...) in its own threads; the outer
            # timeout bounds a service that ignores apprise's own deadline.
            # Files go by e-mail only: chat services that take attachments (WeCom, DingTalk, a
            # json:// hook) would get a workbook they cannot show; they get the summary and paths.
            attach = list(message.attachments) if message.attachments and self._attachments else None
            result = await asyncio.wait_for(
                self._apprise.async_notify(body=message.text, title=message.title, body_format=NotifyFormat.TEXT,
                                           timeout=self.timeout_s, attach=attach),
                self.timeout_s + 5)
        except asyncio.TimeoutError:
            return Delivery(False, f"no answer within {self.timeout_s:g} s")
        except Exception as exc:  # noqa: BLE001 - a plugin bug must not stop the sender
            return Delivery(False, scrub(f"apprise failed: {type(exc).__name__}"))
        if result:
            return Delivery(True)
        return Delivery(False, self._why(result))

    def _why(self, result) -> str:
        status = getattr(getattr(result, "status", None), "name", "FAILURE").lower()
        reason = ""
        try:
            entries = [entry for entry in result.logs() if entry.level in ("WARNING", "ERROR", "CRITICAL")]
            if entries:
                reason = entries[-1].message.strip().splitlines()[0][:200]
        except Exception:  # noqa: BLE001 - the reason is a courtesy; the status is enough
            reason = ""
        text = f"{self.scheme}:// delivery {status}" + (f": {reason}" if reason else "")
        return scrub(text)

    async def close(self) -> None:
        return None


# ----------------------------------------------------------------------------- plain webhook

class WebhookChannel:
    """POST of the documented JSON body (monitor.notify.message). 2xx: delivered; 408, 429, 5xx,
    timeouts and connection errors: retried; any other 4xx: the receiver refuses this message,
    so it is recorded as failed instead of retried for hours."""

    def __init__(self, name: str, settings: WebhookSettings, timeout_s: float) -> None:
        self.name = name
        self.settings = settings
        self.timeout_s = timeout_s
        self._session: Optional[aiohttp.ClientSession] = None

    async def send(self, message: Message) -> Delivery:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        body = dict(message.payload, sent_at=iso(time.time()))
        headers = {"User-Agent": "netvigil"}
        headers.update({key: value.get_secret_value() for key, value in self.settings.headers.items()})
        try:
            async with self._session.post(self.settings.url, json=body, headers=headers,
                                          timeout=aiohttp.ClientTimeout(total=self.timeout_s),
                                          ssl=None if self.settings.verify_tls else False) as response:
                status, reason = response.status, response.reason or ""
                await response.read()
        except asyncio.TimeoutError:
            return Delivery(False, f"no answer within {self.timeout_s:g} s")
        except aiohttp.ClientConnectorError as exc:
            return Delivery(False, f"cannot connect: {exc.os_error.strerror or type(exc.os_error).__name__}")
        except aiohttp.ClientError as exc:
            return Delivery(False, f"HTTP request failed: {type(exc).__name__}")
        except (ValueError, OSError) as exc:  # e.g. a header value with a newline; never quote it
            return Delivery(False, f"the request could not be built or sent: {type(exc).__name__}; check the "
                                   f"channel's url and headers", permanent=True)
        if 200 <= status < 300:
            return Delivery(True)
        if 400 <= status < 500 and status not in (408, 429):
            return Delivery(False, f"HTTP {status} {reason}".strip() + " (refused by the receiver; not retried)",
                            permanent=True)
        return Delivery(False, f"HTTP {status} {reason}".strip())

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class UnusableChannel:
    """A channel whose URL is not set (meant to come from a secret file this process lacks)."""

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = reason

    async def send(self, message: Message) -> Delivery:
        return Delivery(False, self.reason, permanent=True)

    async def close(self) -> None:
        return None


def build(name: str, settings: ChannelSettings) -> Channel:
    """The channel object for one `notifications.channels` entry."""
    if settings.webhook is not None:
        return WebhookChannel(name, settings.webhook, settings.timeout_s)
    if settings.apprise is not None:
        return AppriseChannel(name, settings.apprise.get_secret_value(), settings.timeout_s)
    return UnusableChannel(name, f"no apprise URL set (secret file notifications__channels__{name}__apprise)")
