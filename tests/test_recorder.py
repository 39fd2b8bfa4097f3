"""``Recorder``: history in memory, DataFrames on request, nothing heavy imported before."""

from __future__ import annotations

import itertools
import json
import math
import os
import subprocess
import sys
import warnings
from datetime import datetime, timedelta
from typing import Any

import pytest

from synapse_steps.context import RuntimeContext
from synapse_steps.errors import UsageError
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
    # the status in words: a failed step that was then rolled back says both
    assert frame["status"].tolist() == ["rolled back", "skipped", "failed, rolled back", "not run"]
    assert frame["error"].tolist()[2] == "diverged"
    assert frame["error"].isna().tolist() == [True, True, False, True]
    assert frame["rolled_back"].tolist() == [True, False, True, False]
    assert frame["rollback_error"].isna().all()
    durations = frame["duration"].tolist()
    assert durations[0] >= 0
    assert durations[2] >= 0
    assert frame["duration"].isna().tolist() == [False, True, False, True]


def rows(frame: Any) -> list[dict[str, Any]]:
    """The frame's rows, with NaN (no value / no text) as None so rows compare with ``==``."""
    return [
        {
            key: None if isinstance(value, float) and math.isnan(value) else value
            for key, value in row.items()
        }
        for row in frame.to_dict("records")
    ]


def test_metrics_frame_columns_and_values() -> None:
    recorder = Recorder()
    run_with(recorder, Train(epochs=3))

    frame = recorder.metrics_frame()

    # the x column is named after the key the step reported; text values are kept, not plotted
    assert list(frame.columns) == ["category", "metric", "epoch", "value", "text"]
    assert str(frame["epoch"].dtype) == "int64"
    assert rows(frame) == [
        {"category": "train", "metric": "loss", "epoch": 0, "value": 1.0, "text": None},
        {"category": "train", "metric": "loss", "epoch": 1, "value": 0.5, "text": None},
        {"category": "train", "metric": "loss", "epoch": 2, "value": 1.0 / 3, "text": None},
        {"category": "train", "metric": "tag", "epoch": 0, "value": None, "text": "x"},
        {"category": "train", "metric": "tag", "epoch": 1, "value": None, "text": "x"},
        {"category": "train", "metric": "tag", "epoch": 2, "value": None, "text": "x"},
    ]
    assert recorder.run.metrics.others == {"train": {"tag": [(0.0, "x"), (1.0, "x"), (2.0, "x")]}}
    assert recorder.run.metrics.x_labels == {"train": "epoch"}


def test_metrics_frame_without_x_key_uses_the_call_count_and_categories() -> None:
    recorder = Recorder()
    recorder.set_metrics({"a": 1, "b": 2.5}, "c1")
    recorder.set_metrics({"a": 3}, "c1")
    recorder.set_metrics({"z": True, "n": 4})
    frame = recorder.metrics_frame()
    assert list(frame.columns) == ["category", "metric", "call", "value", "text"]
    assert str(frame["call"].dtype) == "int64"
    assert rows(frame) == [
        {"category": "c1", "metric": "a", "call": 0, "value": 1.0, "text": None},
        {"category": "c1", "metric": "a", "call": 1, "value": 3.0, "text": None},
        {"category": "c1", "metric": "b", "call": 0, "value": 2.5, "text": None},
        {"category": "metrics", "metric": "n", "call": 0, "value": 4.0, "text": None},
        # a bool is no number: kept as text, never plotted as 1.0
        {"category": "metrics", "metric": "z", "call": 0, "value": None, "text": "True"},
    ]


def test_metrics_frame_of_numbers_only_has_no_text_column() -> None:
    recorder = Recorder()
    recorder.set_metrics({"loss": 0.5, "step": 10})
    recorder.set_metrics({"loss": 0.25, "step": 20})
    frame = recorder.metrics_frame()
    assert list(frame.columns) == ["category", "metric", "step", "value"]
    assert rows(frame) == [
        {"category": "metrics", "metric": "loss", "step": 10, "value": 0.5},
        {"category": "metrics", "metric": "loss", "step": 20, "value": 0.25},
    ]


