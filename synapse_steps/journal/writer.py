"""``JournalWriter``: journals an orchestrator's runs from the records the runtime publishes.

An ordinary subscriber. Each orchestrator gets one writer (``synapse_steps.defaults`` makes it)
and its runtime attaches it for each ``execute()`` / ``resume()`` / ``rollback()`` call, on the
runtime where the run's records arrive: in the caller's process whatever the executor, so a
remote run is journaled on the driver. A run that failed with ``on_failure="keep"`` stays open
in the journal (its completed steps remain recoverable if the kernel dies), ``resume()``
continues it (a ``RunStarted`` with ``start > 0``), ``rollback()`` closes it, and a fresh run
(``start == 0``) leaves its steps as they are and closes it as abandoned.

A journal must never fail a run: any error writing it (read-only home, full disk, a forked
worker) is reported once as a ``RuntimeWarning`` and the run carries on without it.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

from synapse_steps._warn import warn_user
from synapse_steps.events import (
    Logged,
    MetricsReported,
    RunFinished,
    RunNotice,
    RunStarted,
    StepFailed,
    StepFinished,
    StepReused,
    StepRollbackStarted,
    StepRolledBack,
    StepSkipped,
    StepStarted,
    to_dict,
)
from synapse_steps.journal._history import RunSummary, notice_text, previous_run
from synapse_steps.journal._journal import Journal
from synapse_steps.journal._kernel import ended_status
from synapse_steps.journal._listing import RunInfo
from synapse_steps.journal._run import PROGRESS_TYPE, JournalRun
from synapse_steps.journal._run_started import compact

PathArg = str | os.PathLike[str] | None

#: Journal files whose write failure was already reported in this process (warn once).
_FAILED: set[Path] = set()
#: Run ids the "unfinished run" notice was shown for in this process (once per run id).
_NOTIFIED: set[str] = set()


class UnfinishedRunWarning(UserWarning):
    """The journal holds a run of this workflow whose process died before it ended."""


class JournalWriter:
    """Writes the runs of one workflow into the journal at ``path`` (None: default store).

    Opens nothing until a run starts. ``RunProgress`` records are not journaled: they are derived
    from the steps' ``StepFinished`` records and the plan (``RunStarted.steps``), and having no
    hook for them keeps the recorder from calling the writer for them at all.
    """

    def __init__(self, path: PathArg, workflow: str) -> None:
        self.journal = Journal(path)
        #: As the user gave it (None: the default store), for the commands the notice prints.
        self.path_given = None if path is None else os.fspath(path)
        self.workflow = workflow
        #: The open journal run: during a run, and after one that kept its steps.
        self.run: JournalRun | None = None
        #: The runtime's recorder while attached to it: where a finished step's last progress
        #: is read from.
        self.recorder: Any = None
        #: Ids of the journal runs this writer started, oldest first.
        self.journal_run_ids: list[str] = []
        #: Position of the step whose ``execute`` is running (its failure is journaled).
        self._started: int | None = None
        #: The journal was checked for dead runs of this workflow (once per writer).
        self._checked = False
        #: The workflow's previous run, when no view could show how it ended, and its
        #: unfinished-run entry (if its process died): told when the next run starts.
        self._previous: RunSummary | None = None
        self._previous_info: RunInfo | None = None

    def __repr__(self) -> str:
        return f"<JournalWriter {self.workflow!r} -> {self.journal.path}>"

    @property
    def run_id(self) -> str | None:
        """The open journal run's id (None when no run is open)."""
        return None if self.run is None else self.run.run_id

    # -- attached to a runtime for each call ---------------------------------------------------

    def attach(self, runtime: Any) -> None:
        self.recorder = runtime.recorder

    def detach(self) -> None:
        self.recorder = None

    def notify_unfinished(self) -> None:
        """Warn (once per run id and process) about dead unfinished runs of this workflow.

        Checked on the orchestrator's first run only: a notebook learns of its dead runs when
        it opens the workflow, and later runs of it do not query the journal again.
        """
        if self._checked:
            return
        self._checked = True
        own = self.run_id
        try:
            runs = self.journal.unfinished_runs()
        except Exception:  # an unreadable journal is reported when a run writes to it
            return
        # Issue 18: the previous run's end, if no view showed it, opens the next run's view.
        self._previous = previous_run(self.journal.path, self.workflow)
        for info in runs:
            if info.workflow != self.workflow or info.owner_alive or info.run_id == own:
                continue
            if info.run_id in _NOTIFIED:
                continue
            if self._previous is not None and info.run_id == self._previous.run_id:
                self._previous_info = info  # said when the run starts (_tell_previous)
                continue
            _NOTIFIED.add(info.run_id)
            warn_user(_notice(info, self.path_given), UnfinishedRunWarning)

    # -- record hooks ------------------------------------------------------------------------

    def on_run_start(self, record: RunStarted) -> None:
        self._started = None
        if self.run is not None:
            if record.start:
                # resume(): the kept run goes on in the same journal run.
                self._record(record)
                return
            # execute() starts over: the kept run's steps are left as they are; close it.
            self._finish("abandoned")
        self.notify_unfinished()
        try:
            self.run = self.journal.start_run(
                self.workflow,
                [step.name for step in record.steps],
                record.wall_time,
                {"workflow": record.workflow},
            )
            self.journal_run_ids.append(self.run.run_id)
            self.run.record(compact(record))
        except Exception as exc:
            self._broken(exc)
        self._tell_previous()

    def on_step_start(self, record: StepStarted) -> None:
        self._started = record.position
        run = self.run
        if run is not None:
            try:
                run.step_started(record.position, record.name, record.time)
            except Exception as exc:
                self._broken(exc)

    def on_step_end(self, record: StepFinished) -> None:
        self._started = None
        run = self.run
        if run is None:
            return
        result = record.result
        try:
            self._last_progress(record.position, record.name, record.time)
            if result is None:  # a record from elsewhere (a pickled one): nothing to recover
                run.record(to_dict(record))
            else:
                # Its StepFinished record goes with the entry, as two columns.
                run.step_completed(
                    record.position,
                    record.name,
                    result.data,
                    result.rollback_data,
                    finished=(record.duration, record.time),
                )
        except Exception as exc:
            self._broken(exc)

    def on_step_fail(self, record: StepFailed) -> None:
        run = self.run
        if run is None:
            return
        started, self._started = self._started, None
        result = record.result
        try:
            run.record(to_dict(record))
            self._last_progress(record.position, record.name, record.time)
            # Journaled before its rollback runs, so a crash during that rollback still
            # leaves it to recovery. Only a step whose execute ran: can_skip() and progress
            # callback failures have nothing of their own to undo.
            if started == record.position and result is not None:
                run.step_completed(
                    record.position,
                    record.name,
                    result.data,
                    result.rollback_data,
                    success=False,
                )
        except Exception as exc:
            self._broken(exc)

    def on_rollback_start(self, record: StepRollbackStarted) -> None:
        run = self.run
        if run is None:
            return
        try:
            run.record(to_dict(record))
            # A step whose result never reached the journal (an interrupt in an earlier
            # subscriber's hook) has no entry: nothing to mark.
            if run.holds(record.name):
                run.rollback_started(record.name)
        except Exception as exc:
            self._broken(exc)

    def on_step_rollback(self, record: StepRolledBack) -> None:
        run = self.run
        if run is None:
            return
        try:
            run.record(to_dict(record))
            if run.holds(record.name):
                run.step_rolled_back(record.name, record.error)
        except Exception as exc:
            self._broken(exc)

    def on_step_skip(self, record: StepSkipped) -> None:
        self._record(record)

    def on_step_reuse(self, record: StepReused) -> None:
        self._record(record)

    def on_log(self, record: Logged) -> None:
        self._record(record)

    def on_metrics(self, record: MetricsReported) -> None:
        # A training loop's per-call path: no dict per record (see JournalRun.metrics).
        run = self.run
        if run is not None:
            try:
                run.metrics(record.category, record.values, record.time)
            except Exception as exc:
                self._broken(exc)

    def on_run_end(self, record: RunFinished) -> None:
        self._record(record)
        if record.kept:
            # Kept for resume()/rollback(): the run stays open, its steps recoverable (each was
            # written when it ended); this record goes with the next entry written.
            return
        run = self.run
        if run is not None and record.status != "succeeded" and run.not_rolled_back:
            # Neither rolled back nor kept: where they ran could not undo them (a Ray worker
            # that died). The journal holds them: leave the run to recover().
            self.run = None
            try:
                steps = run.not_rolled_back
                run.leave_for_recovery()
            except Exception as exc:
                self.run = run
                self._broken(exc)
                return
            notice = _left_notice(self.workflow, run.run_id, record, steps, self.path_given)
            warn_user(notice, UnfinishedRunWarning)
            return
        # An interrupt from a kernel restart ends as such (see _kernel): nobody saw it end.
        state = None if self.recorder is None else self.recorder.run
        self._finish(ended_status(record, state))

    # -- helpers -------------------------------------------------------------------------------

    def _tell_previous(self) -> None:
        """Open the new run's view with how the previous run ended (a ``RunNotice`` right after
        ``RunStarted``), when a front end of the runtime shows notices; otherwise warn about a
        previous run whose process died, as for any other dead run."""
        previous, self._previous = self._previous, None
        info, self._previous_info = self._previous_info, None
        recorder = self.recorder
        if previous is None or recorder is None:
            return
        shown = any(callable(getattr(s, "on_run_notice", None)) for s in recorder.subscribers)
        if previous.status == "unfinished":
            # Said once per process, like every dead run (see notify_unfinished).
            if info is None or info.run_id in _NOTIFIED:
                return
            _NOTIFIED.add(info.run_id)
            if not shown:
                warn_user(_notice(info, self.path_given), UnfinishedRunWarning)
                return
        if shown:
            text = notice_text(previous, self.path_given)
            recorder.publish(RunNotice(text, recorder.clock.now()))

    def _last_progress(self, position: int, name: str, at: float) -> None:
        """Journal where each progress bar of the step ended.

        Read from the run's state rather than heard through ``on_progress``: subscribing to
        progress records would put every ``set_progress`` call of a run without a display on
        the recorder's slower path (a few hundred ns each); this costs nothing per call.
        """
        run = self.run
        recorder = self.recorder
        if run is None or recorder is None:
            return
        steps = recorder.runs[-1].steps
        if not 0 <= position < len(steps) or not steps[position].categories:
            return  # no bars (most steps): not worth folding the held progress value in
        steps = recorder.run.steps  # with the latest progress folded in
        for category, (current, total) in steps[position].categories.items():
            run.progress(
                (name, category),
                {
                    "type": PROGRESS_TYPE,
                    "category": category,
                    "current": current,
                    "total": total,
                    "time": at,
                    "step": name,
                },
            )

    def _record(self, record: Any) -> None:
        run = self.run
        if run is not None:
            try:
                run.record(to_dict(record))
            except Exception as exc:
                self._broken(exc)

    def _finish(self, status: str) -> None:
        run, self.run = self.run, None
        if run is not None and run.finished is None:
            try:
                run.finish(status)
            except Exception as exc:
                self.run = run
                self._broken(exc)

    def _broken(self, exc: Exception) -> None:
        """Stop journaling this run (the run itself goes on) and say so once per file."""
        run, self.run = self.run, None
        path = self.journal.path
        if path not in _FAILED:
            _FAILED.add(path)
            warn_user(
                f"The run journal at {path} cannot be written ({type(exc).__name__}: {exc}); "
                "this run goes on without it, so it cannot be recovered if the process dies. "
                "Pass Orchestrator(..., journal=<a writable path>) or journal=False.",
                RuntimeWarning,
            )
        if run is not None:
            # A half-journaled run must not later be offered for recovery.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                run.close_after_error()


