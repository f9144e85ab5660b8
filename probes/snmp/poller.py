"""The SNMP probe: poll devices with their profiles, turn answers into samples.

One poll of one device (`SnmpPoller.poll`):

1. Which profiles: on the first poll, after `reselect_s`, after a reboot and after a
   credential change, GET the system group (sysObjectID picks vendor profiles), the uptimes
   that stand in for a missing sysUpTime (hrSystemUptime, snmpEngineTime) and the OIDs some
   profiles require (`match.requires_oid`: a MIB only some agents of a class have), and select
   profiles by device class and sysObjectID prefix, plus the configured `profiles`, minus
   `skip_profiles`. Where a profile gives one field from several OIDs in turn (the `system`
   profile's uptime) and all of them were in that GET, later polls read only the one that
   answered. An agent without the system group (every object noSuchObject, noSuchInstance or
   endOfMibView, as some Hikvision cameras answer) has no sysObjectID: it is polled with the
   profiles of its class, and the poll is an error (`no_system_group`): it cannot be told
   apart, nor its reboots always seen.
2. One GET of every scalar the profiles read (split by the client into requests of
   `max_varbinds_per_request`). No answer: the device is down for SNMP and nothing else is
   asked, so a dead agent costs timeout x (retries + 1), not that times every table.
3. Table walks, table by table, one column after the other (small agents serve one request
   at a time; a walk that times out ends the poll for the same reason as above). GETBULK
   asks for as many rows as the column had last time, plus one to see its end, so a 10-port
   table costs one request per column with no wasted varbinds.
4. Bounds, so that no agent can make a poll write what it likes (an agent inventing rows
   would add new series every poll): a table is written whole or not at all. Not written:
   a table one of whose column walks failed (malformed, a loop, a timeout half way: partial
   rows would look complete), a column longer than `max_rows_per_table` (its walk stops
   there) or with a row index of more than `max_index_length` sub-identifiers (its walk
   stops at the first), a table of more than `max_rows_per_table` rows, and the table that
   takes the device past `max_rows_per_device` rows (counted in profile order; later, smaller
   tables still fit). A NOC prefers a table missing, with a sentence saying why, to the
   first N rows of it that look like all of it.
5. `extract` of each profile, with the device's counter state (rates, wraps, reboots);
   values of a type a field cannot use (text where a number belongs) are counted.
6. Honest status: a selected profile other than `system` "found nothing" when it wrote no
   sample (rows the device's own `interfaces:` filter left out count as found). When every
   one of them found nothing, the agent answered but nothing about the device's health is
   known: the poll is an error (`no_data`), so `status` does not say ok and a rule can open
   a fault.

Every poll also yields one `snmp` sample: `up`, `result_code` (probes.base.ResultCode),
`error_code` (`ErrorCode`, finer), `duration_ms`, `requests`, `varbinds`, `profiles`,
`rows` (table rows of the tables written, before row filters), `tables_dropped`,
`wrong_type` (values dropped for their type), and, when the poll reached its profiles,
`profiles_empty` (how many found nothing) with the tag `empty_profiles` naming them (only
when there are any, so a healthy device's series does not change). The sentence saying what went wrong goes to
`on_error` (the daemon's `status` and log), never a traceback and never a secret. A poll
never raises into the scheduler.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import ipaddress
import logging
import time
from dataclasses import dataclass, field
from typing import Callable, Mapping, Optional, Sequence

from probes.base import ProbeError, ResultCode, Sample, Target
from probes.names import NameCache
from probes.snmp.ber import Kind
from probes.snmp.client import ErrorKind, RequestOptions, SnmpClient, SnmpError, SnmpResult
from probes.snmp.profiles import (EXPECTED_NUMBER, CounterState, Profile, RowFilter, TableSpec, ValueSpec, WrongTypes,
                                  extract, gives_value, required_oids, select)
from probes.snmp.errors import ErrorCode
from probes.snmp.settings import SnmpSettings

log = logging.getLogger("netvigil.snmp")

SYS_DESCR = "1.3.6.1.2.1.1.1.0"
SYS_OBJECT_ID = "1.3.6.1.2.1.1.2.0"
SYS_UPTIME = "1.3.6.1.2.1.1.3.0"
SYS_NAME = "1.3.6.1.2.1.1.5.0"
SYSTEM_OIDS = (SYS_DESCR, SYS_OBJECT_ID, SYS_UPTIME, SYS_NAME)
HR_SYSTEM_UPTIME = "1.3.6.1.2.1.25.1.1.0"  # HOST-RESOURCES-MIB: the host's uptime, TimeTicks
SNMP_ENGINE_TIME = "1.3.6.1.6.3.10.2.1.3.0"  # SNMP-FRAMEWORK-MIB: seconds since the engine booted
# What a selection GETs: the system group, and the uptimes that stand in for a missing sysUpTime.
SELECTION_OIDS = (*SYSTEM_OIDS, HR_SYSTEM_UPTIME, SNMP_ENGINE_TIME)
SYSTEM_PROFILE = "system"  # its objects are the device's identity, not its health: never "no data"
INTERFACE_MEASUREMENT = "snmp_if"  # what `interfaces:` filters
EMPTY_PROFILES_TAG = "empty_profiles"  # on the `snmp` sample: the profiles that found nothing, comma-separated



_ERROR_CODES = {
    ErrorKind.TIMEOUT: ErrorCode.TIMEOUT, ErrorKind.SEND_FAILED: ErrorCode.SEND_FAILED,
    ErrorKind.BAD_ADDRESS: ErrorCode.RESOLVE_FAILED, ErrorKind.MALFORMED: ErrorCode.MALFORMED,
    ErrorKind.TOO_BIG: ErrorCode.AGENT_ERROR, ErrorKind.NO_SUCH_OBJECT: ErrorCode.NO_SUCH_OBJECT,
    ErrorKind.GEN_ERR: ErrorCode.AGENT_ERROR, ErrorKind.AUTH: ErrorCode.AUTH,
    ErrorKind.AGENT_ERROR: ErrorCode.AGENT_ERROR, ErrorKind.WALK_LOOP: ErrorCode.WALK_LOOP,
    ErrorKind.TOO_MANY_ROWS: ErrorCode.TOO_MANY_ROWS, ErrorKind.CLOSED: ErrorCode.SEND_FAILED,
    ErrorKind.INDEX_TOO_LONG: ErrorCode.INDEX_TOO_LONG,
}
# Errors that mean nothing came back from the agent: `up` is 0. (An agent that answers with
# an error, a USM report or garbage is up, and broken: `result_code` says so.)
_NO_ANSWER = frozenset({ErrorKind.TIMEOUT, ErrorKind.SEND_FAILED, ErrorKind.BAD_ADDRESS, ErrorKind.CLOSED})
# Errors after which asking the same agent more in this poll is pointless.
_FATAL = frozenset({ErrorKind.TIMEOUT, ErrorKind.SEND_FAILED, ErrorKind.BAD_ADDRESS, ErrorKind.AUTH,
                    ErrorKind.CLOSED})


@dataclass(frozen=True, slots=True)
class _Table:
    """A profile table as the poller walks it."""

    spec: TableSpec
    profile: str
    roots: tuple[str, ...]  # every column walked, `index_from` pointers included
    row_columns: tuple[str, ...]  # the columns whose indexes are the table's rows

    @classmethod
    def of(cls, profile: Profile, spec: TableSpec) -> "_Table":
        roots = _unique(oid for column in spec.columns for oid in (column.index_from, column.oid) if oid is not None)
        return cls(spec, profile.name, tuple(roots),
                   tuple(_unique(column.oid for column in spec.columns if column.index_from is None)))

    def name(self, column: Optional[str] = None) -> str:
        """How sentences name it: "table snmp_if (profile if)", with a column if given."""
        where = f", column {column}" if column is not None else ""
        return f"table {self.spec.measurement} (profile {self.profile}{where})"


@dataclass(frozen=True, slots=True)
class _Problem:
    """Why part of a poll was not written: an `snmp` sample's error and its sentence."""

    code: ErrorCode
    result_code: ResultCode
    sentence: str


