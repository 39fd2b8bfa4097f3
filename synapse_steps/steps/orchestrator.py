"""``Orchestrator``: runs a registry's steps in order, reports progress, rolls back on failure.

A run describes itself as records (see ``synapse_steps.events``) published to the runtime's
store; whatever the user sees, and whatever is kept, is built from them.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from itertools import count
from typing import TYPE_CHECKING, Any, Generic, Literal, NoReturn

from synapse_steps import seams
from synapse_steps.errors import RunFailedError, StepFailedError, UsageError
from synapse_steps.events import (
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
from synapse_steps.steps.base import BaseStep, C, StepResult
from synapse_steps.steps.context import BaseStepContext
from synapse_steps.steps.progress import percent, plan_steps
from synapse_steps.steps.registry import StepRegistry

if TYPE_CHECKING:
    from synapse_steps.executors import Executor
    from synapse_steps.journal.writer import JournalWriter

ProgressCallback = Callable[[int, int], None]
OnFailure = Literal["rollback", "keep"]

_run_ids = count(1)


class Orchestrator(Generic[C]):
    """Executes the steps of ``registry`` on ``context``.

    After each step completes or is skipped, ``progress_callback(current, 100)`` receives the
    cumulative weighted progress. When a step fails (returns ``success=False``, raises, or returns
    something that is not a ``StepResult``) the failed step and then every executed step are
    rolled back in reverse order, and ``StepFailedError`` (a ``RuntimeError``) is raised.
    ``KeyboardInterrupt`` rolls back the same way and is re-raised.

    ``name`` names the workflow in the run's records (default: the context's class name).
    One runtime runs one workflow at a time: starting a run inside a step of another run on the
    same runtime raises ``NestedRunError``.

    ``execute(on_failure="keep")`` keeps the completed steps when a step fails (only the failed
    step is rolled back); fix the step (``registry.replace(name, fixed_step)``), then
    ``resume()`` runs from the failed step on with the kept results, or ``rollback()`` undoes
    the kept steps.

    ``journal``: each run is journaled as it goes (``synapse_steps.journal``), so that after the
    process dies its completed steps can be rolled back from a new one. ``True`` (default): the
    local store's journal; a path: that journal file (or folder); ``False``: no journal.

    ``executor`` runs the workflow elsewhere (e.g. ``executors.ray.RayExecutor``) while its
    records still reach this context's runtime; ``None`` runs it here, in this process.
    """

    def __init__(
        self,
        registry: StepRegistry[C],
        context: C,
        progress_callback: ProgressCallback | None = None,
        *,
        name: str | None = None,
        journal: bool | str | os.PathLike[str] = True,
        executor: Executor | None = None,
    ) -> None:
        # Checked here so a swapped or missing argument fails at this line, not mid-run.
        if not isinstance(registry, StepRegistry):
            raise UsageError(
                f"Orchestrator needs a StepRegistry as its first argument, got "
                f"{type(registry).__name__}; build one with StepRegistry() and register steps"
            )
        if not isinstance(context, BaseStepContext):
            raise UsageError(
                f"Orchestrator needs a context that subclasses BaseStepContext, got "
                f"{type(context).__name__}; define one as a dataclass: "
                "@dataclass class MyContext(BaseStepContext)"
            )
        if progress_callback is not None and not callable(progress_callback):
            raise UsageError(
                f"progress_callback must be callable as callback(current, total), got "
                f"{progress_callback!r}"
            )
        if not isinstance(journal, (bool, str, os.PathLike)):
            raise UsageError(
                f"journal must be True (the default journal), False (none) or a path, got "
                f"{journal!r} of type {type(journal).__name__}"
            )
        self.registry = registry
        self.context = context
        self.progress_callback = progress_callback
        self.name = name or type(context).__name__
        self.journal = journal
        # Made at the first run (no I/O here); kept so a kept run's journal outlives the call.
        self._writer: JournalWriter | None = None
        #: The last run, when it failed and kept its completed steps (for resume / rollback).
        self._kept: _Run[C] | None = None
        self.executor = executor

    def in_process(self) -> Orchestrator[C]:
        """The same workflow without an executor: what an executor runs where it runs it."""
        return Orchestrator(
            self.registry,
            self.context,
            self.progress_callback,
            name=self.name,
            journal=self.journal,
        )

    def execute(self, on_failure: OnFailure = "rollback") -> dict[str, Any]:
        """Run every step once; a second call starts a fresh run on the same context.

        ``on_failure="keep"`` leaves the completed steps in place when a step fails, for
        ``resume()`` after a fix (or ``rollback()``).
        """
        __tracebackhide__ = True
        _check_on_failure(on_failure)
        self._kept = None
        writer = self._journal_writer()
        if writer is not None:
            writer.discard_kept()
            writer.notify_unfinished()
        run = _Run(self.registry.get_steps(), self.context, self.progress_callback, on_failure)
        try:
            return self._start(run, 0)
        except RunFailedError as failure:
            # Raised afresh from here, so the traceback ends at the user's call instead of in
            # the run's internals; the step's own exception stays chained as the cause.
            raise failure.with_traceback(None) from failure.__cause__

    def resume(self, on_failure: OnFailure = "rollback") -> dict[str, Any]:
        """Continue a run that failed with ``on_failure="keep"``, from the step that failed.

        The steps before it are not executed again: their kept results are reused (the view
        shows them as *reused*). Register the fixed step first, e.g.
        ``registry.replace("train", FixedTrainStep())``.
        """
        __tracebackhide__ = True
        _check_on_failure(on_failure)
        kept = self._require_kept("resume")
        steps = self.registry.get_steps()
        start = kept.stopped_at
        before = [step.name for step in kept.steps[:start]]
        now = [step.name for step in steps[:start]]
        if now != before:
            raise UsageError(
                f"resume() reuses the steps before {kept.steps[start].name!r}, which were "
                f"{before}; the registry now starts with {now}. Change only the failed step or "
                "the steps after it (registry.replace(name, step)), or call execute() to start over"
            )
        run = _Run(steps, self.context, self.progress_callback, on_failure)
        run.reuse(kept)
        self._kept = None
        try:
            return self._start(run, start)
        except RunFailedError as failure:  # see execute()
            raise failure.with_traceback(None) from failure.__cause__

    def rollback(self) -> None:
        """Undo the steps a failed run kept (``execute(on_failure="keep")``), newest first."""
        __tracebackhide__ = True
        kept = self._require_kept("rollback")
        self._kept = None
        with self.context.runtime_ctx.running(), self._journaling():
            kept.rollback_kept()

    def _journal_writer(self) -> JournalWriter | None:
        if self.journal is False:
            return None
        if self._writer is None:
            path = None if self.journal is True else self.journal
            self._writer = seams.journal_writer(path, self.name)
        return self._writer

    @contextmanager
    def _journaling(self) -> Iterator[None]:
        """The journal hears this call's records (subscribed for the call only)."""
        writer = self._journal_writer()
        if writer is None:
            yield
            return
        recorder = self.context.runtime_ctx.recorder
        writer.recorder = recorder
        recorder.subscribe(writer, checked=True)
        try:
            yield
        finally:
            recorder.unsubscribe(writer)
            writer.recorder = None

    def _start(self, run: _Run[C], start: int) -> dict[str, Any]:
        __tracebackhide__ = True
        if self.executor is not None:
            return self.executor.execute(self)
        try:
            with self.context.runtime_ctx.running(), self._journaling():
                return run.execute(self.name, start)
        except BaseException:  # an interrupt too: with on_failure="keep" it keeps the steps
            self._kept = run if run.kept_steps else None
            raise

    def _require_kept(self, action: str) -> _Run[C]:
        if self._kept is None:
            raise UsageError(
                f"{action}() needs a run that failed with execute(on_failure='keep') and kept its "
                "completed steps; this orchestrator has none (it succeeded, rolled back, or was "
                "already resumed or rolled back)"
            )
        return self._kept


