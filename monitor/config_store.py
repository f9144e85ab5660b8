"""Versions of every device's (prepared) running configuration, on disk, and their diffs.

A change to a device's configuration must be seen, so the store must never lose a version
nor invent one: the daemon and a `netvigil config fetch` run by an operator may save the same
device at the same moment (an exclusive `flock` per device serialises them), and a kill -9 or
power cut in the middle of a save must leave either the old state or the new one (every file
is written to a temporary name in its own directory, fsynced, renamed over, and the directory
fsynced). Leftover temporary files are ignored by readers and removed by the next save.

Layout under `root` (e.g. state_dir/configs, mode 0700; files 0600, since a configuration is
sensitive even with its secrets masked):

    .mask-key                            32 random bytes: the HMAC key of probes/devconfig/text.mask
    SW-CORE-01/                          one directory per device, its name percent-encoded
        .lock                            flock target
        meta.json                        {"device", "next_number", "last_checked", "masked_with"}
        000011-20261120T101500Z.cfg      version 11, first seen 2026-11-20 10:15:00 UTC
        000012-20261121T101500Z.cfg

The version files are the truth: number and time are in the name, hash and line count are
computed from the content. meta.json only remembers what the files cannot: when the device was
last fetched (unchanged fetches write nothing else) and the next number, so numbers are never
reused, even after pruning or after an operator deletes files. Times are whole UTC seconds.

Re-masking. A store opened with `rules_for_device` (the daemon, `netvigil config ...`) keeps
every version masked with the rules the device's fetches use now: meta.json records the
`masked_with` fingerprint of those rules (probes/devconfig/text.ConfigRules.fingerprint), and when
it differs (a newer catalogue after an upgrade, a changed profile) every stored version is
masked again (masking is idempotent: masks already there stay), changed files are rewritten
atomically, and the fingerprint is written last. So it runs once per device and rules; a kill
-9 in the middle leaves each file old or new and the fingerprint old, and the next open
finishes the job. It happens before the first save, read or diff of the device (under its
lock, so no diff ever compares a version with a leaked secret against a masked one), and for
all devices at daemon start. One log line per device says how many versions and lines
changed, never what.
"""

from __future__ import annotations

import difflib
import errno
import fcntl
import hashlib
import json
import logging
import os
import re
import secrets
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator, Optional
from urllib.parse import quote, unquote

log = logging.getLogger("netvigil.configs")

MASK_KEY_BYTES = 32
_MASK_KEY_NAME = ".mask-key"
_LOCK_NAME = ".lock"
_META_NAME = "meta.json"
_TEMP_PREFIX = ".tmp-"
_VERSION_NAME = re.compile(r"^(?P<number>\d{6,})-(?P<stamp>\d{8}T\d{6}Z)\.cfg$")
_STAMP_FORMAT = "%Y%m%dT%H%M%SZ"
_MAX_DIRECTORY_NAME = 255  # bytes, ext4/xfs/btrfs
_DAY = 86400.0


class VersionNotFound(KeyError):
    """A missing device or version; `str()` is the sentence itself (KeyError would quote it)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class Version:
    number: int  # 1, 2, 3... per device, never reused even after pruning
    fetched_at: float  # epoch seconds (UTC, whole seconds) when this text was first seen
    sha256: str
    lines: int
    path: Path


@dataclass(frozen=True)
class Remasked:
    """What re-masking one device's stored versions changed."""

    device: str
    rules: str  # the rule set's name
    versions: int  # versions kept
    versions_changed: int
    lines_changed: int


@dataclass(frozen=True)
class Saved:
    version: Version  # the version now current (new, or the unchanged latest)
    changed: bool  # False when the text equals the latest version (only last_checked was written)
    previous: Optional[Version]  # the version this one replaced; None for the first or an unchanged save
    diff: str  # unified diff previous -> new ("" when unchanged or first version)
    added: int  # + lines of the diff, headers excluded
    removed: int  # - lines of the diff, headers excluded


# -- names --------------------------------------------------------------------------------

