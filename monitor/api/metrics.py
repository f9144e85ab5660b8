"""The daemon's own metrics in the Prometheus text format (GET /metrics).

Nothing is counted here: a collector reads one snapshot (a plain dict the daemon already
has the numbers for) at scrape time and turns it into metric families on a private
registry, so there is no second set of counters to keep in step and no process-global
state between tests. Every key of the snapshot is optional; a missing part gives a family
without samples (its HELP and TYPE lines still say it exists).

The snapshot (see `FaultService.metrics()` for who fills which part):

    scheduler:     {kind: {lag_last_s, lag_max_s, runs_total, skipped_total, errors_total,
                           running, devices}}              # Daemon.summary()["scheduler"]
    outputs:       [{name, queued_points, spooled_points, spooled_bytes, written_points,
                     dropped_points, rejected_points, healthy}]   # Daemon.summary()["outputs"]
    devices:       {up, down, pending}
    faults:        {open: {severity: n}, unacknowledged: n, symptoms: n, in_maintenance: n,
                    sla_breached: {acknowledge: n, resolve: n}}
    notifications: {channel: {sent, failed, pending}}
    heartbeat:     {target: {sent_total, failed_total, withheld_total, ok}}  # Daemon.summary()["heartbeat"]
    rules:         {eval_seconds, samples, transitions, opened, resolved}
    started_at:    unix seconds
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Iterator, Mapping, Optional

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from monitor.faults.model import SEVERITIES
from monitor.state import STATES

log = logging.getLogger("netvigil.api")

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

Snapshot = Callable[[], Mapping[str, Any]]

# (snapshot key, family name, help, counter?) per probe kind
_SCHEDULER = (
    ("lag_last_s", "netvigil_scheduler_lag_seconds", "How late the last probe run of this kind started", False),
    ("lag_max_s", "netvigil_scheduler_lag_max_seconds",
     "Latest start of a probe run of this kind in the current window", False),
    ("running", "netvigil_scheduler_running", "Probe runs of this kind in progress", False),
    ("devices", "netvigil_scheduler_devices", "Devices this kind of probe is scheduled for", False),
    ("runs_total", "netvigil_scheduler_runs", "Probe runs of this kind started", True),
    ("skipped_total", "netvigil_scheduler_skipped", "Probe runs skipped because the previous one still ran", True),
    ("errors_total", "netvigil_scheduler_errors", "Probe runs of this kind that failed as a whole", True),
)
_WORKER = (
    ("alive", "netvigil_worker_up", "Whether the worker process reports to the daemon (1) or not (0)", False),
    ("devices", "netvigil_worker_devices", "Devices the worker process probes", False),
    ("restarts", "netvigil_worker_restarts", "Times the worker process was restarted after it stopped", True),
)
_OUTPUT = (
    ("queued_points", "netvigil_output_queued_points", "Points in memory waiting to be written", False),
    ("spooled_points", "netvigil_output_spooled_points", "Points in the on-disk spool waiting to be written", False),
    ("spooled_bytes", "netvigil_output_spooled_bytes", "Compressed size of the on-disk spool", False),
    ("healthy", "netvigil_output_healthy", "1 while the output's last write succeeded, else 0", False),
    ("written_points", "netvigil_output_written_points", "Points the output's server accepted", True),
    ("dropped_points", "netvigil_output_dropped_points",
     "Points given up on (rejected by the server, spool overflow, unencodable)", True),
    ("rejected_points", "netvigil_output_rejected_points",
     "Of the dropped points: refused by the server as malformed, or over its size limits and not sent", True),
)
_NOTIFY = (
    ("sent", "netvigil_notifications_sent", "Notifications delivered, by channel", True),
    ("failed", "netvigil_notifications_failed", "Notifications given up on after retries, by channel", True),
    ("pending", "netvigil_notifications_pending", "Notifications waiting to be sent or retried, by channel", False),
)
_HEARTBEAT = (
    ("sent_total", "netvigil_heartbeat_sent", "Dead man's switch calls to this target", True),
    ("failed_total", "netvigil_heartbeat_failed", "Dead man's switch calls to this target that failed", True),
    ("withheld_total", "netvigil_heartbeat_withheld",
     "Beats not sent because the scheduler was stopped or stalled", True),
    ("ok", "netvigil_heartbeat_ok", "1 when the last call to this target got a 2xx answer, else 0", False),
)
_RULES = (
    ("eval_seconds", "netvigil_rule_evaluation_seconds", "CPU time spent evaluating rules", True),
    ("samples", "netvigil_rule_samples", "Samples fed to the rule engine", True),
    ("transitions", "netvigil_rule_transitions", "Rule state changes (open, update, clear)", True),
    ("opened", "netvigil_faults_opened", "Faults opened or reopened (symptoms not counted)", True),
    ("resolved", "netvigil_faults_auto_resolved", "Faults resolved because their condition cleared", True),
    ("reprobes", "netvigil_fault_reprobes",
     "Parents re-probed (ICMP) before a child's failure was judged, their last answer being older", True),
    ("queued", "netvigil_fault_changes_queued",
     "Fault changes kept on the poller's disk because the fault database could not be written", True),
    ("waiting", "netvigil_fault_changes_waiting",
     "Fault changes on the poller's disk still waiting for the fault database (0: none)", False),
)

FAMILIES = tuple(name for table in (_SCHEDULER, _OUTPUT, _NOTIFY, _HEARTBEAT, _RULES, _WORKER)
                 for _, name, _, _ in table) + (
    "netvigil_output_backlog_points", "netvigil_devices", "netvigil_faults_open", "netvigil_faults_unacknowledged",
    "netvigil_faults_symptoms", "netvigil_faults_in_maintenance", "netvigil_faults_sla_breached",
    "netvigil_start_time_seconds")


def _family(name: str, help_text: str, counter: bool, labels: list[str]) -> Metric:
    kind = CounterMetricFamily if counter else GaugeMetricFamily
    return kind(name, help_text, labels=labels)


def _number(value: Any) -> float:
    """A snapshot value as a sample value; None and non-numbers (a bug upstream) read as 0."""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)):
        return float(value)
    return 0.0


class SnapshotCollector(Collector):
    """A prometheus_client collector over `snapshot()`, read once per scrape."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        data = self.snapshot() or {}
        yield from self._per_label(data.get("scheduler") or {}, "kind", _SCHEDULER)
        outputs = {str(row.get("name", "?")): row for row in data.get("outputs") or ()}
        yield from self._per_label(outputs, "output", _OUTPUT)
        backlog = GaugeMetricFamily("netvigil_output_backlog_points",
                                    "Points not written yet: queued in memory plus spooled on disk", labels=["output"])
        for name, row in outputs.items():
            backlog.add_metric([name], _number(row.get("queued_points")) + _number(row.get("spooled_points")))
        yield backlog

        devices = GaugeMetricFamily("netvigil_devices", "Devices by their last reachability state", labels=["state"])
        for state in STATES:
            devices.add_metric([state], _number((data.get("devices") or {}).get(state)))
        yield devices

        faults = data.get("faults") or {}
        open_by_severity = faults.get("open") or {}
        by_severity = GaugeMetricFamily("netvigil_faults_open", "Faults not resolved yet, by severity",
                                        labels=["severity"])
        for severity in SEVERITIES:  # every severity, so a dashboard sees 0 rather than no data
            by_severity.add_metric([severity], _number(open_by_severity.get(severity)))
        yield by_severity
        for key, name, help_text in (
                ("unacknowledged", "netvigil_faults_unacknowledged",
                 "Unresolved faults nobody has acknowledged (symptoms and maintenance excluded)"),
                ("symptoms", "netvigil_faults_symptoms", "Unresolved faults recorded as symptoms of a failed parent"),
                ("in_maintenance", "netvigil_faults_in_maintenance", "Unresolved faults inside a maintenance window")):
            family = GaugeMetricFamily(name, help_text)
            family.add_metric([], _number(faults.get(key)))
            yield family
        breached = GaugeMetricFamily(
            "netvigil_faults_sla_breached",
            "Unresolved faults past a contract deadline, by clock (acknowledge or resolve)", labels=["clock"])
        for clock in ("acknowledge", "resolve"):
            breached.add_metric([clock], _number((faults.get("sla_breached") or {}).get(clock)))
        yield breached

        yield from self._per_label(data.get("notifications") or {}, "channel", _NOTIFY)
        yield from self._per_label(data.get("heartbeat") or {}, "target", _HEARTBEAT)
        yield from self._per_label({str(row["worker"]): row for row in data.get("workers") or ()}, "worker", _WORKER)
        rules = data.get("rules") or {}
        for key, name, help_text, counter in _RULES:
            family = _family(name, help_text, counter, [])
            family.add_metric([], _number(rules.get(key)))
            yield family

        started = GaugeMetricFamily("netvigil_start_time_seconds", "When the daemon started, unix seconds")
        if data.get("started_at") is not None:
            started.add_metric([], _number(data["started_at"]))
        yield started

    @staticmethod
    def _per_label(rows: Mapping[str, Mapping[str, Any]], label: str, table) -> Iterator[Metric]:
        for key, name, help_text, counter in table:
            family = _family(name, help_text, counter, [label])
            for value, row in rows.items():
                family.add_metric([str(value)], _number((row or {}).get(key)))
            yield family


def snapshot_from_summary(summary: Mapping[str, Any], notifications: Optional[Mapping[str, Any]] = None) -> dict:
    """The daemon's part of the snapshot from `Daemon.summary()` (and the dispatcher's
    per-channel counters); FaultService adds the fault counts and the rule counters."""
    return {
        "started_at": summary.get("started_at"),
        "scheduler": dict(summary.get("scheduler") or {}),
        "outputs": list(summary.get("outputs") or []),
        "devices": {state: summary.get(state, 0) for state in STATES},
        "notifications": dict(notifications or {}),
        "heartbeat": dict(summary.get("heartbeat") or {}),
        "workers": list(summary.get("workers") or []),
    }


def registry_for(snapshot: Snapshot) -> CollectorRegistry:
    """A private registry (not prometheus_client's global one) holding only our collector."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(snapshot))
    return registry


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
