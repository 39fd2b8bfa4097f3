"""``Recorder``: history in memory, DataFrames on request, nothing heavy imported before."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta
from typing import Any

import pytest

from synapse_steps.context import RuntimeContext
from synapse_steps.recorder import LoggedEvent, Recorder
from synapse_steps.steps import BaseStep, BaseStepContext, Orchestrator, StepRegistry, StepResult


class Train(BaseStep[BaseStepContext]):
    def __init__(self, name: str = "train", epochs: int = 3, error: str | None = None) -> None:
        self._name = name
        self.epochs = epochs
        self.error = error

    @property
    def name(self) -> str:
        return self._name

    @property
    def progress_weight(self) -> float:
        return 0.5

    def execute(self, context: BaseStepContext) -> StepResult:
        context.log("start", {"epochs": self.epochs})
        for epoch in range(self.epochs):
            context.set_progress(epoch + 1, self.epochs)
            context.set_metrics({"loss": 1.0 / (epoch + 1), "epoch": epoch, "tag": "x"})
        context.log("saved", {"path": "m.pt"}, file="m.pt")
        if self.error:
            return StepResult(success=False, error=self.error)
        return StepResult()


class Skipper(Train):
    def can_skip(self, context: BaseStepContext) -> bool:
        return True


def run_with(recorder: Recorder, *steps: BaseStep[BaseStepContext]) -> BaseStepContext:
    registry = StepRegistry[BaseStepContext]()
    for step in steps:
        registry.register(step)
    context = BaseStepContext(runtime_ctx=RuntimeContext(logger=recorder))
    Orchestrator(registry, context).execute()
    return context


def test_steps_frame_columns_and_values() -> None:
    recorder = Recorder()
    registry = StepRegistry[BaseStepContext]()
    registry.register(Train("prepare", epochs=1))
    registry.register(Skipper("cache"))
    registry.register(Train("train", epochs=2, error="diverged"))
    registry.register(Train("upload"))
    context = BaseStepContext(runtime_ctx=RuntimeContext(logger=recorder))
    with pytest.raises(RuntimeError):
        Orchestrator(registry, context).execute()

    frame = recorder.steps_frame()

    assert list(frame.columns) == [
        "step",
        "status",
        "duration",
        "error",
        "rolled_back",
        "rollback_error",
    ]
    assert frame["step"].tolist() == ["prepare", "cache", "train", "upload"]
    assert frame["status"].tolist() == ["rolled back", "skipped", "failed", "pending"]
    assert frame["error"].tolist()[2] == "diverged"
    assert frame["error"].isna().tolist() == [True, True, False, True]
    assert frame["rolled_back"].tolist() == [True, False, True, False]
    assert frame["rollback_error"].isna().all()
    durations = frame["duration"].tolist()
    assert durations[0] >= 0
    assert durations[2] >= 0
    assert frame["duration"].isna().tolist() == [False, True, False, True]


def test_metrics_frame_columns_and_values() -> None:
    recorder = Recorder()
    run_with(recorder, Train(epochs=3))

    frame = recorder.metrics_frame()

    assert list(frame.columns) == ["category", "metric", "x", "value"]
    assert frame.to_dict("records") == [
        {"category": "train", "metric": "loss", "x": 0.0, "value": 1.0},
        {"category": "train", "metric": "loss", "x": 1.0, "value": 0.5},
        {"category": "train", "metric": "loss", "x": 2.0, "value": 1.0 / 3},
    ]
    assert recorder.run.metrics.ignored == {"tag": 3}
    assert recorder.run.metrics.x_labels == {"train": "epoch"}


def test_metrics_frame_without_x_key_uses_the_call_count_and_categories() -> None:
    recorder = Recorder()
    recorder.set_metrics({"a": 1, "b": 2.5}, "c1")
    recorder.set_metrics({"a": 3}, "c1")
    recorder.set_metrics({"z": True, "n": 4})
    frame = recorder.metrics_frame()
    assert frame.to_dict("records") == [
        {"category": "c1", "metric": "a", "x": 0.0, "value": 1.0},
        {"category": "c1", "metric": "a", "x": 1.0, "value": 3.0},
        {"category": "c1", "metric": "b", "x": 0.0, "value": 2.5},
        {"category": "metrics", "metric": "n", "x": 0.0, "value": 4.0},
    ]


def test_empty_metrics_frame_has_the_columns() -> None:
    frame = Recorder().metrics_frame()
    assert list(frame.columns) == ["category", "metric", "x", "value"]
    assert len(frame) == 0


def test_events_frame_columns_and_values() -> None:
    recorder = Recorder()
    before = datetime.now() - timedelta(seconds=1)
    run_with(recorder, Train(epochs=1))
    run_id = recorder.run.run_id

    frame = recorder.events_frame()

    assert list(frame.columns) == ["time", "event", "data", "file", "run_id"]
    assert frame["event"].tolist() == ["start", "saved"]
    assert frame["data"].tolist() == [{"epochs": 1}, {"path": "m.pt"}]
    assert frame["file"].tolist()[1] == "m.pt"
    assert frame["file"].isna().tolist() == [True, False]
    assert frame["run_id"].tolist() == [run_id, run_id]
    assert run_id > 0
    assert str(frame["time"].dtype).startswith("datetime64")
    times = frame["time"].tolist()
    assert before <= times[0] <= times[1] <= datetime.now() + timedelta(seconds=1)


def test_events_are_bounded_by_max_events() -> None:
    recorder = Recorder(max_events=3)
    for i in range(5):
        recorder.log("e", {"i": i})
    assert [e.data["i"] for e in recorder.events] == [2, 3, 4]
    assert isinstance(recorder.events[0], LoggedEvent)
    assert recorder.events[0].run_id == 0  # before any run


def test_one_run_state_per_run_bounded_by_max_runs() -> None:
    recorder = Recorder(max_runs=2)
    recorder.log("before", {})
    for _ in range(3):
        run_with(recorder, Train(epochs=1))
    assert len(recorder.runs) == 2
    ids = [run.run_id for run in recorder.runs]
    assert ids[1] == ids[0] + 1
    assert recorder.run is recorder.runs[-1]
    assert recorder.run.outcome() == "succeeded - 1 of 1 steps executed"
    assert len(recorder.run.metrics) == 1  # not accumulated across runs


def test_first_run_reuses_the_initial_state() -> None:
    recorder = Recorder()
    recorder.set_metrics({"warmup": 1.0})
    run_with(recorder, Train(epochs=2))
    assert len(recorder.runs) == 1
    assert recorder.run.metrics.latest() == {"metrics": {"warmup": 1.0}, "train": {"loss": 0.5}}


def test_progress_lands_in_the_running_step() -> None:
    recorder = Recorder()
    recorder.set_progress(1, 2, "loose")
    assert recorder.run.loose_categories == {"loose": (1, 2)}
    run_with(recorder, Train(epochs=4))
    assert recorder.run.steps[0].categories == {"train": (4, 4)}


def test_repr() -> None:
    recorder = Recorder()
    assert repr(recorder) == "<Recorder: 0 events, last run not started, 0 metric points>"
    run_with(recorder, Train(epochs=2))
    assert repr(recorder) == (
        "<Recorder: 2 events, last run succeeded - 1 of 1 steps executed, 2 metric points>"
    )


_PROBE = """
import json, sys
import synapse_steps
from synapse_steps.context import RuntimeContext
from synapse_steps.recorder import Recorder
from synapse_steps.steps import BaseStep, BaseStepContext, Orchestrator, StepRegistry, StepResult

heavy = ("ipywidgets", "matplotlib", "pandas", "ray")

def loaded():
    return sorted({m.split(".")[0] for m in sys.modules} & set(heavy))

report = {"import": loaded()}

class S(BaseStep[BaseStepContext]):
    name = "s"
    progress_weight = 1.0
    def execute(self, context):
        context.set_metrics({"loss": 1.0})
        return StepResult()

recorder = Recorder()
registry = StepRegistry[BaseStepContext]()
registry.register(S())
Orchestrator(registry, BaseStepContext(runtime_ctx=RuntimeContext(logger=recorder))).execute()
RuntimeContext(display="console")
repr(registry)
report["run"] = loaded()
recorder.steps_frame()
report["frame"] = loaded()
print(json.dumps(report))
"""


def test_pandas_is_imported_only_when_a_frame_is_asked_for() -> None:
    completed = subprocess.run(
        [sys.executable, "-c", _PROBE],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "", "SYNAPSE_STEPS_DISPLAY": "off"},
    )
    report: dict[str, Any] = json.loads(completed.stdout)
    assert report["import"] == []
    assert report["run"] == []
    assert "pandas" in report["frame"]
    assert "ipywidgets" not in report["frame"]
