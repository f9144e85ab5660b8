"""Which host keys a device may present: operator known_hosts files plus trust-on-first-use records.

Both SSH paths use this one store: asyncssh (exec probes) through `known_hosts=` and
`validate_host_public_key`, paramiko (netmiko's vendor CLIs) through its host-key table
and a missing-key policy. A device whose key is listed nowhere fails with "unknown host
key", unless its policy is `tofu`: then the key it shows is recorded (with the device name
and time) and trusted from then on. A device that presents a key other than the one
recorded has a *changed* host key: the probe fails, whatever the policy, because that is
what a man-in-the-middle looks like, and the `ssh` sample says so (`error_code`
host_key_changed) so a rule can open a fault record.

Files are OpenSSH known_hosts format (hashed names and `[host]:port` entries work), re-read
when they change, so an operator can add or replace a key (after a board swap, say) without
restarting; `ssh-keyscan -p PORT HOST >> /etc/netvigil/ssh_known_hosts` is the usual way.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import asyncssh


class HostKeyUnknown(Exception):
    """No key is known for the device and trust-on-first-use is off."""


class HostKeyChanged(Exception):
    """The device presented a key other than the known one: a security event."""


@dataclass(frozen=True)
class Trusted:
    keys: list  # asyncssh SSHKey
    ca_keys: list
    revoked: list


def fingerprint(key) -> str:
    """SHA256 fingerprint as OpenSSH prints it, for asyncssh and paramiko keys alike."""
    if isinstance(key, asyncssh.SSHKey):
        return key.get_fingerprint("sha256")
    import base64
    import hashlib

    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def known_hosts_name(host: str, port: int) -> str:
    """How known_hosts names a host: bare on port 22, `[host]:port` otherwise."""
    return host if port == 22 else f"[{host}]:{port}"


class HostKeyStore:
    def __init__(self, known_hosts: Sequence[Path], tofu_path: Optional[Path]) -> None:
        self.files = [Path(p) for p in known_hosts]
        self.tofu_path = Path(tofu_path) if tofu_path is not None else None
        self._lock = threading.Lock()  # netmiko threads record TOFU keys too
        self._stamp: tuple = ()
        self._parsed: Optional[asyncssh.SSHKnownHosts] = None
        self.problems: list[str] = []  # unreadable files, as sentences

    def _sources(self) -> list[Path]:
        return self.files + ([self.tofu_path] if self.tofu_path is not None else [])

    def _current(self) -> asyncssh.SSHKnownHosts:
        stamp = []
        for path in self._sources():
            try:
                st = path.stat()
                stamp.append((str(path), st.st_mtime_ns, st.st_size))
            except OSError:
                stamp.append((str(path), None, None))
        stamp = tuple(stamp)
        with self._lock:
            if self._parsed is None or stamp != self._stamp:
                parsed, problems = asyncssh.SSHKnownHosts(), []
                for path in self._sources():
                    try:
                        parsed.load(path.read_text(encoding="utf-8", errors="replace"))
                    except FileNotFoundError:
                        continue  # no file yet: nothing known from it
                    except (OSError, ValueError, asyncssh.KeyImportError) as exc:
                        problems.append(f"known_hosts file {path}: {exc}")
                self._parsed, self._stamp, self.problems = parsed, stamp, problems
            return self._parsed

    def trusted(self, host: str, port: int) -> Trusted:
        found = asyncssh.match_known_hosts(self._current(), host, host, port if port != 22 else None)
        return Trusted(_unique(found[0]), _unique(found[1]), _unique(found[2]))

    def record(self, host: str, port: int, key_line: str, device: str) -> None:
        """Append a key trusted on first use (`key_line`: "ssh-ed25519 AAAA...")."""
        if self.tofu_path is None:
            raise HostKeyUnknown("trust-on-first-use has nowhere to record keys")
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        comment = f"netvigil-tofu device={device.replace(' ', '_')} {stamp}"
        line = f"{known_hosts_name(host, port)} {' '.join(key_line.split()[:2])} {comment}\n"
        with self._lock:
            self.tofu_path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.tofu_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)  # host keys are ours alone
            try:
                os.write(fd, line.encode())
                os.fsync(fd)
            finally:
                os.close(fd)
            self._parsed = None  # re-read on the next lookup


def _unique(keys) -> list:
    """`keys` without repeats: asyncssh lists a key once per name it matched, and the host name
    and the address are the same string here, so every key came twice (and twice in the
    "known is ..." of a changed-key sentence)."""
    seen, out = set(), []
    for key in keys:
        line = openssh_line(key) if isinstance(key, asyncssh.SSHKey) else repr(key)
        if line not in seen:
            seen.add(line)
            out.append(key)
    return out


def openssh_line(key) -> str:
    """"type base64" of an asyncssh or paramiko public key."""
    if isinstance(key, asyncssh.SSHKey):
        return key.export_public_key("openssh").decode().split("\n")[0]
    return f"{key.get_name()} {key.get_base64()}"


def changed_message(host: str, port: int, offered, known: list) -> str:
    known_prints = ", ".join(fingerprint(k) for k in known) or "none"
    return (f"host key CHANGED for {known_hosts_name(host, port)}: it offered {fingerprint(offered)}, known is "
            f"{known_prints}; this may be an attack (or a replaced device): check it, then replace the line "
            f"in the known_hosts file or the trust-on-first-use record")


def unknown_message(host: str, port: int, offered) -> str:
    return (f"unknown host key for {known_hosts_name(host, port)} ({fingerprint(offered) if offered else '?'}); "
            f"add it to a known_hosts file of probes.ssh.known_hosts (e.g. `ssh-keyscan -p {port} {host}`, "
            f"after checking the fingerprint) or set host_key_policy: tofu for this device")
