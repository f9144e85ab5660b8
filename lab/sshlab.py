"""The SSH test lab: a real OpenSSH sshd on loopback, logged into as a throwaway user.

netvigil's SSH probes run commands on Linux hosts (`uptime`, `df -P /`, `cat /proc/loadavg`,
`nproc`) with a key, a passphrase-protected key or a password; only a real sshd shows how a
real server answers each of them.
Network devices are simulated separately, in lab/sshsim.py.

* `Sshd(tmp_dir)` - OpenSSH sshd on a free port of 127.0.0.1. `start()` writes an ed25519
  host key, a client key without passphrase (`client_key_path`), one with the passphrase
  `key_passphrase` (`encrypted_key_path`), an authorized_keys with both, and an sshd_config
  with public-key and password authentication; runs `sshd -D -e -f ...` and returns when the
  port answers with an `SSH-2.0-` banner; `stop()` / `restart()` keep port and keys,
  `cleanup()` also removes the shared directory. Login as `user` (`nvssh<pid>`) with
  `password` or the keys. `host_key_line` / `known_hosts_line()` pin the host key for clients
  that check it. `bin_dir` comes first on the PATH of the user's commands (sshd's `SetEnv`):
  a test puts stand-ins there (a `systemctl` that fails) without touching the machine's own.
* `ensure_test_user()` / `remove_test_user()` - the throwaway account `nvssh<pid>` (`/bin/sh`,
  no home of its own; one per test process, so parallel workers and runs never share it):
  created or reused with a fresh random password set by chpasswd, which also unlocks it (with
  `UsePAM no`, sshd refuses even keys for a locked account); accounts of processes that are
  gone are deleted on the way.
* pytest fixtures at the bottom: `ssh_test_user` (session: the account, removed with
  userdel at the end), `sshd` (module: a started Sshd). tests/conftest.py imports them.

Pitfalls met here: sshd reads authorized_keys *as the target user*, and pytest's temporary
directories are 0700 root, so authorized_keys and the user's home live in a separate
0755 directory under /tmp (`shared_dir`, removed by `cleanup()`); `StrictModes no` lets sshd
accept them there. `/run/sshd` must exist (privilege separation). Root is needed (useradd,
sshd binding and switching users).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Optional

import pytest

from lab.support import Process, ServerProcess, file_lock, free_port, pid_alive, require_binary, require_root, wait_until

#: This process's own account, `nvssh<pid>`: every ensure_test_user() sets a new password and
#: home, and the session's end deletes the account, so two test processes sharing one name (the
#: parallel workers of one run, or two runs on the machine) would pull it from under each other.
TEST_USER = f"nvssh{os.getpid()}"
_USER_RE = re.compile(r"^nvssh(\d+)$")


_LOCK_PATH = Path("/run/lock" if Path("/run/lock").is_dir() else tempfile.gettempdir()) / "netvigil-sshlab.lock"


def _accounts_locked() -> contextlib.AbstractContextManager[None]:
    """One process at a time edits the account files: useradd, usermod, chpasswd and userdel
    of parallel test processes refuse to run ("cannot lock /etc/passwd") rather than wait."""
    return file_lock(_LOCK_PATH)


def _user_exists(name: str) -> bool:
    return subprocess.run(["id", "-u", name], capture_output=True).returncode == 0


def _remove_stale_users() -> None:
    """userdel the `nvssh<pid>` accounts whose process is gone (a run that was killed before
    its session ended); an account whose pid has been reused waits for a later run."""
    for line in Path("/etc/passwd").read_text().splitlines():
        match = _USER_RE.match(line.split(":", 1)[0])
        if match and int(match.group(1)) != os.getpid() and not pid_alive(int(match.group(1))):
            subprocess.run([require_binary("userdel"), match.group(0)], capture_output=True)


def ensure_test_user(home: Path, name: str = TEST_USER) -> str:
    """Create (or reuse) the throwaway account with `home` as its home; set and return a new
    random password (chpasswd also makes a locked account usable)."""
    require_root()
    with _accounts_locked():
        _remove_stale_users()
        if _user_exists(name):
            subprocess.run(["usermod", "-d", str(home), "-s", "/bin/sh", name], check=True, capture_output=True)
        else:
            subprocess.run([require_binary("useradd"), "-M", "-d", str(home), "-s", "/bin/sh", name],
                           check=True, capture_output=True)
        home.mkdir(parents=True, exist_ok=True)
        shutil.chown(home, user=name, group=name)
        password = "nv-" + secrets.token_urlsafe(18)
        subprocess.run([require_binary("chpasswd")], input=f"{name}:{password}\n", text=True,
                       check=True, capture_output=True)
    return password


def remove_test_user(name: str = TEST_USER) -> None:
    with _accounts_locked():
        if _user_exists(name):
            subprocess.run([require_binary("userdel"), name], capture_output=True)


def _ssh_banner(host: str, port: int) -> bool:
    with socket.create_connection((host, port), timeout=1) as sock:
        return sock.recv(64).startswith(b"SSH-2.0-")


class Sshd(ServerProcess):
    """OpenSSH sshd on 127.0.0.1 for the user `nvssh<pid>` (module docstring)."""

    host = "127.0.0.1"
    user = TEST_USER
    key_passphrase = "nv-key-passphrase"

    def __init__(self, tmp_dir: Path) -> None:
        self.tmp_dir = Path(tmp_dir)
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.tmp_dir / "sshd.log"
        self.config_path = self.tmp_dir / "sshd_config"
        self.host_key_path = self.tmp_dir / "hostkey_ed25519"
        self.client_key_path = self.tmp_dir / "clientkey"
        self.encrypted_key_path = self.tmp_dir / "clientkey_encrypted"
        self.port: int = 0
        self.password: str = ""
        self.host_key_line: str = ""
        self.shared_dir: Optional[Path] = None

    @property
    def home(self) -> Path:
        assert self.shared_dir is not None
        return self.shared_dir / "home"

    @property
    def bin_dir(self) -> Path:
        assert self.shared_dir is not None
        return self.shared_dir / "bin"

    @property
    def authorized_keys_path(self) -> Path:
        assert self.shared_dir is not None
        return self.shared_dir / "authorized_keys"

    def known_hosts_line(self) -> str:
        return f"[{self.host}]:{self.port} {self.host_key_line}"

    def _keygen(self, path: Path, passphrase: str = "") -> None:
        if not path.exists():
            subprocess.run([require_binary("ssh-keygen"), "-q", "-t", "ed25519", "-N", passphrase,
                            "-C", path.name, "-f", str(path)], check=True, capture_output=True)

    def _write_files(self) -> None:
        self._keygen(self.host_key_path)
        self._keygen(self.client_key_path)
        self._keygen(self.encrypted_key_path, self.key_passphrase)
        self.host_key_line = " ".join(Path(f"{self.host_key_path}.pub").read_text().split()[:2])
        if self.shared_dir is None or not self.shared_dir.exists():
            self.shared_dir = Path(tempfile.mkdtemp(prefix="netvigil-sshd-"))
            os.chmod(self.shared_dir, 0o755)
        self.password = ensure_test_user(self.home)
        self.bin_dir.mkdir(mode=0o755, exist_ok=True)
        keys = [Path(f"{p}.pub").read_text() for p in (self.client_key_path, self.encrypted_key_path)]
        self.authorized_keys_path.write_text("".join(keys))
        os.chmod(self.authorized_keys_path, 0o644)
        if not self.port:
            self.port = free_port()
        self.config_path.write_text(f"""\
