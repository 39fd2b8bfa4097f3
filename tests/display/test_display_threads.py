"""``set_progress`` / ``set_metrics`` from worker threads while the live view draws."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from display_helpers import Step, run

from synapse_steps.display.notebook import NotebookLogger
from synapse_steps.display.plots import series_arrays
from synapse_steps.metrics import MetricStore
from synapse_steps.steps import BaseStepContext, StepResult

WORKERS = 4
CALLS = 5_000


@pytest.fixture
def eager_switching() -> Iterator[None]:
    """Make the interpreter switch threads as often as it can, so races show up."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(previous)


class Workers(Step):
    """Starts WORKERS threads that report progress and metrics, and waits for them."""

    def __init__(self) -> None:
        super().__init__("train", 1.0)
        self.failures: list[BaseException] = []

    def execute(self, context: BaseStepContext) -> StepResult:
        def work(worker: int) -> None:
            try:
                for i in range(1, CALLS + 1):
                    context.set_progress(i, CALLS, f"worker {worker}")
                    context.set_metrics({"loss": 1.0 / i, f"w{worker}": float(i)}, "train")
                    if i % 1000 == 0:
                        context.log("checkpoint", {"worker": worker, "i": i})
            except BaseException as exc:
                self.failures.append(exc)

        threads = [threading.Thread(target=work, args=(w,)) for w in range(WORKERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return StepResult()


@pytest.mark.usefixtures("eager_switching")
def test_worker_threads_report_while_the_view_draws(shown: list[Any]) -> None:
    # Intervals of 0: every call tries to draw, so drawing and reporting overlap all the time.
    logger = NotebookLogger(refresh_interval=0.0, plot_interval=0.0)
    step = Workers()
    _, error = run(logger, step)
    assert error is None
    assert step.failures == []

    state = logger.run
    assert state.steps[0].categories == {f"worker {w}": (CALLS, CALLS) for w in range(WORKERS)}
    loss = state.metrics.series["train"]["loss"]
    assert len(loss) == WORKERS * CALLS
    # x is the call count of the category: every call got its own number.
    assert sorted(loss.x) == [float(i) for i in range(WORKERS * CALLS)]
    for w in range(WORKERS):
        own = state.metrics.series["train"][f"w{w}"]
        assert sorted(own.y) == [float(i) for i in range(1, CALLS + 1)]

    view = logger.view
    assert view is not None
    assert view.finished
    bars = view.rows[0]._bars
    assert sorted(bars) == [f"worker {w}" for w in range(WORKERS)]
    assert all(bar.value == 1.0 and bar.bar_style == "success" for bar, _ in bars.values())
    assert view.bar.value == 1.0
    plot, _ = view._plots["train"]
    assert set(plot._lines) == {"loss", *(f"w{w}" for w in range(WORKERS))}
    assert len(logger.recorder.events) == WORKERS * CALLS // 1000


@pytest.mark.usefixtures("eager_switching")
def test_reading_a_series_never_blocks_a_writer() -> None:
    """A redraw copies a series; it must not hold a buffer that makes ``append`` fail."""
    store = MetricStore()
    store.add({"loss": 0.0}, "train")
    series = store.series["train"]["loss"]
    stop = threading.Event()
    failures: list[BaseException] = []

    def read() -> None:
        try:
            while not stop.is_set():
                x, y = series_arrays(series)
                assert len(x) == len(y)
        except BaseException as exc:
            failures.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for i in range(100_000):
            store.add({"loss": float(i)}, "train")
    finally:
        stop.set()
        reader.join()
    assert failures == []
    assert len(series) == 100_001


@pytest.mark.usefixtures("eager_switching")
def test_frames_can_be_built_while_threads_report() -> None:
    from synapse_steps.recorder import Recorder

    recorder = Recorder()

    def report() -> None:
        for i in range(1, 20_001):
            recorder.set_metrics({"loss": 1.0 / i, f"m{i % 50}": 1.0}, f"c{i % 7}")
            recorder.log("tick", {"i": i})

    writer = threading.Thread(target=report)
    writer.start()
    built = 0
    while writer.is_alive() or built == 0:
        frame = recorder.metrics_frame()
        assert list(frame.columns) == ["category", "metric", "call", "value"]
        assert frame["call"].notna().all()
        assert frame["value"].notna().all()
        recorder.events_frame()
        built += 1
    writer.join()
    assert len(recorder.metrics_frame()) == 40_000
