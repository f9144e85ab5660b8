"""Pollers on several servers: each probes its share of one district's inventory.

Every poller reads the whole inventory (a parent in another poller's share must be known to
judge a child), and probes only the devices under its `poller.sites`. Their fault records are
one PostgreSQL database (faults.database), so faults, acknowledgements, maintenance, reports
and the API see the whole district from any poller.

Two pollers must never probe the same device (each would alert for it): a poller registers
its share in the database at start, with a heartbeat every HEARTBEAT_S, and refuses to start
when a live poller of another name has a share that overlaps (a site in both, or one inside
the other). A poller that stopped counts as gone after STALE_S, so a dead server does not
block its replacement for long; the two servers of an active/standby pair have the same name,
and only the active one registers.
"""

from __future__ import annotations

import socket
import time
from typing import Any, Callable, Optional, Sequence

from pydantic import BaseModel, ConfigDict, Field

HEARTBEAT_S = 20.0
STALE_S = 3 * HEARTBEAT_S

POLLERS_TABLE = """
CREATE TABLE IF NOT EXISTS pollers (
    name         TEXT PRIMARY KEY,
    server       TEXT NOT NULL,
    sites        TEXT[] NOT NULL,          -- site paths ('/'-joined); empty: the whole inventory
    heartbeat_at DOUBLE PRECISION NOT NULL
)
"""


class PollerSettings(BaseModel):
    """This daemon's share of the inventory (docs/operations.md, "Pollers on several servers")."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Optional[str] = Field(None, min_length=1, max_length=200,
                                description="this poller's name among the pollers sharing faults.database (the "
                                            "two servers of an active/standby pair share one); null: the host name")
    sites: list[str] = Field(default_factory=list,
                             description="the site subtrees this poller probes (every device at or below them); "
                                         "[]: every device of the inventory")

    def poller_name(self) -> str:
        return self.name or socket.gethostname()


def site_paths(inventory, sites: Sequence[str]) -> list[str]:
    """The share's sites as '/'-joined paths from the root (how overlaps are compared)."""
    return ["/".join(inventory.sites[site].path) for site in sites]


def in_share(device, paths: Sequence[str]) -> bool:
    if not paths:
        return True
    mine = "/".join(device.site_path)
    return any(mine == path or mine.startswith(path + "/") for path in paths)


def share(inventory, sites: Sequence[str]):
    """The inventory with only the share's devices (sites kept)."""
    from monitor.inventory import Inventory

    paths = site_paths(inventory, sites)
    return Inventory(inventory.sites, tuple(d for d in inventory.devices if in_share(d, paths)), inventory.files)


def overlapping(mine: Sequence[str], theirs: Sequence[str]) -> list[str]:
    """Site paths the two shares have in common (a site in both, or one inside the other);
    an empty share is the whole inventory."""
    if not mine or not theirs:
        return list(mine or theirs) or ["the whole inventory"]
    common = []
    for a in mine:
        for b in theirs:
            if a == b or a.startswith(b + "/") or b.startswith(a + "/"):
                common.append(a if len(a) >= len(b) else b)
    return sorted(set(common))


class Registry:
    """The `pollers` table. `connect()`: a new autocommit psycopg connection."""

    def __init__(self, connect: Callable[[], Any], name: str, server: str, paths: Sequence[str],
                 clock: Callable[[], float] = time.time) -> None:
        self.connect = connect
        self.name = name
        self.server = server
        self.paths = list(paths)
        self.clock = clock

    def conflicts(self) -> list[tuple[str, str, list[str]]]:
        """Live pollers of other names whose shares overlap this one: (name, server, sites)."""
        with self.connect() as connection:
            connection.execute(POLLERS_TABLE)
            rows = connection.execute("SELECT name, server, sites FROM pollers WHERE name <> %s AND heartbeat_at > %s",
                                      (self.name, self.clock() - STALE_S)).fetchall()
        return [(name, server, common) for name, server, sites in rows
                if (common := overlapping(self.paths, sites))]

    def beat(self) -> None:
        """Register or renew this poller's share."""
        with self.connect() as connection:
            connection.execute(POLLERS_TABLE)
            connection.execute(
                "INSERT INTO pollers (name, server, sites, heartbeat_at) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (name) DO UPDATE SET server = excluded.server, sites = excluded.sites, "
                "heartbeat_at = excluded.heartbeat_at", (self.name, self.server, self.paths, self.clock()))

    def leave(self) -> None:
        with self.connect() as connection:
            connection.execute("DELETE FROM pollers WHERE name = %s AND server = %s", (self.name, self.server))
