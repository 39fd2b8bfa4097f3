"""``RunState``: the numbers every display shows, folded from lifecycle records."""

from __future__ import annotations

import pytest

from synapse_steps.events import (
    PlannedStep,
    RunFinished,
    RunProgress,
    RunStarted,
    StepFailed,
    StepFinished,
    StepRolledBack,
    StepSkipped,
    StepStarted,
)
from synapse_steps.run_state import RunState


def plan(*weights: float) -> tuple[PlannedStep, ...]:
    total = sum(weights)
    steps = []
    cumulative = 0.0
    for i, w in enumerate(weights):
        start = cumulative / total
        cumulative += w
        steps.append(PlannedStep(i, f"s{i}", w, w / total, start, cumulative / total, "S", None))
    return tuple(steps)


def started(*weights: float, at: float = 100.0) -> RunState:
    state = RunState()
    state.on_run_start(RunStarted(7, plan(*weights), at))
    return state


def test_idle_state() -> None:
    state = RunState()
    assert (state.phase, state.outcome(), state.elapsed(), state.eta()) == (
        "idle",
        "not started",
        0.0,
        None,
    )
    assert state.overall_fraction == 0.0


def test_run_start_plans_pending_steps() -> None:
    state = started(0.2, 0.8)
    assert state.run_id == 7
    assert state.phase == "running"
    assert [(s.name, s.status, s.fraction) for s in state.steps] == [
        ("s0", "pending", 0.0),
        ("s1", "pending", 0.0),
    ]
    assert state.describe_plan() == "Run: 2 steps [s0 0.2, s1 0.8]"
    assert state.outcome() == "running - 0%"


def test_overall_fraction_advances_inside_the_running_step() -> None:
    state = started(0.2, 0.8)
    state.on_step_start(StepStarted(0, "s0", 101.0))
    state.on_step_end(StepFinished(0, "s0", 1.0, 102.0))
    state.on_run_progress(RunProgress(20, 100, 102.0))
    state.on_step_start(StepStarted(1, "s1", 102.0))
    state.on_progress(1, 4, None)  # the step's default category

    assert state.running_step is state.steps[1]
    assert state.steps[1].categories == {"s1": (1, 4)}
    assert state.overall_fraction == pytest.approx(0.2 + 0.8 * 0.25)
    assert state.outcome() == "running - 40%"
    # ETA extrapolates: 4 s elapsed for 40% -> 6 s left
    assert state.elapsed(at=104.0) == pytest.approx(4.0)
    assert state.eta(at=104.0) == pytest.approx(6.0)


def test_other_category_counts_when_the_default_one_is_absent() -> None:
    state = started(1.0)
    state.on_step_start(StepStarted(0, "s0", 100.0))
    state.on_progress(3, 4, "batches")
    state.on_progress(7, 0, "weird")
    assert state.steps[0].fraction == 0.0  # latest category has total 0
    state.on_progress(1, 2, "batches")
    assert state.steps[0].fraction == 0.5


def test_progress_outside_a_step_is_loose() -> None:
    state = RunState()
    state.on_progress(2, 5, None)
    state.on_progress(1, 5, "named")
    assert state.loose_categories == {"progress": (2, 5), "named": (1, 5)}


def test_never_goes_backwards_after_a_completed_step() -> None:
    state = started(0.5, 0.5)
    state.on_step_start(StepStarted(0, "s0", 100.0))
    state.on_step_end(StepFinished(0, "s0", 0.5, 100.5))
    state.on_run_progress(RunProgress(50, 100, 100.5))
    state.on_step_start(StepStarted(1, "s1", 100.5))
    assert state.overall_fraction == 0.5
    assert state.eta(at=100.5) == pytest.approx(0.5)


def test_success_outcome_with_skips() -> None:
    state = started(1, 1, 1)
    state.on_step_start(StepStarted(0, "s0", 100.0))
    state.on_step_end(StepFinished(0, "s0", 1.0, 101.0))
    state.on_step_skip(StepSkipped(1, "s1", 101.0))
    state.on_step_start(StepStarted(2, "s2", 101.0))
    state.on_step_end(StepFinished(2, "s2", 1.0, 102.0))
    state.on_run_end(RunFinished("succeeded", 2, 3, None, None, (), (), 2.0, 102.0))

    assert [s.status for s in state.steps] == ["done", "skipped", "done"]
    assert state.outcome() == "succeeded - 2 of 3 steps executed, 1 skipped"
    assert state.overall_fraction == 1.0
    assert state.eta() == 0.0
    assert state.elapsed() == pytest.approx(2.0)


def test_failure_outcome_with_rollback_error() -> None:
    state = started(1, 1, 1)
    state.on_step_start(StepStarted(0, "s0", 100.0))
    state.on_step_end(StepFinished(0, "s0", 1.0, 101.0))
    state.on_step_start(StepStarted(1, "s1", 101.0))
    state.on_step_fail(StepFailed(1, "s1", "bad", 0.5, 101.5, False, None))
    state.on_step_rollback(StepRolledBack(1, "s1", None, 101.6))
    state.on_step_rollback(StepRolledBack(0, "s0", "OSError: locked", 101.7))
    state.on_run_end(
        RunFinished("failed", 1, 3, "s1", "bad", ("s1", "s0"), ("'s0': x",), 1.7, 101.7)
    )

    assert [s.status for s in state.steps] == ["rolled back", "failed", "pending"]
    assert state.steps[1].error == "bad"
    assert state.rolled_back_count == 2
    assert state.rollback_errors == [("s0", "OSError: locked")]
    assert state.outcome() == "failed at 's1' - rolled back 2 steps (1 rollback error)"
    assert state.eta() is None
    assert state.running_step is None


def test_interrupt_in_can_skip_marks_the_pending_step() -> None:
    state = started(1, 1)
    state.on_step_start(StepStarted(0, "s0", 100.0))
    state.on_step_end(StepFinished(0, "s0", 1.0, 101.0))
    state.on_step_rollback(StepRolledBack(0, "s0", None, 101.5))
    state.on_run_end(
        RunFinished("interrupted", 1, 2, "s1", "interrupted (KeyboardInterrupt)", ("s0",), (), 2, 2)
    )
    assert [s.status for s in state.steps] == ["rolled back", "interrupted"]
    assert state.steps[1].error == "interrupted (KeyboardInterrupt)"
    assert state.outcome() == "interrupted at 's1' - rolled back 1 step"


def test_interrupt_in_execute_is_not_overwritten() -> None:
    state = started(1)
    state.on_step_start(StepStarted(0, "s0", 100.0))
    state.on_step_fail(StepFailed(0, "s0", "interrupted (KeyboardInterrupt)", 1, 101, True, None))
    state.on_run_end(RunFinished("interrupted", 0, 1, "s0", "x", (), (), 1.0, 101.0))
    assert state.steps[0].status == "interrupted"
    assert state.outcome() == "interrupted at 's0' - rolled back 0 steps"


def test_metrics_go_to_the_store() -> None:
    state = RunState()
    state.on_metrics({"loss": 0.5, "step": 10}, "train")
    assert state.metrics.latest() == {"train": {"loss": 0.5}}
    assert state.metrics.x_labels == {"train": "step"}
    assert len(state.metrics) == 1