def _left_notice(
    workflow: str, run_id: str, record: RunFinished, steps: list[str], path: str | None
) -> str:
    where = "" if path is None else f", path={path!r}"
    names = ", ".join(repr(name) for name in steps)
    why = _first_sentence(record.error)
    return (
        f"The run of workflow '{workflow}' (run {run_id}) ended {record.status} with "
        f"{len(steps)} completed step(s) that were not rolled back ({names}): {why}. The "
        "journal kept them: from synapse_steps.journal import recover, abandon; "
        f"recover('{run_id}', registry, context{where}) undoes them here, or "
        f"abandon('{run_id}'{where}) leaves them as they are."
    )


def _first_sentence(error: str | None) -> str:
    if not error:
        return "they could not be undone where they ran"
    return error.split(". ")[0].rstrip(".")


def _notice(info: RunInfo, path: str | None) -> str:
    done = [step.name for step in info.completed_steps if step.rollback != "done"]
    where = "" if path is None else f", path={path!r}"
    started = info.started_at.strftime("%Y-%m-%d %H:%M:%S")
    return (
        f"The last run of workflow '{info.workflow}' (run {info.run_id}, started {started}) "
        f"did not finish: its process died with {len(done)} completed step(s) not rolled back"
        f"{' (' + ', '.join(done) + ')' if done else ''}. To undo them, rebuild the registry "
        f"and context, then: from synapse_steps.journal import recover, abandon; "
        f"recover('{info.run_id}', registry, context{where}). Or, to leave them as they are: "
        f"abandon('{info.run_id}'{where})."
    )
