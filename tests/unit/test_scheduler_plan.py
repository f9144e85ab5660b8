"""How devices are cut into batches and spread over the interval."""

from collections import Counter

from monitor.scheduler import plan
from probes.base import Target


def _members(n, interval=30.0, key="a"):
    return [(Target(f"dev-{i}", f"127.1.{i // 250}.{i % 250 + 1}"), (key, interval), interval, None) for i in range(n)]


def test_7000_devices_at_30s_are_spread_over_30_slots_evenly():
    batches = plan("icmp", _members(7000), slot_s=1.0)
    assert len(batches) == 30
    assert sorted({b.offset_s for b in batches}) == [float(i) for i in range(30)]
    sizes = [len(b.targets) for b in batches]
    assert sum(sizes) == 7000
    assert max(sizes) < 2 * 7000 / 30  # no slot carries twice its share
    assert len({t.device for b in batches for t in b.targets}) == 7000


def test_few_devices_get_no_empty_slots():
    batches = plan("icmp", _members(3), slot_s=1.0)
    assert 1 <= len(batches) <= 3
    assert all(b.targets for b in batches)


def test_groups_with_different_settings_are_separate_batches():
    members = _members(100, key="fast") + [
        (Target(f"cam-{i}", f"127.2.0.{i + 1}"), ("slow", 120.0), 120.0, None) for i in range(50)]
    batches = plan("icmp", members, slot_s=1.0)
    by_group = Counter(b.group for b in batches)
    assert set(by_group) == {("fast", 30.0), ("slow", 120.0)}
    assert all(b.interval_s == 120.0 for b in batches if b.group == ("slow", 120.0))
    assert len({b.job_id for b in batches}) == len(batches)


def test_a_device_keeps_its_slot_when_others_are_added():
    before = {t.device: b.offset_s for b in plan("icmp", _members(1000), 1.0) for t in b.targets}
    after = {t.device: b.offset_s for b in plan("icmp", _members(1200), 1.0) for t in b.targets}
    assert all(after[name] == offset for name, offset in before.items())
