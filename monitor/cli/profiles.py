"""`netvigil profiles list`: every SNMP device profile and SSH command profile, how each is
selected and what it writes.

The profiles come from the same directories the daemon reads: the shipped ones plus the
settings file's `probes.snmp.profile_dirs` and `probes.ssh.profile_dirs` (without `-c`, the
default site directories under /etc/netvigil).
"""

from __future__ import annotations

import json
from pathlib import Path

from monitor.cli.common import Refused as _Refused, load_config as _config, run as _run
from monitor.i18n import _
from monitor.problems import EXIT_CONFIG, EXIT_OK
from probes.snmp import profiles as snmp_profiles
from probes.ssh import profiles as ssh_profiles


def profiles_command(args) -> int:
    return _run(_profiles, args)


def _profiles(args) -> int:
    directories = [snmp_profiles.PACKAGED_PROFILES]
    ssh_directories: list[Path] = []
    if args.config is not None:
        probes = _config(args.config).settings.probes
        directories += list(probes.snmp.profile_dirs)
        ssh_directories = list(probes.ssh.profile_dirs)
    else:
        directories.append(snmp_profiles.SITE_PROFILES)
        ssh_directories = [Path("/etc/netvigil/ssh_profiles")]
    try:
        found = snmp_profiles.load_all(directories)
        found_ssh = ssh_profiles.load_profiles(ssh_directories, check_drivers=True)
    except snmp_profiles.ProfileError as exc:
        raise _Refused(str(exc), EXIT_CONFIG) from None
    rows = []
    for profile in sorted(found.values(), key=lambda p: p.name):
        measurements = list(dict.fromkeys(([profile.measurement] if profile.measurement else [])
                                          + [row.measurement for row in profile.scalar_rows]
                                          + [t.measurement for t in profile.tables]))
        rows.append({"kind": "snmp", "name": profile.name, "classes": list(profile.match.classes),
                     "sysobjectid": list(profile.match.sysobjectid), "requires_oid": profile.match.requires_oid,
                     "replaces": list(profile.match.replaces),
                     "measurements": measurements, "description": profile.description})
    for profile in sorted(found_ssh.values(), key=lambda p: p.name):
        measurements = ["ssh", "ssh_command"] + [m for c in profile.commands for m in (
            [c.rows.measurement] if c.rows else []) + ([c.textfsm.measurement] if c.textfsm else [])]
        rows.append({"kind": "ssh", "name": profile.name, "driver": profile.driver,
                     "device_type": profile.device_type, "commands": [c.command for c in profile.commands],
                     "config_command": profile.config.command if profile.config else None,
                     "measurements": list(dict.fromkeys(measurements)), "description": profile.description})
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return EXIT_OK
    print(_("SNMP profiles (chosen by class and sysObjectID):"))
    for row in rows:
        if row["kind"] != "snmp":
            continue
        selection = []
        if row["classes"]:
            selection.append(_("classes {names}").format(names=",".join(row["classes"])))
        if row["sysobjectid"]:
            selection.append("sysObjectID " + ",".join(row["sysobjectid"]))
        if row["requires_oid"]:
            selection.append(_("if the agent has {oid}").format(oid=row["requires_oid"]))
        if row["replaces"]:
            selection.append(_("in place of {names}").format(names=",".join(row["replaces"])))
        print(f"{row['name']}: {row['description']}")
        print(_("    selected by: {how}").format(
            how="; ".join(selection) or _("only when named in settings (profiles:)")))
        print(_("    writes: {measurements}").format(measurements=", ".join(row["measurements"])))
    print()
    print(_("SSH command profiles (named in ssh: {{profiles: [...]}}):").format())
    for row in rows:
        if row["kind"] != "ssh":
            continue
        driver = _("exec channels") if row["driver"] == "exec" else f"netmiko {row['device_type']}"
        print(f"{row['name']}: {row['description']}")
        print(_("    runs ({driver}): {commands}").format(
            driver=driver, commands="; ".join(row["commands"]) or _("nothing (a login check)")))
        if row["config_command"]:
            print(_("    backup: {command}").format(command=row["config_command"]))
        print(_("    writes: {measurements}").format(measurements=", ".join(row["measurements"])))
    return EXIT_OK
