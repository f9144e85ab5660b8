"""How long normalising and masking a large configuration takes (probes/devconfig/text.prepare).

Masking runs on every fetched configuration, and once more when the store saves it, so it
must stay cheap next to the SSH session itself. The repository holds no large real capture
with a known origin (tests/fixtures/ssh/SOURCES.md), so this builds a core switch's
configuration in VRP's layout from the composed VRP fixture: its header, AAA, SNMP and user
interface sections once, and its interface section repeated for `--interfaces` ports (a
chassis switch with a few thousand ports), with a trunk's secrets every 50 ports. It also
times the planted catalogue configurations of every vendor (every secret-bearing form at
once) and the store's re-masking of stored versions.

    python -m bench.config_masking [--interfaces 2000] [--repeat 7]

The script uses only `prepare` and `rules_for`, so the same file run in a checkout of an
older masker measures that one (before/after figures of a masker change are taken that way).
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from pathlib import Path

from probes.devconfig.text import prepare, rules_for

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "ssh" / "huawei_vrp" / "display_current-configuration.txt"
CATALOGUES = ROOT / "probes" / "devconfig" / "catalogues"
KEY = bytes(range(32))


def large_vrp_config(interfaces: int) -> str:
    text = FIXTURE.read_text()
    head, _, rest = text.partition("interface Vlanif10\n")
    tail = rest[rest.index("ip route-static"):]
    blocks = []
    for n in range(interfaces):
        slot, port = divmod(n, 48)
        blocks.append(f"interface GigabitEthernet{slot}/0/{port + 1}\n description ROOM-{n:04d}-CODEC\n"
                      f" port link-type access\n port default vlan {100 + n % 10}\n stp edged-port enable\n#\n")
        if n % 50 == 0:
            blocks.append(f"interface Vlanif{1000 + n}\n ip address 10.{n // 250}.{n % 250}.1 255.255.255.0\n"
                          f" ospf authentication-mode md5 1 cipher %^%#Ospf{n}Blob%^%#\n"
                          f" vrrp vrid 1 authentication-mode md5 %^%#Vrrp{n}%^%#\n#\n")
    return head + "".join(blocks) + tail


def planted(vendor: str) -> str:
    import yaml

    data = yaml.safe_load((CATALOGUES / f"{vendor}.yaml").read_text(encoding="utf-8"))
    return "\n".join(re.sub(r"«(.*?)»", r"\1", example) for entry in data["statements"]
                     for example in entry["examples"]) + "\n"


def timed(function, repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        runs.append(time.perf_counter() - started)
    return statistics.median(runs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interfaces", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()

    print("| configuration | lines | prepare (normalise + mask), median | lines/s |")
    print("| --- | --- | --- | --- |")
    cases = [("huawei_vrp", f"VRP core switch, {args.interfaces} ports", large_vrp_config(args.interfaces)),
             ("huawei_vrp", "VRP fixture (tests/fixtures/ssh)", FIXTURE.read_text())]
    if CATALOGUES.is_dir():
        cases += [(vendor, f"{vendor}: every catalogue form", planted(vendor))
                  for vendor in ("huawei_vrp", "h3c_comware", "cisco_ios", "linux")]
    for rule_set, label, text in cases:
        rules = rules_for(rule_set)
        lines = text.count("\n")
        seconds = timed(lambda: prepare(text, rules, KEY), args.repeat)
        print(f"| {label} | {lines:,} | {seconds * 1000:.1f} ms | {lines / seconds:,.0f} |")

    try:
        from monitor.config_store import ConfigStore
        ConfigStore(Path(tempfile.gettempdir()), rules_for_device=None)
    except TypeError:
        return 0  # an older store: no re-masking to time
    rules = rules_for("huawei_vrp")
    text = large_vrp_config(args.interfaces // 4)
    raw = text.replace("%^%#", "")  # versions as a masker that let the secrets through stored them
    with tempfile.TemporaryDirectory() as directory:
        old = ConfigStore(Path(directory))
        for device in range(10):
            for version in range(10):
                old.save(f"SW-{device}", raw.replace("ROOM-0000", f"ROOM-V{version}"), fetched_at=1e9 + version)
        old.mask_key()
        started = time.perf_counter()
        done = ConfigStore(Path(directory), lambda _device: rules).remask_all()
        seconds = time.perf_counter() - started
    versions = sum(result.versions for result in done)
    print(f"\nre-masking the store: {versions} versions of {raw.count(chr(10)):,} lines in {seconds:.2f} s "
          f"({versions / seconds:.0f} versions/s, files rewritten and fsynced)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
