"""``LoggingStep``, ``TimingStep`` and ``ValidationStep``: forwarding, stacking, events."""

from __future__ import annotations

from typing import Any

import pytest

from synapse_steps.clock import SYSTEM_CLOCK, Clock
from synapse_steps.context import RuntimeContext
from synapse_steps.errors import NotAStepError
from synapse_steps.steps import (
    BaseStep,
    BaseStepContext,
    LoggingStep,
    Orchestrator,
    StepRegistry,
    StepResult,
    StepWrapper,
    TimingStep,
    ValidationStep,
)


class Inner(BaseStep[BaseStepContext]):
    def __init__(self, outcome: Any = None, skip: bool = False, weight: float = 0.4) -> None:
        self.outcome = StepResult(data={"x": 1}) if outcome is None else outcome
        self.skip = skip
        self.weight = weight
        self.calls: list[str] = []
        self.rolled_back_with: list[StepResult] = []

    @property
    def name(self) -> str:
        return "inner"

    @property
    def progress_weight(self) -> float:
        return self.weight

    def can_skip(self, context: BaseStepContext) -> bool:
        self.calls.append("can_skip")
        return self.skip

    def execute(self, context: BaseStepContext) -> StepResult:
        self.calls.append("execute")
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        return self.outcome  # type: ignore[no-any-return]

    def rollback(self, context: BaseStepContext, result: StepResult) -> None:
        self.calls.append("rollback")
        self.rolled_back_with.append(result)


def context_with(logger: Any = None, clock: Clock = SYSTEM_CLOCK) -> BaseStepContext:
    if logger is None:
        runtime = RuntimeContext(display="off", clock=clock)
    else:
        runtime = RuntimeContext(logger=logger, clock=clock)
    return BaseStepContext(runtime_ctx=runtime)


class ScriptedClock(Clock):
    """The runtime clock reading ``readings`` one by one (and failing the test past the end)."""

    def __init__(self, *readings: float) -> None:
        self.readings = iter(readings)

    def now(self) -> float:
        return next(self.readings)

    def wall(self) -> float:
        return 1_700_000_000.0


class TickingClock(Clock):
    """Moves one second per reading (a test may move ``t`` further)."""

    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> float:
        self.t += 1.0
        return self.t

    def wall(self) -> float:
        return 1_700_000_000.0 + self.t


@pytest.mark.parametrize(
    ("wrapper", "name"), [(LoggingStep, "logged_inner"), (TimingStep, "timed_inner")]
)
def test_wrappers_forward_weight_can_skip_and_rollback(wrapper: Any, name: str) -> None:
    inner = Inner(skip=True, weight=0.7)
    step = wrapper(inner)
    context = context_with()
    result = StepResult(success=False, error="e")

    assert step.name == name
    assert step.progress_weight == 0.7
    assert step.can_skip(context) is True
    step.rollback(context, result)

    assert inner.calls == ["can_skip", "rollback"]
    assert inner.rolled_back_with == [result]
    assert step.inner is inner
    assert step.innermost is inner
    assert isinstance(step, StepWrapper)


def test_wrappers_stack() -> None:
    inner = Inner()
    stacked = TimingStep(LoggingStep(inner))
    assert stacked.name == "timed_logged_inner"
    assert LoggingStep(TimingStep(inner)).name == "logged_timed_inner"
    assert stacked.innermost is inner
    assert stacked.progress_weight == 0.4


