"""What the journal's SQLite file keeps, read through a connection of its own (as another
process would): the runs that ended, each with its whole log. Each helper first stores the runs
this process ended (``keep_ended``: they are written into the store in batches)."""

from __future__ import annotations

import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

from synapse_steps.journal._run import keep_ended
from synapse_steps.journal._runlog import ROLLBACK, RunLog, parse_log
from synapse_steps.journal._store import store_for


def _kept_now(path: Path) -> None:
    keep_ended(store_for(path))


def runs(path: Path) -> list[tuple[str, str, str]]:
    """(run_id, workflow, status) of every run kept, oldest first."""
    _kept_now(path)
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT run_id, workflow, status FROM runs ORDER BY id").fetchall()


def logs(path: Path) -> list[RunLog]:
    """The log of every run kept, oldest first."""
    _kept_now(path)
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT run_id, log FROM runs ORDER BY id").fetchall()
    return [parse_log(run_id, bytes(data)) for run_id, data in rows]


def entries(path: Path) -> list[dict[str, Any]]:
    """The entries of every run kept that hold a completed step, oldest run first."""
    return [e for log in logs(path) for e in log.entries() if e["position"] is not None]


def rollback_calls(log: RunLog) -> dict[str, int]:
    """How many times each step's rollback was started (by the run and by recoveries)."""
    names = {e["id"]: e["name"] for e in log.entries()}
    return dict(Counter(names[op[1]] for op in log.ops if op[0] == ROLLBACK and op[2] == "started"))
