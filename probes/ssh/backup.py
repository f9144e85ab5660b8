"""Configuration backup: fetch the running configuration, normalise and mask it, keep versions.

The configuration command comes from `backup_command` (per class or device) or else from
the first of the device's profiles that has a `config:` section (its rule set normalises
and masks the text; with no such profile, every vendor's secret catalogue applies).
What is stored, compared and shown is the prepared text: volatile lines removed, secrets
replaced by keyed hashes (probes/devconfig/text.py), so a password change is still a change.

A fetch that fails, or whose output is empty or an error message, stores nothing: an empty
"configuration" would otherwise look like the whole configuration was deleted.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

from probes.base import ProbeError, ResultCode, Sample, Target
from probes.devconfig.text import ConfigRules, prepare, rules_for
from probes.ssh.prober import (MAX_DIFF_CHARS, RESULT_CODES, ErrorCallback, ErrorCode, SettingsLookup, SshProber,
                        first_line)
from probes.ssh.exec import SessionFailed
from probes.ssh.profiles import SshProfile, cli_error
from probes.ssh.settings import SshSettings


@dataclass
class Fetched:
    """One fetch: the prepared text on success, else the failure."""

    text: Optional[str]
    failure: Optional[SessionFailed]
    duration_ms: float
    command: str


def _config_profile(profiles: Mapping[str, SshProfile], settings: SshSettings) -> Optional[SshProfile]:
    return next((profiles[name] for name in settings.profiles if name in profiles and profiles[name].config), None)


def backup_rules(profiles: Mapping[str, SshProfile], settings: Optional[SshSettings]) -> ConfigRules:
    """The rules a device's configuration is normalised and masked with: those of its first profile
    with a `config` section, or, when no profile names its vendor, every vendor's catalogue (`all`):
    masking too much only hides a value, too little leaks one."""
    with_config = _config_profile(profiles, settings) if settings is not None else None
    if with_config is None:
        return rules_for("all")
    spec = with_config.config
    return rules_for(spec.rules, spec.volatile, spec.secrets)


def backup_plan(prober: SshProber, settings: SshSettings) -> tuple[SshProfile, str, ConfigRules]:
    """(profile whose driver runs it, command, rules) for a device; SessionFailed if there is none."""
    profiles = [prober.profiles[name] for name in settings.profiles if name in prober.profiles]
    with_config = _config_profile(prober.profiles, settings)
    rules = backup_rules(prober.profiles, settings)
    if settings.backup_command is not None:
        driver = with_config or (profiles[0] if profiles else prober.profiles["generic_cli"])
        return driver, settings.backup_command, rules
    if with_config is None or with_config.config.command is None:
        raise SessionFailed("COMMAND_FAILED", "no configuration command: none of the profiles "
                                              f"({', '.join(settings.profiles) or 'none'}) has a config command; "
                                              "set backup_command for this device or its class")
    return with_config, with_config.config.command, rules


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
