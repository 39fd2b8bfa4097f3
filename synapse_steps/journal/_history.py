"""Runs of every outcome, read back from the journal: ``runs()``, and what a new run says about
its workflow's previous run.

A run that ended is a row of the store (its whole log); a run that is open, or whose process
died, is its own log file (``_runlog``). Both are read with the journal's own readers, and each
run's records are folded into a ``RunState``, the model the live view and the record draw from,
so a run listed here is described with the same words and numbers as it was on screen. Reading
writes nothing.

Rendering (HTML in light and dark themes, text, a DataFrame, a figure across runs) is in
``synapse_steps.display.history``, reached through ``synapse_steps.wiring`` (the display draws
this module's types) and imported only when asked for: this module imports no pandas,
matplotlib or IPython.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from synapse_steps.errors import NotFoundError, UsageError
from synapse_steps.events import record_from_dict
from synapse_steps.journal._errors import JournalError
from synapse_steps.journal._kernel import KERNEL_RESTART, KERNEL_SHUTDOWN
from synapse_steps.journal._listing import RunInfo, entry_records, run_records
from synapse_steps.journal._lock import is_held
from synapse_steps.journal._metric_batch import BATCH_TYPE, METRICS_TYPE, last_record
from synapse_steps.journal._runlog import RunLog, log_dir, parse_log, read_log
from synapse_steps.journal._store import store_for
from synapse_steps.metrics import MetricStore
from synapse_steps.run_state import RunState
from synapse_steps.wiring import WIRING

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

#: What ``RunSummary.status`` can be, and what each means.
STATUSES: dict[str, str] = {
    "succeeded": "every step ran (or was skipped or reused)",
    "failed": "a step failed; the steps it had done were rolled back",
    "rollback failed": "a step failed or the run was stopped, and a rollback raised",
    "interrupted": "stopped (the stop button, Ctrl-C); the steps done were rolled back",
    "kernel restart": "stopped by a restart of its Jupyter kernel; the steps done were rolled back",
    "kernel shutdown": "stopped by the shutdown of its Jupyter kernel; rolled back likewise",
    "unfinished": "its process died (killed, crashed): recover() or abandon() it",
    "running": "its process is running it now",
    "kept": "a step failed and the steps done were kept for resume() (its process lives)",
    "recovered": "its process died; recover() rolled its steps back",
    "abandoned": "its process died; abandon() left its steps as they were",
    "journal error": "the journal could not be written, so it stopped following the run",
}
#: The statuses of a run that ended in a way no view of it could show.
UNSEEN = ("kernel restart", "kernel shutdown", "unfinished")


@dataclass(frozen=True)
class RunSummary:
    """One run as ``runs()`` lists it."""

    run_id: str
    workflow: str
    #: When it started (local time, aware).
    started_at: datetime
    #: Seconds from start to end; None while it runs, or when its process died.
    duration: float | None
    #: One of ``STATUSES``.
    status: str
    #: How it ended, in words: ``failed, rolled back 2 steps; rollback failed for 'open_db'``.
    outcome: str
    steps_completed: int
    steps_total: int
    #: The step it stopped at (failed, interrupted, running when its process died).
    stopped_at: str | None
    #: Why it stopped there: the step's error, ``kernel restart``, ``process died`` ...
    reason: str | None
    #: Steps rolled back (by the run, or by a later recover()), and those whose rollback raised.
    rolled_back: int
    rollback_failed: tuple[str, ...]
    #: Completed steps not rolled back (what recover() would undo), newest first.
    not_rolled_back: tuple[str, ...]
    #: The last step that completed (where a killed run was, when the step after it had not
    #: written anything yet).
    last_completed: str | None = None
    #: The last value of each metric: ``loss``, or ``category/loss`` when the run reported
    #: several categories.
    metrics: dict[str, float] = field(default_factory=dict)
    #: The process that ran it: its pid and host, and whether it is alive now.
    pid: int = 0
    host: str = ""
    owner_alive: bool = False


# -- reading -------------------------------------------------------------------------------------


@dataclass
class _Found:
    log: RunLog
    alive: bool

    @property
    def started(self) -> float:
        assert self.log.header is not None
        return float(self.log.header[5])


def read_runs(journal: Path, workflow: str | None = None, limit: int = 20) -> list[RunSummary]:
    """The newest ``limit`` runs of ``journal`` (of ``workflow`` only, if given), newest first."""
    if not journal.exists():
        return []
    found = _find(journal, workflow, limit)
    return [summarize(item.log, alive=item.alive) for item in found]


def _find(journal: Path, workflow: str | None, limit: int) -> list[_Found]:
    store = store_for(journal)  # opening brings an older file up to date
    # Logs first, then the store: a run whose log is stored and removed in between is then
    # found in the store; one seen in both is the store's (complete) copy.
    logs: dict[str, _Found] = {}
    folder = log_dir(journal)
    if folder.is_dir():
        for path in sorted(folder.glob("*.log")):
            log = read_log(path)
            if log.header is None:
                continue  # being created, or removed meanwhile
            if workflow is not None and log.workflow != workflow:
                continue
            logs[log.run_id] = _Found(log, is_held(path))
    with store.read() as conn:
        rows = conn.execute(
            "SELECT run_id, log FROM runs WHERE ?1 IS NULL OR workflow = ?1 "
            "ORDER BY started_at DESC, id DESC LIMIT ?2",
            (workflow, limit),
        ).fetchall()
    for run_id, data in rows:
        log = parse_log(run_id, bytes(data))
        if log.header is not None:
            logs[run_id] = _Found(log, False)
    newest = sorted(logs.values(), key=lambda item: (item.started, item.log.run_id), reverse=True)
    return newest[:limit]


def fold(log: RunLog) -> RunState | None:
    """The run's records folded into a ``RunState``, with the last value of each metric (not
    every point: see ``run_metrics``); None when they cannot be read or describe no run (a run
    journaled by hand, through ``Journal.start_run``, with records of its own)."""
    state = RunState()
    try:
        for entry in log.entries():
            for raw in entry_records(entry):
                if raw.get("type") == BATCH_TYPE:
                    last = last_record(raw)
                    if last is None:
                        continue
                    raw = last
                state.apply(record_from_dict(raw))
    except (ValueError, KeyError, TypeError, IndexError, AttributeError):
        return None
    return state if state.phase != "idle" else None


def summarize(log: RunLog, *, alive: bool) -> RunSummary:
    """What ``runs()`` says about the run of ``log`` (``alive``: its process holds it)."""
    header = log.header
    assert header is not None
    _kind, run_id, workflow, planned, _meta, started_at, pid, host = header
    state = fold(log)
    entries = [entry for entry in log.entries() if entry["position"] is not None]
    undone = [e for e in entries if e["rollback"] == "done" and e["rollback_error"] is None]
    failed_undo = [e["name"] for e in entries if e["rollback_error"] is not None]
    if state is not None:
        failed_undo += [name for name, _ in state.rollback_errors if name not in failed_undo]
    left = tuple(e["name"] for e in reversed(entries) if e["rollback"] != "done")
    ended = None if log.finish is None else str(log.finish[1])
    status = _status(ended, alive, state, bool(failed_undo), bool(left))
    stopped_at, reason = _stop(state, status)
    if state is not None and state.steps:
        total = len(state.steps)
        completed = sum(1 for s in state.steps if s.status in ("done", "reused"))
    else:
        total = len(json.loads(planned))
        completed = sum(1 for e in entries if e["success"])
    duration: float | None = None
    if state is not None and state.finish is not None and log.finish is not None:
        duration = state.finish.duration
    elif log.finish is not None:
        duration = max(0.0, float(log.finish[2]) - float(started_at))
    return RunSummary(
        run_id=run_id,
        workflow=workflow,
        started_at=datetime.fromtimestamp(started_at).astimezone(),
        duration=duration,
        status=status,
        outcome=_outcome(status, ended, len(undone), tuple(failed_undo), left),
        steps_completed=completed,
        steps_total=total,
        stopped_at=stopped_at,
        reason=reason,
        rolled_back=len(undone),
        rollback_failed=tuple(failed_undo),
        not_rolled_back=left,
        last_completed=next((e["name"] for e in reversed(entries) if e["success"]), None),
        metrics={} if state is None else state.metrics.latest_by_name(),
        pid=int(pid),
        host=str(host),
        owner_alive=alive and log.finish is None,
    )


def _status(
    ended: str | None, alive: bool, state: RunState | None, undo_failed: bool, left: bool
) -> str:
    if ended is None:
        if not alive:
            return "unfinished"
        if state is None:
            return "running"
        if state.finish is not None:
            return "kept" if state.finish.kept else "running"
        # A kept run's RunFinished waits in its writer's buffer for the next write: its log
        # ends with the failed step rolled back, nothing rolling back, completed steps left.
        stopped = state.phase == "rolling back" and state.rolling_back_step is None
        return "kept" if stopped and state.failure is not None and left else "running"
    status = {
        KERNEL_RESTART: "kernel restart",
        KERNEL_SHUTDOWN: "kernel shutdown",
        "journal-error": "journal error",
    }.get(ended, ended)
    if undo_failed and status != "succeeded":
        return "rollback failed"
    return status


def _stop(state: RunState | None, status: str) -> tuple[str | None, str | None]:
    """The step a run stopped at, and why."""
    if state is None or status in ("succeeded", "running"):
        return None, None
    failure, finish = state.failure, state.finish
    step: str | None = None
    reason: str | None = None
    if failure is not None:
        step, reason = failure.name, failure.error
    elif finish is not None and finish.status != "succeeded":
        step, reason = finish.failed_step, finish.error
    if status in ("kernel restart", "kernel shutdown"):
        return step, status
    if status in ("unfinished", "recovered", "abandoned"):
        # Its process died before the run ended: at the step running, or while rolling back.
        running = state.running_step or state.rolling_back_step
        if step is None and running is not None:
            step = running.name
        rolling = state.rolling_back_step
        died = "process died"
        if rolling is not None:
            died += f" while rolling back '{rolling.name}'"
        reason = died if reason is None else f"{reason}; then the {died}"
    return step, reason


def _steps(count: int) -> str:
    return f"{count} step{'' if count == 1 else 's'}"


def _outcome(
    status: str,
    ended: str | None,
    undone: int,
    undo_failed: tuple[str, ...],
    left: tuple[str, ...],
) -> str:
    failures = "; rollback failed for " + ", ".join(f"'{n}'" for n in undo_failed)
    failures = failures if undo_failed else ""
    kind = ended if status == "rollback failed" else status
    if kind == "succeeded":
        return "succeeded"
    if kind in ("failed", "interrupted"):
        return f"{kind}, rolled back {_steps(undone)}{failures}"
    if kind in ("kernel restart", KERNEL_RESTART, "kernel shutdown", KERNEL_SHUTDOWN):
        what = "restart" if kind in ("kernel restart", KERNEL_RESTART) else "shutdown"
        return f"interrupted by a kernel {what}, rolled back {_steps(undone)}{failures}"
    if kind == "unfinished":
        if not left:
            return f"process died; nothing left to roll back{failures}"
        return f"process died; {_steps(len(left))} not rolled back{failures}"
    if kind == "kept":
        return f"failed; {_steps(len(left))} kept for resume()"
    if kind == "recovered":
        return f"process died; recovered: rolled back {_steps(undone)}{failures}"
    if kind == "abandoned":
        return f"process died; abandoned: {_steps(len(left))} left as they were"
    if kind in ("journal error", "journal-error"):
        return "the journal could not be written: it stopped following the run"
    return str(kind)


def run_metrics(journal: Path, run_id: str) -> MetricStore:
    """Every metric point the run journaled, as the live view had them."""
    store = MetricStore()
    for record in run_records(journal, run_id):
        if record.get("type") == METRICS_TYPE:
            store.add(record["values"], record["category"])
    return store


# -- the line a new run opens with ---------------------------------------------------------------


def previous_run(journal: Path, workflow: str) -> RunSummary | None:
    """The workflow's previous run in ``journal`` if it ended where no view could show it (a
    kernel restart or shutdown interrupted it, or its process died); else None."""
    try:
        found = read_runs(journal, workflow, limit=1)
    except (JournalError, OSError, ValueError):
        return None  # an unreadable journal is reported when a run writes to it
    if not found or found[0].status not in UNSEEN:
        return None
    return found[0]


def notice_text(run: RunSummary, path_given: str | None) -> str:
    """``The previous run (12:03) was interrupted at 'step_4' by a kernel restart; 5 steps were
    rolled back.``; for a run whose process died, the commands that recover or abandon it."""
    when = _when(run.started_at)
    at = f" at '{run.stopped_at}'" if run.stopped_at else ""
    if run.status in ("kernel restart", "kernel shutdown"):
        what = "restart" if run.status == "kernel restart" else "shutdown"
        done = "was" if run.rolled_back == 1 else "were"
        text = (
            f"The previous run ({when}) was interrupted{at} by a kernel {what}; "
            f"{_steps(run.rolled_back)} {done} rolled back"
        )
        if run.rollback_failed:
            text += "; rollback failed for " + ", ".join(f"'{n}'" for n in run.rollback_failed)
        return text + "."
    where = "" if path_given is None else f", path={path_given!r}"
    recover = f"recover('{run.run_id}', registry, context{where})"
    abandon = f"abandon('{run.run_id}'{where})"
    if not at and run.last_completed:
        at = f" after '{run.last_completed}'"
    died = f"The previous run ({when}) did not finish: its process died{at}"
    if not run.not_rolled_back:
        return f"{died}, with nothing left to roll back. Close it with {abandon}."
    steps = ", ".join(run.not_rolled_back)
    return (
        f"{died} with {_steps(len(run.not_rolled_back))} not rolled back ({steps}). "
        f"Undo them with {recover}, or keep them with {abandon} "
        "(from synapse_steps.journal import recover, abandon)."
    )


def _when(started: datetime) -> str:
    """``12:03`` today, ``2026-11-30 12:03`` another day."""
    now = datetime.now(started.tzinfo)
    return started.strftime("%H:%M" if started.date() == now.date() else "%Y-%m-%d %H:%M")


# -- what runs() and unfinished_runs() return -------------------------------------------------


class RunHistory(list[RunSummary]):
    """Runs, newest first (``runs()``): a table in a notebook, text in a terminal.

    ``frame()`` gives a DataFrame; ``plot_metrics(run_ids=None, metric=None)`` overlays a
    metric across runs.
    """

    def __init__(
        self,
        runs: list[RunSummary],
        *,
        journal: Path,
        workflow: str | None = None,
        path_given: str | None = None,
    ) -> None:
        super().__init__(runs)
        self.journal = journal
        self.workflow = workflow
        self.path_given = path_given

    def frame(self) -> pd.DataFrame:
        """One row per run: run_id, workflow, started, duration_s, status, outcome,
        steps_completed, steps_total, stopped_at, reason, then one column per metric."""
        frame: pd.DataFrame = WIRING.history_frame(self)
        return frame

    def plot_metrics(self, run_ids: list[str] | None = None, metric: str | None = None) -> Figure:
        """A figure overlaying each metric (or only ``metric``) across runs, one line per run.

        ``run_ids``: the runs to draw (full ids or unique prefixes); None draws every run of
        this listing that reported the metric. ``metric``: a name (``loss``) or
        ``category/name``; None draws one panel per metric.
        """
        figure: Figure = WIRING.history_figure(load_series(self, run_ids), metric)
        return figure

    def _repr_html_(self) -> str:
        return WIRING.history_html(self)

    def __repr__(self) -> str:
        return WIRING.history_text(self)

    __str__ = __repr__


class UnfinishedRuns(list[RunInfo]):
    """``unfinished_runs()``: a list of ``RunInfo`` that shows as a table, each row with the
    command that recovers or abandons the run."""

    def __init__(self, runs: list[RunInfo], *, path_given: str | None = None) -> None:
        super().__init__(runs)
        self.path_given = path_given

    def _repr_html_(self) -> str:
        return WIRING.unfinished_html(self)

    def __repr__(self) -> str:
        return WIRING.unfinished_text(self)

    __str__ = __repr__


def load_series(
    history: RunHistory, run_ids: list[str] | None
) -> list[tuple[RunSummary, MetricStore]]:
    """``(summary, its full metric history)`` for the runs to draw, newest first."""
    chosen: list[RunSummary]
    if run_ids is None:
        chosen = [run for run in history if run.metrics]
    else:
        chosen = [_lookup(history, run_id) for run_id in run_ids]
    return [(run, run_metrics(history.journal, run.run_id)) for run in chosen]


def _lookup(history: RunHistory, run_id: str) -> RunSummary:
    if not isinstance(run_id, str) or not run_id:
        raise UsageError(f"run ids are strings such as '{_example(history)}'; got {run_id!r}")
    matches = [run for run in history if run.run_id.startswith(run_id)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise UsageError(
            f"run id {run_id!r} is the start of {len(matches)} runs' ids "
            f"({', '.join(m.run_id for m in matches)}); give more of it"
        )
    raise NotFoundError(
        f"run {run_id!r} is not among the {len(history)} runs listed (newest: "
        f"'{_example(history)}'); list more with runs(limit=...) or pass ids it shows"
    )


def _example(history: RunHistory) -> str:
    return history[0].run_id if history else "5f3c1a2b..."
