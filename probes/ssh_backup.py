"""Configuration backup: fetch the running configuration, normalise and mask it, keep versions.

The configuration command comes from `backup_command` (per class or device) or else from
the first of the device's profiles that has a `config:` section (its rule set normalises
and masks the text; with `backup_command` and no such profile, the generic rules apply).
What is stored, compared and shown is the prepared text: volatile lines removed, secrets
replaced by keyed hashes (probes/config_text.py), so a password change is still a change.

A fetch that fails, or whose output is empty or an error message, stores nothing: an empty
"configuration" would otherwise look like the whole configuration was deleted.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Optional, Sequence

from probes.base import ProbeError, ResultCode, Sample, Target
from probes.config_text import prepare, rules_for
from probes.ssh import (MAX_DIFF_CHARS, RESULT_CODES, ErrorCallback, ErrorCode, SettingsLookup, SshProber,
                        first_line)
from probes.ssh_exec import SessionFailed
from probes.ssh_profiles import SshProfile, cli_error
from probes.ssh_settings import SshSettings


@dataclass
class Fetched:
    """One fetch: the prepared text on success, else the failure."""

    text: Optional[str]
    failure: Optional[SessionFailed]
    duration_ms: float
    command: str


def backup_plan(prober: SshProber, settings: SshSettings) -> tuple[SshProfile, str, object]:
    """(profile whose driver runs it, command, rules) for a device; SessionFailed if there is none."""
    profiles = [prober.profiles[name] for name in settings.profiles if name in prober.profiles]
    with_config = next((p for p in profiles if p.config is not None), None)
    if settings.backup_command is not None:
        driver = with_config or (profiles[0] if profiles else prober.profiles["generic_cli"])
        spec = with_config.config if with_config is not None else None
        rules = rules_for(spec.rules if spec else "generic", spec.volatile if spec else (),
                          spec.secrets if spec else ())
        return driver, settings.backup_command, rules
    if with_config is None:
        raise SessionFailed("COMMAND_FAILED", "no configuration command: none of the profiles "
                                              f"({', '.join(settings.profiles) or 'none'}) has a config section; "
                                              "set backup_command for this device or its class")
    spec = with_config.config
    return with_config, spec.command, rules_for(spec.rules, spec.volatile, spec.secrets)


async def fetch(prober: SshProber, target: Target, settings: SshSettings, key: bytes) -> Fetched:
    """Fetch and prepare the running configuration of one device. Never raises."""
    started = time.monotonic()
    try:
        profile, command, rules = backup_plan(prober, settings)
    except SessionFailed as failure:
        return Fetched(None, failure, 0.0, "")
    result = await prober.session(target, settings, profile, [command])
    duration_ms = (time.monotonic() - started) * 1000
    if result.failure is not None:
        return Fetched(None, result.failure, duration_ms, command)
    outcome = result.commands[0]
    if outcome.failure is not None:
        return Fetched(None, outcome.failure, duration_ms, command)
    if outcome.exit_status not in (None, 0) or cli_error(profile, outcome.output):
        return Fetched(None, SessionFailed("COMMAND_FAILED", f"`{command}` failed: {first_line(outcome.output)}"),
                       duration_ms, command)
    text = prepare(outcome.output, rules, key)
    if not text.strip():
        return Fetched(None, SessionFailed("COMMAND_FAILED", f"`{command}` printed no configuration"), duration_ms,
                       command)
    return Fetched(text, None, duration_ms, command)


async def backup(prober: SshProber, store, targets: Sequence[Target], settings_for: SettingsLookup,
                 on_error: Optional[ErrorCallback] = None) -> list[Sample]:
    """Back up each target's configuration into `store` (monitor/config_store.ConfigStore)."""
    key = await asyncio.to_thread(store.mask_key)
    results = await asyncio.gather(*(_backup_one(prober, store, key, t, settings_for(t.device), on_error)
                                     for t in targets))
    return [sample for samples in results for sample in samples]


async def _backup_one(prober: SshProber, store, key: bytes, target: Target, settings: Optional[SshSettings],
                      on_error: Optional[ErrorCallback]) -> list[Sample]:
    if settings is None:
        return []
    fetched = await fetch(prober, target, settings, key)
    now = time.time_ns()
    if fetched.failure is not None:
        code = ErrorCode[fetched.failure.code]
        if on_error is not None:
            on_error(target, ProbeError(RESULT_CODES.get(code, ResultCode.ERROR),
                                        f"configuration backup: {fetched.failure.detail}"))
        return [Sample("ssh_config", target.tags, {"ok": 0, "error_code": int(code), "changed": 0,
                                                   "duration_ms": round(fetched.duration_ms, 3)}, now)]
    saved = await asyncio.to_thread(store.save, target.device, fetched.text, keep_versions=settings.keep_versions,
                                    keep_days=settings.keep_days)
    samples = [Sample("ssh_config", target.tags, {
        "ok": 1, "error_code": 0, "changed": int(saved.changed and saved.previous is not None),
        "stored": int(saved.changed),
        "version": saved.version.number, "lines": saved.version.lines,
        "duration_ms": round(fetched.duration_ms, 3)}, now)]
    if saved.changed and saved.previous is not None:
        samples.append(Sample("config_changed", target.tags, {
            "version": saved.version.number, "previous_version": saved.previous.number,
            "added": saved.added, "removed": saved.removed, "diff": clipped_diff(saved.diff, target.device)}, now))
    return samples


def clipped_diff(diff: str, device: str) -> str:
    if len(diff) <= MAX_DIFF_CHARS:
        return diff
    cut = diff.rfind("\n", 0, MAX_DIFF_CHARS) + 1 or MAX_DIFF_CHARS
    rest = diff[cut:].count("\n")
    return diff[:cut] + f"... {rest} more lines: netvigil config diff {device!r}\n"
