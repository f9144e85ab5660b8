"""The SNMP probe: poll devices with their profiles, turn answers into samples.

One poll of one device (`SnmpPoller.poll`):

1. Which profiles: on the first poll, after `reselect_s`, after a reboot and after a
   credential change, GET the system group (sysObjectID picks vendor profiles) and select
   profiles by device class and sysObjectID prefix, plus the configured `profiles`, minus
   `skip_profiles`.
2. One GET of every scalar the profiles read (split by the client into requests of
   `max_varbinds_per_request`). No answer: the device is down for SNMP and nothing else is
   asked, so a dead agent costs timeout x (retries + 1), not that times every table.
3. Table walks, one after the other (small agents serve one request at a time; a walk that
   times out ends the poll for the same reason as above). GETBULK asks for as many rows as
   the table had last time, plus one to see its end, so a 10-port table costs one request
   per column with no wasted varbinds.
4. `extract` of each profile, with the device's counter state (rates, wraps, reboots).

Every poll also yields one `snmp` sample: `up`, `result_code` (probes.base.ResultCode),
`error_code` (`ErrorCode`, finer), `duration_ms`, `requests`, `varbinds`, `profiles`. The
sentence saying what went wrong goes to `on_error` (the daemon's `status` and log), never
a traceback and never a secret. A poll never raises into the scheduler.
"""

from __future__ import annotations

import asyncio
import enum
import functools
import ipaddress
import logging
import time
from dataclasses import dataclass, field
from typing import Callable, Mapping, Optional, Sequence

from probes.base import ProbeError, ResultCode, Sample, Target
from probes.names import NameCache
from probes.snmp_client import ErrorKind, RequestOptions, SnmpClient, SnmpError, SnmpResult
from probes.snmp_profiles import CounterState, Profile, RowFilter, extract, select
from probes.snmp_settings import SnmpSettings

log = logging.getLogger("netvigil.snmp")

SYS_DESCR = "1.3.6.1.2.1.1.1.0"
SYS_OBJECT_ID = "1.3.6.1.2.1.1.2.0"
SYS_UPTIME = "1.3.6.1.2.1.1.3.0"
SYS_NAME = "1.3.6.1.2.1.1.5.0"
SYSTEM_OIDS = (SYS_DESCR, SYS_OBJECT_ID, SYS_UPTIME, SYS_NAME)
INTERFACE_MEASUREMENT = "snmp_if"  # what `interfaces:` filters


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
    TOO_MANY_ROWS = 9  # a table longer than max_walk_varbinds
    INTERNAL = 10  # a bug in netvigil: logged with its traceback


_ERROR_CODES = {
    ErrorKind.TIMEOUT: ErrorCode.TIMEOUT, ErrorKind.SEND_FAILED: ErrorCode.SEND_FAILED,
    ErrorKind.BAD_ADDRESS: ErrorCode.RESOLVE_FAILED, ErrorKind.MALFORMED: ErrorCode.MALFORMED,
    ErrorKind.TOO_BIG: ErrorCode.AGENT_ERROR, ErrorKind.NO_SUCH_OBJECT: ErrorCode.NO_SUCH_OBJECT,
    ErrorKind.GEN_ERR: ErrorCode.AGENT_ERROR, ErrorKind.AUTH: ErrorCode.AUTH,
    ErrorKind.AGENT_ERROR: ErrorCode.AGENT_ERROR, ErrorKind.WALK_LOOP: ErrorCode.WALK_LOOP,
    ErrorKind.TOO_MANY_ROWS: ErrorCode.TOO_MANY_ROWS, ErrorKind.CLOSED: ErrorCode.SEND_FAILED,
}
# Errors that mean nothing came back from the agent: `up` is 0. (An agent that answers with
# an error, a USM report or garbage is up, and broken: `result_code` says so.)
_NO_ANSWER = frozenset({ErrorKind.TIMEOUT, ErrorKind.SEND_FAILED, ErrorKind.BAD_ADDRESS, ErrorKind.CLOSED})
# Errors after which asking the same agent more in this poll is pointless.
_FATAL = frozenset({ErrorKind.TIMEOUT, ErrorKind.SEND_FAILED, ErrorKind.BAD_ADDRESS, ErrorKind.AUTH,
                    ErrorKind.CLOSED})


