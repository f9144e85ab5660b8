"""Dealing the inventory to worker processes: whole site subtrees where the load allows,
an even load always, the same answer for the same inventory."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor import config
from monitor.workers import AUTO_MIN_DEVICES, effective_workers, usable_cores
from monitor.workers.partition import TOLERANCE, device_weight, split


def _load(tmp_path: Path, sites: list[str], devices: list[tuple[str, str]], extra: str = "") -> config.Config:
    """A real configuration: sites as "name" or "name<parent", devices as (name, site)."""
    lines = ["sites:"]
    for entry in sites:
        name, _, parent = entry.partition("<")
        lines.append(f"  - {{name: {name}{', parent: ' + parent if parent else ''}}}")
    lines.append("devices:")
    for index, (name, site) in enumerate(devices):
        lines.append(f"  - {{name: {name}, address: 10.{index // 65536}.{index // 256 % 256}.{index % 256}, "
                     f"class: switch, site: {site}}}")
    (tmp_path / "inventory.yaml").write_text("\n".join(lines) + "\n")
    (tmp_path / "netvigil.yaml").write_text(f"inventory: [inventory.yaml]\nstate_dir: state\n{extra}")
    return config.load(tmp_path / "netvigil.yaml")


def _district(tmp_path: Path, streets: int, per_street: int, extra: str = "") -> config.Config:
    sites = ["district"] + [f"street{s}<district" for s in range(streets)]
    devices = [(f"d{s:02d}-{i:04d}", f"street{s}") for s in range(streets) for i in range(per_street)]
    return _load(tmp_path, sites, devices, extra)


def _owner(shards) -> dict[str, int]:
    return {name: index for index, shard in enumerate(shards) for name in shard.devices}


def test_every_device_goes_to_exactly_one_worker(tmp_path):
    cfg = _district(tmp_path, 15, 40)
    shards = split(cfg.inventory.devices, 2)
    names = [name for shard in shards for name in shard.devices]
    assert sorted(names) == sorted(d.name for d in cfg.inventory.devices)
    assert len(names) == len(set(names)) == 600


def test_streets_stay_whole_when_the_load_allows(tmp_path):
    cfg = _district(tmp_path, 15, 40)
    shards = split(cfg.inventory.devices, 2)
    owner = _owner(shards)
    for street in range(15):
        assert len({owner[f"d{street:02d}-{i:04d}"] for i in range(40)}) == 1, f"street{street} was cut"
    # 8 streets and 7: 320 devices against an even 300, inside the tolerance
    assert sorted(len(shard.devices) for shard in shards) == [280, 320]
    total = sum(shard.weight for shard in shards)
    assert max(shard.weight for shard in shards) <= total / 2 * (1 + TOLERANCE)
    assert {site for shard in shards for site in shard.sites} == {f"street{s}" for s in range(15)}


def test_three_equal_subtrees_on_two_workers_are_cut_to_even_the_load(tmp_path):
    cfg = _district(tmp_path, 3, 100)
    shards = split(cfg.inventory.devices, 2)
    total = sum(shard.weight for shard in shards)
    assert max(shard.weight for shard in shards) <= total / 2 * (1 + TOLERANCE)
    owner = _owner(shards)
    whole = [street for street in range(3) if len({owner[f"d{street:02d}-{i:04d}"] for i in range(100)}) == 1]
    assert len(whole) == 2  # only one street is cut, the other two stay whole


def test_one_flat_site_is_cut_in_halves(tmp_path):
    cfg = _load(tmp_path, ["room"], [(f"sw-{i:03d}", "room") for i in range(101)])
    shards = split(cfg.inventory.devices, 2)
    assert sorted(len(shard.devices) for shard in shards) == [50, 51]
    assert all(shard.sites == ("room",) for shard in shards)


def test_devices_at_a_site_and_in_its_child_sites(tmp_path):
    # the district's own core switches, and two streets
    sites = ["district", "east<district", "west<district"]
    devices = ([(f"core-{i}", "district") for i in range(10)] + [(f"e-{i}", "east") for i in range(10)]
               + [(f"w-{i}", "west") for i in range(10)])
    shards = split(_load(tmp_path, sites, devices).inventory.devices, 3)
    owner = _owner(shards)
    for prefix in ("core-", "e-", "w-"):
        assert len({owner[f"{prefix}{i}"] for i in range(10)}) == 1, prefix
    assert sorted(len(shard.devices) for shard in shards) == [10, 10, 10]


def test_a_site_with_one_child_and_no_devices_of_its_own_is_looked_through(tmp_path):
    sites = ["province", "city<province", "a<city", "b<city"]
    # names that interleave the two sites: a cut by name would mix them
    devices = [(f"x-{2 * i:02d}", "a") for i in range(20)] + [(f"x-{2 * i + 1:02d}", "b") for i in range(20)]
    shards = split(_load(tmp_path, sites, devices).inventory.devices, 2)
    owner = _owner(shards)
    a = {owner[f"x-{2 * i:02d}"] for i in range(20)}
    b = {owner[f"x-{2 * i + 1:02d}"] for i in range(20)}
    assert len(a) == len(b) == 1 and a != b


def test_a_district_is_cut_by_streets_not_by_rooms(tmp_path):
    # district -> 2 streets -> 2 rooms each: the streets stay whole on 2 workers
    sites = ["district", "east<district", "west<district", "e1<east", "e2<east", "w1<west", "w2<west"]
    devices = [(f"{room}-{i}", room) for room in ("e1", "e2", "w1", "w2") for i in range(10)]
    owner = _owner(split(_load(tmp_path, sites, devices).inventory.devices, 2))
    east = {owner[f"{room}-{i}"] for room in ("e1", "e2") for i in range(10)}
    west = {owner[f"{room}-{i}"] for room in ("w1", "w2") for i in range(10)}
    assert len(east) == len(west) == 1 and east != west


def test_a_cut_fills_the_least_loaded_worker_to_an_even_share_by_weight(tmp_path, monkeypatch):
    import monitor.workers.partition as partition

    # one flat site; the first device (by name) is as heavy as the five others together
    cfg = _load(tmp_path, ["room"], [(f"sw-{i}", "room") for i in range(6)])
    weights = {"sw-0": 5.0, **{f"sw-{i}": 1.0 for i in range(1, 6)}}
    monkeypatch.setattr(partition, "device_weight", lambda device: weights[device.name])
    shards = split(cfg.inventory.devices, 2)
    assert sorted(shard.devices for shard in shards) == [("sw-0",), ("sw-1", "sw-2", "sw-3", "sw-4", "sw-5")]


def test_the_first_devices_by_name_fill_the_room_and_the_rest_goes_back_in_line(tmp_path):
    # big (3 devices) fits nowhere whole: its first two fill a worker's even share (2)
    cfg = _load(tmp_path, ["big", "small"], [("big-0", "big"), ("big-1", "big"), ("big-2", "big"),
                                             ("small-0", "small")], "probes:\n  icmp: {interval_s: 60}\n")
    owner = _owner(split(cfg.inventory.devices, 2))
    assert owner["big-0"] == owner["big-1"] != owner["big-2"] == owner["small-0"]


def test_the_split_is_the_same_every_time_and_independent_of_file_order(tmp_path):
    cfg = _district(tmp_path, 7, 31)
    first = split(cfg.inventory.devices, 3)
    again = split(tuple(reversed(cfg.inventory.devices)), 3)
    assert [set(shard.devices) for shard in first] == [set(shard.devices) for shard in again]


@pytest.mark.parametrize("icmp, weight", [("{interval_s: 1, count: 1, timeout_s: 0.5}", 60.0), ("{interval_s: 20}", 3.0),
                                           ("{interval_s: 120}", 1.0),
                                           ("{interval_s: 240}", 1.0), ("{enabled: false}", 1.0)])
def test_weight_is_probe_runs_per_minute_and_at_least_one(tmp_path, icmp, weight):
    cfg = _load(tmp_path, ["room"], [("sw", "room")], f"probes:\n  icmp: {icmp}\n")
    assert device_weight(cfg.inventory.devices[0]) == pytest.approx(weight)


def test_weight_adds_up_every_kind(tmp_path):
    cfg = _load(tmp_path, ["room"], [("sw", "room")],
                "probes:\n  icmp: {interval_s: 30}\n  tcp: {ports: [22], interval_s: 15}\n")
    assert device_weight(cfg.inventory.devices[0]) == pytest.approx(2.0 + 4.0)


def test_heavier_devices_count_more_in_the_balance(tmp_path):
    sites = ["a", "b", "c"]
    devices = [(f"a-{i}", "a") for i in range(10)] + [(f"b-{i}", "b") for i in range(10)] + \
              [(f"c-{i}", "c") for i in range(20)]
    cfg = _load(tmp_path, sites, devices, "probes:\n  icmp: {interval_s: 60}\n")
    heavy = {d.name for d in cfg.inventory.devices if d.site in ("a", "b")}
    # a and b polled three times as often: 30 + 30 against c's 20
    weights = {name: (3.0 if name in heavy else 1.0) for name in (d.name for d in cfg.inventory.devices)}
    import monitor.workers.partition as partition

    original = partition.device_weight
    partition.device_weight = lambda device: weights[device.name]
    try:
        shards = split(cfg.inventory.devices, 2)
    finally:
        partition.device_weight = original
    # 30 + 30 + 20 cannot be dealt evenly whole: one subtree is cut, the others stay whole
    assert sorted(shard.weight for shard in shards) == [40.0, 40.0]
    owner = _owner(shards)
    members = {"a": [f"a-{i}" for i in range(10)], "b": [f"b-{i}" for i in range(10)],
               "c": [f"c-{i}" for i in range(20)]}
    cut = [site for site, names in members.items() if len({owner[name] for name in names}) > 1]
    assert len(cut) == 1, cut


def test_one_worker_gets_everything(tmp_path):
    cfg = _district(tmp_path, 3, 5)
    [shard] = split(cfg.inventory.devices, 1)
    assert len(shard.devices) == 15 and shard.sites == ("district",)
    assert shard.weight == sum(device_weight(device) for device in cfg.inventory.devices) == 15 * 2.0


def test_more_workers_than_devices_leaves_some_empty(tmp_path):
    cfg = _load(tmp_path, ["room"], [("a", "room"), ("b", "room")])
    shards = split(cfg.inventory.devices, 4)
    assert sorted(len(shard.devices) for shard in shards) == [0, 0, 1, 1]


def test_zero_workers_is_refused():
    with pytest.raises(ValueError, match="^workers must be at least 1$"):
        split((), 0)


def test_auto_means_one_per_core_from_the_threshold_on():
    assert effective_workers("auto", AUTO_MIN_DEVICES - 1) == 1
    assert effective_workers("auto", AUTO_MIN_DEVICES) == usable_cores()
    assert effective_workers(3, 10) == 3
    assert effective_workers(1, 100_000) == 1


def test_workers_setting_is_validated(tmp_path):
    (tmp_path / "inventory.yaml").write_text("devices: []\n")
    (tmp_path / "netvigil.yaml").write_text("inventory: [inventory.yaml]\nstate_dir: s\nworkers: 0\n")
    with pytest.raises(config.ConfigError) as caught:
        config.load(tmp_path / "netvigil.yaml")
    assert caught.value.problems == [f"{tmp_path / 'netvigil.yaml'}:3: workers: must be auto or a number of "
                                     f"processes from 1 to 64 (got 0)"]


def test_workers_from_the_environment(tmp_path, monkeypatch):
    (tmp_path / "inventory.yaml").write_text("devices: []\n")
    (tmp_path / "netvigil.yaml").write_text("inventory: [inventory.yaml]\nstate_dir: s\n")
    assert config.load(tmp_path / "netvigil.yaml").settings.workers == "auto"
    monkeypatch.setenv("NETVIGIL_WORKERS", "2")
    assert config.load(tmp_path / "netvigil.yaml").settings.workers == 2


def test_a_site_whose_one_child_holds_every_device_is_cut_inside_that_child(tmp_path):
    cfg = _load(tmp_path, ["top", "only<top"], [(f"sw-{i}", "only") for i in range(7)])
    shards = split(cfg.inventory.devices, 2)
    assert sorted(len(shard.devices) for shard in shards) == [3, 4]
    assert all(shard.sites == ("only",) for shard in shards)