@dataclass
class _DeviceState:
    """What the poller remembers of one device between polls."""

    identity: tuple  # (address, port, credential): a change starts over
    counters: CounterState = field(default_factory=CounterState)
    profiles: Optional[tuple[Profile, ...]] = None
    scalar_oids: tuple[str, ...] = ()  # what `profiles` read, worked out once per selection
    tables: tuple[_Table, ...] = ()
    selected_at: float = 0.0
    sys_object_id: Optional[str] = None
    rows_seen: dict[str, int] = field(default_factory=dict)  # walk root -> varbinds last time
    health_profiles: int = 0  # selected profiles other than `system`: all of them empty is "no data"
    no_system: bool = False  # the agent answered every system-group object with an exception


@dataclass
class PollResult:
    """One poll: its samples (the `snmp` one last), the error if any, what was selected, and the
    selected profiles (but `system`) that found nothing on the agent."""

    samples: list[Sample]
    error: Optional[ProbeError] = None
    profiles: tuple[str, ...] = ()
    sys_object_id: Optional[str] = None
    empty: tuple[str, ...] = ()


class SnmpPoller:
    """Polls devices through one `SnmpClient`; keeps per-device counters and profile choice."""

    def __init__(self, client: SnmpClient, profiles: Mapping[str, Profile],
                 names: Optional[NameCache] = None) -> None:
        self.client = client
        self.profiles = dict(profiles)
        self._selection_oids = _selection_oids(self.profiles)
        self.names = names or NameCache()
        self._states: dict[str, _DeviceState] = {}
        self._options: dict[tuple, RequestOptions] = {}
        self._filters: dict[int, tuple] = {}

    def set_profiles(self, profiles: Mapping[str, Profile]) -> None:
        """New profile definitions (reload): every device selects again on its next poll."""
        self.profiles = dict(profiles)
        self._selection_oids = _selection_oids(self.profiles)
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
            result = account(await self.client.get(agent, self._selection_oids, options))
            # An agent with no system group at all (some Hikvision cameras) answers noSuchObject
            # for every OID: it is up, and its class alone selects its profiles.
            if result.error is not None and result.error.kind is not ErrorKind.NO_SUCH_OBJECT:
                return self._failed(target, time_ns, started, result.error, counters, state, "reading sysObjectID")
            values.update((oid, value.value) for oid, value in result.varbinds)
            sys_object_id = values.get(SYS_OBJECT_ID)
            state.sys_object_id = sys_object_id if isinstance(sys_object_id, str) else None
            state.profiles = profiles = self._select(target, settings, state.sys_object_id, values)
            state.scalar_oids = tuple(_unique(oid for profile in profiles for oid in _scalars_to_read(profile, values)))
            state.tables = tuple(_Table.of(profile, table) for profile in profiles for table in profile.tables)
            state.health_profiles = sum(profile.name != SYSTEM_PROFILE for profile in profiles)
            state.selected_at = now
        profiles = state.profiles

        scalars = [oid for oid in state.scalar_oids if oid not in values] if values else state.scalar_oids
        if scalars:
            result = account(await self.client.get(agent, scalars, options))
            if result.error is not None and result.error.kind is not ErrorKind.NO_SUCH_OBJECT:
                return self._failed(target, time_ns, started, result.error, counters, state, "GET")
            values.update((oid, value.value) for oid, value in result.varbinds)

        problems: list[_Problem] = []
        walked, written = await self._walk_tables(agent, options, settings, state, account, problems)
        for result in walked.values():
            if result.error is None:
                values.update((oid, value.value) for oid, value in result.varbinds)
        system = [values[oid] for oid in SYSTEM_OIDS if oid in values]
        if system:  # read this poll (with `system` skipped: as the selection found it)
            state.no_system = all(value is None for value in system)

        rows = self._row_filters(settings.interfaces)
        wrong_types = WrongTypes()
        samples: list[Sample] = []
        nothing: list[str] = []
        for profile in profiles:
            found = extract(profile, values, target.tags, time_ns, state.counters, rows,
                            indexes=written.indexes, wrong_types=wrong_types)
            # Rows the device's own `interfaces:` filter left out were found all the same.
            if not found and profile.name != SYSTEM_PROFILE and not (rows and any(
                    written.indexes(table) for table in profile.tables if table.measurement in rows)):
                nothing.append(profile.name)
            samples.extend(found)
        empty = tuple(nothing)
        if state.counters.rebooted:
            state.profiles = None  # firmware may have changed with the reboot: select again next time
        names = tuple(profile.name for profile in profiles)
        if not problems and wrong_types.count:
            problems.append(_Problem(ErrorCode.WRONG_TYPE, ResultCode.ERROR, _wrong_type_sentence(wrong_types, walked)))
        if state.no_system:
            problems.insert(0, _Problem(ErrorCode.NO_SYSTEM_GROUP, ResultCode.ERROR, _no_system_sentence(names)))
        elif not problems and empty and len(empty) == state.health_profiles:
            problems.append(_Problem(ErrorCode.NO_DATA, ResultCode.ERROR, _no_data_sentence(empty, state.sys_object_id)))
        counts = (counters[0], counters[1], len(profiles), written.rows,
                  sum(1 for table in state.tables if written.indexes(table.spec) is None), wrong_types.count, empty)
        if problems:
            first = problems[0]
            sentence = first.sentence
            if len(problems) > 1:
                sentence += f" (and {len(problems) - 1} more problem(s) in this poll)"
            samples.append(self._status_sample(target, time_ns, started, True, ResultCode.ERROR, first.code, *counts))
            return PollResult(samples, ProbeError(first.result_code, sentence), names, state.sys_object_id, empty)
        samples.append(self._status_sample(target, time_ns, started, True, ResultCode.OK, ErrorCode.NONE, *counts))
        return PollResult(samples, None, names, state.sys_object_id, empty)

    async def _walk_tables(self, agent, options: RequestOptions, settings: SnmpSettings, state: _DeviceState,
                           account, problems: list[_Problem]) -> tuple[dict[str, SnmpResult], "_Written"]:
        """Walk the tables, column by column, and keep each within the bounds (module docstring).

        Returns {column: walk result} and the tables to write with their row indexes; appends a
        _Problem for every table that is not written. A table is given up at its first failed
        column, or as soon as its rows (the indexes of its columns so far) pass a bound: its
        other columns are not walked, so an agent inventing rows costs about one column's
        worth of requests per table, not every column's.
        """
        walked: dict[str, SnmpResult] = {}
        written = _Written()
        for table in state.tables:
            found: dict[str, None] = {}
            problem: Optional[_Problem] = None
            for root in table.roots:
                result = walked.get(root)
                if result is None:
                    result = account(await self.client.walk(agent, root, self._walk_options(options, state, root)))
                    walked[root] = result
                    state.rows_seen[root] = len(result.varbinds)
                    if result.error is not None and result.error.kind in _FATAL:
                        # The agent stopped answering: do not wait out every other table.
                        problems.append(_Problem(_ERROR_CODES.get(result.error.kind, ErrorCode.AGENT_ERROR),
                                                 result.error.result_code,
                                                 f"{_sentence(result.error, 'table walk')}; {table.name()} and "
                                                 "the tables not walked yet were not written"))
                        return walked, written
                if result.error is not None:
                    problem = _walk_problem(table, root, result.error, settings, options.max_walk_varbinds)
                    break
                if root not in table.row_columns:
                    continue
                start = len(root) + 1
                for oid, _ in result.varbinds:
                    found[oid[start:]] = None
                if len(found) > settings.max_rows_per_table:
                    problem = _Problem(ErrorCode.TOO_MANY_ROWS, ResultCode.ERROR, (
                        f"the agent returned more than {settings.max_rows_per_table} rows for {table.name()}; "
                        "none of its rows were written; raise probes.snmp.max_rows_per_table or check the agent"))
                    break
                if written.rows + len(found) > settings.max_rows_per_device:
                    problem = _Problem(ErrorCode.TOO_MANY_ROWS_DEVICE, ResultCode.ERROR, (
                        f"the agent returned more than {settings.max_rows_per_device} table rows in this poll; "
                        f"{table.name()} was not written; raise probes.snmp.max_rows_per_device or check the agent"))
                    break
            if problem is not None:
                problems.append(problem)
            else:
                written.add(table.spec, sorted(found, key=_index_key))
        return walked, written

    def _failed(self, target: Target, time_ns: int, started: float, error: SnmpError, counters: list[int],
                state: _DeviceState, what: str) -> PollResult:
        answered = error.kind not in _NO_ANSWER
        sample = self._status_sample(target, time_ns, started, answered, error.result_code,
                                     _ERROR_CODES.get(error.kind, ErrorCode.AGENT_ERROR), counters[0], counters[1],
                                     len(state.profiles or ()))
        return PollResult([sample], ProbeError(error.result_code, _sentence(error, what)),
                          tuple(p.name for p in state.profiles or ()), state.sys_object_id)

    def _select(self, target: Target, settings: SnmpSettings, sys_object_id: Optional[str],
                 answered: Mapping[str, object]) -> tuple[Profile, ...]:
        chosen = {profile.name: profile for profile in select(self.profiles, target.tags.get("class", ""),
                                                              sys_object_id, answered)}
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
        # A column has one varbind per row: a walk longer than the table may be is stopped there.
        key = (settings.timeout_s, settings.retries, settings.max_varbinds_per_request, settings.max_repetitions,
               settings.use_getbulk, min(settings.max_walk_varbinds, settings.max_rows_per_table),
               settings.max_index_length)
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
            tuned = self._options[key] = dataclasses.replace(options, max_repetitions=seen + 1)
        return tuned

    @staticmethod
    def _status_sample(target: Target, time_ns: int, started: float, up: bool, result_code: int,
                       error_code: int, requests: int, varbinds: int, profiles: int, rows: int = 0,
                       tables_dropped: int = 0, wrong_type: int = 0,
                       empty: Optional[tuple[str, ...]] = None) -> Sample:
        fields = {
            "up": int(up), "result_code": int(result_code), "error_code": int(error_code),
            "duration_ms": round((time.monotonic() - started) * 1000, 3), "requests": requests,
            "varbinds": varbinds, "profiles": profiles, "rows": rows, "tables_dropped": tables_dropped,
            "wrong_type": wrong_type}
        if empty is None:  # the poll ended before its profiles: nothing to say about them
            return Sample("snmp", target.tags, fields, time_ns)
        fields["profiles_empty"] = len(empty)
        tags = {**target.tags, EMPTY_PROFILES_TAG: ",".join(empty)} if empty else target.tags
        return Sample("snmp", tags, fields, time_ns)


