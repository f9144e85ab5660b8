"""Transport of the `influxdb` output: /api/v2/write through influxdb-client's async API.

Works with InfluxDB 2.x / 3.x and anything that speaks /api/v2/write (VictoriaMetrics).
Bodies arrive already encoded (monitor.lineproto) and are passed as `record` bytes, so the
client only adds auth, gzip and the HTTP round trip. Its exceptions become WriteErrors:

  ApiException 401/403 -> AUTH (fix outputs.influxdb.token)   404 -> NOT_FOUND (bucket)
  ApiException 413 -> TOO_LARGE   400/422 -> REJECTED   429/5xx/other -> RETRY (Retry-After)
  aiohttp.ClientError, asyncio.TimeoutError, OSError -> RETRY
"""

from __future__ import annotations

import asyncio
from typing import Optional

import aiohttp
from influxdb_client import WritePrecision
from influxdb_client.client.exceptions import InfluxDBError
from influxdb_client.client.influxdb_client_async import InfluxDBClientAsync

from monitor.outputs.settings import InfluxDBv2Settings
from monitor.outputs.writer import (MAX_SERVER_MESSAGE, ErrorKind, WriteError, error_for_status,
                                   without_quoted_lines)

# Read this much of an error answer: error_for_status removes the quoted lines from it and
# cuts it to MAX_SERVER_MESSAGE, so a proxy's HTML error page cannot flood the log.
_MAX_MESSAGE = 64 * 1024


class InfluxDBv2Transport:
    name = "influxdb"

    def __init__(self, settings: InfluxDBv2Settings) -> None:
        self._settings = settings
        self.secrets = (settings.token.get_secret_value(),)
        self._client: Optional[InfluxDBClientAsync] = None

    async def open(self) -> None:
        # The async client must be created inside a running event loop, hence not in __init__.
        s = self._settings
        self._client = InfluxDBClientAsync(
            url=s.url, token=s.token.get_secret_value(), org=s.org, enable_gzip=s.gzip,
            timeout=int(s.timeout_s * 1000), verify_ssl=s.verify_tls)
        self._write_api = self._client.write_api()

    async def write(self, body: bytes) -> None:
        s = self._settings
        try:
            await self._write_api.write(bucket=s.bucket, org=s.org, record=body,
                                        write_precision=WritePrecision.NS)
        except InfluxDBError as error:  # ApiException is a subclass; both carry the answer
            raise _classify(error, s.bucket) from None
        except asyncio.TimeoutError:
            raise WriteError(ErrorKind.RETRY, f"no answer from {s.url} within {s.timeout_s:g} s") from None
        except (aiohttp.ClientError, OSError) as error:
            raise WriteError(ErrorKind.RETRY, f"{s.url}: {type(error).__name__}: {error}") from None

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None


def _classify(error: InfluxDBError, bucket: str) -> WriteError:
    status = getattr(error, "status", None)
    message = error.message
    if isinstance(message, (bytes, bytearray)):
        message = message.decode("utf-8", "replace")
    message = str(message or "").strip()[:_MAX_MESSAGE]
    if not status:  # raised before any answer (e.g. the client's own checks)
        shown = without_quoted_lines(message)[:MAX_SERVER_MESSAGE]
        return WriteError(ErrorKind.RETRY, shown or type(error).__name__)
    return error_for_status(
        status, message, getattr(error, "retry_after", None),
        auth_hint="outputs.influxdb.token (and that it may write to the bucket)",
        not_found_hint=f"bucket '{bucket}' does not exist (or the token cannot see it): create it or fix "
                       f"outputs.influxdb.bucket / outputs.influxdb.org")
