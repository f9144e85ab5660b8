"""Settings of the SNMP probe (kept apart from the engine so config loading stays light).

Credentials are named once under `probes.snmp.credentials` and picked by name per class,
site or device (`snmp: {credential: campus-v3}` in the inventory), so the inventory, which
sysadmins edit and diff often, never holds a secret. Communities and pass phrases are
`SecretStr`: they can come from the YAML file, from `NETVIGIL_PROBES__SNMP__CREDENTIALS__<name>__community`,
or (best) from a secret file `probes__snmp__credentials__<name>__community` in
$CREDENTIALS_DIRECTORY or `secrets_dir`, and they never appear in a message or `repr`.

A device is polled over SNMP when its effective settings have `enabled: true` and name a
credential; with no credential (the default) SNMP stays off, so an ICMP-only inventory needs
no SNMP configuration at all.

A secret that is not set is not a validation error: `status` and `check`, run by an operator
from a shell, do not see systemd's $CREDENTIALS_DIRECTORY, and must still work. `missing`
says what is absent; the daemon refuses to start (exit 2) when a credential its devices use
lacks a secret, and `check` prints it as a warning.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from probes.base import merge_overrides
from probes.secrets import missing_secret_sentences

AuthProtocol = Literal["none", "md5", "sha", "sha224", "sha256", "sha384", "sha512"]
PrivProtocol = Literal["none", "des", "aes", "aes192", "aes256", "aes192c", "aes256c"]

_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
_MIN_PASSPHRASE = 8  # RFC 3414 11.2: shorter pass phrases are refused by agents (net-snmp says so too)


class SnmpCredential(BaseModel):
    """How to talk to an agent: v1/v2c community, or a v3 USM user.

    v3 protocols use net-snmp's names in lower case: auth md5, sha (SHA-1), sha224 .. sha512;
    priv des, aes (AES-128), aes192/aes256 (net-snmp's AES-192/AES-256, Blumenthal key
    extension) and aes192c/aes256c (net-snmp's AES-192-C/AES-256-C, the Cisco/Reeder key
    extension some Cisco and Huawei releases use).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal["v1", "v2c", "v3"] = Field("v2c", description="SNMP version")
    community: Optional[SecretStr] = Field(None, description="v1/v2c community (a secret)")
    user: Optional[str] = Field(None, min_length=1, max_length=32, description="v3 user name")
    auth_protocol: AuthProtocol = Field("none", description="v3 authentication protocol")
    auth_passphrase: Optional[SecretStr] = Field(None, description="v3 authentication pass phrase (a secret)")
    priv_protocol: PrivProtocol = Field("none", description="v3 privacy protocol (needs authentication)")
    priv_passphrase: Optional[SecretStr] = Field(None, description="v3 privacy pass phrase (a secret)")
    context_name: str = Field("", max_length=32, description="v3 context name (usually empty)")

    @model_validator(mode="after")
    def _complete(self) -> "SnmpCredential":
        if self.version in ("v1", "v2c"):
            if self.user is not None or self.auth_protocol != "none" or self.priv_protocol != "none":
                raise ValueError(f"user, auth_protocol and priv_protocol are v3 settings; this credential is "
                                 f"{self.version} (set version: v3, or remove them)")
            return self
        if self.user is None:
            raise ValueError("SNMP v3 needs a user")
        if self.community is not None:
            raise ValueError("community is a v1/v2c setting; a v3 credential uses user and pass phrases")
        if self.priv_protocol != "none" and self.auth_protocol == "none":
            raise ValueError("privacy needs authentication: set auth_protocol too (USM has no noAuthPriv level)")
        for protocol, phrase, name in ((self.auth_protocol, self.auth_passphrase, "auth_passphrase"),
                                       (self.priv_protocol, self.priv_passphrase, "priv_passphrase")):
            if protocol != "none" and phrase is not None and len(phrase.get_secret_value()) < _MIN_PASSPHRASE:
                raise ValueError(f"{name} needs at least {_MIN_PASSPHRASE} characters with {protocol} "
                                 "(RFC 3414; agents refuse shorter ones)")
        return self

    def missing(self) -> list[str]:
        """The secrets this credential needs and does not have (key names, never values)."""
        if self.version != "v3":
            return [] if self.community is not None and self.community.get_secret_value() else ["community"]
        return [name for protocol, phrase, name in (
            (self.auth_protocol, self.auth_passphrase, "auth_passphrase"),
            (self.priv_protocol, self.priv_passphrase, "priv_passphrase"))
            if protocol != "none" and (phrase is None or not phrase.get_secret_value())]

    @property
    def level(self) -> str:
        if self.version != "v3":
            return self.version
        if self.priv_protocol != "none":
            return "authPriv"
        return "authNoPriv" if self.auth_protocol != "none" else "noAuthNoPriv"

    def agent(self, host: str, port: int):
        """The client's `Agent` for an IP literal and port (secrets go to the client only)."""
        from probes.snmp.client import Agent

        if self.missing():
            raise ValueError(f"credential lacks {', '.join(self.missing())}")  # checked before any poll
        if self.version != "v3":
            return Agent(host, port, self.version, self.community.get_secret_value())
        from probes.snmp.usm import UsmUser

        user = UsmUser(self.user, self.auth_protocol,
                       self.auth_passphrase.get_secret_value() if self.auth_passphrase else "",
                       self.priv_protocol, self.priv_passphrase.get_secret_value() if self.priv_passphrase else "",
                       self.context_name)
        return Agent(host, port, "v3", user=user)


