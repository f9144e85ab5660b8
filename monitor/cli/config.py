"""Configuration backups of devices: `netvigil config history|diff|fetch`.

They use the daemon's own code and the device's effective settings, and the daemon's
stores under state_dir: configuration versions (`configs/`) and trust-on-first-use host keys
(`ssh_known_hosts`), so a version fetched by hand is the same history the daemon extends.
Run them as the daemon's user (`sudo -u netvigil netvigil config ...`): the state directory
is its own. Secrets come from the configuration's secret sources and are never printed;
configurations are shown masked, as stored.

Exit codes: 0 ok, 1 the device could not be reached or refused, 2 configuration or usage.
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import datetime, timezone

from monitor.cli.common import Refused as _Refused, run as _run
from monitor.cli.ssh import find_device, in_state_dir, make_prober
from monitor.config_store import ConfigStore
from monitor.i18n import _, ngettext
from monitor.problems import EXIT_CONFIG, EXIT_OK, EXIT_RUNTIME
from probes.ssh.prober import ErrorCode
from probes.ssh.backup import backup, backup_rules
from probes.ssh.profiles import ProfileError, load_profiles


def _store(cfg):
    """The daemon's configuration store, masking with the rules the daemon's fetches use, so
    versions an older masker left secrets in are masked before anything is shown."""
    try:
        profiles = load_profiles(cfg.settings.probes.ssh.profile_dirs)
    except ProfileError as exc:
        raise _Refused(str(exc), EXIT_CONFIG) from None

    def rules_for_device(name: str):
        found = cfg.inventory.by_name(name)
        return backup_rules(profiles, found.ssh if found is not None else None)

    return ConfigStore(cfg.settings.state_dir / "configs", rules_for_device)


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def history_command(args) -> int:
    return _run(in_state_dir(_history), args)


def _history(args) -> int:
    cfg, device = find_device(args, need_credential=False)
    store = _store(cfg)
    versions = store.history(device.name)
    checked = store.last_checked(device.name)
    if args.json:
        print(json.dumps({"device": device.name, "last_checked": checked,
                          "versions": [{"version": v.number, "fetched_at": v.fetched_at, "lines": v.lines,
                                        "sha256": v.sha256} for v in versions]}, ensure_ascii=False))
        return EXIT_OK
    if not versions:
        print(_("{device}: no configuration stored yet (netvigil config fetch {quoted} -c {config})").format(
            device=device.name, quoted=repr(device.name), config=args.config))
        return EXIT_OK
    print(ngettext("{device}: {n} version; last checked {when}", "{device}: {n} versions; last checked {when}",
                   len(versions)).format(device=device.name, n=len(versions),
                                         when=_when(checked) if checked else _("never")))
    for version in reversed(versions):
        lines = ngettext("{n} line", "{n} lines", version.lines).format(n=f"{version.lines:>6}")
        print(f"  v{version.number:<5} {_when(version.fetched_at)}  {lines}  sha256 {version.sha256[:12]}")
    return EXIT_OK


def diff_command(args) -> int:
    return _run(in_state_dir(_diff), args)


def _diff(args) -> int:
    cfg, device = find_device(args, need_credential=False)
    store = _store(cfg)
    if len(store.history(device.name)) < (1 if args.a is not None and args.b is not None else 2):
        raise _Refused(f"{device.name}: fewer than two configuration versions stored; nothing to compare "
                       f"(`netvigil config history {device.name}`)", EXIT_RUNTIME)
    try:
        text = store.diff(device.name, args.a, args.b)
    except KeyError as exc:
        raise _Refused(exc.args[0] if exc.args else str(exc), EXIT_CONFIG) from None
    print(text if text else _("{device}: no difference").format(device=device.name),
          end="" if text.endswith("\n") else "\n")
    return EXIT_OK


def fetch_command(args) -> int:
    return _run(in_state_dir(_fetch), args)


def _fetch(args) -> int:
    cfg, device = find_device(args)
    store = _store(cfg)
    errors: list[str] = []

    async def once():
        prober = make_prober(cfg)
        try:
            return await backup(prober, store, [device.target()], lambda _name: device.ssh,
                                on_error=lambda _t, e: errors.append(e.detail))
        finally:
            prober.close()

    samples = asyncio.run(once())
    result = samples[0].fields
    if not result["ok"]:
        print(f"{device.name}: configuration not fetched ({ErrorCode(result['error_code']).name.lower()}): "
              f"{'; '.join(errors)}", file=sys.stderr)
        return EXIT_RUNTIME
    changed = next((s.fields for s in samples if s.measurement == "config_changed"), None)
    if changed is not None:
        print(_("{device}: CHANGED: version {version} stored (+{added} -{removed} lines against version "
                "{previous})").format(device=device.name, version=changed["version"], added=changed["added"],
                                      removed=changed["removed"], previous=changed["previous_version"]))
        print(store.diff(device.name), end="")
    elif result["stored"]:
        print(_("{device}: first version stored ({lines} lines)").format(device=device.name, lines=result["lines"]))
    else:
        print(_("{device}: unchanged since version {version}").format(device=device.name, version=result["version"]))
    return EXIT_OK
