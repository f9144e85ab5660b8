"""`netvigil probe DEVICE --kind ssh`, and what the SSH commands share (monitor.cli.config
fetches configurations with the same device lookup and prober).

They use the daemon's own code and the device's effective settings, and the daemon's
trust-on-first-use host keys under state_dir (`ssh_known_hosts`). Run them as the daemon's
user (`sudo -u netvigil netvigil ...`): the state directory is its own. Secrets come from the
configuration's secret sources and are never printed.

Exit codes: 0 ok, 1 the device could not be reached or refused, 2 configuration or usage.
"""

from __future__ import annotations

import asyncio
import json

from monitor import words
from monitor.cli.common import Refused as _Refused, load_config as _config, run as _run
from monitor.i18n import _
from monitor.problems import EXIT_CONFIG, EXIT_OK, EXIT_RUNTIME
from monitor.state import SSH_STATES
from probes.ssh.prober import SshProber
from probes.ssh.hostkeys import HostKeyStore
from probes.ssh.profiles import ProfileError, load_profiles
from probes.ssh.settings import missing_secrets


def find_device(args, need_credential: bool = True):
    if args.config is None:
        raise _Refused(f"netvigil {args.command_key}: give -c SETTINGS and a device name from its inventory",
                       EXIT_CONFIG)
    cfg = _config(args.config)
    device = cfg.inventory.by_name(args.target)
    if device is None:
        raise _Refused(f"netvigil {args.command_key}: no device named {args.target!r} in the inventory of "
                       f"{args.config}", EXIT_CONFIG)
    if need_credential:
        if device.ssh.credential is None:
            raise _Refused(f"netvigil {args.command_key}: device {device.name!r} has no SSH credential; set "
                           f"probes.ssh.credential, or ssh: {{credential: NAME}} for its class, site or the device "
                           f"({device.source})", EXIT_CONFIG)
        missing = missing_secrets(cfg.settings.probes.ssh, {device.ssh.credential})
        if missing:
            raise _Refused("\n".join(missing), EXIT_CONFIG)
    return cfg, device


def in_state_dir(command):
    """`command`, with a state directory it cannot read or write (configs/, ssh_known_hosts)
    reported as a sentence instead of a traceback."""
    def run(args) -> int:
        try:
            return command(args)
        except BrokenPipeError:
            raise  # standard output closed (`| head`): monitor.cli.main ends quietly
        except OSError as exc:
            where = exc.filename or "the state directory"
            raise _Refused(f"netvigil {args.command_key}: {where}: {exc.strerror or exc}; the configuration "
                           "versions and host keys live in the daemon's state_dir: run this as the daemon's user "
                           "(sudo -u netvigil netvigil ...)", EXIT_RUNTIME) from None
    return run


def make_prober(cfg):
    ssh = cfg.settings.probes.ssh
    try:
        profiles = load_profiles(ssh.profile_dirs, check_drivers=True)
    except ProfileError as exc:
        raise _Refused(str(exc), EXIT_CONFIG) from None
    host_keys = HostKeyStore(ssh.known_hosts, cfg.settings.state_dir / "ssh_known_hosts")
    return SshProber(ssh, profiles, host_keys)


# -- netvigil probe DEVICE --kind ssh --------------------------------------------------------------

def probe_command(args) -> int:
    return _run(in_state_dir(_probe), args)


def _probe(args) -> int:
    cfg, device = find_device(args)
    if not device.ssh.profiles:
        raise _Refused(f"netvigil probe: device {device.name!r} has no SSH profiles (ssh: {{profiles: [...]}}; "
                       "`netvigil profiles list` shows them)", EXIT_CONFIG)
    errors: list[str] = []

    async def once():
        prober = make_prober(cfg)
        try:
            return await prober.probe([device.target()], lambda _name: device.ssh,
                                      on_error=lambda _t, e: errors.append(e.detail))
        finally:
            prober.close()

    samples = asyncio.run(once())
    summary = samples[0].fields
    if args.json:
        print(json.dumps({"device": device.name, "address": device.address, "kind": "ssh",
                          "profiles": list(device.ssh.profiles), "errors": errors,
                          "samples": [{"measurement": s.measurement, "tags": dict(s.tags), "fields": dict(s.fields)}
                                      for s in samples]}, ensure_ascii=False))
    else:
        state = SSH_STATES.get(summary["error_code"], str(summary["error_code"]))
        print(_("{device} ({address}): ssh {state}, login {ms} ms, {ok}/{commands} commands ok, profiles {names}")
              .format(device=device.name, address=device.address, state=words.probe_state(state),
                      ms=f"{summary['login_ms']:.0f}", ok=summary["commands_ok"], commands=summary["commands"],
                      names=", ".join(device.ssh.profiles)))
        for error in errors:
            print(f"  {error}")
        for sample in samples[1:]:
            labels = {k: v for k, v in sample.tags.items() if k not in device.sample_tags}
            label_text = " ".join(f"{k}={v}" for k, v in labels.items())
            fields = " ".join(f"{k}={v}" for k, v in sample.fields.items())
            print(f"  {sample.measurement} {label_text}: {fields}".replace("  :", ":"))
    return EXIT_OK if summary["error_code"] == 0 else EXIT_RUNTIME
