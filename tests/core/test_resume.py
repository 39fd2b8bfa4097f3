"""Resume after a fix: ``execute(on_failure="keep")``, ``resume()`` and ``rollback()``."""

from __future__ import annotations

from typing import Any

import pytest

from synapse_steps import RuntimeContext, StepFailedError, UsageError
from synapse_steps.steps import BaseStep, BaseStepContext, Orchestrator, StepRegistry, StepResult


class Step(BaseStep[BaseStepContext]):
    def __init__(self, name: str, calls: list[tuple[str, str]], fail: Any = None) -> None:
        self._name, self.calls, self.fail = name, calls, fail

    @property
    def name(self) -> str:
        return self._name

    @property
    def progress_weight(self) -> float:
        return 1.0

    def execute(self, context: BaseStepContext) -> StepResult:
        self.calls.append(("execute", self._name))
        if self.fail is not None:
            raise self.fail
        return StepResult(data={"made": self._name}, rollback_data={"undo": self._name})

    def rollback(self, context: BaseStepContext, result: StepResult) -> None:
        self.calls.append(("rollback", self._name))


def workflow(
    fail_at: str = "c",
) -> tuple[Orchestrator[BaseStepContext], StepRegistry[BaseStepContext], list[Any]]:
    calls: list[tuple[str, str]] = []
    registry = StepRegistry[BaseStepContext]()
    for name in "abcd":
        registry.register(
            Step(name, calls, ValueError(f"bug in {name}") if name == fail_at else None)
        )
    context = BaseStepContext(runtime_ctx=RuntimeContext(display="off"))
    return Orchestrator(registry, context), registry, calls


def test_keep_leaves_completed_steps_and_undoes_only_the_failed_one() -> None:
    orchestrator, _, calls = workflow()
    with pytest.raises(StepFailedError) as caught:
        orchestrator.execute(on_failure="keep")
    assert calls == [("execute", "a"), ("execute", "b"), ("execute", "c"), ("rollback", "c")]
    assert "orchestrator.resume()" in caught.value.__notes__[0]
    state = orchestrator.context.runtime_ctx.recorder.run
    assert [s.label for s in state.steps] == ["done", "done", "failed, rolled back", "not run"]
    assert state.finish is not None
    assert state.finish.kept == ("a", "b")
    assert state.outcome().startswith("failed at 'c' - kept 2 completed steps")


def test_resume_runs_from_the_fixed_step_without_re_executing_earlier_ones() -> None:
    orchestrator, registry, calls = workflow()
    with pytest.raises(StepFailedError):
        orchestrator.execute(on_failure="keep")
    calls.clear()
    registry.replace("c", Step("c", calls))
    seen: list[int] = []
    orchestrator.progress_callback = lambda current, total: seen.append(current)

    result = orchestrator.resume()

    assert calls == [("execute", "c"), ("execute", "d")]
    assert result == {"success": True, "steps_executed": 2, "steps_total": 4}
    context = orchestrator.context
    assert [r.data["made"] for r in context.step_results] == ["a", "b", "c", "d"]
    state = context.runtime_ctx.recorder.run
    assert [s.label for s in state.steps] == ["reused", "reused", "done", "done"]
    assert state.outcome() == "succeeded - 2 of 4 steps executed, 2 reused"
    assert seen == [50, 75, 100]


def test_a_failure_after_resume_rolls_back_the_reused_steps_too() -> None:
    orchestrator, registry, calls = workflow()
    with pytest.raises(StepFailedError):
        orchestrator.execute(on_failure="keep")
    calls.clear()
    registry.replace("c", Step("c", calls))
    registry.replace("d", Step("d", calls, RuntimeError("d broke")))
    with pytest.raises(StepFailedError, match="d broke"):
        orchestrator.resume()
    assert calls == [
        ("execute", "c"),
        ("execute", "d"),
        ("rollback", "d"),
        ("rollback", "c"),
        ("rollback", "b"),
        ("rollback", "a"),
    ]
    with pytest.raises(UsageError, match="resume\\(\\) needs a run that failed"):
        orchestrator.resume()


def test_rollback_undoes_the_kept_steps_once() -> None:
    orchestrator, _, calls = workflow()
    with pytest.raises(StepFailedError):
        orchestrator.execute(on_failure="keep")
    calls.clear()
    orchestrator.rollback()
    assert calls == [("rollback", "b"), ("rollback", "a")]
    state = orchestrator.context.runtime_ctx.recorder.run
    assert [s.label for s in state.steps] == [
        "rolled back",
        "rolled back",
        "failed, rolled back",
        "not run",
    ]
    with pytest.raises(UsageError):
        orchestrator.rollback()


def test_keep_on_an_interrupt_keeps_the_completed_steps() -> None:
    orchestrator, registry, calls = workflow(fail_at="x")
    registry.replace("c", Step("c", calls, KeyboardInterrupt()))
    with pytest.raises(KeyboardInterrupt):
        orchestrator.execute(on_failure="keep")
    assert calls[-1] == ("rollback", "c")
    calls.clear()
    registry.replace("c", Step("c", calls))
    orchestrator.resume()
    assert calls == [("execute", "c"), ("execute", "d")]


def test_resume_refuses_a_registry_whose_earlier_steps_changed() -> None:
    orchestrator, registry, calls = workflow()
    with pytest.raises(StepFailedError):
        orchestrator.execute(on_failure="keep")
    registry.replace("a", Step("a2", calls))
    with pytest.raises(UsageError, match=r"reuses the steps before 'c', which were \['a', 'b'\]"):
        orchestrator.resume()


def test_the_default_still_rolls_everything_back() -> None:
    orchestrator, _, calls = workflow()
    with pytest.raises(StepFailedError):
        orchestrator.execute()
    assert [c for c in calls if c[0] == "rollback"] == [
        ("rollback", "c"),
        ("rollback", "b"),
        ("rollback", "a"),
    ]
    with pytest.raises(UsageError):
        orchestrator.resume()


def test_on_failure_is_checked() -> None:
    orchestrator, _, _ = workflow()
    with pytest.raises(UsageError, match="on_failure must be 'rollback' or 'keep', got 'ignore'"):
        orchestrator.execute(on_failure="ignore")  # type: ignore[arg-type]
