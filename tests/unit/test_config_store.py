"""monitor/config_store.py: versions on disk, their diffs, retention, locking and crash safety."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import stat
from datetime import datetime, timezone
from pathlib import Path

import pytest

from monitor.config_store import ConfigStore

DAY = 86400.0
T0 = datetime(2026, 11, 20, 10, 15, 0, tzinfo=timezone.utc).timestamp()

BASE = """\
#
sysname SW-CORE-01
#
vlan batch 10 20 100
#
interface Vlanif100
 ip address 10.10.100.1 255.255.255.0
#
interface GigabitEthernet0/0/1
 port link-type trunk
 port trunk allow-pass vlan 10 20
#
snmp-agent community read cipher <secret:1a2b3c4d> acl 2000
#
return
"""


def config(n: int) -> str:
    """A distinct configuration per n (its description line differs)."""
    return BASE.replace("#\ninterface GigabitEthernet0/0/1\n", f"#\ninterface GigabitEthernet0/0/1\n description rev {n}\n")


def version_files(directory: Path) -> list[str]:
    return sorted(name for name in os.listdir(directory) if name.endswith(".cfg"))


@pytest.fixture
def store(tmp_path: Path) -> ConfigStore:
    return ConfigStore(tmp_path / "configs")


def test_first_save_is_a_change_without_diff(store):
    saved = store.save("SW-CORE-01", BASE, fetched_at=T0)
    assert saved.changed and saved.previous is None
    assert (saved.diff, saved.added, saved.removed) == ("", 0, 0)
    assert saved.version.number == 1
    assert saved.version.fetched_at == T0
    assert saved.version.sha256 == hashlib.sha256(BASE.encode()).hexdigest()
    assert saved.version.lines == BASE.count("\n")
    assert saved.version.path.name == "000001-20261120T101500Z.cfg"
    assert saved.version.path.read_text() == BASE
    assert store.history("SW-CORE-01") == [saved.version]
    assert store.read("SW-CORE-01", 1) == BASE


def test_unchanged_save_writes_no_version_but_updates_last_checked(store):
    first = store.save("SW-CORE-01", BASE, fetched_at=T0)
    directory = first.version.path.parent
    before = version_files(directory)
    again = store.save("SW-CORE-01", BASE, fetched_at=T0 + 3600)
    assert not again.changed
    assert again.version == first.version
    assert (again.previous, again.diff, again.added, again.removed) == (None, "", 0, 0)
    assert version_files(directory) == before
    assert store.last_checked("SW-CORE-01") == T0 + 3600
    assert store.history("SW-CORE-01")[-1].fetched_at == T0  # first seen, not last seen


def test_changed_save_diff_is_exactly_the_change(store):
    store.save("SW-CORE-01", BASE, fetched_at=T0)
    changed = BASE.replace(" port trunk allow-pass vlan 10 20\n", " port trunk allow-pass vlan 10 20 30\n")
    changed = changed.replace("return\n", "ntp-service unicast-server 10.0.0.123\n#\nreturn\n")
    saved = store.save("SW-CORE-01", changed, fetched_at=T0 + 60)
    assert saved.changed and saved.version.number == 2 and saved.previous.number == 1
    lines = saved.diff.splitlines()
    assert lines[0] == "--- SW-CORE-01 v1 2026-11-20 10:15:00 UTC"
    assert lines[1] == "+++ SW-CORE-01 v2 2026-11-20 10:16:00 UTC"
    body = [line for line in lines[2:] if not line.startswith("@@")]
    assert [line for line in body if line[0] in "+-"] == [
        "- port trunk allow-pass vlan 10 20", "+ port trunk allow-pass vlan 10 20 30",
        "+ntp-service unicast-server 10.0.0.123", "+#"]
    assert (saved.added, saved.removed) == (3, 1)
    assert store.diff("SW-CORE-01") == saved.diff
    assert store.diff("SW-CORE-01", 1, 2) == saved.diff


def test_removed_line_starting_with_dashes_counts_as_removed(store):
    store.save("srv1", "a\n-- comment\nb\n", fetched_at=T0)
    saved = store.save("srv1", "a\nb\n", fetched_at=T0 + 1)
    assert (saved.added, saved.removed) == (0, 1)
    assert "\n--- comment\n" in saved.diff


def test_diff_between_any_two_kept_versions_and_defaults(store):
    for n in range(1, 5):
        store.save("R1", config(n), fetched_at=T0 + n * 60)
    assert "- description rev 2\n+ description rev 4\n" in store.diff("R1", 2, 4)
    assert "- description rev 2\n+ description rev 3\n" in store.diff("R1", b=3)  # a = the one before b
    assert "- description rev 3\n+ description rev 4\n" in store.diff("R1")


def test_version_numbers_are_never_reused_after_pruning(store):
    for n in range(1, 6):
        store.save("R1", config(n), fetched_at=T0 + n)
    assert [v.number for v in store.history("R1")] == [1, 2, 3, 4, 5]
    store.save("R1", config(6), fetched_at=T0 + 6, keep_versions=2, keep_days=0)
    assert [v.number for v in store.history("R1")] == [5, 6]
    directory = store.history("R1")[0].path.parent
    for name in version_files(directory):  # an operator "cleans up" every file
        (directory / name).unlink()
    saved = store.save("R1", config(1), fetched_at=T0 + 7)
    assert saved.version.number == 7


def test_retention_by_count(store):
    for n in range(1, 8):
        saved = store.save("R1", config(n), fetched_at=T0 + n, keep_versions=3, keep_days=0)
    assert [v.number for v in store.history("R1")] == [5, 6, 7]
    assert len(version_files(saved.version.path.parent)) == 3


def test_retention_by_age_keeps_young_versions_beyond_the_count(store):
    now = T0
    for n, age_days in enumerate([400, 366, 300, 10, 0], start=1):
        store.save("R1", config(n), fetched_at=now - age_days * DAY, keep_versions=1, keep_days=365)
    assert [v.number for v in store.history("R1")] == [3, 4, 5]


def test_the_latest_is_kept_however_old(store):
    store.save("R1", config(1), fetched_at=T0 - 1000 * DAY)
    store.save("R1", config(1), fetched_at=T0, keep_versions=1, keep_days=1)
    assert [v.number for v in store.history("R1")] == [1]


def test_unchanged_saves_also_prune_versions_that_aged_out(store):
    for n in range(1, 4):
        store.save("R1", config(n), fetched_at=T0 + n * DAY)
    store.save("R1", config(3), fetched_at=T0 + 3 * DAY + 10 * DAY, keep_versions=1, keep_days=5)
    assert [v.number for v in store.history("R1")] == [3]


def test_read_and_diff_errors_name_what_is_kept(store):
    for n in range(1, 6):
        store.save("SW-CORE-01", config(n), fetched_at=T0 + n, keep_versions=3, keep_days=0)
    with pytest.raises(KeyError) as error:
        store.read("SW-CORE-01", 7)
    assert str(error.value) == "device 'SW-CORE-01' has no version 7; versions 3-5 are kept"
    with pytest.raises(KeyError, match="has no version 1; versions 3-5 are kept"):
        store.diff("SW-CORE-01", 1, 5)
    with pytest.raises(KeyError, match="no version before 3"):
        store.diff("SW-CORE-01", b=3)
    with pytest.raises(KeyError, match="'R9' has no stored configuration"):
        store.read("R9", 1)
    with pytest.raises(KeyError, match="'R9' has no stored configuration"):
        store.diff("R9")
    assert store.history("R9") == []
    assert store.last_checked("R9") is None


def test_diff_of_a_single_version_is_a_clear_error(store):
    store.save("R1", BASE, fetched_at=T0)
    with pytest.raises(KeyError, match="no version before 1 to compare"):
        store.diff("R1")


ODD_NAMES = ["SW CORE/01", ".hidden", "..", ".", "交换机-东城.1", "a%2Fb", "50%", "-dash", "tab\tname", "R1"]


def test_odd_device_names_round_trip(store):
    for n, name in enumerate(ODD_NAMES):
        store.save(name, config(n), fetched_at=T0)
    assert store.devices() == sorted(ODD_NAMES)
    for n, name in enumerate(ODD_NAMES):
        assert store.read(name, 1) == config(n)
    for entry in os.listdir(store.root):
        assert entry.startswith(".") is (entry in (".mask-key", ".lock"))  # device directories are never hidden
        assert "/" not in entry


def test_devices_ignores_foreign_directories_and_devices_without_versions(store):
    store.save("R1", BASE, fetched_at=T0)
    (store.root / "not%ZZvalid").mkdir()
    (store.root / "R2").mkdir()
    assert store.devices() == ["R1"]
    assert ConfigStore(store.root / "nowhere").devices() == []


def test_modes_are_private_whatever_the_umask(store):
    old_umask = os.umask(0o022)
    try:
        saved = store.save("R1", BASE, fetched_at=T0)
        key_path = store.root / ".mask-key"
        store.mask_key()
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(store.root.stat().st_mode) == 0o700
    assert stat.S_IMODE(saved.version.path.parent.stat().st_mode) == 0o700
    for path in (saved.version.path, saved.version.path.parent / "meta.json", key_path):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_mask_key_is_created_once_and_reused(store):
    key = store.mask_key()
    assert len(key) == 32
    assert ConfigStore(store.root).mask_key() == key
    assert (store.root / ".mask-key").read_bytes() == key
    assert ConfigStore(store.root.parent / "other").mask_key() != key


def test_a_damaged_mask_key_is_refused_not_replaced(store):
    store.root.mkdir(parents=True)
    (store.root / ".mask-key").write_bytes(b"short")
    with pytest.raises(ValueError, match="holds 5 bytes, not 32"):
        store.mask_key()
    assert (store.root / ".mask-key").read_bytes() == b"short"


def test_leftover_temp_file_of_a_crash_is_ignored_then_cleaned(store):
    saved = store.save("R1", BASE, fetched_at=T0)
    directory = saved.version.path.parent
    leftover = directory / ".tmp-0123456789abcdef"
    leftover.write_text(BASE[:40])  # half a version: the process died before the rename
    assert [v.number for v in store.history("R1")] == [1]
    assert store.read("R1", 1) == BASE
    store.save("R1", BASE, fetched_at=T0 + 60)
    assert not leftover.exists()


def test_crash_between_version_file_and_metadata_does_not_reuse_the_number(store):
    store.save("R1", config(1), fetched_at=T0)
    directory = store.history("R1")[0].path.parent
    meta = json.loads((directory / "meta.json").read_text())
    store.save("R1", config(2), fetched_at=T0 + 60)
    (directory / "meta.json").write_text(json.dumps(meta))  # as if the process died before updating it
    saved = store.save("R1", config(3), fetched_at=T0 + 120)
    assert saved.version.number == 3
    assert [v.number for v in store.history("R1")] == [1, 2, 3]


def test_bad_arguments_are_refused(store):
    with pytest.raises(ValueError, match="keep_versions must be at least 1"):
        store.save("R1", BASE, keep_versions=0)
    with pytest.raises(ValueError, match="keep_days must not be negative"):
        store.save("R1", BASE, keep_days=-1)
    with pytest.raises(ValueError, match="non-empty"):
        store.save("", BASE)


# -- two processes at once --------------------------------------------------------------------

def _save_many(root: str, prefix: str, count: int, start) -> None:
    start.wait()
    store = ConfigStore(Path(root))
    for n in range(count):
        store.save("SW-CORE-01", f"#\nsysname SW-CORE-01\n#\n description {prefix}{n}\n#\nreturn\n", keep_versions=1000)


def _mask_key_of(root: str, start, keys) -> None:
    start.wait()
    keys.put(ConfigStore(Path(root)).mask_key())


def test_concurrent_saves_from_two_processes_lose_and_duplicate_nothing(store):
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    count = 25
    workers = [context.Process(target=_save_many, args=(str(store.root), prefix, count, start)) for prefix in "AB"]
    for worker in workers:
        worker.start()
    start.set()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    history = store.history("SW-CORE-01")
    assert [v.number for v in history] == list(range(1, 2 * count + 1))
    texts = [store.read("SW-CORE-01", v.number) for v in history]
    expected = {f" description {prefix}{n}" for prefix in "AB" for n in range(count)}
    assert sorted(text.splitlines()[3] for text in texts) == sorted(expected)


def test_concurrent_first_use_of_the_mask_key_agrees_on_one_key(store):
    context = multiprocessing.get_context("spawn")
    start, keys = context.Event(), context.Queue()
    workers = [context.Process(target=_mask_key_of, args=(str(store.root), start, keys)) for _ in range(3)]
    for worker in workers:
        worker.start()
    start.set()
    found = {keys.get(timeout=60) for _ in workers}
    for worker in workers:
        worker.join(60)
    assert found == {(store.root / ".mask-key").read_bytes()}
