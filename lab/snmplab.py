"""The SNMP test lab: a real net-snmp `snmpd` and an `snmpsim` replaying recordings of real devices.

Every SNMP test and benchmark starts its agents from here (measured on this machine; the
pitfalls found while building this module are noted where they matter).

* `Snmpd(tmp_dir)` - net-snmp snmpd 5.9.3 on a free UDP port of 127.0.0.1 (or any other
  127.x address, for per-device fault tests with `lab/netlab.py`). v1/v2c community
  `COMMUNITY` (a secret that must never appear in a log) and one SNMPv3 USM user for every
  auth/priv combination this snmpd build supports (`V3_USERS`, data to iterate over).
  `restart()` keeps the persistent directory, so the engine ID stays and snmpEngineBoots
  goes up by one: a device "reboot" for v3 re-discovery and uptime-reset tests.
* `SnmpSim(tmp_dir, recordings=[...], extra_files={...})` - snmpsim-command-responder
  serving *copies* of tests/fixtures/{devices/,}snmprec/*.snmprec (the community is the file
  name; for v3 the context name is the file name) plus files written by the test, which may
  use the `writecache` and `numeric` variation modules so values can change under a test.
* pytest fixtures at the bottom: `snmpd`, `private_snmpd`, `snmpd_factory`, `snmpsim`,
  `snmpsim_factory`. tests/conftest.py imports them.

Both servers are started and stopped by their own pid (lab.support.Process). Readiness is
an `snmpget` that gets an answer. A missing binary is a failure, never a skip. Measured here:
snmpd ready in 0.24 s with the 43 users (0.08 s with one: createUser localizes keys at start),
restart 0.25-0.31 s; snmpsim ready in 0.57 s with all ten recordings; both stop in < 0.02 s.

pysnmp (netvigil's poller and snmpsim alike) needs the `cryptography` package for any v3
privacy (DES, AES): without it every authPriv request fails with "Ciphering services not
available" and snmpsim answers authPriv requests with a decryption-error report. pysnmp lists
it only in its `dev` extra, so the project must depend on it explicitly.

Clients: use numeric OIDs everywhere (no MIBs are installed). `V3User.usm_user_data()` gives
the pysnmp `UsmUserData` for a user, with the pysnmp protocol that matches net-snmp's on the
wire (checked in tests/integration/test_snmplab.py; pysnmp's names are misleading for the
192/256-bit AES variants, see `PRIV_PROTOCOLS`).

Example::

    def test_ups(snmpsim):                       # one snmpsim for the session, all recordings
        vbs = snmpsim.get("abbups_abbups", "1.3.6.1.2.1.33.1.2.4.0")
        assert vbs["1.3.6.1.2.1.33.1.2.4.0"].int == 100
        host, port = snmpsim.endpoint            # point the poller here, community "abbups_abbups"

    def test_v3_matrix(snmpd):
        for user in snmpd.users:                 # 43 users: noAuthNoPriv, authNoPriv, authPriv
            ...                                  # user.usm_user_data(), snmpd.address, snmpd.port

    def test_reboot(private_snmpd):
        boots = private_snmpd.engine_boots()
        private_snmpd.restart()                  # same engine ID, boots + 1, sysUpTime from 0
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Mapping, Optional, Sequence, Union

import pytest

from lab.support import FIXTURES, VENV_BIN, Process, ServerProcess, free_port, require_binary

# -- constants ---------------------------------------------------------------------------------

#: The first ten recordings of real devices (tests/fixtures/devices/README.md).
SNMPREC_DIR = FIXTURES / "devices" / "snmprec"
#: The project's own recordings of real devices (tests/fixtures/snmprec/SOURCES.md).
PROJECT_SNMPREC_DIR = FIXTURES / "snmprec"
#: Names (file name without .snmprec) of the first ten recordings of real devices.
RECORDINGS: tuple[str, ...] = tuple(sorted(p.stem for p in SNMPREC_DIR.glob("*.snmprec")))
#: Names of the project's own recordings.
PROJECT_RECORDINGS: tuple[str, ...] = tuple(sorted(p.stem for p in PROJECT_SNMPREC_DIR.glob("*.snmprec")))
#: Every recording SnmpSim can serve (the first ten first); a name must not be in both sets.
ALL_RECORDINGS: tuple[str, ...] = RECORDINGS + PROJECT_RECORDINGS


def recording_path(name: str) -> Path:
    """The file of recording `name`, one of the first ten or the project's own."""
    for directory in (SNMPREC_DIR, PROJECT_SNMPREC_DIR):
        path = directory / f"{name}.snmprec"
        if path.is_file():
            return path
    raise ValueError(f"{name}: no such recording in {SNMPREC_DIR} or {PROJECT_SNMPREC_DIR} "
                     f"({', '.join(ALL_RECORDINGS)})")

