"""Vendor CLI sessions through netmiko, in a bounded thread pool, with the same bounds as exec.

netmiko knows each vendor's prompts, echo and paging (Huawei's `screen-length 0 temporary`,
Cisco's `terminal length 0`), which is why it drives interactive CLIs; but it is synchronous
and sleeps in loops. So sessions run in a dedicated pool of `cli_workers` threads (never the
event loop, never the default executor other code shares), and:

* the host key goes through the same store as the exec path: `_build_ssh_client` is
  replaced so paramiko sees only our trusted keys, and a missing key goes to a policy that
  records it (trust on first use) or refuses;
* `read_channel` counts bytes, so a flooding device fails with OUTPUT_TOO_LARGE instead of
  filling memory for `command_timeout_s`;
* the session deadline is enforced from the event loop: `abort()` closes the paramiko
  transport, which makes the blocked thread's next read fail at once, so a hung device frees
  its worker within about a second of its deadline;
* logging out skips netmiko's `disconnect()`, which waits 2 s of silence to check for
  configuration mode: we send the CLI's `quit` and close the transport;
* the login is ours, not netmiko's: `_Client.connect` opens the TCP connection and runs
  paramiko's handshake and authentication phase by phase, under the same clocks as the exec
  path (`connect_timeout_s` for TCP, banner and key exchange together, `auth_timeout_s`
  for the login, `command_timeout_s` for the shell channel and every read netmiko makes
  while it looks for the prompt), and turns each failure into the exec path's sentence
  (probes/ssh/exec.py). netmiko's own messages advise a `conn_timeout` that netvigil users
  have no setting for, and paramiko logs a traceback from its transport thread for every
  banner it could not read: its log lines go to the `netvigil.ssh.paramiko` logger at
  debug level, tracebacks dropped (the failure is reported once, as a sentence).
"""

from __future__ import annotations

import concurrent.futures
import logging
import re
import socket
import threading
import time
from typing import Optional, Sequence

import paramiko

from probes.ssh.exec import (CommandResult, Login, SessionFailed, SessionResult, auth_timed_out, broke_during,
                             closed_during_login, command_timed_out, connect_timed_out, login_refused,
                             output_too_large, protocol_failure, session_timed_out, tcp_failure, where)
from probes.ssh.hostkeys import (HostKeyChanged, HostKeyStore, HostKeyUnknown, changed_message, fingerprint,
                                 known_hosts_name, openssh_line, unknown_message)

_QUIT = {"huawei": "quit", "hp_comware": "quit", "cisco_ios": "exit", "linux": "exit"}

#: paramiko's transport, channel and authentication messages for netvigil's sessions.
LIBRARY_LOG = "netvigil.ssh.paramiko"
_library_log = logging.getLogger(LIBRARY_LOG)


class _OutputTooLarge(Exception):
    pass


class _Aborted(Exception):
    pass


