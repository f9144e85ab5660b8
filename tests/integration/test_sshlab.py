"""The SSH lab itself is right: the simulated VRP is what netmiko's huawei driver expects and
returns the real captures unchanged, paging and the hostile behaviours do what they say,
sshd accepts every kind of credential the probes use, and the tarpit holds a client until
its timeout. If these fail, every SSH probe test built on the lab is meaningless."""

from __future__ import annotations

import asyncio
import re
import subprocess
import time

import asyncssh
import pytest
from netmiko import ConnectHandler

from lab.sshlab import TEST_USER, Sshd
from lab.sshsim import (CONFIG_COMMAND, ERROR_UNRECOGNIZED, MORE, SCREEN_LENGTH_INFO, CliSim, EndlessBanner,
                          capture, fleet_addresses)

pytestmark = pytest.mark.integration

PROMPT_RE = re.compile(r"<[\w.-]+>\s*$")


def netmiko_session(sim: CliSim, **extra):
    return ConnectHandler(device_type="huawei", host=sim.host, port=sim.port, username="admin",
                          password="Admin@123", **extra)


def close_quickly(conn) -> None:
    """disconnect() waits 2 s for silence to check for configuration mode; tests close at once."""
    conn.write_channel("quit\n")
    conn.paramiko_cleanup()


async def connect(sim: CliSim, **kwargs) -> asyncssh.SSHClientConnection:
    return await asyncssh.connect(sim.host, sim.port, username="admin", password="Admin@123",
                                  known_hosts=None, **kwargs)


async def read_until(process, pattern: re.Pattern, timeout_s: float = 3.0) -> str:
    text = ""
    deadline = time.monotonic() + timeout_s
    while not pattern.search(text):
        text += await asyncio.wait_for(process.stdout.read(65536), max(0.01, deadline - time.monotonic()))
    return text


# -- CliSim with netmiko -------------------------------------------------------------------------

async def test_netmiko_huawei_driver_gets_the_captures_unchanged(vrp_sim):
    def run():
        conn = netmiko_session(vrp_sim)
        try:
            return (conn.base_prompt, conn.send_command("display version"),
                    conn.send_command("display cpu-usage"), conn.send_command("dis cur"),
                    conn.send_command("display nonsense"))
        finally:
            close_quickly(conn)

    prompt, version, cpu, config, error = await asyncio.to_thread(run)
    assert prompt == vrp_sim.hostname == "SW-CORE-01"     # the configuration's sysname
    # netmiko strips the echo and the prompt; the captures' own text (trailing blanks included)
    # comes back byte for byte, only the final newline is gone.
    assert version == capture("display version").rstrip("\n")
    assert cpu == capture("display cpu-usage")
    assert config == vrp_sim.config.rstrip("\n")
    assert error.endswith("^\n" + ERROR_UNRECOGNIZED)
    assert vrp_sim.commands_seen[0] == "screen-length 0 temporary"   # so no paging for netmiko
    assert vrp_sim.commands_seen[1:5] == ["display version", "display cpu-usage", "dis cur", "display nonsense"]
    assert vrp_sim.sessions_total == 1


async def test_config_is_read_at_the_moment_of_the_command(vrp_sim):
    async with await connect(vrp_sim) as conn:
        first = (await conn.run(CONFIG_COMMAND)).stdout
        vrp_sim.config = vrp_sim.config.replace("ntp-service unicast-server 10.20.0.1", "ntp-service unicast-server 10.20.0.2")
        second = (await conn.run(CONFIG_COMMAND)).stdout
    assert "unicast-server 10.20.0.1" in first and "unicast-server 10.20.0.2" in second


async def test_wrong_password_is_counted(vrp_sim):
    with pytest.raises(asyncssh.PermissionDenied):
        await asyncssh.connect(vrp_sim.host, vrp_sim.port, username="admin", password="wrong",
                               known_hosts=None, client_keys=None)
    assert vrp_sim.logins_failed >= 1


async def test_key_auth_and_pinned_host_key():
    key = asyncssh.generate_private_key("ssh-ed25519")
    sim = await CliSim(client_keys=[key.export_public_key().decode()]).start()
    try:
        known = asyncssh.import_known_hosts(sim.known_hosts_line())
        async with asyncssh.connect(sim.host, sim.port, username="admin", client_keys=[key],
                                    known_hosts=known, password=None) as conn:
            assert (await conn.run("display memory-usage")).stdout == capture("display memory-usage") + "\n"
    finally:
        await sim.stop()