SYS_DESCR = "1.3.6.1.2.1.1.1.0"
SYS_OBJECT_ID = "1.3.6.1.2.1.1.2.0"
SYS_UPTIME = "1.3.6.1.2.1.1.3.0"
SYS_NAME = "1.3.6.1.2.1.1.5.0"
SNMP_ENGINE_ID = "1.3.6.1.6.3.10.2.1.1.0"
SNMP_ENGINE_BOOTS = "1.3.6.1.6.3.10.2.1.2.0"
SNMP_ENGINE_TIME = "1.3.6.1.6.3.10.2.1.3.0"

#: v1/v2c read community of every Snmpd. Tests assert it never shows up in a log.
COMMUNITY = "c0mm-S3cret"

#: net-snmp name -> (pysnmp hlapi name, snmpsim --v3-auth-proto name)
AUTH_PROTOCOLS: dict[str, tuple[str, str]] = {
    "MD5": ("usmHMACMD5AuthProtocol", "MD5"),
    "SHA": ("usmHMACSHAAuthProtocol", "SHA"),
    "SHA-224": ("usmHMAC128SHA224AuthProtocol", "SHA224"),
    "SHA-256": ("usmHMAC192SHA256AuthProtocol", "SHA256"),
    "SHA-384": ("usmHMAC256SHA384AuthProtocol", "SHA384"),
    "SHA-512": ("usmHMAC384SHA512AuthProtocol", "SHA512"),
}

#: net-snmp name -> (pysnmp hlapi name, snmpsim --v3-priv-proto name).
#:
#: AES-192/AES-256 exist twice in net-snmp 5.9.3 (the Debian build has Blumenthal AES):
#: "AES-192"/"AES-256" extend a short localized key the Blumenthal way (draft-blumenthal-aes-usm),
#: "AES-192-C"/"AES-256-C" the Reeder/Cisco way (the "-C" names work in snmpd.conf and with
#: `snmpget -x` although `snmpget -h` does not list them). pysnmp's names are the other way
#: round from what one would guess: its `usmAesBlumenthalCfb192Protocol` is Blumenthal, its
#: plain `usmAesCfb192Protocol` is the Reeder/Cisco key extension. Both pairings are checked
#: against snmpd in tests/integration/test_snmplab.py.
PRIV_PROTOCOLS: dict[str, tuple[str, str]] = {
    "DES": ("usmDESPrivProtocol", "DES"),
    "AES": ("usmAesCfb128Protocol", "AES"),
    "AES-192": ("usmAesBlumenthalCfb192Protocol", "AES192BLMT"),
    "AES-256": ("usmAesBlumenthalCfb256Protocol", "AES256BLMT"),
    "AES-192-C": ("usmAesCfb192Protocol", "AES192"),
    "AES-256-C": ("usmAesCfb256Protocol", "AES256"),
}

#: What SNMPv3 defines or pysnmp/snmpsim offer but this snmpd build cannot do, and why.
UNSUPPORTED: dict[str, str] = {
    "3DES": ("3DES-EDE privacy (usm3DESEDEPrivProtocol, draft-reeder-snmpv3-usm-3desede) is not implemented "
             "in net-snmp 5.9.3 at all: `createUser u SHA pw 3DES pw` logs 'Error: unknown privProtocol' and "
             "the user is not created; `snmpget -x 3DES` says 'Invalid privacy protocol specified'. pysnmp and "
             "snmpsim support it, so a 3DES test needs snmpsim as the agent."),
    "privacy without authentication": ("not a USM security level (RFC 3414): noAuthPriv does not exist, "
                                       "in any agent"),
}


# -- SNMPv3 users -------------------------------------------------------------------------------