def _check_on_failure(on_failure: str) -> None:
    if on_failure not in ("rollback", "keep"):
        raise UsageError(f"on_failure must be 'rollback' or 'keep', got {on_failure!r}")


class _Run(Generic[C]):
    """The state of one ``execute()`` call, so that re-running never mixes two runs."""

    def __init__(
        self,
        steps: list[BaseStep[C]],
        context: C,
        callback: ProgressCallback | None,
        on_failure: OnFailure = "rollback",
    ) -> None:
        self.steps = steps
        self.keep = on_failure == "keep"
        self.context = context
        self.callback = callback
        self.runtime = context.runtime_ctx
        self.publish = self.runtime.publish
        self.clock = self.runtime.clock
        self.plan = plan_steps(steps)
        #: Steps whose ``execute`` was entered, with their results: what rollback undoes.
        self.executed: list[tuple[int, BaseStep[C], StepResult]] = []
        #: The step inside ``execute`` right now (an interrupt there is that step's failure).
        self.running: tuple[int, BaseStep[C], float] | None = None
        self.reached = 0
        self.steps_executed = 0
        self.finished = False
        self.started = self.clock.now()
        #: Results taken over from a kept run (``reuse``), by position.
        self.reused: list[tuple[int, BaseStep[C], StepResult]] = []
        #: After a failure with ``on_failure="keep"``: the completed steps left in place, and
        #: the position of the step that failed.
        self.kept_steps: tuple[str, ...] = ()
        self.stopped_at = 0

    def reuse(self, kept: _Run[C]) -> None:
        """Take over the completed steps of a kept run (``resume``)."""
        self.reused = [
            (index, self.steps[index], result)
            for index, _, result in kept.executed
            if index < kept.stopped_at
        ]
        self.context.step_results = kept.context.step_results[: kept.stopped_at]

    def execute(self, workflow: str, start: int = 0) -> dict[str, Any]:
        __tracebackhide__ = True
        context = self.context
        if start == 0:
            context.step_results = []
        context.errors = []
        try:
            self.publish(
                RunStarted(next(_run_ids), self.plan, self.started, self.clock.wall(), workflow)
            )
            for index, step, result in self.reused:
                self.executed.append((index, step, result))
                self.publish(StepReused(index, step.name, self.clock.now()))
            if start:
                self._report_progress(start - 1, self.steps[start - 1].name, self._point(start - 1))
            for index, step in enumerate(self.steps[start:], start):
                self._run_step(index, step)
            if not self.steps:
                self._report_empty_run()
        except BaseException as interrupt:
            # Exceptions from steps were turned into failures inside _run_step; what lands here
            # is KeyboardInterrupt (or SystemExit ...) arriving at any point of the run.
            if not self.finished:
                self._interrupted(interrupt)
            raise
        finally:
            context.current_step = None
        self._finish("succeeded", None, None, (), ())
        return {
            "success": True,
            "steps_executed": self.steps_executed,
            "steps_total": len(self.steps),
        }

    def _run_step(self, index: int, step: BaseStep[C]) -> None:
        __tracebackhide__ = True
        context = self.context
        name = step.name
        context.current_step = name
        self.reached = index + 1
        try:
            skip = step.can_skip(context)
        except Exception as exc:
            result = _failure(exc)
            context.step_results.append(result)
            self._fail(index, name, result, 0.0)
        if skip:
            context.step_results.append(StepResult(skipped=True))
            self.publish(StepSkipped(index, name, self.clock.now()))
        else:
            started = self.clock.now()
            self.publish(StepStarted(index, name, started))
            self.running = (index, step, started)
            try:
                result = step.execute(context)
            except Exception as exc:
                result = _failure(exc)
            if not isinstance(result, StepResult):
                result = StepResult(success=False, error=_not_a_result(name, result))
            context.step_results.append(result)
            self.executed.append((index, step, result))
            self.running = None
            finished = self.clock.now()
            if not result.success:
                self._fail(index, name, result, finished - started)
            self.steps_executed += 1
            self.publish(StepFinished(index, name, finished - started, finished, result))
        self._report_progress(index, name, self._point(index))

    def _point(self, index: int) -> int:
        return percent(self.plan[index].end)

    def _report_progress(self, index: int, name: str, current: int) -> None:
        __tracebackhide__ = True
        try:
            if self.callback is not None:
                self.callback(current, 100)
        except Exception as exc:
            result = _failure(exc)
            result.error = f"progress callback raised {type(exc).__name__}: {exc}"
            self._fail(index, name, result, 0.0)
        self.publish(RunProgress(current, 100, self.clock.now()))

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
            raise RunFailedError(f"Run failed: {error}") from exc
        self.publish(RunProgress(100, 100, self.clock.now()))

    def _fail(self, index: int, name: str, result: StepResult, duration: float) -> NoReturn:
        """Record a failure, roll back, and raise ``StepFailedError`` (never returns)."""
        __tracebackhide__ = True
        error = result.error or "step reported failure without an error message"
        self.context.errors.append(f"Step '{name}' failed: {error}")
        self.publish(_failed_record(index, name, error, duration, self.clock.now(), result))
        rolled_back, rollback_errors = self._rollback(index)
        self._finish("failed", name, error, rolled_back, rollback_errors)
        failure = StepFailedError(name, error, rollback_errors)
        if self.kept_steps:
            failure.add_note(
                f"Kept {len(self.kept_steps)} completed step(s) ({', '.join(self.kept_steps)}): "
                "fix the step, register it again (registry.replace(...)), then call "
                "orchestrator.resume(); or orchestrator.rollback() to undo them."
            )
        raise failure from result.exception

    def _interrupted(self, interrupt: BaseException) -> None:
        """Close the books after a KeyboardInterrupt: record the step it hit, then roll back."""
        context = self.context
        error = f"interrupted ({type(interrupt).__name__})"
        failed_name: str | None = None
        running = self.running
        if running is not None and not (self.executed and self.executed[-1][1] is running[1]):
            index, step, started = running
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
            return self._undo(self.executed)
        failed = [entry for entry in self.executed if entry[0] >= failed_at]
        self.executed = [entry for entry in self.executed if entry[0] < failed_at]
        self.kept_steps = tuple(step.name for _, step, _ in self.executed)
        return self._undo(failed)

    def rollback_kept(self) -> None:
        """``Orchestrator.rollback()``: undo the kept steps and close the run's books again."""
        rolled_back, errors = self._undo(self.executed)
        self.kept_steps = ()
        finish = self.runtime.recorder.run.finish
        self._finish(
            "failed" if finish is None else finish.status,
            None if finish is None else finish.failed_step,
            None if finish is None else finish.error,
            rolled_back,
            errors,
        )
        if errors:
            raise StepFailedError("rollback", f"rollback failed for {len(errors)} step(s)", errors)

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
        if entries is self.executed:
            self.executed = []
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
        self.finished = True
        finished = self.clock.now()
        self.publish(
            RunFinished(
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
        )


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
