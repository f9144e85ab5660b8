"""`netvigil run`: the daemon. Wires config, probes, scheduler, outputs and systemd together.

Lifecycle: load the configuration (exit 2 on problems) -> open ICMP sockets (exit 1 with a
sentence if not permitted) -> start outputs (spool replay begins) -> arm the schedule ->
READY=1. SIGHUP re-reads settings and inventory: a valid change is applied in place (state
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
from monitor.control import AlreadyRunning, ControlServer
from monitor.outputs import Outputs
from monitor.scheduler import Batch, ProbeScheduler, plan
from monitor.sdnotify import Notifier
from monitor.state import DeviceStates
from monitor.statefiles import make_private
from probes import icmp
from probes.base import ProbeError, Sample, Target
from probes.snmp import SnmpPoller
from probes.snmp_client import SnmpClient
from probes.snmp_profiles import PACKAGED_PROFILES, ProfileError, load_all
from probes.ssh import SshProber
from probes.ssh_backup import backup as ssh_backup
from probes.ssh_hostkeys import HostKeyStore
from probes.ssh_profiles import load_profiles as load_ssh_profiles

log = logging.getLogger("netvigil")

SELF_METRICS_INTERVAL_S = 10.0
FAULT_HOUSEKEEPING_S = 2.0  # SLA clocks, CLI changes, time-based clears: seconds matter (3 min to acknowledge)
PRUNE_INTERVAL_S = 86_400.0
# SIGHUPs closer together than this become one reload (an editor saving twice, a deployment
# script signalling in a loop): 50 signals in a second used to be 50 full reloads back to back.
RELOAD_SETTLE_S = 0.3


def _watch_interval(interval_s: float, watch_s: Optional[float], run_s: float = 0.0) -> float:
    """A heightened-watch interval shortens a device's interval, never lengthens it, and never
    below the time one run takes."""
    if watch_s is None:
        return interval_s
    return min(interval_s, max(watch_s, run_s))


def icmp_batches(inventory, slot_s: float, watch: Optional[dict] = None) -> list[Batch]:
    members = []
    watch_s = (watch or {}).get("icmp")
    for device in inventory.devices:
        settings = device.icmp
        if not settings.enabled:
            continue
        run_s = (settings.count - 1) * settings.echo_interval_ms / 1000 + settings.timeout_s
        interval_s = _watch_interval(settings.interval_s, watch_s, run_s)
        if interval_s != settings.interval_s:
            settings = settings.model_copy(update={"interval_s": interval_s})
        key = (interval_s, settings.count, settings.echo_interval_ms, settings.timeout_s)
        members.append((device.target(), key, interval_s, settings))
    return plan("icmp", members, slot_s)


def snmp_batches(inventory, slot_s: float, watch: Optional[dict] = None) -> list[Batch]:
    # Grouped by interval only: timeouts, credentials and profiles are looked up per device
    # at run time (a batch mixes them freely).
    watch_s = (watch or {}).get("snmp")
    members = []
    for device in inventory.devices:
        if device.snmp.active:
            interval_s = _watch_interval(device.snmp.interval_s, watch_s)
            members.append((device.target(), (interval_s,), interval_s, None))
    return plan("snmp", members, slot_s)


def ssh_batches(inventory, slot_s: float, watch: Optional[dict] = None) -> list[Batch]:
    # Command checks and configuration backups are two kinds with their own intervals; the
    # prober's per-device lock keeps them from opening two sessions to one device at once.
    watch_s = (watch or {}).get("ssh")
    checks = []
    for device in inventory.devices:
        if device.ssh.active:
            interval_s = _watch_interval(device.ssh.interval_s, watch_s)
            checks.append((device.target(), (interval_s,), interval_s, None))
    backups = [(device.target(), (device.ssh.backup_interval_s,), device.ssh.backup_interval_s, None)
               for device in inventory.devices if device.ssh.backup_active]
    return plan("ssh", checks, slot_s) + plan("ssh_config", backups, slot_s)


def all_batches(inventory, slot_s: float, watch: Optional[dict] = None) -> list[Batch]:
    """Every probe run; `watch`: heightened-watch intervals by probe kind (icmp, snmp, ssh)."""
    return (icmp_batches(inventory, slot_s, watch) + snmp_batches(inventory, slot_s, watch)
            + ssh_batches(inventory, slot_s, watch))


def load_profiles(snmp_settings) -> dict:
    return load_all([PACKAGED_PROFILES, *snmp_settings.profile_dirs])


def concurrency(settings) -> dict[str, int]:
    ssh_runs = settings.probes.ssh.max_concurrent_runs
    return {"icmp": settings.probes.icmp.max_concurrent_runs, "snmp": settings.probes.snmp.max_concurrent_runs,
            "ssh": ssh_runs, "ssh_config": ssh_runs}


class Daemon:
    def __init__(self, cfg: "config_module.Config", notifier: Optional[Notifier] = None) -> None:
        self.cfg = cfg
        self.notifier = notifier or Notifier()
        self.states = DeviceStates()
        self.pinger: Optional[icmp.Pinger] = None
        self.snmp_client: Optional[SnmpClient] = None
        self.snmp: Optional[SnmpPoller] = None
        self.ssh: Optional[SshProber] = None
        self.config_store = None
        self.outputs: Optional[Outputs] = None
        self.scheduler: Optional[ProbeScheduler] = None
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
        self.dispatcher = None
        self.api = None
        self._watch: Optional[str] = None  # the heightened-watch period in force, if any

    # -- probe runs ---------------------------------------------------------------------------

    async def _run_batch(self, batch: Batch) -> None:
        if batch.kind == "icmp":
            samples = await icmp.probe(self.pinger, batch.targets, batch.settings, on_error=self._probe_error)
        elif batch.kind == "snmp":
            samples = await self.snmp.probe(batch.targets, self._snmp_settings, on_error=self._snmp_error)
        elif batch.kind == "ssh":
            samples = await self.ssh.probe(batch.targets, self._ssh_settings, on_error=self._ssh_error)
        elif batch.kind == "ssh_config":
            samples = await ssh_backup(self.ssh, self.config_store, batch.targets, self._ssh_settings,
                                       on_error=self._ssh_error)
        else:  # pragma: no cover - nothing else is planned
            return
        self._handle(samples)

    def _handle(self, samples: list[Sample]) -> None:
        self.states.update(samples)
        self._submit(samples)
        if self.faults is not None:
            self.faults.process(samples)

    async def _reprobe(self, names) -> None:
        """ICMP now, for the fault manager: a parent's state must be current before a child's
        failure is alerted. A short run (3 echoes) with the device's own timeout."""
        by_settings: dict = {}
        for name in names:
            device = self.cfg.inventory.by_name(name)
            if device is None or not device.icmp.enabled:
                continue
            settings = device.icmp.model_copy(update={"count": min(3, device.icmp.count),
                                                      "echo_interval_ms": min(100.0, device.icmp.echo_interval_ms)})
            key = (settings.count, settings.echo_interval_ms, settings.timeout_s)
            by_settings.setdefault(key, (settings, []))[1].append(device.target())
        runs = [icmp.probe(self.pinger, targets, settings, on_error=self._probe_error)
                for settings, targets in by_settings.values()]
        for samples in await asyncio.gather(*runs):
            self._handle(samples)

    def _submit(self, samples: list[Sample]) -> None:
        if self._swap_buffer is not None:  # outputs are being replaced (reload): hold, then hand over
            self._swap_buffer.extend(samples)
        else:
            self.outputs.submit(samples)

    def _probe_error(self, target: Target, error: ProbeError, kind: str = "icmp") -> None:
        self.states.note_error(target.device, error.detail, kind=kind)
        log.debug("%s (%s): %s", target.device, target.address, error.detail)

    def _snmp_error(self, target: Target, error: ProbeError) -> None:
        self._probe_error(target, error, "snmp")

    def _ssh_error(self, target: Target, error: ProbeError) -> None:
        self._probe_error(target, error, "ssh")

    def _snmp_settings(self, device: str):
        found = self.cfg.inventory.by_name(device)  # None: removed by a reload while the run was queued
        return found.snmp if found is not None else None

    def _ssh_settings(self, device: str):
        found = self.cfg.inventory.by_name(device)
        return found.ssh if found is not None else None

    # -- status -------------------------------------------------------------------------------

    def summary(self) -> dict:
        counts = self.states.counts()
        kinds = self.scheduler.stats() if self.scheduler else {}
        outputs = self.outputs.stats() if self.outputs else []
        return {
            "pid": os.getpid(),
            "started_at": self.started_at,
            "config": str(self.cfg.path),
            "icmp_mode": self.pinger.mode if self.pinger else None,
            "devices": sum(counts.values()),
            "up": counts["up"], "down": counts["down"], "pending": counts["pending"],
            "unmonitored": counts["unmonitored"],
            "reloads": self.reloads,
            "open_faults": len(self.faults.open_ids) if self.faults is not None else 0,
            "scheduler": {kind: vars(stats) for kind, stats in kinds.items()},
            "outputs": [_output_dict(s) for s in outputs],
        }

    def status_line(self) -> str:
        s = self.summary()
        lag = max((k["lag_max_s"] for k in s["scheduler"].values()), default=0.0)
        backlog = sum(o["queued_points"] + o["spooled_points"] for o in s["outputs"])
        faults = f"; {s['open_faults']} open faults" if s.get("open_faults") else ""
        return (f"{s['devices']} devices: {s['up']} up, {s['down']} down, {s['pending']} pending{faults}; "
                f"lag {lag:.2f} s; output backlog {backlog} points")

    def _self_metrics(self) -> list[Sample]:
        now = time.time_ns()
        samples = []
        for kind, stats in self.scheduler.take_window().items():
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
        return samples

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

    async def _cannot_start(self, message: str) -> int:
        log.error("cannot start: %s", message)
        if self.outputs is not None:
            await self.outputs.stop(timeout_s=1)
        if self.pinger is not None:
            self.pinger.close()
        if self.snmp_client is not None:
            self.snmp_client.close()
        if self.ssh is not None:
            self.ssh.close()
        if self.control is not None:
            await self.control.stop()
        await self._stop_faults()
        return EXIT_RUNTIME

    async def _stop_faults(self, timeout_s: float = 2.0) -> None:
        if self.api is not None:
            await self.api.stop()
            self.api = None
        if self.faults is not None:
            await self.faults.stop()
        if self.dispatcher is not None:
            await self.dispatcher.stop(timeout_s=timeout_s)
            self.dispatcher = None
        if self.fault_store is not None:
            self.fault_store.disconnect()
            self.fault_store = None

    async def run(self) -> int:
        settings = self.cfg.settings
        icmp_settings = settings.probes.icmp
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
        self.pinger = icmp.Pinger(icmp_settings.mode, icmp_settings.payload_bytes, icmp_settings.max_rate_pps)
        try:
            mode = self.pinger.open()
        except icmp.IcmpPermissionError as exc:
            self.pinger = None
            return await self._cannot_start(str(exc))
        log.info("icmp: using %s", "ping sockets (unprivileged)" if mode == "unprivileged"
                 else "raw sockets (root or CAP_NET_RAW)")
        await self.pinger.start()

        try:
            self.outputs = Outputs.build(settings.outputs, state_dir)
            await self.outputs.start()
        except (OSError, sqlite3.Error) as exc:
            self.outputs = None
            return await self._cannot_start(
                f"outputs under state_dir {state_dir}: {exc}; the spool and the embedded store need a "
                f"writable state_dir (and metrics.db / spool/ must be files and a directory there)")
        self.states.set_inventory(self.cfg.inventory.devices)
        snmp_settings = settings.probes.snmp
        try:
            profiles = load_profiles(snmp_settings)
        except ProfileError as exc:  # changed between `load` and here
            return await self._cannot_start(str(exc))
        self.snmp_client = SnmpClient(max_in_flight_per_agent=snmp_settings.max_in_flight_per_device,
                                      max_in_flight=snmp_settings.max_in_flight)
        await self.snmp_client.start()
        self.snmp = SnmpPoller(self.snmp_client, profiles)
        try:
            self.ssh = self._new_ssh_prober(settings, load_ssh_profiles(settings.probes.ssh.profile_dirs,
                                                                                check_drivers=True))
        except ProfileError as exc:
            return await self._cannot_start(str(exc))

        self.scheduler = ProbeScheduler(settings.scheduler, self._run_batch, concurrency(settings))
        self._watch = _watch_period(settings.faults, time.time())
        self.scheduler.arm(all_batches(self.cfg.inventory, settings.scheduler.slot_s, self._watch_intervals()))
        self.scheduler.start()

        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self._stop.set)
        loop.add_signal_handler(signal.SIGINT, self._stop.set)
        loop.add_signal_handler(signal.SIGHUP, self.request_reload)

        if self.notifier.watchdog_interval_s:
            # From the event loop itself: if the loop is stuck, systemd stops hearing from us.
            self._spawn(self._every(self.notifier.watchdog_interval_s, self.notifier.watchdog))
        self._spawn(self._every(SELF_METRICS_INTERVAL_S, lambda: self._submit(self._self_metrics())))
        self._spawn(self._remask_configs())
        self._spawn(self._catch_up_backups())
        self._spawn(self._every(SELF_METRICS_INTERVAL_S, lambda: self.notifier.status(self.status_line())))

        problem = await self._start_faults(settings)
        if problem is not None:
            return await self._cannot_start(problem)
        self._spawn(self._every(FAULT_HOUSEKEEPING_S, self._fault_housekeeping))
        self._spawn(self._every(PRUNE_INTERVAL_S, self._prune_faults))

        log.info("started: %d devices from %s, outputs: %s", len(self.cfg.inventory.devices), self.cfg.path,
                 ", ".join(o.name for o in self.outputs.stats()) or "none")
        self.notifier.ready(self.status_line())
        await self._stop.wait()
        return await self.shutdown()

    # -- faults, notifications, API ------------------------------------------------------------

    async def _start_faults(self, settings) -> Optional[str]:
        """Rules, fault records, notifications and the HTTP API; a sentence if they cannot start."""
        from monitor.faults.calendar import Calendar
        from monitor.faults.manager import FaultManager
        from monitor.faults.model import DeviceInfo
        from monitor.faults.store import FaultStore
        from monitor.notify.dispatcher import AlertDispatcher
        from monitor.rules.engine import RuleEngine
        from monitor.rules.model import RulesError, load_rules

        try:
            rules = load_rules(settings.rules)
        except RulesError as exc:  # changed between `load` and here
            return "; ".join(exc.problems)
        from monitor.faults.store import FaultError

        path = settings.state_dir / "faults.db"
        try:
            self.fault_store = FaultStore(path)
        except FaultError as exc:  # unreadable, corrupt, or written by a newer netvigil
            return str(exc)
        except (sqlite3.Error, OSError) as exc:
            return (f"fault records {path}: {exc}; state_dir must be writable by the daemon's user (a copy made "
                    f"as root needs chown)")
        store = self.fault_store
        devices = [DeviceInfo.from_device(device) for device in self.cfg.inventory.devices]
        try:
            self.dispatcher = AlertDispatcher(
                settings.notifications, settings.state_dir / "notifications.db",
                is_unacknowledged=self._unacknowledged, ack_deadline=self._ack_deadline,
                extra_groups=settings.faults.heightened_watch.extra_groups)
        except (sqlite3.Error, OSError) as exc:
            return f"notification log under {settings.state_dir}: {exc}; state_dir must be writable by the daemon"
        await self.dispatcher.start()
        self.faults = FaultManager(
            store=store, engine=RuleEngine(rules, devices, settings.rules),
            calendar=Calendar(settings.faults, store.maintenance.list()), settings=settings.faults,
            devices=devices, emit=self._submit, dispatcher=self.dispatcher, reprobe=self._reprobe)
        try:
            restored = self.faults.restore()
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

        service = FaultService(manager=self.faults, zone=settings.faults.zone(),
                               status=lambda: {"daemon": self.summary(), "devices": self.states.rows()},
                               health=HealthCheck(settings.api, self.summary), metrics=metrics, budget=budget)
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

    def _unacknowledged(self, fault_id: int) -> bool:
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
        self.faults.housekeeping()
        watch = self.faults.calendar.heightened(time.time())
        if watch != self._watch:
            log.warning("heightened watch %s", f"begins: {watch}" if watch else f"ends: {self._watch}")
            self._watch = watch
            if self.cfg.settings.faults.heightened_watch.probe_intervals:
                self.scheduler.arm(all_batches(self.cfg.inventory, self.cfg.settings.scheduler.slot_s,
                                               self._watch_intervals()))

    def _watch_intervals(self) -> Optional[dict]:
        return dict(self.cfg.settings.faults.heightened_watch.probe_intervals) if self._watch else None

    def _prune_faults(self) -> None:
        removed = self.fault_store.prune(self.cfg.settings.faults.keep_days * 86400)
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
        await self.scheduler.shutdown(timeout_s=max(0.5, (deadline - time.monotonic()) / 2))
        if self.control is not None:
            await self.control.stop()
        await self._stop_faults(timeout_s=max(0.5, (deadline - time.monotonic()) / 3))
        await self.outputs.stop(timeout_s=max(0.5, deadline - time.monotonic()))
        self.pinger.close()
        self.snmp_client.close()
        self.ssh.close()
        for stats in self.outputs.stats():
            if stats.spooled_points:
                log.info("%s: %d points kept in the spool for the next start", stats.name, stats.spooled_points)
        log.info("stopped")
        self.notifier.close()
        return EXIT_OK

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
        if settings.outputs != old_settings.outputs and not await self._swap_outputs(old_settings, settings):
            log.error("reload: keeping the previous outputs; the rest of the change is applied")
            settings = settings.model_copy(update={"outputs": old_settings.outputs})
        if settings is not new.settings:
            new = config_module.Config(new.path, settings, new.inventory)
        old_icmp, new_icmp = old_settings.probes.icmp, settings.probes.icmp
        if (old_icmp.mode, old_icmp.payload_bytes) != (new_icmp.mode, new_icmp.payload_bytes):
            replacement = icmp.Pinger(new_icmp.mode, new_icmp.payload_bytes, new_icmp.max_rate_pps)
            try:
                replacement.open()
            except icmp.IcmpPermissionError as exc:
                log.error("reload: keeping the previous ICMP mode: %s", exc)
            else:
                await replacement.start()
                self.pinger.close_when_idle()  # runs in flight keep their sockets until done
                self.pinger = replacement
        self.pinger.max_rate_pps = new_icmp.max_rate_pps
        self._apply_snmp(old_settings.probes.snmp, settings.probes.snmp, new.inventory)
        self._apply_ssh(old_settings.probes.ssh, settings)
        self.cfg = new
        self.states.set_inventory(new.inventory.devices)
        try:
            self._apply_faults(old_settings, settings, new.inventory)
        except Exception:  # noqa: BLE001 - the probes must still get the new inventory
            log.exception("reload: rules, faults or notifications could not take the change; probing goes on "
                          "with it")
        self.scheduler.settings = settings.scheduler
        self.scheduler.set_concurrency(concurrency(settings))
        self.scheduler.arm(all_batches(new.inventory, settings.scheduler.slot_s, self._watch_intervals()))
        log.info("reloaded %s: %d devices (%d added, %d removed)", new.path, len(new_names),
                 len(new_names - old_names), len(old_names - new_names))


    def _apply_faults(self, old, settings, inventory) -> None:
        from monitor.faults.model import DeviceInfo
        from monitor.rules.model import RulesError, load_rules

        if self.faults is None:
            return
        try:
            rules = load_rules(settings.rules)
        except RulesError as exc:  # edited between `load` and here
            log.error("reload: keeping the previous rules: %s", "; ".join(exc.problems))
        else:
            self.faults.set_rules(rules, settings.rules)
        from monitor.faults.calendar import Calendar

        self.faults.set_settings(settings.faults, Calendar(settings.faults, self.fault_store.maintenance.list()))
        self.faults.set_inventory([DeviceInfo.from_device(device) for device in inventory.devices])
        self.dispatcher.set_settings(settings.notifications, settings.faults.heightened_watch.extra_groups)
        if self.api is not None:
            for key in self.api.reconfigure(settings.api):
                log.warning("reload: %s takes effect at the next restart", key)

    def _apply_snmp(self, old, new, inventory) -> None:
        try:
            self.snmp.set_profiles(load_profiles(new))  # files may have changed even if settings did not
        except ProfileError as exc:  # edited between `load` and here
            log.error("reload: keeping the previous SNMP profiles: %s", exc)
        if (old.max_in_flight, old.max_in_flight_per_device) != (new.max_in_flight, new.max_in_flight_per_device):
            # Requests in flight finish on the old client; its socket closes once they are done.
            replacement = SnmpClient(max_in_flight_per_agent=new.max_in_flight_per_device,
                                     max_in_flight=new.max_in_flight)
            retired = self.snmp_client
            self.snmp_client = self.snmp.client = replacement
            self._spawn(_close_when_idle(retired))
        self.snmp.keep_only([device.name for device in inventory.devices if device.snmp.active])


    async def _catch_up_backups(self) -> None:
        """Back up now the devices whose last backup is older than their interval (or that have
        none): the schedule spreads daily backups over the day, and a new device or a daemon
        that was down should not wait up to a day for its first (or overdue) version."""
        now = time.time()
        devices = [device for device in self.cfg.inventory.devices if device.ssh.backup_active]
        checked = await asyncio.to_thread(lambda: {d.name: self.config_store.last_checked(d.name) for d in devices})
        overdue = [device.target() for device in devices
                   if checked[device.name] is None or now - checked[device.name] > device.ssh.backup_interval_s]
        if not overdue:
            return
        log.info("ssh: %d device(s) have no recent configuration backup; fetching now", len(overdue))
        for start in range(0, len(overdue), 100):  # samples reach the outputs as they come
            samples = await ssh_backup(self.ssh, self.config_store, overdue[start:start + 100], self._ssh_settings,
                                       on_error=self._ssh_error)
            self._handle(samples)  # to the rules too: a change found at start must open its fault

    async def _remask_configs(self) -> None:
        """Stored configuration versions masked again where the masking rules changed (a newer
        secret catalogue after an upgrade, a changed profile), once. In the background: a save,
        read or diff of a device does its own first, so nothing waits for the whole store."""
        try:
            done = await asyncio.to_thread(self.config_store.remask_all)
        except (OSError, ValueError) as exc:
            log.error("configs: stored versions not checked against the current masking rules: %s", exc)
            return
        if done:
            changed = sum(1 for result in done if result.versions_changed)
            log.info("configs: %d device(s) checked against the current masking rules, %d had versions masked again",
                     len(done), changed)

    def _config_rules(self, device: str):
        """The rules the device's configuration fetches are masked with (probes/ssh_backup.backup_rules)."""
        from probes.ssh_backup import backup_rules

        found = self.cfg.inventory.by_name(device)
        return backup_rules(self.ssh.profiles if self.ssh is not None else {}, found.ssh if found is not None else None)

    def _new_ssh_prober(self, settings, profiles) -> SshProber:
        from monitor.config_store import ConfigStore

        self.config_store = ConfigStore(settings.state_dir / "configs", rules_for_device=self._config_rules)
        host_keys = HostKeyStore(settings.probes.ssh.known_hosts, settings.state_dir / "ssh_known_hosts")
        return SshProber(settings.probes.ssh, profiles, host_keys)

    def _apply_ssh(self, old, settings) -> None:
        new = settings.probes.ssh
        try:
            profiles = load_ssh_profiles(new.profile_dirs, check_drivers=True)
        except ProfileError as exc:  # edited between `load` and here
            log.error("reload: keeping the previous SSH profiles: %s", exc)
            profiles = self.ssh.profiles
        if (old.max_sessions, old.cli_workers) != (new.max_sessions, new.cli_workers):
            # Sessions in flight finish on the old prober's threads; new ones use the new pool.
            retired, self.ssh = self.ssh, self._new_ssh_prober(settings, profiles)
            retired.close()
        else:
            self.ssh.settings = new  # credentials and known_hosts files may have changed
            self.ssh.host_keys.files = list(new.known_hosts)
            self.ssh.set_profiles(profiles)


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


async def _close_when_idle(client: SnmpClient, limit_s: float = 120.0) -> None:
    deadline = time.monotonic() + limit_s
    while client.busy() and time.monotonic() < deadline:
        await asyncio.sleep(1)
    client.close()


def _output_dict(stats) -> dict:
    return {key: getattr(stats, key) for key in (
        "name", "queued_points", "spooled_points", "spooled_bytes", "written_points", "dropped_points",
        "rejected_points", "last_error", "healthy")}