class InterfaceFilter(BaseModel):
    """Which ports the `if` profile writes, by regular expressions on the port's tags
    (`name` = ifName, `descr` = ifDescr, `alias` = ifAlias, `type` = ifType number). A port is
    kept if it matches every `include` entry and no `exclude` entry; e.g. a 48-port access
    switch: `include: {alias: "(?i)uplink|mcu|codec"}`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    include: dict[str, str] = Field({}, description="tag -> regular expression a written port must match (all)")
    exclude: dict[str, str] = Field({"type": "^24$"},  # softwareLoopback, as the profile does by default
                                    description="tag -> regular expression; a matching port is not written")


class SnmpOverride(BaseModel):
    """What a class, a site or a device may change for its own devices (`snmp:` in the inventory)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: Optional[bool] = None
    credential: Optional[str] = Field(None, pattern=_NAME)
    port: Optional[int] = Field(None, ge=1, le=65_535)
    interval_s: Optional[float] = Field(None, ge=5, le=86_400)
    timeout_s: Optional[float] = Field(None, gt=0, le=60)
    retries: Optional[int] = Field(None, ge=0, le=10)
    max_repetitions: Optional[int] = Field(None, ge=1, le=1000)
    max_varbinds_per_request: Optional[int] = Field(None, ge=1, le=1000)
    use_getbulk: Optional[bool] = None
    profiles: Optional[tuple[str, ...]] = None
    skip_profiles: Optional[tuple[str, ...]] = None
    interfaces: Optional[InterfaceFilter] = None
    max_rows_per_table: Optional[int] = Field(None, ge=1, le=1_000_000)
    max_rows_per_device: Optional[int] = Field(None, ge=1, le=10_000_000)
    max_index_length: Optional[int] = Field(None, ge=1, le=128)


