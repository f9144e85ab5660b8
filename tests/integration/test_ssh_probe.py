"""The SSH probe against real servers: OpenSSH sshd (a Linux host) over exec channels, and the
simulated Huawei VRP CLI (real captures) through netmiko's huawei driver; host keys
(known_hosts, trust on first use, a changed key); every bound (hostile servers, timeouts,
output limits, sessions per device and overall).

Expected values come from the server itself (this machine's /proc, the captures parsed by
ntc-templates directly), never from netvigil's own code.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from pathlib import Path

import asyncssh
import pytest

from probes.base import Target
from probes.ssh.prober import ErrorCode, SshProber
from probes.ssh.hostkeys import HostKeyStore
from probes.ssh.profiles import load_profiles
from probes.ssh.settings import SshSettings
from lab.sshsim import CliSim, EndlessBanner, capture

pytestmark = pytest.mark.integration

PROFILES = load_profiles([])


def _settings(port: int, credential: dict, profiles=("linux",), **more) -> SshSettings:
    values = {"credentials": {"c": credential}, "credential": "c", "port": port, "profiles": list(profiles),
              "known_hosts": [], "connect_timeout_s": 5, "auth_timeout_s": 5, "command_timeout_s": 10,
              "session_timeout_s": 25}
    values.update(more)
    return SshSettings.model_validate(values)


def _prober(settings: SshSettings, tmp_path: Path, known_hosts: str = "") -> SshProber:
    path = tmp_path / "known_hosts"
    path.write_text(known_hosts)
    return SshProber(settings, PROFILES, HostKeyStore([path], tmp_path / "tofu_known_hosts"))


async def _probe(prober: SshProber, settings: SshSettings, device: str = "dev-1", address: str = "127.0.0.1"):
    errors = []
    samples = await prober.probe([Target(device, address, {"device": device})], lambda _n: settings,
                                 on_error=lambda _t, e: errors.append(e.detail))
    by = {}
    for sample in samples:
        by.setdefault((sample.measurement, sample.tags.get("command")), []).append(sample)
    return samples[0].fields, by, errors


VRP_USER = {"username": "admin", "password": "Admin@123"}


# -- a Linux host through a real sshd ---------------------------------------------------------------

async def test_linux_profile_over_exec_reads_this_machine(sshd, tmp_path):
    settings = _settings(sshd.port, {"username": sshd.user, "private_key_file": str(sshd.client_key_path)})
    prober = _prober(settings, tmp_path, sshd.known_hosts_line() + "\n")
    try:
        summary, by, errors = await _probe(prober, settings)
    finally:
        prober.close()
    assert errors == [] and summary["error_code"] == 0 and summary["up"] == 1
    assert summary["commands"] == summary["commands_ok"] == 5
    assert summary["login_ms"] > 0
    # The server is this machine: compare with what the kernel says here.
    assert by[("ssh_command", "cpus")][0].fields["cpus"] == os.cpu_count()
    meminfo = Path("/proc/meminfo").read_text()
    assert by[("ssh_command", "memory")][0].fields["mem_total_kb"] == int(re.search(r"MemTotal:\s+(\d+)", meminfo)[1])
    uptime_here = float(Path("/proc/uptime").read_text().split()[0])
    assert abs(by[("ssh_command", "uptime")][0].fields["uptime_s"] - uptime_here) < 60
    load = by[("ssh_command", "load")][0].fields
    assert {"load1", "load5", "load15", "tasks"} <= set(load) and load["exit_status"] == 0
    disks = {s.tags["mount"]: s.fields for s in by[("ssh_disk", None)]}
    root = os.statvfs("/")
    assert "/" in disks
    assert abs(disks["/"]["size_kb"] - root.f_blocks * root.f_frsize / 1024) < 2
    assert 0 <= disks["/"]["used_pct"] <= 100


async def test_password_and_encrypted_key_logins_and_their_failures(sshd, tmp_path):
    known = sshd.known_hosts_line() + "\n"
    cases = {
        "password": ({"username": sshd.user, "password": sshd.password}, 0),
        "encrypted key": ({"username": sshd.user, "private_key": sshd.encrypted_key_path.read_text(),
                           "private_key_passphrase": sshd.key_passphrase}, 0),
        "wrong password": ({"username": sshd.user, "password": "not-" + sshd.password}, ErrorCode.AUTH),
        "wrong passphrase": ({"username": sshd.user, "private_key_file": str(sshd.encrypted_key_path),
                              "private_key_passphrase": "wrong-passphrase"}, ErrorCode.AUTH),
        "unknown user": ({"username": "nobody-here", "password": "x"}, ErrorCode.AUTH),
    }
    for name, (credential, expected) in cases.items():
        settings = _settings(sshd.port, credential, profiles=("linux_systemd",) if expected else ("linux",))
        prober = _prober(settings, tmp_path, known)
        try:
            summary, _, errors = await _probe(prober, settings)
        finally:
            prober.close()
        assert summary["error_code"] == expected, (name, errors)
        if expected:
            assert summary["up"] == 1  # the server answered; it refused us
            assert len(errors) == 1 and sshd.password not in errors[0] and "wrong-passphrase" not in errors[0]
            assert ("passphrase" in errors[0]) if name == "wrong passphrase" else ("refused" in errors[0]), errors


async def test_host_keys_unknown_tofu_and_changed(sshd, tmp_path):
    settings = _settings(sshd.port, {"username": sshd.user, "password": sshd.password})
    # Unknown key, known_hosts policy: refused before any password is sent.
    prober = _prober(settings, tmp_path)
    summary, _, errors = await _probe(prober, settings)
    assert summary["error_code"] == ErrorCode.HOST_KEY_UNKNOWN, errors
    fingerprint = asyncssh.import_public_key(sshd.host_key_line).get_fingerprint("sha256")
    assert fingerprint in errors[0] and "ssh-keyscan" in errors[0]
    assert not (tmp_path / "tofu_known_hosts").exists()
    # Trust on first use: accepted and recorded with the device name.
    tofu = settings.model_copy(update={"host_key_policy": "tofu"})
    summary, _, errors = await _probe(prober, tofu, device="srv-tofu")
    assert summary["error_code"] == 0, errors
    recorded = (tmp_path / "tofu_known_hosts").read_text()
    assert recorded.startswith(f"[127.0.0.1]:{sshd.port} {' '.join(sshd.host_key_line.split()[:2])} ")
    assert "device=srv-tofu" in recorded
    # ... and from then on trusted under the strict policy too.
    summary, _, errors = await _probe(prober, settings)
    assert summary["error_code"] == 0, errors
    prober.close()
    # A different key listed for this host: the key changed. Refused whatever the policy.
    other = asyncssh.generate_private_key("ssh-ed25519").export_public_key("openssh").decode().split()[:2]
    prober = SshProber(settings, PROFILES, HostKeyStore([tmp_path / "kh2"], None))
    (tmp_path / "kh2").write_text(f"[127.0.0.1]:{sshd.port} {' '.join(other)}\n")
    for policy in ("known_hosts", "tofu"):
        summary, _, errors = await _probe(prober, settings.model_copy(update={"host_key_policy": policy}))
        assert summary["error_code"] == ErrorCode.HOST_KEY_CHANGED, errors
        assert "CHANGED" in errors[0] and fingerprint in errors[0]
    prober.close()


# -- the simulated Huawei VRP through netmiko -------------------------------------------------------

def _vrp(sim: CliSim, **more) -> SshSettings:
    return _settings(sim.port, VRP_USER, profiles=("huawei_vrp",), **more)


async def test_huawei_vrp_profile_through_netmiko(vrp_sim, tmp_path):
    from ntc_templates.parse import parse_output

    settings = _vrp(vrp_sim)
    prober = _prober(settings, tmp_path, vrp_sim.known_hosts_line() + "\n")
    try:
        summary, by, errors = await _probe(prober, settings)
    finally:
        prober.close()
    assert errors == [] and summary["error_code"] == 0 and summary["commands_ok"] == 4
    cpu_line = re.search(r"CPU Usage\s*:\s*(\d+)% Max: (\d+)%", capture("display cpu-usage"))
    cpu = by[("ssh_command", "cpu")][0].fields
    assert (cpu["cpu_pct"], cpu["cpu_max_pct"]) == (float(cpu_line[1]), float(cpu_line[2]))
    memory = re.search(r"Memory Using Percentage Is:\s*(\d+)%", capture("display memory-usage"))
    assert by[("ssh_command", "memory")][0].fields["mem_pct"] == float(memory[1])
    version = parse_output(platform="huawei_vrp", command="display version", data=capture("display version"))[0]
    [info] = by[("ssh_version", None)]
    assert info.tags["vrp_version"] == version["vrp_version"] and info.tags["model"] == version["model"]
    # text goes into tags (string fields read as 0 in VictoriaMetrics); "60 weeks, 4 days, 11 hours, 20 minutes"
    assert info.fields == {"uptime_s": 60 * 604800 + 4 * 86400 + 11 * 3600 + 20 * 60}
    boards = parse_output(platform="huawei_vrp", command="display device", data=capture("display device"))
    rows = by[("ssh_board", None)]
    assert [r.tags["slot"] for r in rows] == [b["slot"] for b in boards]
    assert all(r.fields["register_status"] == (1.0 if b["register_status"] == "Registered" else 0.0)
               for r, b in zip(rows, boards))
    assert vrp_sim.commands_seen[0] == "screen-length 0 temporary"
    for _ in range(100):  # logged out, not left open (the simulator notices the close a moment later)
        if vrp_sim.open_sessions == 0:
            break
        await asyncio.sleep(0.02)
    assert vrp_sim.open_sessions == 0


async def test_an_unknown_command_fails_the_check_with_the_cli_error(vrp_sim, tmp_path):
    settings = _vrp(vrp_sim)
    prober = _prober(settings, tmp_path, vrp_sim.known_hosts_line() + "\n")
    del vrp_sim.outputs["display memory-usage"]  # this "VRP release" has no such command
    try:
        summary, by, errors = await _probe(prober, settings)
    finally:
        prober.close()
    assert summary["error_code"] == ErrorCode.COMMAND_FAILED and summary["commands_ok"] == 3
    assert by[("ssh_command", "memory")][0].fields["ok"] == 0
    assert "Unrecognized command" in errors[0]


@pytest.mark.parametrize("device_type", ["huawei", "generic"])
async def test_a_cli_slow_to_answer_enter_still_gives_its_prompt(tmp_path, device_type):
    # A busy CLI answers the Enter sent before each command 0.5 s late, and echoes the Enters
    # typed meanwhile at once: a client that presses Enter again while it waits reads
    # "\r\n" several times and then "<HOST><HOST>..." on one line. netmiko took that line
    # as the prompt and waited command_timeout_s for it after the output ("no prompt came
    # back"), which a loaded simulator fleet did at random. huawei learns the prompt's end
    # at login; generic (netmiko's terminal-server driver, no login preparation) does not.
    sim = await CliSim(prompt_delay_s=0.5).start()
    profiles = dict(PROFILES)
    if device_type == "generic":  # no paging turned off, so the short command only
        memory = [c for c in PROFILES["huawei_vrp"].commands if c.name == "memory"]
        profiles["vrp_generic"] = PROFILES["huawei_vrp"].model_copy(
            update={"name": "vrp_generic", "device_type": "generic", "commands": tuple(memory)})
    name = "huawei_vrp" if device_type == "huawei" else "vrp_generic"
    settings = _settings(sim.port, VRP_USER, profiles=(name,), command_timeout_s=4, session_timeout_s=40)
    path = tmp_path / "known_hosts"
    path.write_text(sim.known_hosts_line() + "\n")
    prober = SshProber(settings, profiles, HostKeyStore([path], None))
    try:
        summary, by, errors = await _probe(prober, settings)
    finally:
        prober.close()
        await sim.stop()
    assert errors == [] and summary["error_code"] == 0, errors
    assert summary["commands_ok"] == summary["commands"] == (4 if device_type == "huawei" else 1)
    memory = re.search(r"Memory Using Percentage Is:\s*(\d+)%", capture("display memory-usage"))
    assert by[("ssh_command", "memory")][0].fields["mem_pct"] == float(memory[1])


async def test_no_prompt_after_login_is_a_command_timeout_sentence(tmp_path):
    sim = await CliSim(prompt_delay_s=6).start()  # answers the login's Enter after 6 s
    settings = _settings(sim.port, VRP_USER, profiles=("huawei_vrp",), command_timeout_s=1, session_timeout_s=20)
    path = tmp_path / "known_hosts"
    path.write_text(sim.known_hosts_line() + "\n")
    prober = SshProber(settings, PROFILES, HostKeyStore([path], None))
    started = time.monotonic()
    try:
        summary, _, errors = await _probe(prober, settings)
    finally:
        prober.close()
        await sim.stop()
    assert summary["error_code"] == ErrorCode.COMMAND_TIMEOUT and summary["up"] == 1, errors
    assert errors == [f"logged in to 127.0.0.1 port {sim.port}, but no CLI prompt came back within "
                      "command_timeout_s = 1 s (a busy device, or not a 'huawei' CLI)"]
    assert time.monotonic() - started < 6  # command_timeout_s, not the device's 6 s


async def test_vrp_host_key_tofu_then_changed_through_paramiko(tmp_path):
    first = await CliSim().start()
    settings = _vrp(first, host_key_policy="tofu")
    prober = _prober(settings, tmp_path)
    try:
        summary, _, errors = await _probe(prober, settings)
        assert summary["error_code"] == 0, errors
        assert first.host_key_line.split()[1] in (tmp_path / "tofu_known_hosts").read_text()
        port = first.port
        await first.stop()
        replaced = await CliSim().start(port=port)  # same address and port, a new key: a swapped device or an attack
        try:
            summary, _, errors = await _probe(prober, settings)
            assert summary["error_code"] == ErrorCode.HOST_KEY_CHANGED, errors
            assert replaced.logins_failed == 0 and replaced.commands_seen == []  # no password was sent
        finally:
            await replaced.stop()
    finally:
        prober.close()


# -- hostile servers: each costs its timeout and no more ----------------------------------------------

@pytest.mark.parametrize("driver", ["exec", "cli"])
@pytest.mark.parametrize("behaviour,expected", [("flood", ErrorCode.OUTPUT_TOO_LARGE),
                                                ("stall", ErrorCode.COMMAND_TIMEOUT),
                                                ("disconnect", ErrorCode.DISCONNECTED)])
# serial: elapsed < 5 s tells "stopped at the output cap" from "ran into the 20 s session timeout";
# the flood is CPU work on both ends, which other tests busy on the same CPUs stretch past 5 s.
@pytest.mark.serial
async def test_hostile_servers_are_bounded(tmp_path, driver, behaviour, expected):
    sim = await CliSim(behaviour=behaviour).start()
    try:
        # The exec driver with a VRP-like profile: a copy of huawei_vrp using exec channels.
        profiles = dict(PROFILES)
        profiles["vrp_exec"] = PROFILES["huawei_vrp"].model_copy(update={"name": "vrp_exec", "driver": "exec"})
        name = "vrp_exec" if driver == "exec" else "huawei_vrp"
        settings = _settings(sim.port, VRP_USER, profiles=(name,), command_timeout_s=2, session_timeout_s=20,
                             max_output_bytes=64 * 1024)
        prober = SshProber(settings, profiles, HostKeyStore([], tmp_path / "tofu"))
        prober_settings = settings.model_copy(update={"host_key_policy": "tofu"})
        started = time.monotonic()
        try:
            summary, by, errors = await _probe(prober, prober_settings)
        finally:
            prober.close()
        elapsed = time.monotonic() - started
        assert summary["error_code"] == expected, errors
        assert summary["up"] == 1 and by[("ssh_command", "cpu")][0].fields["ok"] == 0
        if behaviour == "stall":
            assert 2 <= elapsed < 2 * 4 + 5  # command_timeout_s per command, not the session's 20 s
        else:
            # The error code says why the session stopped (the output cap, the disconnect); the
            # time only has to show it did not run on to the session's 20 s. A loaded 2-core
            # machine took 6-8 s to pull 64 KiB of flood through the exec path.
            assert elapsed < 12, elapsed
    finally:
        await sim.stop()


async def test_session_timeout_caps_a_session_of_stalling_commands(tmp_path):
    sim = await CliSim(behaviour="stall").start()
    try:
        for name in ("huawei_vrp", "linux"):
            settings = _settings(sim.port, VRP_USER, profiles=(name,), command_timeout_s=30, session_timeout_s=3,
                                 host_key_policy="tofu")
            prober = SshProber(settings, PROFILES, HostKeyStore([], tmp_path / "tofu"))
            started = time.monotonic()
            try:
                summary, _, errors = await _probe(prober, settings)
            finally:
                prober.close()
            assert summary["error_code"] == ErrorCode.SESSION_TIMEOUT, (name, errors)
            assert time.monotonic() - started < 3 + 2.5, name
    finally:
        await sim.stop()


@pytest.mark.parametrize("driver", ["exec", "cli"])
async def test_endless_banner_and_closed_port(tmp_path, driver):
    tarpit = await EndlessBanner().start("127.0.0.1")
    profile = "linux" if driver == "exec" else "huawei_vrp"
    try:
        settings = _settings(tarpit.port, VRP_USER, profiles=(profile,), connect_timeout_s=1.5,
                             host_key_policy="tofu")
        prober = SshProber(settings, PROFILES, HostKeyStore([], tmp_path / "tofu"))
        started = time.monotonic()
        summary, _, errors = await _probe(prober, settings)
        assert summary["error_code"] in (ErrorCode.TIMEOUT, ErrorCode.PROTOCOL), errors
        assert summary["up"] == (0 if summary["error_code"] == ErrorCode.TIMEOUT else 1)
        assert time.monotonic() - started < 1.5 + 2.5
        port = tarpit.port
    finally:
        await tarpit.stop()
    closed = settings.model_copy(update={"port": port})
    summary, _, errors = await _probe(prober, closed)
    prober.close()
    assert summary["error_code"] == ErrorCode.REFUSED and summary["up"] == 0, errors


# -- sessions: one per device, max_sessions overall ------------------------------------------------

async def test_one_session_per_device_and_max_sessions_overall(vrp_sim, tmp_path):
    settings = _vrp(vrp_sim, max_sessions=3, cli_workers=8)
    prober = _prober(settings, tmp_path, vrp_sim.known_hosts_line() + "\n")
    # Counted where sessions run (the worker pool): the simulator sees a connection end a
    # moment after the client has closed it, so its own count may overlap two sessions.
    open_now: dict[str, int] = {}
    peaks = {"overall": 0, "per_device": 0}
    run = prober.cli.run

    async def counting(session):
        device = session.login.device
        open_now[device] = open_now.get(device, 0) + 1
        peaks["overall"] = max(peaks["overall"], sum(open_now.values()))
        peaks["per_device"] = max(peaks["per_device"], open_now[device])
        try:
            return await run(session)
        finally:
            open_now[device] -= 1

    prober.cli.run = counting
    try:
        await asyncio.gather(*(_probe(prober, settings, device="sw-same") for _ in range(3)))
        assert peaks == {"overall": 1, "per_device": 1}
        await asyncio.gather(*(_probe(prober, settings, device=f"sw-{i}") for i in range(8)))
    finally:
        prober.close()
    assert peaks == {"overall": 3, "per_device": 1}  # eight devices, three at a time
    assert vrp_sim.sessions_total == 11 and vrp_sim.logins_failed == 0