def _sentence(error: SnmpError, what: str) -> str:
    return f"SNMP {what}: {error.kind.value}: {error.detail}"


def _no_data_sentence(empty: Sequence[str], sys_object_id: Optional[str]) -> str:
    return (f"SNMP: no data: the agent answered, but the profiles {', '.join(empty)} found nothing on it "
            f"(sysObjectID {sys_object_id or 'none'}); check the device's class, or choose its profiles "
            "with snmp: {profiles: [...], skip_profiles: [...]}")


def _no_system_sentence(profiles: Sequence[str]) -> str:
    return ("SNMP: no system group: the agent answers sysDescr, sysObjectID, sysUpTime and sysName with "
            f"noSuchObject/noSuchInstance, so its profiles come from its class alone ({', '.join(profiles) or 'none'})"
            " and a reboot shows only through hrSystemUptime or snmpEngineTime; let the agent's view include "
            "1.3.6.1.2.1.1")


def _selection_oids(profiles: Mapping[str, Profile]) -> tuple[str, ...]:
    """What a selection GETs: SELECTION_OIDS, then the OIDs the profiles' `requires_oid` name."""
    return tuple(_unique((*SELECTION_OIDS, *required_oids(profiles))))


def _scalars_to_read(profile: Profile, selected: Mapping) -> list[str]:
    """The OIDs of `profile`'s scalars to GET on each poll. Specs giving the same field or tag
    are fallbacks in order; when the selection GET read every one of them (`selected`: OID ->
    value, None for an exception), only the first that gave a value is read from then on (the
    first of all when none did), so a fallback costs nothing on the agents that do not need it."""
    groups: dict[tuple, list[ValueSpec]] = {}
    for spec in profile.scalars:
        groups.setdefault(("tag", spec.tag) if spec.tag is not None else ("field", spec.field), []).append(spec)
    skipped: set[int] = set()
    for specs in groups.values():
        if len(specs) > 1 and all(spec.oid in selected for spec in specs):
            keep = next((spec for spec in specs if gives_value(spec, selected[spec.oid])), specs[0])
            skipped.update(id(spec) for spec in specs if spec is not keep)
    kept = [spec.oid for spec in profile.scalars if id(spec) not in skipped]
    return _unique((*kept, *(spec.oid for row in profile.scalar_rows for spec in row.scalars)))


