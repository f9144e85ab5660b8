"""`netvigil status`: every device's last state, worst first.

Asks the running daemon over its control socket; when no daemon answers, reads the
embedded store's latest values (so a stopped daemon's last picture is still visible).
"""

from __future__ import annotations

import json
import sys

from monitor import config as config_module
from monitor.cli.tables import render_health, render_table
from monitor.control import query_status
from monitor.health import MEASUREMENTS as HEALTH_MEASUREMENTS, summarise
from monitor.i18n import N_, _
from monitor.problems import EXIT_CONFIG, EXIT_OK, EXIT_RUNTIME
from monitor.state import SSH_STATES, STATE_NAMES, answered, empty_profiles, first_state, iso, sort_worst_first


# How the daemon pings (probes/icmp/pinger.py), as the heading names it.
ICMP_MODES = {"unprivileged": N_("unprivileged"), "privileged": N_("privileged")}


class _Unreadable(Exception):
    pass


def _rows_from_embedded(cfg) -> list[dict] | None:
    # Imported on use: only when no daemon answers (the embedded store pulls in the outputs).
    import sqlite3

    from monitor.outputs.embedded import EmbeddedStore

    path = cfg.settings.state_dir / "metrics.db"
    if not path.exists():
        return None
    try:
        rows_read = EmbeddedStore.read_latest(path)
        latest = {row.device: row for row in rows_read if row.measurement == "icmp"}
        codes = {(row.device, row.measurement): row.fields for row in rows_read
                 if row.measurement in STATE_NAMES or row.measurement == "ssh_config"}
        empty = {row.device: empty_profiles(row.tags) for row in rows_read if row.measurement == "snmp"}
        probed_at = {(row.device, row.measurement): row.time_ns for row in rows_read}
        readings: dict[str, list] = {}
        for row in EmbeddedStore.read_newest_rows(path, HEALTH_MEASUREMENTS):
            readings.setdefault(row.device, []).append((row.measurement, row.tags, row.fields))
    except (sqlite3.Error, OSError) as exc:
        raise _Unreadable(f"cannot read the embedded store {path}: {exc}; run status as the daemon's user "
                          f"(e.g. sudo -u netvigil netvigil status) or as root") from None
    rows = []
    for device in cfg.inventory.devices:
        row = latest.get(device.name) if device.icmp.enabled else None
        fields = row.fields if row else {}
        if device.icmp.enabled:
            up = row is not None and bool(fields.get("up"))
            state, last_probe = ("pending" if row is None else ("up" if up else "down")), row.time_ns if row else None
        else:  # reachability from the SNMP and SSH answers, as the daemon judges it
            kinds = [kind for kind in STATE_NAMES if (device.name, kind) in codes]
            up = any(answered(kind, codes[(device.name, kind)].get("error_code", 0)) for kind in kinds)
            state = first_state(device) if not kinds else ("up" if up else "down")
            last_probe = max((probed_at[(device.name, kind)] for kind in kinds), default=None)
        rows.append({
            "device": device.name, "address": device.address, "class": device.device_class,
            "site": "/".join(device.site_path), "state": state,
            "rtt_avg_ms": fields.get("rtt_avg_ms"), "loss_pct": fields.get("loss_pct"),
            "jitter_ms": fields.get("jitter_ms"), "last_probe": iso(last_probe),
            "last_seen": iso(last_probe) if up else None, "since": None, "error": None,
            **{key: value for kind, names in STATE_NAMES.items()
               for key, value in ((kind, _named(codes.get((device.name, kind)), names)), (f"{kind}_error", None))},
            "snmp_empty": empty.get(device.name),
            "config": _backup_state(codes.get((device.name, "ssh_config"))),
            "health": None if _silent(codes.get((device.name, "snmp"))) else (
                summarise(readings.get(device.name, ())) or None),
        })
    return sort_worst_first(rows)


def _silent(snmp_fields) -> bool:
    # The agent did not answer its last poll: figures from an older one would pass for current.
    return snmp_fields is not None and not answered("snmp", snmp_fields.get("error_code", 0))


def _named(fields, names: dict):
    if fields is None:
        return None
    return names.get(fields.get("error_code", 0), "?")


def _backup_state(fields):
    if fields is None:
        return None
    return f"v{fields['version']}" if fields.get("ok") else _named(fields, SSH_STATES)


