"""Durable runs: a journal of each run, and recovery of runs whose process died.

Not imported by ``import synapse_steps`` (the orchestrator reaches it through ``seams``); it
needs nothing beyond the standard library.

    from synapse_steps.journal import Journal, unfinished_runs, recover_steps, abandon, runs

    run = Journal().start_run("train", steps=["fetch", "fit"])   # written; run.run_id
    run.record(record.to_dict())                      # buffered; progress coalesced
    run.progress((step, category), progress_record)   # progress fast path: one dict store
    run.step_completed(0, "fetch", result.data, result.rollback_data)   # written
    run.rollback_started("fetch"); run.step_rolled_back("fetch", None)  # a live rollback
    run.finish("succeeded")                           # ended; the store keeps it

    # In a new process, after the kernel died:
    for info in unfinished_runs():                    # owner_alive=False: crashed
        recover_steps(info.run_id, lambda name, data, rollback_data: ...)  # or abandon(...)

    # What an Orchestrator journals (journal=True, the default) is recovered with its steps:
    recover(run_id, registry, context)                # the user rebuilds registry and context

    runs("train")                                     # its recent runs, of every outcome

Storage: a run in progress (or whose process died) is its own append-only log file,
``<journal>-runs/<run_id>.log``, one ``write()`` per step; a run that ended is kept, log and
all, in the journal's SQLite file (WAL, ``synchronous=NORMAL``). Both survive the death of the
process at any instant; power loss is out of scope. See ``_runlog`` for the log and its frames,
``_run`` for what is written when, ``_store`` for the SQLite file (``_migrate`` for older ones),
``_listing`` for reading runs back, ``_recovery`` for recovering them (``_sweep`` for what
runs leave behind), ``_checkpoint`` for when the WAL is copied into the database (in a
background thread), and ``_codec`` for what values can be stored.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from synapse_steps.errors import UsageError
from synapse_steps.journal._errors import JournalError
from synapse_steps.journal._history import RunHistory, RunSummary, UnfinishedRuns, read_runs
from synapse_steps.journal._journal import Journal, resolve_path
from synapse_steps.journal._listing import CompletedStep, RunInfo, run_info
from synapse_steps.journal._recovery import RecoveryReport, Rollback
from synapse_steps.journal._run import PROGRESS_KEY, PROGRESS_TYPE, JournalRun
from synapse_steps.journal.writer import JournalWriter, UnfinishedRunWarning

if TYPE_CHECKING:
    from synapse_steps.steps.context import BaseStepContext
    from synapse_steps.steps.registry import StepRegistry

PathArg = str | os.PathLike[str] | None


def unfinished_runs(path: PathArg = None) -> UnfinishedRuns:
    """Runs of the journal at ``path`` (default store if None) that never finished, oldest
    first: a list of ``RunInfo`` that shows as a table, each row with the ``recover(...)`` and
    ``abandon(...)`` call for it."""
    given = None if path is None else os.fspath(path)
    return UnfinishedRuns(Journal(path).unfinished_runs(), path_given=given)


def runs(workflow: str | None = None, limit: int = 20, path: PathArg = None) -> RunHistory:
    """The newest ``limit`` runs of the journal at ``path`` (default store if None), of every
    outcome, newest first; only ``workflow``'s when given.

    Each is a ``RunSummary``: id, workflow, start, duration, steps completed / total, the step
    it stopped at and why, how it ended, the last value of each metric. The list shows as a
    table in a notebook and as text in a terminal; ``.frame()`` gives a DataFrame and
    ``.plot_metrics(run_ids=None, metric=None)`` draws a metric across runs.
    """
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise UsageError(f"runs(limit=...) takes a whole number of runs >= 1, got {limit!r}")
    if workflow is not None and not isinstance(workflow, str):
        raise UsageError(
            f"runs(workflow=...) takes a workflow name (str) or None, got {workflow!r}"
        )
    journal = resolve_path(path)
    given = None if path is None else os.fspath(path)
    found = read_runs(journal, workflow, limit)
    return RunHistory(found, journal=journal, workflow=workflow, path_given=given)


def recover_steps(run_id: str, rollback: Rollback, path: PathArg = None) -> RecoveryReport:
    """Roll back a dead run from its journal; see ``Journal.recover_steps``."""
    return Journal(path).recover_steps(run_id, rollback)


def recover(
    run_id: str,
    registry: StepRegistry[Any],
    context: BaseStepContext,
    path: PathArg = None,
) -> RecoveryReport:
    """Roll back the completed steps of a dead orchestrator run, newest first.

    Each step is looked up by name in ``registry`` (rebuilt by the user in the new process) and
    its ``rollback(context, StepResult(data=..., rollback_data=...))`` is called with the
    journaled result. Every step to roll back must be in the registry: otherwise nothing is
    rolled back and ``JournalError`` names the missing ones. A run is never rolled back twice.
    """
    from synapse_steps.steps.base import StepResult

    journal = Journal(path)
    steps = {step.name: step for step in registry.get_steps()}
    # This run's log alone: an unreadable log of another run must not stop this recovery.
    info = run_info(journal.path, run_id)
    if info is not None:
        missing = [name for name in info.to_roll_back if name not in steps]
        if missing:
            raise JournalError(
                f"Cannot recover run {run_id!r} (workflow {info.workflow!r}): the registry "
                f"has no step named {', '.join(repr(m) for m in missing)} (it holds "
                f"{', '.join(repr(s) for s in steps) or 'no steps'}). Register the steps the "
                "run used, under the same names, then call recover() again."
            )

    def rollback(name: str, data: Any, rollback_data: Any) -> None:
        step = steps.get(name)
        if step is None:  # registered when checked above; gone since (another thread)
            raise JournalError(f"The registry has no step named {name!r}; cannot roll it back.")
        context.current_step = name
        try:
            step.rollback(context, StepResult(data=data, rollback_data=rollback_data))
        finally:
            context.current_step = None

    return journal.recover_steps(run_id, rollback)


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
    "JournalWriter",
    "RecoveryReport",
    "Rollback",
    "RunHistory",
    "RunInfo",
    "RunSummary",
    "UnfinishedRunWarning",
    "UnfinishedRuns",
    "abandon",
    "recover",
    "recover_steps",
    "resolve_path",
    "run_records",
    "runs",
    "unfinished_runs",
]
