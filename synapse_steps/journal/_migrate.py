"""Bringing an older journal file to the current schema (``_store.SCHEMA_VERSION``).

Version 1 kept every run in the store as it went: a ``runs`` row (status NULL while open) and an
``entries`` row per completed step or batch of records, rollback state in columns. Version 2 keeps
only ended runs there, each with its whole log (``_runlog``); a run in progress or dead lives in
its log file. So each version-1 run becomes a log: an ended one is stored, an open or dead one is
written to its log file (where recovery and ``unfinished_runs`` find it), atomically, before the
transaction that drops the old tables commits.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

from synapse_steps.journal._kept import store_run
from synapse_steps.journal._runlog import (
    ENTRY,
    FINISH,
    ROLLBACK,
    RUN,
    Op,
    frame,
    log_path,
    parse_log,
)

_KEY_SHIFT = 32  # version 1 keyed a run's entries (run id << 32) | entry number


def from_version_1(conn: sqlite3.Connection, journal: Path) -> None:
    """Turn the ``runs_v1`` / ``entries_v1`` tables into logs (inside the caller's transaction)."""
    runs = conn.execute(
        "SELECT id, run_id, workflow, steps, meta, started_at, pid, host, status, finished_at "
        "FROM runs_v1 ORDER BY id"
    ).fetchall()
    for key, run_id, workflow, steps, meta, started_at, pid, host, status, finished_at in runs:
        ops: list[Op] = [(RUN, run_id, workflow, steps, meta, started_at, pid, host)]
        ops += _entry_ops(conn, key)
        if status is not None:
            ops.append((FINISH, status, finished_at if finished_at is not None else started_at))
        data = b"".join(frame(op) for op in ops)
        if status is not None:
            store_run(conn, parse_log(run_id, data), data)
        else:
            _write_log(log_path(journal, run_id), data)
    conn.execute("DROP TABLE runs_v1")
    conn.execute("DROP TABLE entries_v1")


def _entry_ops(conn: sqlite3.Connection, key: int) -> list[Op]:
    ops: list[Op] = []
    rows = conn.execute(
        "SELECT id, position, name, success, unstorable, completed_at, data, rollback_data, "
        "records, rollback, rollback_error FROM entries_v1 WHERE id BETWEEN ? AND ? ORDER BY id",
        (key << _KEY_SHIFT, ((key + 1) << _KEY_SHIFT) - 1),
    ).fetchall()
    for row in rows:
        entry_id, position, name, success, unstorable, completed_at = row[:6]
        data, rollback_data, records, rollback, rollback_error = row[6:]
        index = entry_id - (key << _KEY_SHIFT)
        # Version 1 kept a step's StepStarted / StepFinished among its records: no columns.
        columns: tuple[Any, ...] = (position, name, success, unstorable, completed_at)
        ops.append((ENTRY, index, *columns, None, None, None, None, data, rollback_data, records))
        if rollback in ("started", "done"):
            ops.append((ROLLBACK, index, "started", None))
        if rollback == "done":
            ops.append((ROLLBACK, index, "done", rollback_error))
    return ops


def _write_log(path: Path, data: bytes) -> None:
    if path.exists():  # written by an earlier attempt whose transaction did not commit
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)
