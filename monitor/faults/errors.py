"""What fault records and maintenance windows refuse, as sentences a person can act on.

A module of its own so that the fault store and the maintenance windows (one database,
two modules) share the same errors and input checks without importing each other.
"""

from __future__ import annotations

from typing import Optional

AUTO = "auto"  # resolved_by of a fault whose clear condition held


class FaultError(Exception):
    """A sentence a person can act on (the CLI prints it as is)."""


class FaultNotFound(FaultError):
    pass


class FaultStateError(FaultError):
    """The fault is not in a state that allows this (already closed, still open, ...)."""


class FaultInputError(FaultError):
    """A required text is missing or a value is out of range."""


class FaultStoreUnavailable(FaultError):
    """The fault database cannot be used now: a PostgreSQL server unreachable, credentials
    refused, the connection lost, or another writer's batch held the lock too long."""


class FaultStoreMissing(FaultError):
    """No fault records exist there yet (the daemon creates them when it starts)."""


def required_text(value: Optional[str], what: str) -> str:
    """`value` stripped; FaultInputError naming `what` when nothing is left."""
    text = (value or "").strip()
    if not text:
        raise FaultInputError(f"{what} must not be empty")
    return text


def person(by: Optional[str]) -> str:
    """The name of who does something; "auto" is kept for automatic resolution."""
    name = required_text(by, "the name of who does this (--by NAME)")
    if name == AUTO:
        raise FaultInputError(f"'{AUTO}' is reserved for automatic resolution; give a person's name")
    return name
