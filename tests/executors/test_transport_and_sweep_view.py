"""Ray-free parts of the Ray executor: shipping past the runtime, the buffer, re-stamping,
outcomes, and the sweep view's rows (its view model)."""

from __future__ import annotations

import pickle
import threading
from dataclasses import dataclass

from synapse_steps import BaseStepContext, RunFailedError, RuntimeContext, StepFailedError
from synapse_steps.events import (
    Logged,
    MetricsReported,
    PlannedStep,
    ProgressReported,
    RunFinished,
    RunStarted,
    StepFailed,
    StepStarted,
)
from synapse_steps.executors.sweep import grid
from synapse_steps.executors.sweep_view import row_text
from synapse_steps.executors.transport import (
    RecordBuffer,
    RemoteTraceback,
    Restamper,
    land,
    outcome_of,
    run_outcome,
    ship,
)
from synapse_steps.run_state import RunState
from synapse_steps.steps.request import RunOutcome


@dataclass
class Ctx(BaseStepContext):
    value: int = 0


def test_ship_leaves_the_runtime_behind_and_land_puts_the_other_side_s_in_its_place() -> None:
    driver = RuntimeContext(display="off")
    context = Ctx(runtime_ctx=driver, value=3)
    blob = ship({"context": context, "again": driver}, driver, pickle.Pickler)
    assert b"Recorder" not in blob  # nothing of the runtime travelled
    worker = RuntimeContext(display="off")
    landed = land(blob, worker)
    assert landed["context"].value == 3
    assert landed["context"].runtime_ctx is worker
    assert landed["again"] is worker


def test_record_buffer_keeps_order_and_hands_the_outcome_after_the_last_records() -> None:
    buffer = RecordBuffer()
    runtime = RuntimeContext(logger=[buffer])
    for i in range(50):
        runtime.set_metrics({"i": i})
    records, outcome = buffer.take(0.0)
    assert [r.values["i"] for r in records] == list(range(50))
    assert outcome is None
    succeeded = RunOutcome("succeeded", result={"success": True})
    threading.Timer(0.05, lambda: buffer.close(outcome_of(succeeded, None, pickle.dumps))).start()
    records, outcome = buffer.take(5.0)  # the long poll wakes up for the outcome
    assert records == []
    assert outcome is not None
    assert outcome.result == {"success": True}


def test_restamper_moves_times_into_the_driver_clock_keeping_durations() -> None:
    now = iter([1000.0])
    ids = iter([41, 42])
    restamp = Restamper(lambda: next(now), lambda: next(ids))
    started = restamp(RunStarted(1, (), 5.0, 1.7e9, "wf"))
    step = restamp(StepStarted(0, "a", 7.5))
    assert started == RunStarted(41, (), 1000.0, 1.7e9, "wf")
    assert step.time == 1002.5
    logged = Logged("x", {}, None, 1.7e9)
    assert restamp(logged) is logged  # wall-clock only


def _reported(error: BaseException) -> RunOutcome:
    """What the driver makes of a worker's run that ended with ``error``."""
    failed = RunOutcome("failed", error=error, kept=(0,), stopped_at=1)
    return run_outcome(outcome_of(failed, None, pickle.dumps), "a Ray worker")


def test_outcomes_carry_to_the_driver_what_the_worker_raised() -> None:
    try:
        try:
            raise ValueError("bad input")
        except ValueError as exc:
            raise StepFailedError("load", "bad input", ("'x': boom",)) from exc
    except StepFailedError as failure:
        outcome = _reported(failure)
    error = outcome.error
    assert isinstance(error, StepFailedError)
    assert (error.step, error.rollback_errors) == ("load", ("'x': boom",))
    assert isinstance(error.__cause__, RemoteTraceback)
    assert "ValueError: bad input" in str(error.__cause__)
    assert "as ValueError" in "".join(error.__notes__)
    assert (outcome.kept, outcome.stopped_at) == ((0,), 1)


def test_an_exception_that_cannot_be_rebuilt_arrives_as_a_run_failure_with_its_text() -> None:
    class Unrebuildable(Exception):
        def __init__(self, code: int, detail: str) -> None:
            super().__init__(f"{code}: {detail}")

    error = _reported(Unrebuildable(7, "disk gone")).error
    assert isinstance(error, RunFailedError)
    assert "raised Unrebuildable: 7: disk gone" in str(error)
    assert "Unrebuildable" in str(error.__cause__)
    assert isinstance(_reported(KeyboardInterrupt()).error, KeyboardInterrupt)


def _plan(*names: str) -> tuple[PlannedStep, ...]:
    share = 1 / len(names)
    return tuple(
        PlannedStep(i, n, 1.0, share, i * share, (i + 1) * share, "S", None)
        for i, n in enumerate(names)
    )


def test_sweep_rows_show_status_progress_and_latest_metrics_from_the_run_state() -> None:
    state = RunState()
    assert row_text("run 1", state) == ("run 1", "waiting", 0.0, "", "")
    state.apply(RunStarted(1, _plan("prepare", "train"), 0.0, 0.0, "T"))
    state.apply(StepStarted(1, "train", 1.0))
    state.apply(ProgressReported("train", 1, 4, 1.5))
    state.apply(MetricsReported("train", {"epoch": 0, "loss": 0.123456}, 1.5))
    assert row_text("run 1", state) == ("run 1", "running train", 0.625, "loss=0.1235", "")
    state.apply(StepFailed(1, "train", "diverged", 1.0, 2.0, False))
    state.apply(RunFinished("failed", 1, 2, "train", "diverged", (), (), 2.0, 2.0))
    assert row_text("run 1", state) == (
        "run 1",
        "failed at train",
        0.625,
        "loss=0.1235",
        "diverged",
    )


def test_grid_is_every_combination_in_order() -> None:
    assert grid(lr=[0.1, 0.2], epochs=[1]) == [{"lr": 0.1, "epochs": 1}, {"lr": 0.2, "epochs": 1}]