class SnmpSettings(BaseModel):
    """Global SNMP settings (`probes.snmp`); the per-device keys are defaults the inventory
    may override per class, site and device.

    Defaults: one poll a minute (interface counters give a per-minute rate; UPS and sensor
    values change slowly), 2 s timeout and 1 retry (a UPS card answering from a busy CPU
    needs more than 1 s; a dead device then costs 4 s), GETBULK with 25 repetitions and at
    most 32 varbinds per request (old UPS cards and cameras choke on large PDUs), and one
    request in flight per device.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(True, description="poll devices that have a credential")
    credential: Optional[str] = Field(None, pattern=_NAME,
                                      description="credential of devices that name none (null: SNMP off for them)")
    credentials: dict[str, SnmpCredential] = Field({}, description="named credentials; secrets belong in secret files")
    port: int = Field(161, ge=1, le=65_535, description="agent UDP port")
    interval_s: float = Field(60.0, ge=5, le=86_400, description="seconds between polls of one device")
    timeout_s: float = Field(2.0, gt=0, le=60, description="wait for each answer")
    retries: int = Field(1, ge=0, le=10, description="resends after a timeout")
    max_repetitions: int = Field(25, ge=1, le=1000, description="GETBULK max-repetitions")
    max_varbinds_per_request: int = Field(32, ge=1, le=1000, description="OIDs per GET, varbinds per GETBULK")
    use_getbulk: bool = Field(True, description="false: walk tables with GETNEXT only (v1 always does)")
    profiles: tuple[str, ...] = Field((), description="profiles added to those chosen by class and sysObjectID")
    skip_profiles: tuple[str, ...] = Field((), description="profiles never used")
    interfaces: Optional[InterfaceFilter] = Field(None, description="ports the `if` profile writes (null: all but loopbacks)")
    # Bounds on what one agent can make a poll write: a hostile or broken agent inventing rows
    # would otherwise add new series every poll. The largest table in the recordings of real
    # devices the tests replay has 437 rows (the entPhysicalTable of a 1-RU Arista 7050TX-128);
    # a 384-port chassis has about 400 ifTable rows and big modular gear a few thousand
    # entities, so 10,000 rows per table is generous. The longest row index those recordings
    # give a shipped profile has 2 sub-identifiers; inetCidrRouteTable with IPv6 addresses,
    # about the longest standard index (RFC 4292), has 40.
    max_rows_per_table: int = Field(10_000, ge=1, le=1_000_000,
                                    description="rows of one profile table; a longer table is an error for that "
                                                "device and none of its rows are written")
    max_rows_per_device: int = Field(30_000, ge=1, le=10_000_000,
                                     description="rows of all tables of one device in one poll; the table that "
                                                 "crosses it is an error and is not written")
    max_index_length: int = Field(64, ge=1, le=128,
                                  description="sub-identifiers of a table row index; a longer one is an error and "
                                              "its table is not written")
    # Global only:
    profile_dirs: tuple[Path, ...] = Field((Path("/etc/netvigil/profiles"),),
                                           description="extra profile directories; a profile there replaces a shipped one of the same name")
    max_in_flight: int = Field(512, ge=1, le=100_000, description="SNMP requests waiting for answers, all devices")
    max_in_flight_per_device: int = Field(1, ge=1, le=64, description="requests in flight to one agent")
    max_concurrent_runs: int = Field(64, ge=1, le=10_000, description="SNMP runs (batches) in progress at once")
    max_walk_varbinds: int = Field(20_000, ge=100, le=1_000_000,
                                   description="varbinds of one walk (one table column); more is an error for that "
                                               "device and the table is not written")
    reselect_s: float = Field(21_600.0, ge=60, le=604_800,
                              description="re-read sysObjectID and re-select profiles this often (and after a reboot)")

    @model_validator(mode="after")
    def _consistent(self) -> "SnmpSettings":
        if self.credential is not None and self.credential not in self.credentials:
            known = ", ".join(sorted(self.credentials)) or "none defined"
            raise ValueError(f"credential {self.credential!r} is not in credentials ({known})")
        dead_device_s = self.timeout_s * (self.retries + 1)
        if dead_device_s >= self.interval_s:
            raise ValueError(f"a device that does not answer costs timeout_s x (retries + 1) = {dead_device_s:g} s, "
                             f"which must be shorter than interval_s = {self.interval_s:g} s")
        return self

    @property
    def active(self) -> bool:
        return self.enabled and self.credential is not None

    def merged(self, *overrides: Optional[SnmpOverride]) -> "SnmpSettings":
        """These settings with class/site/device overrides applied in order (later wins)."""
        return merge_overrides(self, overrides)

    def run_key(self) -> tuple:
        """What the scheduler groups devices by (the rest is looked up per device)."""
        return (self.interval_s,)


OVERRIDE_FIELDS = tuple(SnmpOverride.model_fields)


def missing_secrets(settings: SnmpSettings, used: set[str]) -> list[str]:
    """One sentence per secret that credentials in `used` lack (names and where to put them)."""
    return missing_secret_sentences("snmp", settings.credentials, used)


def used_credentials(devices) -> set[str]:
    return {device.snmp.credential for device in devices if device.snmp.active}