Port {self.port}
ListenAddress {self.host}
HostKey {self.host_key_path}
PidFile {self.tmp_dir / 'sshd.pid'}
AuthorizedKeysFile {self.authorized_keys_path}
PermitRootLogin no
AllowUsers {self.user}
PubkeyAuthentication yes
PasswordAuthentication yes
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
UseDNS no
PrintMotd no
PrintLastLog no
MaxStartups 200:30:400
MaxSessions 100
LogLevel ERROR
SetEnv PATH={self.bin_dir}:/usr/local/bin:/usr/bin:/bin
Subsystem sftp /usr/lib/openssh/sftp-server
""")

    def start(self) -> "Sshd":
        sshd = require_binary("sshd")
        self._write_files()
        Path("/run/sshd").mkdir(mode=0o755, parents=True, exist_ok=True)
        self.process = Process([sshd, "-D", "-e", "-f", str(self.config_path)], self.log_path)
        try:
            wait_until(lambda: self.process.alive() and _ssh_banner(self.host, self.port),
                       timeout_s=10, what=f"sshd on {self.host}:{self.port}")
        except AssertionError:
            log = self.log()
            self.stop()
            raise AssertionError(f"sshd did not start: {log}") from None
        return self

    def cleanup(self) -> None:
        """stop() plus removal of the shared directory (authorized_keys, home)."""
        self.stop()
        if self.shared_dir is not None:
            shutil.rmtree(self.shared_dir, ignore_errors=True)
            self.shared_dir = None


# -- pytest fixtures -----------------------------------------------------------------------------

@pytest.fixture(scope="session")
def ssh_test_user():
    """The throwaway account `nvssh<pid>`; removed with userdel at the end of the session."""
    yield TEST_USER
    remove_test_user()


@pytest.fixture(scope="module")
def sshd(ssh_test_user, tmp_path_factory) -> Sshd:
    """A started Sshd on a free port of 127.0.0.1, stopped after the module."""
    server = Sshd(tmp_path_factory.mktemp("sshd")).start()
    yield server
    server.cleanup()
