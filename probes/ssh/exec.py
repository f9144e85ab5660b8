"""One SSH session over asyncssh: log in, run commands on exec channels, log out, all bounded.

Every phase has its own clock: `connect_timeout_s` for TCP, the server's banner and the key
exchange (a server that sends an endless pre-version banner, as tarpits do, is cut here);
`auth_timeout_s` from the host-key check to a successful login; `command_timeout_s` for
each command; `session_timeout_s` over everything. Output is read in chunks and a command
whose output passes `max_output_bytes` is stopped, so a flooding server costs memory up to
the limit and no more.

Commands for a POSIX shell (profiles with `device_type: linux`) run with pipefail
(`posix_shell`): `a | b` fails when `a` fails, as a check of `systemctl ... | wc -l` must.
sshd hands the command to the account's login shell, which may be bash, dash (Debian's and
Ubuntu's /bin/sh; dash 0.5.12, the one of Debian 12 and Ubuntu 24.04, has no `set -o
pipefail`: its later releases add it), busybox ash or something else, so the command goes to
`sh -c` with a small prologue: `set -o pipefail` when that sh has it (bash, busybox ash, a
dash with it), else `bash -o pipefail` when bash is installed, else the plain sh, where a
pipeline's status is its last stage's (the shipped profiles do not rely on it).

The host key is checked by `validate_host_public_key` against the store (trusted list left
empty on purpose so asyncssh always asks us): that callback is also the moment the key
exchange is over, which is where the connect clock hands over to the auth clock.
"""

from __future__ import annotations

import asyncio
import shlex
import socket
import time
from dataclasses import dataclass, field
from typing import Optional, Sequence

import asyncssh

from probes.ssh.hostkeys import (HostKeyChanged, HostKeyStore, HostKeyUnknown, changed_message, openssh_line,
                                 unknown_message)


