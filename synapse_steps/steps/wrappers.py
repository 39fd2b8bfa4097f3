"""Steps that wrap other steps: logging, timing, and a validation step built from a function."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Generic

from synapse_steps.errors import NotAStepError, UsageError
from synapse_steps.steps.base import BaseStep, C, StepResult


class StepWrapper(BaseStep[C], Generic[C]):
    """Base of wrappers: forwards weight, ``can_skip`` and ``rollback`` to the wrapped step.

    Wrappers stack (``TimingStep(LoggingStep(step))``); ``inner`` is the wrapped step and
    ``innermost`` the original one.
    """

    prefix = ""

    def __init__(self, step: BaseStep[C]) -> None:
        if not isinstance(step, BaseStep):
            raise NotAStepError(
                f"{type(self).__name__} wraps a BaseStep instance, got {step!r} "
                f"of type {type(step).__name__}"
            )
        self.inner = step

    @property
    def innermost(self) -> BaseStep[C]:
        step: BaseStep[C] = self.inner
        while isinstance(step, StepWrapper):
            step = step.inner
        return step

    @property
    def name(self) -> str:
        return f"{self.prefix}{self.inner.name}"

    @property
    def progress_weight(self) -> float:
        return self.inner.progress_weight

    def execute(self, context: C) -> StepResult:
        return self.inner.execute(context)

    def can_skip(self, context: C) -> bool:
        return self.inner.can_skip(context)

    def rollback(self, context: C, result: StepResult) -> None:
        self.inner.rollback(context, result)


class LoggingStep(StepWrapper[C]):
    """Logs ``step_start``, ``step_end`` (with elapsed seconds) and ``step_rollback`` events.

    ``step_end`` is logged even when the wrapped step raises, before the error goes on to the
    orchestrator.
    """

    prefix = "logged_"

    def execute(self, context: C) -> StepResult:
        inner_name = self.inner.name
        context.log("step_start", {"step": inner_name})
        clock = context.runtime_ctx.clock
        started = clock.now()
        result: StepResult | None = None
        try:
            result = self.inner.execute(context)
            return result
        finally:
            context.log(
                "step_end",
                {
                    "step": inner_name,
                    "elapsed": round(clock.now() - started, 3),
                    "success": bool(getattr(result, "success", False)),
                    "skipped": bool(getattr(result, "skipped", False)),
                },
            )

    def rollback(self, context: C, result: StepResult) -> None:
        context.log("step_rollback", {"step": self.inner.name})
        self.inner.rollback(context, result)


class TimingStep(StepWrapper[C]):
    """Adds ``duration_seconds`` (wall-clock time of the wrapped step) to the result's data."""

    prefix = "timed_"

    def execute(self, context: C) -> StepResult:
        clock = context.runtime_ctx.clock
        started = clock.now()
        result = self.inner.execute(context)
        duration = clock.now() - started
        if not isinstance(result, StepResult):
            return result  # the orchestrator reports the wrapped step's mistake
        # A copy, so a result object the wrapped step reuses is never changed behind its back.
        return replace(result, data={**result.data, "duration_seconds": duration})


class ValidationStep(BaseStep[C]):
    """A step that checks the context with ``validator(context) -> (ok, error)``."""

    def __init__(
        self,
        validator: Callable[[C], tuple[bool, str | None]],
        name: str = "validate",
        progress_weight: float = 0.05,
    ) -> None:
        if not callable(validator):
            raise UsageError(
                f"ValidationStep needs a callable validator(context) -> (ok, error), "
                f"got {validator!r} of type {type(validator).__name__}"
            )
        self.validator = validator
        self._name = name
        self._progress_weight = progress_weight

    @property
    def name(self) -> str:
        return self._name

    @property
    def progress_weight(self) -> float:
        return self._progress_weight

    def execute(self, context: C) -> StepResult:
        outcome = self.validator(context)
        if not (isinstance(outcome, tuple) and len(outcome) == 2):
            return StepResult(
                success=False,
                error=(
                    f"validator {getattr(self.validator, '__name__', self.validator)!r} returned "
                    f"{outcome!r}; it must return a tuple (ok, error_message_or_None)"
                ),
            )
        ok, error = outcome
        if ok:
            return StepResult(success=True)
        return StepResult(success=False, error=error or f"validation '{self._name}' failed")
