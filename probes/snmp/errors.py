"""Error codes of the SNMP samples, apart from the engine so `status` and `check` name them cheaply."""

from __future__ import annotations

import enum


class ErrorCode(enum.IntEnum):
    """`error_code` of the `snmp` sample: why a poll failed (0: it did not). Integers, since
    several InfluxDB-compatible stores turn string fields into 0."""

    NONE = 0
    TIMEOUT = 1  # no answer (in v1/v2c also what a wrong community looks like)
    SEND_FAILED = 2
    RESOLVE_FAILED = 3
    AUTH = 4  # v3 USM: unknown user, wrong digest, decryption error; or authorizationError
    MALFORMED = 5  # answers that are not valid SNMP (truncated, wrong ids, garbage)
    NO_SUCH_OBJECT = 6  # the agent has none of the objects the profiles read
    AGENT_ERROR = 7  # genErr and other error-status values, tooBig for a single OID
    WALK_LOOP = 8  # a table walk that did not advance
    TOO_MANY_ROWS = 9  # a table longer than max_rows_per_table (or a column walk longer than max_walk_varbinds)
    INTERNAL = 10  # a bug in netvigil: logged with its traceback
    TOO_MANY_ROWS_DEVICE = 11  # the device's tables together longer than max_rows_per_device
    INDEX_TOO_LONG = 12  # a row index longer than max_index_length sub-identifiers
    WRONG_TYPE = 13  # a value of a type its profile field cannot use (text where a number belongs)
    NO_DATA = 14  # the agent answered, but none of the selected profiles (other than `system`) found anything
    NO_SYSTEM_GROUP = 15  # noSuchObject / noSuchInstance / endOfMibView for the whole system group
