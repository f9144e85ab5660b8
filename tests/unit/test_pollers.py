"""Pollers' shares: which devices a share holds, and when two shares overlap."""

from __future__ import annotations

from pathlib import Path

from monitor import config
from monitor.pollers import overlapping, share, site_paths


def _cfg(tmp_path: Path, sites_setting: str = "[]") -> config.Config:
    (tmp_path / "inventory.yaml").write_text(
        "sites:\n  - {name: district}\n  - {name: room, parent: district}\n  - {name: east, parent: district}\n"
        "  - {name: east-1, parent: east}\n  - {name: eastern, parent: district}\n"
        "devices:\n  - {name: core, address: 10.0.0.1, class: switch, site: room}\n"
        "  - {name: e, address: 10.0.0.2, class: switch, site: east}\n"
        "  - {name: e1, address: 10.0.0.3, class: switch, site: east-1}\n"
        "  - {name: x, address: 10.0.0.4, class: switch, site: eastern}\n")
    (tmp_path / "netvigil.yaml").write_text(f"inventory: [inventory.yaml]\nstate_dir: s\npoller: {{sites: {sites_setting}}}\n")
    return config.load(tmp_path / "netvigil.yaml")


def test_a_share_is_its_sites_subtrees(tmp_path):
    cfg = _cfg(tmp_path)
    assert [d.name for d in share(cfg.inventory, ["east"]).devices] == ["e", "e1"]  # not "eastern"
    assert [d.name for d in share(cfg.inventory, ["room", "east-1"]).devices] == ["core", "e1"]
    assert len(share(cfg.inventory, []).devices) == 4
    assert site_paths(cfg.inventory, ["east-1"]) == ["district/east/east-1"]


def test_overlaps_are_a_site_in_both_or_one_inside_the_other():
    assert overlapping(["district/east"], ["district/east/east-1"]) == ["district/east/east-1"]
    assert overlapping(["district/east"], ["district/east"]) == ["district/east"]
    assert overlapping(["district/east"], ["district/eastern"]) == []
    assert overlapping(["district/room"], ["district/east", "district/eastern"]) == []
    assert overlapping([], ["district/room"]) == ["district/room"]  # the whole inventory holds every site
    assert overlapping([], []) == ["the whole inventory"]


def test_an_unknown_share_site_is_a_sentence_with_its_line(tmp_path):
    try:
        _cfg(tmp_path, "[easst]")
    except config.ConfigError as exc:
        [problem] = exc.problems
    else:
        raise AssertionError("an unknown site was accepted")
    assert problem.startswith(f"{tmp_path / 'netvigil.yaml'}:3: poller.sites: unknown site 'easst'"), problem
    assert "did you mean 'east'" in problem, problem
