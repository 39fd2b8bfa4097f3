"""``Orchestrator``: runs a registry's steps in order, reports progress, rolls back on failure.

The orchestrator defines runs; an executor runs them. ``execute()`` / ``resume()`` /
``rollback()`` check their arguments, build a plain ``RunRequest`` and hand it to the executor
(in this process unless one was given), while the runtime holds the run: it refuses a second
run meanwhile and attaches the run's journal where the records arrive. What the orchestrator
keeps between calls is only what ``resume()`` and ``rollback()`` need.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any, Generic

from synapse_steps.errors import UsageError
from synapse_steps.events import RunFinished
from synapse_steps.steps.base import BaseStep, C, StepResult
from synapse_steps.steps.context import BaseStepContext
from synapse_steps.steps.executor import IN_PROCESS, Executor
from synapse_steps.steps.registry import StepRegistry
from synapse_steps.steps.request import (
    JournalSetting,
    OnFailure,
    ProgressCallback,
    Publish,
    RunOutcome,
    RunRequest,
)
from synapse_steps.wiring import WIRING

__all__ = ["OnFailure", "Orchestrator", "ProgressCallback", "execute_all"]


@dataclass(frozen=True)
class _Kept(Generic[C]):
    """A failed run's completed steps left in place (``on_failure="keep"``)."""

    steps: tuple[BaseStep[C], ...]
    reuse: tuple[tuple[int, StepResult], ...]
    stopped_at: int
    finish: RunFinished | None


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
    local store's journal; a path: that journal file (or folder); ``False``: no journal. The
    journal is written where the records arrive: in this process, whatever the executor.

    ``executor`` runs the steps elsewhere (e.g. ``executors.ray.RayExecutor``) while their
    records still reach this context's runtime; ``None`` runs them here, in this thread. Every
    option above means the same on every executor.
    """

    def __init__(
        self,
        registry: StepRegistry[C],
        context: C,
        progress_callback: ProgressCallback | None = None,
        *,
        name: str | None = None,
        journal: JournalSetting = True,
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
        if executor is not None and not callable(getattr(executor, "run", None)):
            raise UsageError(
                f"executor must have a run(request, publish) method (see "
                f"synapse_steps.steps.executor.Executor), got {executor!r} of type "
                f"{type(executor).__name__}"
            )
        self.registry = registry
        self.context = context
        self.progress_callback = progress_callback
        self.name = name or type(context).__name__
        self.journal = journal
        self.executor: Executor = IN_PROCESS if executor is None else executor
        # Made at the first run (no I/O here) and kept: a kept run stays open in it.
        self._journal_subscriber: object | None = None
        #: The last run, when it failed and kept its completed steps (for resume / rollback).
        self._kept: _Kept[C] | None = None

    # -- the three calls ---------------------------------------------------------------------

    def execute(self, on_failure: OnFailure = "rollback") -> dict[str, Any]:
        """Run every step once; a second call starts a fresh run on the same context.

        ``on_failure="keep"`` leaves the completed steps in place when a step fails, for
        ``resume()`` after a fix (or ``rollback()``).
        """
        __tracebackhide__ = True
        return self._run(self.request(on_failure))

    def resume(self, on_failure: OnFailure = "rollback") -> dict[str, Any]:
        """Continue a run that failed with ``on_failure="keep"``, from the step that failed.

        The steps before it are not executed again: their kept results are reused (the view
        shows them as *reused*). Register the fixed step first, e.g.
        ``registry.replace("train", FixedTrainStep())``.
        """
        __tracebackhide__ = True
        _check_on_failure(on_failure)
        kept = self._require_kept("resume")
        steps = tuple(self.registry.get_steps())
        start = kept.stopped_at
        before = [step.name for step in kept.steps[:start]]
        now = [step.name for step in steps[:start]]
        if now != before:
            raise UsageError(
                f"resume() reuses the steps before {kept.steps[start].name!r}, which were "
                f"{before}; the registry now starts with {now}. Change only the failed step or "
                "the steps after it (registry.replace(name, step)), or call execute() to start over"
            )
        request = self._request(steps, on_failure, start=start, reuse=kept.reuse)
        self._kept = None
        return self._run(request)

    def rollback(self) -> None:
        """Undo the steps a failed run kept (``execute(on_failure="keep")``), newest first."""
        __tracebackhide__ = True
        kept = self._require_kept("rollback")
        request = self._request(
            kept.steps, "rollback", reuse=kept.reuse, action="rollback", kept_run=kept.finish
        )
        self._kept = None
        self._run(request)

    # -- requests and outcomes (also used by ``execute_all``) -------------------------------------

    def request(self, on_failure: OnFailure = "rollback") -> RunRequest[C]:
        """The request ``execute(on_failure)`` runs: every step, from the start."""
        _check_on_failure(on_failure)
        return self._request(tuple(self.registry.get_steps()), on_failure)

    def _request(
        self, steps: tuple[BaseStep[C], ...], on_failure: OnFailure, **more: Any
    ) -> RunRequest[C]:
        return RunRequest(
            steps,
            self.context,
            self.name,
            on_failure,
            journal=self.journal,
            progress_callback=self.progress_callback,
            **more,
        )

    @contextmanager
    def holding(self, request: RunRequest[C]) -> Iterator[Publish]:
        """Hold this context's runtime for ``request``: no other run meanwhile, the journal
        attached where the records arrive. Yields where the executor publishes them."""
        runtime = self.context.runtime_ctx
        if request.action == "execute" and request.start == 0:
            self._kept = None  # a fresh run: the kept steps stay as they are
        with runtime.running(), runtime.subscribed(self._journal()):
            yield runtime.publish

    def settle(self, request: RunRequest[C], outcome: RunOutcome) -> dict[str, Any]:
        """Take over what ``request``'s run left (its final context, its kept steps) and
        return its result, or raise its error, as ``execute()`` does."""
        __tracebackhide__ = True
        if outcome.context is not None and outcome.context is not self.context:
            _adopt(self.context, outcome.context)
        if outcome.kept:
            results = self.context.step_results
            self._kept = _Kept(
                request.steps,
                tuple((position, results[position]) for position in outcome.kept),
                outcome.stopped_at,
                outcome.finish,
            )
        error = outcome.error
        if error is not None:
            if isinstance(error, Exception):
                # Raised afresh from here, so the traceback ends at the user's call instead of
                # in the run's internals; the step's own exception stays chained as the cause.
                raise error.with_traceback(None) from error.__cause__
            raise error  # an interrupt keeps its traceback: where the user pressed stop
        if outcome.result is None:  # rollback() returns nothing; an execute() run must
            if request.action == "execute":
                raise UsageError(
                    f"the executor {self.executor!r} returned an outcome without a result or "
                    "an error for a run that it reports as ended; an Executor must return "
                    "what synapse_steps.steps.runner.run_request returns"
                )
            return {}
        return outcome.result

    def _run(self, request: RunRequest[C]) -> dict[str, Any]:
        __tracebackhide__ = True
        with self.holding(request) as publish:
            outcome = self.executor.run(request, publish)
        return self.settle(request, outcome)

    def _journal(self) -> object | None:
        if self.journal is False:
            return None
        if self._journal_subscriber is None:
            self._journal_subscriber = WIRING.journal(self.journal, self.name)
        return self._journal_subscriber

    def _require_kept(self, action: str) -> _Kept[C]:
        if self._kept is None:
            raise UsageError(
                f"{action}() needs a run that failed with execute(on_failure='keep') and kept its "
                "completed steps; this orchestrator has none (it succeeded, rolled back, or was "
                "already resumed or rolled back)"
            )
        return self._kept

    def __repr__(self) -> str:
        name = getattr(self, "name", None)  # also for one whose __init__ refused its arguments
        if name is None:
            return "<Orchestrator (not made)>"
        return (
            f"<Orchestrator {name!r}: {len(self.registry)} steps, executor={self.executor!r}"
            f"{', kept steps' if self._kept else ''}>"
        )


def execute_all(
    orchestrators: Sequence[Orchestrator[Any]],
    executor: Executor,
    *,
    on_failure: OnFailure = "rollback",
    max_parallel: int | None = None,
) -> list[dict[str, Any] | BaseException]:
    """Run several workflows, in parallel when ``executor`` has ``run_all(jobs, max_parallel)``
    (Ray), else one after another; per workflow its result dict or the error ``execute()``
    would have raised (returned, not raised: one failing workflow does not stop the others).
    A ``KeyboardInterrupt`` stops them all (they roll back) and is raised."""
    __tracebackhide__ = True
    run_all = getattr(executor, "run_all", None)
    settled: list[dict[str, Any] | BaseException] = []
    if not callable(run_all):
        for orchestrator in orchestrators:
            try:
                settled.append(orchestrator._run(orchestrator.request(on_failure)))
            except Exception as exc:
                settled.append(exc)
        return settled
    with ExitStack() as holding:
        jobs = []
        for orchestrator in orchestrators:
            request = orchestrator.request(on_failure)
            jobs.append((request, holding.enter_context(orchestrator.holding(request))))
        outcomes = run_all(jobs, max_parallel=max_parallel)
    stopped: BaseException | None = None
    for orchestrator, (request, _), outcome in zip(orchestrators, jobs, outcomes, strict=True):
        try:
            settled.append(orchestrator.settle(request, outcome))
        except Exception as exc:
            settled.append(exc)
        except BaseException as interrupt:  # settled all the same: each keeps its kept steps
            stopped = stopped or interrupt
            settled.append(interrupt)
    if stopped is not None:
        raise stopped
    return settled


def _adopt(context: BaseStepContext, final: BaseStepContext) -> None:
    """Copy the fields of a run's final context (from a remote worker) into the caller's."""
    for name, value in vars(final).items():
        if name != "runtime_ctx":
            setattr(context, name, value)


def _check_on_failure(on_failure: str) -> None:
    if on_failure not in ("rollback", "keep"):
        raise UsageError(f"on_failure must be 'rollback' or 'keep', got {on_failure!r}")
