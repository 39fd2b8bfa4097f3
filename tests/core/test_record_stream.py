"""A run is one stream of plain records: they pickle, round-trip through JSON, rebuild the run."""

from __future__ import annotations

import json
import pickle
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from synapse_steps import RuntimeContext, StepFailedError
from synapse_steps.events import (
    HOOK_NAMES,
    RECORD_TYPES,
    Logged,
    MetricsReported,
    ProgressReported,
    RunFinished,
    StepFailed,
    StepFinished,
    record_from_dict,
    to_dict,
)
from synapse_steps.run_state import RunState
from synapse_steps.steps import BaseStep, BaseStepContext, Orchestrator, StepRegistry, StepResult


class Collect:
    """A front end that keeps every record it is given."""

    def __init__(self) -> None:
        self.records: list[Any] = []

    def __getattr__(self, name: str) -> Any:
        if name in HOOK_NAMES.values():
            return self.records.append
        raise AttributeError(name)


class Work(BaseStep[BaseStepContext]):
    def __init__(self, name: str, fail: bool = False, rollback_fails: bool = False) -> None:
        self._name, self.fail, self.rollback_fails = name, fail, rollback_fails

    @property
    def name(self) -> str:
        return self._name

    @property
    def progress_weight(self) -> float:
        return 0.25

    def execute(self, context: BaseStepContext) -> StepResult:
        context.log("started", {"path": str(Path("/tmp") / self._name)})
        for epoch in range(3):
            context.set_progress(epoch + 1, 3)
            context.set_metrics({"loss": 1 / (epoch + 1), "val_loss": 2.0, "epoch": epoch})
        context.set_metrics({"note": "text is kept", "lr": {"head": 0.1}})
        if self.fail:
            raise ValueError(f"{self._name} broke")
        return StepResult(data={"n": 3}, rollback_data={"path": Path("/tmp") / self._name})

    def rollback(self, context: BaseStepContext, result: StepResult) -> None:
        if self.rollback_fails:
            raise OSError(f"cannot undo {self._name}")


def failing_run() -> tuple[RuntimeContext, list[Any]]:
    collect = Collect()
    runtime = RuntimeContext(logger=collect)
    registry = StepRegistry[BaseStepContext]()
    registry.register(Work("load"))
    registry.register(Work("train", rollback_fails=True))
    registry.register(Work("export", fail=True))
    registry.register(Work("upload"))
    with pytest.raises(StepFailedError):
        Orchestrator(registry, BaseStepContext(runtime_ctx=runtime)).execute()
    return runtime, collect.records


def snapshot(state: RunState) -> dict[str, Any]:
    """Everything a display or a frame reads from a run state, as plain data."""
    steps = []
    for step in state.steps:
        fields = asdict(step)
        fields["label"] = step.label
        steps.append(fields)
    metrics = {
        (category, name): (list(series.x), list(series.y))
        for category, name, series in state.metrics
    }
    return {
        "run_id": state.run_id,
        "workflow": state.workflow,
        "phase": state.phase,
        "steps": steps,
        "completed": state.completed_fraction,
        "stopped": state.stopped_fraction,
        "outcome": state.outcome(),
        "finish": state.finish,
        "metrics": metrics,
        "others": state.metrics.others,
        "x_labels": state.metrics.x_labels,
        "elapsed": state.elapsed(0.0),
    }


def test_every_record_type_has_a_hook_and_the_run_state_folds_it() -> None:
    state = RunState()
    for record_type in RECORD_TYPES:
        assert callable(getattr(state, HOOK_NAMES[record_type]))


def test_a_failing_run_streams_every_kind_of_record() -> None:
    _, records = failing_run()
    kinds = {type(r).__name__ for r in records}
    assert kinds == {
        "RunStarted",
        "StepStarted",
        "StepFinished",
        "StepFailed",
        "StepRollbackStarted",
        "StepRolledBack",
        "RunProgress",
        "RunFinished",
        "Logged",
        "ProgressReported",
        "MetricsReported",
    }
    failed = next(r for r in records if isinstance(r, StepFailed))
    assert failed.error_type == "ValueError"
    assert "export broke" in (failed.traceback or "")
    assert ", in execute\n" in (failed.traceback or "")  # the user's frame is in the text
    assert isinstance(failed.exception, ValueError)  # the live object rides along locally


def test_records_pickle_without_their_live_objects() -> None:
    _, records = failing_run()
    for record in records:
        copy = pickle.loads(pickle.dumps(record))
        assert type(copy) is type(record)
        if isinstance(record, StepFailed):
            assert copy.exception is None
            assert copy[:8] == record[:8]
        elif isinstance(record, StepFinished):
            assert copy.result is None
            assert copy[:4] == record[:4]
        else:
            assert copy == record


def test_a_whole_failing_run_rebuilds_the_same_state_from_json() -> None:
    runtime, records = failing_run()
    # Paths in logged data are the caller's business; this run logs strings only.
    text = json.dumps([to_dict(r) for r in records])
    rebuilt = RunState()
    for data in json.loads(text):
        rebuilt.apply(record_from_dict(data))
    original = runtime.recorder.run
    assert snapshot(rebuilt) == snapshot(original)
    assert (
        rebuilt.outcome() == "failed at 'export' - rolled back 2 steps; rollback failed for 'train'"
    )
    assert [s.label for s in rebuilt.steps] == [
        "rolled back",
        "rollback failed",
        "failed, rolled back",
        "not run",
    ]


def test_the_stream_is_ordered_and_flushes_progress_before_lifecycle() -> None:
    _, records = failing_run()
    names = [type(r).__name__ for r in records]
    assert names[0] == "RunStarted"
    assert names[-1] == "RunFinished"
    # The last progress of each step is delivered before the step's end.
    for index, record in enumerate(records):
        if isinstance(record, StepFinished):
            before = [r for r in records[:index] if isinstance(r, ProgressReported)]
            assert (before[-1].category, before[-1].current) == (record.name, 3)
    end = records[-1]
    assert isinstance(end, RunFinished)
    assert end.rolled_back == ("export", "load")  # 'train' raised: not rolled back
    assert end.rollback_errors == ("'train': OSError: cannot undo train",)


def test_unknown_record_type_is_named() -> None:
    with pytest.raises(ValueError, match="unknown record type 'Nope'"):
        record_from_dict({"type": "Nope"})


def test_step_calls_are_records_too() -> None:
    _, records = failing_run()
    logged = [r for r in records if isinstance(r, Logged)]
    assert [r.event for r in logged] == ["started"] * 3
    metrics = [r for r in records if isinstance(r, MetricsReported)]
    assert len(metrics) == 12  # none dropped
    assert metrics[-1].values == {"note": "text is kept", "lr": {"head": 0.1}}
