"""monitor/config_store.py re-masking: versions stored by an older masker that let secrets
through are masked again, once, before anything is read, diffed or saved; one log line per
device says how many versions and lines changed; a kill -9 in the middle loses nothing and
the next open finishes the job."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import multiprocessing
import os
import random
import signal
from pathlib import Path

from monitor.config_store import ConfigStore
from probes.devconfig.text import prepare, rules_for

DEVICE = "SW-CORE-01"
# What the masker before the catalogue stored: the community masked, the trap host's community
# and the LDP password in clear.
LEGACY = """\
#
sysname SW-CORE-01
#
mpls ldp
 md5-password plain 10.0.0.2 {ldp}
#
interface GigabitEthernet0/0/1
 description {description}
#
snmp-agent community read cipher <secret:1a2b3c4d> acl 2000
snmp-agent target-host trap address udp-domain 10.20.0.30 params securityname {trap} v2c
#
return
"""
LEAKED = ("LdpS3cretOld", "TrapC0mmOld")


def legacy(n: int, ldp: str = LEAKED[0], trap: str = LEAKED[1]) -> str:
    return LEGACY.format(ldp=ldp, trap=trap, description=f"uplink rev {n}")


def vrp_rules(_device: str):
    return rules_for("huawei_vrp")


def seeded(root: Path, versions: int = 3, devices: tuple[str, ...] = (DEVICE,)) -> None:
    """A store as the older netvigil left it (no rules: nothing re-masked on save)."""
    old = ConfigStore(root)
    for device in devices:
        for n in range(1, versions + 1):
            old.save(device, legacy(n), fetched_at=1_780_000_000 + n * 3600)


def everything(root: Path) -> str:
    return "".join(p.read_text(errors="replace") for p in sorted(root.rglob("*"))
                   if p.is_file() and p.name != ".mask-key")


def test_versions_with_leaked_secrets_are_masked_once_and_the_log_says_how_many(tmp_path, caplog):
    root = tmp_path / "configs"
    seeded(root)
    assert all(secret in everything(root) for secret in LEAKED)
    store = ConfigStore(root, vrp_rules)
    with caplog.at_level(logging.INFO, logger="netvigil.configs"):
        done = store.remask_all()
    assert [(r.device, r.rules, r.versions, r.versions_changed, r.lines_changed) for r in done] == [
        (DEVICE, "huawei_vrp", 3, 3, 6)]
    written = everything(root)
    assert not any(secret in written for secret in LEAKED)
    key = store.mask_key()
    mask_of = "<secret:" + hmac.new(key, LEAKED[1].encode(), hashlib.sha256).hexdigest()[:8] + ">"
    assert f"securityname {mask_of} v2c" in store.read(DEVICE, 1)
    assert "<secret:1a2b3c4d>" in store.read(DEVICE, 1)  # what the old masker masked stays as it was
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 1 and DEVICE in lines[0] and "3 of 3" in lines[0] and "6 line(s)" in lines[0]
    assert not any(secret in lines[0] for secret in LEAKED)
    meta = json.loads((root / DEVICE / "meta.json").read_text())
    assert meta["masked_with"] == rules_for("huawei_vrp").fingerprint and meta["next_number"] == 4

    # Once: the rules are unchanged, so nothing is read or written again.
    stamps = {p: p.stat().st_mtime_ns for p in (root / DEVICE).glob("*.cfg")}
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="netvigil.configs"):
        assert ConfigStore(root, vrp_rules).remask_all() == []
    assert caplog.records == []
    assert {p: p.stat().st_mtime_ns for p in (root / DEVICE).glob("*.cfg")} == stamps


def test_read_and_diff_mask_first_without_anyone_calling_remask(tmp_path):
    root = tmp_path / "configs"
    seeded(root)
    store = ConfigStore(root, vrp_rules)
    diff = store.diff(DEVICE)
    assert "- description uplink rev 2" in diff and "+ description uplink rev 3" in diff
    assert not any(secret in diff for secret in LEAKED)
    assert not any(secret in store.read(DEVICE, 1) for secret in LEAKED)


def test_a_fetch_after_the_upgrade_is_no_change_and_a_real_change_diffs_without_secrets(tmp_path):
    root = tmp_path / "configs"
    seeded(root)
    store = ConfigStore(root, vrp_rules)
    key = store.mask_key()
    rules = vrp_rules(DEVICE)
    # The device still has the configuration of version 3: masked by the new rules it equals the
    # re-masked version 3, so the upgrade alone opens no config_changed fault.
    same = store.save(DEVICE, prepare(legacy(3), rules, key), fetched_at=1_780_100_000)
    assert not same.changed and same.version.number == 3
    # New secrets and a new description: a change whose diff shows neither the old nor the new secrets.
    changed = store.save(DEVICE, prepare(legacy(4, ldp="LdpS3cretNew", trap="TrapC0mmNew"), rules, key),
                         fetched_at=1_780_200_000)
    assert changed.changed and changed.added == 3 and changed.removed == 3
    for secret in (*LEAKED, "LdpS3cretNew", "TrapC0mmNew"):
        assert secret not in changed.diff and secret not in everything(root)


def test_changed_rules_of_a_device_mask_its_versions_again(tmp_path):
    root = tmp_path / "configs"
    store = ConfigStore(root, vrp_rules)
    store.save(DEVICE, "sysname SW-CORE-01\n site-token Abc123Token\n", fetched_at=1_780_000_000)
    assert "Abc123Token" in store.read(DEVICE, 1)  # nothing in the catalogue knows `site-token`
    stricter = rules_for("huawei_vrp", extra_secrets=[r"site-token (?P<secret>\S+)"])
    assert stricter.fingerprint != vrp_rules(DEVICE).fingerprint
    (result,) = ConfigStore(root, lambda _device: stricter).remask_all()
    assert (result.versions_changed, result.lines_changed) == (1, 1)
    assert "Abc123Token" not in everything(root)


def test_a_store_without_rules_never_rewrites_anything(tmp_path):
    root = tmp_path / "configs"
    seeded(root)
    before = everything(root)
    store = ConfigStore(root)
    assert store.remask_all() == [] and store.remask(DEVICE) is None
    store.diff(DEVICE)
    assert everything(root) == before


# -- kill -9 ----------------------------------------------------------------------------------------

def _remask_killed_after(root: str, renames: int) -> None:
    """Re-mask, and SIGKILL this process right after its `renames`-th file replacement: a kill -9
    at a chosen point of the job, whatever the speed of the machine."""
    from monitor import config_store

    real_replace, done = os.replace, [0]

    def replace_then_maybe_die(source, destination):
        real_replace(source, destination)
        done[0] += 1
        if done[0] == renames:
            os.kill(os.getpid(), signal.SIGKILL)

    config_store.os.replace = replace_then_maybe_die
    ConfigStore(Path(root), vrp_rules).remask_all()


def _rewritten(root: Path, old: dict[str, bytes]) -> int:
    count = 0
    for name, data in old.items():
        try:
            count += name.endswith(".cfg") and (root / name).read_bytes() != data
        except FileNotFoundError:
            continue
    return count


def _snapshot(root: Path) -> dict[str, bytes]:
    """Every file but the flock targets (empty, created on first lock)."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != ".lock"}


