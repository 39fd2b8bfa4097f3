"""Property tests of the orchestrator on random registries.

Each example builds a registry of random weights (zeros included) and behaviours (succeed, skip,
fail by result, fail by exception, forget the return, interrupt in ``execute`` or ``can_skip``,
raise in ``can_skip``, raise in ``rollback``), optionally interrupts from the progress callback,
runs it twice on the same orchestrator, and checks the invariants against a simple model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from synapse_steps.context import RuntimeContext
from synapse_steps.events import (
    RunFinished,
    RunProgress,
    RunStarted,
    StepRollbackStarted,
    StepRolledBack,
)
from synapse_steps.steps import BaseStep, BaseStepContext, Orchestrator, StepRegistry, StepResult

FAILS = {"fail_result", "raise", "none", "can_skip_raises"}
INTERRUPTS = {"interrupt_execute", "interrupt_can_skip"}
BEHAVIOURS = ["ok"] * 6 + ["skip"] * 2 + sorted(FAILS) + sorted(INTERRUPTS)


@dataclass(frozen=True)
class Spec:
    weight: float
    behaviour: str
    rollback_raises: bool


class RandomStep(BaseStep[BaseStepContext]):
    def __init__(self, index: int, spec: Spec, trace: list[tuple[str, str]]) -> None:
        self._name = f"s{index}"
        self.spec = spec
        self.trace = trace

    @property
    def name(self) -> str:
        return self._name

    @property
    def progress_weight(self) -> float:
        return self.spec.weight

    def can_skip(self, context: BaseStepContext) -> bool:
        assert context.current_step == self._name
        behaviour = self.spec.behaviour
        if behaviour == "interrupt_can_skip":
            raise KeyboardInterrupt
        if behaviour == "can_skip_raises":
            raise LookupError(f"{self._name} cannot decide")
        return behaviour == "skip"

    def execute(self, context: BaseStepContext) -> StepResult:
        assert context.current_step == self._name
        self.trace.append(("execute", self._name))
        behaviour = self.spec.behaviour
        if behaviour == "fail_result":
            return StepResult(success=False, error=f"{self._name} failed")
        if behaviour == "raise":
            raise ValueError(f"{self._name} raised")
        if behaviour == "interrupt_execute":
            raise KeyboardInterrupt
        if behaviour == "none":
            return None  # type: ignore[return-value]
        return StepResult(data={"step": self._name})

    def rollback(self, context: BaseStepContext, result: StepResult) -> None:
        self.trace.append(("rollback", self._name))
        if self.spec.rollback_raises:
            raise OSError(f"cannot undo {self._name}")


class Records:
    """Lifecycle records of every run, in order."""

    def __init__(self) -> None:
        self.records: list[Any] = []

    def log(self, event: str, data: dict[str, Any], file: str | None = None) -> None:
        raise AssertionError("the orchestrator must not write into log()")

    def set_progress(self, current: int, total: int, category: str | None = None) -> None:
        raise AssertionError("the orchestrator must not write into set_progress()")

    def set_metrics(self, value: dict[str, Any], category: str | None = None) -> None:
        raise AssertionError("the orchestrator must not write into set_metrics()")

    def on_run_start(self, record: RunStarted) -> None:
        self.records.append(record)

    def on_rollback_start(self, record: StepRollbackStarted) -> None:
        self.records.append(record)

    def on_step_rollback(self, record: StepRolledBack) -> None:
        self.records.append(record)

    def on_run_progress(self, record: RunProgress) -> None:
        self.records.append(record)

    def on_run_end(self, record: RunFinished) -> None:
        self.records.append(record)


@dataclass
class Expected:
    outcome: str  # "succeeded", "failed" or "interrupted"
    executed: list[str]
    skipped: list[str]
    reached: int
    progress_calls: int


def model(specs: list[Spec], interrupt_call: int | None) -> Expected:
    """What must happen. The progress callback is called once per completed or skipped step
    (once at all for an empty registry), so before step ``index`` it was called ``index`` times.
    """
    executed: list[str] = []
    skipped: list[str] = []
    for index, spec in enumerate(specs):
        name = f"s{index}"
        behaviour = spec.behaviour
        stopped = "interrupted" if behaviour in INTERRUPTS else "failed"
        if behaviour in ("interrupt_can_skip", "can_skip_raises"):
            return Expected(stopped, executed, skipped, index + 1, index)
        if behaviour == "skip":
            skipped.append(name)
        else:
            executed.append(name)
            if behaviour in FAILS or behaviour in INTERRUPTS:
                return Expected(stopped, executed, skipped, index + 1, index)
        if interrupt_call == index + 1:
            return Expected("interrupted", executed, skipped, index + 1, index + 1)
    if not specs:
        return Expected("interrupted" if interrupt_call == 1 else "succeeded", [], [], 0, 1)
    return Expected("succeeded", executed, skipped, len(specs), len(specs))


weights = st.one_of(
    st.just(0.0),
    st.sampled_from([0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0]),
    st.floats(min_value=0.0, max_value=1e3, allow_nan=False, allow_infinity=False),
    st.integers(min_value=0, max_value=5).map(float),
)
specs_strategy = st.lists(
    st.builds(Spec, weights, st.sampled_from(BEHAVIOURS), st.booleans()), max_size=8
)


def reference_percent(specs: list[Spec], completed: int) -> Fraction:
    """Exact overall progress after ``completed`` steps, in percent."""
    values = [Fraction(s.weight) for s in specs]
    total = sum(values, Fraction(0))
    if total == 0:
        values = [Fraction(1)] * len(specs)
        total = Fraction(len(specs))
    return 100 * sum(values[:completed], Fraction(0)) / total


def run_once(
    orchestrator: Orchestrator[BaseStepContext],
) -> tuple[str, BaseException | None]:
    try:
        orchestrator.execute()
    except KeyboardInterrupt as exc:
        return "interrupted", exc
    except RuntimeError as exc:
        return "failed", exc
    return "succeeded", None


@settings(max_examples=300, deadline=None)
@given(specs=specs_strategy, interrupt_call=st.one_of(st.none(), st.integers(1, 9)))
def test_orchestrator_invariants(specs: list[Spec], interrupt_call: int | None) -> None:
    trace: list[tuple[str, str]] = []
    registry = StepRegistry[BaseStepContext]()
    for index, spec in enumerate(specs):
        registry.register(RandomStep(index, spec, trace))
    records = Records()
    context = BaseStepContext(runtime_ctx=RuntimeContext(logger=records))
    progress: list[tuple[int, int]] = []

    def callback(current: int, total: int) -> None:
        progress.append((current, total))
        if len(progress) == interrupt_call:
            raise KeyboardInterrupt

    orchestrator = Orchestrator(registry, context, callback)
    expected = model(specs, interrupt_call)
    observed: list[Any] = []

    for _ in range(2):  # the second execute() is a re-run of the same cell: same story
        trace.clear()
        progress.clear()
        records.records.clear()
        outcome, error = run_once(orchestrator)
        executed = [name for kind, name in trace if kind == "execute"]
        rolled_back = [name for kind, name in trace if kind == "rollback"]

        assert outcome == expected.outcome
        assert executed == expected.executed
        # rollback: exact reverse of execution (failed step first), each exactly once, or none
        if outcome == "succeeded":
            assert rolled_back == []
        else:
            assert rolled_back == list(reversed(executed))
        assert not set(rolled_back) & set(expected.skipped)
        # one result per step reached, skipped ones marked as such
        assert len(context.step_results) == expected.reached
        assert [f"s{i}" for i, r in enumerate(context.step_results) if r.skipped] == (
            expected.skipped
        )
        assert context.current_step is None
        # progress: monotonic, exact to rounding, ends at 100 on success
        values = [current for current, _ in progress]
        assert len(progress) == expected.progress_calls
        assert all(total == 100 for _, total in progress)
        assert values == sorted(values)
        assert all(0 <= v <= 100 for v in values)
        for completed, value in enumerate(values, start=1):
            if specs:
                assert abs(value - reference_percent(specs, completed)) <= Fraction(
                    1, 2
                ) + Fraction(1, 10**9)
        if outcome == "succeeded":
            assert values[-1] == 100
        # errors: the failure first, then each rollback that raised
        failing_rollbacks = [n for n in rolled_back if specs[int(n[1:])].rollback_raises]
        rollback_errors = [
            f"Rollback of step '{n}' failed: OSError: cannot undo {n}" for n in failing_rollbacks
        ]
        if outcome == "succeeded":
            assert context.errors == []
        elif outcome == "failed":
            failed_name = f"s{expected.reached - 1}"
            assert context.errors[0].startswith(f"Step '{failed_name}' failed: ")
            assert context.errors[1:] == rollback_errors
            assert str(error).startswith(f"Step '{failed_name}' failed: ")
            assert ("rollback also failed" in str(error)) == bool(failing_rollbacks)
        else:
            assert context.errors[0].startswith("Run interrupted")
            assert context.errors[1:] == rollback_errors
        # lifecycle records agree with what the steps and the callback saw
        assert isinstance(records.records[0], RunStarted)
        end = records.records[-1]
        assert isinstance(end, RunFinished)
        assert end.status == outcome
        # a rollback that raised is an error, not a rollback
        assert list(end.rolled_back) == [n for n in rolled_back if n not in failing_rollbacks]
        assert list(end.rollback_errors) == [
            f"'{n}': OSError: cannot undo {n}" for n in failing_rollbacks
        ]
        assert [r.name for r in records.records if isinstance(r, StepRolledBack)] == rolled_back
        assert [(r.name, r.error) for r in records.records if isinstance(r, StepRolledBack)] == [
            (n, f"OSError: cannot undo {n}" if n in failing_rollbacks else None)
            for n in rolled_back
        ]
        # each rollback is announced right before its outcome
        rollback_records = [
            (type(r), r.name)
            for r in records.records
            if isinstance(r, StepRollbackStarted | StepRolledBack)
        ]
        assert rollback_records == [
            (kind, n) for n in rolled_back for kind in (StepRollbackStarted, StepRolledBack)
        ]
        state = context.runtime_ctx.recorder.run
        assert state.phase == outcome
        assert state.rolled_back_count == len(end.rolled_back)
        assert [name for name, _ in state.rollback_errors] == sorted(
            failing_rollbacks, key=lambda n: int(n[1:])
        )
        assert [
            (r.current, r.total) for r in records.records if isinstance(r, RunProgress)
        ] == progress[: len(progress) - (interrupt_call == len(progress))]
        observed.append((outcome, list(trace), list(progress), list(context.errors)))

    assert observed[0] == observed[1]


@settings(max_examples=100, deadline=None)
@given(specs=st.lists(st.builds(Spec, weights, st.sampled_from(["ok", "skip"]), st.just(False))))
def test_successful_runs_report_every_step_and_end_at_100(specs: list[Spec]) -> None:
    trace: list[tuple[str, str]] = []
    registry = StepRegistry[BaseStepContext]()
    for index, spec in enumerate(specs):
        registry.register(RandomStep(index, spec, trace))
    context = BaseStepContext(runtime_ctx=RuntimeContext(display="off"))
    progress: list[int] = []

    result = Orchestrator(registry, context, lambda c, t: progress.append(c)).execute()

    executed = sum(1 for s in specs if s.behaviour == "ok")
    assert result == {"success": True, "steps_executed": executed, "steps_total": len(specs)}
    assert len(context.step_results) == len(specs)
    assert progress[-1] == 100
    assert len(progress) == max(1, len(specs))
    assert progress == sorted(progress)
    assert all(kind == "execute" for kind, _ in trace)


def calls_into(calls: list[int]) -> Callable[[int, int], None]:
    return lambda current, total: calls.append(current)


@settings(max_examples=200, deadline=None)
@given(weight_list=st.lists(weights, max_size=12))
def test_progress_is_the_same_whether_or_not_a_display_plans_the_run(
    weight_list: list[float],
) -> None:
    """Without a listener the orchestrator skips the full plan: the callback must not notice."""
    specs = [Spec(w, "ok", False) for w in weight_list]
    seen: dict[str, list[int]] = {}
    for label, logger in (("off", None), ("planned", Records())):
        registry = StepRegistry[BaseStepContext]()
        for index, spec in enumerate(specs):
            registry.register(RandomStep(index, spec, []))
        runtime = RuntimeContext(display="off") if logger is None else RuntimeContext(logger=logger)
        calls: list[int] = []
        Orchestrator(registry, BaseStepContext(runtime_ctx=runtime), calls_into(calls)).execute()
        seen[label] = calls
        if logger is not None:
            plan = logger.records[0].steps
            assert [p.position for p in plan] == list(range(len(specs)))
            assert [p.weight for p in plan] == weight_list
            assert [round(100 * p.end) for p in plan] == (calls if specs else [])
            assert [p.start for p in plan] == [0.0, *(p.end for p in plan)][: len(plan)]
            if specs:
                assert plan[-1].end == 1.0
                assert abs(sum(p.share for p in plan) - 1.0) < 1e-9
    assert seen["off"] == seen["planned"]
