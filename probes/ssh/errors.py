"""Error codes of the SSH samples, apart from the engine so `status` and `check` name them cheaply."""

from __future__ import annotations

import enum


class ErrorCode(enum.IntEnum):
    """`error_code` of the `ssh` and `ssh_config` samples (0: none). Integers: several
    InfluxDB-compatible stores turn string fields into 0."""

    NONE = 0
    TIMEOUT = 1  # no SSH connection within connect_timeout_s (TCP, banner, key exchange)
    REFUSED = 2  # connection refused, no route
    RESOLVE_FAILED = 3
    AUTH = 4  # login refused, or the credential's key cannot be read
    AUTH_TIMEOUT = 5
    HOST_KEY_UNKNOWN = 6
    HOST_KEY_CHANGED = 7  # a security event: rules open a record on it
    COMMAND_FAILED = 8  # non-zero exit status, CLI error, output not as the profile expects
    COMMAND_TIMEOUT = 9
    OUTPUT_TOO_LARGE = 10
    DISCONNECTED = 11  # the connection broke after login
    SESSION_TIMEOUT = 12
    PROTOCOL = 13  # SSH-level failure (no common algorithm, garbage instead of SSH)
    INTERNAL = 14  # a bug in netvigil: logged with its traceback