def _heading(daemon, store_path) -> str:
    """The line above the table: the daemon's counts, or where the last values come from."""
    if not daemon:
        return _("daemon not running; last values from the embedded store ({path})").format(path=store_path)
    ha = daemon.get("ha") or {}
    if ha.get("role") == "standby":
        return _("netvigil pid {pid}: standby for share {share}; active: {active}").format(
            pid=daemon["pid"], share=ha["share"], active=ha.get("active") or _("nobody"))
    text = _("netvigil pid {pid}: {devices} devices, {up} up, {down} down, {pending} pending").format(
        pid=daemon["pid"], devices=daemon["devices"], up=daemon["up"], down=daemon["down"], pending=daemon["pending"])
    if daemon.get("unmonitored"):
        text = _("{text}, {n} unmonitored").format(text=text, n=daemon["unmonitored"])
    if daemon.get("open_faults"):
        text += _(FAULTS_OPEN).format(count=daemon["open_faults"])
    if daemon.get("fault_changes_waiting"):
        text += _("; {count} fault changes kept on disk, waiting for the fault database").format(
            count=daemon["fault_changes_waiting"])
    workers = daemon.get("workers") or []
    if workers:
        text += _("; {alive} of {count} worker processes reporting").format(
            alive=sum(1 for worker in workers if worker["alive"]), count=len(workers))
    if ha.get("role") == "active":
        text += _("; active for share {share}").format(share=ha["share"])
    mode = daemon.get("icmp_mode")
    return _("{text} (icmp: {mode})").format(text=text, mode=_(ICMP_MODES[mode]) if mode in ICMP_MODES else mode)


def _problems(exc) -> int:
    for problem in exc.problems:
        print(problem, file=sys.stderr)
    return EXIT_CONFIG


def status_command(args) -> int:
    # The daemon is reached with the settings alone: an inventory being edited (invalid right
    # now) must not hide what the running daemon knows.
    try:
        settings = config_module.load_settings(args.config)
    except config_module.ConfigError as exc:
        return _problems(exc)
    socket_path = settings.control_socket or settings.state_dir / "netvigil.sock"
    source = "daemon"
    try:
        answer = query_status(socket_path)
    except PermissionError:
        print(f"netvigil status: no permission to talk to the daemon at {socket_path}; run status as the "
              f"daemon's user (e.g. sudo -u netvigil netvigil status), as a member of its group, or as root",
              file=sys.stderr)
        return EXIT_RUNTIME
    except Exception as exc:  # noqa: BLE001 - a daemon that answers badly is reported, not a traceback
        print(f"netvigil status: the daemon at {socket_path} did not answer properly: {exc}", file=sys.stderr)
        return EXIT_RUNTIME
    if answer is not None:
        rows, daemon = answer["devices"], answer["daemon"]
    else:
        try:
            cfg = config_module.load(args.config)
        except config_module.ConfigError as exc:
            return _problems(exc)
        try:
            rows, daemon, source = _rows_from_embedded(cfg), None, "embedded store"
        except _Unreadable as exc:
            print(f"netvigil status: {exc}", file=sys.stderr)
            return EXIT_RUNTIME
        if rows is None:
            print(f"netvigil status: no daemon answers at {socket_path} and there is no embedded store at "
                  f"{settings.state_dir / 'metrics.db'}; start the daemon with `netvigil run -c {args.config}`",
                  file=sys.stderr)
            return EXIT_RUNTIME
    if args.json:
        print(json.dumps({"source": source, "daemon": daemon, "devices": rows}, ensure_ascii=False, indent=2))
        return EXIT_OK
    print(_heading(daemon, settings.state_dir / "metrics.db"))
    print(render_table(rows))
    health = render_health(rows)
    if health:
        print()
        print(health)
    faults = _open_faults(settings)
    if faults:
        print()
        print(faults)
    return EXIT_OK


FAULTS_OPEN = N_(", faults open: {count}")
OPEN_FAULTS_TITLE = N_("Open faults (netvigil faults show ID for one; ack, resolve, close to handle it)")
FAULTS_UNREADABLE = N_("open faults: cannot read the fault records {path}: {error}")


def _open_faults(settings) -> str:
    """The open fault records under the table ("" when there are none, or no records yet)."""
    import sqlite3
    import time

    from monitor.cli.faults import fault_table
    from monitor.faults.store import FaultError, FaultStoreMissing, fault_store_location, open_fault_store

    path = fault_store_location(settings)
    try:
        with open_fault_store(settings, must_exist=True) as store:
            faults = store.list(open_only=True)
    except FaultStoreMissing:
        return ""
    except (sqlite3.Error, OSError, FaultError) as exc:
        return _(FAULTS_UNREADABLE).format(path=path, error=exc)
    if not faults:
        return ""
    return _(OPEN_FAULTS_TITLE) + "\n" + fault_table(faults, time.time())