async def test_concurrent_sessions_are_counted(vrp_sim):
    conns = await asyncio.gather(*(connect(vrp_sim) for _ in range(5)))
    for conn in conns:
        conn.close()
        await conn.wait_closed()
    assert vrp_sim.sessions_total == 5 and vrp_sim.max_concurrent_sessions == 5


# -- PTY paging and exec -------------------------------------------------------------------------

async def test_pty_session_without_screen_length_pages(vrp_sim):
    async with await connect(vrp_sim) as conn:
        process = await conn.create_process(term_type="vt100")
        banner = await read_until(process, PROMPT_RE)
        assert "Info: The max number of VTY users is" in banner
        process.stdin.write("display cpu-usage\n")
        page = await read_until(process, re.compile(re.escape(MORE)))
        assert "\r\n" in page and "VIDL" in page and "COMT" not in page
        process.stdin.write(" ")
        rest = await read_until(process, PROMPT_RE)
        assert "COMT" in rest and MORE not in rest

        process.stdin.write("display cpu-usage\n")
        await read_until(process, re.compile(re.escape(MORE)))
        process.stdin.write("q")
        after_q = await read_until(process, PROMPT_RE)
        assert "COMT" not in after_q

        process.stdin.write("screen-length 0 temporary\n")
        assert SCREEN_LENGTH_INFO in await read_until(process, PROMPT_RE)
        process.stdin.write("display cpu-usage\n")
        whole = await read_until(process, PROMPT_RE)
        assert MORE not in whole and "COMT" in whole
        process.stdin.write("quit\n")
        await asyncio.wait_for(process.wait_closed(), 3)


async def test_exec_channel(vrp_sim):
    async with await connect(vrp_sim) as conn:
        ok = await conn.run("display version")
        bad = await conn.run("display nonsense")
    assert ok.exit_status == 0 and ok.stdout == capture("display version")
    assert bad.exit_status == 1 and ERROR_UNRECOGNIZED in bad.stdout


# -- hostile behaviours ----------------------------------------------------------------------------

# serial: more than 100 outputs' worth in 0.5 s on the wall clock, which other tests busy on the
# same CPUs could hold back.
@pytest.mark.serial
async def test_flood_never_ends(vrp_sim):
    vrp_sim.behaviour = "flood"
    async with await connect(vrp_sim) as conn:
        process = await conn.create_process("display version")
        received = 0
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            received += len(await asyncio.wait_for(process.stdout.read(65536), 1))
        assert received > 100 * len(capture("display version"))
        assert process.exit_status is None
        conn.abort()


async def test_flood_on_pty_never_shows_a_prompt(vrp_sim):
    vrp_sim.behaviour = "flood"
    async with await connect(vrp_sim) as conn:
        process = await conn.create_process(term_type="vt100")
        await read_until(process, PROMPT_RE)
        process.stdin.write("screen-length 0 temporary\n")           # exempt: answered normally
        assert SCREEN_LENGTH_INFO in await read_until(process, PROMPT_RE)
        process.stdin.write("display version\n")
        text = ""
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            text += await asyncio.wait_for(process.stdout.read(65536), 1)
        assert len(text) > 50_000 and vrp_sim.prompt not in text[-200:]
        assert text.count(vrp_sim.prompt) == 0 or text.rfind(vrp_sim.prompt) < 100
        conn.abort()


