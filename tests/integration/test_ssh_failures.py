"""Login failures say the same thing on both SSH paths: asyncssh (exec) and netmiko/paramiko (cli).

Real servers on loopback, each failing at one phase: a tarpit that never sends a banner, one
that sends a banner and then nothing, an endless pre-version banner, a closed port, the
simulated CLI stuck at authentication or mute after login (lab/sshsim.py), and OpenSSH's sshd
with a wrong password or a host key other than the known one. Each case runs through both
drivers at once and must give the same error code and the same sentence (apart from the
mute CLI, where exec times out a command and the CLI its prompt: both name
command_timeout_s), no traceback on stderr or in any log record, and no word of netmiko's
`conn_timeout` advice: netvigil has no such setting. Then the command line, where no log
handler is installed and paramiko's thread used to print its traceback itself.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import asyncssh
import pytest

from lab.sshsim import CliSim, EndlessBanner, Tarpit
from probes.base import Target
from probes.ssh.hostkeys import HostKeyStore
from probes.ssh.prober import ErrorCode, SshProber
from probes.ssh.profiles import load_profiles
from probes.ssh.settings import SshSettings
from tests.integration.test_daemon import NETVIGIL

pytestmark = pytest.mark.integration

PROFILES = load_profiles([])
# One command on the exec side: a mute server costs command_timeout_s per command there.
_UPTIME = [c for c in PROFILES["linux"].commands if c.name == "uptime"]
PROFILES["linux_uptime"] = PROFILES["linux"].model_copy(update={"name": "linux_uptime", "commands": tuple(_UPTIME)})
DRIVERS = {"exec": "linux_uptime", "cli": "huawei_vrp"}
VRP_USER = {"username": "admin", "password": "Admin@123"}
FORBIDDEN = ("Traceback", "conn_timeout")


def _settings(port: int, credential: dict, profile: str, **more) -> SshSettings:
    values = {"credentials": {"c": credential}, "credential": "c", "port": port, "profiles": [profile],
              "known_hosts": [], "connect_timeout_s": 1, "auth_timeout_s": 1, "command_timeout_s": 1,
              "session_timeout_s": 10, "host_key_policy": "tofu"}
    values.update(more)
    return SshSettings.model_validate(values)


async def _probe_one(driver: str, port: int, credential: dict, tmp_path: Path, known_hosts: str = "", **more):
    settings = _settings(port, credential, DRIVERS[driver], **more)
    known = tmp_path / f"known_hosts_{driver}"
    known.write_text(known_hosts)
    prober = SshProber(settings, PROFILES, HostKeyStore([known], tmp_path / f"tofu_{driver}"))
    errors: list[str] = []
    started = time.monotonic()
    try:
        samples = await prober.probe([Target("dev", "127.0.0.1", {"device": "dev"})], lambda _n: settings,
                                     on_error=lambda _t, e: errors.append(e.detail))
    finally:
        prober.close()
    return samples[0].fields, errors, time.monotonic() - started


async def _both(port: int, credential: dict, tmp_path: Path, known_hosts: str = "", **more) -> dict:
    results = await asyncio.gather(*(_probe_one(driver, port, credential, tmp_path, known_hosts, **more)
                                     for driver in DRIVERS))
    return dict(zip(DRIVERS, results))


def _assert_quiet(caplog, capfd) -> None:
    out, err = capfd.readouterr()
    for word in FORBIDDEN:
        assert word not in err and word not in out, err or out
    for record in caplog.records:
        assert record.exc_info is None, record.getMessage()
        assert not any(word in record.getMessage() for word in FORBIDDEN), record.getMessage()


@pytest.fixture
def all_logs(caplog):
    caplog.set_level(logging.DEBUG)  # paramiko's lines, demoted to debug, included
    return caplog


def _timeout_sentence(port: int) -> str:
    return (f"no SSH connection to 127.0.0.1 port {port} within connect_timeout_s = 1 s "
            "(TCP connect, banner or key exchange)")


@pytest.mark.serial  # bounds on the time each failure costs: no other workers' load beside it
@pytest.mark.parametrize("server", ["no banner", "banner then silence", "endless banner"])
async def test_a_tarpit_is_a_connect_timeout_naming_connect_timeout_s(tmp_path, all_logs, capfd, server):
    tarpit = {"no banner": Tarpit(), "banner then silence": Tarpit(banner=b"SSH-2.0-OpenSSH_9.2\r\n"),
              "endless banner": EndlessBanner()}[server]
    await tarpit.start()
    try:
        results = await _both(tarpit.port, VRP_USER, tmp_path)
        # Both drivers connected; the tarpit held each until connect_timeout_s.
        assert tarpit.connections_total == 2
    finally:
        await tarpit.stop()
    for driver, (summary, errors, elapsed) in results.items():
        assert (summary["error_code"], summary["up"]) == (ErrorCode.TIMEOUT, 0), (driver, errors)
        assert errors == [_timeout_sentence(tarpit.port)], driver
        assert 0.9 <= elapsed < 1 + 3, (driver, elapsed)  # netmiko's own defaults: 10 s, 15 s
    await asyncio.sleep(1.2)  # paramiko's transport thread gives up on the banner in the meantime
    _assert_quiet(all_logs, capfd)


async def test_a_closed_port_is_refused(tmp_path, all_logs, capfd):
    closed = await Tarpit().start()
    port = closed.port
    await closed.stop()
    results = await _both(port, VRP_USER, tmp_path)
    for driver, (summary, errors, _) in results.items():
        assert (summary["error_code"], summary["up"]) == (ErrorCode.REFUSED, 0), (driver, errors)
        assert errors == [f"connection refused by 127.0.0.1 port {port} (no SSH server on that port)"], driver
    _assert_quiet(all_logs, capfd)


@pytest.mark.serial  # bounds on the time each failure costs: no other workers' load beside it
async def test_a_server_that_closes_after_its_banner_is_disconnected(tmp_path, all_logs, capfd):
    closing = await Tarpit(banner=b"SSH-2.0-OpenSSH_9.2\r\n", close_after_banner=True).start()
    try:
        results = await _both(closing.port, VRP_USER, tmp_path)
    finally:
        await closing.stop()
    for driver, (summary, errors, elapsed) in results.items():
        assert (summary["error_code"], summary["up"]) == (ErrorCode.DISCONNECTED, 1), (driver, errors)
        assert errors[0].startswith(f"127.0.0.1 port {closing.port} closed the connection during login"), errors
        assert "Error" not in errors[0] or "Errno" in errors[0], errors  # no bare exception class name
        assert elapsed < 3, (driver, elapsed, errors)
    _assert_quiet(all_logs, capfd)


@pytest.mark.serial  # bounds on the time each failure costs: no other workers' load beside it
async def test_a_login_that_never_completes_names_auth_timeout_s(tmp_path, all_logs, capfd):
    sim = await CliSim(behaviour="stuck_auth").start()
    try:
        results = await _both(sim.port, VRP_USER, tmp_path)
    finally:
        await sim.stop()
    for driver, (summary, errors, elapsed) in results.items():
        assert (summary["error_code"], summary["up"]) == (ErrorCode.AUTH_TIMEOUT, 1), (driver, errors)
        assert errors == ["login as 'admin' not complete within auth_timeout_s = 1 s"], driver
        assert elapsed < 1 + 1 + 3, (driver, elapsed)
    _assert_quiet(all_logs, capfd)


@pytest.mark.serial  # bounds on the time each failure costs: no other workers' load beside it
async def test_a_mute_server_after_login_names_command_timeout_s(tmp_path, all_logs, capfd):
    sim = await CliSim(behaviour="mute").start()
    try:
        results = await _both(sim.port, VRP_USER, tmp_path)
    finally:
        await sim.stop()
    summary, errors, elapsed = results["exec"]
    assert (summary["error_code"], summary["up"]) == (ErrorCode.COMMAND_TIMEOUT, 1), errors
    assert errors == ["`cat /proc/uptime` did not finish within command_timeout_s = 1 s"]
    summary, errors, elapsed = results["cli"]
    assert (summary["error_code"], summary["up"]) == (ErrorCode.COMMAND_TIMEOUT, 1), errors
    assert errors == [f"logged in to 127.0.0.1 port {sim.port}, but no CLI prompt came back within "
                      "command_timeout_s = 1 s (a busy device, or not a 'huawei' CLI)"]
    # netmiko's huawei driver waits 20 s for a first prompt of its own; command_timeout_s bounds it.
    assert elapsed < 1 + 4, elapsed
    _assert_quiet(all_logs, capfd)


async def test_sshd_refusing_a_wrong_password_and_showing_another_key(sshd, tmp_path, all_logs, capfd):
    wrong = {"username": sshd.user, "password": "not-" + sshd.password}
    results = await _both(sshd.port, wrong, tmp_path, sshd.known_hosts_line() + "\n", host_key_policy="known_hosts")
    for driver, (summary, errors, _) in results.items():
        assert (summary["error_code"], summary["up"]) == (ErrorCode.AUTH, 1), (driver, errors)
        assert errors == [f"login as {sshd.user!r} refused by 127.0.0.1 port {sshd.port} (wrong password or key, "
                          "or the account may not log in)"], driver
        assert sshd.password not in errors[0]
    other = asyncssh.generate_private_key("ssh-ed25519")
    other_line = f"[127.0.0.1]:{sshd.port} " + " ".join(other.export_public_key("openssh").decode().split()[:2])
    right = {"username": sshd.user, "password": sshd.password}
    results = await _both(sshd.port, right, tmp_path, other_line + "\n", host_key_policy="tofu")
    offered = asyncssh.import_public_key(sshd.host_key_line).get_fingerprint("sha256")
    expected = (f"host key CHANGED for [127.0.0.1]:{sshd.port}: it offered {offered}, known is "
                f"{other.get_fingerprint('sha256')}; this may be an attack (or a replaced device): check it, then "
                "replace the line in the known_hosts file or the trust-on-first-use record")
    for driver, (summary, errors, _) in results.items():
        assert (summary["error_code"], summary["up"]) == (ErrorCode.HOST_KEY_CHANGED, 1), (driver, errors)
        assert errors == [expected], driver
    _assert_quiet(all_logs, capfd)


# -- the command line: no log handler, so paramiko's thread printed its traceback on stderr --------

def _write_settings(workdir: Path, port: int) -> Path:
    (workdir / "inventory.yaml").write_text(
        "sites:\n  - {name: room, level: room}\n"
        "classes:\n  switch: {}\n"
        "devices:\n"
        f"  - {{name: sw-stuck, address: 127.0.0.1, class: switch, site: room, icmp: {{enabled: false}},\n"
        f"      ssh: {{credential: vrp, profiles: [huawei_vrp], port: {port}, host_key_policy: tofu, backup: true}}}}\n")
    settings = workdir / "netvigil.yaml"
    settings.write_text(
        "inventory: [inventory.yaml]\nstate_dir: state\n"
        "probes:\n  ssh:\n"
        "    connect_timeout_s: 1\n    auth_timeout_s: 1\n    command_timeout_s: 1\n    session_timeout_s: 10\n"
        "    known_hosts: []\n"
        "    credentials: {vrp: {username: admin, password: Admin@123}}\n")
    return settings


async def _netvigil(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(NETVIGIL, *args, stdout=asyncio.subprocess.PIPE,
                                                   stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode, out.decode(), err.decode()


@pytest.mark.parametrize("server", ["banner then silence", "mute CLI"])
async def test_probe_and_config_fetch_print_one_sentence(tmp_path, server):
    if server == "mute CLI":
        hung = await CliSim(behaviour="mute").start()
        sentence = (f"logged in to 127.0.0.1 port {hung.port}, but no CLI prompt came back within "
                    "command_timeout_s = 1 s (a busy device, or not a 'huawei' CLI)")
    else:
        hung = await Tarpit(banner=b"SSH-2.0-OpenSSH_9.2\r\n").start()
        sentence = _timeout_sentence(hung.port)
    try:
        settings = _write_settings(tmp_path, hung.port)
        probed, fetched = await asyncio.gather(_netvigil("probe", "sw-stuck", "--kind", "ssh", "-c", str(settings)),
                                               _netvigil("config", "fetch", "sw-stuck", "-c", str(settings)))
        code, out, err = probed
        assert code == 1, (out, err)
        assert f"\n  {sentence}\n" in out, out
        for word in FORBIDDEN:
            assert word not in err and word not in out, err
        code, out, err = fetched
        assert code == 1, (out, err)
        kind = "command_timeout" if server == "mute CLI" else "timeout"
        assert err.splitlines() == [f"sw-stuck: configuration not fetched ({kind}): configuration backup: {sentence}"]
        assert "Traceback" not in out and "conn_timeout" not in out
    finally:
        await hung.stop()


# -- a failing stage of a pipeline fails the command (exec profiles of a POSIX shell) ----------------

FAILING_SYSTEMCTL = "#!/bin/sh\necho 'Failed to connect to bus: Host is down' >&2\nexit 1\n"
TWO_FAILED_UNITS = ("#!/bin/sh\nprintf '%s\\n' 'nginx.service loaded failed failed A high performance web server' "
                    "'rsyslog.service loaded failed failed System Logging Service'\n")
NO_FAILED_UNIT = "#!/bin/sh\nexit 0\n"


def _stand_in(sshd, name: str, script: str) -> Path:
    path = sshd.bin_dir / name
    path.write_text(script)
    path.chmod(0o755)
    return path


async def _exec_probe(sshd, tmp_path: Path, profiles: dict, names: tuple[str, ...]):
    settings = SshSettings.model_validate({
        "credentials": {"c": {"username": sshd.user, "private_key_file": str(sshd.client_key_path)}},
        "credential": "c", "port": sshd.port, "profiles": list(names), "known_hosts": [], "connect_timeout_s": 2,
        "auth_timeout_s": 2, "command_timeout_s": 2, "session_timeout_s": 10})
    known = tmp_path / "known_hosts"
    known.write_text(sshd.known_hosts_line() + "\n")
    prober = SshProber(settings, profiles, HostKeyStore([known], None))
    errors: list[str] = []
    try:
        samples = await prober.probe([Target("srv", "127.0.0.1", {"device": "srv"})], lambda _n: settings,
                                     on_error=lambda _t, e: errors.append(e.detail))
    finally:
        prober.close()
    commands = {s.tags["command"]: s.fields for s in samples if s.measurement == "ssh_command"}
    return samples[0].fields, commands, errors


async def test_linux_systemd_fails_when_systemctl_fails(sshd, tmp_path):
    command = PROFILES["linux_systemd"].commands[0].command
    try:
        _stand_in(sshd, "systemctl", FAILING_SYSTEMCTL)
        summary, commands, errors = await _exec_probe(sshd, tmp_path, PROFILES, ("linux_systemd",))
        assert summary["error_code"] == ErrorCode.COMMAND_FAILED and summary["commands_ok"] == 0, errors
        assert commands["failed_units"]["ok"] == 0 and commands["failed_units"]["exit_status"] == 1
        assert "failed_units" not in commands["failed_units"]  # no count is better than a false 0
        assert errors == [f"`{command}` exited with status 1: Failed to connect to bus: Host is down"]

        _stand_in(sshd, "systemctl", TWO_FAILED_UNITS)
        summary, commands, errors = await _exec_probe(sshd, tmp_path, PROFILES, ("linux_systemd",))
        assert summary["error_code"] == ErrorCode.COMMAND_FAILED, errors
        assert commands["failed_units"]["failed_units"] == 2 and commands["failed_units"]["ok"] == 0
        assert commands["failed_units"]["exit_status"] == 0

        _stand_in(sshd, "systemctl", NO_FAILED_UNIT)
        summary, commands, errors = await _exec_probe(sshd, tmp_path, PROFILES, ("linux_systemd",))
        assert errors == [] and summary["error_code"] == 0
        assert commands["failed_units"]["failed_units"] == 0 and commands["failed_units"]["ok"] == 1
    finally:
        (sshd.bin_dir / "systemctl").unlink(missing_ok=True)


async def test_exec_pipelines_of_a_linux_profile_run_with_pipefail(sshd, tmp_path):
    # The account's login shell is /bin/sh, dash here (no `set -o pipefail` in dash 0.5.12):
    # the prologue falls back to bash. A profile for something else than a shell (device_type
    # generic: a switch's exec channel) gets its commands as they are.
    def pipes(name: str, device_type: str):
        commands = [{"name": "first_fails", "command": "false | cat"},
                    {"name": "last_fails", "command": "echo x | false"},
                    {"name": "none_fails", "command": "printf '%s\\n' \"it's fine\" | cat", "expect": ["^it's fine$"]}]
        return PROFILES["linux"].model_validate({"name": name, "driver": "exec", "device_type": device_type,
                                                 "commands": commands})

    profiles = {**PROFILES, "shell_pipes": pipes("shell_pipes", "linux"), "raw_pipes": pipes("raw_pipes", "generic")}
    summary, commands, errors = await _exec_probe(sshd, tmp_path, profiles, ("shell_pipes",))
    assert {name: (c["exit_status"], c["ok"]) for name, c in commands.items()} == {
        "first_fails": (1, 0), "last_fails": (1, 0), "none_fails": (0, 1)}, errors
    assert errors == ["`false | cat` exited with status 1: no output"]
    summary, commands, errors = await _exec_probe(sshd, tmp_path, profiles, ("raw_pipes",))
    assert commands["first_fails"]["exit_status"] == 0  # the login shell's own rule: the last stage's status
    assert commands["last_fails"]["exit_status"] == 1


async def test_without_pipefail_or_bash_the_systemd_check_still_fails(tmp_path):
    # A target whose sh is an old dash and that has no bash: the prologue runs the command
    # as it is, and linux_systemd, which does not rely on pipefail, still sees systemctl fail.
    import os
    import shutil
    import subprocess

    from probes.ssh.exec import with_pipefail

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("cat", "false", "awk"):
        os.symlink(shutil.which(tool), bin_dir / tool)
    os.symlink(shutil.which("dash"), bin_dir / "sh")
    (bin_dir / "systemctl").write_text(FAILING_SYSTEMCTL)
    (bin_dir / "systemctl").chmod(0o755)
    env = {"PATH": str(bin_dir)}

    def run(command: str) -> subprocess.CompletedProcess:
        return subprocess.run([shutil.which("dash"), "-c", with_pipefail(command)], env=env, capture_output=True,
                              text=True, timeout=10)

    assert run("false | cat").returncode == 0  # what the documentation warns about
    systemd = run(PROFILES["linux_systemd"].commands[0].command)
    assert (systemd.returncode, systemd.stdout, systemd.stderr) == (1, "", "Failed to connect to bus: Host is down\n")
    (bin_dir / "systemctl").write_text(TWO_FAILED_UNITS)
    systemd = run(PROFILES["linux_systemd"].commands[0].command)
    assert (systemd.returncode, systemd.stdout) == (0, "2\n")