class CliSession:
    """One netmiko session run in a worker thread; `abort()` may be called from any thread."""

    def __init__(self, login: Login, store: HostKeyStore, device_type: str, commands: Sequence[str],
                 error_patterns: Sequence[str] = ()) -> None:
        self.login, self.store, self.device_type = login, store, device_type
        self.commands = list(commands)
        self.result = SessionResult()
        self._client: Optional[paramiko.SSHClient] = None
        self._aborted = threading.Event()
        self._lock = threading.Lock()
        self._logged_in = False  # set by _Client once authenticated: later failures are the CLI's

    def abort(self) -> None:
        self._aborted.set()
        with self._lock:
            client = self._client
        if client is not None:
            try:
                client.close()
            except Exception:  # noqa: BLE001 - closing a broken transport may fail; it is closed either way
                pass

    # -- the thread side -------------------------------------------------------------------

    def run(self) -> SessionResult:
        started = time.monotonic()
        conn = None
        try:
            conn = self._connect()
            self.result.login_ms = (time.monotonic() - started) * 1000
            for command in self.commands:
                outcome = self._run_command(conn, command)
                self.result.commands.append(outcome)
                if outcome.failure is not None:
                    # One shell for all commands: after a timeout or a flood it is still busy
                    # with the old command, so what the next one would read is not its output.
                    break
        except SessionFailed as failure:
            self.result.failure = failure
        except _Aborted:
            self.result.failure = session_timed_out(self.login)
        finally:
            if conn is not None:
                self._logout(conn)
        if self._aborted.is_set() and self.result.failure is None:
            self.result.failure = session_timed_out(self.login)
        return self.result

    def _connect(self):
        from netmiko.exceptions import NetmikoAuthenticationException, ReadTimeout

        login = self.login
        cls = _connection_class(self.device_type)
        key = login.client_key
        pkey = _paramiko_key(key) if key is not None else None
        try:
            # The timeouts netmiko passes on to paramiko are set again by _Client.connect; the
            # read override bounds every read netmiko makes while it prepares the session
            # (some drivers wait 20 s for a first prompt) by command_timeout_s.
            return cls(session=self, device_type=self.device_type, host=login.host, port=login.port,
                       username=login.username, password=login.password or "", pkey=pkey,
                       use_keys=pkey is not None, allow_agent=False, ssh_config_file=None,
                       conn_timeout=login.connect_timeout_s, banner_timeout=login.connect_timeout_s,
                       auth_timeout=login.auth_timeout_s, blocking_timeout=login.command_timeout_s,
                       read_timeout_override=login.command_timeout_s, fast_cli=True, session_log=None,
                       auto_connect=True)
        except SessionFailed:
            raise
        except (HostKeyUnknown, HostKeyChanged) as exc:
            code = "HOST_KEY_CHANGED" if isinstance(exc, HostKeyChanged) else "HOST_KEY_UNKNOWN"
            raise SessionFailed(code, str(exc)) from None
        except _Aborted:
            raise
        except _OutputTooLarge:
            raise SessionFailed("OUTPUT_TOO_LARGE", f"{where(login)} printed more than max_output_bytes = "
                                                    f"{login.max_output_bytes} before its prompt") from None
        except Exception as exc:  # noqa: BLE001 - netmiko's session preparation raises many kinds
            if self._aborted.is_set():
                raise _Aborted() from None
            if not self._logged_in:  # _Client.connect classifies its own failures; this is a fallback
                from netmiko.exceptions import NetmikoTimeoutException

                if isinstance(exc, NetmikoAuthenticationException):
                    raise login_refused(login) from None
                if isinstance(exc, NetmikoTimeoutException):  # its text is advice about netmiko's settings
                    raise connect_timed_out(login) from None
                raise protocol_failure(login, exc) from None
            if isinstance(exc, (ReadTimeout, TimeoutError)) or _cause(exc, socket.timeout) is not None:
                raise no_prompt(login, self.device_type) from None
            from netmiko.exceptions import ReadException

            # ReadException ("Channel stream closed by remote device."): the device hung up.
            if isinstance(exc, (EOFError, OSError, ReadException)) or _cause(exc, EOFError) is not None:
                raise closed_during_login(login, exc) from None
            if isinstance(exc, (paramiko.SSHException, ValueError)):
                # netmiko's NetmikoTimeoutException ("Timed-out reading channel, data not
                # available") is an SSHException: a CLI that never showed its prompt.
                from netmiko.exceptions import NetmikoTimeoutException

                if isinstance(exc, NetmikoTimeoutException):
                    raise no_prompt(login, self.device_type) from None
                raise protocol_failure(login, exc) from None
            raise  # anything else is a bug of ours: INTERNAL, logged with its traceback

    def _run_command(self, conn, command: str) -> CommandResult:
        login = self.login
        started = time.monotonic()
        conn.output_budget = login.max_output_bytes

        def done(output: str = "", failure: Optional[SessionFailed] = None) -> CommandResult:
            return CommandResult(command, output, None, (time.monotonic() - started) * 1000, failure)

        from netmiko.exceptions import ReadException, ReadTimeout

        try:
            output = conn.send_command(command, read_timeout=login.command_timeout_s, strip_prompt=True,
                                       strip_command=True)
            return done(output)
        except _OutputTooLarge:
            return done(failure=output_too_large(command, login))
        except ReadTimeout:
            return done(failure=command_timed_out(command, login, " (no prompt came back)"))
        except (OSError, EOFError, paramiko.SSHException, ReadException, _Aborted) as exc:
            # ReadException after ReadTimeout (its subclass): the channel closed mid-command.
            if self._aborted.is_set():
                raise _Aborted() from None
            return done(failure=broke_during(command, exc))

    def _logout(self, conn) -> None:
        try:
            if not self._aborted.is_set():
                conn.write_channel(_QUIT.get(self.device_type, "exit") + conn.RETURN)
        except Exception:  # noqa: BLE001 - the session may already be gone
            pass
        try:
            conn.paramiko_cleanup()
        except Exception:  # noqa: BLE001
            pass

    # -- called by the netmiko subclass ------------------------------------------------------

    def build_client(self) -> paramiko.SSHClient:
        if self._aborted.is_set():
            raise _Aborted()
        login = self.login
        client = _Client(self)
        trusted = self.store.trusted(login.host, login.port)
        name = known_hosts_name(login.host, login.port)
        for key in trusted.keys:
            entry = paramiko.hostkeys.HostKeyEntry.from_line(f"{name} {openssh_line(key)}")
            if entry is not None and entry.key is not None:
                client.get_host_keys().add(name, entry.key.get_name(), entry.key)
        client.set_missing_host_key_policy(_Policy(self, trusted.keys))
        with self._lock:
            self._client = client
        return client


