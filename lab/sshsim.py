"""Simulated network-device CLIs over SSH (asyncssh server), and hostile SSH servers.

netvigil's SSH probes talk to switches and routers, not to Linux: an interactive PTY shell
with a `<HOSTNAME>` prompt, paging, `Error:` lines instead of exit codes. No real device
runs here, so `CliSim` replays real Huawei VRP captures (tests/fixtures/ssh/SOURCES.md)
behind a CLI that behaves the way netmiko's `huawei` driver expects (read from its DEBUG log):

* login info line, then the prompt `<HOSTNAME>`; typed characters are echoed (asyncssh's
  line editor), output lines end in `\\r\\n` on the PTY;
* `screen-length 0 temporary` answers with VRP's Info line and turns paging off for the
  session; without it, output longer than 24 lines stops at `  ---- More ----` until a key
  arrives (space: next page, Enter: next line, q or Ctrl-C: stop), like a real VRP;
* unknown commands get VRP's `Error: Unrecognized command found at '^' position.`;
  words may be abbreviated (`dis cur`) when the abbreviation is unambiguous;
* `display current-configuration` returns `sim.config` as it is at that moment, so a test
  can change the configuration between two fetches;
* an exec channel (`conn.run("display version")`, no PTY) answers with the same outputs,
  exit status 0, or the error text and exit status 1;
* `behaviour` ("normal", "flood", "stall", "disconnect") turns the device hostile for every
  command but `screen-length 0 temporary`, on PTY and exec alike; it is a plain attribute,
  so a test can change it while sessions are open. Two more hang the login itself: "mute"
  accepts the login and then says nothing (no info line, no prompt; exec commands print
  nothing and never end: a device whose CLI process is stuck), "stuck_auth" never answers
  the password or key (a device whose AAA server does not answer);
* `prompt_delay_s` makes a busy CLI: the first bare Enter after login or after a command is
  answered with the prompt only after that delay. Keystrokes are echoed at once meanwhile
  (the line editor echoes on receipt, as a Linux tty does), and Enters typed ahead in the
  delay are answered together when the CLI wakes up, so a client that pressed Enter k times
  reads `\r\n` k times, then k prompts on one line. That is the byte sequence a loaded
  fleet produced at random (the event loop was busy for 150 ms); this attribute produces
  it on every command.

`EndlessBanner` is an endlessh-like tarpit: it accepts TCP, sends a random pre-version line
every 0.2 s (RFC 4253 section 4.2 allows lines before `SSH-2.0-`) and never a version, so
a client hangs until its own timeout. `Tarpit` accepts TCP and sends nothing, or only its
`banner` (`Tarpit(banner=b"SSH-2.0-OpenSSH_9.2\\r\\n")`: an sshd that hangs before the key
exchange, as a stuck or overloaded one does).

`python -m lab.sshsim --first-address 127.1.0.1 --count 1000 --port 2222 [--hostkey FILE]`
runs a fleet, one CliSim per consecutive loopback address on the same port, in one event
loop, and prints `ready N` when all listen. Addresses outside 127.0.0.0/8 are refused.

Fixtures at the bottom: `vrp_sim` (a started CliSim, default captures). tests/conftest.py
imports them.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import os
import random
import re
import resource
import string
import sys
import time
from pathlib import Path
from typing import Iterable, Optional, Sequence, Union

import asyncssh
import pytest

from lab import support

FIXTURES = support.FIXTURES / "ssh" / "huawei_vrp"

#: command -> capture file (tests/fixtures/ssh/huawei_vrp/); display current-configuration is `config`.
CAPTURE_FILES: dict[str, str] = {
    "display version": "display_version.txt",
    "display device": "display_device.txt",
    "display cpu-usage": "display_cpu-usage.txt",
    "display memory-usage": "display_memory-usage.txt",
    "display temperature": "display_temperature.txt",
}
CONFIG_COMMAND = "display current-configuration"
SCREEN_LENGTH_COMMAND = "screen-length 0 temporary"
QUIT_COMMANDS = ("quit", "exit", "logout")

SCREEN_LENGTH_INFO = "Info: The configuration takes effect on the current user terminal interface only."
ERROR_UNRECOGNIZED = "Error: Unrecognized command found at '^' position."
MORE = "  ---- More ----"
#: What VRP sends after a key at the More prompt: move back over it and blank it out.
MORE_ERASE = "\x1b[16D" + " " * 16 + "\x1b[16D"
PAGE_LINES = 24
BEHAVIOURS = ("normal", "flood", "stall", "disconnect", "mute", "stuck_auth")


def capture(command: str) -> str:
    """The real device output stored for `command` (see CAPTURE_FILES)."""
    return (FIXTURES / CAPTURE_FILES[command]).read_text()


def default_outputs() -> dict[str, str]:
    return {command: capture(command) for command in CAPTURE_FILES}


def default_config() -> str:
    return (FIXTURES / "display_current-configuration.txt").read_text()


def sysname(config: str) -> Optional[str]:
    match = re.search(r"^sysname (\S+)\s*$", config, re.MULTILINE)
    return match.group(1) if match else None


def known_hosts_entry(host: str, port: int, key_line: str) -> str:
    host_part = host if port == 22 else f"[{host}]:{port}"
    return f"{host_part} {key_line}"


def _public_line(key: asyncssh.SSHKey) -> str:
    return " ".join(key.export_public_key("openssh").decode().split()[:2])


class _Server(asyncssh.SSHServer):
    """Per-connection callbacks: authentication and the connection counters."""

    def __init__(self, sim: "CliSim") -> None:
        self.sim = sim
        self.conn: Optional[asyncssh.SSHServerConnection] = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self.conn = conn
        self.sim._connection_opened(conn)

    def connection_lost(self, exc: Optional[Exception]) -> None:
        if self.conn is not None:
            self.sim._connection_closed(self.conn)

    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str):
        if self.sim.behaviour == "stuck_auth":
            return self._never()
        ok = self.sim.users.get(username) == password
        if not ok:
            self.sim.logins_failed += 1
        return ok

    async def _never(self) -> bool:
        await self.sim._closed.get(self.conn, asyncio.Event()).wait()
        return False

    def public_key_auth_supported(self) -> bool:
        return bool(self.sim.client_keys)

    def validate_public_key(self, username: str, key: asyncssh.SSHKey):
        if self.sim.behaviour == "stuck_auth":
            return self._never()
        return username in self.sim.users and _public_line(key) in self.sim._authorized


class CliSim:
    """A Huawei VRP-like SSH CLI on one address (module docstring). Counters for tests:
    `commands_seen` (every non-empty command as typed, in order, PTY and exec),
    `sessions_total` (SSH connections accepted), `max_concurrent_sessions` (peak number of
    simultaneously open connections), `logins_failed` (wrong passwords)."""

    def __init__(self, hostname: Optional[str] = None, users: Optional[dict[str, str]] = None,
                 outputs: Optional[dict[str, str]] = None, config: Optional[str] = None,
                 behaviour: str = "normal", prompt_delay_s: float = 0.0,
                 client_keys: Optional[Sequence[Union[str, asyncssh.SSHKey]]] = None,
                 host_key: Optional[asyncssh.SSHKey] = None) -> None:
        self.config = default_config() if config is None else config
        #: Defaults to the `sysname` of the configuration, so prompt and config agree.
        self.hostname = hostname or sysname(self.config) or "HUAWEI"
        self.users = dict(users) if users is not None else {"admin": "Admin@123"}
        self.outputs = default_outputs() if outputs is None else dict(outputs)
        if behaviour not in BEHAVIOURS:
            raise ValueError(f"behaviour must be one of {BEHAVIOURS}")
        self.behaviour = behaviour
        self.prompt_delay_s = prompt_delay_s
        self.client_keys = list(client_keys or [])
        self._authorized = {k if isinstance(k, str) else _public_line(k) for k in self.client_keys}
        self._authorized = {" ".join(k.split()[:2]) for k in self._authorized}
        self.host_key = host_key or asyncssh.generate_private_key("ssh-ed25519")
        self.host_key_line = _public_line(self.host_key)
        self.host = "127.0.0.1"
        self.port = 0
        self.commands_seen: list[str] = []
        #: Commands after which a PTY session stops paging (VRP's; a test of another vendor's driver
        #: adds its own, e.g. Comware's `screen-length disable`, with an empty output).
        self.paging_off_commands: set[str] = {SCREEN_LENGTH_COMMAND}
        self.sessions_total = 0
        self.max_concurrent_sessions = 0
        self.logins_failed = 0
        self._acceptor: Optional[asyncssh.SSHAcceptor] = None
        self._conns: set[asyncssh.SSHServerConnection] = set()
        self._closed: dict[asyncssh.SSHServerConnection, asyncio.Event] = {}
        self._tasks: set[asyncio.Task] = set()

    @property
    def prompt(self) -> str:
        return f"<{self.hostname}>"

    @property
    def open_sessions(self) -> int:
        return len(self._conns)

    def known_hosts_line(self) -> str:
        return known_hosts_entry(self.host, self.port, self.host_key_line)

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> "CliSim":
        self.host = host
        self._acceptor = await asyncssh.create_server(
            lambda: _Server(self), host, port, server_host_keys=[self.host_key],
            process_factory=self._handle, line_editor=True, line_echo=True, encoding="utf-8",
            keepalive_interval=0, login_timeout=30)
        self.port = self._acceptor.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._acceptor is not None:
            self._acceptor.close()
        for conn in list(self._conns):
            conn.abort()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._acceptor is not None:
            await self._acceptor.wait_closed()
            self._acceptor = None

    # -- connection bookkeeping ------------------------------------------------------------

    def _connection_opened(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conns.add(conn)
        self._closed[conn] = asyncio.Event()
        self.sessions_total += 1
        self.max_concurrent_sessions = max(self.max_concurrent_sessions, len(self._conns))

    def _connection_closed(self, conn: asyncssh.SSHServerConnection) -> None:
        self._conns.discard(conn)
        event = self._closed.pop(conn, None)
        if event is not None:
            event.set()

    # -- commands ----------------------------------------------------------------------------

    def resolve(self, typed: str) -> Optional[str]:
        """The full command for `typed` (whitespace-normalised, words may be abbreviated),
        or None when it is unknown or ambiguous."""
        words = typed.split()
        known = list(self.outputs) + [CONFIG_COMMAND, SCREEN_LENGTH_COMMAND, *QUIT_COMMANDS]
        if " ".join(words) in known:
            return " ".join(words)
        matches = {k for k in known if len(k.split()) == len(words)
                   and all(full.startswith(w) for w, full in zip(words, k.split()))}
        return matches.pop() if len(matches) == 1 else None

    def output_of(self, command: Optional[str]) -> Optional[str]:
        if command == CONFIG_COMMAND:
            return self.config
        if command == SCREEN_LENGTH_COMMAND:
            return SCREEN_LENGTH_INFO
        return self.outputs.get(command) if command else None

    def _error_text(self, typed: str, pty: bool) -> str:
        indent = len(self.prompt) if pty else 0
        return " " * indent + "^\n" + ERROR_UNRECOGNIZED

    # -- sessions ----------------------------------------------------------------------------

    async def _handle(self, process: asyncssh.SSHServerProcess) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        conn = process.channel.get_connection()
        try:
            if self.behaviour == "mute":
                await self._closed.get(conn, asyncio.Event()).wait()
            elif process.command is not None:
                await self._exec(process, conn)
            else:
                await self._shell(process, conn)
        except (asyncio.CancelledError, asyncssh.Error, BrokenPipeError, ConnectionError, OSError):
            pass
        finally:
            if task is not None:
                self._tasks.discard(task)
            try:
                if not process.channel.is_closing():
                    process.exit(0)
            except Exception:  # noqa: BLE001 - connection already gone
                pass

    async def _exec(self, process: asyncssh.SSHServerProcess, conn) -> None:
        typed = " ".join(process.command.split())
        if typed:
            self.commands_seen.append(typed)
        command = self.resolve(typed)
        text = self.output_of(command)
        if command != SCREEN_LENGTH_COMMAND and self.behaviour != "normal":
            await self._hostile(process, conn, text if text is not None else self._error_text(typed, False))
            return
        if text is None:
            process.stdout.write(self._error_text(typed, False) + "\n")
            process.exit(1)
        else:
            process.stdout.write(_terminated(text))
            process.exit(0)

    async def _shell(self, process: asyncssh.SSHServerProcess, conn) -> None:
        paging = True
        busy = True  # the next bare Enter waits prompt_delay_s (see the module docstring)
        now = time.strftime("%Y-%m-%d %H:%M:%S")
        process.stdout.write(
            f"\nInfo: The max number of VTY users is 10, the number of current VTY users online is "
            f"{len(self._conns)}, and total number of terminal users online is {len(self._conns)}.\n"
            f"      The current login time is {now}.\n{self.prompt}")
        while True:
            try:
                line = await process.stdin.readline()
            except (asyncssh.BreakReceived, asyncssh.SignalReceived, asyncssh.TerminalSizeChanged):
                continue
            if not line:
                break
            typed = " ".join(line.split())
            if not typed:
                if busy and self.prompt_delay_s > 0:
                    await asyncio.sleep(self.prompt_delay_s)
                busy = False
                process.stdout.write(self.prompt)
                continue
            busy = True
            self.commands_seen.append(typed)
            command = self.resolve(typed)
            if command in QUIT_COMMANDS and self.behaviour == "normal":
                break
            text = self.output_of(command)
            if command != SCREEN_LENGTH_COMMAND and self.behaviour != "normal":
                await self._hostile(process, conn, text if text is not None else self._error_text(typed, True))
                return
            if command in self.paging_off_commands:
                paging = False
            if text is None:
                text = self._error_text(typed, True)
            await self._write_paged(process, _terminated(text), paging)
            process.stdout.write(self.prompt)
        process.exit(0)

    async def _write_paged(self, process: asyncssh.SSHServerProcess, text: str, paging: bool) -> None:
        lines = text.splitlines(keepends=True)
        if not paging or len(lines) <= PAGE_LINES:
            process.stdout.write(text)
            return
        shown = PAGE_LINES
        process.stdout.write("".join(lines[:shown]))
        while shown < len(lines):
            process.stdout.write(MORE)
            process.channel.set_echo(False)
            process.channel.set_line_mode(False)
            try:
                key = await process.stdin.read(1)
            finally:
                process.channel.set_line_mode(True)
                process.channel.set_echo(True)
            process.stdout.write(MORE_ERASE)
            if key in ("", "q", "Q", "\x03"):
                process.stdout.write("\n")
                return
            step = 1 if key in ("\r", "\n") else PAGE_LINES
            process.stdout.write("".join(lines[shown:shown + step]))
            shown += step

    async def _hostile(self, process: asyncssh.SSHServerProcess, conn, text: str) -> None:
        behaviour = self.behaviour
        if behaviour == "flood":
            chunk = _terminated(text) if text.strip() else "x" * 79 + "\n"
            while not process.channel.is_closing():
                process.stdout.write(chunk)
                await process.stdout.drain()
            return
        half = text[: max(1, len(text) // 2)]
        process.stdout.write(half)
        await process.stdout.drain()
        if behaviour == "stall":
            await self._closed.get(conn, asyncio.Event()).wait()
        elif behaviour == "disconnect":
            await asyncio.sleep(0.05)  # let the half reach the socket before the reset
            conn.abort()


def _terminated(text: str) -> str:
    return text if text.endswith("\n") else text + "\n"


class EndlessBanner:
    """An endlessh-like tarpit: random pre-version lines every `interval_s`, never `SSH-2.0-`."""

    def __init__(self, interval_s: float = 0.2) -> None:
        self.interval_s = interval_s
        self.host = "127.0.0.1"
        self.port = 0
        self.connections_total = 0
        self._server: Optional[asyncio.AbstractServer] = None
        self._tasks: set[asyncio.Task] = set()

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> "EndlessBanner":
        self.host = host
        self._server = await asyncio.start_server(self._serve, host, port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._tasks.add(task)
        self.connections_total += 1
        alphabet = string.ascii_letters + string.digits + " "
        try:
            while True:
                # Never starts with "SSH-": such a line would be taken as the version string.
                line = "".join(random.choice(alphabet) for _ in range(random.randint(8, 60)))
                writer.write(("x" + line + "\r\n").encode())
                await writer.drain()
                await asyncio.sleep(self.interval_s)
        except (asyncio.CancelledError, ConnectionError, OSError):
            pass
        finally:
            self._tasks.discard(task)
            writer.close()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None


class Tarpit:
    """Accepts TCP, sends `banner` (None: nothing) and then nothing more, until closed; with
    `close_after_banner`, closes the connection right after the banner instead."""

    def __init__(self, banner: Optional[bytes] = None, close_after_banner: bool = False) -> None:
        self.banner = banner
        self.close_after_banner = close_after_banner
        self.host = "127.0.0.1"
        self.port = 0
        self.connections_total = 0
        self._server: Optional[asyncio.AbstractServer] = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> "Tarpit":
        self.host = host
        self._server = await asyncio.start_server(self._serve, host, port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections_total += 1
        self._writers.add(writer)
        try:
            if self.banner:
                writer.write(self.banner)
                await writer.drain()
            if self.close_after_banner:
                await reader.read(256)  # the client's own version line: it has read ours by then
                return
            while await reader.read(65_536):
                pass  # read and ignore what the client sends (its own banner, its key exchange)
        except (ConnectionError, OSError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None


# -- fleet -------------------------------------------------------------------------------------

def fleet_addresses(first_address: str, count: int) -> list[str]:
    """`count` consecutive addresses from `first_address`; all must be in 127.0.0.0/8."""
    loopback = ipaddress.ip_network("127.0.0.0/8")
    first = ipaddress.ip_address(first_address)
    if count < 1:
        raise ValueError("count must be at least 1")
    last = first + (count - 1) if first.version == 4 and int(first) + count - 1 <= 0xFFFFFFFF else None
    if first not in loopback or last is None or last not in loopback:
        raise ValueError(f"{first_address} + {count} addresses leaves 127.0.0.0/8; refusing")
    return [str(first + i) for i in range(count)]


def load_or_create_host_key(path: Path) -> asyncssh.SSHKey:
    if path.exists():
        return asyncssh.read_private_key(str(path))
    key = asyncssh.generate_private_key("ssh-ed25519")
    key.write_private_key(str(path))
    os.chmod(path, 0o600)
    key.write_public_key(str(path) + ".pub")
    return key


async def run_fleet(addresses: Iterable[str], port: int, host_key: Optional[asyncssh.SSHKey] = None,
                    out=sys.stdout) -> None:
    sims = []
    outputs, config = default_outputs(), default_config()   # read the captures once, not per address
    for address in addresses:
        sims.append(await CliSim(host_key=host_key, outputs=outputs, config=config).start(address, port))
    print(f"ready {len(sims)}", file=out, flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await asyncio.gather(*(sim.stop() for sim in sims), return_exceptions=True)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="Run a fleet of simulated Huawei VRP CLIs on loopback.")
    parser.add_argument("--first-address", default="127.1.0.1")
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--port", type=int, default=2222)
    parser.add_argument("--hostkey", type=Path, help="share this ed25519 key (written if missing)")
    args = parser.parse_args(argv)
    try:
        addresses = fleet_addresses(args.first_address, args.count)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:  # one listening socket per address plus the connections
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    host_key = load_or_create_host_key(args.hostkey) if args.hostkey else None
    try:
        asyncio.run(run_fleet(addresses, args.port, host_key))
    except KeyboardInterrupt:
        pass
    return 0


# -- pytest fixtures -----------------------------------------------------------------------------

@pytest.fixture
async def vrp_sim() -> CliSim:
    """A started CliSim with the default captures on a free port of 127.0.0.1."""
    sim = await CliSim().start()
    yield sim
    await sim.stop()


if __name__ == "__main__":
    sys.exit(main())
