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
  configuration mode: we send the CLI's `quit` and close the transport.
"""

from __future__ import annotations

import concurrent.futures
import re
import socket
import threading
import time
from typing import Optional, Sequence

import paramiko

from probes.ssh.exec import (CommandResult, Login, SessionFailed, SessionResult, broke_during, command_timed_out,
                             output_too_large, session_timed_out)
from probes.ssh.hostkeys import (HostKeyChanged, HostKeyStore, HostKeyUnknown, changed_message, fingerprint,
                                 known_hosts_name, openssh_line, unknown_message)

_QUIT = {"huawei": "quit", "hp_comware": "quit", "cisco_ios": "exit", "linux": "exit"}


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
        from netmiko.exceptions import NetmikoAuthenticationException, NetmikoTimeoutException, ReadTimeout

        login = self.login
        cls = _connection_class(self.device_type)
        key = login.client_key
        pkey = _paramiko_key(key) if key is not None else None
        try:
            return cls(session=self, device_type=self.device_type, host=login.host, port=login.port,
                       username=login.username, password=login.password or "", pkey=pkey,
                       use_keys=pkey is not None, allow_agent=False, ssh_config_file=None,
                       conn_timeout=login.connect_timeout_s, banner_timeout=login.connect_timeout_s,
                       auth_timeout=login.auth_timeout_s, blocking_timeout=login.command_timeout_s,
                       read_timeout_override=None, fast_cli=True, session_log=None, auto_connect=True)
        except (HostKeyUnknown, HostKeyChanged) as exc:
            code = "HOST_KEY_CHANGED" if isinstance(exc, HostKeyChanged) else "HOST_KEY_UNKNOWN"
            raise SessionFailed(code, str(exc)) from None
        except paramiko.BadHostKeyException as exc:
            raise SessionFailed("HOST_KEY_CHANGED", changed_message(login.host, login.port, exc.key,
                                                                    [exc.expected_key])) from None
        except ReadTimeout:
            if self._aborted.is_set():
                raise _Aborted() from None
            raise SessionFailed("COMMAND_TIMEOUT", f"logged in to {login.host} port {login.port}, but no CLI prompt "
                                                   f"came back (a busy device, or not a {self.device_type!r} CLI)")
        except NetmikoAuthenticationException:
            raise SessionFailed("AUTH", f"login as {login.username!r} refused by {login.host} port {login.port} "
                                        "(wrong password or key, or the account may not log in)") from None
        except NetmikoTimeoutException as exc:
            if self._aborted.is_set():
                raise _Aborted() from None
            cause = _cause(exc, paramiko.BadHostKeyException)
            if cause is not None:  # netmiko wraps paramiko's SSHExceptions, this one included
                raise SessionFailed("HOST_KEY_CHANGED", changed_message(login.host, login.port, cause.key,
                                                                        [cause.expected_key])) from None
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else "timed out"
            if _cause(exc, socket.gaierror) is not None or first.startswith("DNS failure"):
                raise SessionFailed("RESOLVE_FAILED", f"{login.host} does not resolve") from None
            # netmiko says "TCP connection to device failed" for a refusal and a timeout alike.
            code = "REFUSED" if "TCP connection" in first and _cause(exc, TimeoutError) is None else "TIMEOUT"
            raise SessionFailed(code, f"no SSH session with {login.host} port {login.port}: {first}") from None
        except (paramiko.SSHException, OSError, EOFError, ValueError) as exc:
            if self._aborted.is_set():
                raise _Aborted() from None
            raise SessionFailed("PROTOCOL", f"SSH login to {login.host} port {login.port} failed: "
                                            f"{exc.__class__.__name__}: {exc}") from None

    def _run_command(self, conn, command: str) -> CommandResult:
        login = self.login
        started = time.monotonic()
        conn.output_budget = login.max_output_bytes

        def done(output: str = "", failure: Optional[SessionFailed] = None) -> CommandResult:
            return CommandResult(command, output, None, (time.monotonic() - started) * 1000, failure)

        from netmiko.exceptions import ReadTimeout

        try:
            output = conn.send_command(command, read_timeout=login.command_timeout_s, strip_prompt=True,
                                       strip_command=True)
            return done(output)
        except _OutputTooLarge:
            return done(failure=output_too_large(command, login))
        except ReadTimeout:
            return done(failure=command_timed_out(command, login, " (no prompt came back)"))
        except (OSError, EOFError, paramiko.SSHException, _Aborted) as exc:
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
        client = paramiko.SSHClient()
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


def _cause(exc: BaseException, kind: type) -> Optional[BaseException]:
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