def test_kill_9_during_re_masking_leaves_old_or_new_files_and_the_next_open_finishes(tmp_path):
    devices = tuple(f"SW-{n:02d}" for n in range(4))
    root, reference = tmp_path / "configs", tmp_path / "reference"
    seeded(root, versions=24, devices=devices)
    seeded(reference, versions=24, devices=devices)
    (reference / ".mask-key").write_bytes(ConfigStore(root).mask_key())
    old = _snapshot(root)
    ConfigStore(reference, vrp_rules).remask_all()
    new = _snapshot(reference)
    assert old.keys() == new.keys() and old != new

    context = multiprocessing.get_context("spawn")
    rng = random.Random(11)
    files = len([name for name in old if name.endswith(".cfg")])
    kills = mixed = 0
    for renames in [1] + sorted(rng.sample(range(2, files), 3)):  # killed at four points of the job
        worker = context.Process(target=_remask_killed_after, args=(str(root), renames))
        worker.start()
        worker.join(60)
        kills += worker.exitcode == -signal.SIGKILL
        now = _snapshot(root)
        now = {name: data for name, data in now.items() if ".tmp-" not in name}
        # Every file is whole: the old bytes or the new, never a mixture or a loss.
        assert now.keys() == old.keys()
        for name, data in now.items():
            if name.endswith("meta.json"):
                meta = json.loads(data)  # readable at every moment
                assert meta["next_number"] == 25
            else:
                assert data in (old[name], new[name]), name
        versions = [name for name in now if name.endswith(".cfg")]
        if 0 < sum(now[name] == new[name] for name in versions) < len(versions):
            mixed += 1
    assert kills >= 1 and mixed >= 1, (kills, mixed)  # killed in the middle of the job at least once
    ConfigStore(root, vrp_rules).remask_all()
    assert _snapshot(root) == new
