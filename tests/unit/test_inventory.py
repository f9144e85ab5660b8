"""Inventory resolution: site paths and tags, effective ICMP settings, parents."""

from __future__ import annotations

import os

import pytest

from monitor import config, inventory, yamlfile
from probes.base import Target
from probes.icmp.settings import IcmpSettings

SITES = """\
sites:
  - {name: dongcheng, level: district, label: 东城区}
  - {name: street-03, parent: dongcheng, level: street, label: 东华门街道}
  - {name: community-07, parent: street-03, level: community}
  - {name: bureau-stats, parent: dongcheng}
"""


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch):
    for name in list(os.environ):
        if name.upper().startswith("NETVIGIL_") or name in ("CREDENTIALS_DIRECTORY", "STATE_DIRECTORY"):
            monkeypatch.delenv(name)


def resolve(*texts: str, icmp: IcmpSettings = IcmpSettings()) -> inventory.Inventory:
    return inventory.resolve([yamlfile.parse(text, f"inv{i}.yaml") for i, text in enumerate(texts)], icmp)


def problems(*texts: str, icmp: IcmpSettings = IcmpSettings()) -> list[str]:
    with pytest.raises(config.ConfigError) as caught:
        resolve(*texts, icmp=icmp)
    return caught.value.problems


def test_sites_get_paths_levels_and_labels():
    inv = resolve(SITES)
    assert inv.sites["community-07"] == inventory.Site(
        name="community-07", parent="street-03", level="community", label="community-07",
        path=("dongcheng", "street-03", "community-07"))
    assert inv.sites["street-03"].label == "东华门街道"
    assert inv.sites["bureau-stats"].level == "l2"  # default: l<depth>


def test_sample_tags_carry_every_site_level_on_the_path():
    inv = resolve(SITES, """\
devices:
  - {name: 社区终端-01, address: 198.51.100.7, class: codec, site: community-07}
  - {name: stats-codec, address: stats-codec.example.org, class: codec, site: bureau-stats}
""")
    codec = inv.by_name("社区终端-01")
    assert dict(codec.sample_tags) == {
        "device": "社区终端-01", "address": "198.51.100.7", "class": "codec", "site": "community-07",
        "district": "dongcheng", "street": "street-03", "community": "community-07"}
    assert list(codec.sample_tags) == ["device", "address", "class", "site", "district", "street", "community"]
    assert codec.site_path == ("dongcheng", "street-03", "community-07")
    assert dict(inv.by_name("stats-codec").sample_tags) == {
        "device": "stats-codec", "address": "stats-codec.example.org", "class": "codec", "site": "bureau-stats",
        "district": "dongcheng", "l2": "bureau-stats"}
    assert codec.target() == Target(device="社区终端-01", address="198.51.100.7", tags=codec.sample_tags)
    with pytest.raises(TypeError):
        codec.sample_tags["device"] = "changed"  # shared with every sample: read-only


def test_effective_icmp_precedence_settings_class_sites_device():
    settings = IcmpSettings(count=3, interval_s=40, timeout_s=0.5)
    inv = resolve("""\
sites:
  - {name: root, defaults: {icmp: {count: 5, interval_s: 50}}}
  - {name: leaf, parent: root, defaults: {icmp: {count: 6}}}
  - {name: plain}
classes:
  camera: {icmp: {count: 4, timeout_s: 0.7}}
devices:
  - {name: settings-only, address: 192.0.2.1, class: switch, site: plain}
  - {name: class-only, address: 192.0.2.2, class: camera, site: plain}
  - {name: at-root, address: 192.0.2.3, class: camera, site: root}
  - {name: at-leaf, address: 192.0.2.4, class: camera, site: leaf}
  - {name: own-override, address: 192.0.2.5, class: camera, site: leaf, icmp: {count: 7, enabled: false}}
""", icmp=settings)

    def effective(name):
        icmp = inv.by_name(name).icmp
        return icmp.count, icmp.interval_s, icmp.timeout_s, icmp.enabled

    assert effective("settings-only") == (3, 40, 0.5, True)
    assert effective("class-only") == (4, 40, 0.7, True)       # class over settings
    assert effective("at-root") == (5, 50, 0.7, True)          # site over class
    assert effective("at-leaf") == (6, 50, 0.7, True)          # leaf site over root site, root's interval inherited
    assert effective("own-override") == (7, 50, 0.7, False)    # device over everything
    assert inv.by_name("settings-only").icmp is settings       # no override: the settings object itself


def test_parents_accept_a_name_or_a_list():
    inv = resolve(SITES, """\
devices:
  - {name: rt-1, address: 192.0.2.1, class: router, site: dongcheng}
  - {name: rt-2, address: 192.0.2.2, class: router, site: dongcheng}
  - {name: sw-1, address: 192.0.2.3, class: switch, site: dongcheng, parent: rt-1, tags: [uplink, vip, vip]}
  - {name: sw-2, address: 192.0.2.4, class: switch, site: dongcheng, parent: [rt-1, rt-2]}
""")
    assert inv.by_name("sw-1").parents == ("rt-1",)
    assert inv.by_name("sw-1").tags == ("uplink", "vip")
    assert inv.by_name("sw-2").parents == ("rt-1", "rt-2")
    assert inv.by_name("missing") is None