def encode_device(device: str) -> str:
    """A directory name for any device name, reversibly: percent-encoding, a leading dot escaped
    (so `.`/`..` and hidden names are impossible and our own `.lock`/`.tmp-` never collide)."""
    if not isinstance(device, str) or not device:
        raise ValueError("a device name must be a non-empty string")
    encoded = quote(device, safe="", encoding="utf-8", errors="surrogatepass")
    if encoded.startswith("."):
        encoded = "%2E" + encoded[1:]
    if len(encoded.encode()) > _MAX_DIRECTORY_NAME:
        raise ValueError(f"device name {device[:40]!r}... is too long to store: encoded it takes "
                         f"{len(encoded)} bytes, file systems allow {_MAX_DIRECTORY_NAME}")
    return encoded


def decode_device(directory_name: str) -> Optional[str]:
    """The device name of a directory, or None when it is not one of ours."""
    try:
        device = unquote(directory_name, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        return None
    if not device:
        return None
    try:
        return device if encode_device(device) == directory_name else None
    except ValueError:
        return None


def _stamp(fetched_at: float) -> str:
    return datetime.fromtimestamp(int(fetched_at), timezone.utc).strftime(_STAMP_FORMAT)


def _label_time(fetched_at: float) -> str:
    return datetime.fromtimestamp(fetched_at, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _ranges(numbers: list[int]) -> str:
    """[3, 4, 5, 9] -> "3-5, 9"."""
    parts: list[str] = []
    start = previous = numbers[0]
    for number in numbers[1:] + [None]:  # type: ignore[list-item]
        if number is not None and number == previous + 1:
            previous = number
            continue
        parts.append(str(start) if start == previous else f"{start}-{previous}")
        if number is not None:
            start = previous = number
    return ", ".join(parts)


# -- durable file operations ----------------------------------------------------------------

def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _write_atomically(path: Path, data: bytes, sync_directory: bool = True) -> None:
    """`path` holds `data` or its old content, never a part: temp file, fsync, rename, fsync dir
    (unless the caller fsyncs the directory itself after several renames)."""
    temp = path.parent / f"{_TEMP_PREFIX}{secrets.token_hex(8)}"
    descriptor = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(descriptor, view):]
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    if sync_directory:
        _fsync_directory(path.parent)


def _make_private_directory(path: Path) -> None:
    if path.is_dir():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        path.mkdir(mode=0o700)
    except FileExistsError:
        return  # another process made it
    os.chmod(path, 0o700)  # whatever the umask said
    _fsync_directory(path.parent)


@contextmanager
def _locked(directory: Path, exclusive: bool) -> Iterator[None]:
    descriptor = os.open(directory / _LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(descriptor)  # releases the lock


def _unified_diff(old: str, new: str, old_label: str, new_label: str) -> tuple[str, int, int]:
    lines = list(difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                      old_label, new_label, n=3))
    lines = [line if line.endswith("\n") else line + "\n" for line in lines]
    # The first two lines are the ---/+++ headers; a removed line reading "-- x" would look like one.
    body = [line for line in lines[2:] if not line.startswith("@@")]
    added = sum(1 for line in body if line.startswith("+"))
    removed = sum(1 for line in body if line.startswith("-"))
    return "".join(lines), added, removed


# -- the store ------------------------------------------------------------------------------

class ConfigStore:
    """Versioned configurations of all devices under one directory.

    `rules_for_device(device)` gives the probes/devconfig/text.ConfigRules a device's fetches are
    masked with; with it the store re-masks stored versions whose rules changed (module
    docstring). Without it (tools, tests) stored text is never rewritten."""

    def __init__(self, root: Path, rules_for_device: Optional[Callable[[str], object]] = None) -> None:
        self.root = Path(root)
        self.rules_for_device = rules_for_device
        self._mask_key: Optional[bytes] = None

    # -- the masking key --

    def mask_key(self) -> bytes:
        """The HMAC key masks are made with; created once, then reused so masks stay stable."""
        if self._mask_key is not None:
            return self._mask_key
        path = self.root / _MASK_KEY_NAME
        key = self._read_mask_key(path)
        if key is None:
            _make_private_directory(self.root)
            with _locked(self.root, exclusive=True):
                key = self._read_mask_key(path)  # another process may have made it meanwhile
                if key is None:
                    for leftover in self.root.glob(_TEMP_PREFIX + "*"):
                        leftover.unlink(missing_ok=True)
                    key = os.urandom(MASK_KEY_BYTES)
                    _write_atomically(path, key)
        self._mask_key = key
        return key

    @staticmethod
    def _read_mask_key(path: Path) -> Optional[bytes]:
        try:
            key = path.read_bytes()
        except FileNotFoundError:
            return None
        if len(key) != MASK_KEY_BYTES:
            # A new key would change every mask: each device would report all its secrets as changed.
            raise ValueError(f"{path} holds {len(key)} bytes, not {MASK_KEY_BYTES}: restore it from a backup, "
                             "or delete it to start a new key (every masked secret then shows as changed once)")
        return key

    # -- reading --

    def _directory(self, device: str) -> Path:
        return self.root / encode_device(device)

    @staticmethod
    def _versions_in(directory: Path) -> list[tuple[int, float, Path]]:
        found = []
        try:
            names = os.listdir(directory)
        except FileNotFoundError:
            return []
        for name in names:
            match = _VERSION_NAME.match(name)
            if match is None:
                continue  # meta, lock, and temp files a crash left behind
            stamp = datetime.strptime(match["stamp"], _STAMP_FORMAT).replace(tzinfo=timezone.utc)
            found.append((int(match["number"]), stamp.timestamp(), directory / name))
        return sorted(found)

    @staticmethod
    def _version(number: int, fetched_at: float, path: Path) -> Version:
        data = path.read_bytes()
        lines = data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)
        return Version(number, fetched_at, hashlib.sha256(data).hexdigest(), lines, path)

    def _history(self, directory: Path) -> list[Version]:
        versions = []
        for number, fetched_at, path in self._versions_in(directory):
            try:
                versions.append(self._version(number, fetched_at, path))
            except FileNotFoundError:
                continue  # pruned while we listed (only without the lock)
        return versions

    def history(self, device: str) -> list[Version]:
        """All kept versions, oldest first; [] for an unknown device."""
        directory = self._directory(device)
        if not directory.is_dir():
            return []
        with _locked(directory, exclusive=False):
            return self._history(directory)

    def _find(self, device: str, versions: list[Version], number: int) -> Version:
        for version in versions:
            if version.number == number:
                return version
        if not versions:
            raise VersionNotFound(f"device {device!r} has no stored configuration")
        kept = [version.number for version in versions]
        what = "version" if len(kept) == 1 else "versions"
        raise VersionNotFound(f"device {device!r} has no version {number}; {what} {_ranges(kept)} "
                              f"{'is' if len(kept) == 1 else 'are'} kept")

    def read(self, device: str, number: int) -> str:
        """The text of one version (VersionNotFound, a KeyError, when it is not kept)."""
        directory = self._directory(device)
        if not directory.is_dir():
            raise VersionNotFound(f"device {device!r} has no stored configuration")
        self.remask(device)
        with _locked(directory, exclusive=False):
            version = self._find(device, self._history(directory), number)
            return version.path.read_text(encoding="utf-8")

    def _label(self, device: str, version: Version) -> str:
        return f"{device} v{version.number} {_label_time(version.fetched_at)}"

    def diff(self, device: str, a: Optional[int] = None, b: Optional[int] = None) -> str:
        """Unified diff of version `a` -> `b`; b defaults to the latest, a to the one before b."""
        directory = self._directory(device)
        if not directory.is_dir():
            raise VersionNotFound(f"device {device!r} has no stored configuration")
        self.remask(device)
        with _locked(directory, exclusive=False):
            versions = self._history(directory)
            if not versions:
                raise VersionNotFound(f"device {device!r} has no stored configuration")
            new = versions[-1] if b is None else self._find(device, versions, b)
            if a is None:
                older = [version for version in versions if version.number < new.number]
                if not older:
                    raise VersionNotFound(f"device {device!r} has no version before {new.number} to compare "
                                          f"with (kept: {_ranges([v.number for v in versions])})")
                old = older[-1]
            else:
                old = self._find(device, versions, a)
            text, _, _ = _unified_diff(old.path.read_text(encoding="utf-8"), new.path.read_text(encoding="utf-8"),
                                       self._label(device, old), self._label(device, new))
            return text

    def _meta(self, directory: Path) -> dict:
        try:
            meta = json.loads((directory / _META_NAME).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (ValueError, UnicodeDecodeError):
            return {}  # unreadable: the version files still say everything but last_checked
        return meta if isinstance(meta, dict) else {}

    def last_checked(self, device: str) -> Optional[float]:
        """When the device's configuration was last fetched, changed or not."""
        directory = self._directory(device)
        if not directory.is_dir():
            return None
        with _locked(directory, exclusive=False):
            checked = self._meta(directory).get("last_checked")
            versions = self._versions_in(directory)
        candidates = [float(checked)] if isinstance(checked, (int, float)) else []
        if versions:
            candidates.append(versions[-1][1])
        return max(candidates) if candidates else None

    def devices(self) -> list[str]:
        """Devices with at least one stored version, sorted."""
        try:
            entries = list(os.scandir(self.root))
        except FileNotFoundError:
            return []
        found = []
        for entry in entries:
            if entry.name.startswith(".") or not entry.is_dir(follow_symlinks=False):
                continue
            device = decode_device(entry.name)
            if device is not None and self._versions_in(Path(entry.path)):
                found.append(device)
        return sorted(found)

    # -- writing --

    def save(self, device: str, text: str, *, fetched_at: Optional[float] = None, keep_versions: int = 30,
             keep_days: float = 365) -> Saved:
        """Store `text` (already normalised and masked) as the device's new version unless it equals
        the latest; then prune versions beyond `keep_versions` that are older than `keep_days`."""
        if not isinstance(text, str):
            raise TypeError(f"text must be str, not {type(text).__name__}")
        if keep_versions < 1:
            raise ValueError(f"keep_versions must be at least 1 (got {keep_versions}): the latest is always kept")
        if keep_days < 0:
            raise ValueError(f"keep_days must not be negative (got {keep_days})")
        now = time.time() if fetched_at is None else float(fetched_at)
        data = text.encode("utf-8")
        directory = self._directory(device)
        _make_private_directory(self.root)
        _make_private_directory(directory)
        with _locked(directory, exclusive=True):
            for leftover in directory.glob(_TEMP_PREFIX + "*"):
                leftover.unlink(missing_ok=True)  # a crashed save's; nobody else writes without the lock
            if self.rules_for_device is not None:
                # Like with like: the stored versions and the new text masked with the same rules (the
                # fetch masked it already; masking is idempotent, so this only catches a fetch made
                # with other rules, e.g. across a reload).
                self._remask_locked(directory, device)
                from probes.devconfig.text import mask

                text = mask(text, self.rules_for_device(device), self.mask_key())
                data = text.encode("utf-8")
            versions = self._history(directory)
            meta = self._meta(directory)
            latest = versions[-1] if versions else None
            if latest is not None and latest.sha256 == hashlib.sha256(data).hexdigest():
                saved = Saved(latest, False, None, "", 0, 0)
                next_number = max(int(meta.get("next_number", 1)), latest.number + 1)
            else:
                numbers = [version.number for version in versions]
                number = max([int(meta.get("next_number", 1)), *(n + 1 for n in numbers)])
                path = directory / f"{number:06d}-{_stamp(now)}.cfg"
                _write_atomically(path, data)
                version = self._version(number, float(int(now)), path)
                diff, added, removed = ("", 0, 0)
                if latest is not None:
                    diff, added, removed = _unified_diff(latest.path.read_text(encoding="utf-8"), text,
                                                         self._label(device, latest), self._label(device, version))
                saved = Saved(version, True, latest, diff, added, removed)
                versions.append(version)
                next_number = number + 1
            self._write_meta(directory, device, next_number, now, meta.get("masked_with"))
            self._prune(directory, versions, now, keep_versions, keep_days)
        return saved

    @staticmethod
    def _write_meta(directory: Path, device: str, next_number: int, checked: Optional[float],
                    masked_with: Optional[str] = None) -> None:
        meta = {"device": device, "next_number": next_number, "last_checked": checked}
        if masked_with is not None:
            meta["masked_with"] = masked_with
        _write_atomically(directory / _META_NAME, json.dumps(meta, ensure_ascii=False, indent=1).encode("utf-8"))

    # -- re-masking --

    def remask(self, device: str) -> Optional[Remasked]:
        """Mask the device's stored versions again when its rules changed since (module docstring);
        None when there was nothing to do."""
        if self.rules_for_device is None:
            return None
        directory = self._directory(device)
        if not directory.is_dir():
            return None
        rules = self.rules_for_device(device)
        if self._meta(directory).get("masked_with") == rules.fingerprint:
            return None  # the common case, without the exclusive lock
        with _locked(directory, exclusive=True):
            return self._remask_locked(directory, device)

    def remask_all(self) -> list[Remasked]:
        """`remask` for every stored device (the daemon's start); what changed."""
        done = []
        for device in self.devices():
            result = self.remask(device)
            if result is not None:
                done.append(result)
        return done

    def _remask_locked(self, directory: Path, device: str) -> Optional[Remasked]:
        if self.rules_for_device is None:
            return None
        from probes.devconfig.text import mask

        rules = self.rules_for_device(device)
        meta = self._meta(directory)
        if meta.get("masked_with") == rules.fingerprint:
            return None
        key = self.mask_key()
        for leftover in directory.glob(_TEMP_PREFIX + "*"):
            leftover.unlink(missing_ok=True)  # an interrupted rewrite's
        versions = self._history(directory)
        versions_changed = lines_changed = 0
        for version in versions:
            old = version.path.read_text(encoding="utf-8")
            new = mask(old, rules, key)
            if new == old:
                continue
            # Masking works line by line and keeps the line count: count the lines it touched.
            lines_changed += sum(1 for a, b in zip(old.split("\n"), new.split("\n")) if a != b)
            versions_changed += 1
            _write_atomically(version.path, new.encode("utf-8"), sync_directory=False)
        if versions_changed:
            # The renames reach the disk before the fingerprint that says they are done (one
            # directory fsync for all of them: per file it tripled the time of a large store).
            _fsync_directory(directory)
        numbers = [version.number for version in versions]
        next_number = max([int(meta.get("next_number", 1)), *(n + 1 for n in numbers)])
        checked = meta.get("last_checked")
        self._write_meta(directory, device, next_number, checked if isinstance(checked, (int, float)) else None,
                         rules.fingerprint)
        result = Remasked(device, getattr(rules, "name", "?"), len(versions), versions_changed, lines_changed)
        if versions_changed:
            # Which lines stays out of the log: their text is the very thing that must not spread.
            log.warning("configs: %s: masked %d of %d stored version(s) again with the %s masking rules (%s): %d "
                        "line(s) changed; copies of the state directory made before still hold what they hid",
                        device, versions_changed, len(versions), result.rules, rules.fingerprint, lines_changed)
        return result

    @staticmethod
    def _prune(directory: Path, versions: list[Version], now: float, keep_versions: int, keep_days: float) -> None:
        """Keep the newest `keep_versions`, every version younger than `keep_days`, and the latest."""
        newest = {version.number for version in versions[-keep_versions:]}
        doomed = [version for version in versions[:-1]
                  if version.number not in newest and now - version.fetched_at >= keep_days * _DAY]
        for version in doomed:
            try:
                version.path.unlink()
            except OSError as exc:
                if exc.errno != errno.ENOENT:
                    raise
        if doomed:
            _fsync_directory(directory)
