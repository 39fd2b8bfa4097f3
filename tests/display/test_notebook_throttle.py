"""Throttling: a loop of 100,000 calls pushes a bounded number of updates; the last one is whole.

The test clock moves a fixed amount per call, so the number of refreshes and redraws is exact
arithmetic rather than a guess about the machine's speed.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import pytest
from display_helpers import Clock, Step, run

from synapse_steps.display import plots
from synapse_steps.display.notebook import NotebookLogger, RunView
from synapse_steps.steps import BaseStepContext, StepResult

CALLS = 100_000


class Loop(Step):
    """Calls ``set_progress`` or ``set_metrics`` CALLS times, ``per_call`` seconds apart."""

    def __init__(self, clock: Clock, per_call: float, kind: str) -> None:
        super().__init__("loop", 1.0)
        self.loop_clock = clock
        self.per_call = per_call
        self.kind = kind

    def execute(self, context: BaseStepContext) -> StepResult:
        advance = self.loop_clock.advance
        if self.kind == "progress":
            for i in range(1, CALLS + 1):
                advance(self.per_call)
                context.set_progress(i, CALLS)
        else:
            for i in range(CALLS):
                advance(self.per_call)
                context.set_metrics({"loss": 1.0 / (i + 1), "iteration": i})
        return StepResult()


@pytest.fixture
def refreshes(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Every ``RunView.refresh`` call, as its ``plots`` flag."""
    calls: list[bool] = []
    original = RunView.refresh

    def counting(self: RunView, *, plots: bool = False, block: bool = False) -> None:
        calls.append(plots)
        original(self, plots=plots, block=block)

    monkeypatch.setattr(RunView, "refresh", counting)
    return calls