def no_prompt(login: Login, device_type: str) -> SessionFailed:
    """A CLI that logged us in and then showed no prompt: exec's "command timed out" for a CLI."""
    return SessionFailed("COMMAND_TIMEOUT", f"logged in to {where(login)}, but no CLI prompt came back within "
                                            f"command_timeout_s = {login.command_timeout_s:g} s (a busy device, "
                                            f"or not a {device_type!r} CLI)")


class _QuietTransport(paramiko.Transport):
    """paramiko's transport, its messages at debug level on `netvigil.ssh.paramiko`.

    Its thread logs each failure at ERROR with a traceback, one log line per traceback line
    ("Exception (client): Error reading SSH protocol banner" for every tarpit): the session
    reports the same failure as one sentence, so the traceback is dropped and the rest is
    left for debugging."""

    def _log(self, level, msg, *args) -> None:
        if isinstance(msg, list):
            return  # a traceback (paramiko.util.tb_strings)
        _library_log.debug(msg, *args)


class _Client(paramiko.SSHClient):
    """paramiko's client, logging in phase by phase under netvigil's clocks (module docstring).

    Failures leave as SessionFailed, which netmiko does not catch (it catches paramiko's and
    socket errors to wrap them in its own advice), so the sentence reaches the session."""

    def __init__(self, session: "CliSession") -> None:
        super().__init__()
        self.session = session
        self.phase = "connect"
        self._handshake_s = 0.0
        self.set_log_channel(LIBRARY_LOG)

    def connect(self, hostname, port=22, **params) -> None:  # noqa: ARG002 - ours come from the login
        login = self.session.login
        for ignored in ("timeout", "banner_timeout", "auth_timeout", "channel_timeout", "sock", "transport_factory"):
            params.pop(ignored, None)
        deadline = time.monotonic() + login.connect_timeout_s
        try:
            sock = socket.create_connection((login.host, login.port), timeout=login.connect_timeout_s)
        except OSError as exc:
            if self.session._aborted.is_set():
                raise _Aborted() from None
            raise tcp_failure(exc, login) from None
        # Banner and key exchange share what is left of connect_timeout_s: paramiko's
        # start_client waits that long for both (and returns, undone, when it runs out).
        self._handshake_s = max(deadline - time.monotonic(), 0.05)
        try:
            super().connect(login.host, login.port, sock=sock, timeout=self._handshake_s,
                            banner_timeout=self._handshake_s, auth_timeout=login.auth_timeout_s,
                            channel_timeout=login.command_timeout_s, transport_factory=self._make_transport, **params)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a sentence
            self.close()
            sock.close()
            if self.session._aborted.is_set():
                raise _Aborted() from None
            raise self._failure(exc, deadline) from None
        self.session._logged_in = True

    def _make_transport(self, sock, **kwargs) -> paramiko.Transport:
        transport = _QuietTransport(sock, **kwargs)
        transport.handshake_timeout = self._handshake_s
        return transport

    def _auth(self, *args, **kwargs):
        self.phase = "auth"  # the key exchange is over and the host key accepted
        return super()._auth(*args, **kwargs)

    def invoke_shell(self, *args, **kwargs):
        # A server that accepts the login and never answers the PTY or shell request would
        # hold paramiko for ever (no timeout there): closed after command_timeout_s.
        login = self.session.login
        expired = threading.Event()

        def expire() -> None:
            expired.set()
            self.close()

        timer = threading.Timer(login.command_timeout_s, expire)
        timer.daemon = True
        timer.start()
        try:
            return super().invoke_shell(*args, **kwargs)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            if self.session._aborted.is_set():
                raise _Aborted() from None
            if expired.is_set():
                raise no_prompt(login, self.session.device_type) from None
            raise closed_during_login(login, exc) from None
        finally:
            timer.cancel()

    def _failure(self, exc: Exception, deadline: float) -> SessionFailed:
        login = self.session.login
        if isinstance(exc, (HostKeyUnknown, HostKeyChanged)):
            return SessionFailed("HOST_KEY_CHANGED" if isinstance(exc, HostKeyChanged) else "HOST_KEY_UNKNOWN",
                                 str(exc))
        if isinstance(exc, paramiko.BadHostKeyException):
            return SessionFailed("HOST_KEY_CHANGED", changed_message(login.host, login.port, exc.key,
                                                                     [exc.expected_key]))
        closed_by = _cause(exc, (EOFError, ConnectionError))  # paramiko re-raises it in an SSHException
        closed = closed_by is not None
        if closed and not str(closed_by) and str(exc):
            closed_by = exc
        if self.phase == "connect":
            # "No existing session": start_client ran out of time before the key exchange was done.
            if (_cause(exc, TimeoutError) is not None or "No existing session" in str(exc)
                    or time.monotonic() >= deadline - 0.1):
                return connect_timed_out(login)
            return closed_during_login(login, closed_by) if closed else protocol_failure(login, exc)
        if isinstance(exc, paramiko.AuthenticationException) and "timeout" in str(exc).lower():
            return auth_timed_out(login)
        if isinstance(exc, paramiko.AuthenticationException) or "No authentication methods" in str(exc):
            return login_refused(login)
        return closed_during_login(login, closed_by) if closed else protocol_failure(login, exc)


