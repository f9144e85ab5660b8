"""Command line: `netvigil run|status|probe|check|inventory import|profiles list|snmp walk|config ...|
rules ...|faults|ack|resolve|close|maintenance ...|rollcall|report ...`.

One module per command in this package (run, status, probe, check, inventory, profiles, snmp,
ssh, config, rules, faults, rollcall, report); `common` holds what they share and `tables` prints columns. No
library module imports this package. Exit codes (monitor.problems): 0 ok, 1 runtime failure,
2 configuration error. Commands import their module lazily so `netvigil check` on a
7,000-device inventory does not pay for the InfluxDB client or the scheduler.

What every command gets from `main`: output into a closed pipe (`netvigil status | head`)
ends quietly, as it does for other Unix tools, and third-party deprecation warnings raised at
import time (asyncssh's use of DSA from cryptography) are not shown to the person at the
console.
"""

from __future__ import annotations

import argparse
import importlib
import os
import select
import signal
import sys
from pathlib import Path
from typing import Optional, Sequence

from monitor import i18n, logsetup
from monitor.cli.faults import add_parsers as add_fault_parsers
from monitor.cli.grafana import add_grafana_parser
from monitor.cli.rollcall import add_parser as add_rollcall_parser
from monitor.cli.report import add_parsers as add_report_parsers
from monitor.cli.rules import add_rules_parser
from monitor.problems import EXIT_RUNTIME
from probes.registry import KINDS

# What a shell reports for a command that a closed pipe ended (SIGPIPE), e.g. `ls -R / | head`
# under `set -o pipefail`: the same status for netvigil.
EXIT_BROKEN_PIPE = 128 + signal.SIGPIPE

DEFAULT_CONFIG = Path("/etc/netvigil/netvigil.yaml")

# command name -> "module:function"; each function takes the parsed args and returns an exit code.
COMMANDS = {
    "run": "monitor.cli.run:run_command",
    "status": "monitor.cli.status:status_command",
    "probe": "monitor.cli.probe:probe_command",
    "check": "monitor.cli.check:check_command",
    "inventory import": "monitor.cli.inventory:import_command",
    "profiles list": "monitor.cli.profiles:profiles_command",
    "snmp walk": "monitor.cli.snmp:walk_command",
    "config history": "monitor.cli.config:history_command",
    "config diff": "monitor.cli.config:diff_command",
    "config fetch": "monitor.cli.config:fetch_command",
    "rules test": "monitor.cli.rules:rules_test_command",
    "rules list": "monitor.cli.rules:rules_list_command",
    "faults": "monitor.cli.faults:faults_command",
    "faults show": "monitor.cli.faults:show_command",
    "ack": "monitor.cli.faults:ack_command",
    "resolve": "monitor.cli.faults:resolve_command",
    "close": "monitor.cli.faults:close_command",
    "maintenance add": "monitor.cli.faults:maintenance_add_command",
    "maintenance list": "monitor.cli.faults:maintenance_list_command",
    "maintenance end": "monitor.cli.faults:maintenance_end_command",
    "grafana install": "monitor.cli.grafana:install_command",
    "rollcall": "monitor.cli.rollcall:rollcall_command",
    "report monthly": "monitor.cli.report:monthly_command",
    "report fault": "monitor.cli.report:fault_command",
    "report inspection": "monitor.cli.report:inspection_command",
}


def _add_config(parser: argparse.ArgumentParser, required_default: bool = True) -> None:
    parser.add_argument(
        "-c", "--config", type=Path, default=DEFAULT_CONFIG if required_default else None,
        help=f"settings file (default: {DEFAULT_CONFIG})" if required_default
        else "settings file (optional; without it only bare addresses can be probed)")


def _device_command(sub, name: str, help_text: str) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help=help_text)
    parser.add_argument("target", help="a device name from the inventory")
    return parser