def test_files_merge_and_sources_name_file_and_line():
    inv = resolve(SITES, "classes:\n  camera: {icmp: {count: 10}}\n",
                  "devices:\n  - name: cam-1\n    address: 192.0.2.9\n    class: camera\n    site: street-03\n")
    device = inv.by_name("cam-1")
    assert device.source == "inv2.yaml:2"
    assert device.icmp.count == 10
    assert inv.files == ("inv0.yaml", "inv1.yaml", "inv2.yaml")


def test_problems_across_files_are_sorted_by_file_then_line():
    found = problems(
        "devices:\n  - {name: a, address: 192.0.2.1, class: camra, site: s}\n",
        "sites:\n  - {name: s, level: device}\n  - {name: t, parent: q}\n")
    assert found == [
        "inv0.yaml:2: devices[0].class: unknown class 'camra' (did you mean 'camera'?)",
        "inv1.yaml:2: sites[0].level: 'device' is a reserved tag key (device, address, class, site); "
        "choose another level name",
        "inv1.yaml:3: sites[1].parent: unknown site 'q'",
    ]


def test_a_level_repeated_on_one_path_is_a_problem():
    assert problems("sites:\n  - {name: a, level: street}\n  - {name: b, parent: a, level: street}\n") == [
        "inv0.yaml:3: sites[1].level: level 'street' is also the level of site 'a' above it; each level on a "
        "path needs its own name (it becomes a tag key)"]


def test_duplicate_site_and_class_definitions_name_both_places():
    assert problems("sites:\n  - {name: a}\n", "sites:\n  - {name: a}\nclasses:\n  ups: {}\n",
                    "classes:\n  ups: {icmp: {count: 3}}\n") == [
        "inv1.yaml:2: sites[0].name: duplicate site 'a' (also at inv0.yaml:2)",
        "inv2.yaml:2: classes.ups: class 'ups' is also defined at inv1.yaml:4",
    ]


def test_effective_settings_are_not_checked_when_the_settings_are_invalid():
    text = SITES + "devices:\n  - {name: a, address: 192.0.2.1, class: ups, site: dongcheng, icmp: {count: 1000}}\n"
    assert resolve(text, icmp=None).by_name("a").icmp == IcmpSettings()
    assert len(problems(text)) == 1


def test_device_without_any_field_reports_each_required_one():
    assert problems("devices:\n  - {tags: []}\n") == [
        "inv0.yaml:2: devices[0].name: required",
        "inv0.yaml:2: devices[0].address: required",
        "inv0.yaml:2: devices[0].class: required",
        "inv0.yaml:2: devices[0].site: required",
    ]


@pytest.mark.parametrize("address, key", [
    ("10.1.0.1", "10.1.0.1"),
    ("2001:DB8::0:1", "2001:db8::1"),
    ("fe80::1%eth0", "fe80::1%eth0"),
    ("Core-SW-01.Example.ORG.", "core-sw-01.example.org"),
    ("nvr_01.local", "nvr_01.local"),
    ("localhost", "localhost"),
    ("10.1.0.256", None),
    ("10.1.0", None),
    ("010.1.0.1", None),
    ("cam 01", None),
    ("-bad.example", None),
    ("摄像机.example", None),
    ("", None),
    ("a" * 64 + ".example", None),
])
def test_address_key(address, key):
    assert inventory.address_key(address) == key


def test_find_cycles_reports_each_cycle_once_from_its_first_name():
    graph = {"a": ("b",), "b": ("c",), "c": ("a",), "d": ("d",), "e": ("a", "f"), "f": ("e",), "g": ()}
    assert inventory.find_cycles(graph) == [["a", "b", "c", "a"], ["d", "d"], ["e", "f", "e"]]


def test_find_cycles_handles_deep_chains_without_recursion():
    graph = {f"n{i}": (f"n{i + 1}",) for i in range(50_000)}
    assert inventory.find_cycles(graph) == []
    graph["n50000"] = ("n0",)
    assert len(inventory.find_cycles(graph)[0]) == 50_002


def write_large_inventory(directory, count: int) -> None:
    """The shape of the 7,000-device sub-district contract: 15 streets x 12 communities."""
    lines = ["sites:", "  - {name: district, level: district, label: 东城区}"]
    for s in range(15):
        lines.append(f"  - {{name: street-{s:02d}, parent: district, level: street}}")
        lines += [f"  - {{name: c-{s:02d}-{c:02d}, parent: street-{s:02d}, level: community}}" for c in range(12)]
    lines += ["classes:", "  camera: {icmp: {interval_s: 120, count: 10}}", "devices:"]
    classes = ("camera", "switch", "nvr", "codec", "phone", "server", "ups", "env_sensor")
    for i in range(count):
        lines += [f"  - name: dev-{i:05d}", f"    address: 10.{i >> 16}.{(i >> 8) & 255}.{i & 255}",
                  f"    class: {classes[i % len(classes)]}", f"    site: c-{i % 15:02d}-{(i // 15) % 12:02d}"]
        if i % 10:
            lines.append(f"    parent: dev-{i - i % 10:05d}")
    (directory / "inventory.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (directory / "netvigil.yaml").write_text("inventory: [inventory.yaml]\n", encoding="utf-8")


def test_seven_thousand_devices_load_with_their_parents(tmp_path):
    # How fast: tests/integration/test_inventory_timing.py (a time bound fails on a loaded machine).
    write_large_inventory(tmp_path, 7000)
    cfg = config.load(tmp_path / "netvigil.yaml")
    assert len(cfg.inventory.devices) == 7000
    assert cfg.inventory.by_name("dev-06999").parents == ("dev-06990",)