class _Written:
    """The tables of one poll that are written, with their row indexes, and how many rows in all.

    Keyed by the TableSpec's identity (a spec holds dicts, so it has no hash): the specs live
    in the device's selected profiles for the whole poll."""

    __slots__ = ("_indexes", "rows")

    def __init__(self) -> None:
        self._indexes: dict[int, list[str]] = {}
        self.rows = 0

    def add(self, spec: TableSpec, indexes: list[str]) -> None:
        self._indexes[id(spec)] = indexes
        self.rows += len(indexes)

    def indexes(self, spec: TableSpec) -> Optional[list[str]]:
        """The row indexes to write of `spec`'s table, or None: the table is not written."""
        return self._indexes.get(id(spec))


def _walk_problem(table: _Table, root: str, error: SnmpError, settings: SnmpSettings, walk_cap: int) -> _Problem:
    """The _Problem of a table one of whose columns could not be walked (non-fatal errors)."""
    code = _ERROR_CODES.get(error.kind, ErrorCode.AGENT_ERROR)
    where = table.name(root)
    if error.kind is ErrorKind.TOO_MANY_ROWS:
        key = "max_rows_per_table" if walk_cap == settings.max_rows_per_table else "max_walk_varbinds"
        sentence = (f"the agent returned more than {walk_cap} rows for {where}; none of its rows were written; "
                    f"raise probes.snmp.{key} or check the agent")
    elif error.kind is ErrorKind.INDEX_TOO_LONG:
        sentence = (f"the agent returned a row index of more than {settings.max_index_length} sub-identifiers for "
                    f"{where}; none of its rows were written; raise probes.snmp.max_index_length or check the agent")
    else:
        sentence = f"{_sentence(error, 'table walk')}; {table.name()} not written"
    return _Problem(code, error.result_code, sentence)


