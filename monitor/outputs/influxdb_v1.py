"""Transport of the `influxdb_v1` output: POST {url}/write of InfluxDB 1.x, with aiohttp.

influxdb-client cannot talk to 1.x before 1.8 (1.6.7 answers 404 on every /api/v2 route), and
many NOCs still run 1.x. Credentials go in a basic-auth header, never in the query string, so
they cannot end up in a proxy's access log or in an error message that quotes the URL.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
from typing import Optional

import aiohttp

from monitor.outputs.settings import InfluxDBv1Settings
from monitor.outputs.writer import ErrorKind, WriteError, error_for_status

_MAX_MESSAGE = 64 * 1024  # error_for_status removes quoted lines and cuts it much shorter


class InfluxDBv1Transport:
    name = "influxdb_v1"

    def __init__(self, settings: InfluxDBv1Settings) -> None:
        self._settings = settings
        self._session: Optional[aiohttp.ClientSession] = None
        self._endpoint = settings.url.rstrip("/") + "/write"
        self._params = {"db": settings.database, "precision": "ns"}
        if settings.retention_policy:
            self._params["rp"] = settings.retention_policy
        self._headers = {"Content-Type": "text/plain; charset=utf-8"}
        password = settings.password.get_secret_value()
        self.secrets: tuple[str, ...] = (password,) if password else ()
        if settings.username:
            # Built by hand: aiohttp 3.14 deprecates BasicAuth, and pyproject allows >= 3.9.
            encoded = base64.b64encode(f"{settings.username}:{password}".encode()).decode()
            self._headers["Authorization"] = f"Basic {encoded}"
            # The base64 form is a secret too: it is what would leak if a header were logged.
            self.secrets += (encoded,)

    async def open(self) -> None:
        self._session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self._settings.timeout_s),
            connector=aiohttp.TCPConnector(ssl=True if self._settings.verify_tls else False))

    async def write(self, body: bytes) -> None:
        s = self._settings
        headers = self._headers
        if s.gzip:
            # Level 1: ~5x smaller for a few ms per 5,000 points; level 9 costs several
            # times the CPU for a few per cent more on this repetitive text.
            body = gzip.compress(body, compresslevel=1)
            headers = {**headers, "Content-Encoding": "gzip"}
        try:
            async with self._session.post(self._endpoint, params=self._params, data=body,
                                          headers=headers) as response:
                if 200 <= response.status < 300:
                    return
                text = await response.text(errors="replace")
                raise error_for_status(
                    response.status, _server_message(text, response.headers),
                    response.headers.get("Retry-After"),
                    auth_hint="outputs.influxdb_v1.username and outputs.influxdb_v1.password",
                    not_found_hint=f"database '{s.database}' does not exist: create it "
                                   f"(CREATE DATABASE \"{s.database}\") or fix outputs.influxdb_v1.database")
        except asyncio.TimeoutError:
            raise WriteError(ErrorKind.RETRY, f"no answer from {s.url} within {s.timeout_s:g} s") from None
        except (aiohttp.ClientError, OSError) as error:
            raise WriteError(ErrorKind.RETRY, f"{s.url}: {type(error).__name__}: {error}") from None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _server_message(text: str, headers) -> str:
    """The `error` of a 1.x JSON answer, else its X-Influxdb-Error header, else the raw text."""
    try:
        message = json.loads(text)["error"]
    except (ValueError, KeyError, TypeError):
        message = headers.get("X-Influxdb-Error") or text
    return str(message).strip()[:_MAX_MESSAGE]
