"""The settings file: composes every module's settings model, loads it, and words its problems.

Sources, highest priority first: environment variables (`NETVIGIL_PROBES__ICMP__COUNT`),
secret files (systemd `LoadCredential=` in `$CREDENTIALS_DIRECTORY`, and `secrets_dir`),
the YAML file, the defaults. Every problem is one line that names where the value came
from (`file:line`, `environment NAME` or `secret file PATH`) and the field, so a sysadmin
can fix it without reading a traceback. Values of secret fields, and anything read from a
secret file, are never shown.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Optional, Sequence, Union

from pydantic import ConfigDict, Field, TypeAdapter, ValidationError, create_model, field_validator
from pydantic_settings import (BaseSettings, EnvSettingsSource, NestedSecretsSettingsSource, NoDecode,
                               PydanticBaseSettingsSource, SettingsConfigDict)
from pydantic_settings.exceptions import SettingsError

from monitor import yamlfile
# ConfigError and the wording live in monitor.problems; imported by name, so `config.ConfigError`
# keeps working for callers that load settings through this module.
from monitor.problems import (ConfigError, SettingsFileError, booleans_for_numbers, describe_error,  # noqa: F401
                              did_you_mean, is_secret_field, known_keys_at, shown_value, unknown_key)
from monitor import inventory as inventory_module
from monitor.api.settings import ApiSettings
from monitor.faults.settings import FaultsSettings
from monitor.heartbeat import HeartbeatSettings
from monitor.heartbeat import missing_secrets as missing_heartbeat_secrets
from monitor.leadership import HaSettings
from monitor.pollers import PollerSettings
from monitor import i18n
from monitor.reports.settings import ReportsSettings
from monitor.rollcall_schedule import RollcallSettings, problems as meeting_problems
from monitor.inventory import DEVICE_CLASSES, Inventory, ssh_profile_mix
from monitor.notify.settings import NotificationSettings, route_problems, unknown_group_problems
from monitor.notify.settings import missing_secrets as missing_channel_secrets
from monitor.outputs.settings import OutputsSettings
from monitor.rules.settings import RulesSettings
from monitor.scheduler_settings import SchedulerSettings
from monitor.rules.model import RulesError, load_rules
from probes.icmp.settings import IcmpSettings
from probes.registry import KINDS
from probes.snmp.settings import SnmpSettings
from probes.ssh.settings import SshSettings

ENV_PREFIX = "NETVIGIL_"
NESTED_DELIMITER = "__"
CREDENTIALS_ENV = "CREDENTIALS_DIRECTORY"  # set by systemd for LoadCredential=


# `probes:` of the settings file: one section per kind in probes/registry.py, each its own model.
ProbesSettings = create_model("ProbesSettings", __config__=ConfigDict(extra="forbid"),
                              **{name: (kind.settings, kind.settings()) for name, kind in KINDS.items()})


def _default_state_dir() -> Path:
    # systemd's StateDirectory= sets $STATE_DIRECTORY (colon-separated when it names several).
    value = os.environ.get("STATE_DIRECTORY")
    return Path(value.split(":")[0]) if value else Path("/var/lib/netvigil")


def _secret_files_source(source: Any, secrets_dir: Any = None) -> NestedSecretsSettingsSource:
    """Secret files named by the key path joined with `__` (`outputs__influxdb__token`).

    No `NETVIGIL_` prefix: the names are systemd credential names. A missing directory is
    not an error here; `load()` reports it with the key that configured it.
    """
    return NestedSecretsSettingsSource(
        source, secrets_dir=secrets_dir, secrets_prefix="", secrets_nested_delimiter=NESTED_DELIMITER,
        secrets_dir_missing="ok")


MAX_WORKERS = 64


class Settings(BaseSettings):
    """The settings file (`/etc/netvigil/netvigil.yaml`); see config/netvigil.yaml for every key."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_nested_delimiter=NESTED_DELIMITER, extra="forbid")

    # NoDecode: NETVIGIL_INVENTORY=/etc/netvigil/inventory.d should work without JSON quoting.
    inventory: Annotated[list[Path], NoDecode] = Field(
        [Path("inventory.yaml")],
        description="inventory YAML files and/or directories (every *.yaml, *.yml inside); relative to this file")
    state_dir: Path = Field(
        default_factory=_default_state_dir,
        description="spool, embedded store, control socket; default $STATE_DIRECTORY (systemd) "
                    "or /var/lib/netvigil; relative to this file")
    log_level: Literal["debug", "info", "warning", "error"] = Field("info", description="least severe level logged")
    language: Optional[str] = Field(
        None, description="zh-CN or en: alert and rule messages, notifications, command headings and states, "
                          "reports; null: from the locale (LC_ALL, LC_MESSAGES or LANG starting with zh: zh-CN)")
    secrets_dir: Optional[Path] = Field(
        None, description="extra directory of secret files named by key path, e.g. outputs__influxdb__token "
                          "($CREDENTIALS_DIRECTORY is always read)")
    control_socket: Optional[Path] = Field(
        None, description="unix socket `status` asks the daemon through; null: <state_dir>/netvigil.sock")
    workers: Union[Literal["auto"], int] = Field(
        "auto", description="processes that probe: auto (one per usable core when the inventory has 2,000 devices "
                            "or more, else 1), or a number; 1 probes in the daemon's own process; takes effect at "
                            "restart")
    probes: ProbesSettings = ProbesSettings()
    outputs: OutputsSettings = OutputsSettings()
    scheduler: SchedulerSettings = SchedulerSettings()
    rules: RulesSettings = RulesSettings()
    faults: FaultsSettings = FaultsSettings()
    notifications: NotificationSettings = NotificationSettings()
    api: ApiSettings = ApiSettings()
    reports: ReportsSettings = ReportsSettings()
    rollcall: RollcallSettings = RollcallSettings()
    heartbeat: HeartbeatSettings = HeartbeatSettings()
    ha: HaSettings = HaSettings()
    poller: PollerSettings = PollerSettings()

    @field_validator("workers", mode="before")
    @classmethod
    def _auto_or_a_count(cls, value: Any) -> Any:
        # One sentence rather than one per member of the union. From the environment
        # (NETVIGIL_WORKERS=2) the number arrives as text.
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if value == "auto" or (isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_WORKERS):
            return value
        raise ValueError(f"must be auto or a number of processes from 1 to {MAX_WORKERS} (got {value!r})")

    @field_validator("language")
    @classmethod
    def _known_language(cls, value: Optional[str]) -> Optional[str]:
        return None if value is None else i18n.normalise(value)

    @field_validator("inventory", mode="before")
    @classmethod
    def _one_path_or_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            if not value.lstrip().startswith("["):
                return [value]
            try:
                return json.loads(value)
            except ValueError:
                raise ValueError('not a JSON list; give one path, or a list like ["a.yaml", "inventory.d"]') from None
        return value

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings,
                                   file_secret_settings) -> tuple[PydanticBaseSettingsSource, ...]:
        # The YAML file arrives as init values; it ranks below secrets and environment.
        # The unit's credentials rank above secrets_dir: the last directory wins.
        directories = list(_as_list(file_secret_settings.secrets_dir))
        if os.environ.get(CREDENTIALS_ENV):
            directories.append(Path(os.environ[CREDENTIALS_ENV]))
        return env_settings, _secret_files_source(settings_cls, directories or None), init_settings


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