class _Policy(paramiko.MissingHostKeyPolicy):
    """Called by paramiko when it has no key for the host *of the offered type*."""

    def __init__(self, session: CliSession, known: list) -> None:
        self.session, self.known = session, known

    def missing_host_key(self, client, hostname, key) -> None:
        login = self.session.login
        if self.known:  # a key of another type is known: the device changed its key
            raise HostKeyChanged(changed_message(login.host, login.port, key, self.known))
        if not login.tofu:
            raise HostKeyUnknown(unknown_message(login.host, login.port, key))
        self.session.store.record(login.host, login.port, openssh_line(key), login.device)
        self.session.result.host_key_recorded = fingerprint(key)


_CLASSES: dict[str, type] = {}
_CLASSES_LOCK = threading.Lock()


def _connection_class(device_type: str) -> type:
    """netmiko's class for `device_type`, with our host-key handling and output budget."""
    with _CLASSES_LOCK:
        found = _CLASSES.get(device_type)
        if found is not None:
            return found
        from netmiko.ssh_dispatcher import CLASS_MAPPER

        base = CLASS_MAPPER[device_type]

        class Bounded(base):  # type: ignore[misc, valid-type]
            def __init__(self, *args, session: CliSession, **kwargs) -> None:
                self._netvigil_session = session
                self.output_budget = session.login.max_output_bytes
                self._prompt_end: Optional[str] = None  # regex of the prompt's last character, from login
                super().__init__(*args, **kwargs)

            def _build_ssh_client(self):
                return self._netvigil_session.build_client()

            def find_prompt(self, delay_factor: float = 1.0, pattern: Optional[str] = None) -> str:
                # send_command asks for the prompt before every command. netmiko's own search
                # (fast_cli) presses Enter again whenever nothing came back 25 ms after the
                # last Enter, up to 13 times, and takes the last line it read as the prompt. A
                # CLI that echoes type-ahead on receipt and answers the queued Enters when it
                # gets the CPU back (measured: a loaded simulator fleet, 150 ms) sends
                # "\r\n" x k and then "<HOST>" x k on one line, so netmiko waited for
                # "<HOST><HOST>..." after the output and timed out after command_timeout_s.
                # Over a WAN link slower than 25 ms every command got that second Enter.
                # So: one Enter, then wait for its answer, ending in the prompt terminators
                # the driver gave at login (its set_base_prompt passes them as `pattern`).
                if pattern is not None:
                    self._prompt_end = self._prompt_end or pattern
                    prompt = self._read_prompt(pattern)
                elif self._prompt_end is not None:
                    prompt = self._read_prompt(self._prompt_end)
                else:  # a driver with no login preparation (generic): netmiko's search
                    prompt = super().find_prompt(delay_factor=delay_factor)
                return _one_prompt(prompt)

            def _read_prompt(self, pattern: str) -> str:
                self.clear_buffer()
                self.write_channel(self.RETURN)
                answer = self.read_until_pattern(pattern=pattern,
                                                 read_timeout=self._netvigil_session.login.command_timeout_s)
                prompt = answer.split(self.RESPONSE_RETURN)[-1].strip()
                self.clear_buffer()
                if not prompt:
                    raise ValueError("the device answered Enter without a prompt")
                return prompt

            def read_channel(self) -> str:
                if self._netvigil_session._aborted.is_set():
                    raise _Aborted()
                data = super().read_channel()
                channel = getattr(self, "remote_conn", None)
                if not data and channel is not None and (channel.closed or channel.eof_received):
                    # netmiko would poll a closed channel until read_timeout; say it at once.
                    raise EOFError("the device closed the session")
                self.output_budget -= len(data)
                if self.output_budget < 0:
                    raise _OutputTooLarge()
                return data

        Bounded.__name__ = f"Bounded{base.__name__}"
        _CLASSES[device_type] = Bounded
        return Bounded


