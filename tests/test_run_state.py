"""``RunState``: the numbers every display shows, folded from lifecycle records."""

from __future__ import annotations

import pytest

from synapse_steps.events import (
    HOOK_NAMES,
    Logged,
    MetricsReported,
    PlannedStep,
    ProgressReported,
    RunFinished,
    RunProgress,
    RunStarted,
    StepFailed,
    StepFinished,
    StepRollbackStarted,
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
    state.apply(RunStarted(7, plan(*weights), at, 1_700_000_000.0, "Workflow"))
    return state


def test_idle_state() -> None:
    state = RunState()
    assert (state.phase, state.outcome(), state.elapsed(at=5.0), state.eta(at=5.0)) == (
        "idle",
        "not started",
        0.0,
        None,
    )
    assert state.overall_fraction == 0.0
    assert state.stopped_fraction is None
    assert state.steps == []


def test_run_start_plans_pending_steps() -> None:
    state = started(0.2, 0.8)
    assert state.run_id == 7
    assert state.workflow == "Workflow"
    assert (state.started, state.wall_started) == (100.0, 1_700_000_000.0)
    assert state.phase == "running"
    assert [(s.name, s.status, s.label, s.kind, s.rollback, s.fraction) for s in state.steps] == [
        ("s0", "pending", "pending", "pending", None, 0.0),
        ("s1", "pending", "pending", "pending", None, 0.0),
    ]
    assert state.describe_plan() == "Run: 2 steps [s0 0.2, s1 0.8]"
    assert state.outcome() == "running - 0%"


def test_overall_fraction_advances_inside_the_running_step() -> None:
    state = started(0.2, 0.8)
    state.apply(StepStarted(0, "s0", 101.0))
    state.apply(StepFinished(0, "s0", 1.0, 102.0))
    state.apply(RunProgress(20, 100, 102.0))
    state.apply(StepStarted(1, "s1", 102.0))
    state.progress(1, 4, None)  # the step's default category

    assert state.running_step is state.steps[1]
    assert state.steps[1].categories == {"s1": (1, 4)}
    assert state.overall_fraction == pytest.approx(0.2 + 0.8 * 0.25)
    assert state.outcome() == "running - 40%"
    # ETA extrapolates: 4 s elapsed for 40% -> 6 s left
    assert state.elapsed(at=104.0) == pytest.approx(4.0)
    assert state.eta(at=104.0) == pytest.approx(6.0)
    assert state.steps[1].elapsed(at=104.0) == pytest.approx(2.0)
    assert state.steps[0].elapsed(at=104.0) == 1.0  # its measured duration once done
    # a ProgressReported record folds the same way as the hot-path call
    state.apply(ProgressReported("s1", 2, 4, 104.5))
    assert state.steps[1].categories == {"s1": (2, 4)}
    assert state.overall_fraction == pytest.approx(0.2 + 0.8 * 0.5)


def test_other_category_counts_when_the_default_one_is_absent() -> None:
    state = started(1.0)
    state.apply(StepStarted(0, "s0", 100.0))
    state.progress(3, 4, "batches")
    state.on_progress(ProgressReported("weird", 7, 0, 100.1))
    assert state.steps[0].fraction == 0.0  # latest category has total 0
    state.progress(1, 2, "batches")
    assert state.steps[0].fraction == 0.5


def test_progress_outside_a_step_is_loose() -> None:
    state = RunState()
    state.progress(2, 5, None)
    state.apply(ProgressReported("named", 1, 5, 1.0))
    assert state.loose_categories == {"progress": (2, 5), "named": (1, 5)}


def test_never_goes_backwards_after_a_completed_step() -> None:
    state = started(0.5, 0.5)
    state.apply(StepStarted(0, "s0", 100.0))
    state.apply(StepFinished(0, "s0", 0.5, 100.5))
    state.apply(RunProgress(50, 100, 100.5))
    state.apply(StepStarted(1, "s1", 100.5))
    assert state.overall_fraction == 0.5
    assert state.eta(at=100.5) == pytest.approx(0.5)


def test_success_outcome_with_skips() -> None:
    state = started(1, 1, 1)
    state.apply(StepStarted(0, "s0", 100.0))
    state.apply(StepFinished(0, "s0", 1.0, 101.0))
    state.apply(StepSkipped(1, "s1", 101.0))
    state.apply(StepStarted(2, "s2", 101.0))
    state.apply(StepFinished(2, "s2", 1.0, 102.0))
    state.apply(RunFinished("succeeded", 2, 3, None, None, (), (), 2.0, 102.0))

    assert [s.status for s in state.steps] == ["done", "skipped", "done"]
    assert [s.label for s in state.steps] == ["done", "skipped", "done"]
    assert [s.rolled_back for s in state.steps] == [False, False, False]
    assert state.outcome() == "succeeded - 2 of 3 steps executed, 1 skipped"
    assert state.overall_fraction == 1.0
    assert state.eta(at=500.0) == 0.0
    assert state.elapsed(at=500.0) == pytest.approx(2.0)  # ends when the run finished
    assert state.stopped_fraction is None


def test_failure_outcome_with_rollback_error() -> None:
    state = started(1, 1, 1)
    state.apply(StepStarted(0, "s0", 100.0))
    state.apply(StepFinished(0, "s0", 1.0, 101.0))
    state.apply(RunProgress(33, 100, 101.0))
    state.apply(StepStarted(1, "s1", 101.0))
    state.progress(1, 2, None)
    state.apply(StepFailed(1, "s1", "bad", 0.5, 101.5, False, None))

    # between the failure and the end of the run: rolling back, the bar stays where it failed
    assert state.phase == "rolling back"
    assert state.stopped_fraction == pytest.approx(0.33 + 1 / 3 * 0.5, abs=0.01)
    assert state.overall_fraction == state.stopped_fraction
    assert state.outcome() == "rolling back after 's1' failed"
    assert state.eta(at=101.5) is None
    assert state.running_step is None

    state.apply(StepRollbackStarted(1, "s1", 101.5))
    assert state.rolling_back_step is state.steps[1]
    assert (state.steps[1].status, state.steps[1].rollback) == ("failed", "rolling back")
    assert (state.steps[1].label, state.steps[1].kind) == ("failed, rolling back", "rolling back")
    assert state.steps[1].rollback_elapsed(at=101.55) == pytest.approx(0.05)
    assert state.steps[1].rolled_back is False  # not yet
    state.apply(StepRolledBack(1, "s1", None, 101.6))
    assert state.rolling_back_step is None
    state.apply(StepRollbackStarted(0, "s0", 101.6))
    assert (state.steps[0].label, state.steps[0].kind) == ("rolling back", "rolling back")
    state.apply(StepRolledBack(0, "s0", "OSError: locked", 101.7))
    assert state.overall_fraction == state.stopped_fraction  # rollback is no progress backwards
    assert state.steps[2].label == "pending"  # the run has not ended: it may still come
    state.apply(
        RunFinished("failed", 1, 3, "s1", "bad", ("s1",), ("'s0': OSError: locked",), 1.7, 101.7)
    )

    # status is what execution did; rollback what the rollback did; label both in words
    # a step the finished run never reached says so: it is no longer waiting
    assert [s.status for s in state.steps] == ["done", "failed", "not run"]
    assert [s.rollback for s in state.steps] == ["rollback failed", "rolled back", None]
    assert [s.label for s in state.steps] == ["rollback failed", "failed, rolled back", "not run"]
    assert [s.kind for s in state.steps] == ["rollback failed", "failed", "not run"]
    # a rollback that raised did not roll the step back
    assert [s.rolled_back for s in state.steps] == [False, True, False]
    assert state.steps[1].error == "bad"
    assert state.steps[0].rollback_error == "OSError: locked"
    assert state.steps[1].rollback_duration == pytest.approx(0.1)
    assert state.rolled_back_count == 1
    assert state.rollback_errors == [("s0", "OSError: locked")]
    assert state.outcome() == "failed at 's1' - rolled back 1 step; rollback failed for 's0'"
    assert state.phase == "failed"
    assert state.eta(at=200.0) is None
    assert state.running_step is None
    assert state.overall_fraction == state.stopped_fraction


def test_failed_step_whose_own_rollback_failed() -> None:
    state = started(1, 1)
    state.apply(StepStarted(0, "s0", 100.0))
    state.apply(StepFailed(0, "s0", "bad", 0.5, 100.5, False, None))
    state.apply(StepRollbackStarted(0, "s0", 100.5))
    state.apply(StepRolledBack(0, "s0", "OSError: busy", 100.6))
    state.apply(RunFinished("failed", 0, 2, "s0", "bad", (), ("'s0': OSError: busy",), 0.6, 100.6))
    step = state.steps[0]
    assert (step.status, step.rollback, step.label, step.kind, step.rolled_back) == (
        "failed",
        "rollback failed",
        "failed, rollback failed",
        "rollback failed",
        False,
    )
    assert state.outcome() == "failed at 's0' - rolled back 0 steps; rollback failed for 's0'"


def test_interrupt_in_can_skip_marks_the_pending_step() -> None:
    state = started(1, 1)
    state.apply(StepStarted(0, "s0", 100.0))
    state.apply(StepFinished(0, "s0", 1.0, 101.0))
    state.apply(RunProgress(50, 100, 101.0))
    # the interrupt came between the records: the rollback starts without a StepFailed
    state.apply(StepRollbackStarted(0, "s0", 101.2))
    assert state.phase == "rolling back"
    assert state.stopped_fraction == 0.5
    assert state.outcome() == "rolling back"
    state.apply(StepRolledBack(0, "s0", None, 101.5))
    state.apply(
        RunFinished("interrupted", 1, 2, "s1", "interrupted (KeyboardInterrupt)", ("s0",), (), 2, 2)
    )
    assert [s.status for s in state.steps] == ["done", "interrupted"]
    assert [s.label for s in state.steps] == ["rolled back", "interrupted"]
    assert [s.rolled_back for s in state.steps] == [True, False]
    assert state.steps[1].error == "interrupted (KeyboardInterrupt)"
    assert state.outcome() == "interrupted at 's1' - rolled back 1 step"
    assert state.overall_fraction == 0.5


def test_interrupt_in_execute_is_not_overwritten() -> None:
    state = started(1)
    state.apply(StepStarted(0, "s0", 100.0))
    state.apply(StepFailed(0, "s0", "interrupted (KeyboardInterrupt)", 1, 101, True, None))
    assert state.outcome() == "rolling back after 's0' was interrupted"
    state.apply(RunFinished("interrupted", 0, 1, "s0", "x", (), (), 1.0, 101.0))
    assert state.steps[0].status == "interrupted"
    assert state.steps[0].error == "interrupted (KeyboardInterrupt)"
    assert state.outcome() == "interrupted at 's0' - rolled back 0 steps"


def test_a_run_ended_without_a_failure_record_keeps_its_fraction() -> None:
    state = started(1, 1)
    state.apply(StepStarted(0, "s0", 100.0))
    state.apply(StepFinished(0, "s0", 1.0, 101.0))
    state.apply(RunProgress(50, 100, 101.0))
    state.apply(RunFinished("interrupted", 1, 2, None, "x", (), (), 1.0, 101.0))
    assert state.stopped_fraction == 0.5
    assert state.overall_fraction == 0.5
    assert state.outcome() == "interrupted - rolled back 0 steps"


def test_metrics_go_to_the_store() -> None:
    state = RunState()
    state.apply(MetricsReported("train", {"loss": 0.5, "step": 10}, 1.0))
    assert state.metrics.latest() == {"train": {"loss": 0.5}}
    assert state.metrics.x_labels == {"train": "step"}
    assert len(state.metrics) == 1


def test_every_record_type_has_a_fold() -> None:
    for record_type, hook in HOOK_NAMES.items():
        assert callable(getattr(RunState, hook)), record_type
    state = started(1)
    state.apply(Logged("e", {}, None, 1.0))  # kept by the recorder, not the run: no change
    assert state.phase == "running"
