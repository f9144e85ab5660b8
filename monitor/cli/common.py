"""What every command module shares: a refusal with an exit code, and loading the
configuration with its problems as sentences. Light on imports: `netvigil --help` and the
parser of every command load this."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

from monitor.problems import EXIT_CONFIG


class Refused(Exception):
    """A sentence for stderr and an exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def load_config(path: Optional[Path]):
    # Imported on use: the parser of every command (and `netvigil --help`) imports this module,
    # and the settings models cost ~270 ms of start-up.
    from monitor import config as config_module

    try:
        return config_module.load(path)
    except config_module.ConfigError as exc:
        raise Refused("\n".join(exc.problems), EXIT_CONFIG) from None


def run(command, args) -> int:
    try:
        return command(args)
    except Refused as exc:
        print(str(exc), file=sys.stderr)
        return exc.code
