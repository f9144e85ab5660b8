"""What a person at the console sees first: `--help` for every command, output into a closed
pipe (`netvigil profiles list | head`) ending quietly, and no third-party warnings."""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import subprocess
import time

import pytest

from monitor import cli
from monitor.outputs.embedded import EmbeddedStore
from probes.base import Sample
from lab.support import REPO, VENV_BIN

NETVIGIL = str(VENV_BIN / "netvigil")


def _command_paths(parser: argparse.ArgumentParser, path: tuple = ()):
    """Every command and sub-command of the argparse tree, as the words that name it."""
    yield path
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _command_paths(child, path + (name,))


PATHS = list(_command_paths(cli.build_parser()))


def test_the_tree_has_every_command_of_the_table():
    leaves = {" ".join(path) for path in PATHS}
    assert set(cli.COMMANDS) <= leaves
    assert len(PATHS) > len(cli.COMMANDS)  # the groups (inventory, config, ...) and the top level too


@pytest.mark.parametrize("key", sorted(cli.COMMANDS))
def test_every_command_resolves_to_a_function(key):
    module_name, func_name = cli.COMMANDS[key].split(":")
    assert callable(getattr(importlib.import_module(module_name), func_name))


@pytest.mark.parametrize("path", PATHS, ids=lambda path: " ".join(path) or "netvigil")
def test_help_works_for_every_command(path, capsys):
    with pytest.raises(SystemExit) as caught:
        cli.main([*path, "--help"])
    assert caught.value.code == 0
    out, err = capsys.readouterr()
    assert out.startswith("usage: " + " ".join(("netvigil",) + path)), out[:200]
    assert err == ""


def test_help_through_the_installed_entry_point():
    result = subprocess.run([NETVIGIL, "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert result.stdout.startswith("usage: netvigil")
    assert result.stderr == ""


def _settings(tmp_path):
    (tmp_path / "inventory.yaml").write_text(
        "sites:\n  - {name: room}\ndevices:\n  - {name: sw-01, address: 127.0.0.1, class: switch, site: room}\n")
    (tmp_path / "netvigil.yaml").write_text("inventory: [inventory.yaml]\nstate_dir: state\n")
    return tmp_path / "netvigil.yaml"


def _into_closed_pipe(argv, cwd=REPO) -> subprocess.CompletedProcess:
    """Run with standard output a pipe whose reader has already gone (what `| head` becomes
    once head has its lines): every write fails, deterministically, whatever the output size."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(argv, stdout=write_end, stderr=subprocess.PIPE, text=True, cwd=cwd, timeout=120)
    finally:
        os.close(write_end)


@pytest.mark.parametrize("argv, code, stderr", [
    (["profiles", "list"], cli.EXIT_BROKEN_PIPE, ""),
    (["rules", "list"], cli.EXIT_BROKEN_PIPE, ""),
    (["inventory", "import", "tests/data/csv/equipment-utf8.csv"], cli.EXIT_BROKEN_PIPE,
     "tests/data/csv/equipment-utf8.csv:1: ignoring columns: 型号\n"),  # its note comes before the YAML
    (["status", "-c", "SETTINGS"], 1,  # no daemon, no store: stderr only, as without a pipe
     "netvigil status: no daemon answers at "),
], ids=lambda value: " ".join(value) if isinstance(value, list) else "")
def test_a_closed_pipe_ends_the_command_quietly(argv, code, stderr, tmp_path):
    settings = str(_settings(tmp_path))
    result = _into_closed_pipe([NETVIGIL, *(settings if word == "SETTINGS" else word for word in argv)])
    assert "Traceback" not in result.stderr and "BrokenPipeError" not in result.stderr, result.stderr
    assert result.stderr.startswith(stderr) and (stderr.endswith(" ") or result.stderr == stderr), result.stderr
    assert result.returncode == code
    assert cli.EXIT_BROKEN_PIPE == 128 + signal.SIGPIPE  # what a shell shows for `yes | head -1`'s yes


def test_status_with_a_table_into_a_closed_pipe_ends_quietly(tmp_path):
    """`netvigil status | head` with something to show (the last values of a stopped daemon)."""
    settings = _settings(tmp_path)
    store = EmbeddedStore(tmp_path / "state" / "metrics.db", retention_days=1)
    store.write([Sample("icmp", {"device": "sw-01", "address": "127.0.0.1"},
                        {"up": True, "rtt_avg_ms": 0.05, "loss_pct": 0.0, "jitter_ms": 0.01}, time.time_ns())])
    store.close()
    shown = subprocess.run([NETVIGIL, "status", "-c", str(settings)], capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0 and "sw-01" in shown.stdout and shown.stderr == ""  # what the pipe would get
    result = _into_closed_pipe([NETVIGIL, "status", "-c", str(settings)])
    assert result.stderr == ""
    assert result.returncode == cli.EXIT_BROKEN_PIPE


def test_head_reads_the_first_line_and_the_command_ends_quietly():
    result = subprocess.run(["bash", "-o", "pipefail", "-c", f"{NETVIGIL} profiles list | head -1"],
                            capture_output=True, text=True, cwd=REPO, timeout=120)
    assert result.stdout == "SNMP profiles (chosen by class and sysObjectID):\n"
    assert result.stderr == ""
    assert result.returncode in (0, cli.EXIT_BROKEN_PIPE)  # 0 when all output fit the pipe before head left


def _raise_broken_pipe(_args):
    raise BrokenPipeError(32, "Broken pipe")


def test_a_broken_pipe_that_is_not_stdout_is_not_hidden(monkeypatch):
    """A BrokenPipeError from a socket the command used is a failure, not a closed `| head`."""
    monkeypatch.setitem(cli.COMMANDS, "profiles list", f"{__name__}:_raise_broken_pipe")
    with pytest.raises(BrokenPipeError):
        cli.main(["profiles", "list"])


def test_an_ssh_command_prints_no_third_party_warnings(tmp_path):
    """`config history` imports asyncssh, whose import makes cryptography warn about DSA five
    times; a person must see only netvigil's own lines."""
    settings = _settings(tmp_path)
    result = subprocess.run([NETVIGIL, "config", "history", "sw-01", "-c", str(settings)],
                            capture_output=True, text=True, timeout=120)
    assert result.stderr == ""
    assert result.returncode == 0
    assert result.stdout.startswith("sw-01: no configuration stored yet")


def test_the_warnings_are_there_to_hide_and_show_when_asked_for(tmp_path):
    """The test above can fail: with -W default (what a developer uses to see warnings) the same
    command shows them, so netvigil only hides them when nobody asked."""
    settings = _settings(tmp_path)
    result = subprocess.run([str(VENV_BIN / "python"), "-W", "default", "-m", "monitor.cli", "config", "history",
                             "sw-01", "-c", str(settings)], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert "CryptographyDeprecationWarning" in result.stderr
    assert result.returncode == 0