def test_set_metrics_refuses_what_is_not_a_mapping() -> None:
    recorder = Recorder()
    with pytest.raises(
        UsageError, match=r"^set_metrics\(\) takes a mapping .* got 0.5 of type float"
    ):
        recorder.set_metrics(0.5)  # type: ignore[arg-type]
    assert len(recorder.run.metrics) == 0


def test_empty_metrics_frame_has_the_columns() -> None:
    frame = Recorder().metrics_frame()
    assert list(frame.columns) == ["category", "metric", "call", "value"]
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
from synapse_steps.errors import UsageError
from synapse_steps.recorder import Recorder
from synapse_steps.steps import BaseStep, BaseStepContext, Orchestrator, StepRegistry, StepResult

heavy = ("ipywidgets", "matplotlib", "pandas", "ray", "torch", "ultralytics", "lightning", "keras")

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
        # Its run journals: into this test's store, never the user's (the guard in the root
        # conftest cannot see a child whose environment has no HOME nor XDG_DATA_HOME).
        env={
            "PATH": "",
            "SYNAPSE_STEPS_DISPLAY": "off",
            "SYNAPSE_STEPS_HOME": os.environ["SYNAPSE_STEPS_HOME"],
        },
    )
    report: dict[str, Any] = json.loads(completed.stdout)
    assert report["import"] == []
    assert report["run"] == []
    assert "pandas" in report["frame"]
    assert "ipywidgets" not in report["frame"]


class StoppedClock:
    """The runtime clock, standing still until a test moves it."""

    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> float:
        return self.t

    def wall(self) -> float:
        return 1_700_000_000.0 + self.t


class ProgressSubscriber:
    def __init__(self) -> None:
        self.got: list[Any] = []

    def on_progress(self, record: Any) -> None:
        self.got.append((record.category, record.current, record.total, record.time))

    def on_log(self, record: Any) -> None:
        self.got.append(("log", record.event))


def test_progress_records_are_coalesced_by_the_runtime_clock() -> None:
    clock = StoppedClock()
    subscriber = ProgressSubscriber()
    runtime = RuntimeContext(logger=subscriber, clock=clock)  # type: ignore[arg-type]
    for current in range(1000):  # a tight loop while the clock stands still
        runtime.set_progress(current, 1000, "loop")
    # the state follows every call ...
    assert runtime.recorder.run.loose_categories == {"loop": (999, 1000)}
    # ... but only the first report of each tenth went out (what a console prints must not
    # depend on timing); the rest waits for the clock
    assert subscriber.got == [("loop", 100 * tenth, 1000, 0.0) for tenth in range(10)]
    clock.t = 0.05
    runtime.set_progress(1000, 1000, "loop")  # the last (current >= total) always goes out
    assert subscriber.got[10:] == [("loop", 1000, 1000, 0.05)]


def test_progress_records_go_out_at_most_every_interval() -> None:
    clock = StoppedClock()
    subscriber = ProgressSubscriber()
    runtime = RuntimeContext(logger=subscriber, clock=clock)  # type: ignore[arg-type]
    for i in range(100):
        clock.t = i * 0.01  # 1 s in 100 calls of 10 ms
        runtime.set_progress(i, 1000, "loop")
    times = [t for _, _, _, t in subscriber.got]
    assert 9 <= len(times) <= 11
    assert all(b - a >= 0.1 - 1e-9 for a, b in itertools.pairwise(times))


def test_unsent_progress_is_flushed_before_any_other_record() -> None:
    clock = StoppedClock()
    subscriber = ProgressSubscriber()
    runtime = RuntimeContext(logger=subscriber, clock=clock)  # type: ignore[arg-type]
    runtime.set_progress(1, 100, "a")  # first: out at once
    runtime.set_progress(2, 100, "a")  # held back (same tenth, clock standing still)
    runtime.set_progress(5, 100, "a")  # held back (replaces 2/100)
    runtime.log("next")  # flushes the latest first
    assert subscriber.got == [("a", 1, 100, 0.0), ("a", 5, 100, 0.0), ("log", "next")]


# -- the progress gate: most calls only leave their value behind ---------------------------------


