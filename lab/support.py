"""Helpers every test module may use: free ports, waiting, processes stopped by their own pid.

No test skips because a server binary is missing: the README's test command installs them,
and in CI a missing server must be a failure, not a silent skip.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Iterator, Optional, Sequence

REPO = Path(__file__).resolve().parent.parent
#: Recordings, captures and expected values the lab serves and the tests compare with.
FIXTURES = REPO / "tests" / "fixtures"
VENV_BIN = Path(sys.executable).parent


def free_port(kind: int = socket.SOCK_STREAM, host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def pid_alive(pid: int) -> bool:
    """Whether process `pid` exists (a zombie does not count): whose leftovers may be removed."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie that nobody reaps is as dead as it gets
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except (OSError, IndexError):
        return False


def require_binary(name: str) -> str:
    """Path of a server binary; a clear failure (never a skip) when it is missing."""
    path = shutil.which(name) or next(
        (str(p) for p in (Path("/usr/sbin") / name, Path("/usr/bin") / name, Path("/sbin") / name) if p.exists()), None)
    if path is None:
        raise AssertionError(f"{name} is not installed; run the README's test command, which installs it")
    return path


def require_root() -> None:
    if os.geteuid() != 0:
        raise AssertionError("this test needs root (raw sockets, nftables, network namespaces)")


def wait_until(predicate: Callable[[], bool], timeout_s: float = 10.0, interval_s: float = 0.02,
               what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except Exception:  # noqa: BLE001 - not ready yet
            pass
        time.sleep(interval_s)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


async def until_daemon(daemon: "Process", check: Callable[[], object], timeout_s: float, what: str,
                       interval_s: float = 0.2) -> object:
    """Wait, without blocking the test's event loop, until `check()` returns something true
    (returned); fails at once with the daemon's log if it exits, or after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        assert daemon.alive(), f"the daemon exited while waiting for {what}:\n{daemon.log()[-3000:]}"
        await asyncio.sleep(interval_s)
    raise AssertionError(f"timed out waiting for {what}; daemon log:\n{daemon.log()[-3000:]}")


class Process:
    """A child process started by a test and stopped by its own pid (never pkill)."""

    #: Every Process of this test process still alive when last looked at: tests/conftest.py stops
    #: the ones a test started and left running (it failed before its own stop), so that a
    #: daemon does not go on probing and holding its ports beside the tests that follow.
    started: "list[Process]" = []

    def __init__(self, argv: Sequence[str], log_path: Path, env: Optional[dict] = None,
                 cwd: Optional[Path] = None) -> None:
        self.argv = list(argv)
        self.log_path = log_path
        self._log = open(log_path, "ab")
        self.popen = subprocess.Popen(self.argv, stdout=self._log, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, env=env, cwd=cwd)
        Process.started[:] = [process for process in Process.started if process.alive()] + [self]

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 10.0) -> Optional[int]:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            try:
                self.popen.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        self._log.close()
        return self.popen.returncode


class ServerProcess:
    """What every test server shares: `process` (a Process or None), `log_path`, and `start()`
    defined by the subclass; stop, restart (same port and data: a "reboot") and log here."""

    process: Optional[Process] = None
    log_path: Path

    def start(self):  # pragma: no cover - every server defines its own
        raise NotImplementedError

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None

    def restart(self):
        self.stop()
        return self.start()

    def log(self) -> str:
        if self.process is not None:
            return self.process.log()
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `path` (created if missing) for the block: one test process
    at a time, whichever run or xdist worker it belongs to."""
    with open(path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def webhook_alerting(url: str, group_wait_s: float = 1) -> str:
    """The `notifications:` block of a test daemon's settings: every alert to one webhook."""
    return f"""notifications:
  channels: {{tickets: {{webhook: {{url: "{url}"}}}}}}
  groups: {{oncall: {{tiers: [[tickets]]}}}}
  default_groups: [oncall]
  group_wait_s: {group_wait_s:g}
"""


class DaemonDir:
    """A `netvigil run` with its settings in a directory of its own (`settings`, set by the
    test): start it, and run commands against the same settings."""

    settings: Path
    process: Optional[Process] = None

    def start(self) -> None:
        self.process = Process([str(VENV_BIN / "netvigil"), "run", "-c", str(self.settings)],
                               self.settings.parent / "daemon.log", env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(VENV_BIN / "netvigil"), *args, "-c", str(self.settings)], capture_output=True,
                              text=True, timeout=30)
