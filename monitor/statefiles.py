"""The daemon's state files are its own: owner-only (files 0600, directories 0700) whatever the umask.

They hold device names and addresses, fault records that name people, configuration backups and
SSH host keys. Under systemd the unit's UMask=0077 makes them so; a daemon started by hand
inherited the shell's umask (usually 0022) and left metrics.db, notifications.db, the spool and
ssh_known_hosts readable by every local user. `run` now sets the same umask as the unit, and
`make_private` tightens what an earlier start left behind. The state directory itself is left as
it is (systemd's StateDirectoryMode=0750 lets the netvigil group reach the control socket).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

PRIVATE_UMASK = 0o077


def make_private(state_dir: Path) -> list[str]:
    """Remove group and other permissions from everything under `state_dir` (not sockets);
    the paths changed, relative to `state_dir`, for one log line."""
    changed = []
    for root, directories, files in os.walk(state_dir):
        for name in directories + files:
            path = Path(root) / name
            try:
                mode = path.lstat().st_mode
            except FileNotFoundError:  # a spool batch replayed meanwhile
                continue
            if stat.S_ISSOCK(mode) or stat.S_ISLNK(mode) or not mode & 0o077:
                continue
            try:
                path.chmod(stat.S_IMODE(mode) & ~0o077)
            except OSError:
                continue  # not ours (e.g. a file a root CLI run left): the daemon's user cannot fix it
            changed.append(str(path.relative_to(state_dir)))
    return sorted(changed)
