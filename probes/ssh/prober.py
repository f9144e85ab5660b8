"""The SSH probe: command checks and configuration backups, as samples, never as exceptions.

One session per device and run: the device's profiles give the commands (all over exec
channels, or all through one vendor CLI) and the output becomes samples:

* `ssh`: `up` (an SSH server answered), `result_code`, `error_code` (ErrorCode), `login_ms`,
  `command_ms` (all commands), `duration_ms` (the device's whole run, waiting for a free
  session or CLI worker included), `commands`, `commands_ok`;
* `ssh_command` per command (tag `command`): `ok`, `exit_status`, `duration_ms`,
  `output_bytes`, and the fields its profile parses; row measurements (e.g. `ssh_disk`,
  `ssh_board`) from `rows` and `textfsm`;
* backups: `ssh_config` (`ok`, `error_code`, `version`, `lines`, `changed`, `duration_ms`),
  and `config_changed` (`version`, `previous_version`, `added`, `removed`, `diff`) when the
  normalised, masked configuration differs from the last version stored.

Bounds: at most `max_sessions` sessions at once overall and one per device (a command check
and a backup of the same device wait for each other), netmiko sessions on `cli_workers`
threads, and every phase of a session under its own timeout (probes/ssh/exec.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Callable, Mapping, Optional, Sequence

from probes.base import ProbeError, ResultCode, Sample, Target
from probes.ssh.cli import CliPool, CliSession
from probes.ssh.exec import Login, SessionFailed, SessionResult, run_exec_session
from probes.ssh.hostkeys import HostKeyStore
from probes.ssh.profiles import SshProfile, cli_error, command_samples
from probes.ssh.errors import ErrorCode
from probes.ssh.settings import SshCredential, SshSettings

log = logging.getLogger("netvigil.ssh")

MAX_DIFF_CHARS = 32_000  # InfluxDB string fields top out at 64 KiB; the whole diff is in `config diff`



# Failures where nothing SSH answered: `up` is 0. A server that refuses our login or shows a
# wrong key is up, and broken: `error_code` says how.
_NO_ANSWER = frozenset({ErrorCode.TIMEOUT, ErrorCode.REFUSED, ErrorCode.RESOLVE_FAILED})
RESULT_CODES = {ErrorCode.NONE: ResultCode.OK, ErrorCode.TIMEOUT: ResultCode.TIMEOUT,
                 ErrorCode.REFUSED: ResultCode.SEND_FAILED, ErrorCode.RESOLVE_FAILED: ResultCode.RESOLVE_FAILED}
ErrorCallback = Callable[[Target, ProbeError], None]
SettingsLookup = Callable[[str], Optional[SshSettings]]


class SshProber:
    def __init__(self, settings: SshSettings, profiles: Mapping[str, SshProfile], host_keys: HostKeyStore,
                 config_store=None) -> None:
        self.settings = settings  # the global ones: credentials and pool sizes
        self.profiles = dict(profiles)
        self.host_keys = host_keys
        self.config_store = config_store
        self.cli = CliPool(settings.cli_workers)
        self._sessions = asyncio.Semaphore(settings.max_sessions)
        self._device_locks: dict[str, asyncio.Lock] = {}
        self._keys: dict[tuple, object] = {}

    def set_profiles(self, profiles: Mapping[str, SshProfile]) -> None:
        self.profiles = dict(profiles)

    def close(self) -> None:
        self.cli.close()

    # -- command checks ----------------------------------------------------------------------

    async def probe(self, targets: Sequence[Target], settings_for: SettingsLookup,
                    on_error: Optional[ErrorCallback] = None) -> list[Sample]:
        results = await asyncio.gather(*(self._probe_one(t, settings_for(t.device), on_error) for t in targets))
        return [sample for samples in results for sample in samples]

    async def _probe_one(self, target: Target, settings: Optional[SshSettings],
                         on_error: Optional[ErrorCallback]) -> list[Sample]:
        if settings is None:
            return []  # removed by a reload while the run was queued
        started = time.monotonic()
        try:
            profiles = [self.profiles[name] for name in settings.profiles]
            specs = [(profile, spec) for profile in profiles for spec in profile.commands]
            result = await self.session(target, settings, profiles[0], [spec.command for _, spec in specs])
        except Exception as exc:  # noqa: BLE001 - a probe never raises into the scheduler
            log.exception("%s: SSH probe failed inside netvigil", target.device)
            return [self._summary(target, ErrorCode.INTERNAL, SessionResult(), 0, started, on_error,
                                  f"internal error: {exc.__class__.__name__}: {exc}")]
        now = time.time_ns()
        samples, commands_ok, first_failure = [], 0, result.failure
        for (profile, spec), outcome in zip(specs, result.commands):
            failed_by_cli = outcome.exit_status is None and cli_error(profile, outcome.output)
            exit_status = 1 if failed_by_cli else outcome.exit_status
            if outcome.failure is not None:
                exit_status = 255  # timed out, flooded or cut off: whatever it printed is not a result
            try:
                produced = command_samples(profile, spec, outcome.output, exit_status, outcome.duration_ms,
                                           target.tags, now)
            except Exception as exc:  # noqa: BLE001 - a template that chokes on odd output fails the check
                produced = [Sample("ssh_command", {**target.tags, "command": spec.name},
                                   {"ok": 0, "exit_status": exit_status or 0, "duration_ms": round(outcome.duration_ms, 3),
                                    "output_bytes": len(outcome.output), "parse_error": 1}, now)]
                log.info("%s: output of `%s` not parsed: %s", target.device, spec.command, exc)
            samples += produced
            ok = produced[0].fields.get("ok") == 1
            commands_ok += ok
            if first_failure is None and outcome.failure is not None:
                first_failure = outcome.failure
            elif first_failure is None and not ok:
                first_failure = SessionFailed("COMMAND_FAILED", _failed_sentence(spec, outcome, failed_by_cli))
        code = ErrorCode[first_failure.code] if first_failure is not None else ErrorCode.NONE
        detail = first_failure.detail if first_failure is not None else ""
        summary = self._summary(target, code, result, commands_ok, started, on_error, detail)
        summary.fields["commands"] = len(result.commands)
        return [summary] + samples

    def _summary(self, target: Target, code: ErrorCode, result: SessionResult, commands_ok: int, started: float,
                 on_error: Optional[ErrorCallback], detail: str) -> Sample:
        if code != ErrorCode.NONE and on_error is not None:
            on_error(target, ProbeError(RESULT_CODES.get(code, ResultCode.ERROR), detail))
        if code == ErrorCode.HOST_KEY_CHANGED:
            log.warning("%s: %s", target.device, detail)
        if result.host_key_recorded:
            log.info("%s: trusted on first use: host key %s", target.device, result.host_key_recorded)
        return Sample("ssh", target.tags, {
            "up": int(code not in _NO_ANSWER), "result_code": int(RESULT_CODES.get(code, ResultCode.ERROR)),
            "error_code": int(code), "login_ms": round(result.login_ms, 3),
            "command_ms": round(sum(c.duration_ms for c in result.commands), 3),
            "duration_ms": round((time.monotonic() - started) * 1000, 3),
            "commands": len(result.commands), "commands_ok": commands_ok}, time.time_ns())

    # -- sessions ----------------------------------------------------------------------------

    async def session(self, target: Target, settings: SshSettings, profile: SshProfile,
                      commands: Sequence[str]) -> SessionResult:
        """One bounded session running `commands` with the profile's driver."""
        try:
            login = self.login(target, settings)
        except SessionFailed as failure:
            return SessionResult(failure=failure)
        lock = self._device_locks.setdefault(target.device, asyncio.Lock())
        async with lock, self._sessions:
            if profile.driver == "cli":
                return await self.cli.run(CliSession(login, self.host_keys, profile.device_type, commands))
            # netmiko's `linux` device type is a POSIX shell: its pipelines fail when a stage fails.
            return await run_exec_session(login, self.host_keys, commands, posix_shell=profile.device_type == "linux")

    def login(self, target: Target, settings: SshSettings) -> Login:
        name = settings.credential
        credential = self.settings.credentials.get(name)
        if credential is None:  # the inventory checks this; a reload may race
            raise SessionFailed("AUTH", f"credential {name!r} is not defined")
        return Login(device=target.device, host=target.address, port=settings.port, username=credential.username,
                     password=credential.password.get_secret_value() if credential.password else None,
                     client_key=self._client_key(name, credential), tofu=settings.host_key_policy == "tofu",
                     connect_timeout_s=settings.connect_timeout_s, auth_timeout_s=settings.auth_timeout_s,
                     command_timeout_s=settings.command_timeout_s, session_timeout_s=settings.session_timeout_s,
                     max_output_bytes=settings.max_output_bytes)

    def _client_key(self, name: str, credential: SshCredential):
        if credential.private_key is None and credential.private_key_file is None:
            return None
        cache_key = (name, credential)
        key = self._keys.get(cache_key)
        if key is None:
            import asyncssh

            passphrase = (credential.private_key_passphrase.get_secret_value()
                          if credential.private_key_passphrase else None)
            try:
                if credential.private_key_file is not None:
                    key = asyncssh.read_private_key(str(credential.private_key_file), passphrase)
                else:
                    key = asyncssh.import_private_key(credential.private_key.get_secret_value(), passphrase)
            except (OSError, asyncssh.KeyImportError, ValueError) as exc:
                where = (f"private_key_file {credential.private_key_file}" if credential.private_key_file
                         else "private_key")
                reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
                raise SessionFailed("AUTH", f"credential {name!r}: {where} cannot be used: {reason} "
                                            "(wrong or missing private_key_passphrase?)") from None
            self._keys[cache_key] = key
        return key


def _failed_sentence(spec, outcome, failed_by_cli: bool) -> str:
    if failed_by_cli:
        return f"`{spec.command}` was refused by the CLI: {first_line(outcome.output)}"
    if outcome.exit_status not in (0, None):
        return f"`{spec.command}` exited with status {outcome.exit_status}: {first_line(outcome.output)}"
    return f"`{spec.command}`: output not as expected by check '{spec.name}' (match/expect/forbid)"


def first_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip() and line.strip() != "^"]
    return (lines[0][:160] if lines else "no output")
