"""`netvigil run`: the daemon. Wires config, probes, scheduler, outputs and systemd together.

Lifecycle: load the configuration (exit 2 on problems) -> start every kind's prober
(monitor/probing.py; exit 1 with a sentence if one cannot, e.g. ICMP sockets not permitted)
-> start outputs (spool replay begins) -> arm the schedule -> READY=1. SIGHUP re-reads settings and inventory: a valid change is applied in place (state
and spool kept), an invalid one is logged problem by problem and the old configuration
keeps running. SIGTERM/SIGINT: no new runs, running ones finish or are cut, outputs flush
(what cannot be written is spooled), exit 0 within scheduler.shutdown_timeout_s.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sqlite3
import time
from typing import Optional

from monitor.problems import EXIT_CONFIG, EXIT_OK, EXIT_RUNTIME
from monitor import config as config_module
from monitor import heap
from monitor.control import AlreadyRunning, ControlServer
from monitor.local_probes import LocalProbes
from monitor.outputs import Outputs
from monitor.probing import plan_batches
from monitor.reports.readings import LatestReadings
from monitor.scheduler import Batch
from monitor.sdnotify import Notifier
from monitor.state import DeviceStates
from monitor.statefiles import make_private
from monitor.pollers import share
from monitor.workers import effective_workers
from probes.base import Probed, Sample

log = logging.getLogger("netvigil")

SELF_METRICS_INTERVAL_S = 10.0
FAULT_HOUSEKEEPING_S = 2.0  # SLA clocks, CLI changes, time-based clears: seconds matter (3 min to acknowledge)
PRUNE_INTERVAL_S = 86_400.0
# SIGHUPs closer together than this become one reload (an editor saving twice, a deployment
# script signalling in a loop): 50 signals in a second used to be 50 full reloads back to back.
RELOAD_SETTLE_S = 0.3


def all_batches(inventory, slot_s: float, watch: Optional[dict] = None) -> list[Batch]:
    """Every probe run; `watch`: heightened-watch intervals by probe kind (icmp, snmp, ssh, ...)."""
    return plan_batches(inventory, slot_s, watch)


class Daemon:
    def __init__(self, cfg: "config_module.Config", notifier: Optional[Notifier] = None) -> None:
        self.cfg = cfg
        self.notifier = notifier or Notifier()
        self.states = DeviceStates()
        self.readings = LatestReadings()  # UPS, sensor and disk values for the inspection record
        # The probers and their schedule: here (LocalProbes), or in worker processes
        # (monitor.workers.pool.WorkerPool, with the same methods) when `workers` > 1.
        self.probes = LocalProbes(self._handle_probed)
        self.outputs: Optional[Outputs] = None
        self.control: Optional[ControlServer] = None
        self._stop = asyncio.Event()
        self._reload_lock = asyncio.Lock()
        self._reload_wanted = asyncio.Event()
        self._reloader: Optional[asyncio.Task] = None
        self._background: set[asyncio.Task] = set()
        self._swap_buffer: Optional[list[Sample]] = None
        self.started_at = time.time()
        self.reloads = 0
        self.faults = None  # monitor.faults.manager.FaultManager
        self.fault_store = None
        self.pending_changes = None  # monitor.faults.pending.PendingChanges (PostgreSQL only)
        self.fault_thread = None  # monitor.faults.thread.FaultThread: every call into self.faults
        self.dispatcher = None
        self.api = None
        self._watch: Optional[str] = None  # the heightened-watch period in force, if any
        self.heartbeat = None  # monitor.heartbeat.Heartbeat: the dead man's switch
        self._watchdog_withheld = False
        self.leadership = None  # monitor.leadership.Leadership when `ha` is enabled
        self.share = share(cfg.inventory, cfg.settings.poller.sites)  # the devices this daemon probes
        self.registry = None  # monitor.pollers.Registry when pollers share faults.database
        self._loop_tick: Optional[float] = None  # monotonic time of the loop's last tick (None: starting)
        self._exit_code = EXIT_OK

    # -- probe runs ---------------------------------------------------------------------------

    def _handle_probed(self, kind: str, probed: Probed) -> None:
        self._handle_result(kind, probed.samples, [(target.device, error.detail) for target, error in probed.errors])

    def _handle_result(self, kind: str, samples: list[Sample], errors: list[tuple[str, str]]) -> None:
        """One run's samples and errors (device, sentence), from this process or a worker's."""
        self._handle(samples)
        # After the samples: a kind with several samples per device (TCP ports) clears the
        # sentence on an ok one, and must keep the sentence of the one that failed.
        for device, detail in errors:
            self.states.note_error(device, detail, kind=kind)
            log.debug("%s: %s", device, detail)

    def _handle(self, samples: list[Sample]) -> None:
        self.states.update(samples)
        self.readings.update(samples)
        self._submit(samples)
        if self.faults is not None:
            self.fault_thread.samples(self.faults.process, samples)

    def _submit(self, samples: list[Sample]) -> None:
        if self._swap_buffer is not None:  # outputs are being replaced (reload): hold, then hand over
            self._swap_buffer.extend(samples)
        else:
            self.outputs.submit(samples)

    def _watchdog(self) -> None:
        """WATCHDOG=1 only while every worker process reports (one process: always): a worker
        that hangs or keeps dying ends in systemd restarting the service."""
        if self.probes.alive():
            self.notifier.watchdog()
            if self._watchdog_withheld:
                log.info("watchdog: confirmed to systemd again")
                self._watchdog_withheld = False
        elif not self._watchdog_withheld:  # once per outage, not every half interval
            log.warning("watchdog: not confirmed to systemd: %s", self.probes.stalled())
            self._watchdog_withheld = True

    # -- status -------------------------------------------------------------------------------

    def summary(self) -> dict:
        counts = self.states.counts()
        kinds = self.probes.stats()
        outputs = self.outputs.stats() if self.outputs else []
        return {
            "pid": os.getpid(),
            "started_at": self.started_at,
            "config": str(self.cfg.path),
            "icmp_mode": self.probes.icmp_mode,
            "devices": sum(counts.values()),
            "up": counts["up"], "down": counts["down"], "pending": counts["pending"],
            "unmonitored": counts["unmonitored"],
            "reloads": self.reloads,
            "open_faults": len(self.faults.open_ids) if self.faults is not None else 0,
            "fault_changes_waiting": len(self.pending_changes) if self.pending_changes is not None else 0,
            "scheduler": {kind: vars(stats) for kind, stats in kinds.items()},
            "outputs": [_output_dict(s) for s in outputs],
            "heartbeat": self.heartbeat.status() if self.heartbeat is not None else {},
            "workers": summary_of_workers(self.probes),
            "ha": self.leadership.status() if self.leadership is not None else {},
        }

    def status_line(self) -> str:
        s = self.summary()
        lag = max((k["lag_max_s"] for k in s["scheduler"].values()), default=0.0)
        backlog = sum(o["queued_points"] + o["spooled_points"] for o in s["outputs"])
        faults = f"; {s['open_faults']} open faults" if s.get("open_faults") else ""
        if s.get("fault_changes_waiting"):
            faults += f"; {s['fault_changes_waiting']} fault changes waiting for the database"
        return (f"{s['devices']} devices: {s['up']} up, {s['down']} down, {s['pending']} pending{faults}; "
                f"lag {lag:.2f} s; output backlog {backlog} points")

    def _self_metrics(self) -> list[Sample]:
        now = time.time_ns()
        samples = []
        for kind, stats in self.probes.take_window().items():
            samples.append(Sample("netvigil_scheduler", {"kind": kind}, {
                "devices": stats.devices, "jobs": stats.jobs, "running": stats.running,
                "runs_total": stats.runs_total, "skipped_total": stats.skipped_total,
                "errors_total": stats.errors_total, "lag_max_ms": round(stats.lag_max_s * 1000, 3),
                "lag_last_ms": round(stats.lag_last_s * 1000, 3),
                "run_seconds_last": round(stats.run_seconds_last, 3)}, now))
        for out in self.outputs.stats():
            samples.append(Sample("netvigil_output", {"output": out.name}, {
                "queued_points": out.queued_points, "spooled_points": out.spooled_points,
                "spooled_bytes": out.spooled_bytes, "written_points": out.written_points,
                "dropped_points": out.dropped_points, "rejected_points": out.rejected_points,
                "healthy": int(out.healthy)}, now))
        for worker in summary_of_workers(self.probes):
            samples.append(Sample("netvigil_worker", {"worker": str(worker["worker"])}, {
                "alive": int(worker["alive"]), "devices": worker["devices"], "restarts": worker["restarts"]}, now))
        if self.heartbeat is not None:
            samples += self.heartbeat.samples(now)
        if self.faults is not None:  # read from the fault records, on their thread
            self.fault_thread.post(self._fault_snapshot, self.faults, self.fault_thread.to_loop(self._submit))
        return samples

    @staticmethod
    def _fault_snapshot(faults, submit) -> None:
        try:
            submit(faults.snapshot())
        except Exception:  # noqa: BLE001 - a locked or damaged fault store must not stop the self-metrics
            from monitor.faults.manager import log_store_failure

            log_store_failure("faults: could not write the open-fault snapshot")

    async def _every(self, interval_s: float, action) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                action()
            except Exception:  # noqa: BLE001 - housekeeping must never stop the daemon
                log.exception("periodic task failed")

    def _spawn(self, coro) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- lifecycle ----------------------------------------------------------------------------

    async def _cannot_start(self, message: str, code: int = EXIT_RUNTIME) -> int:
        log.error("cannot start: %s", message)
        # Probing may have begun (the fault records open after it): a run in flight finishes
        # rather than being cancelled under the scheduler, which would log it as a traceback.
        await self.probes.shutdown(timeout_s=1.0)
        if self.outputs is not None:
            await self.outputs.stop(timeout_s=1)
        self.probes.close()
        if self.control is not None:
            await self.control.stop()
        await self._stop_faults()
        return code

    async def _stop_faults(self, timeout_s: float = 2.0) -> None:
        if self.api is not None:
            await self.api.stop()
            self.api = None
        if self.faults is not None:
            faults, self.faults = self.faults, None  # the samples of the last probe runs go nowhere now
            await faults.stop()
        if self.fault_thread is not None:
            await self.fault_thread.close(timeout_s=max(1.0, timeout_s))
            self.fault_thread = None
        if self.dispatcher is not None:
            await self.dispatcher.stop(timeout_s=timeout_s)
            self.dispatcher = None
        if self.fault_store is not None:
            self.fault_store.disconnect()
            self.fault_store = None
        if self.pending_changes is not None:
            self.pending_changes.close()
            self.pending_changes = None

    async def run(self) -> int:
        heap.tune()
        settings = self.cfg.settings
        missing = config_module.missing_secrets(self.cfg)
        if missing:
            for sentence in missing:
                log.error("%s", sentence)
            log.error("not started: %d secret(s) missing", len(missing))
            return EXIT_CONFIG
        state_dir = settings.state_dir
        try:
            state_dir.mkdir(parents=True, exist_ok=True)
            loosened = make_private(state_dir)
            if loosened:
                log.warning("state_dir %s: %d file(s) readable by others made owner-only: %s", state_dir,
                            len(loosened), ", ".join(loosened[:10]) + (", ..." if len(loosened) > 10 else ""))
            self.control = ControlServer(self._control_socket_path(), self)
            await self.control.start()
        except AlreadyRunning as exc:
            self.control = None
            return await self._cannot_start(str(exc))
        except OSError as exc:
            self.control = None
            return await self._cannot_start(
                f"state_dir {state_dir}: {exc.strerror or exc} ({exc.filename or self._control_socket_path()}); "
                f"it must be a directory the daemon's user can write")
        if settings.ha.enabled:
            if not await self._wait_for_the_lease(settings):
                return await self._stopped_as_standby()
            # From now: starting up takes seconds of the lease, and the task below first runs
            # when start-up is done; the renewals do not wait for that.
            self.leadership.start_renewing(self._loop_turns)
            self._spawn(self._keep_the_lease())
        problem = await self._register_share(settings)
        if problem is not None:  # a configuration conflict: a restart would meet it again
            return await self._cannot_start(problem, EXIT_CONFIG)
        try:
            self.outputs = Outputs.build(settings.outputs, state_dir)
            await self.outputs.start()
        except (OSError, sqlite3.Error) as exc:
            self.outputs = None
            return await self._cannot_start(
                f"outputs under state_dir {state_dir}: {exc}; the spool and the embedded store need a "
                f"writable state_dir (and metrics.db / spool/ must be files and a directory there)")
        self.states.set_inventory(self.share.devices)

        self._watch = _watch_period(settings.faults, time.time())
        workers = effective_workers(settings.workers, len(self.share.devices))
        if workers > 1:
            from monitor.workers.pool import WorkerPool

            self.probes = WorkerPool(workers, self.cfg.path, self._handle_result, settings.log_level)
        # The outputs run first: the first samples come as soon as the schedule starts.
        problem = await self.probes.start(settings, self.share, {"config_store": self._config_store},
                                          self._watch_intervals(), everyone=self.cfg.inventory)
        if problem is not None:
            return await self._cannot_start(problem)

        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self._stop.set)
        loop.add_signal_handler(signal.SIGINT, self._stop.set)
        loop.add_signal_handler(signal.SIGHUP, self.request_reload)

        if self.notifier.watchdog_interval_s:
            # From the event loop itself: if the loop is stuck, systemd stops hearing from us.
            self._spawn(self._every(self.notifier.watchdog_interval_s, self._watchdog))
        self._spawn(self._every(SELF_METRICS_INTERVAL_S, lambda: self._submit(self._self_metrics())))
        for work in self.probes.after_start():
            self._spawn(work)
        self._spawn(self._every(SELF_METRICS_INTERVAL_S, lambda: self.notifier.status(self.status_line())))

        problem = await self._start_faults(settings)
        if problem is not None:
            return await self._cannot_start(problem)
        self._spawn(self._every(FAULT_HOUSEKEEPING_S, self._fault_housekeeping))
        self._spawn(self._every(PRUNE_INTERVAL_S, self._prune_faults))
        from monitor.rollcall_schedule import MeetingRollcalls  # the meeting calendar's roll calls

        self._spawn(MeetingRollcalls(lambda: self.cfg, self._submit, lambda: self.dispatcher).run())
        self._start_reports()
        self._start_heartbeat()

        log.info("started: %d devices from %s, outputs: %s", len(self.cfg.inventory.devices), self.cfg.path,
                 ", ".join(o.name for o in self.outputs.stats()) or "none")
        heap.settle()  # what start-up built lives until a reload: out of the collector's way
        if self.leadership is not None:  # started: from now the lease needs the loop to turn
            self._tick()
            self._spawn(self._every(1.0, self._tick))
        self.notifier.ready(self.status_line())
        await self._stop.wait()
        return await self.shutdown()

    # -- pollers sharing the fault database -----------------------------------------------------

    async def _register_share(self, settings) -> Optional[str]:
        """With faults on PostgreSQL: refuse a share that overlaps a live poller's (a sentence),
        else register it and keep it fresh. None when fine."""
        if not settings.faults.database.postgresql:
            return None
        from monitor.faults.postgres import connect, connect_problem
        from monitor.pollers import HEARTBEAT_S, Registry, site_paths

        database, poller = settings.faults.database, settings.poller
        registry = Registry(lambda: connect(database), poller.poller_name(),
                            f"{settings.ha.server_name()}:{settings.state_dir}",
                            site_paths(self.cfg.inventory, poller.sites))
        try:
            conflicts = await asyncio.to_thread(registry.conflicts)
            if conflicts:
                name, server, common = conflicts[0]
                mine = ", ".join(poller.sites) or "every device"
                return (f"poller.sites: this poller ({registry.name}: {mine}) overlaps poller {name} on "
                        f"{server.split(':')[0]} at {', '.join(common)}, which reported within the last minute; "
                        f"give each poller sites of its own (two pollers probing one device would each alert for "
                        f"it), or stop the other one")
            await asyncio.to_thread(registry.beat)
        except Exception as exc:  # noqa: BLE001 - the fault store reports an unreachable database itself
            log.warning("pollers: could not check this poller's share against the others: %s",
                        connect_problem(database, exc)[1])
            return None
        self.registry = registry
        self._spawn(self._beat_share(HEARTBEAT_S))
        return None

    async def _beat_share(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                await asyncio.to_thread(self.registry.beat)
            except Exception:  # noqa: BLE001 - the fault store logs the outage; beat again next time
                log.debug("pollers: heartbeat failed", exc_info=True)

    # -- active and standby --------------------------------------------------------------------

    async def _wait_for_the_lease(self, settings) -> bool:
        """`ha` enabled: wait as the standby until this server holds the share's lease (True), or
        until told to stop (False). systemd hears READY=1 and the watchdog meanwhile: a standby
        is a service that runs."""
        from monitor.faults.postgres import connect, connect_problem
        from monitor.leadership import Lease, Leadership

        database, ha = settings.faults.database, settings.ha
        lease = Lease(lambda: connect(database), ha.share, ha.server_name(), ha.lease_s)
        self.leadership = Leadership(lease, lambda exc: connect_problem(database, exc)[1])
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self._stop.set)
        loop.add_signal_handler(signal.SIGINT, self._stop.set)
        if self.notifier.watchdog_interval_s:
            self._spawn(self._every(self.notifier.watchdog_interval_s, self.notifier.watchdog))
        log.info("ha: server %s, standby for share %s: waiting for its lease (%s)", ha.server_name(), ha.share,
                 database.shown())
        self.notifier.ready(f"standby for share {ha.share}")
        if not await self.leadership.wait_until_active(self._stop):
            return False
        log.warning("ha: server %s is now active for share %s (lease epoch %d)", ha.server_name(), ha.share,
                    lease.epoch)
        for task in list(self._background):  # the standby's watchdog; the active one starts its own
            task.cancel()
        return True

    async def _stopped_as_standby(self) -> int:
        log.info("stopped (standby)")
        if self.control is not None:
            await self.control.stop()
        self.leadership.close()
        self.notifier.stopping()
        self.notifier.close()
        return EXIT_OK

    def _loop_turns(self) -> bool:
        """For the lease's thread: the loop is starting up (it may be busy for seconds), or it ran
        its once-a-second tick within half a lease."""
        return self._loop_tick is None or time.monotonic() - self._loop_tick < self.cfg.settings.ha.lease_s / 2

    def _tick(self) -> None:
        self._loop_tick = time.monotonic()

    async def _keep_the_lease(self) -> None:
        why = await self.leadership.keep(self._loop_turns)
        log.error("ha: server %s lost the lease for share %s: %s; stopping so that the other server takes over "
                  "(systemd starts this one again as the standby)", self.cfg.settings.ha.server_name(),
                  self.cfg.settings.ha.share, why)
        self._exit_code = EXIT_RUNTIME
        if self.dispatcher is not None:  # first of all: no more alerts from here
            await self.dispatcher.stop(timeout_s=1.0)
            self.dispatcher = None
        self._stop.set()

    # -- faults, notifications, API ------------------------------------------------------------

    async def _start_faults(self, settings) -> Optional[str]:
        """Rules, fault records, notifications and the HTTP API; a sentence if they cannot start."""
        from monitor.faults.calendar import Calendar
        from monitor.faults.manager import FaultManager
        from monitor.faults.model import DeviceInfo
        from monitor.faults.store import fault_store_location, open_fault_store
        from monitor.notify.dispatcher import AlertDispatcher
        from monitor.rules.engine import RuleEngine
        from monitor.rules.model import RulesError, load_rules

        try:
            rules = load_rules(settings.rules)
        except RulesError as exc:  # changed between `load` and here
            return "; ".join(exc.problems)
        from monitor.faults.store import FaultError

        path = fault_store_location(settings)
        try:
            self.fault_store = open_fault_store(settings)
        except FaultError as exc:  # unreadable, corrupt, written by a newer netvigil, PostgreSQL unreachable
            return str(exc)
        except (sqlite3.Error, OSError) as exc:
            return (f"fault records {path}: {exc}; state_dir must be writable by the daemon's user (a copy made "
                    f"as root needs chown)")
        store = self.fault_store
        devices = [DeviceInfo.from_device(device) for device in self.share.devices]
        try:
            self.dispatcher = AlertDispatcher(
                settings.notifications, settings.state_dir / "notifications.db",
                is_unacknowledged=self._unacknowledged, ack_deadline=self._ack_deadline,
                extra_groups=settings.faults.heightened_watch.extra_groups, claims=_delivery_claims(settings))
        except (sqlite3.Error, OSError) as exc:
            return f"notification log under {settings.state_dir}: {exc}; state_dir must be writable by the daemon"
        await self.dispatcher.start()
        pending = None
        if store.shared:  # a database on another server: changes wait on this disk while it is away
            from monitor.faults.pending import PENDING_FILE, PendingChanges

            try:
                self.pending_changes = pending = PendingChanges(settings.state_dir / PENDING_FILE)
            except (sqlite3.Error, OSError) as exc:
                return (f"fault changes kept while the database is away, {settings.state_dir / PENDING_FILE}: {exc}; "
                        f"state_dir must be writable by the daemon (move a damaged file aside)")
        from monitor.faults.thread import FaultThread

        self.fault_thread = thread = FaultThread(asyncio.get_running_loop())
        self.faults = FaultManager(
            store=store, engine=RuleEngine(rules, devices, settings.rules),
            calendar=Calendar(settings.faults, store.maintenance.list()), settings=settings.faults,
            devices=devices, emit=thread.to_loop(self._submit), dispatcher=self.dispatcher,
            reprobe=self.probes.reprobe, pending=pending, thread=thread)
        if len(self.share.devices) < len(self.cfg.inventory.devices):  # parents in other pollers' shares
            await thread.call(self.faults.set_inventory, devices,
                              [DeviceInfo.from_device(d) for d in self.cfg.inventory.devices])
        try:
            restored = await thread.call(self.faults.restore)
        except (FaultError, sqlite3.Error) as exc:
            return f"fault records {path}: {exc}"
        log.info("faults: %d rules, %d unresolved fault(s) carried over%s", len(rules.rules), restored,
                 f"; heightened watch: {self._watch}" if self._watch else "")
        if settings.api.enabled:
            await self._start_api(settings)
        return None

    async def _start_api(self, settings) -> None:
        from monitor.api.metrics import snapshot_from_summary
        from monitor.api.server import ApiServer, ApiStartError
        from monitor.api.service import FaultService, HealthCheck, budget_report

        def metrics() -> dict:
            channels = self.dispatcher.stats().get("channels", {}) if self.dispatcher else {}
            return snapshot_from_summary(self.summary(), channels)

        def budget() -> dict:
            classes = {device.name: device.device_class for device in self.cfg.inventory.devices}
            return budget_report(self.fault_store, self.cfg.settings.faults, classes)

        service = FaultService(manager=self.faults, zone=settings.faults.zone(), run=self.fault_thread.call,
                               status=lambda: {"daemon": self.summary(), "devices": self.states.rows()},
                               health=HealthCheck(settings.api, self.summary), metrics=metrics, budget=budget,
                               rollcall=self._rollcall)
        for warning in settings.api.warnings():
            log.warning("api: %s", warning)
        api = ApiServer(settings.api, service)
        try:
            await api.start()
        except (ApiStartError, OSError) as exc:
            # Monitoring goes on without the API: refusing to start over a busy port would
            # leave the network unwatched.
            log.error("api: %s; the HTTP API is off until the next restart", exc)
            return
        self.api = api

    def _start_heartbeat(self) -> None:
        from monitor.heartbeat import Heartbeat

        def facts() -> dict:
            counts = self.states.counts()
            return {"devices": sum(counts.values()), "down": counts["down"],
                    "faults": len(self.faults.open_ids) if self.faults is not None else 0}

        # Started even without targets: a reload that adds one takes effect at the next beat.
        self.heartbeat = Heartbeat(lambda: self.cfg.settings.heartbeat, lambda: self.probes.stalled(), facts)
        self._spawn(self.heartbeat.run())

    def _start_reports(self) -> None:
        """Scheduled reports and reminders (monitor/reports/schedule.py); never stops the daemon."""
        from monitor.reports.schedule import ReportSchedule

        try:
            self._spawn(ReportSchedule(self).run())
        except OSError as exc:  # the ledger under state_dir cannot be written
            log.error("reports: not scheduled: %s", exc)

    async def _unacknowledged(self, fault_id: int) -> bool:
        """Asked before each escalation step; read on the fault thread (a slow database must
        not hold up the loop)."""
        thread = self.fault_thread
        if thread is None:  # stopping
            return False
        return await thread.call(self._unacknowledged_now, fault_id)

    def _unacknowledged_now(self, fault_id: int) -> bool:
        try:
            return self.fault_store.get(fault_id).state == "open"
        except Exception:  # noqa: BLE001 - unknown id: nothing to escalate
            return False

    def _ack_deadline(self, fault_id: int) -> Optional[float]:
        try:
            return self.fault_store.get(fault_id).ack_deadline
        except Exception:  # noqa: BLE001
            return None

    def _fault_housekeeping(self) -> None:
        if self.faults is None:  # stopping
            return
        self.fault_thread.post(self._housekeeping_on_thread, self.faults, self.fault_thread.to_loop(self._watch_is))

    @staticmethod
    def _housekeeping_on_thread(faults, watch_is) -> None:
        faults.housekeeping()
        watch_is(faults.calendar.heightened(time.time()))

    def _watch_is(self, watch) -> None:
        if watch != self._watch:
            log.warning("heightened watch %s", f"begins: {watch}" if watch else f"ends: {self._watch}")
            self._watch = watch
            if self.cfg.settings.faults.heightened_watch.probe_intervals:
                self.probes.arm(self.cfg.settings, self._watch_intervals())

    def _watch_intervals(self) -> Optional[dict]:
        return dict(self.cfg.settings.faults.heightened_watch.probe_intervals) if self._watch else None

    def _prune_faults(self) -> None:
        if self.fault_thread is not None:
            self.fault_thread.post(self._prune_on_thread)

    def _prune_on_thread(self) -> None:
        from monitor.faults.manager import log_store_failure

        try:
            removed = self.fault_store.prune(self.cfg.settings.faults.keep_days * 86400)
        except Exception:  # noqa: BLE001 - the database away, or busy: the next round tries again
            log_store_failure("faults: could not remove old closed faults")
            return
        if removed:
            log.info("faults: %d closed fault(s) older than %d days removed", removed,
                     self.cfg.settings.faults.keep_days)

    def _control_socket_path(self):
        settings = self.cfg.settings
        return settings.control_socket or settings.state_dir / "netvigil.sock"

    async def shutdown(self) -> int:
        deadline = time.monotonic() + self.cfg.settings.scheduler.shutdown_timeout_s
        asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
        async with self._reload_lock:  # a reload in progress completes first; none starts after
            pass
        log.info("stopping: finishing running probes and flushing outputs")
        self.notifier.stopping()
        for task in list(self._background):
            task.cancel()
        await self.probes.shutdown(timeout_s=max(0.5, (deadline - time.monotonic()) / 2))
        if self.control is not None:
            await self.control.stop()
        await self._stop_faults(timeout_s=max(0.5, (deadline - time.monotonic()) / 3))
        if self.leadership is not None:  # nothing alerts here any more: the standby may take over now
            await self.leadership.release()
            self.leadership.close()
        if self.registry is not None:  # this share is free for another poller at once
            try:
                await asyncio.to_thread(self.registry.leave)
            except Exception:  # noqa: BLE001 - it goes stale by itself
                pass
        await self.outputs.stop(timeout_s=max(0.5, deadline - time.monotonic()))
        self.probes.close()
        for stats in self.outputs.stats():
            if stats.spooled_points:
                log.info("%s: %d points kept in the spool for the next start", stats.name, stats.spooled_points)
        log.info("stopped")
        self.notifier.close()
        return self._exit_code

    def request_reload(self) -> None:
        """SIGHUP: reload soon. Signals that arrive before or during a reload are served by one
        more reload after it (the file may have changed again), never by one each."""
        self._reload_wanted.set()
        if self._reloader is None or self._reloader.done():
            self._reloader = asyncio.create_task(self._reload_when_settled())
            self._background.add(self._reloader)
            self._reloader.add_done_callback(self._background.discard)

    async def _reload_when_settled(self) -> None:
        while self._reload_wanted.is_set():
            await asyncio.sleep(RELOAD_SETTLE_S)
            self._reload_wanted.clear()
            await self.reload()

    async def reload(self) -> None:
        async with self._reload_lock:
            if self._stop.is_set():
                return
            self.notifier.reloading()
            try:
                new = await asyncio.to_thread(config_module.load, self.cfg.path)
            except config_module.ConfigError as exc:
                for problem in exc.problems:
                    log.error("reload: %s", problem)
                log.error("reload rejected (%d problem(s)); still running the previous configuration",
                          len(exc.problems))
                return
            except Exception as exc:  # noqa: BLE001 - e.g. file vanished; keep running
                log.error("reload rejected: %s; still running the previous configuration", exc)
                return
            else:
                missing = config_module.missing_secrets(new)
                if missing:
                    for sentence in missing:
                        log.error("reload: %s", sentence)
                    log.error("reload rejected (%d secret(s) missing); still running the previous "
                              "configuration", len(missing))
                    return
                await self._apply(new)
                self.reloads += 1
                heap.settle()  # the previous configuration is collected, the new one frozen
            finally:
                self.notifier.ready(self.status_line())  # systemd waits for it after RELOADING=1

    async def _swap_outputs(self, old_settings, settings) -> bool:
        """Replace the outputs; False if the new ones cannot start (the previous ones restart).

        The old outputs stop *before* the new ones open the spool files: they spool what
        they hold and close the files, so each file has one owner at a time and the new
        writers replay all of it. (Opening first let the new writer trust counts taken
        before the old one's last append: its replay ended a batch early and stranded the
        newest batch until the next restart.) Samples produced meanwhile are held and handed
        to the new outputs: nothing is lost.
        """
        previous = self.outputs
        self._swap_buffer = []
        try:
            await previous.stop(timeout_s=settings.scheduler.shutdown_timeout_s / 2)
            try:
                self.outputs = await _started_outputs(settings.outputs, settings.state_dir)
                swapped = True
                log.info("reload: outputs reconfigured")
            except (OSError, sqlite3.Error) as exc:
                log.error("reload: new outputs failed to start under %s: %s; restarting the previous ones",
                          settings.state_dir, exc)
                try:
                    self.outputs = await _started_outputs(old_settings.outputs, settings.state_dir)
                except (OSError, sqlite3.Error) as again:
                    log.error("reload: the previous outputs failed to restart too: %s; metrics are dropped "
                              "(and counted) until the state directory is fixed and the daemon restarted", again)
                    return False
                swapped = False
            self.outputs.carry_over(previous)
            return swapped
        finally:
            held, self._swap_buffer = self._swap_buffer, None
            self.outputs.submit(held)

    async def _apply(self, new: "config_module.Config") -> None:
        old_settings, settings = self.cfg.settings, new.settings
        old_names = {d.name for d in self.cfg.inventory.devices}
        new_names = {d.name for d in new.inventory.devices}
        if (settings.state_dir, settings.control_socket) != (old_settings.state_dir, old_settings.control_socket):
            # The control socket, spool and store live there; moving them under a running
            # daemon would strand `status` and the spool, so that waits for a restart.
            log.warning("reload: state_dir and control_socket changes take effect at the next restart")
            settings = settings.model_copy(update={"state_dir": old_settings.state_dir,
                                                   "control_socket": old_settings.control_socket})
        if settings.workers != old_settings.workers:
            log.warning("reload: a change of workers takes effect at the next restart")
            settings = settings.model_copy(update={"workers": old_settings.workers})
        if settings.poller != old_settings.poller:
            log.warning("reload: poller changes take effect at the next restart (the share is checked against "
                        "the other pollers' then)")
            settings = settings.model_copy(update={"poller": old_settings.poller})
        if settings.faults.database != old_settings.faults.database:
            # The open records and their clocks live there; switching under a running daemon would
            # leave them behind, so that waits for a restart (with the records moved, or not).
            log.warning("reload: faults.database changes take effect at the next restart")
            settings = settings.model_copy(update={"faults": settings.faults.model_copy(
                update={"database": old_settings.faults.database})})
        if settings.outputs != old_settings.outputs and not await self._swap_outputs(old_settings, settings):
            log.error("reload: keeping the previous outputs; the rest of the change is applied")
            settings = settings.model_copy(update={"outputs": old_settings.outputs})
        if settings is not new.settings:
            new = config_module.Config(new.path, settings, new.inventory)
        self.cfg = new
        self.share = share(new.inventory, settings.poller.sites)
        self.states.set_inventory(self.share.devices)
        try:
            await self._apply_faults(old_settings, settings, new.inventory)
        except Exception:  # noqa: BLE001 - the probes must still get the new inventory
            log.exception("reload: rules, faults or notifications could not take the change; probing goes on "
                          "with it")
        await self.probes.reconfigure(settings, self.share, self._watch_intervals(), everyone=new.inventory)
        log.info("reloaded %s: %d devices (%d added, %d removed)", new.path, len(new_names),
                 len(new_names - old_names), len(old_names - new_names))


    async def _apply_faults(self, old, settings, inventory) -> None:
        from monitor.faults.model import DeviceInfo
        from monitor.rules.model import RulesError, load_rules

        if self.faults is None:
            return
        try:
            rules = load_rules(settings.rules)
        except RulesError as exc:  # edited between `load` and here
            log.error("reload: keeping the previous rules: %s", "; ".join(exc.problems))
        else:
            await self.fault_thread.call(self.faults.set_rules, rules, settings.rules)
        from monitor.faults.calendar import Calendar

        windows = await self.fault_thread.call(self.fault_store.maintenance.list)
        await self.fault_thread.call(self.faults.set_settings, settings.faults, Calendar(settings.faults, windows))
        await self.fault_thread.call(self.faults.set_inventory,
                                     [DeviceInfo.from_device(device) for device in self.share.devices],
                                     [DeviceInfo.from_device(device) for device in inventory.devices]
                                     if len(self.share.devices) < len(inventory.devices) else None)
        self.dispatcher.set_settings(settings.notifications, settings.faults.heightened_watch.extra_groups)
        if self.api is not None:
            for key in self.api.reconfigure(settings.api):
                log.warning("reload: %s takes effect at the next restart", key)

    async def _rollcall(self, classes, site, name: str) -> dict:
        """A pre-meeting roll call for the API, with the current inventory; its samples go
        through the daemon's outputs (their spools are the daemon's)."""
        from monitor.rollcall_schedule import call_in_daemon

        return (await call_in_daemon(self.cfg, classes, site, name, self._submit)).record

    def _config_store(self, rules_for_device):
        """The store of configuration versions under state_dir (the SSH prober's backups)."""
        from monitor.config_store import ConfigStore

        return ConfigStore(self.cfg.settings.state_dir / "configs", rules_for_device=rules_for_device)


def _delivery_claims(settings):
    """Servers sharing fault records on PostgreSQL claim each notice there before sending it."""
    database = settings.faults.database
    if not database.postgresql:
        return None
    from monitor.faults.postgres import connect, connect_problem
    from monitor.notify.claims import DeliveryClaims

    # The claimant is this daemon's outbox: the server and its state_dir (two pollers may share
    # a host; a restarted daemon finds its own claims again).
    return DeliveryClaims(lambda: connect(database), lambda exc: connect_problem(database, exc)[1],
                          f"{settings.ha.server_name()}:{settings.state_dir}")


def summary_of_workers(probes) -> list[dict]:
    """Per worker process (none when the daemon probes itself): pid, devices, sites, alive, restarts."""
    summary = getattr(probes, "summary", None)
    return summary() if summary is not None else []


def _watch_period(faults_settings, now: float) -> Optional[str]:
    from monitor.faults.calendar import Calendar

    return Calendar(faults_settings).heightened(now)


async def _started_outputs(settings, state_dir) -> Outputs:
    outputs = Outputs.build(settings, state_dir)
    try:
        await outputs.start()
    except BaseException:
        await outputs.stop(timeout_s=1)  # closes the spool files again for the next attempt
        raise
    return outputs


def _output_dict(stats) -> dict:
    return {key: getattr(stats, key) for key in (
        "name", "queued_points", "spooled_points", "spooled_bytes", "written_points", "dropped_points",
        "rejected_points", "last_error", "healthy")}