@dataclass(frozen=True)
class Config:
    path: Path
    settings: Settings
    inventory: Inventory


# ----------------------------------------------------------------------------- sources

def _is_mapping(data: Any, loc: Sequence[Any]) -> bool:
    """Whether `loc` leads to a mapping in nested `data` (a section, not a value)."""
    for part in loc:
        if not isinstance(data, dict) or part not in data:
            return False
        data = data[part]
    return isinstance(data, dict)


def _depth(data: Any, loc: Sequence[Any]) -> int:
    """How many leading parts of `loc` exist in nested `data`."""
    depth = 0
    for part in loc:
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
            data = data[part]
        else:
            break
        depth += 1
    return depth


def _common(a: Sequence[Any], b: Sequence[Any]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def _deep_merge(base: dict, *updates: dict) -> dict:
    result = dict(base)
    for update in updates:
        for key, value in update.items():
            if isinstance(value, dict) and isinstance(result.get(key), dict):
                result[key] = _deep_merge(result[key], value)
            else:
                result[key] = value
    return result


def _first_non_utf8(directories: Sequence[Path]) -> str:
    for directory in directories:
        for path in sorted(directory.rglob("*")):
            try:
                if path.is_file() and not path.name.startswith("."):
                    path.read_bytes().decode("utf-8")
            except UnicodeDecodeError:
                return str(path)
    return "?"


class _Origins:
    """Where each setting came from, to name it in messages and to keep secrets out of them."""

    def __init__(self, document: yamlfile.Document, yaml_data: dict, secret_dirs: Sequence[Path]) -> None:
        self.document = document
        self.yaml_data = yaml_data
        self.problems: list[str] = []
        self.env_names = {
            tuple(name[len(ENV_PREFIX):].lower().split(NESTED_DELIMITER)): name
            for name in sorted(os.environ) if name.upper().startswith(ENV_PREFIX)}
        try:
            self.env_data = EnvSettingsSource(Settings)()
        except SettingsError as exc:
            self.env_data = {}
            self.problems.append(self._env_parse_problem(str(exc)))
        self.secret_files: dict[tuple, str] = {}
        try:
            for directory in secret_dirs:
                for name in NestedSecretsSettingsSource.load_secrets(directory.resolve()):
                    self.secret_files[tuple(name.lower().split(NESTED_DELIMITER))] = str(directory / name)
            self.secret_data = _secret_files_source(Settings, list(secret_dirs) or None)()
        except OSError as exc:  # an unreadable file; the message names it, never its content
            self.secret_data = {}
            self.problems.append(f"secret file {exc.filename}: cannot read: {exc.strerror}")
        except UnicodeDecodeError:  # says neither which file nor (rightly) what it held: find the file
            self.secret_data = {}
            self.problems.append(f"secret file {_first_non_utf8(secret_dirs)}: not UTF-8 text")
        except SettingsError as exc:  # e.g. a directory over the size limit; the message has no values
            self.secret_data = {}
            self.problems.append(f"secret files: {exc}")
        self.merged = _deep_merge(yaml_data, self.secret_data, self.env_data)

    def _env_parse_problem(self, message: str) -> str:
        match = re.search(r'field "([^"]+)"', message)
        field_name = match.group(1) if match else "?"
        candidates = {path: name for path, name in self.env_names.items() if path[0] == field_name}
        if not candidates:
            return f"environment: {field_name}: cannot be parsed"
        path = min(candidates, key=len)
        return (f"environment {candidates[path]}: {yamlfile.format_path(path)}: not valid JSON (give a nested "
                f"setting as JSON, or key by key as {candidates[path]}{NESTED_DELIMITER}KEY)")

    def unknown_env_problems(self) -> list[str]:
        """NETVIGIL_ variables that name no setting: pydantic-settings would ignore them silently."""
        fields = list(Settings.model_fields)
        problems = []
        for path, name in self.env_names.items():
            if path[0] in Settings.model_fields:
                continue
            nested = next((f for f in fields if path[0].startswith(f + "_")), None)
            if nested:
                message = (f"unknown key '{path[0]}' (nested keys are separated by '{NESTED_DELIMITER}': "
                           f"{ENV_PREFIX}{nested.upper()}{NESTED_DELIMITER}...)")
            else:
                message = unknown_key(path[0], fields)
            problems.append(f"environment {name}: {message}")
        return problems

    def place(self, loc: Sequence[Any]) -> tuple[str, bool]:
        """`file:line`, `environment NAME` or `secret file PATH` for `loc`; and whether it is a secret file."""
        env, secret, yaml_ = _depth(self.env_data, loc), _depth(self.secret_data, loc), _depth(self.yaml_data, loc)
        if yaml_ < len(loc) and yaml_ >= max(env, secret):
            return self.document.where(loc), False  # absent everywhere (a required key): the file is where to add it
        if env and env >= max(secret, yaml_):
            return f"environment {self._closest(self.env_names, loc)}", False
        if secret and secret >= yaml_ and not (secret == yaml_ == len(loc) and _is_mapping(self.secret_data, loc)):
            # (A problem with a whole section, e.g. probes.ssh's timings, belongs to the settings
            # file even when a secret file fills in a password somewhere inside that section.)
            return f"secret file {self._closest(self.secret_files, loc)}", True
        return self.document.where(loc), False

    @staticmethod
    def _closest(names: dict[tuple, str], loc: Sequence[Any]) -> str:
        best = max(names, key=lambda path: (_common(path, loc), -len(path)), default=None)
        return names[best] if best is not None else "?"

    def secret_values(self) -> set[str]:
        """Every secret this load saw, to scrub from messages as a last line of defence."""
        found: set[str] = set()

        def collect(data: Any, loc: tuple, all_secret: bool) -> None:
            if isinstance(data, dict):
                for key, value in data.items():
                    collect(value, loc + (key,), all_secret)
            elif isinstance(data, list):
                for index, value in enumerate(data):
                    collect(value, loc + (index,), all_secret)
            elif isinstance(data, str) and len(data) >= 4 and (all_secret or is_secret_field(Settings, loc)):
                found.add(data)

        collect(self.secret_data, (), True)
        collect(self.env_data, (), False)
        collect(self.yaml_data, (), False)
        return found

    def describe(self, error: Any) -> str:
        loc = tuple(error["loc"])
        place, from_secret_file = self.place(loc)
        show = not from_secret_file and not is_secret_field(Settings, loc)
        text = describe_error(error, show_input=show, known_keys=known_keys_at(Settings, loc[:-1]))
        return f"{place}: {yamlfile.format_path(loc)}: {text}" if loc else f"{place}: {text}"


def _scrub(problems: list[str], secrets: set[str]) -> list[str]:
    for secret in secrets:
        problems = [line.replace(secret, "***") for line in problems]
    return problems


# ----------------------------------------------------------------------------- loading

def _shown(path: Path, relative: bool) -> str:
    """A path as messages show it: relative to the working directory if the user gave one."""
    return os.path.relpath(path) if relative else str(path)


def _against(base: Path, path: Path) -> Path:
    return Path(os.path.abspath(base / path.expanduser()))


def _secret_dirs(yaml_data: dict, document: yamlfile.Document, base: Path,
                 problems: list[str]) -> tuple[Optional[Path], list[Path]]:
    """The configured secrets_dir (environment over YAML), and every secret directory in
    priority order, lowest first ($CREDENTIALS_DIRECTORY last: it wins). A directory that
    does not exist is a problem named after the key that configured it."""
    env_value = next((value for name, value in os.environ.items() if name.upper() == f"{ENV_PREFIX}SECRETS_DIR"),
                     None)
    if env_value is not None:
        configured = (f"environment {ENV_PREFIX}SECRETS_DIR: secrets_dir", env_value)
    else:
        configured = (f"{document.where(('secrets_dir',))}: secrets_dir", yaml_data.get("secrets_dir"))
    credentials = (f"environment {CREDENTIALS_ENV}", os.environ.get(CREDENTIALS_ENV))
    found: list[Optional[Path]] = []
    for where, value in (configured, credentials):
        directory = None
        if isinstance(value, str) and value:  # a wrong type is reported by validation
            directory = _against(base, Path(value))
            if not directory.is_dir():
                problems.append(f"{where}: directory '{value}' does not exist")
                directory = None
        found.append(directory)
    return found[0], [d for d in found if d is not None]


def _read_settings_file(path: Path) -> yamlfile.Document:
    try:
        return yamlfile.read(path, str(path))
    except OSError as exc:
        raise SettingsFileError([f"{path}: cannot read the settings file: {exc.strerror or exc}"]) from None


def _validate(path: Path) -> tuple[Optional[Settings], _Origins, list[str]]:
    """The settings (None if invalid), where each value came from, and the problems."""
    document = _read_settings_file(path)
    problems = list(document.problems)
    data = document.data if document.data is not None else {}
    if not isinstance(data, dict):
        problems.append(f"{path}:{document.line(())}: the settings file must be a mapping of keys, "
                        f"not {shown_value(data)}")
        data = {}
    known = list(Settings.model_fields)
    for key in data:
        if key not in Settings.model_fields:  # also keeps `_secrets_dir` & co. away from BaseSettings.__init__
            problems.append(f"{document.where((key,))}: {key}: {unknown_key(key, known)}")
    data = {key: value for key, value in data.items() if key in Settings.model_fields}
    base = path.parent
    configured_secrets, secret_dirs = _secret_dirs(data, document, base, problems)
    origins = _Origins(document, data, secret_dirs)
    problems += origins.problems + origins.unknown_env_problems()
    booleans = booleans_for_numbers(Settings, data)
    problems += [f"{document.where(loc)}: {yamlfile.format_path(loc)}: {message}" for loc, message in booleans]
    said = {loc for loc, _ in booleans}
    settings = None
    if not origins.problems:
        try:
            # $CREDENTIALS_DIRECTORY is added by Settings.settings_customise_sources itself.
            settings = Settings(_secrets_dir=configured_secrets, **data)
        except ValidationError as exc:
            problems += [origins.describe(error) for error in exc.errors(include_url=False)
                         if tuple(error["loc"]) not in said]
        except SettingsError as exc:
            problems.append(f"{path}: {exc}")
    if settings is not None:
        settings = _resolve_paths(settings, base)
        # Every entry point reads its settings through here, so the language is in force before
        # rules compile their messages and before anything is printed or sent.
        i18n.set_language(settings.language)
    return settings, origins, _scrub(_by_line(problems, str(path)), origins.secret_values())


def _by_line(problems: list[str], name: str) -> list[str]:
    """Problems in the settings file in line order, then those from the environment and secret files."""
    pattern = re.compile(re.escape(name) + r":(\d+): ")

    def key(problem: str) -> tuple:
        match = pattern.match(problem)
        return (0, int(match.group(1))) if match else (1, 0)
    return sorted(problems, key=key)


def _resolve_paths(settings: Settings, base: Path) -> Settings:
    """Relative paths are relative to the settings file; control_socket defaults into state_dir."""
    state_dir = _against(base, settings.state_dir)
    snmp, ssh = settings.probes.snmp, settings.probes.ssh
    probes = settings.probes.model_copy(update={
        "snmp": snmp.model_copy(update={"profile_dirs": tuple(_against(base, p) for p in snmp.profile_dirs)}),
        "ssh": ssh.model_copy(update={"profile_dirs": tuple(_against(base, p) for p in ssh.profile_dirs),
                                      "known_hosts": tuple(_against(base, p) for p in ssh.known_hosts)})})
    return settings.model_copy(update={
        "probes": probes,
        "rules": settings.rules.model_copy(update={"dirs": [_against(base, p) for p in settings.rules.dirs]}),
        "inventory": [_against(base, p) for p in settings.inventory],
        "reports": settings.reports.model_copy(update={
            "holiday_files": [_against(base, p) for p in settings.reports.holiday_files],
            "out_dir": _against(base, settings.reports.out_dir) if settings.reports.out_dir else state_dir / "reports"}),
        "state_dir": state_dir,
        "secrets_dir": _against(base, settings.secrets_dir) if settings.secrets_dir else None,
        "control_socket": (_against(base, settings.control_socket) if settings.control_socket
                           else state_dir / "netvigil.sock"),
    })


def load_settings(path: Path) -> Settings:
    """The settings alone (no inventory); ConfigError with every settings problem."""
    settings, _, problems = _validate(path)
    if problems or settings is None:
        raise ConfigError(problems)
    return settings


def _fallback_inputs(origins: _Origins, base: Path) -> tuple[Optional[list[Path]], Optional[IcmpSettings]]:
    """Inventory files and ICMP defaults from the raw values, when the settings as a whole are
    invalid, so the inventory is still checked and every problem is reported at once."""
    if origins.document.data is None and origins.document.problems:
        return None, None  # unparsable: its inventory list is unknown, and guessing would add noise
    try:
        raw = Settings._one_path_or_list(origins.merged.get("inventory", ["inventory.yaml"]))
        inventory = [_against(base, p) for p in TypeAdapter(list[Path]).validate_python(raw)]
    except (ValidationError, ValueError):
        inventory = None
    try:
        icmp = IcmpSettings.model_validate(origins.merged.get("probes", {}).get("icmp", {}))
    except (ValidationError, AttributeError):
        icmp = None  # its problems are already reported; skip the effective-settings checks
    return inventory, icmp


def _profile_names(snmp: SnmpSettings, problems: list[str]) -> Optional[frozenset[str]]:
    """Names of the SNMP profiles (shipped + profile_dirs); a broken profile file is a problem."""
    # Imported on use, like ssh_profiles below: `status` reads only the settings (load_settings)
    # and need not pay for the profile models (~20 ms of a ~300 ms start).
    from probes.snmp import profiles as snmp_profiles

    try:
        return frozenset(snmp_profiles.load_all([snmp_profiles.PACKAGED_PROFILES, *snmp.profile_dirs]))
    except snmp_profiles.ProfileError as exc:
        problems.append(f"{exc} (probes.snmp.profile_dirs)")
        return None


def missing_secrets(cfg: Config) -> list[str]:
    """Sentences for every secret a credential in use lacks (SNMP, SSH, notification channels,
    heartbeat URLs):
    the daemon does not start without them, `check` warns."""
    devices, probes = cfg.inventory.devices, cfg.settings.probes
    sentences = []
    for name, kind in KINDS.items():
        if kind.missing_secrets is not None:
            sentences += kind.missing_secrets(getattr(probes, name), devices)
    return (sentences + missing_channel_secrets(cfg.settings.notifications)
            + missing_heartbeat_secrets(cfg.settings.heartbeat))


def _ssh_profiles(ssh: SshSettings, problems: list[str]) -> Optional[dict]:
    """The SSH command profiles (shipped + profile_dirs); broken files and unknown names in
    `probes.ssh.profiles` are problems."""
    from probes.ssh import profiles as ssh_profiles  # on use: see _profile_names

    try:
        profiles = ssh_profiles.load_profiles(ssh.profile_dirs)
    except ssh_profiles.ProfileError as exc:
        problems.append(f"{exc} (probes.ssh.profile_dirs)")
        return None
    unknown = [name for name in ssh.profiles if name not in profiles]
    if unknown:
        problems.append(f"probes.ssh.profiles: unknown SSH profile(s) {', '.join(unknown)}"
                        f"{did_you_mean(unknown[0], sorted(profiles))}; `netvigil profiles list` shows them")
    elif ssh.profiles and ssh_profile_mix(ssh.profiles, profiles):
        problems.append(f"probes.ssh.profiles: {ssh_profile_mix(ssh.profiles, profiles)}")
    return profiles


def _inventory_files(entries: Sequence[Path], origins_place, relative: bool, problems: list[str],
                     exclude: Optional[Path]) -> list[tuple[Path, str]]:
    """Files named by `inventory` (directories give their *.yaml / *.yml, sorted), with display names."""
    if not entries:
        where = origins_place(("inventory",))
        problems.append(f"{where}: inventory: the list is empty; name at least one inventory file or directory")
    files: list[tuple[Path, str]] = []
    seen: set[Path] = set()
    for index, entry in enumerate(entries):
        where = f"{origins_place(('inventory', index))}: inventory[{index}]"
        if entry == exclude:
            continue  # the importer's output, which may not exist yet
        if entry.is_dir():
            found = sorted(p for p in entry.iterdir()
                           if p.suffix in (".yaml", ".yml") and not p.name.startswith(".") and p.is_file())
            if not found and not (exclude is not None and exclude.parent == entry):
                problems.append(f"{where}: no *.yaml or *.yml files in directory '{_shown(entry, relative)}'")
        elif entry.is_file():
            found = [entry]
        else:
            problems.append(f"{where}: '{_shown(entry, relative)}' does not exist")
            found = []
        for file in found:
            if file == exclude:
                continue
            if file not in seen:  # named twice (a file and its directory): read once
                seen.add(file)
                files.append((file, _shown(file, relative)))
    return files


def load(path: Path, *, exclude: Optional[Path] = None) -> Config:
    """Settings and inventory; ConfigError listing every problem in both, one line each.

    `exclude`: an inventory file to leave out (the importer regenerating its own output).
    """
    with yamlfile.gc_paused():  # see gc_paused: most of a large inventory's load time otherwise
        return _load(path, Path(os.path.abspath(exclude)) if exclude is not None else None)


def _load(path: Path, exclude: Optional[Path]) -> Config:
    settings, origins, problems = _validate(path)
    base, relative = path.parent, not path.is_absolute()
    snmp, profiles, ssh, ssh_profiles = None, None, None, None
    if settings is not None:
        entries, icmp, snmp = settings.inventory, settings.probes.icmp, settings.probes.snmp
        profiles = _profile_names(snmp, problems)
        ssh = settings.probes.ssh
        ssh_profiles = _ssh_profiles(ssh, problems)
    else:
        entries, icmp = _fallback_inputs(origins, base)

    def place(loc: tuple) -> str:
        return origins.place(loc)[0]

    inventory = None
    if entries is not None:
        files = _inventory_files(entries, place, relative, problems, exclude)
        documents = []
        for file, name in files:
            try:
                documents.append(yamlfile.read(file, name))
            except OSError as exc:
                problems.append(f"{name}: cannot read: {exc.strerror or exc}")
        try:
            bases = {name: getattr(settings.probes, name) for name in KINDS} if settings is not None else {"icmp": icmp}
            inventory = inventory_module.resolve(documents, bases, {"snmp": profiles, "ssh": ssh_profiles})
        except ConfigError as exc:
            problems += exc.problems
    if settings is not None:
        _rules(settings, place, problems)
        _holidays(settings, place, relative, problems)
        _report_channels(settings, place, problems)
        _ha(settings, place, problems)
        if inventory is not None:
            problems += _alerting_problems(settings, inventory)
            _poller_sites(settings, inventory, place, problems)
            problems += meeting_problems(settings, inventory, place)
    if problems or settings is None or inventory is None:
        raise ConfigError(_scrub(problems, origins.secret_values()))  # inventory lines too: defence in depth
    return Config(path=path, settings=settings, inventory=inventory)


def _poller_sites(settings: Settings, inventory: Inventory, place, problems: list[str]) -> None:
    for index, site in enumerate(settings.poller.sites):
        if site not in inventory.sites:
            problems.append(f"{place(('poller', 'sites', index))}: poller.sites: unknown site {site!r}"
                            f"{did_you_mean(site, sorted(inventory.sites))}; name sites of the inventory, whose subtrees this "
                            f"poller probes")


def _ha(settings: Settings, place, problems: list[str]) -> None:
    if settings.ha.enabled and not settings.faults.database.postgresql:
        problems.append(f"{place(('ha', 'enabled'))}: ha.enabled: the two servers of a pair share their fault records "
                        f"and the lease on a PostgreSQL server; set faults.database "
                        f"(docs/operations.md, \"Active and standby\")")


def _rules(settings: Settings, place, problems: list[str]) -> None:
    """Rule files (shipped + rules.dirs) are checked like the rest: file:line per problem."""
    try:
        load_rules(settings.rules, place=place)
    except RulesError as exc:
        problems += exc.problems


def _holidays(settings: Settings, place, relative: bool, problems: list[str]) -> None:
    """Holiday calendars are read at load too, so `netvigil check` finds a broken one before the
    first report due date does. Named relative to here when the settings file was, like the
    inventory files."""
    from monitor.reports.workdays import CalendarFileError, WorkCalendar  # small; only YAML and pydantic

    files = settings.reports.holiday_files
    try:
        WorkCalendar.load([Path(os.path.relpath(f)) for f in files] if relative else files)
    except CalendarFileError as exc:
        problems.append(f"{place(('reports', 'holiday_files'))}: reports.holiday_files: {exc}")


def _report_channels(settings: Settings, place, problems: list[str]) -> None:
    """Scheduled reports go to notification channels by name: a typo would lose every report."""
    known = sorted(settings.notifications.channels)
    for index, name in enumerate(settings.reports.deliver.channels):
        if name not in known:
            hint = did_you_mean(name, known) or (f" (known: {', '.join(known)})" if known
                                                 else "; define it under notifications.channels")
            loc = ("reports", "deliver", "channels", index)
            problems.append(f"{place(loc)}: reports.deliver.channels[{index}]: unknown notification channel "
                            f"'{name}'{hint}")


def _alerting_problems(settings: Settings, inventory: Inventory) -> list[str]:
    """References between notifications, faults and the inventory: a route naming a site the
    inventory lacks would silently never match."""
    notifications, faults = settings.notifications, settings.faults
    problems = route_problems(notifications, sites=set(inventory.sites), classes=DEVICE_CLASSES)
    problems += unknown_group_problems(notifications, faults.heightened_watch.extra_groups,
                                       "faults.heightened_watch.extra_groups")
    for index, name in enumerate(faults.budget.classes):
        if name not in DEVICE_CLASSES:
            problems.append(f"faults.budget.classes[{index}]: unknown class '{name}'{did_you_mean(name, DEVICE_CLASSES)}")
    for kind in faults.heightened_watch.probe_intervals:
        if kind not in KINDS:
            problems.append(f"faults.heightened_watch.probe_intervals.{kind}: unknown probe kind; use "
                            f"{', '.join(list(KINDS)[:-1])} or {list(KINDS)[-1]}")
    return problems