@dataclass(frozen=True)
class V3User:
    """One USM user. Protocols use net-snmp's names (keys of AUTH_PROTOCOLS / PRIV_PROTOCOLS)."""

    name: str
    auth_proto: Optional[str] = None
    auth_key: Optional[str] = None
    priv_proto: Optional[str] = None
    priv_key: Optional[str] = None

    def __post_init__(self) -> None:
        if self.auth_proto is not None and self.auth_proto not in AUTH_PROTOCOLS:
            raise ValueError(f"{self.auth_proto}: not an auth protocol of this snmpd ({', '.join(AUTH_PROTOCOLS)})")
        if self.priv_proto is not None and self.priv_proto not in PRIV_PROTOCOLS:
            raise ValueError(f"{self.priv_proto}: not a priv protocol of this snmpd ({', '.join(PRIV_PROTOCOLS)})")
        if self.priv_proto and not self.auth_proto:
            raise ValueError("privacy needs authentication")
        for proto, key in ((self.auth_proto, self.auth_key), (self.priv_proto, self.priv_key)):
            if proto and (not key or len(key) < 8):
                raise ValueError(f"{self.name}: a {proto} pass phrase needs at least 8 characters")

    @property
    def level(self) -> str:
        """net-snmp `-l` security level: noAuthNoPriv, authNoPriv or authPriv."""
        if self.priv_proto:
            return "authPriv"
        return "authNoPriv" if self.auth_proto else "noAuthNoPriv"

    @property
    def secrets(self) -> tuple[str, ...]:
        """The pass phrases, for "never logged" assertions."""
        return tuple(key for key in (self.auth_key, self.priv_key) if key)

    def net_snmp_args(self, auth_key: Optional[str] = None, priv_key: Optional[str] = None) -> list[str]:
        """Arguments for snmpget & co (`auth_key`/`priv_key` override the right ones)."""
        args = ["-v3", "-l", self.level, "-u", self.name]
        if self.auth_proto:
            args += ["-a", self.auth_proto, "-A", auth_key or self.auth_key]
        if self.priv_proto:
            args += ["-x", self.priv_proto, "-X", priv_key or self.priv_key]
        return args

    def snmpd_conf(self) -> str:
        """createUser + rouser lines; the user may read everything at its own level or above."""
        create = f'createUser {self.name}'
        if self.auth_proto:
            create += f' {self.auth_proto} "{self.auth_key}"'
        if self.priv_proto:
            create += f' {self.priv_proto} "{self.priv_key}"'
        minimum = {"noAuthNoPriv": "noauth", "authNoPriv": "auth", "authPriv": "priv"}[self.level]
        return f"{create}\nrouser {self.name} {minimum}\n"

    def snmpsim_args(self) -> list[str]:
        args = [f"--v3-user={self.name}"]
        if self.auth_proto:
            args += [f"--v3-auth-key={self.auth_key}", f"--v3-auth-proto={AUTH_PROTOCOLS[self.auth_proto][1]}"]
        if self.priv_proto:
            args += [f"--v3-priv-key={self.priv_key}", f"--v3-priv-proto={PRIV_PROTOCOLS[self.priv_proto][1]}"]
        return args

    @property
    def pysnmp_auth_protocol(self):
        from pysnmp.hlapi.v3arch import asyncio as hlapi
        return getattr(hlapi, AUTH_PROTOCOLS[self.auth_proto][0]) if self.auth_proto else hlapi.usmNoAuthProtocol

    @property
    def pysnmp_priv_protocol(self):
        from pysnmp.hlapi.v3arch import asyncio as hlapi
        return getattr(hlapi, PRIV_PROTOCOLS[self.priv_proto][0]) if self.priv_proto else hlapi.usmNoPrivProtocol

    def usm_user_data(self, auth_key: Optional[str] = None, priv_key: Optional[str] = None):
        """pysnmp `UsmUserData` for this user (imported lazily: the lab itself needs no pysnmp)."""
        from pysnmp.hlapi.v3arch.asyncio import UsmUserData
        return UsmUserData(self.name,
                           authKey=(auth_key or self.auth_key) if self.auth_proto else None,
                           privKey=(priv_key or self.priv_key) if self.priv_proto else None,
                           authProtocol=self.pysnmp_auth_protocol, privProtocol=self.pysnmp_priv_protocol)

    def __repr__(self) -> str:  # pass phrases stay out of pytest ids and assertion messages
        return f"V3User({self.name!r}, {self.level}, auth={self.auth_proto}, priv={self.priv_proto})"


def _user_name(auth: Optional[str], priv: Optional[str]) -> str:
    parts = [(auth or "noauth").lower().replace("-", "")]
    if priv:
        parts.append(priv.lower().replace("-", ""))
    return "nv-" + "-".join(parts)


def _make_user(auth: Optional[str], priv: Optional[str]) -> V3User:
    name = _user_name(auth, priv)
    return V3User(name, auth, f"A:{name}:s3cret" if auth else None, priv, f"P:{name}:s3cret" if priv else None)


#: Every combination this snmpd build supports: 1 noAuthNoPriv + 6 authNoPriv + 36 authPriv.
#: Names like "nv-noauth", "nv-sha256", "nv-sha512-aes256c"; every pass phrase is distinct.
V3_USERS: tuple[V3User, ...] = (
    (_make_user(None, None),)
    + tuple(_make_user(auth, None) for auth in AUTH_PROTOCOLS)
    + tuple(_make_user(auth, priv) for auth in AUTH_PROTOCOLS for priv in PRIV_PROTOCOLS)
)
V3_USERS_BY_NAME: dict[str, V3User] = {user.name: user for user in V3_USERS}
NOAUTH_USER = V3_USERS_BY_NAME["nv-noauth"]

#: The v3 user of every SnmpSim (snmpsim's default would be MD5/DES "simulator").
SIM_USER = V3User("nv-sim", "SHA", "A:nv-sim:s3cret", "AES", "P:nv-sim:s3cret")


# -- net-snmp command-line tools -----------------------------------------------------------------