def _one_prompt(line: str) -> str:
    """`line` with a prompt repeated on it (`<SW1><SW1><SW1>`: answers to Enters typed ahead)
    reduced to one; any other line as it is."""
    repeated = re.fullmatch(r"(.+?)\1+", line)
    return repeated.group(1) if repeated else line


def _cause(exc: BaseException, kind) -> Optional[BaseException]:
    """The first exception of `kind` in `exc`'s chain (netmiko re-raises paramiko's as its own)."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, kind):
            return exc
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return None


def _paramiko_key(key) -> paramiko.PKey:
    """An asyncssh private key as paramiko's (both read OpenSSH format)."""
    import io

    text = key.export_private_key("openssh").decode()
    for cls in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return cls.from_private_key(io.StringIO(text))
        except (paramiko.SSHException, ValueError):
            continue
    raise SessionFailed("AUTH", "the credential's private key type is not supported by paramiko (netmiko); "
                                "use an ed25519, ECDSA or RSA key")


class CliPool:
    """A fixed pool of threads for netmiko sessions; the event loop only waits on futures.

    Sessions are handed over only when a worker is free (the semaphore), so the session
    clock, which starts at hand-over, never counts time spent queueing."""

    def __init__(self, workers: int) -> None:
        import asyncio

        self.workers = workers
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="netvigil-cli")
        self._free = asyncio.Semaphore(workers)

    @property
    def active(self) -> int:
        return self.workers - self._free._value

    async def run(self, session: CliSession) -> SessionResult:
        import asyncio

        async with self._free:
            future = asyncio.get_running_loop().run_in_executor(self._executor, session.run)
            try:
                return await asyncio.wait_for(asyncio.shield(future), session.login.session_timeout_s)
            except TimeoutError:
                session.abort()
                try:  # the thread notices within one read; bounded in case a library call ignores the close
                    return await asyncio.wait_for(asyncio.shield(future), 5.0)
                except TimeoutError:
                    session.result.failure = session_timed_out(session.login)
                    return session.result
            except asyncio.CancelledError:
                session.abort()
                raise

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