@dataclass
class _DeviceState:
    """What the poller remembers of one device between polls."""

    identity: tuple  # (address, port, credential): a change starts over
    counters: CounterState = field(default_factory=CounterState)
    profiles: Optional[tuple[Profile, ...]] = None
    scalar_oids: tuple[str, ...] = ()  # what `profiles` read, worked out once per selection
    walk_roots: tuple[str, ...] = ()
    selected_at: float = 0.0
    sys_object_id: Optional[str] = None
    rows_seen: dict[str, int] = field(default_factory=dict)  # walk root -> varbinds last time


@dataclass
class PollResult:
    """One poll: its samples (the `snmp` one last), the error if any, and what was selected."""

    samples: list[Sample]
    error: Optional[ProbeError] = None
    profiles: tuple[str, ...] = ()
    sys_object_id: Optional[str] = None


class SnmpPoller:
    """Polls devices through one `SnmpClient`; keeps per-device counters and profile choice."""

    def __init__(self, client: SnmpClient, profiles: Mapping[str, Profile],
                 names: Optional[NameCache] = None) -> None:
        self.client = client
        self.profiles = dict(profiles)
        self.names = names or NameCache()
        self._states: dict[str, _DeviceState] = {}
        self._options: dict[tuple, RequestOptions] = {}
        self._filters: dict[int, tuple] = {}

    def set_profiles(self, profiles: Mapping[str, Profile]) -> None:
        """New profile definitions (reload): every device selects again on its next poll."""
        self.profiles = dict(profiles)
        for state in self._states.values():
            state.profiles = None

    def keep_only(self, devices: Sequence[str]) -> None:
        """Forget devices no longer in the inventory (their counters would be stale anyway)."""
        wanted = set(devices)
        for name in [name for name in self._states if name not in wanted]:
            del self._states[name]

    async def probe(self, targets: Sequence[Target], settings_of: Callable[[str], Optional[SnmpSettings]],
                    on_error: Optional[Callable[[Target, ProbeError], None]] = None) -> list[Sample]:
        """Poll `targets` concurrently (the client keeps each agent to its own in-flight cap).

        `settings_of(device)` gives a device's effective settings, or None to skip it (removed
        by a reload while the batch waited). Never raises for a device's failure.
        """
        async def one(target: Target) -> list[Sample]:
            settings = settings_of(target.device)
            if settings is None or not settings.active:
                return []
            result = await self.poll(target, settings)
            if result.error is not None and on_error is not None:
                on_error(target, result.error)
            return result.samples

        samples: list[Sample] = []
        for batch in await asyncio.gather(*(one(target) for target in targets)):
            samples.extend(batch)
        return samples

    async def poll(self, target: Target, settings: SnmpSettings) -> PollResult:
        started = time.monotonic()
        time_ns = time.time_ns()
        try:
            return await self._poll(target, settings, started, time_ns)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - a bug (or a profile the engine chokes on) stays one device's problem
            log.exception("%s: SNMP poll failed inside netvigil", target.device)
            error = ProbeError(ResultCode.ERROR, "the SNMP poll failed inside netvigil (a bug; see the log)")
            return PollResult([self._status_sample(target, time_ns, started, False, ResultCode.ERROR,
                                                   ErrorCode.INTERNAL, 0, 0, 0)], error)

    # -- one poll -------------------------------------------------------------------------------

    async def _poll(self, target: Target, settings: SnmpSettings, started: float, time_ns: int) -> PollResult:
        address, problem = await self._address(target.address)
        if problem is not None:
            return PollResult([self._status_sample(target, time_ns, started, False, problem.kind,
                                                   ErrorCode.RESOLVE_FAILED, 0, 0, 0)], problem)
        credential = settings.credentials[settings.credential]
        if credential.missing():  # the daemon refuses to start like this; a library caller may not
            error = ProbeError(ResultCode.ERROR, f"SNMP credential {settings.credential!r} lacks "
                                                 f"{', '.join(credential.missing())}")
            return PollResult([self._status_sample(target, time_ns, started, False, ResultCode.ERROR,
                                                   ErrorCode.AUTH, 0, 0, 0)], error)
        identity = (address, settings.port, settings.credential, credential)
        state = self._states.get(target.device)
        if state is None or state.identity != identity:
            state = self._states[target.device] = _DeviceState(identity)
        agent = credential.agent(address, settings.port)
        options = self._request_options(settings)
        counters = [0, 0]  # requests, varbinds

        def account(result: SnmpResult) -> SnmpResult:
            counters[0] += result.requests
            counters[1] += len(result.varbinds)
            return result

        values: dict = {}
        now = time.monotonic()
        if state.profiles is None or now - state.selected_at >= settings.reselect_s:
            result = account(await self.client.get(agent, SYSTEM_OIDS, options))
            if result.error is not None:
                return self._failed(target, time_ns, started, result.error, counters, state, "reading sysObjectID")
            values.update((oid, value.value) for oid, value in result.varbinds)
            sys_object_id = values.get(SYS_OBJECT_ID)
            state.sys_object_id = sys_object_id if isinstance(sys_object_id, str) else None
            state.profiles = profiles = self._select(target, settings, state.sys_object_id)
            state.scalar_oids = tuple(_unique(oid for profile in profiles for oid in profile.scalar_oids()))
            state.walk_roots = tuple(_unique(root for profile in profiles for root in profile.walk_roots()))
            state.selected_at = now
        profiles = state.profiles

        scalars = [oid for oid in state.scalar_oids if oid not in values] if values else state.scalar_oids
        if scalars:
            result = account(await self.client.get(agent, scalars, options))
            if result.error is not None and result.error.kind is not ErrorKind.NO_SUCH_OBJECT:
                return self._failed(target, time_ns, started, result.error, counters, state, "GET")
            values.update((oid, value.value) for oid, value in result.varbinds)

        walk_error: Optional[SnmpError] = None
        for root in state.walk_roots:
            result = account(await self.client.walk(agent, root, self._walk_options(options, state, root)))
            state.rows_seen[root] = len(result.varbinds)
            values.update((oid, value.value) for oid, value in result.varbinds)
            if result.error is not None:
                walk_error = result.error
                if result.error.kind in _FATAL:
                    break  # the agent stopped answering: do not wait out every other table

        rows = self._row_filters(settings.interfaces)
        samples: list[Sample] = []
        for profile in profiles:
            samples.extend(extract(profile, values, target.tags, time_ns, state.counters, rows))
        if state.counters.rebooted:
            state.profiles = None  # firmware may have changed with the reboot: select again next time
        names = tuple(profile.name for profile in profiles)
        if walk_error is not None:
            error = ProbeError(walk_error.result_code, _sentence(target, walk_error, "table walk"))
            samples.append(self._status_sample(target, time_ns, started, True, ResultCode.ERROR,
                                               _ERROR_CODES.get(walk_error.kind, ErrorCode.AGENT_ERROR),
                                               counters[0], counters[1], len(profiles)))
            return PollResult(samples, error, names, state.sys_object_id)
        samples.append(self._status_sample(target, time_ns, started, True, ResultCode.OK, ErrorCode.NONE,
                                           counters[0], counters[1], len(profiles)))
        return PollResult(samples, None, names, state.sys_object_id)

    def _failed(self, target: Target, time_ns: int, started: float, error: SnmpError, counters: list[int],
                state: _DeviceState, what: str) -> PollResult:
        answered = error.kind not in _NO_ANSWER
        sample = self._status_sample(target, time_ns, started, answered, error.result_code,
                                     _ERROR_CODES.get(error.kind, ErrorCode.AGENT_ERROR), counters[0], counters[1],
                                     len(state.profiles or ()))
        return PollResult([sample], ProbeError(error.result_code, _sentence(target, error, what)),
                          tuple(p.name for p in state.profiles or ()), state.sys_object_id)

    def _select(self, target: Target, settings: SnmpSettings, sys_object_id: Optional[str]) -> tuple[Profile, ...]:
        chosen = {profile.name: profile for profile in select(self.profiles, target.tags.get("class", ""),
                                                              sys_object_id)}
        for name in settings.profiles:
            if name in self.profiles:
                chosen.setdefault(name, self.profiles[name])
        for name in settings.skip_profiles:
            chosen.pop(name, None)
        # `system` first: its uptime decides whether counters restarted before any rate is computed.
        return tuple(sorted(chosen.values(), key=lambda profile: (profile.name != "system", profile.name)))

    async def _address(self, address: str) -> tuple[str, Optional[ProbeError]]:
        if _is_literal(address):
            return address, None
        resolved = await self.names.resolve([address])
        ip, error = resolved[address]
        return (ip or ""), error

    def _row_filters(self, interfaces) -> Optional[dict[str, RowFilter]]:
        """The `if` profile's row filter for a device's `interfaces:` setting, built once per setting."""
        if interfaces is None:
            return None
        cached = self._filters.get(id(interfaces))
        if cached is None:  # the entry holds the setting, so its id cannot be reused meanwhile
            rows = {INTERFACE_MEASUREMENT: RowFilter(include=interfaces.include, exclude=interfaces.exclude)}
            cached = self._filters[id(interfaces)] = (interfaces, rows)
        return cached[1]

    def _request_options(self, settings: SnmpSettings) -> RequestOptions:
        key = (settings.timeout_s, settings.retries, settings.max_varbinds_per_request, settings.max_repetitions,
               settings.use_getbulk, settings.max_walk_varbinds)
        options = self._options.get(key)
        if options is None:
            options = self._options[key] = RequestOptions(*key)
        return options

    def _walk_options(self, options: RequestOptions, state: _DeviceState, root: str) -> RequestOptions:
        seen = state.rows_seen.get(root)
        if seen is None or seen + 1 >= options.max_repetitions:
            return options
        # As many repetitions as rows last time, plus one to see the end of the column.
        key = (options, seen + 1)
        tuned = self._options.get(key)
        if tuned is None:
            tuned = self._options[key] = RequestOptions(
                options.timeout_s, options.retries, options.max_varbinds_per_request, seen + 1, options.use_getbulk,
                options.max_walk_varbinds)
        return tuned

    @staticmethod
    def _status_sample(target: Target, time_ns: int, started: float, up: bool, result_code: int,
                       error_code: int, requests: int, varbinds: int, profiles: int) -> Sample:
        return Sample("snmp", target.tags, {
            "up": int(up), "result_code": int(result_code), "error_code": int(error_code),
            "duration_ms": round((time.monotonic() - started) * 1000, 3), "requests": requests,
            "varbinds": varbinds, "profiles": profiles}, time_ns)


def _sentence(target: Target, error: SnmpError, what: str) -> str:
    return f"SNMP {what}: {error.kind.value}: {error.detail}"


def _unique(items) -> list[str]:
    return list(dict.fromkeys(items))


@functools.lru_cache(maxsize=65_536)
def _is_literal(address: str) -> bool:
    try:
        ipaddress.ip_address(address)
        return True
    except ValueError:
        return False


__all__ = ["ErrorCode", "PollResult", "SnmpPoller", "SYSTEM_OIDS"]
