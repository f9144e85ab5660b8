"""Settings of the SSH probes (command checks and configuration backup).

As for SNMP, credentials are named once under `probes.ssh.credentials` and picked by name per
class, site or device (`ssh: {credential: noc-ro}`), so the inventory never holds a secret.
Passwords, private keys and key pass phrases are `SecretStr`; they can come from the YAML
file, the environment, or (best) from secret files such as
`probes__ssh__credentials__noc-ro__password` in $CREDENTIALS_DIRECTORY or `secrets_dir`.
A private key may also be a file (`private_key_file`) readable only by the daemon's user.

A device is probed over SSH when its effective settings have `enabled: true`, name a
credential and name at least one command profile (`profiles`); configuration backup runs
when `backup: true` and a profile gives a configuration command.

Host keys: `host_key_policy: known_hosts` (the default) accepts only keys listed in the
`known_hosts` files; an unknown key fails the probe, a changed key fails it *and* is a
security event. `tofu` (trust on first use) accepts and records the first key a device
shows (in `<state_dir>/ssh_known_hosts`), and from then on behaves like `known_hosts`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from probes.base import merge_overrides
from probes.secrets import missing_secret_sentences

BACKUP_JOB = "ssh_config"  # the job (and the sample measurement) of configuration backups

_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
HostKeyPolicy = Literal["known_hosts", "tofu"]


class SshCredential(BaseModel):
    """A login: a user name and a password, a private key, or both (key tried first)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    username: str = Field(..., min_length=1, max_length=64, description="login name")
    password: Optional[SecretStr] = Field(None, description="password (a secret)")
    private_key: Optional[SecretStr] = Field(None, description="private key text, OpenSSH or PEM (a secret)")
    private_key_file: Optional[Path] = Field(None, description="private key file (readable by the daemon only)")
    private_key_passphrase: Optional[SecretStr] = Field(None, description="pass phrase of an encrypted key (a secret)")

    @model_validator(mode="after")
    def _one_key(self) -> "SshCredential":
        if self.private_key is not None and self.private_key_file is not None:
            raise ValueError("set private_key or private_key_file, not both")
        return self

    def missing(self) -> list[str]:
        """What this credential lacks to log in (key names, never values)."""
        has_password = self.password is not None and bool(self.password.get_secret_value())
        has_key = self.private_key_file is not None or (
            self.private_key is not None and bool(self.private_key.get_secret_value()))
        return [] if has_password or has_key else ["password"]