def _count_full_calls(recorder: Recorder) -> list[int]:
    """Count the calls that take the full path (instance attribute over the method)."""
    count = [0]
    full = recorder._progress_in_full

    def counted(*args: Any) -> None:
        count[0] += 1
        full(*args)

    recorder._progress_in_full = counted  # type: ignore[method-assign]
    return count


class TickingClock(StoppedClock):
    """A clock that moves ``step`` seconds each time it is read: a loop of that speed."""

    def __init__(self, step: float) -> None:
        super().__init__()
        self.step = step

    def now(self) -> float:
        self.t += self.step
        return self.t


def test_a_fast_loop_takes_the_full_path_rarely_and_a_slow_one_every_call() -> None:
    fast = RuntimeContext(logger=ProgressSubscriber(), clock=TickingClock(1e-6))  # type: ignore[arg-type]
    full = _count_full_calls(fast.recorder)
    for i in range(100_000):
        fast.set_progress(i, 100_000, "loop")
    assert full[0] < 300, full  # tenths, the widening gate, then about one per GATE_SECONDS

    subscriber = ProgressSubscriber()
    slow = RuntimeContext(logger=subscriber, clock=TickingClock(0.5))  # type: ignore[arg-type]
    for i in range(1, 51):
        slow.set_progress(i, 100_000, "loop")
    # Half a second per call: within a few calls the gate narrows to one step, and from then
    # on every new value goes out (a remote run's driver sees each of them).
    assert [current for _, current, _, _ in subscriber.got[-30:]] == list(range(21, 51))


def test_the_state_shows_the_latest_value_even_when_the_loop_pauses() -> None:
    runtime = RuntimeContext(display="off", clock=StoppedClock())  # type: ignore[arg-type]
    for i in range(1, 500):  # all inside the first tenth's gate but the first
        runtime.set_progress(i, 100_000, "loop")
    # A reader (a display's ticker thread) sees the last call, not the last full one.
    assert runtime.recorder.run.loose_categories == {"loop": (499, 100_000)}
    runtime.set_progress(500, 100_000, "loop")
    assert runtime.recorder.run.loose_categories == {"loop": (500, 100_000)}


def test_a_failure_stops_the_bar_at_the_last_reported_value() -> None:
    class FailsPartWay(BaseStep[BaseStepContext]):
        name = "fails"
        progress_weight = 1.0

        def execute(self, context: BaseStepContext) -> StepResult:
            for i in range(1, 374):
                context.set_progress(i, 1000)
            raise RuntimeError("boom")

    runtime = RuntimeContext(display="off", clock=StoppedClock())  # type: ignore[arg-type]
    registry = StepRegistry()
    registry.register(FailsPartWay())
    with pytest.raises(Exception, match="boom"):
        Orchestrator(registry, BaseStepContext(runtime_ctx=runtime), journal=False).execute()
    # Folded before the failure record: the bar stops where the loop was, not at its last
    # full-path call.
    assert runtime.recorder.run.stopped_fraction == pytest.approx(0.373)


def test_non_numbers_and_other_categories_leave_the_gate() -> None:
    runtime = RuntimeContext(display="off", clock=StoppedClock())  # type: ignore[arg-type]
    runtime.set_progress(10, 1000, "a")
    runtime.set_progress(11, 1000, "b")
    runtime.set_progress(12, 2000, "b")  # a new total
    with pytest.warns(RuntimeWarning, match="ignored"):
        runtime.set_progress("13", 1000, "b")  # type: ignore[arg-type]
    runtime.set_progress(1001, 1000, "a")  # past the total: clamped (warned once already)
    assert runtime.recorder.run.loose_categories == {"a": (1000.0, 1000.0), "b": (12, 2000)}


@pytest.mark.parametrize("plain_logger", [False, True], ids=["store only", "with a plain logger"])
def test_the_progress_warning_points_at_the_step_s_call(plain_logger: bool) -> None:
    class Plain:
        def log(self, *args: Any) -> None:
            pass

        set_progress = set_metrics = log

    runtime = RuntimeContext(logger=Plain()) if plain_logger else RuntimeContext(display="off")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        line = sys._getframe().f_lineno + 1
        runtime.set_progress(5, 1, "c")  # the line the user must look at
    assert [(w.category, w.filename, w.lineno) for w in caught] == [
        (RuntimeWarning, __file__, line)
    ]