_TYPE_NAMES = {Kind.OCTETS: "an OCTET STRING", Kind.OID: "an OBJECT IDENTIFIER", Kind.IPADDRESS: "an IpAddress",
               Kind.OPAQUE: "an Opaque"}


def _wrong_type_sentence(wrong_types: WrongTypes, walked: Mapping[str, SnmpResult]) -> str:
    oid, profile, field_name, raw = wrong_types.first
    kind = next((value.kind for result in walked.values() for walked_oid, value in result.varbinds
                 if walked_oid == oid), None)
    if kind is None:  # a scalar (or a value read through index_from): the type from the value
        kind = Kind.OCTETS if isinstance(raw, bytes) else Kind.OID
    shown = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    shown = repr(shown[:40] + ("..." if len(shown) > 40 else ""))
    more = f" ({wrong_types.count} values of the wrong type in this poll)" if wrong_types.count > 1 else ""
    return (f"SNMP value of the wrong type: {oid} (profile {profile}, field {field_name}) is "
            f"{_TYPE_NAMES.get(kind, str(kind))} ({shown}), expected {EXPECTED_NUMBER}; the field was not written"
            f"{more}")


def _index_key(index: str) -> tuple[int, ...]:
    return tuple(map(int, index.split(".")))


def _unique(items) -> list[str]:
    return list(dict.fromkeys(items))


@functools.lru_cache(maxsize=65_536)
def _is_literal(address: str) -> bool:
    try:
        ipaddress.ip_address(address)
        return True
    except ValueError:
        return False


__all__ = ["EMPTY_PROFILES_TAG", "ErrorCode", "PollResult", "SELECTION_OIDS", "SnmpPoller", "SYSTEM_OIDS"]
