"""Durable runs: a journal of each run, and recovery of runs whose process died.

Not imported by ``import synapse_steps``; uses the standard library only.

    from synapse_steps.journal import Journal, unfinished_runs, recover_steps, abandon

    run = Journal().start_run("train", steps=["fetch", "fit"])   # committed; run.run_id
    run.record(record.to_dict())                      # buffered; progress coalesced
    run.progress((step, category), progress_record)   # progress fast path: one dict store
    run.step_completed(0, "fetch", result.data, result.rollback_data)   # committed
    run.rollback_started("fetch"); run.step_rolled_back("fetch", None)  # a live rollback
    run.finish("succeeded")                           # or "failed", "interrupted" ...

    # In a new process, after the kernel died:
    for info in unfinished_runs():                    # owner_alive=False: crashed
        recover_steps(info.run_id, lambda name, data, rollback_data: ...)  # or abandon(...)

Storage: SQLite in WAL mode (``synchronous=NORMAL``): every commit survives the death of the
process at any instant; power loss is out of scope. See ``_store``, ``_run`` and ``_recovery``
for the durability, buffering and recovery rules, and ``_codec`` for what values can be stored.
"""

from __future__ import annotations

import os
from typing import Any

from synapse_steps.journal._errors import JournalError
from synapse_steps.journal._journal import Journal, resolve_path
from synapse_steps.journal._recovery import CompletedStep, RecoveryReport, Rollback, RunInfo
from synapse_steps.journal._run import PROGRESS_KEY, PROGRESS_TYPE, JournalRun

PathArg = str | os.PathLike[str] | None


def unfinished_runs(path: PathArg = None) -> list[RunInfo]:
    """Runs of the journal at ``path`` (default store if None) that never finished."""
    return Journal(path).unfinished_runs()


def recover_steps(run_id: str, rollback: Rollback, path: PathArg = None) -> RecoveryReport:
    """Roll back a dead run from its journal; see ``Journal.recover_steps``."""
    return Journal(path).recover_steps(run_id, rollback)


def abandon(run_id: str, path: PathArg = None) -> None:
    """Mark a dead run abandoned (nothing rolled back); see ``Journal.abandon``."""
    Journal(path).abandon(run_id)


def run_records(run_id: str, path: PathArg = None) -> list[dict[str, Any]]:
    """The records a run journaled, in order; see ``Journal.records``."""
    return Journal(path).records(run_id)


__all__ = [
    "PROGRESS_KEY",
    "PROGRESS_TYPE",
    "CompletedStep",
    "Journal",
    "JournalError",
    "JournalRun",
    "RecoveryReport",
    "Rollback",
    "RunInfo",
    "abandon",
    "recover_steps",
    "resolve_path",
    "run_records",
    "unfinished_runs",
]
