"""The one check of an http(s) URL a setting names (outputs, notification webhooks, heartbeat)."""

from __future__ import annotations

from urllib.parse import urlsplit


def checked_http_url(url: str, example: str, credentials: str, logged: bool = True) -> str:
    """`url` if it is http:// or https:// with a host, a numeric port if any, and no user name
    or password; else a ValueError whose sentence gives `example` and says where credentials go
    (`credentials`, e.g. "use outputs.influxdb.token"). `logged`: the URL is shown in logs and
    `status`, which is why a password must not be in it."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"must be an http:// or https:// URL with a host, e.g. {example}")
    if parts.username or parts.password:
        because = " (URLs are logged)" if logged else ""
        raise ValueError(f"must not contain a user name or password{because}; {credentials}")
    return url
