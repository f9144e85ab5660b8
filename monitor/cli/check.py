"""`netvigil check`: validate the settings file and every inventory file, report all problems.

Exit 0 and one `ok:` line when everything is valid; otherwise every problem on its own line
on stderr, a count, and exit 2. With the fault records on PostgreSQL (`faults.database`) it
also connects, changing nothing: a server that cannot be reached, refused credentials, a
missing database or a schema of a newer netvigil is one sentence and exit 1 (the settings
are valid, the daemon would still not start); a schema to create or migrate is a note. A bug
here must not print a traceback (it could quote a secret), so it is reduced to its type and
place.
"""

from __future__ import annotations

import sys
import traceback

from monitor import config
from monitor.config import missing_secrets
from monitor.i18n import ngettext
from monitor.problems import EXIT_CONFIG, EXIT_OK, EXIT_RUNTIME
from probes.ssh.profiles import ProfileError, load_profiles


def check_command(args) -> int:
    """Validate `args.config` and its inventory; print the verdict."""
    try:
        cfg = config.load(args.config)
    except config.SettingsFileError as exc:
        print(exc.problems[0], file=sys.stderr)
        return EXIT_CONFIG
    except config.ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"{len(exc.problems)} problem(s) found", file=sys.stderr)
        return EXIT_CONFIG
    except Exception as exc:  # noqa: BLE001 - a bug; say where without the message (it may hold values)
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        print(f"netvigil check: internal error {type(exc).__name__} at {frame.filename}:{frame.lineno}; "
              "please report it", file=sys.stderr)
        return EXIT_RUNTIME
    inventory = cfg.inventory
    try:  # the netmiko device types of the SSH profiles (config.load skips that for speed)
        load_profiles(cfg.settings.probes.ssh.profile_dirs, check_drivers=True)
    except ProfileError as exc:
        print(f"{exc} (probes.ssh.profile_dirs)", file=sys.stderr)
        print("1 problem(s) found", file=sys.stderr)
        return EXIT_CONFIG
    for sentence in missing_secrets(cfg):
        # Not an error here: the daemon's credential directory is not visible from this shell.
        print(f"warning: {sentence}; the daemon will not start without it", file=sys.stderr)
    if cfg.settings.api.enabled:
        for sentence in cfg.settings.api.warnings():
            print(f"warning: {sentence}", file=sys.stderr)
    if cfg.settings.faults.database.postgresql:
        from monitor.faults.postgres import PROBLEM_KINDS, inspect

        kind, sentence = inspect(cfg.settings.faults.database)
        if kind in PROBLEM_KINDS:
            print(sentence, file=sys.stderr)
            print("1 problem(s) found", file=sys.stderr)
            return EXIT_RUNTIME
        if kind != "ok":
            print(f"note: {sentence}", file=sys.stderr)
    if not cfg.settings.notifications.channels:
        print("warning: notifications.channels is empty: faults are recorded but nobody is alerted", file=sys.stderr)
    print(ngettext("ok: {config}: {devices} devices in {sites} sites from {files} inventory file",
                   "ok: {config}: {devices} devices in {sites} sites from {files} inventory files",
                   len(inventory.files)).format(config=args.config, devices=len(inventory.devices),
                                                sites=len(inventory.sites), files=len(inventory.files)))
    return EXIT_OK