@pytest.fixture
def renders(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every live plot render, as the number of points it drew."""
    drawn: list[int] = []
    original = plots.CategoryPlot.render

    def counting(self: plots.CategoryPlot) -> bytes:
        drawn.append(sum(len(s) for s in self.store.series[self.category].values()))
        return original(self)

    monkeypatch.setattr(plots.CategoryPlot, "render", counting)
    return drawn


# Lifecycle refreshes of a one-step run: run start, step start, step end, final.
LIFECYCLE = 4


@pytest.mark.parametrize(
    ("per_call", "throttled"),
    [
        (1e-6, 1),  # 0.1 s of calls: the first call, then nothing is due
        (1e-5, 10),  # 1 s of calls: one refresh per 0.1 s
        (1e-4, 100),  # 10 s of calls
    ],
)
def test_progress_refreshes_are_bounded_by_time(
    clock: Clock, shown: list[Any], refreshes: list[bool], per_call: float, throttled: int
) -> None:
    logger = NotebookLogger(refresh_interval=0.1)
    run(clock.runtime(logger), Loop(clock, per_call, "progress"))
    assert throttled <= len(refreshes) - LIFECYCLE <= throttled + 1
    view = logger.view
    assert view is not None
    assert view.bar.value == 1.0
    assert view.rows[0]._bars["loop"][0].value == 1.0


def test_metric_redraws_are_throttled_and_the_last_one_has_every_point(
    clock: Clock, shown: list[Any], renders: list[int]
) -> None:
    logger = NotebookLogger(plot_interval=0.5)
    run(clock.runtime(logger), Loop(clock, 1e-5, "metrics"))  # 1 s of calls
    # The first call draws, then one redraw per 0.5 s, then the final redraw at the run's end.
    assert renders == [1, 50_001, 100_000]

    view = logger.view
    assert view is not None
    plot, image = view._plots["loop"]
    line = plot._lines["loss"]
    x, y = line.get_xdata(), line.get_ydata()
    assert len(x) <= plots.MAX_POINTS + 1
    assert (x[0], x[-1]) == (0.0, CALLS - 1)  # 'iteration' is the x axis
    assert y[-1] == pytest.approx(1.0 / CALLS)
    assert plot._axes["loss"].get_xlabel() == "iteration"
    assert plot._axes["loss"].get_title() == f"loss = {1.0 / CALLS:.4g}"
    assert image.value == plot.render()  # what is on screen is the drawing of every point


def test_slow_redraws_space_themselves_out(
    clock: Clock, shown: list[Any], renders: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    original = plots.CategoryPlot.render
    starts: list[float] = []

    def slow(self: plots.CategoryPlot) -> bytes:
        starts.append(clock.now())
        clock.advance(0.2)  # a redraw that takes 0.2 s: more than a quarter of 0.5 s
        return original(self)

    monkeypatch.setattr(plots.CategoryPlot, "render", slow)
    logger = NotebookLogger(plot_interval=0.5)
    run(
        clock.runtime(logger), Loop(clock, 1e-4, "metrics")
    )  # 10 s of calls (+ the redraws' own time)
    # Four redraws apart (0.8 s start to start): drawing takes a quarter of the run.
    gaps = [later - earlier for earlier, later in pairwise(starts[1:-1])]
    assert gaps
    assert all(0.8 <= gap <= 0.8 + 1e-4 + 1e-9 for gap in gaps), gaps
    # About a quarter of the run (the first redraw and the final one are not spaced).
    drawing = 0.2 * len(renders)
    assert drawing <= 0.3 * (clock.t - 100.0)


def test_the_plot_is_never_more_than_one_interval_behind_the_bar(
    clock: Clock, shown: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Tutorial 07 in step mode with 3,000 epochs of 3 ms: two categories (two figures), each
    # redraw 40 ms. Redraws used to pause ten times their cost (0.8 s): at epoch 886 the plot
    # ended near epoch 330 and caught up in jumps.
    epochs, per_epoch, cost, interval = 3000, 0.003, 0.04, 0.5
    original = plots.CategoryPlot.render
    drawn: dict[str, list[tuple[float, float]]] = {"loss": [], "accuracy": []}

    def timed(self: plots.CategoryPlot) -> bytes:
        last = max(series.x[-1] for series in self.store.series[self.category].values())
        drawn[self.category].append((clock.now(), last))
        clock.advance(cost)
        return original(self)

    monkeypatch.setattr(plots.CategoryPlot, "render", timed)

    class StepMode(Step):
        def execute(self, context: BaseStepContext) -> StepResult:
            for epoch in range(epochs):
                clock.advance(per_epoch)
                context.set_metrics({"loss": 1 / (epoch + 1), "epoch": epoch}, category="loss")
                context.set_metrics({"accuracy": epoch / epochs, "epoch": epoch}, "accuracy")
                context.set_progress(epoch + 1, epochs)
            return StepResult()

    logger = NotebookLogger(plot_interval=interval)
    run(clock.runtime(logger), StepMode("train", 1.0))
    for category, draws in drawn.items():
        starts = [at for at, _ in draws]
        # One interval from the start of a redraw to the next (plus one epoch's call, and the
        # other figure's redraw in between): the bar is never further ahead of the plot.
        gaps = [later - earlier for earlier, later in pairwise(starts)]
        assert max(gaps) <= interval + per_epoch + 2 * cost + 1e-9, (category, gaps)
        assert draws[-1][1] == epochs - 1  # the last picture holds the last epoch


def test_metrics_before_any_run_are_kept_without_drawing(
    clock: Clock, shown: list[Any], renders: list[int]
) -> None:
    logger = NotebookLogger()
    runtime = clock.runtime(logger)
    for i in range(1000):
        runtime.set_metrics({"loss": float(i)})
        runtime.set_progress(i, 1000)
    assert renders == []
    assert shown == []
    assert logger.run is runtime.recorder.run
    assert len(logger.run.metrics.series["metrics"]["loss"]) == 1000
    assert logger.run.loose_categories == {"progress": (999, 1000)}
