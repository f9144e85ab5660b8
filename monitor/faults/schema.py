"""The tables of the fault records, written once for both databases.

Each numbered step is a template the backends fill with their own type names, so the
SQLite file (`sqlite_backend.py`) and a PostgreSQL database (`postgres.py`) have the same
tables, columns, constraints and indexes, and the shared statements of `store.py` run on
both. A step is never edited once released: a change is a new step, in both backends at once.

Placeholders: {id} an id column that is never reused (after prune), {ref} a column holding
such an id, {real} unix seconds and measured values (8-byte floats on both).
"""

from __future__ import annotations

STEP_1 = """
CREATE TABLE fault (
    id               {id},
    device           TEXT NOT NULL,
    rule             TEXT NOT NULL,
    instance         TEXT NOT NULL DEFAULT '',
    severity         TEXT NOT NULL CHECK (severity IN ('critical', 'major', 'minor', 'warning')),
    message          TEXT NOT NULL DEFAULT '',
    site             TEXT NOT NULL DEFAULT '',
    site_path        TEXT NOT NULL DEFAULT '',          -- root/.../site, '/'-joined
    device_class     TEXT NOT NULL DEFAULT '',
    opened_at        {real} NOT NULL,
    last_seen_at     {real} NOT NULL,
    first_value      {real},
    last_value       {real},
    worst_value      {real},
    threshold        {real},
    higher_is_worse  INTEGER NOT NULL DEFAULT 1,        -- flags are 0/1 on both databases
    occurrences      INTEGER NOT NULL DEFAULT 1,
    acknowledged_at  {real},
    acknowledged_by  TEXT,
    resolved_at      {real},
    resolved_by      TEXT,
    closed_at        {real},
    closed_by        TEXT,
    cause            TEXT,
    resolution       TEXT,
    prevention       TEXT,
    symptom_of       {ref} REFERENCES fault(id) ON DELETE SET NULL,
    in_maintenance   INTEGER NOT NULL DEFAULT 0,
    maintenance      TEXT,
    heightened       INTEGER NOT NULL DEFAULT 0,
    ack_deadline     {real} NOT NULL,
    resolve_deadline {real} NOT NULL,
    ack_warn_at      {real} NOT NULL,   -- deadline minus the warning lead in force when it opened
    resolve_warn_at  {real} NOT NULL,
    ack_warned       INTEGER NOT NULL DEFAULT 0,
    ack_breached     INTEGER NOT NULL DEFAULT 0,
    resolve_warned   INTEGER NOT NULL DEFAULT 0,
    resolve_breached INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX fault_one_unresolved ON fault (device, rule, instance) WHERE resolved_at IS NULL;
CREATE INDEX fault_by_key ON fault (device, rule, instance, id);
CREATE INDEX fault_by_opened ON fault (opened_at);
CREATE INDEX fault_by_parent ON fault (symptom_of) WHERE symptom_of IS NOT NULL;
CREATE TABLE note (
    id       {id},
    fault_id {ref} NOT NULL REFERENCES fault(id) ON DELETE CASCADE,
    at       {real} NOT NULL,
    author   TEXT NOT NULL,
    text     TEXT NOT NULL
);
CREATE INDEX note_by_fault ON note (fault_id, id);
CREATE TABLE maintenance (
    id         {id},
    name       TEXT NOT NULL,
    selector   TEXT NOT NULL,     -- Selector as JSON
    starts_at  {real} NOT NULL,   -- once: opens; recurring: first moment an occurrence may open
    ends_at    {real},            -- once: closes; recurring: no occurrence opens from here (NULL: for ever)
    recurrence TEXT,              -- Recurrence as JSON, NULL for a one-off window
    created_by TEXT NOT NULL,
    created_at {real} NOT NULL,
    ended_at   {real},            -- ended early by hand
    ended_by   TEXT
);
"""

# Fault changes a poller kept on its own disk while the database was away
# (monitor/faults/pending.py): per queue, the last change applied, written in the same
# transaction as the changes themselves so that none is applied twice.
STEP_2 = """
CREATE TABLE applied_change (
    queue      TEXT PRIMARY KEY,  -- the queue file's own random id
    seq        {ref} NOT NULL,    -- its last change applied
    applied_at {real} NOT NULL
);
"""

#: The steps in order; the backends apply those a database has not had yet.
STEPS = {1: STEP_1, 2: STEP_2}


def render(step: str, *, id: str, ref: str, real: str) -> str:  # noqa: A002 - the placeholder's name
    return step.format(id=id, ref=ref, real=real)