@dataclass(frozen=True)
class VarBind:
    """One line of net-snmp output (`-On -Oe`): `type` as net-snmp prints it, `text` after it.

    Types: INTEGER, STRING, Hex-STRING, OID, IpAddress, Counter32, Gauge32, Timeticks, Counter64,
    and for exceptions noSuchObject, noSuchInstance, endOfMibView.
    """

    type: str
    text: str

    @property
    def int(self) -> int:
        if self.type == "Timeticks":                      # "(1556) 0:00:15.56"
            return int(self.text.split(")")[0].lstrip("("))
        return int(self.text.split()[0])

    @property
    def bytes(self) -> bytes:
        if self.type == "Hex-STRING":
            return bytes.fromhex("".join(self.text.split()))
        if self.type == "STRING":
            return self.str.encode("latin-1")
        raise ValueError(f"{self.type} is not a string")

    @property
    def str(self) -> str:
        if self.type == "Hex-STRING":
            return self.bytes.decode("latin-1")
        if self.type == "STRING":
            text = self.text
            if len(text) >= 2 and text[0] == text[-1] == '"':
                text = text[1:-1]
            return text.replace('\\"', '"')
        return self.text


_EXCEPTIONS = {"No Such Object": "noSuchObject", "No Such Instance": "noSuchInstance",
               "No more variables": "endOfMibView"}
_LINE = re.compile(r"^\.?(\d+(?:\.\d+)*) = (.*)$")
_TYPED = re.compile(r"^([A-Za-z][A-Za-z0-9-]*): ?(.*)$", re.S)


def parse_varbinds(output: str) -> dict[str, VarBind]:
    """net-snmp `-On` output -> {"1.3.6...": VarBind}; multi-line values (Hex-STRING) joined."""
    entries: list[list[str]] = []
    for line in output.splitlines():
        match = _LINE.match(line)
        if match:
            entries.append([match.group(1), match.group(2)])
        elif entries:
            entries[-1][1] += "\n" + line
    result = {}
    for oid, rest in entries:
        rest = rest.rstrip()
        exception = next((name for prefix, name in _EXCEPTIONS.items() if rest.startswith(prefix)), None)
        if exception == "endOfMibView" and oid in result:
            continue                          # a walk past the end repeats the last OID: keep its value
        if exception:
            result[oid] = VarBind(exception, rest)
        elif rest == '""':
            result[oid] = VarBind("STRING", "")
        else:
            typed = _TYPED.match(rest)
            result[oid] = VarBind(typed.group(1), typed.group(2)) if typed else VarBind("", rest)
    return result


class SnmpToolError(AssertionError):
    def __init__(self, argv: Sequence[str], returncode: int, stdout: str, stderr: str) -> None:
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr
        shown = " ".join(argv[:1] + ["..."])                # the argv holds secrets
        super().__init__(f"{shown} exited {returncode}: {stderr.strip() or stdout.strip()}")


class NetSnmpTools:
    """snmpget/snmpset/snmpwalk/... with no MIBs and a private persistent dir (clients write
    `cert_indexes` there, and must not read a user's ~/.snmp/snmp.conf defaults)."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("SNMP")}
        self.env.update(MIBS=":", SNMPCONFPATH=str(self.state_dir), SNMP_PERSISTENT_DIR=str(self.state_dir))

    def run(self, tool: str, args: Sequence[str], timeout_s: float = 30) -> subprocess.CompletedProcess:
        argv = [require_binary(tool), *args]
        return subprocess.run(argv, capture_output=True, text=True, env=self.env, timeout=timeout_s)

    def query(self, tool: str, target: str, auth: Sequence[str], oids: Iterable[str], options: Sequence[str] = (),
              timeout_s: float = 1.0, retries: int = 0) -> dict[str, VarBind]:
        """Run `tool` (snmpget, snmpgetnext, snmpwalk, snmpbulkwalk, ...) and parse its answer.

        Raises SnmpToolError (with .stderr: "Timeout: No Response", "Authentication failure",
        ...) when the tool exits non-zero.
        """
        args = [*auth, "-On", "-Oe", *options, "-t", str(timeout_s), "-r", str(retries), target, *oids]
        done = self.run(tool, args, timeout_s=timeout_s * (retries + 1) * 4 + 30)
        if done.returncode != 0:
            raise SnmpToolError([tool], done.returncode, done.stdout, done.stderr)
        return parse_varbinds(done.stdout)


def _udp_port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_udp_port(addresses: Sequence[str]) -> int:
    """A UDP port free on every one of `addresses` (servers of the lab listen on one port on each)."""
    for _ in range(100):
        port = free_port(socket.SOCK_DGRAM, host=addresses[0])
        if all(_udp_port_free(address, port) for address in addresses[1:]):
            return port
    raise AssertionError(f"no UDP port free on all of {addresses}")


def snmpd_on_addresses(tmp_dir: Path, addresses: Sequence[str], users: Sequence["V3User"] = ()) -> "Snmpd":
    """One snmpd (not started) listening on the same free UDP port of every one of `addresses`:
    the benchmarks' pollers each get an agent address of their own, so per-agent gates and
    caches behave as with a fleet, while one process answers them all."""
    port = free_udp_port(addresses)
    others = ",".join(f"udp:{address}:{port}" for address in addresses[1:])
    return Snmpd(tmp_dir, address=addresses[0], port=port, users=users,
                 extra_conf=f"agentAddress {others}\n" if others else "")


Auth = Union[None, str, V3User]


def _wait_ready(process: Process, answers: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll `answers()` until true; fail at once, with the log, if the server exits meanwhile
    (lab.support.wait_until would swallow that and wait out its whole timeout)."""
    deadline = time.monotonic() + timeout_s
    while True:
        if not process.alive():
            raise AssertionError(f"{what} exited with {process.popen.returncode}:\n{process.log()}")
        if answers():
            return
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}:\n{process.log()}")
        time.sleep(0.02)


