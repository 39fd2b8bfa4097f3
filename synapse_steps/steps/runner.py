"""Running a ``RunRequest`` in this thread: the steps, their progress and their rollback.

This is what every executor ends up calling where the steps execute: in the caller's process
(the default) or in a remote worker. A run describes itself as records (``synapse_steps.events``)
handed to ``publish`` as they happen; whatever the user sees or the journal keeps is built
from them. It never raises for what a step does: the outcome says how the run ended and
carries the error ``Orchestrator.execute()`` raises.
"""

from __future__ import annotations

import traceback
from itertools import count
from typing import Generic, NoReturn

from synapse_steps.errors import RunFailedError, StepFailedError
from synapse_steps.events import (
    PlannedStep,
    RunFinished,
    RunProgress,
    RunStarted,
    RunStatus,
    StepFailed,
    StepFinished,
    StepReused,
    StepRollbackStarted,
    StepRolledBack,
    StepSkipped,
    StepStarted,
)
from synapse_steps.recorder import Recorder
from synapse_steps.steps.base import BaseStep, C, StepResult
from synapse_steps.steps.progress import percent, plan_steps
from synapse_steps.steps.request import (
    OnDriver,
    ProgressCallback,
    Publish,
    RunOutcome,
    RunRequest,
)

_run_ids = count(1)
#: Builds a record from a tuple of its fields: a NamedTuple's own __new__ (keyword handling
#: included) costs about three times as much, and a run makes two or three records per step.
_new = tuple.__new__


def next_run_id() -> int:
    """A run id unique in this process (a remote run's records are given one on arrival)."""
    return next(_run_ids)


def run_request(request: RunRequest[C], publish: Publish) -> RunOutcome:
    """Run ``request`` here, handing each record to ``publish`` (the runtime's store, where the
    steps' own ``log`` / ``set_progress`` / ``set_metrics`` calls go too)."""
    __tracebackhide__ = True
    run = _Run(request, publish)
    if request.action == "rollback":
        return run.rollback_kept()
    return run.execute()


class _Failed(Exception):
    """Unwinds a run from a failed step to ``execute`` once it was rolled back."""

    def __init__(self, error: RunFailedError) -> None:
        super().__init__()
        self.error = error