class SshOverride(BaseModel):
    """What a class, a site or a device may change for its own devices (`ssh:` in the inventory)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: Optional[bool] = None
    credential: Optional[str] = Field(None, pattern=_NAME)
    port: Optional[int] = Field(None, ge=1, le=65_535)
    profiles: Optional[tuple[str, ...]] = None
    interval_s: Optional[float] = Field(None, ge=30, le=86_400)
    connect_timeout_s: Optional[float] = Field(None, gt=0, le=120)
    auth_timeout_s: Optional[float] = Field(None, gt=0, le=120)
    command_timeout_s: Optional[float] = Field(None, gt=0, le=600)
    session_timeout_s: Optional[float] = Field(None, gt=0, le=3_600)
    max_output_bytes: Optional[int] = Field(None, ge=1_024, le=64 * 1024 * 1024)
    host_key_policy: Optional[HostKeyPolicy] = None
    backup: Optional[bool] = None
    backup_interval_s: Optional[float] = Field(None, ge=300, le=30 * 86_400)
    backup_command: Optional[str] = Field(None, min_length=1)
    keep_versions: Optional[int] = Field(None, ge=1, le=100_000)
    keep_days: Optional[float] = Field(None, ge=0, le=36_500)


class SshSettings(BaseModel):
    """Global SSH settings (`probes.ssh`); the per-device keys are defaults the inventory may
    override per class, site and device.

    Defaults: command checks every 5 minutes (a login costs the device a process and a log
    line; disk and service state change slowly; reachability is ICMP's job), backups once a
    day, 10 s to connect and 10 s to log in (a loaded MCU's sshd is slow), 30 s per command
    and 120 s for the whole session (a `display current-configuration` of a core switch
    takes several seconds), 4 MiB of output per command at most.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(True, description="probe devices that have a credential and profiles")
    credential: Optional[str] = Field(None, pattern=_NAME,
                                      description="credential of devices that name none (null: SSH off for them)")
    credentials: dict[str, SshCredential] = Field({}, description="named credentials; secrets belong in secret files")
    port: int = Field(22, ge=1, le=65_535, description="SSH port")
    profiles: tuple[str, ...] = Field((), description="command profiles run on each device (e.g. linux, huawei_vrp)")
    interval_s: float = Field(300.0, ge=30, le=86_400, description="seconds between command checks of one device")
    connect_timeout_s: float = Field(10.0, gt=0, le=120,
                                     description="TCP connect, SSH banner and key exchange (host key check included)")
    auth_timeout_s: float = Field(10.0, gt=0, le=120, description="authentication, after the key exchange")
    command_timeout_s: float = Field(30.0, gt=0, le=600, description="each command, from sending it to its last byte")
    session_timeout_s: float = Field(120.0, gt=0, le=3_600, description="the whole session, login to logout")
    max_output_bytes: int = Field(4 * 1024 * 1024, ge=1_024, le=64 * 1024 * 1024,
                                  description="output of one command beyond this fails the command")
    host_key_policy: HostKeyPolicy = Field("known_hosts",
                                           description="known_hosts: only listed keys; tofu: record the first key seen")
    backup: bool = Field(False, description="fetch and version the running configuration")
    backup_interval_s: float = Field(86_400.0, ge=300, le=30 * 86_400, description="seconds between backups")
    backup_command: Optional[str] = Field(None, description="configuration command (null: the profile's)")
    keep_versions: int = Field(30, ge=1, le=100_000, description="configuration versions kept at least")
    keep_days: float = Field(365.0, ge=0, le=36_500, description="versions younger than this are kept too")
    # Global only:
    known_hosts: tuple[Path, ...] = Field((Path("/etc/netvigil/ssh_known_hosts"),),
                                          description="OpenSSH known_hosts files with the devices' host keys")
    profile_dirs: tuple[Path, ...] = Field((Path("/etc/netvigil/ssh_profiles"),),
                                           description="extra command profile directories (a profile there replaces a shipped one)")
    max_sessions: int = Field(32, ge=1, le=10_000, description="SSH sessions open at once, all devices")
    cli_workers: int = Field(8, ge=1, le=256,
                             description="threads for netmiko sessions (vendor CLIs); at most this many at once")
    max_concurrent_runs: int = Field(16, ge=1, le=10_000, description="SSH runs (batches) in progress at once")

    @model_validator(mode="after")
    def _consistent(self) -> "SshSettings":
        if self.credential is not None and self.credential not in self.credentials:
            known = ", ".join(sorted(self.credentials)) or "none defined"
            raise ValueError(f"credential {self.credential!r} is not in credentials ({known})")
        if self.session_timeout_s >= self.interval_s:
            raise ValueError(f"session_timeout_s = {self.session_timeout_s:g} s must be shorter than "
                             f"interval_s = {self.interval_s:g} s")
        if self.session_timeout_s >= self.backup_interval_s:
            raise ValueError(f"session_timeout_s = {self.session_timeout_s:g} s must be shorter than "
                             f"backup_interval_s = {self.backup_interval_s:g} s")
        return self

    @property
    def active(self) -> bool:
        return self.enabled and self.credential is not None and bool(self.profiles)

    @property
    def backup_active(self) -> bool:
        return self.enabled and self.credential is not None and self.backup

    def merged(self, *overrides: Optional[SshOverride]) -> "SshSettings":
        """These settings with class/site/device overrides applied in order (later wins)."""
        return merge_overrides(self, overrides)


def missing_secrets(settings: SshSettings, used: set[str]) -> list[str]:
    """One sentence per credential in `used` that has neither a password nor a key."""
    return missing_secret_sentences("ssh", settings.credentials, used)


def used_credentials(devices) -> set[str]:
    return {device.ssh.credential for device in devices if device.ssh.active or device.ssh.backup_active}