# -- net-snmp snmpd ---------------------------------------------------------------------------

class Snmpd(ServerProcess):
    """net-snmp snmpd with `COMMUNITY` (v1/v2c, from 127.0.0.0/8) and every `V3_USERS` user.

    Pitfall found here: with `-C`, snmpd reads no default config files, and
    that includes its own persistent file, so each start got a new random engine ID with
    snmpEngineBoots 1. The persistent file is therefore passed explicitly
    (`-c snmpd.conf,persist/snmpd.conf`): the engine ID survives restarts, boots go 1, 2, 3,
    and the usmUser lines it saves do not pile up (createUser lines are re-read each start).
    """

    STARTUP_TIMEOUT_S = 15.0

    def __init__(self, tmp_dir: Path, address: str = "127.0.0.1", port: Optional[int] = None,
                 community: str = COMMUNITY, users: Sequence[V3User] = V3_USERS, extra_conf: str = "") -> None:
        self.binary = require_binary("snmpd")
        require_binary("snmpget")
        self.dir = Path(tmp_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.address = address
        self.port = port or free_port(socket.SOCK_DGRAM, host=address)
        self.community = community
        self.users = tuple(users)
        self.users_by_name = {user.name: user for user in self.users}
        self.persist_dir = self.dir / "persist"
        if self.persist_dir.exists():                         # a fresh persistent dir per instance
            shutil.rmtree(self.persist_dir)
        self.persist_dir.mkdir()
        self.persist_file = self.persist_dir / "snmpd.conf"
        self.persist_file.touch()
        self.conf_path = self.dir / "snmpd.conf"
        self.log_path = self.dir / "snmpd.log"
        self.conf_path.write_text(
            "# netvigil test lab (lab/snmplab.py); run with -C, so no system config is read\n"
            f"[snmp] persistentDir {self.persist_dir}\n"
            f"agentAddress udp:{address}:{self.port}\n"
            "sysLocation netvigil-lab\nsysContact noc@example.invalid\nsysName netvigil-snmpd\nsysServices 72\n"
            f"rocommunity {community} 127.0.0.0/8\n"
            "dontLogTCPWrappersConnects yes\n"
            + "".join(user.snmpd_conf() for user in self.users)
            + extra_conf + ("\n" if extra_conf and not extra_conf.endswith("\n") else ""))
        self.tools = NetSnmpTools(self.dir / "client")
        self.process: Optional[Process] = None
        self.ready_s: Optional[float] = None                  # seconds from exec to first answer
        self._engine_id: Optional[bytes] = None

    # lifecycle
    def start(self) -> "Snmpd":
        assert self.process is None, "already running"
        env = {k: v for k, v in os.environ.items() if not k.startswith("SNMP")}
        env.update(MIBS=":", SNMP_PERSISTENT_DIR=str(self.persist_dir))
        started = time.monotonic()
        # -I -smux: no SMUX listener on the fixed TCP port 199 (instances would fight over it).
        self.process = Process([self.binary, "-f", "-Lo", "-C", "-c", f"{self.conf_path},{self.persist_file}",
                                "-I", "-smux"], self.log_path, env=env)
        _wait_ready(self.process, self._ready, self.STARTUP_TIMEOUT_S,
                    f"snmpd on {self.address}:{self.port} (log: {self.log_path})")
        self.ready_s = time.monotonic() - started
        return self

    def _ready(self) -> bool:
        done = self.tools.run("snmpget", ["-v2c", "-c", self.community, "-On", "-t", "0.05", "-r", "0",
                                          self.target, SYS_UPTIME], timeout_s=5)
        return done.returncode == 0

    # stop(): SIGTERM; snmpd saves its persistent file (engineBoots, usmUser) and exits at once.
    # restart(): a "reboot": same port, persistent dir and engine ID; snmpEngineBoots + 1, uptime from 0.

    # addressing
    @property
    def endpoint(self) -> tuple[str, int]:
        return self.address, self.port

    @property
    def target(self) -> str:
        return f"udp:{self.address}:{self.port}"

    def user(self, name: str) -> V3User:
        return self.users_by_name[name]

    # queries with net-snmp's own tools
    def auth_args(self, auth: Auth = None, version: str = "2c") -> list[str]:
        """None: v1/v2c with the community; a str: that community; a V3User: v3 as that user."""
        if isinstance(auth, V3User):
            return auth.net_snmp_args()
        return [f"-v{version}", "-c", auth if isinstance(auth, str) else self.community]

    def get(self, *oids: str, auth: Auth = None, version: str = "2c", options: Sequence[str] = (),
            timeout_s: float = 1.0) -> dict[str, VarBind]:
        return self.tools.query("snmpget", self.target, self.auth_args(auth, version), oids, options, timeout_s)

    def walk(self, oid: str, auth: Auth = None, version: str = "2c", options: Optional[Sequence[str]] = None,
             timeout_s: float = 1.0) -> dict[str, VarBind]:
        """snmpbulkwalk (-Cr25 unless `options` say otherwise); snmpwalk (GETNEXT) for v1."""
        tool = "snmpwalk" if version == "1" else "snmpbulkwalk"
        options = options if options is not None else (() if version == "1" else ("-Cr25",))
        return self.tools.query(tool, self.target, self.auth_args(auth, version), [oid], options, timeout_s)

    @property
    def engine_id(self) -> bytes:
        """snmpEngineID (stable across restart(); read once via snmpget as the noAuthNoPriv user)."""
        if self._engine_id is None:
            self._engine_id = self.get(SNMP_ENGINE_ID, auth=self._noauth_user()).get(SNMP_ENGINE_ID).bytes
        return self._engine_id

    def engine_boots(self) -> int:
        return self.get(SNMP_ENGINE_BOOTS, auth=self._noauth_user())[SNMP_ENGINE_BOOTS].int

    def uptime_ticks(self) -> int:
        return self.get(SYS_UPTIME)[SYS_UPTIME].int

    def _noauth_user(self) -> V3User:
        if not self.users:
            raise AssertionError("this snmpd has no v3 user to read snmpEngine* with; see saved_engine_id()")
        return next((u for u in self.users if u.level == "noAuthNoPriv"), self.users[0])

    def saved_engine_boots(self) -> Optional[int]:
        """engineBoots in the persistent file (snmpd writes it at start and at stop)."""
        match = re.search(r"^engineBoots (\d+)$", self.persist_file.read_text(), re.M)
        return int(match.group(1)) if match else None

    def saved_engine_id(self) -> Optional[bytes]:
        """oldEngineID in the persistent file (written at start): the engine ID without SNMP."""
        match = re.search(r"^oldEngineID 0x([0-9a-fA-F]+)$", self.persist_file.read_text(), re.M)
        return bytes.fromhex(match.group(1)) if match else None


# -- snmpsim -----------------------------------------------------------------------------------

_NAME = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")


class SnmpSim(ServerProcess):
    """snmpsim-command-responder on a free UDP port of one or more addresses (same port on each).

    `recordings`: recordings to serve (default: ALL_RECORDINGS, the first ten and the project's
    own), as copies
    (symlinks collapse into one community: snmpsim names it after the link's target and drops
    the others as duplicates). `extra_files`: {"name": snmprec text};
    "name" (or "site1/name", optionally ending ".snmprec") becomes a community and a v3
    context name. Lines may use variation modules, e.g.::

        1.3.6.1.2.1.1.3.0|67:writecache|value=500000     # SET it lower: an uptime that goes back
        1.3.6.1.2.1.1.3.0|67:numeric|rate=100,initial=0  # ticks like a real uptime
        1.3.6.1.2.1.31.1.1.1.6.1|70:numeric|rate=125000000,initial=0

    (`function=random` does not work; writecache values are lost on restart(), which is another
    way to "reboot" a simulated device.) Every address serves every community.

    Start: 0.7 s for the first ten recordings (index built cold in the private cache dir).
    Stop: SIGTERM ends it at once here (about 0.01 s including the wait); an earlier 1.2 s was a
    `kill -0` loop seeing the unreaped zombie. Still, share the session `snmpsim` for reads.
    """

    STARTUP_TIMEOUT_S = 30.0

    def __init__(self, tmp_dir: Path, recordings: Optional[Sequence[str]] = None,
                 extra_files: Optional[Mapping[str, str]] = None, addresses: Sequence[str] = ("127.0.0.1",),
                 port: Optional[int] = None, v3_users: Sequence[V3User] = (SIM_USER,),
                 log_level: str = "error") -> None:
        binary = VENV_BIN / "snmpsim-command-responder"
        if not binary.exists():
            raise AssertionError(f"{binary} is missing; run scripts/setup-venv.sh test (snmpsim, pysmi)")
        require_binary("snmpget")
        if any(user.priv_proto for user in v3_users) and importlib.util.find_spec("cryptography") is None:
            raise AssertionError("snmpsim (pysnmp) needs the `cryptography` package for v3 privacy; without it "
                                 "authPriv requests get a decryption-error report. Add it to the project's "
                                 "dependencies (pysnmp declares it only in its dev extra).")
        self.binary = str(binary)
        self.dir = Path(tmp_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.data_dir = self.dir / "data"
        self.cache_dir = self.dir / "cache"
        for path in (self.data_dir, self.cache_dir):
            if path.exists():
                shutil.rmtree(path)
            path.mkdir()
        self.recordings = tuple(ALL_RECORDINGS if recordings is None else recordings)
        for name in self.recordings:
            source = recording_path(name)
            shutil.copyfile(source, self.data_dir / source.name)  # a real, writable copy
        self.extra = {}
        for name, text in (extra_files or {}).items():
            name = name[:-len(".snmprec")] if name.endswith(".snmprec") else name
            if not _NAME.match(name) or ".." in name.split("/"):
                raise ValueError(f"{name!r}: use letters, digits, _ . - and / only")
            if name in self.recordings or name in self.extra:
                raise ValueError(f"{name}: duplicate community")
            path = self.data_dir / f"{name}.snmprec"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text if text.endswith("\n") else text + "\n")
            self.extra[name] = path
        self.communities: tuple[str, ...] = self.recordings + tuple(self.extra)
        if not self.communities:
            raise ValueError("nothing to serve: give recordings or extra_files")
        self.addresses = tuple(addresses)
        self.port = port or free_udp_port(self.addresses)
        self.v3_users = tuple(v3_users)
        self.log_level = log_level
        self.log_path = self.dir / "snmpsim.log"
        self.tools = NetSnmpTools(self.dir / "client")
        self.process: Optional[Process] = None
        self.ready_s: Optional[float] = None

    @property
    def argv(self) -> list[str]:
        # Order matters: everything after --v3-engine-id belongs to that engine (a --data-dir
        # before the first one makes an extra engine, which fails for want of an endpoint).
        argv = [self.binary, f"--cache-dir={self.cache_dir}", f"--log-level={self.log_level}",
                "--v3-engine-id=auto", f"--data-dir={self.data_dir}"]
        for user in self.v3_users:
            argv += user.snmpsim_args()
        argv += [f"--agent-udpv4-endpoint={address}:{self.port}" for address in self.addresses]
        return argv

    def start(self) -> "SnmpSim":
        assert self.process is None, "already running"
        env = dict(os.environ, SNMPSIM_ALLOW_ROOT="true")  # as root it refuses otherwise, and dropping
        # privileges breaks imports from an interpreter under /root (mode 0700)
        started = time.monotonic()
        self.process = Process(self.argv, self.log_path, env=env, cwd=self.dir)
        for address in self.addresses:
            _wait_ready(self.process, lambda: self._ready(address), self.STARTUP_TIMEOUT_S,
                        f"snmpsim on {address}:{self.port} (log: {self.log_path})")
        self.ready_s = time.monotonic() - started
        return self

    def _ready(self, address: str) -> bool:
        # Any answer will do, even noSuchObject (abbups and Cisco_sfe2000 have no sysUpTime).
        done = self.tools.run("snmpget", ["-v2c", "-c", self.communities[0], "-On", "-t", "0.05", "-r", "0",
                                          f"udp:{address}:{self.port}", SYS_DESCR], timeout_s=5)
        return " = " in done.stdout

    # restart() (ServerProcess): same port and data; writecache values go back to the file's.

    @property
    def address(self) -> str:
        return self.addresses[0]

    @property
    def endpoint(self) -> tuple[str, int]:
        return self.addresses[0], self.port

    @property
    def endpoints(self) -> list[tuple[str, int]]:
        return [(address, self.port) for address in self.addresses]

    def target(self, address: Optional[str] = None) -> str:
        return f"udp:{address or self.addresses[0]}:{self.port}"

    def auth_args(self, community: str, user: Optional[V3User] = None, version: str = "2c") -> list[str]:
        """v1/v2c with `community`, or v3 as `user` with context name = `community`."""
        if user is not None:
            return user.net_snmp_args() + ["-n", community]
        return [f"-v{version}", "-c", community]

    def get(self, community: str, *oids: str, user: Optional[V3User] = None, version: str = "2c",
            address: Optional[str] = None, options: Sequence[str] = (), timeout_s: float = 2.0) -> dict[str, VarBind]:
        return self.tools.query("snmpget", self.target(address), self.auth_args(community, user, version), oids,
                                options, timeout_s)

    def walk(self, community: str, oid: str = "1", user: Optional[V3User] = None, version: str = "2c",
             address: Optional[str] = None, options: Optional[Sequence[str]] = None,
             timeout_s: float = 2.0) -> dict[str, VarBind]:
        """snmpbulkwalk (-Cr25 unless `options` say otherwise); snmpwalk (GETNEXT) for v1."""
        tool = "snmpwalk" if version == "1" else "snmpbulkwalk"
        options = options if options is not None else (() if version == "1" else ("-Cr25",))
        return self.tools.query(tool, self.target(address), self.auth_args(community, user, version), [oid],
                                options, timeout_s)

    def set(self, community: str, oid: str, type_: str, value: Union[str, int], version: str = "2c",
            address: Optional[str] = None, timeout_s: float = 2.0) -> dict[str, VarBind]:
        """snmpset: `type_` is net-snmp's letter: i (Integer), u (Gauge32), t (TimeTicks), s, x, o, a, c, C."""
        return self.tools.query("snmpset", self.target(address), self.auth_args(community, None, version),
                                [oid, type_, str(value)], timeout_s=timeout_s)


def typed_rows(varbinds: Mapping[str, "VarBind"]) -> list[tuple]:
    """(oid, probes.snmp.ber.Kind, value) of a net-snmp tool's `-Ox` output (strings in hex, so
    bytes compare exactly), endOfMibView left out: what netvigil's client returns, to compare."""
    from probes.snmp.ber import Kind

    kinds = {"INTEGER": Kind.INTEGER, "Counter32": Kind.COUNTER32, "Gauge32": Kind.GAUGE32,
             "Counter64": Kind.COUNTER64, "Timeticks": Kind.TIMETICKS}
    rows = []
    for oid, vb in varbinds.items():
        if vb.type == "endOfMibView":
            continue
        if vb.type == "Hex-STRING" or (vb.type == "STRING" and vb.text == ""):  # -Ox: "" is the only STRING
            rows.append((oid, Kind.OCTETS, vb.bytes))
        elif vb.type == "OID":
            rows.append((oid, Kind.OID, vb.text.lstrip(".")))
        elif vb.type == "IpAddress":
            rows.append((oid, Kind.IPADDRESS, vb.text.strip()))
        elif vb.type in kinds:
            rows.append((oid, kinds[vb.type], vb.int))
        else:
            raise AssertionError(f"the net-snmp tool printed a type this lab does not parse: {vb!r}")
    return rows


def recording_values(name: str) -> dict[str, tuple[str, str]]:
    """Recording `name` (one of the first ten or the project's own) as {oid: (tag, value)},
    read from the original."""
    values = {}
    for line in recording_path(name).read_text().splitlines():
        if line.strip():
            oid, tag, value = line.split("|", 2)
            values[oid] = (tag, value)
    return values


# -- pytest fixtures (import them in tests/conftest.py) -------------------------------------------

@pytest.fixture(scope="session")
def snmpd(tmp_path_factory) -> Snmpd:
    """One snmpd for the session (community COMMUNITY, all V3_USERS). Do not stop or restart it."""
    server = Snmpd(tmp_path_factory.mktemp("snmpd")).start()
    yield server
    server.stop()


@pytest.fixture
def private_snmpd(tmp_path) -> Snmpd:
    """An snmpd of this test's own, which it may stop and restart ("reboot")."""
    server = Snmpd(tmp_path / "snmpd").start()
    yield server
    server.stop()


@pytest.fixture
def snmpd_factory(tmp_path) -> Callable[..., Snmpd]:
    """`make(address="127.0.0.1", **Snmpd kwargs)` -> a started Snmpd; all stopped after the test.

    For a second device, use an address of this process's own (lab.netlab.loopback_addresses),
    since drop_input() refuses 127.0.0.1: `nft_table([drop_input(dead.address, f"udp dport {dead.port}")])`.
    """
    servers: list[Snmpd] = []

    def make(address: str = "127.0.0.1", **kwargs) -> Snmpd:
        server = Snmpd(tmp_path / f"snmpd{len(servers)}", address=address, **kwargs)
        servers.append(server)
        return server.start()

    yield make
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def snmpsim(tmp_path_factory) -> SnmpSim:
    """One snmpsim for the session serving every recording (community = ALL_RECORDINGS name;
    v3: SIM_USER with context name = recording name). Read-only: no writecache; do not restart."""
    server = SnmpSim(tmp_path_factory.mktemp("snmpsim")).start()
    yield server
    server.stop()


@pytest.fixture
def snmpsim_factory(tmp_path) -> Callable[..., SnmpSim]:
    """`make(recordings=[...], extra_files={...}, addresses=[...], ...)` -> a started SnmpSim of
    this test's own (recordings default to none here); stopped after the test."""
    servers: list[SnmpSim] = []

    def make(recordings: Sequence[str] = (), **kwargs) -> SnmpSim:
        server = SnmpSim(tmp_path / f"snmpsim{len(servers)}", recordings=recordings, **kwargs)
        servers.append(server)
        return server.start()

    yield make
    for server in servers:
        server.stop()
