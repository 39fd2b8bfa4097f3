"""``Orchestrator``: runs a registry's steps in order, reports progress, rolls back on failure."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, NoReturn

from synapse_steps.errors import StepFailedError
from synapse_steps.events import (
    PlannedStep,
    RunFinished,
    RunProgress,
    RunStarted,
    RunStatus,
    StepFailed,
    StepFinished,
    StepRolledBack,
    StepSkipped,
    StepStarted,
    now,
)
from synapse_steps.steps.base import BaseStep, C, StepResult
from synapse_steps.steps.context import BaseStepContext
from synapse_steps.steps.progress import percent, plan_steps, progress_points
from synapse_steps.steps.registry import StepRegistry

ProgressCallback = Callable[[int, int], None]

_run_ids = iter(range(1, 1 << 62))


class Orchestrator(Generic[C]):
    """Executes the steps of ``registry`` on ``context``.

    After each step completes or is skipped, ``progress_callback(current, 100)`` receives the
    cumulative weighted progress. When a step fails (returns ``success=False``, raises, or returns
    something that is not a ``StepResult``) the failed step and then every executed step are
    rolled back in reverse order, and ``StepFailedError`` (a ``RuntimeError``) is raised.
    ``KeyboardInterrupt`` rolls back the same way and is re-raised.
    """

    def __init__(
        self,
        registry: StepRegistry[C],
        context: C,
        progress_callback: ProgressCallback | None = None,
    ) -> None:
        # Checked here so a swapped or missing argument fails at this line, not mid-run.
        if not isinstance(registry, StepRegistry):
            raise TypeError(
                f"Orchestrator needs a StepRegistry as its first argument, got "
                f"{type(registry).__name__}; build one with StepRegistry() and register steps"
            )
        if not isinstance(context, BaseStepContext):
            raise TypeError(
                f"Orchestrator needs a context that subclasses BaseStepContext, got "
                f"{type(context).__name__}; define one as a dataclass: "
                "@dataclass class MyContext(BaseStepContext)"
            )
        if progress_callback is not None and not callable(progress_callback):
            raise TypeError(
                f"progress_callback must be callable as callback(current, total), got "
                f"{progress_callback!r}"
            )
        self.registry = registry
        self.context = context
        self.progress_callback = progress_callback

    def execute(self) -> dict[str, Any]:
        """Run every step once; a second call starts a fresh run on the same context."""
        # Hides the orchestrator's own frames from IPython and pytest tracebacks: a user
        # should see their step's frames and the StepFailedError, not our plumbing.
        __tracebackhide__ = True
        try:
            return _Run(self.registry.get_steps(), self.context, self.progress_callback).execute()
        except StepFailedError as failure:
            # Raised afresh from here, so the traceback ends at the user's call instead of in
            # the run's internals; the step's own exception stays chained as the cause.
            raise failure.with_traceback(None) from failure.__cause__


class _Run(Generic[C]):
    """The state of one ``execute()`` call, so that re-running never mixes two runs."""

    def __init__(
        self, steps: list[BaseStep[C]], context: C, callback: ProgressCallback | None
    ) -> None:
        self.steps = steps
        self.context = context
        self.callback = callback
        self.runtime = context.runtime_ctx
        # The full plan (names, classes, shares) is built only for loggers that draw it: the
        # progress callback needs just the points, a fraction of the cost per step.
        self.emit_run_start = self.runtime.wants(RunStarted)
        self.plan: tuple[PlannedStep, ...] = plan_steps(steps) if self.emit_run_start else ()
        self.points = [percent(p.end) for p in self.plan] if self.plan else progress_points(steps)
        #: Steps whose ``execute`` was entered, with their results: what rollback undoes.
        self.executed: list[tuple[int, BaseStep[C], StepResult]] = []
        #: The step inside ``execute`` right now (an interrupt there is that step's failure).
        self.running: tuple[int, BaseStep[C], float] | None = None
        self.reached = 0
        self.steps_executed = 0
        self.finished = False
        self.started = now()
        # Building a record nobody listens to is wasted work on a hot path: decide once.
        wants = self.runtime.wants
        self.emit_step_start = wants(StepStarted)
        self.emit_step_end = wants(StepFinished)
        self.emit_progress = wants(RunProgress)
        # Two clock reads per step are only worth it when a record carries the times.
        self.timed = self.emit_step_start or self.emit_step_end or wants(StepFailed)

    def execute(self) -> dict[str, Any]:
        __tracebackhide__ = True
        context = self.context
        context.step_results = []
        context.errors = []
        if self.emit_run_start:
            self.runtime.emit(RunStarted(next(_run_ids), self.plan, self.started))
        try:
            for index, step in enumerate(self.steps):
                self._run_step(index, step)
            if not self.steps:
                self._report_progress(100)
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
            if self.runtime.wants(StepSkipped):
                self.runtime.emit(StepSkipped(index, name, now()))
        else:
            started = now() if self.timed else 0.0
            if self.emit_step_start:
                self.runtime.emit(StepStarted(index, name, started))
            self.running = (index, step, started)
            try:
                result = step.execute(context)
            except Exception as exc:
                result = _failure(exc)
            if not isinstance(result, StepResult):
                result = StepResult(
                    success=False,
                    error=(
                        f"step '{name}' returned {_short_repr(result)} of type "
                        f"{type(result).__name__}: execute() must return a StepResult "
                        "(did you forget a return statement?)"
                    ),
                )
            context.step_results.append(result)
            self.executed.append((index, step, result))
            self.running = None
            duration = now() - started if self.timed else 0.0
            if not result.success:
                self._fail(index, name, result, duration)
            self.steps_executed += 1
            if self.emit_step_end:
                self.runtime.emit(StepFinished(index, name, duration, now()))
        try:
            # _report_progress, inlined: this runs once per step.
            current = self.points[index]
            if self.callback is not None:
                self.callback(current, 100)
            if self.emit_progress:
                self.runtime.emit(RunProgress(current, 100, now()))
        except Exception as exc:
            result = _failure(exc)
            result.error = f"progress callback raised {type(exc).__name__}: {exc}"
            self._fail(index, name, result, 0.0)

    def _report_progress(self, current: int) -> None:
        if self.callback is not None:
            self.callback(current, 100)
        if self.emit_progress:
            self.runtime.emit(RunProgress(current, 100, now()))

    def _fail(self, index: int, name: str, result: StepResult, duration: float) -> NoReturn:
        """Record a failure, roll back, and raise ``StepFailedError`` (never returns)."""
        __tracebackhide__ = True
        error = result.error or "step reported failure without an error message"
        self.context.errors.append(f"Step '{name}' failed: {error}")
        if self.runtime.wants(StepFailed):
            self.runtime.emit(
                StepFailed(index, name, error, duration, now(), False, result.exception)
            )
        rolled_back, rollback_errors = self._rollback()
        self._finish("failed", name, error, rolled_back, rollback_errors)
        raise StepFailedError(name, error, rollback_errors) from result.exception

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
            if self.runtime.wants(StepFailed):
                self.runtime.emit(
                    StepFailed(index, step.name, error, now() - started, now(), True, interrupt)
                )
        elif len(context.step_results) < self.reached:
            # Interrupted in can_skip(): the step was reached but never executed.
            context.step_results.append(StepResult(success=False, error=error, exception=interrupt))
            failed_name = self.steps[self.reached - 1].name
        context.errors.append(
            f"Run interrupted at step '{failed_name}'" if failed_name else "Run interrupted"
        )
        rolled_back, rollback_errors = self._rollback()
        self._finish("interrupted", failed_name, error, rolled_back, rollback_errors)

    def _rollback(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """Best-effort rollback of every executed step, newest first.

        A rollback that raises is recorded and the others still run. Even an interrupt only
        abandons the rollback it hit: pressing stop on a hanging cleanup must not leave the
        other steps' resources behind.
        """
        context = self.context
        rolled_back: list[str] = []
        errors: list[str] = []
        for index, step, result in reversed(self.executed):
            name = step.name
            context.current_step = name
            error: str | None = None
            try:
                step.rollback(context, result)
            except BaseException as exc:
                error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                errors.append(f"'{name}': {error}")
                context.errors.append(f"Rollback of step '{name}' failed: {error}")
            rolled_back.append(name)
            if self.runtime.wants(StepRolledBack):
                self.runtime.emit(StepRolledBack(index, name, error, now()))
        self.executed.clear()
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
        if self.runtime.wants(RunFinished):
            finished = now()
            self.runtime.emit(
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
                )
            )


def _failure(exc: BaseException) -> StepResult:
    return StepResult(success=False, error=str(exc) or type(exc).__name__, exception=exc)


def _short_repr(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