class _Run(Generic[C]):
    """The state of one run, so that running a workflow again never mixes two runs."""

    def __init__(self, request: RunRequest[C], publish: Publish) -> None:
        self.request = request
        self.steps = request.steps
        self.keep = request.on_failure == "keep"
        self.context = context = request.context
        callback = request.progress_callback
        # ON_DRIVER: the caller's executor calls the callback where the records arrive.
        self.callback: ProgressCallback | None = (
            None if isinstance(callback, OnDriver) else callback
        )
        self.publish = publish
        self.clock = context.runtime_ctx.clock
        self.now = self.clock.now
        recorder = context.runtime_ctx.recorder
        #: The runtime's store when the records go there (as they do from every executor): it
        #: is asked which records a subscriber hears, and takes a step's two records as fields
        #: (made only when heard). None: every record is made and published.
        self.store: Recorder | None = recorder if publish == recorder.publish else None
        #: Steps whose ``execute`` was entered, with their results: what rollback undoes.
        self.executed: list[tuple[int, BaseStep[C], StepResult]] = []
        #: The step inside ``execute`` right now (an interrupt there is that step's failure).
        self.running: BaseStep[C] | None = None
        #: When the step inside ``execute`` started (it is the one at ``reached - 1``).
        self.running_since = 0.0
        self.reached = 0
        self.steps_executed = 0
        self.finished: RunFinished | None = None
        self.started = self.clock.now()
        self.plan: tuple[PlannedStep, ...] = ()
        #: After a failure with ``on_failure="keep"``: the completed steps left in place, and
        #: the position of the step that failed.
        self.kept_steps: tuple[str, ...] = ()
        self.stopped_at = 0

    # -- the run ---------------------------------------------------------------------------------

    def execute(self) -> RunOutcome:
        __tracebackhide__ = True
        request, context, steps = self.request, self.context, self.steps
        start = request.start
        context.step_results = context.step_results[:start] if start else []
        context.errors = []
        self.plan = plan_steps(steps)
        try:
            self.publish(
                RunStarted(
                    next_run_id(),
                    self.plan,
                    self.started,
                    self.clock.wall(),
                    request.workflow,
                    start,
                )
            )
            reused = dict(request.reuse)
            for index in range(start):
                # Before a resumed run's start: each step either completed (reused) or was
                # skipped by the run that kept them.
                if index in reused:
                    self.executed.append((index, steps[index], reused[index]))
                    self.publish(StepReused(index, steps[index].name, self.clock.now()))
                else:
                    self.publish(StepSkipped(index, steps[index].name, self.clock.now()))
            if start:
                point = percent(self.plan[start - 1].end)
                self._report_progress(start - 1, steps[start - 1].name, point)
            self._run_steps(start)
            if not steps:
                self._report_empty_run()
        except _Failed as failed:
            return self._outcome(failed.error)
        except BaseException as interrupt:
            # Exceptions from steps were turned into failures inside _run_step; what lands here
            # is KeyboardInterrupt (or SystemExit ...) arriving at any point of the run.
            if self.finished is None:
                self._interrupted(interrupt)
            return self._outcome(interrupt)
        finally:
            context.current_step = None
        self._finish("succeeded", None, None, (), ())
        return RunOutcome(
            "succeeded",
            result={
                "success": True,
                "steps_executed": self.steps_executed,
                "steps_total": len(steps),
            },
            finish=self.finished,
        )

    def _outcome(self, error: BaseException) -> RunOutcome:
        finish = self.finished
        status: RunStatus = "interrupted" if finish is None else finish.status
        return RunOutcome(
            status,
            error=error,
            kept=tuple(index for index, _, _ in self.executed),
            stopped_at=self.stopped_at,
            finish=finish,
        )

    def _run_steps(self, start: int) -> None:
        """Execute the steps from ``start`` on, in order.

        The loop every step of every run goes through, written for its cost: the rare paths
        (a skip, a failure, a progress report) are methods, the common one is inline, reading
        locals; a step's two records are made only when a subscriber hears them (the store
        folds their fields otherwise), RunProgress only for someone who listens or a callback
        (the state derives overall progress from the plan).
        """
        __tracebackhide__ = True
        context, steps, executed = self.context, self.steps, self.executed
        publish, now, store, plan = self.publish, self.now, self.store, self.plan
        # Into a store: its step_started / step_finished make the records only when heard.
        started_record = self._publish_started if store is None else store.step_started
        finished_record = self._publish_finished if store is None else store.step_finished
        for index in range(start, len(steps)):
            step = steps[index]
            name = step.name
            context.current_step = name
            self.reached = index + 1
            try:
                skip = step.can_skip(context)
            except Exception as exc:
                self._fail_before_execute(index, name, exc)
            if skip:
                context.step_results.append(StepResult(skipped=True))
                publish(_new(StepSkipped, (index, name, now())))
            else:
                started = now()
                started_record(index, name, started)
                self.running, self.running_since = step, started
                try:
                    result = step.execute(context)
                except Exception as exc:
                    result = _failure(exc)
                if not isinstance(result, StepResult):
                    result = StepResult(success=False, error=_not_a_result(name, result))
                context.step_results.append(result)
                executed.append((index, step, result))
                self.running = None
                finished = now()
                if not result.success:
                    self._fail(index, name, result, finished - started)
                self.steps_executed += 1
                finished_record(index, name, finished - started, finished, result)
            if self.callback is not None or store is None or RunProgress in store.heard:
                self._report_progress(index, name, percent(plan[index].end))

    def _publish_started(self, position: int, name: str, time: float) -> None:
        self.publish(_new(StepStarted, (position, name, time)))

    def _publish_finished(
        self, position: int, name: str, duration: float, time: float, result: StepResult
    ) -> None:
        self.publish(_new(StepFinished, (position, name, duration, time, result)))

    def _fail_before_execute(self, index: int, name: str, exc: Exception) -> NoReturn:
        """``can_skip()`` raised: the step failed before it ran."""
        __tracebackhide__ = True
        result = _failure(exc)
        self.context.step_results.append(result)
        self._fail(index, name, result, 0.0)

    def _report_progress(self, index: int, name: str, current: int) -> None:
        __tracebackhide__ = True
        try:
            if self.callback is not None:
                self.callback(current, 100)
        except Exception as exc:
            result = _failure(exc)
            result.error = f"progress callback raised {type(exc).__name__}: {exc}"
            self._fail(index, name, result, 0.0)
        if self._progress_heard():
            self.publish(_new(RunProgress, (current, 100, self.now())))

    def _progress_heard(self) -> bool:
        return self.store is None or RunProgress in self.store.heard

    def _report_empty_run(self) -> None:
        """A run without steps is complete at once; its callback still hears 100%."""
        __tracebackhide__ = True
        try:
            if self.callback is not None:
                self.callback(100, 100)
        except Exception as exc:
            error = f"progress callback raised {type(exc).__name__}: {exc}"
            self.context.errors.append(f"Run failed: {error}")
            self._finish("failed", None, error, (), ())
            failure = RunFailedError(f"Run failed: {error}")
            failure.__cause__ = exc
            raise _Failed(failure) from None
        if self._progress_heard():
            self.publish(RunProgress(100, 100, self.clock.now()))

    # -- failures ----------------------------------------------------------------------------------

    def _fail(self, index: int, name: str, result: StepResult, duration: float) -> NoReturn:
        """Record a failure, roll back, and unwind to ``execute`` (never returns)."""
        __tracebackhide__ = True
        error = result.error or "step reported failure without an error message"
        self.context.errors.append(f"Step '{name}' failed: {error}")
        self.publish(_failed_record(index, name, error, duration, self.clock.now(), result))
        rolled_back, rollback_errors = self._rollback(index)
        self._finish("failed", name, error, rolled_back, rollback_errors)
        failure = StepFailedError(name, error, rollback_errors)
        failure.__cause__ = result.exception
        if self.kept_steps:
            failure.add_note(
                f"Kept {len(self.kept_steps)} completed step(s) ({', '.join(self.kept_steps)}): "
                "fix the step, register it again (registry.replace(...)), then call "
                "orchestrator.resume(); or orchestrator.rollback() to undo them."
            )
        raise _Failed(failure)

    def _interrupted(self, interrupt: BaseException) -> None:
        """Close the books after a KeyboardInterrupt: record the step it hit, then roll back."""
        context = self.context
        error = f"interrupted ({type(interrupt).__name__})"
        failed_name: str | None = None
        step = self.running
        if step is not None and not (self.executed and self.executed[-1][1] is step):
            index, started = self.reached - 1, self.running_since
            result = StepResult(success=False, error=error, exception=interrupt)
            context.step_results.append(result)
            self.executed.append((index, step, result))
            failed_name = step.name
            now = self.clock.now()
            self.publish(_failed_record(index, step.name, error, now - started, now, result, True))
        elif len(context.step_results) < self.reached:
            # Interrupted in can_skip(): the step was reached but never executed.
            context.step_results.append(StepResult(success=False, error=error, exception=interrupt))
            failed_name = self.steps[self.reached - 1].name
        context.errors.append(
            f"Run interrupted at step '{failed_name}'" if failed_name else "Run interrupted"
        )
        # Between steps nothing failed: every executed step completed.
        failed_at = self.reached - 1 if failed_name else self.reached
        rolled_back, rollback_errors = self._rollback(failed_at)
        self._finish("interrupted", failed_name, error, rolled_back, rollback_errors)

    def _rollback(self, failed_at: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Undo what the failure leaves behind, newest first.

        Normally every executed step. With ``on_failure="keep"`` only the step that failed (its
        partial work), while the completed steps stay for ``resume()``.
        """
        self.stopped_at = max(failed_at, 0)
        if not self.keep:
            undone = self._undo(self.executed)
            self.executed = []
            return undone
        failed = [entry for entry in self.executed if entry[0] >= failed_at]
        self.executed = [entry for entry in self.executed if entry[0] < failed_at]
        self.kept_steps = tuple(step.name for _, step, _ in self.executed)
        return self._undo(failed)

    def rollback_kept(self) -> RunOutcome:
        """``Orchestrator.rollback()``: undo the kept steps and close the run's books again."""
        request = self.request
        steps = self.steps
        rolled_back, errors = self._undo([(i, steps[i], result) for i, result in request.reuse])
        kept = request.kept_run
        now = self.clock.now()
        status: RunStatus = "failed" if kept is None else kept.status
        finish = RunFinished(
            status,
            0 if kept is None else kept.steps_executed,
            len(steps) if kept is None else kept.steps_total,
            None if kept is None else kept.failed_step,
            None if kept is None else kept.error,
            rolled_back,
            errors,
            (0.0 if kept is None else kept.duration) + (now - self.started),
            now,
        )
        self.finished = finish
        self.publish(finish)
        error = None
        if errors:
            message = f"rollback failed for {len(errors)} step(s)"
            error = StepFailedError("rollback", message, errors)
        return RunOutcome(status, error=error, finish=finish)

    def _undo(
        self, entries: list[tuple[int, BaseStep[C], StepResult]]
    ) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Best-effort rollback of ``entries``, newest first.

        A rollback that raises is recorded and the others still run. Even an interrupt only
        abandons the rollback it hit: pressing stop on a hanging cleanup must not leave the
        other steps' resources behind. Returns the steps rolled back and the errors of those
        whose rollback failed (never counted as rolled back).
        """
        context = self.context
        rolled_back: list[str] = []
        errors: list[str] = []
        for index, step, result in reversed(entries):
            name = step.name
            context.current_step = name
            self.publish(StepRollbackStarted(index, name, self.clock.now()))
            error: str | None = None
            try:
                step.rollback(context, result)
            except BaseException as exc:
                error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                errors.append(f"'{name}': {error}")
                context.errors.append(f"Rollback of step '{name}' failed: {error}")
            else:
                rolled_back.append(name)
            self.publish(StepRolledBack(index, name, error, self.clock.now()))
        context.current_step = None
        return tuple(rolled_back), tuple(errors)

    def _finish(
        self,
        status: RunStatus,
        failed_step: str | None,
        error: str | None,
        rolled_back: tuple[str, ...],
        rollback_errors: tuple[str, ...],
    ) -> None:
        finished = self.clock.now()
        self.finished = record = RunFinished(
            status,
            self.steps_executed,
            len(self.steps),
            failed_step,
            error,
            rolled_back,
            rollback_errors,
            finished - self.started,
            finished,
            self.kept_steps,
        )
        self.publish(record)


def _failure(exc: BaseException) -> StepResult:
    return StepResult(success=False, error=str(exc) or type(exc).__name__, exception=exc)


def _failed_record(
    index: int,
    name: str,
    error: str,
    duration: float,
    at: float,
    result: StepResult,
    interrupted: bool = False,
) -> StepFailed:
    """The failure as a plain record: the exception travels as its type and traceback text."""
    exc = result.exception
    error_type = type(exc).__name__ if exc is not None else None
    text = "".join(traceback.format_exception(exc)) if exc is not None else None
    return StepFailed(index, name, error, duration, at, interrupted, error_type, text, exc, result)


def _not_a_result(name: str, returned: object) -> str:
    text = repr(returned)
    shown = text if len(text) <= 60 else text[:57] + "..."
    return (
        f"step '{name}' returned {shown} of type {type(returned).__name__}: execute() must "
        "return a StepResult (did you forget a return statement?)"
    )