def test_stacked_wrappers_in_a_run(list_logger: Any) -> None:
    clock = TickingClock()

    class Slow(Inner):
        def execute(self, context: BaseStepContext) -> StepResult:
            clock.t += 2.0  # the step itself takes 2 s
            return super().execute(context)

    registry = StepRegistry[BaseStepContext]()
    registry.register(TimingStep(LoggingStep(Slow())))
    context = context_with(list_logger, clock)

    assert Orchestrator(registry, context).execute()["steps_executed"] == 1

    # the wrappers read the runtime's clock, like the orchestrator: timing reads before and
    # after logging's two readings (1 s per reading), and both include the step's 2 s
    assert context.step_results[0].data == {"x": 1, "duration_seconds": 5.0}
    assert list_logger.events() == [
        ("step_start", {"step": "inner"}),
        ("step_end", {"step": "inner", "elapsed": 3.0, "success": True, "skipped": False}),
    ]
    # the runtime's store has the same events, stamped with the runtime's wall clock
    events = context.runtime_ctx.recorder.events
    assert [(e.event, e.data) for e in events] == list_logger.events()
    assert all(e.time > 1_700_000_000.0 for e in events)
    (state,) = context.runtime_ctx.recorder.run.steps
    assert state.duration is not None
    assert state.duration >= 5.0  # the orchestrator's reading of the same clock


def test_wrappers_reject_non_steps() -> None:
    with pytest.raises(NotAStepError, match=r"^LoggingStep wraps a BaseStep instance, got 'x'"):
        LoggingStep("x")  # type: ignore[arg-type]
    with pytest.raises(NotAStepError, match=r"^TimingStep wraps a BaseStep instance, got <class"):
        TimingStep(Inner)  # type: ignore[arg-type]


# -- LoggingStep ----------------------------------------------------------------------------------


def test_logging_step_logs_start_and_end(list_logger: Any) -> None:
    inner = Inner(outcome=StepResult(success=False, error="no", skipped=True))
    context = context_with(list_logger, ScriptedClock(3.0, 4.0004))

    result = LoggingStep(inner).execute(context)

    assert result is inner.outcome
    assert list_logger.calls == [
        ("log", "step_start", {"step": "inner"}, None),
        (
            "log",
            "step_end",
            {"step": "inner", "elapsed": 1.0, "success": False, "skipped": True},
            None,
        ),
    ]


def test_logging_step_logs_step_end_when_the_inner_step_raises(list_logger: Any) -> None:
    boom = ValueError("boom")
    context = context_with(list_logger, ScriptedClock(0.0, 0.1234))

    with pytest.raises(ValueError, match=r"^boom$") as raised:
        LoggingStep(Inner(outcome=boom)).execute(context)

    assert raised.value is boom
    assert list_logger.events() == [
        ("step_start", {"step": "inner"}),
        ("step_end", {"step": "inner", "elapsed": 0.123, "success": False, "skipped": False}),
    ]


def test_logging_step_logs_step_end_on_keyboard_interrupt(list_logger: Any) -> None:
    context = context_with(list_logger)
    with pytest.raises(KeyboardInterrupt):
        LoggingStep(Inner(outcome=KeyboardInterrupt())).execute(context)
    assert [e for e, _ in list_logger.events()] == ["step_start", "step_end"]
    assert list_logger.events()[1][1]["success"] is False


def test_logging_step_with_a_non_result_return_logs_failure(list_logger: Any) -> None:
    context = context_with(list_logger)
    inner = Inner()
    inner.outcome = "oops"
    assert LoggingStep(inner).execute(context) == "oops"  # type: ignore[comparison-overlap]
    assert list_logger.events()[1][1]["success"] is False


def test_logging_step_rollback_logs_then_forwards(list_logger: Any) -> None:
    inner = Inner()
    context = context_with(list_logger)
    result = StepResult()
    LoggingStep(inner).rollback(context, result)
    assert list_logger.events() == [("step_rollback", {"step": "inner"})]
    assert inner.rolled_back_with == [result]


def test_logging_step_skipped_in_a_run_logs_nothing(list_logger: Any) -> None:
    registry = StepRegistry[BaseStepContext]()
    registry.register(LoggingStep(Inner(skip=True)))
    context = context_with(list_logger)
    Orchestrator(registry, context).execute()
    assert list_logger.calls == []
    assert context.step_results[0].skipped is True


# -- TimingStep -----------------------------------------------------------------------------------


