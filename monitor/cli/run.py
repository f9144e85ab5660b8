"""`netvigil run`: the daemon in the foreground (systemd runs this).

Configuration problems are logged one per line and the exit code is 2, so systemd's journal
shows what to fix and the unit does not restart into the same error.
"""

from __future__ import annotations

import asyncio
import logging
import os

from monitor import config as config_module
from monitor import logsetup
from monitor.daemon import Daemon
from monitor.problems import EXIT_CONFIG
from monitor.statefiles import PRIVATE_UMASK

log = logging.getLogger("netvigil")  # the daemon's logger: its lines look the same as the daemon's own


def run_command(args) -> int:
    try:
        cfg = config_module.load(args.config)
    except config_module.ConfigError as exc:
        logsetup.configure("info")
        for problem in exc.problems:
            log.error("%s", problem)
        log.error("not started: %d configuration problem(s); fix them and run `netvigil check -c %s`",
                  len(exc.problems), args.config)
        return EXIT_CONFIG
    logsetup.configure(cfg.settings.log_level)
    os.umask(PRIVATE_UMASK)  # what the unit's UMask=0077 does, for a daemon started by hand
    return asyncio.run(Daemon(cfg).run())
