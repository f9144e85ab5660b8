"""Probe kind name -> `ProbeKind`: the one list of the kinds netvigil has.

The settings file's `probes:` section, the inventory's per-kind overrides, the scheduler's
jobs, `status` columns and `probe --kind` all come from this map. Adding a kind is a package
under probes/ exporting `KIND`, and one line here (README, "Add a probe kind").
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Mapping

from probes import icmp, snmp, ssh, tcp
from probes.base import ProbeKind

KINDS: Mapping[str, ProbeKind] = MappingProxyType({kind.name: kind for kind in (
    icmp.KIND,
    snmp.KIND,
    ssh.KIND,
    tcp.KIND,
)})

# scheduler job -> the kind whose prober runs it (ssh_config: SSH backups)
JOBS: Mapping[str, str] = MappingProxyType({job: kind.name for kind in KINDS.values() for job in kind.all_jobs})
