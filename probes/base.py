"""The only types shared between probes and the daemon.

Probes take `Target`s and return `Sample`s. A probe never raises into the scheduler:
a timeout, a refusal or a send failure is data (an `up=0` sample with a `result_code`),
so dashboards and rules see "down" as a row rather than as a gap.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Mapping, Union

FieldValue = Union[float, int, bool, str]


@dataclass(frozen=True, slots=True)
class Target:
    """One device as a probe sees it.

    `tags` are the sample tags precomputed once per inventory load (device, address,
    class, site and each site level), so the hot probe loop does no dictionary building.
    """

    device: str
    address: str
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Sample:
    """One point: what rules, faults and every output consume."""

    measurement: str
    tags: Mapping[str, str]
    fields: Mapping[str, FieldValue]
    time_ns: int


class ResultCode(enum.IntEnum):
    """Why a probe run ended the way it did (stored as the `result_code` field).

    Integers rather than strings because several InfluxDB-compatible stores
    (VictoriaMetrics) turn string fields into 0.
    """

    OK = 0
    TIMEOUT = 1  # nothing came back in time
    SEND_FAILED = 2  # the request could not even leave this host (EPERM, ENETUNREACH, ...)
    RESOLVE_FAILED = 3  # a host name did not resolve
    ERROR = 4  # anything else; the detail is logged and shown by `status`


@dataclass(frozen=True, slots=True)
class ProbeError:
    """An error as data: which kind, and a sentence for people (never a secret)."""

    kind: ResultCode
    detail: str


def merge_overrides(settings, overrides):
    """`settings` (a pydantic model) with class/site/device overrides applied in order, later
    ones winning; only keys an override sets count. Validated again as a whole: an override
    may make the settings inconsistent (a run that no longer fits its interval)."""
    values = {}
    for override in overrides:
        if override is not None:
            values.update({key: getattr(override, key) for key in override.model_fields_set
                           if getattr(override, key) is not None})
    if not values:
        return settings
    return settings.model_validate({**dict(settings), **values})
