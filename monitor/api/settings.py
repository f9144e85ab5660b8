"""Settings of the HTTP API (composed by monitor.config under the key `api:`)."""

from __future__ import annotations

import ipaddress
import re
from typing import Optional
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

DEFAULT_PORT = 9116
MIN_TOKEN_CHARS = 16

# Where a sysadmin puts the token; quoted in the 403 answer and in `check` problems.
TOKEN_HOWTO = ("put it in a secret file named api__token ($CREDENTIALS_DIRECTORY via the unit's "
               "LoadCredential=, or secrets_dir) or in NETVIGIL_API__TOKEN")

_HOST_PORT = re.compile(r"\A(?:\[(?P<v6>[^\]]+)\]|(?P<host>[^:\[\]]+)):(?P<port>\d{1,5})\Z")
_HOSTNAME = re.compile(r"\A[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*\Z")


def split_listen(value: str) -> tuple[str, int]:
    """`127.0.0.1:9116` -> ("127.0.0.1", 9116); `[::1]:9116` -> ("::1", 9116).

    Raises ValueError with a sentence naming the accepted forms."""
    found = _HOST_PORT.match(value.strip()) if isinstance(value, str) else None
    if not found:
        raise ValueError(f"{value!r} is not host:port; write e.g. 127.0.0.1:{DEFAULT_PORT}, "
                         f"[::1]:{DEFAULT_PORT} or localhost:{DEFAULT_PORT}")
    port = int(found.group("port"))
    if port > 65535:
        raise ValueError(f"port {port} is out of range; use 1-65535 (0 picks a free port)")
    if found.group("v6") is not None:
        host = found.group("v6")
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"[{host}] is not an IPv6 address; write e.g. [::1]:{DEFAULT_PORT}") from None
        return host, port
    host = found.group("host")
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        if not _HOSTNAME.match(host):
            raise ValueError(f"{host!r} is neither an IPv4 address nor a host name; an IPv6 address "
                             f"goes in brackets: [::1]:{DEFAULT_PORT}") from None
    return host, port


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name other than localhost: it may resolve to anything


class ApiSettings(BaseModel):
    """The HTTP API: faults, maintenance windows, status, /healthz and /metrics."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(True, description="serve the HTTP API")
    listen: str = Field(
        f"127.0.0.1:{DEFAULT_PORT}",
        description="host:port to listen on ([::1]:9116 for IPv6). Anything but a loopback address lets "
                    "other machines read faults and status (and try the token): `check` warns about it; "
                    "put a TLS proxy in front instead")
    token: Optional[SecretStr] = Field(
        None,
        description="bearer token every change (ack, resolve, close, notes, maintenance) must send as "
                    "`Authorization: Bearer TOKEN`; at least 16 characters (openssl rand -hex 32). "
                    "Secret: secret file api__token or NETVIGIL_API__TOKEN. Unset: changes are refused")
    read_token_required: bool = Field(
        False,
        description="also require the token to read faults, maintenance and status (/healthz, /metrics "
                    "and /openapi.json stay open)")
    max_body_bytes: int = Field(
        65536, ge=1024, le=16 * 1024 * 1024, description="largest request body accepted; larger gets 413")
    max_connections: int = Field(
        256, ge=4, le=65536,
        description="most connections open at once (never more than a quarter of the daemon's open-file "
                    "limit). When full, the connection that has waited longest without sending a request "
                    "is closed to make room, so clients that connect and send nothing cannot lock out "
                    "/healthz or Prometheus")
    header_timeout_s: float = Field(
        30.0, gt=0, le=3600,
        description="a connection must send a complete request line and headers within this many seconds "
                    "of connecting or of its previous answer (also how long an idle keep-alive connection "
                    "stays open); slower ones are closed")
    body_timeout_s: float = Field(
        60.0, gt=0, le=3600,
        description="a request body must arrive in full within this many seconds; slower gets 408 and the "
                    "connection is closed")
    public_url: Optional[str] = Field(
        None,
        description="how people reach the API (e.g. https://noc.example/netvigil), used in alert messages "
                    "such as `acknowledge: POST {public_url}/api/v1/faults/12/ack`; null: not mentioned")
    healthz_output_unhealthy_s: float = Field(
        300.0, gt=0,
        description="/healthz answers 503 when an output has failed to write for longer than this")
    healthz_max_lag_s: float = Field(
        60.0, gt=0,
        description="/healthz answers 503 when probe runs start later than planned by more than this "
                    "(the scheduler cannot keep up)")

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        split_listen(value)
        return value.strip()

    @field_validator("token")
    @classmethod
    def _token(cls, value: Optional[SecretStr]) -> Optional[SecretStr]:
        if value is None:
            return None
        secret = value.get_secret_value().strip()  # secret files usually end with a newline
        if len(secret) < MIN_TOKEN_CHARS:
            # Never quote the value: the message reaches logs.
            raise ValueError(f"the token is shorter than {MIN_TOKEN_CHARS} characters; "
                             f"generate one with `openssl rand -hex 32`")
        if any(ch.isspace() or not ch.isprintable() for ch in secret):
            raise ValueError("the token must be one word of printable characters (no spaces or line breaks "
                             "inside); generate one with `openssl rand -hex 32`")
        return SecretStr(secret)

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: Optional[str]) -> Optional[str]:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host, e.g. https://noc.example/netvigil")
        if parts.username or parts.password or parts.query or parts.fragment:
            raise ValueError("must be a plain base URL without user name, password, query or fragment "
                             "(it is shown in alert messages)")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _read_token_needs_token(self) -> "ApiSettings":
        if self.enabled and self.read_token_required and self.token is None:
            raise ValueError(f"api.read_token_required is true but api.token is not set; {TOKEN_HOWTO}")
        return self

    # -- derived ------------------------------------------------------------------------------

    @property
    def host(self) -> str:
        return split_listen(self.listen)[0]

    @property
    def port(self) -> int:
        return split_listen(self.listen)[1]

    def warnings(self) -> list[str]:
        """Sentences for `netvigil check` and the daemon's start: allowed, but probably unintended."""
        if not self.enabled:
            return []
        found = []
        if not is_loopback(self.host):
            found.append(f"api.listen {self.listen} is not a loopback address: other machines can read "
                         f"faults and status{'' if self.read_token_required else ' without a token'} and "
                         f"try tokens over plain HTTP; prefer 127.0.0.1 behind a TLS reverse proxy")
        if self.token is None:
            found.append(f"api.token is not set, so the API refuses every change (ack, resolve, close, "
                         f"maintenance); {TOKEN_HOWTO}")
        return found

    def fault_url(self, fault_id: int, action: str = "") -> Optional[str]:
        """`https://noc.example/netvigil/api/v1/faults/12/ack` for alert messages (None without public_url)."""
        if self.public_url is None:
            return None
        return f"{self.public_url}/api/v1/faults/{int(fault_id)}" + (f"/{action}" if action else "")