async def test_stall_sends_half_then_nothing(vrp_sim):
    vrp_sim.behaviour = "stall"
    full = capture("display version")
    async with await connect(vrp_sim) as conn:
        process = await conn.create_process("display version")
        text = await asyncio.wait_for(process.stdout.read(65536), 2)
        with pytest.raises(asyncio.TimeoutError):
            text += await asyncio.wait_for(process.stdout.read(65536), 0.5)
        assert text == full[: len(full) // 2]
        assert not conn.is_closed()


async def test_disconnect_sends_half_then_drops_the_connection(vrp_sim):
    vrp_sim.behaviour = "disconnect"
    full = capture("display version")
    conn = await connect(vrp_sim)
    process = await conn.create_process("display version")
    text = ""
    with pytest.raises(asyncssh.ConnectionLost):       # what a client sees: no EOF, no exit status
        while True:
            chunk = await asyncio.wait_for(process.stdout.read(65536), 2)
            assert chunk, "clean EOF instead of a dropped connection"
            text += chunk
    assert text == full[: len(full) // 2]
    await asyncio.wait_for(conn.wait_closed(), 2)
    assert process.exit_status is None                  # no clean exit: the TCP connection died


async def test_behaviour_changes_at_runtime_for_netmiko(vrp_sim):
    def run():
        conn = netmiko_session(vrp_sim)
        try:
            good = conn.send_command("display version")
            vrp_sim.behaviour = "stall"
            started = time.monotonic()
            with pytest.raises(Exception):
                conn.send_command("display device", read_timeout=1)
            return good, time.monotonic() - started
        finally:
            conn.paramiko_cleanup()

    good, waited = await asyncio.to_thread(run)
    assert good == capture("display version").rstrip("\n")
    assert 0.9 < waited < 5


# -- EndlessBanner ----------------------------------------------------------------------------------

async def test_endless_banner_holds_the_client_until_its_timeout():
    tarpit = await EndlessBanner().start()
    try:
        started = time.monotonic()
        with pytest.raises((asyncio.TimeoutError, asyncssh.Error, OSError)):
            await asyncssh.connect(tarpit.host, tarpit.port, username="x", password="x",
                                   known_hosts=None, connect_timeout=1)
        assert 0.9 < time.monotonic() - started < 2.0
        assert tarpit.connections_total == 1
    finally:
        await tarpit.stop()


def test_fleet_refuses_addresses_outside_loopback():
    assert fleet_addresses("127.1.0.1", 3) == ["127.1.0.1", "127.1.0.2", "127.1.0.3"]
    with pytest.raises(ValueError):
        fleet_addresses("10.0.0.1", 1)
    with pytest.raises(ValueError):
        fleet_addresses("127.255.255.254", 3)


# -- real sshd ----------------------------------------------------------------------------------------

COMMANDS = ("uptime", "df -P /", "cat /proc/loadavg", "nproc")


async def test_sshd_key_auth(sshd: Sshd):
    key = asyncssh.read_private_key(str(sshd.client_key_path))
    known = asyncssh.import_known_hosts(sshd.known_hosts_line())
    async with asyncssh.connect(sshd.host, sshd.port, username=sshd.user, client_keys=[key],
                                known_hosts=known, password=None) as conn:
        results = [await conn.run(c, check=True) for c in COMMANDS]
    assert "load average" in results[0].stdout
    assert results[1].stdout.startswith("Filesystem")
    assert len(results[2].stdout.split()) == 5
    assert int(results[3].stdout) >= 1


async def test_sshd_encrypted_key_auth(sshd: Sshd):
    with pytest.raises(asyncssh.KeyImportError):
        asyncssh.read_private_key(str(sshd.encrypted_key_path))        # really encrypted
    key = asyncssh.read_private_key(str(sshd.encrypted_key_path), passphrase=sshd.key_passphrase)
    async with asyncssh.connect(sshd.host, sshd.port, username=sshd.user, client_keys=[key],
                                known_hosts=None, password=None) as conn:
        assert (await conn.run("id -un", check=True)).stdout.strip() == TEST_USER


async def test_sshd_password_auth_and_wrong_password(sshd: Sshd):
    async with asyncssh.connect(sshd.host, sshd.port, username=sshd.user, password=sshd.password,
                                client_keys=None, known_hosts=None) as conn:
        assert (await conn.run("nproc", check=True)).exit_status == 0
    with pytest.raises(asyncssh.PermissionDenied):
        await asyncssh.connect(sshd.host, sshd.port, username=sshd.user, password="wrong-" + sshd.password,
                               client_keys=None, known_hosts=None)


def test_sshd_host_key_line_matches_the_server(sshd: Sshd):
    scanned = subprocess.run(["ssh-keyscan", "-t", "ed25519", "-p", str(sshd.port), sshd.host],
                             capture_output=True, text=True, timeout=10).stdout
    assert sshd.known_hosts_line() in scanned.splitlines()