def test_timing_step_returns_a_copy_with_duration() -> None:
    original = StepResult(data={"a": 1}, rollback_data={"r": 2}, error=None)
    inner = Inner(outcome=original)

    result = TimingStep(inner).execute(context_with(clock=ScriptedClock(1.0, 1.75)))

    assert result.data == {"a": 1, "duration_seconds": 0.75}
    assert result.rollback_data == {"r": 2}
    assert result.timestamp == original.timestamp
    assert original.data == {"a": 1}  # the wrapped step's object is left alone
    assert result is not original


def test_timing_step_keeps_failed_results_failed() -> None:
    result = TimingStep(Inner(outcome=StepResult(success=False, error="bad"))).execute(
        context_with(clock=ScriptedClock(0.0, 2.0))
    )
    assert (result.success, result.error, result.data) == (
        False,
        "bad",
        {"duration_seconds": 2.0},
    )


def test_timing_step_passes_non_results_through_for_the_orchestrator() -> None:
    inner = Inner()
    inner.outcome = 7
    registry = StepRegistry[BaseStepContext]()
    registry.register(TimingStep(inner))
    with pytest.raises(
        RuntimeError,
        match=r"^Step 'timed_inner' failed: step 'timed_inner' returned 7 of type int",
    ):
        Orchestrator(registry, context_with()).execute()


def test_timing_step_lets_exceptions_through() -> None:
    with pytest.raises(KeyError):
        TimingStep(Inner(outcome=KeyError("k"))).execute(context_with())


def test_timing_step_real_clock_measures_non_negative_time() -> None:
    result = TimingStep(Inner()).execute(context_with())
    assert isinstance(result.data["duration_seconds"], float)
    assert 0.0 <= result.data["duration_seconds"] < 5.0


# -- ValidationStep -------------------------------------------------------------------------------


def test_validation_step_defaults_and_success() -> None:
    seen: list[BaseStepContext] = []

    def validator(context: BaseStepContext) -> tuple[bool, str | None]:
        seen.append(context)
        return True, None

    step = ValidationStep(validator)
    context = context_with()
    assert (step.name, step.progress_weight) == ("validate", 0.05)
    assert step.can_skip(context) is False
    result = step.execute(context)
    assert (result.success, result.error, result.data) == (True, None, {})
    assert seen == [context]


def test_validation_step_failure_uses_the_validator_message() -> None:
    step = ValidationStep(lambda c: (False, "missing labels"), name="check", progress_weight=0.2)
    result = step.execute(context_with())
    assert (step.name, step.progress_weight) == ("check", 0.2)
    assert (result.success, result.error) == (False, "missing labels")


def test_validation_step_failure_without_message_gets_one() -> None:
    result = ValidationStep(lambda c: (False, None), name="check").execute(context_with())
    assert (result.success, result.error) == (False, "validation 'check' failed")


@pytest.mark.parametrize("outcome", [True, None, (True,), [True, None], (True, None, 1)])
def test_validation_step_with_a_bad_validator_return_fails_clearly(outcome: Any) -> None:
    def checker(context: BaseStepContext) -> Any:
        return outcome

    result = ValidationStep(checker).execute(context_with())
    assert result.success is False
    assert result.error == (
        f"validator 'checker' returned {outcome!r}; it must return a tuple "
        "(ok, error_message_or_None)"
    )


def test_validation_step_rejects_a_non_callable() -> None:
    with pytest.raises(TypeError, match=r"^ValidationStep needs a callable validator"):
        ValidationStep("not callable")  # type: ignore[arg-type]


def test_validator_exception_becomes_a_failure_in_a_run() -> None:
    def validator(context: BaseStepContext) -> tuple[bool, str | None]:
        raise AttributeError("no field 'data'")

    registry = StepRegistry[BaseStepContext]()
    registry.register(ValidationStep(validator))
    context = context_with()
    with pytest.raises(RuntimeError, match=r"^Step 'validate' failed: no field 'data'$"):
        Orchestrator(registry, context).execute()
    assert isinstance(context.step_results[0].exception, AttributeError)