class SessionFailed(Exception):
    """A session that could not run its commands; `code` is an `ErrorCode` name."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


# The sentences both drivers (exec here, netmiko's CLI in cli.py) give for the same failure:
# the user reads the same words, naming the settings that bound each phase, whichever
# library met it.

def where(login: "Login") -> str:
    return f"{login.host} port {login.port}"


def connect_timed_out(login: "Login") -> SessionFailed:
    return SessionFailed("TIMEOUT", f"no SSH connection to {where(login)} within connect_timeout_s = "
                                    f"{login.connect_timeout_s:g} s (TCP connect, banner or key exchange)")


def auth_timed_out(login: "Login") -> SessionFailed:
    return SessionFailed("AUTH_TIMEOUT", f"login as {login.username!r} not complete within auth_timeout_s = "
                                         f"{login.auth_timeout_s:g} s")


def login_refused(login: "Login") -> SessionFailed:
    return SessionFailed("AUTH", f"login as {login.username!r} refused by {where(login)} (wrong password or key, "
                                 f"or the account may not log in)")


def does_not_resolve(login: "Login", reason: str) -> SessionFailed:
    return SessionFailed("RESOLVE_FAILED", f"{login.host} does not resolve: {reason}")


def connection_refused(login: "Login") -> SessionFailed:
    return SessionFailed("REFUSED", f"connection refused by {where(login)} (no SSH server on that port)")


def cannot_connect(login: "Login", reason: str) -> SessionFailed:
    return SessionFailed("REFUSED", f"cannot connect to {where(login)}: {reason}")


def closed_during_login(login: "Login", exc: BaseException) -> SessionFailed:
    reason = str(exc)  # empty for a plain end of stream
    return SessionFailed("DISCONNECTED", f"{where(login)} closed the connection during login"
                                         + (f": {reason}" if reason else ""))


def protocol_failure(login: "Login", exc: BaseException) -> SessionFailed:
    return SessionFailed("PROTOCOL", f"SSH login to {where(login)} failed: {exc.__class__.__name__}: {exc}")


def tcp_failure(exc: OSError, login: "Login") -> SessionFailed:
    """The sentence for a TCP connect that failed with `exc` (no SSH spoken yet)."""
    if isinstance(exc, socket.gaierror):
        return does_not_resolve(login, exc.strerror or str(exc))
    if isinstance(exc, TimeoutError):
        return connect_timed_out(login)
    if isinstance(exc, ConnectionRefusedError):
        return connection_refused(login)
    return cannot_connect(login, exc.strerror or str(exc))


def session_timed_out(login: "Login") -> SessionFailed:
    return SessionFailed("SESSION_TIMEOUT", f"the whole session took longer than session_timeout_s = "
                                            f"{login.session_timeout_s:g} s")


def output_too_large(command: str, login: "Login") -> SessionFailed:
    return SessionFailed("OUTPUT_TOO_LARGE", f"`{command}` printed more than max_output_bytes = "
                                             f"{login.max_output_bytes}")


def command_timed_out(command: str, login: "Login", why: str = "") -> SessionFailed:
    return SessionFailed("COMMAND_TIMEOUT", f"`{command}` did not finish within command_timeout_s = "
                                            f"{login.command_timeout_s:g} s{why}")


def broke_during(command: str, exc: BaseException) -> SessionFailed:
    return SessionFailed("DISCONNECTED", f"the connection broke during `{command}`: {exc.__class__.__name__}: {exc}")


#: Runs "$1" with pipefail in whatever POSIX sh the target has (module docstring).
PIPEFAIL_PROLOGUE = ('if (set -o pipefail) 2>/dev/null; then set -o pipefail; eval "$1"; '
                     'elif command -v bash >/dev/null 2>&1; then exec bash -o pipefail -c "$1"; '
                     'else eval "$1"; fi')


def with_pipefail(command: str) -> str:
    """`command` as the login shell must receive it to run under `sh` with pipefail (quoted
    with single quotes only, which every POSIX login shell reads alike)."""
    return f"sh -c {shlex.quote(PIPEFAIL_PROLOGUE)} netvigil {shlex.quote(command)}"


@dataclass
class CommandResult:
    command: str
    output: str
    exit_status: Optional[int]  # None on a CLI (no exit status)
    duration_ms: float
    failure: Optional[SessionFailed] = None  # the command timed out, flooded, or the link broke


@dataclass
class SessionResult:
    login_ms: float = 0.0
    commands: list[CommandResult] = field(default_factory=list)
    failure: Optional[SessionFailed] = None  # the session as a whole (login, host key, ...)
    host_key_recorded: Optional[str] = None  # fingerprint trusted on first use in this session


@dataclass(frozen=True)
class Login:
    """Everything a session needs to log in and stay in bounds (secrets already unwrapped here,
    and only here, right before use)."""

    device: str
    host: str
    port: int
    username: str
    password: Optional[str]
    client_key: Optional[object]  # an asyncssh SSHKey
    tofu: bool
    connect_timeout_s: float
    auth_timeout_s: float
    command_timeout_s: float
    session_timeout_s: float
    max_output_bytes: int


class _HostKeyCheck(asyncssh.SSHClient):
    def __init__(self, login: Login, store: HostKeyStore, trusted, on_kex_done) -> None:
        self.login, self.store, self.trusted, self.on_kex_done = login, store, trusted, on_kex_done
        self.problem: Optional[Exception] = None
        self.recorded: Optional[str] = None

    def validate_host_public_key(self, host: str, addr: str, port: int, key: asyncssh.SSHKey) -> bool:
        login = self.login
        if key in self.trusted.keys:
            self.on_kex_done()
            return True
        if self.trusted.keys:
            self.problem = HostKeyChanged(changed_message(login.host, login.port, key, self.trusted.keys))
            return False
        if not login.tofu:
            self.problem = HostKeyUnknown(unknown_message(login.host, login.port, key))
            return False
        self.store.record(login.host, login.port, openssh_line(key), login.device)
        self.recorded = key.get_fingerprint("sha256")
        self.on_kex_done()
        return True


def _connection_failure(exc: BaseException, checker: Optional[_HostKeyCheck], login: Login) -> SessionFailed:
    if checker is not None and checker.problem is not None:
        code = "HOST_KEY_CHANGED" if isinstance(checker.problem, HostKeyChanged) else "HOST_KEY_UNKNOWN"
        return SessionFailed(code, str(checker.problem))
    if isinstance(exc, asyncssh.PermissionDenied):
        return login_refused(login)
    if isinstance(exc, (ConnectionResetError, ConnectionAbortedError, BrokenPipeError)):
        return closed_during_login(login, exc)  # TCP was up: a refusal is ECONNREFUSED, never a reset
    if isinstance(exc, socket.gaierror) or isinstance(exc, OSError) and exc.errno is not None:
        return tcp_failure(exc, login)
    if isinstance(exc, asyncssh.KeyImportError):
        return SessionFailed("AUTH", f"the credential's private key cannot be read: {exc} "
                                     f"(wrong private_key_passphrase?)")
    if isinstance(exc, (asyncssh.ConnectionLost, asyncssh.DisconnectError, asyncio.IncompleteReadError)):
        return closed_during_login(login, exc)
    return protocol_failure(login, exc)


async def run_exec_session(login: Login, store: HostKeyStore, commands: Sequence[str],
                           posix_shell: bool = False) -> SessionResult:
    """Log in and run `commands`, each on its own exec channel (through `with_pipefail` when the
    target is a `posix_shell`). Never raises (but CancelledError)."""
    result = SessionResult()
    loop = asyncio.get_running_loop()
    started = time.monotonic()
    try:
        async with asyncio.timeout(login.session_timeout_s):
            conn = await _login(login, store, result, loop)
            try:
                result.login_ms = (time.monotonic() - started) * 1000
                for command in commands:
                    outcome = await _run_command(conn, command, login, posix_shell)
                    result.commands.append(outcome)
                    if outcome.failure is not None and outcome.failure.code == "DISCONNECTED":
                        break  # the session is gone: the remaining commands cannot run
            finally:
                conn.abort()  # no polite close: a stalled server must not hold us (nothing is left to say)
    except SessionFailed as failure:
        result.failure = failure
    except TimeoutError:
        result.failure = session_timed_out(login)
    return result


async def _login(login: Login, store: HostKeyStore, result: SessionResult, loop) -> asyncssh.SSHClientConnection:
    phase = {"name": "connect"}
    checker: Optional[_HostKeyCheck] = None
    try:
        async with asyncio.timeout(login.connect_timeout_s) as clock:
            def kex_done() -> None:
                phase["name"] = "auth"
                clock.reschedule(loop.time() + login.auth_timeout_s)

            def make_client() -> _HostKeyCheck:
                nonlocal checker
                checker = _HostKeyCheck(login, store, trusted, kex_done)
                return checker

            trusted = store.trusted(login.host, login.port)  # looked up once, used for algorithms and the check
            algorithms = [alg.decode() for key in trusted.keys for alg in key.sig_algorithms] or ()
            conn, _ = await asyncssh.create_connection(
                make_client, login.host, login.port, username=login.username, password=login.password,
                client_keys=[login.client_key] if login.client_key is not None else None,
                known_hosts=([], trusted.ca_keys, trusted.revoked), server_host_key_algs=algorithms,
                config=None, agent_path=None, gss_auth=False, gss_kex=False, x509_trusted_certs=None,
                preferred_auth=("publickey", "keyboard-interactive", "password"),
                keepalive_interval=0)
    except TimeoutError:
        raise (connect_timed_out(login) if phase["name"] == "connect" else auth_timed_out(login)) from None
    except (OSError, asyncssh.Error, asyncio.IncompleteReadError, ValueError) as exc:
        raise _connection_failure(exc, checker, login) from None
    if checker is not None:
        result.host_key_recorded = checker.recorded
    return conn


async def _run_command(conn: asyncssh.SSHClientConnection, command: str, login: Login,
                       posix_shell: bool = False) -> CommandResult:
    started = time.monotonic()
    chunks: list[bytes] = []
    size = 0

    def done(failure: Optional[SessionFailed] = None, exit_status: Optional[int] = None) -> CommandResult:
        output = b"".join(chunks).decode("utf-8", errors="replace")
        return CommandResult(command, output, exit_status, (time.monotonic() - started) * 1000, failure)

    process = None
    try:
        async with asyncio.timeout(login.command_timeout_s):
            sent = with_pipefail(command) if posix_shell else command
            process = await conn.create_process(sent, stdin=asyncssh.DEVNULL, stderr=asyncssh.STDOUT,
                                                encoding=None)
            while True:
                data = await process.stdout.read(65_536)
                if not data:
                    break
                size += len(data)
                if size > login.max_output_bytes:
                    process.close()
                    return done(output_too_large(command, login))
                chunks.append(data)
            completed = await process.wait()
            if completed.exit_status is None and completed.exit_signal is None:
                return done(SessionFailed("DISCONNECTED", f"the connection broke during `{command}` "
                                                          "(no exit status)"))
            status = completed.exit_status if completed.exit_status is not None else 255
            return done(exit_status=status)
    except TimeoutError:
        if process is not None:
            process.close()
        return done(command_timed_out(command, login))
    except (asyncssh.Error, OSError, asyncio.IncompleteReadError, BrokenPipeError) as exc:
        return done(broke_during(command, exc))
