"""From rule transitions to fault records, events and alerts: the daemon's fault glue.

    samples -> observe reachability -> RuleEngine -> transitions
        -> topology: cut off behind a failed parent?   -> a symptom: recorded, not alerted
           (parents' state older than the child's sample -> re-probe them first)
        -> calendar: in maintenance? heightened watch?  -> marked; stricter SLA
        -> FaultStore (one transaction per batch)      -> `fault` events to the outputs
        -> AlertDispatcher                             -> messages (grouped, escalated)

Reachability comes from ICMP: a device is down while its last `icmp` sample says `up == 0`.
Parents are re-probed (ICMP) before a child's failure is alerted when their last answer is
older than the child's failing sample, so a poll-order race (the child's slot comes before
the parent's) cannot turn one failed core switch into a storm. When a parent answers again,
the devices behind it with open symptom faults are re-probed; a symptom whose condition
still holds after the recovery becomes a fault of its own and alerts.

People change faults through the CLI (which writes the SQLite file directly) and the HTTP
API (which calls this class). The store's `data_version` tells the daemon that another
process committed; the manager then re-reads unresolved faults so a manual resolve resets
the rule's state (if the condition still holds it re-opens after `for`) and an
acknowledgement stops escalation.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import sqlite3
import sys
import time
from typing import Awaitable, Callable, Iterable, Optional, Sequence

from monitor.faults.errors import FaultError, FaultStoreUnavailable
from monitor.faults.model import SEVERITIES, Alert, DeviceInfo, Transition
from monitor.faults.pending import Then
from monitor.faults.topology import Topology
from probes.base import Sample

log = logging.getLogger("netvigil.faults")
#: The same sentence about the store (a PostgreSQL server away) is logged at most this often.
STORE_FAILURE_REPEAT_S = 60.0


class _FailureLog:
    """Logs the exception being handled: a FaultError is already a sentence (the database
    unreachable or busy), so one line, repeated at most every STORE_FAILURE_REPEAT_S while it
    stays the same (batches and housekeeping meet it every few seconds); anything else is a
    bug and keeps its traceback."""

    def __init__(self) -> None:
        self._last: tuple[str, float] = ("", 0.0)

    def __call__(self, message: str, *args) -> None:
        error = sys.exc_info()[1]
        if not isinstance(error, FaultError):
            log.exception(message, *args)
            return
        sentence, now = str(error), time.monotonic()
        if sentence == self._last[0] and now - self._last[1] < STORE_FAILURE_REPEAT_S:
            log.debug(message + ": %s", *args, sentence)
            return
        self._last = (sentence, now)
        log.error(message + ": %s", *args, sentence)


#: Shared by every caller of the store (the daemon's self-metrics, the report schedule too), so
#: one outage is a few lines in all.
log_store_failure = _FailureLog()

# `event` field of the `fault` measurement (integers: VictoriaMetrics stores strings as 0)
EVENT_CODES = {"open": 1, "reopen": 2, "acknowledge": 3, "resolve": 4, "close": 5, "symptom": 6,
               "promote": 7, "maintenance_over": 8}
REPROBE_MEASUREMENT = "icmp"

Reprobe = Callable[[Sequence[str]], Awaitable[None]]
#: Queued changes (monitor/faults/pending.py) applied per transaction once the database is back:
#: a few hundred statements, so the loop is not held for long at a time.
DRAIN_BATCH = 200
NOTHING_THEN = Then()


class FaultManager:
    def __init__(self, *, store, engine, calendar, settings, devices: Iterable[DeviceInfo],
                 emit: Callable[[list[Sample]], None], dispatcher=None, reprobe: Optional[Reprobe] = None,
                 clock: Callable[[], float] = time.time, pending=None, thread=None) -> None:
        self.store = store
        self.engine = engine
        self.calendar = calendar
        self.settings = settings
        self.dispatcher = dispatcher
        self.emit = emit
        self.reprobe = reprobe
        self.clock = clock
        # monitor.faults.pending.PendingChanges, or None: with a database on another server
        # (PostgreSQL) changes wait there while it cannot be written, instead of being retried.
        self.pending = pending
        # monitor.faults.thread.FaultThread, or None: the daemon calls the manager on a thread of
        # its own (`emit` and the dispatcher are then safe from it); re-probes stay on the loop.
        self.thread = thread
        self.devices: dict[str, DeviceInfo] = {}
        self.topology = Topology(())
        self.down: dict[str, bool] = {}  # device -> its last ICMP answer said down
        self.observed_ns: dict[str, int] = {}  # device -> time of its last ICMP sample
        self.open_ids: dict[tuple[str, str, str], int] = {}  # unresolved faults by key
        self.reach_fault: dict[str, int] = {}  # device -> its open reachability fault
        self.symptom_ids: set[int] = set()  # open faults recorded as symptoms
        self.maintenance_ids: set[int] = set()  # open faults recorded during maintenance
        self.acknowledged_ids: set[int] = set()  # open faults whose acknowledgement was written out
        self.promote_after: dict[int, int] = {}  # symptom fault -> parent recovery time (ns)
        self.orphans: dict[int, str] = {}  # symptom fault not yet linked to its cause's fault -> device
        self._held: dict[str, list[Transition]] = {}  # device -> transitions waiting for a re-probe
        self._reprobing: dict[str, asyncio.Future] = {}
        self._tasks: set[asyncio.Task] = set()
        self._data_version: Optional[int] = None
        self._calendar_due = 0.0  # next maintenance boundary worth a look (0: look now)
        self.stats = {"transitions": 0, "opened": 0, "symptoms": 0, "resolved": 0, "reprobes": 0,
                      "eval_seconds": 0.0, "samples": 0, "queued": 0, "replayed": 0, "waiting": 0}
        if pending is not None:
            self.stats["waiting"] = len(pending)
        self.set_inventory(devices)

    # -- setup ---------------------------------------------------------------------------------

    def set_inventory(self, devices: Iterable[DeviceInfo], everyone: Optional[Iterable[DeviceInfo]] = None) -> None:
        """`devices`: the ones this daemon probes and looks after; `everyone`: the whole
        inventory when that is more (a poller's share): parents in another poller's share
        count for the topology, are re-probed here when stale, and their faults are the
        causes of the symptoms here."""
        self.devices = {device.name: device for device in devices}
        self.topology = Topology(everyone if everyone is not None else self.devices.values())
        dropped = self.engine.set_devices(self.devices.values())  # removed devices' faults clear
        for table in (self.down, self.observed_ns):
            for name in [name for name in table if name not in self.topology.parents]:
                del table[name]
        if dropped:
            self._apply(dropped)

    def set_rules(self, rules, settings) -> None:
        """Reload: the engine keeps the state of unchanged rules; removed rules' faults clear."""
        dropped = self.engine.set_rules(rules, settings)
        if dropped:
            self._apply(dropped)

    def _own(self, faults: list) -> list:
        """The faults this daemon looks after: all of them, unless the store is shared by
        pollers on several servers (PostgreSQL), where a fault of a device outside this
        inventory is another poller's (not a device removed from the configuration)."""
        if not getattr(self.store, "shared", False):
            return faults
        return [fault for fault in faults if fault.device in self.devices]

    def restore(self) -> int:
        """At start: unresolved faults from the store become firing rule state (so a condition
        that is false now clears them) and the manager's indexes. Changes still queued from
        before the restart are applied first. Returns how many."""
        self.drain()
        unresolved = self._own(self.store.unresolved())
        reachability_rules = self._reachability_rules()
        by_time: dict[int, list] = {}
        for fault in unresolved:
            key = (fault.device, fault.rule, fault.instance)
            self.open_ids[key] = fault.id
            if fault.symptom_of is not None:
                self.symptom_ids.add(fault.id)
            if fault.in_maintenance:
                self.maintenance_ids.add(fault.id)
            if fault.acknowledged_at is not None:
                self.acknowledged_ids.add(fault.id)
            if fault.rule in reachability_rules:
                self.reach_fault[fault.device] = fault.id
                # Down until it answers: its first answer then re-evaluates the devices behind it.
                self.down[fault.device] = True
            by_time.setdefault(int(fault.opened_at * 1e9), []).append(key)
        orphaned = []
        for since_ns, keys in by_time.items():
            orphaned += self.engine.restore(keys, since_ns)
        now = self.clock()
        for device, rule, instance in orphaned:  # the rule or device is gone from the configuration
            log.info("faults: %s %s%s resolved: its rule or device is no longer configured", device, rule,
                     f" {instance}" if instance else "")
            fault = self.store.resolve_auto(device, rule, instance, at=now)
            if fault is not None:
                self.open_ids.pop((device, rule, instance), None)
                self._forget(fault.id)
                if self.reach_fault.get(device) == fault.id:
                    del self.reach_fault[device]
        self._data_version = self.store.data_version()
        self._resubmit(unresolved)
        return len(unresolved) - len(orphaned)

    def _resubmit(self, unresolved) -> None:
        """Hand the dispatcher every alerting fault again after a restart: an alert that was
        still being grouped in memory when the daemon died is sent now, and escalation timers
        resume. The dispatcher's sent-log makes this idempotent (what was sent is not repeated)."""
        kept = set(self.open_ids.values())
        for fault in unresolved:
            if fault.id not in kept or fault.symptom_of is not None or fault.in_maintenance:
                continue
            device = self.devices.get(fault.device)
            if device is not None:
                self._alert(self._alert_for(fault, device, "reopen" if fault.occurrences > 1 else "open",
                                            None))

    def _reachability_rules(self) -> set[str]:
        return self.engine.reachability_rule_names()

    # -- the sample path -------------------------------------------------------------------------

    def process(self, samples: Sequence[Sample]) -> None:
        """Feed one batch of probe results. Never raises (a fault problem must not stop probing);
        never waits (re-probes run as their own tasks)."""
        try:
            self._process(samples)
        except Exception:  # noqa: BLE001 - logged; the next batch starts afresh
            log_store_failure("faults: could not process %d sample(s)", len(samples))

    def _process(self, samples: Sequence[Sample]) -> None:
        recovered = self._observe(samples)
        started = time.process_time()
        transitions = self.engine.evaluate(samples, heightened=self._heightened() is not None)
        self.stats["eval_seconds"] += time.process_time() - started
        self.stats["samples"] += len(samples)
        if transitions:
            self._apply(transitions)
        if recovered:
            self._recovered(recovered)

    def _observe(self, samples: Sequence[Sample]) -> list[str]:
        """Track each device's last ICMP answer; return devices that just answered again."""
        recovered = []
        for sample in samples:
            if sample.measurement != REPROBE_MEASUREMENT:
                continue
            up = sample.fields.get("up")
            if up is None:
                continue
            device = sample.tags.get("device")
            was_down = self.down.get(device, False)
            self.down[device] = not up
            self.observed_ns[device] = max(sample.time_ns, self.observed_ns.get(device, 0))
            if was_down and up:
                recovered.append(device)
        return recovered

    def _is_down(self, name: str) -> bool:
        return self.down.get(name, False)

    def _apply(self, transitions: list[Transition]) -> None:
        self.stats["transitions"] += len(transitions)
        ready: list[Transition] = []
        waiting: dict[str, list[str]] = {}
        for transition in transitions:
            device = transition.device
            if device in self._held:  # keep the order of one device's transitions
                self._held[device].append(transition)
                continue
            stale = self._stale_parents(transition) if transition.action == "open" else []
            if stale:
                self._held[device] = [transition]
                waiting[device] = stale
            else:
                ready.append(transition)
        if ready:
            self._record(self._parents_first(ready))
        if waiting:  # one re-probe for the whole batch: 30 children of one switch ask once
            self._spawn(self._after_reprobe(list(waiting), sorted({p for ps in waiting.values() for p in ps})))

    def _parents_first(self, transitions: list[Transition]) -> list[Transition]:
        """Opens ordered by depth in the topology (stable otherwise), so a failed core switch's
        fault exists before the faults of the devices behind it, which link to it."""
        if sum(1 for t in transitions if t.action == "open") < 2:
            return transitions
        depth = {}
        for t in transitions:
            if t.action == "open" and t.device not in depth:
                depth[t.device] = len(self.topology.ancestors(t.device))
        return sorted(transitions, key=lambda t: depth.get(t.device, 0) if t.action == "open" else -1)

    def _stale_parents(self, transition: Transition) -> list[str]:
        """Ancestors whose last answer said "up" but is older than the child's failing sample;
        only asked for reachability faults of devices that have parents."""
        if not transition.reachability or self.reprobe is None:
            return []
        device = transition.device
        if not self.topology.parents.get(device):
            return []
        stale = []
        for ancestor in self.topology.ancestors(device):
            if self._is_down(ancestor):
                continue
            if self.observed_ns.get(ancestor, 0) < transition.time_ns:
                stale.append(ancestor)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("faults: %s failed at %d; ancestors' last answers %s; re-probing %s", device,
                      transition.time_ns, {a: self.observed_ns.get(a) for a in self.topology.ancestors(device)},
                      stale or "none")
        return stale

    async def _after_reprobe(self, devices: list[str], parents: list[str]) -> None:
        try:
            await self._reprobe(parents)
        except Exception:  # noqa: BLE001 - without fresh parents the children are judged on what is known
            log.exception("faults: re-probing %s failed", ", ".join(parents))
        if self.thread is not None:  # after the re-probe's samples, on the manager's thread
            await self.thread.call(self._judge_held, devices)
        else:
            self._judge_held(devices)

    def _judge_held(self, devices: list[str]) -> None:
        held = [t for device in devices for t in self._held.pop(device, [])]
        current = self.engine.rule_names() | {"flapping"}
        # A reload while the re-probe ran may have removed the device or the rule.
        held = [t for t in held if t.device in self.devices and t.rule in current]
        if held:
            self._record(self._parents_first(held))

    async def _reprobe(self, devices: Sequence[str]) -> None:
        """Probe `devices` once (the daemon feeds the results back through `process`); one probe
        per device at a time however many children ask."""
        futures, mine = [], []
        for name in devices:
            if name in self._reprobing:
                futures.append(self._reprobing[name])
            else:
                future = asyncio.get_running_loop().create_future()
                self._reprobing[name] = future
                futures.append(future)
                mine.append(name)
        if mine:
            self.stats["reprobes"] += len(mine)
            try:
                await self.reprobe(mine)
            finally:
                for name in mine:
                    future = self._reprobing.pop(name)
                    if not future.done():
                        future.set_result(None)
        await asyncio.gather(*futures)

    def _record(self, transitions: list[Transition]) -> None:
        now = self.clock()
        if self.pending is not None and len(self.pending):  # behind the changes waiting, in order
            if not self._queue(transitions, now):
                self._rolled_back(transitions)
            return
        saved = self._indexes()
        try:
            with self.store.transaction():
                events, alerts = self._write([(t, now, None, False) for t in transitions])
        except Exception as error:  # noqa: BLE001 - e.g. the file locked past busy_timeout, the disk full, the server away
            self._put_back(saved)
            if not (isinstance(error, FaultStoreUnavailable) and self.pending is not None
                    and self._queue(transitions, now)):
                self._rolled_back(transitions)
                log_store_failure("faults: could not record %d rule change(s); they are retried with the next "
                                  "samples", len(transitions))
            return
        self._tell(events, alerts)

    def _write(self, changes) -> tuple[list[Sample], list[Alert]]:
        """Inside the caller's transaction: (transition, decided at, `Then` or None: look now,
        replayed) -> the `fault` events and the alerts to send once it committed. A replayed
        change is judged as at its time: the maintenance windows and watch then, the devices
        that were down then; its event carries its own time, where Grafana's annotations go."""
        events: list[Sample] = []
        alerts: list[Alert] = []
        watch: dict[float, Optional[str]] = {}
        for transition, at, then, replayed in changes:
            if at not in watch:
                watch[at] = self._heightened(at)
            mark = len(events)
            if transition.action == "open":
                self._open(transition, at, watch[at], self._sla(watch[at]), events, alerts, then)
            elif transition.action == "update":
                self._update(transition, events, alerts)
            elif transition.action == "clear":
                self._clear(transition, events, alerts)
            if replayed:
                events[mark:] = [dataclasses.replace(event, time_ns=transition.time_ns) for event in events[mark:]]
        return events, alerts

    def _tell(self, events: list[Sample], alerts: list[Alert]) -> None:
        if events:
            self.emit(events)
        for alert in alerts:
            self._alert(alert)

    def _indexes(self) -> tuple:
        return (dict(self.open_ids), dict(self.reach_fault), set(self.symptom_ids), set(self.maintenance_ids),
                dict(self.promote_after), dict(self.orphans))

    def _put_back(self, saved: tuple) -> None:
        """A transaction failed: the indexes as they were before it."""
        (self.open_ids, self.reach_fault, self.symptom_ids, self.maintenance_ids, self.promote_after,
         self.orphans) = saved

    def _queue(self, transitions: list[Transition], now: float) -> bool:
        """Keep the changes on disk until the database answers (True), with what an open
        depends on at this moment. False when the queue file cannot be written either."""
        changes = [(t, now, self._then(t) if t.action == "open" else NOTHING_THEN) for t in transitions]
        first = not len(self.pending)
        try:
            self.pending.add(changes)
        except (sqlite3.Error, OSError) as exc:
            log.error("faults: %d fault change(s) could not be kept in %s either (%s); they are retried with the "
                      "next samples", len(transitions), self.pending.path, exc)
            return False
        self.stats["queued"] += len(transitions)
        self.stats["waiting"] = len(self.pending)
        if first:
            log.error("faults: the fault database cannot be written; fault changes are kept in order in %s and "
                      "applied when it answers (their alerts go out then)", self.pending.path)
        return True

    def _then(self, transition: Transition) -> Then:
        behind = self.topology.behind(transition.device, self._is_down) if transition.reachability else ()
        return Then(tuple(self.topology.causes(transition.device, self._is_down)), tuple(behind))

    def drain(self) -> int:
        """Apply the queued changes in order (at start, and at each housekeeping while any
        wait); FaultStoreUnavailable while the database is still away. Returns how many."""
        if self.pending is None or not len(self.pending):
            return 0
        since, applied = self.pending.since, 0
        try:
            while len(self.pending):
                batch = self.pending.oldest(DRAIN_BATCH)
                applied += self._replay(batch)
                self.pending.done(batch[-1].seq)
        finally:
            self.stats["replayed"] += applied
            self.stats["waiting"] = len(self.pending)
        log.warning("faults: the fault database answers again; %d fault change(s) kept since %s applied in order",
                    applied, time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(since)) if since else "?")
        return applied

    def _replay(self, batch) -> int:
        """One transaction: the changes the database has not had yet (it keeps the last one of
        this queue it applied, in the same transaction), their events and alerts after it."""
        saved = self._indexes()
        try:
            with self.store.transaction():
                done = self.store.applied_through(self.pending.id)
                changes = []
                for change in batch:
                    if change.seq <= done:
                        continue
                    if change.worst is not None:  # folded updates: the worst one, then the last
                        changes.append((dataclasses.replace(change.transition, value=change.worst), change.at,
                                        None, True))
                    changes.append((change.transition, change.at, change.then, True))
                events, alerts = self._write(changes)
                self.store.set_applied_through(self.pending.id, batch[-1].seq)
        except FaultStoreUnavailable:
            self._put_back(saved)
            raise
        except Exception:  # noqa: BLE001 - one change the database refuses must not hold up the rest
            self._put_back(saved)
            if len(batch) > 1:
                return sum(self._replay([change]) for change in batch)
            log.exception("faults: a kept fault change could not be applied and is dropped: %s", batch[0].transition)
            return 0
        self._tell(events, alerts)
        return len(batch)

    def _rolled_back(self, transitions: list[Transition]) -> None:
        """The batch could not be recorded (nor queued): make the rule engine say it again, so it
        is retried: opens fire again after their `for`, clears clear again."""
        for transition in transitions:
            if transition.action == "open":
                self.engine.reset(transition.key)
            elif transition.action == "clear" and transition.key in self.open_ids:
                self.engine.restore([transition.key], transition.time_ns)

    def _open(self, transition: Transition, now: float, heightened: Optional[str], sla, events, alerts,
              then: Optional[Then] = None) -> None:
        device = self.devices.get(transition.device)
        if device is None:  # removed by a reload while its samples were in flight
            return
        causes = self.topology.causes(device.name, self._is_down) if then is None else list(then.causes)
        symptom_of = None
        if causes:
            symptom_of = next((self.reach_fault[c] for c in causes if c in self.reach_fault), None)
            if symptom_of is None:  # a cause in another poller's share: its fault is in the shared store
                symptom_of = self._foreign_cause_fault(causes)
        maintenance = self.calendar.maintenance_for(device, now)
        fault, outcome = self.store.open(
            device, transition.rule, transition.instance, severity=transition.severity,
            message=transition.message, value=transition.value, threshold=transition.threshold,
            higher_is_worse=transition.higher_is_worse, at=transition.time_ns / 1e9, sla=sla,
            reopen_window_s=self.settings.reopen_window_s, symptom_of=symptom_of,
            in_maintenance=maintenance is not None, maintenance=maintenance, heightened=heightened is not None)
        self.open_ids[transition.key] = fault.id
        if transition.reachability:
            self.reach_fault[device.name] = fault.id
            if self.orphans and self.topology.children.get(device.name):
                self._link_orphans(device.name, fault.id)
        if outcome == "existing":
            return
        event = "open" if outcome == "opened" else "reopen"
        is_symptom = bool(causes)
        if is_symptom:
            self.symptom_ids.add(fault.id)
            self.stats["symptoms"] += 1
            if symptom_of is None:
                self.orphans[fault.id] = device.name
        else:
            self.stats["opened"] += 1
        if maintenance is not None:
            self.maintenance_ids.add(fault.id)
            self._calendar_due = 0.0
        events.append(self._event(fault, device, "symptom" if is_symptom else event))
        if not is_symptom and maintenance is None:
            alerts.append(self._alert_for(fault, device, event, heightened,
                                          behind=list(then.behind) if then is not None else None))
        if is_symptom:
            log.info("fault %d %s %s: symptom of %s (no alert)", fault.id, device.name, transition.rule,
                     ", ".join(causes))
        else:
            log.warning("fault %d %s: %s%s", fault.id, outcome, transition.message,
                        f" (in maintenance: {maintenance})" if maintenance else "")

    def _foreign_cause_fault(self, causes: Sequence[str]) -> Optional[int]:
        """The open reachability fault of a cause this daemon does not look after (another
        poller's device sharing the fault database), or None."""
        for cause in causes:
            if cause in self.devices:
                continue
            for rule in sorted(self._reachability_rules()):
                fault = self.store._unresolved_of(cause, rule, "")
                if fault is not None:
                    return fault.id
        return None

    def _link_foreign_orphans(self) -> None:
        """Symptoms whose cause is another poller's device, linked once its fault is recorded."""
        for fault_id, device in list(self.orphans.items()):
            cause_fault = self._foreign_cause_fault(self.topology.causes(device, self._is_down))
            if cause_fault is not None:
                self.store.set_symptom_of(fault_id, cause_fault)
                del self.orphans[fault_id]

    def _link_orphans(self, cause: str, cause_fault: int) -> None:
        """Symptoms recorded before their cause had a fault (its rule waits `for` longer than
        the children's) get linked when it opens."""
        for fault_id, device in list(self.orphans.items()):
            if device != cause and cause in self.topology.causes(device, self._is_down):
                self.store.set_symptom_of(fault_id, cause_fault)
                del self.orphans[fault_id]

    def _update(self, transition: Transition, events, alerts) -> None:
        fault_id = self.open_ids.get(transition.key)
        if fault_id is None:
            return
        fault = self.store.update(transition.device, transition.rule, transition.instance,
                                  value=transition.value, message=transition.message, at=transition.time_ns / 1e9)
        recovery_ns = self.promote_after.get(fault_id)
        if fault is None or recovery_ns is None or transition.time_ns < recovery_ns:
            return
        # A symptom whose condition still holds after its parent recovered: a fault of its own.
        del self.promote_after[fault_id]
        if self.topology.cut_off(transition.device, self._is_down):
            return
        now = self.clock()
        self.store.set_symptom_of(fault_id, None, sla=self._sla(self._heightened(now)), at=now)  # clocks start now
        self.symptom_ids.discard(fault_id)
        self.orphans.pop(fault_id, None)
        device = self.devices[transition.device]
        fault = self.store.get(fault_id)
        events.append(self._event(fault, device, "promote"))
        if fault_id not in self.maintenance_ids:
            alerts.append(self._alert_for(fault, device, "open", self._heightened()))
        log.warning("fault %d %s: still failing after its parent recovered; alerting", fault_id, device.name)

    def _clear(self, transition: Transition, events, alerts) -> None:
        fault_id = self.open_ids.pop(transition.key, None)
        fault = self.store.resolve_auto(transition.device, transition.rule, transition.instance,
                                        at=transition.time_ns / 1e9)
        if fault is None:
            return
        self.stats["resolved"] += 1
        device = self.devices.get(transition.device) or DeviceInfo(transition.device, fault.device_class, ())
        if self.reach_fault.get(transition.device) == fault.id:
            del self.reach_fault[transition.device]
        silent = fault.id in self.symptom_ids or fault.id in self.maintenance_ids
        if fault.acknowledged_at is not None and fault.id not in self.acknowledged_ids:
            # Acknowledged from the CLI since the last poll: its event first, so none is lost.
            events.append(self._event(fault, device, "acknowledge"))
        self._forget(fault_id if fault_id is not None else fault.id)
        events.append(self._event(fault, device, "resolve"))
        if not silent:
            alerts.append(self._alert_for(fault, device, "resolved", None))
        log.info("fault %d resolved: %s %s%s", fault.id, device.name, transition.rule,
                 f" {transition.instance}" if transition.instance else "")

    def _forget(self, fault_id: int) -> None:
        self.symptom_ids.discard(fault_id)
        self.acknowledged_ids.discard(fault_id)
        self.maintenance_ids.discard(fault_id)
        self.promote_after.pop(fault_id, None)
        self.orphans.pop(fault_id, None)

    def _recovered(self, devices: list[str]) -> None:
        """Parents answer again: re-probe the devices behind them that have open symptom faults;
        their next samples decide (clear quietly, or promote and alert)."""
        recovery_ns: dict[str, int] = {}  # device behind a recovered parent -> that recovery's time
        for parent in devices:
            for name in self.topology.descendants(parent):
                recovery_ns[name] = max(recovery_ns.get(name, 0), self.observed_ns.get(parent, 0))
        found: dict[str, None] = {}  # ordered set
        for key, fault_id in self.open_ids.items():  # one pass, however many parents recovered
            if fault_id in self.symptom_ids and key[0] in recovery_ns:
                self.promote_after[fault_id] = max(self.promote_after.get(fault_id, 0), recovery_ns[key[0]])
                found[key[0]] = None
        behind = list(found)
        if behind and self.reprobe is not None:
            log.info("faults: %s answer again; re-probing %d device(s) behind them", ", ".join(devices), len(behind))
            self._spawn(self._reprobe_quietly(behind))

    async def _reprobe_quietly(self, devices: list[str]) -> None:
        try:
            await self._reprobe(devices)
        except Exception:  # noqa: BLE001
            log.exception("faults: re-probing %d device(s) failed", len(devices))

    # -- people's changes (API; the CLI writes the store and is noticed by `poll_changes`) -----

    def acknowledge(self, fault_id: int, by: str, note: Optional[str] = None):
        fault = self.store.acknowledge(fault_id, by, note=note)
        self.acknowledged_ids.add(fault.id)
        self._after_change(fault, "acknowledge")
        return fault

    def resolve(self, fault_id: int, by: str, note: Optional[str] = None):
        fault = self.store.resolve(fault_id, by, note=note)
        self._after_change(fault, "resolve")
        return fault

    def close(self, fault_id: int, by: str, *, cause: str, resolution: str, prevention: str):
        fault = self.store.close(fault_id, by, cause=cause, resolution=resolution, prevention=prevention)
        self._after_change(fault, "close")
        return fault

    def _after_change(self, fault, event: str) -> None:
        device = self.devices.get(fault.device) or DeviceInfo(fault.device, fault.device_class, ())
        self.emit([self._event(fault, device, event)])
        if event == "resolve":
            self._manually_resolved(fault)

    def _manually_resolved(self, fault) -> None:
        key = (fault.device, fault.rule, fault.instance)
        if self.open_ids.get(key) == fault.id:
            del self.open_ids[key]
        if self.reach_fault.get(fault.device) == fault.id:
            del self.reach_fault[fault.device]
        self.engine.reset(key)
        silent = fault.id in self.symptom_ids or fault.id in self.maintenance_ids
        self._forget(fault.id)
        if not silent:
            device = self.devices.get(fault.device) or DeviceInfo(fault.device, fault.device_class, ())
            self._alert(self._alert_for(fault, device, "resolved", None))

    def poll_changes(self) -> None:
        """Notice what another process (the CLI) committed: manual resolves reset rule state;
        acknowledgements and resolves become `fault` events as the API's do, so the metrics
        store (and Grafana's annotations and SLA panels) see them too."""
        version = self.store.data_version()
        if version == self._data_version:
            return
        self._data_version = version
        self.calendar.set_store_windows(self.store.maintenance.list())
        self._calendar_due = 0.0
        open_faults = self._own(self.store.unresolved())
        unresolved = {fault.id for fault in open_faults}
        events = []
        for fault in open_faults:
            if fault.acknowledged_at is not None and fault.id not in self.acknowledged_ids:
                self.acknowledged_ids.add(fault.id)
                events.append(self._event(fault, self._device_of(fault), "acknowledge"))
        for key, fault_id in list(self.open_ids.items()):
            if fault_id not in unresolved:
                fault = self.store.get(fault_id)
                log.info("fault %d was resolved by %s outside the daemon", fault_id, fault.resolved_by or "someone")
                events.append(self._event(fault, self._device_of(fault), "resolve"))
                self._manually_resolved(fault)
        if events:
            self.emit(events)

    def _device_of(self, fault) -> DeviceInfo:
        return self.devices.get(fault.device) or DeviceInfo(fault.device, fault.device_class, ())

    # -- time ------------------------------------------------------------------------------------

    def housekeeping(self) -> None:
        """Every few seconds: time-based clears, SLA clocks, changes from the CLI, the end of
        maintenance windows. Never raises."""
        try:
            now = self.clock()
            self.drain()
            self.poll_changes()
            if self.orphans and len(self.topology.parents) > len(self.devices):
                self._link_foreign_orphans()
            heightened = self._heightened(now)
            transitions = self.engine.tick(int(now * 1e9), heightened=heightened is not None)
            if transitions:
                self._apply(transitions)
            self._clocks(now)
            self._maintenance_over(now)
        except Exception:  # noqa: BLE001
            log_store_failure("faults: housekeeping failed")

    def _clocks(self, now: float) -> None:
        mine = sorted(self.devices) if getattr(self.store, "shared", False) else None  # see _own
        for fault, kind in self.store.due_clock_events(now, devices=mine):
            if fault.id in self.symptom_ids or fault.id in self.maintenance_ids:
                continue
            device = self.devices.get(fault.device) or DeviceInfo(fault.device, fault.device_class, ())
            deadline = fault.ack_deadline if kind.startswith("ack") else fault.resolve_deadline
            log.warning("fault %d %s: %s %s", fault.id, device.name, kind.replace("_", " "),
                        time.strftime("%H:%M:%S", time.localtime(deadline)) if deadline else "")
            self._alert(self._alert_for(fault, device, kind, None, deadline=deadline))

    def _maintenance_over(self, now: float) -> None:
        """Faults whose window ended while they were open alert now. Looked at only when a
        window may have ended (a calendar boundary, or a window changed by command or API)."""
        if not self.maintenance_ids or now < self._calendar_due:
            return
        self._calendar_due = self.calendar.next_change(now) or float("inf")
        for fault_id in list(self.maintenance_ids):
            fault = self.store.get(fault_id)
            device = self.devices.get(fault.device)
            if fault.resolved_at is not None or device is None:
                self.maintenance_ids.discard(fault_id)
                continue
            if self.calendar.maintenance_for(device, now) is None:
                self.maintenance_ids.discard(fault_id)
                self.store.set_in_maintenance(fault_id, False, None, sla=self._sla(self._heightened(now)), at=now)
                self.emit([self._event(fault, device, "maintenance_over")])
                if fault_id not in self.symptom_ids:
                    log.warning("fault %d %s: maintenance over and still failing", fault_id, device.name)
                    self._alert(self._alert_for(fault, device, "maintenance_over", self._heightened(now)))

    def _heightened(self, now: Optional[float] = None) -> Optional[str]:
        return self.calendar.heightened(self.clock() if now is None else now)

    def _sla(self, heightened: Optional[str]):
        return self.settings.heightened_watch.sla if heightened else self.settings.sla

    def maintenance_changed(self) -> None:
        """A window was added or ended through the API: apply it now."""
        self.calendar.set_store_windows(self.store.maintenance.list())
        self._calendar_due = 0.0

    def set_settings(self, settings, calendar) -> None:
        self.settings = settings
        self.calendar = calendar
        self._calendar_due = 0.0

    # -- output ----------------------------------------------------------------------------------

    def _alert_for(self, fault, device: DeviceInfo, event: str, heightened: Optional[str],
                   deadline: Optional[float] = None, behind: Optional[list[str]] = None) -> Alert:
        """`behind`: the devices cut off behind it, when not the ones down now (a kept change)."""
        symptoms: tuple[str, ...] = ()
        sites: tuple[str, ...] = ()
        if fault.id == self.reach_fault.get(device.name) and event in ("open", "reopen", "maintenance_over"):
            if behind is None:
                behind = self.topology.behind(device.name, self._is_down)
            if len(self.topology.parents) > len(self.devices):  # and what other pollers recorded behind it
                behind += [f.device for f in self.store.symptoms_of(fault.id) if f.device not in behind]
            symptoms = tuple(behind)
            sites = tuple(dict.fromkeys(self.devices[name].site for name in behind if name in self.devices))
        return Alert(fault_id=fault.id, event=event, device=device, rule=fault.rule, instance=fault.instance,
                     severity=fault.severity, message=fault.message, opened_at=fault.opened_at, time=self.clock(),
                     value=fault.last_value, threshold=fault.threshold,
                     heightened=bool(heightened) or bool(fault.heightened), symptoms=symptoms,
                     symptom_sites=sites, acknowledged_by=fault.acknowledged_by, deadline=deadline,
                     ack_deadline=fault.ack_deadline if fault.has_clocks else None)

    def _alert(self, alert: Alert) -> None:
        if self.dispatcher is not None:
            self.dispatcher.submit(alert)

    def _event(self, fault, device: DeviceInfo, event: str) -> Sample:
        tags = dict(device.sample_tags) if device.sample_tags else {"device": device.name}
        tags.update({"rule": fault.rule, "severity": fault.severity})
        if fault.instance:
            tags["instance"] = fault.instance
        fields = {"id": fault.id, "event": EVENT_CODES[event], "open": int(fault.resolved_at is None),
                  "symptom": int(fault.symptom_of is not None or fault.id in self.symptom_ids),
                  "maintenance": int(bool(fault.in_maintenance)), "message": fault.message}
        if fault.last_value is not None:
            fields["value"] = float(fault.last_value)
        if fault.threshold is not None:
            fields["threshold"] = float(fault.threshold)
        fields.update(self._sla_fields(fault))
        return Sample("fault", tags, fields, time.time_ns())

    @staticmethod
    def _sla_fields(fault) -> dict:
        """Times to acknowledge and resolve with the contract's allowance for each, so a panel
        can set what happened against the SLA from the `fault` events alone (the fault store
        is on the daemon's host, out of Grafana's reach). Symptoms and faults in maintenance
        run no clock and get none."""
        if fault.symptom_of is not None or fault.in_maintenance:
            return {}
        fields = {"ack_sla_s": round(fault.ack_deadline - fault.opened_at, 1),
                  "resolve_sla_s": round(fault.resolve_deadline - fault.opened_at, 1)}
        if fault.acknowledged_at is not None:
            fields["ack_s"] = round(fault.acknowledged_at - fault.opened_at, 1)
            fields["ack_breached"] = int(bool(fault.ack_breached) or fault.acknowledged_at > fault.ack_deadline)
        if fault.resolved_at is not None:
            fields["resolve_s"] = round(fault.resolved_at - fault.opened_at, 1)
            fields["resolve_breached"] = int(bool(fault.resolve_breached) or fault.resolved_at > fault.resolve_deadline)
            if fault.acknowledged_at is None:
                # Never acknowledged: the acknowledge clock ran out unless the fault went first.
                fields["ack_breached"] = int(bool(fault.ack_breached) or fault.resolved_at > fault.ack_deadline)
        return fields

    def snapshot(self) -> list[Sample]:
        """Every unresolved fault as a `fault_open` sample, and one `fault_open_count` per
        severity (0 included), stamped now. InfluxDB has no notion of "currently open": written
        every few seconds, the newest snapshot answers "what is open now" with a plain
        `WHERE time > now() - 1m` query, and a resolved fault simply stops appearing."""
        now = self.clock()
        at_ns = int(now * 1e9)
        counts = {severity: {"open": 0, "alerting": 0, "unacknowledged": 0, "breached": 0}
                  for severity in SEVERITIES}
        samples = []
        for fault in self._own(self.store.unresolved()):
            device = self.devices.get(fault.device)
            if device is not None and device.sample_tags:
                tags = dict(device.sample_tags)
            else:  # the device left the inventory but its fault is still open
                tags = {"device": fault.device, "class": fault.device_class, "site": fault.site}
            tags.update({"rule": fault.rule, "severity": fault.severity})
            if fault.instance:
                tags["instance"] = fault.instance
            symptom = fault.symptom_of is not None or fault.id in self.symptom_ids
            clocks = not symptom and not fault.in_maintenance  # symptoms and planned work run no SLA clock
            acknowledged = fault.acknowledged_at is not None
            fields = {"id": fault.id, "age_s": round(max(0.0, now - fault.opened_at), 1),
                      "ack": int(acknowledged), "symptom": int(symptom),
                      "maintenance": int(bool(fault.in_maintenance)), "occurrences": fault.occurrences}
            breached = False
            if clocks:
                fields["resolve_left_s"] = round(fault.resolve_deadline - now, 1)
                breached = fault.resolve_breached or now > fault.resolve_deadline
                # Frozen at the acknowledgement (negative: acknowledged late), so the field is
                # always written and `last()` over a window never finds an older, running value.
                fields["ack_left_s"] = round(fault.ack_deadline - (fault.acknowledged_at or now), 1)
                breached = breached or fault.ack_breached or (fault.acknowledged_at or now) > fault.ack_deadline
            fields["breached"] = int(breached)
            if fault.last_value is not None:
                fields["value"] = float(fault.last_value)
            samples.append(Sample("fault_open", tags, fields, at_ns))
            count = counts.setdefault(fault.severity, {"open": 0, "alerting": 0, "unacknowledged": 0, "breached": 0})
            count["open"] += 1
            count["alerting"] += int(clocks)
            count["unacknowledged"] += int(clocks and not acknowledged)
            count["breached"] += int(breached)
        for severity, count in counts.items():
            samples.append(Sample("fault_open_count", {"severity": severity}, dict(count), at_ns))
        return samples + self.budget_snapshot(now)

    def budget_snapshot(self, now: float) -> list[Sample]:
        """This calendar month's root faults against the budget: one `fault_budget` sample per
        device (of the budget's classes) with a fault this month, and one `fault_budget_count`
        with how many are over it (0 included, so "none over" is a 0 on the wall screen).
        Counted the way `netvigil faults` and GET /budget count them (FaultStore.monthly_counts)."""
        budget = self.settings.budget
        zone = self.settings.zone()
        local = dt.datetime.fromtimestamp(now, zone)
        at_ns = int(now * 1e9)
        samples, over = [], 0
        for name, count in sorted(self.store.monthly_counts(local.year, local.month, zone).items()):
            device = self.devices.get(name)
            if budget.classes and (device is None or device.device_class not in budget.classes):
                continue
            if device is None:  # left the inventory, still counted this month
                tags = {"device": name}
            elif device.sample_tags:
                tags = dict(device.sample_tags)
            else:
                tags = {"device": name, "class": device.device_class, "site": device.site}
            is_over = count > budget.faults_per_month
            over += is_over
            samples.append(Sample("fault_budget", tags, {"faults": count, "budget": budget.faults_per_month,
                                                         "left": budget.faults_per_month - count,
                                                         "over": int(is_over)}, at_ns))
        samples.append(Sample("fault_budget_count", {}, {"over": over, "with_faults": len(samples),
                                                         "budget": budget.faults_per_month}, at_ns))
        return samples

    def _spawn(self, coro) -> None:
        if self.thread is not None and not self.thread.on_loop():
            self.thread.loop.call_soon_threadsafe(self._spawn, coro)
            return
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