def _finish(parser: argparse.ArgumentParser, key: str) -> None:
    _add_config(parser)
    parser.set_defaults(command_key=key)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="netvigil", description="Network device health monitor: ICMP/SNMP/SSH probes, InfluxDB, faults.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = sub.add_parser("run", help="run the daemon in the foreground (systemd runs this)")
    _add_config(run)
    run.set_defaults(command_key="run")

    status = sub.add_parser("status", help="every device's last state, worst first")
    _add_config(status)
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(command_key="status")

    probe = sub.add_parser("probe", help="probe one device (name or bare address) once and print the result")
    probe.add_argument("target", help="a device name from the inventory, or an IP address / host name")
    probe.add_argument("--kind", choices=list(KINDS), default="icmp",
                       help="probe kind (default: icmp); snmp and ssh show the profiles a device gets and what "
                            "they extract")
    probe.add_argument("--count", type=int, help="echo requests (default: from settings, or 5 without a config)")
    probe.add_argument("--json", action="store_true", help="machine-readable output")
    _add_config(probe, required_default=False)
    probe.set_defaults(command_key="probe")

    check = sub.add_parser("check", help="validate settings and inventory; exit 2 on any problem")
    _add_config(check)
    check.set_defaults(command_key="check")

    inventory = sub.add_parser("inventory", help="inventory tools")
    inv_sub = inventory.add_subparsers(dest="inventory_command", metavar="COMMAND", required=True)
    imp = inv_sub.add_parser("import", help="convert an equipment list (CSV) to inventory YAML")
    imp.add_argument("csv", type=Path, help="CSV with columns name,address,class,site[,parent,tags]")
    imp.add_argument("-o", "--output", type=Path, help="write YAML here (default: standard output)")
    imp.add_argument("-c", "--config", type=Path, default=None,
                     help="settings file whose inventory already defines sites (optional)")
    imp.set_defaults(command_key="inventory import")

    profiles = sub.add_parser("profiles", help="SNMP device profiles and SSH command profiles")
    prof_sub = profiles.add_subparsers(dest="profiles_command", metavar="COMMAND", required=True)
    listing = prof_sub.add_parser("list", help="every SNMP and SSH profile: how it is selected, what it writes")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    _add_config(listing, required_default=False)
    listing.set_defaults(command_key="profiles list")

    snmp = sub.add_parser("snmp", help="SNMP diagnosis")
    snmp_sub = snmp.add_subparsers(dest="snmp_command", metavar="COMMAND", required=True)
    walk = _device_command(snmp_sub, "walk", "walk a device's MIB with its own credential (numeric OIDs)")
    walk.add_argument("oid", nargs="?", help="subtree to walk (default: 1.3.6.1.2.1, mib-2)")
    _finish(walk, "snmp walk")

    config = sub.add_parser("config", help="configuration backups of devices (SSH)")
    config_sub = config.add_subparsers(dest="config_command", metavar="COMMAND", required=True)
    history = _device_command(config_sub, "history", "stored configuration versions of a device")
    history.add_argument("--json", action="store_true", help="machine-readable output")
    _finish(history, "config history")
    diff = _device_command(config_sub, "diff", "unified diff between two versions (default: the last change)")
    diff.add_argument("a", nargs="?", type=int, help="older version number (default: the one before B)")
    diff.add_argument("b", nargs="?", type=int, help="newer version number (default: the latest)")
    _finish(diff, "config diff")
    _finish(_device_command(config_sub, "fetch", "fetch the running configuration now and store it if changed"),
            "config fetch")

    add_rules_parser(sub)
    add_fault_parsers(sub, _finish)
    add_grafana_parser(sub)
    add_rollcall_parser(sub, _finish)
    add_report_parsers(sub, _finish)
    return parser


def _stdout_closed() -> bool:
    """Whether standard output is a pipe (or socket) whose reader has gone. Asked after a
    BrokenPipeError, which may also come from a socket the command used: that one must stay a
    visible failure. The kernel reports a pipe without readers as POLLERR to its writer."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # replaced by a test's capture, or closed
        return False
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    return any(events & (select.POLLERR | select.POLLHUP) for _fd, events in poller.poll(0))


def _silence_stdout() -> None:
    # The interpreter flushes stdout once more at exit; into a closed pipe that would print
    # "Exception ignored ... BrokenPipeError". Point the descriptor at /dev/null instead.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def main(argv: Optional[Sequence[str]] = None) -> int:
    logsetup.quiet_third_party_warnings()
    # The locale's language until a settings file names one (monitor.config sets it then).
    i18n.set_language(None)
    try:
        args = build_parser().parse_args(argv)
        module_name, func_name = COMMANDS[args.command_key].split(":")
        command = getattr(importlib.import_module(module_name), func_name)
        try:
            code = int(command(args))
        except KeyboardInterrupt:
            return EXIT_RUNTIME
        sys.stdout.flush()  # inside the guard: the last lines may only reach the pipe here
        return code
    except BrokenPipeError:
        if not _stdout_closed():
            raise
        _silence_stdout()
        return EXIT_BROKEN_PIPE
