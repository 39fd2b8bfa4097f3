"""Re-running: every run gets a new view; views a new run replaces are closed and stop moving."""

from __future__ import annotations

from typing import Any

import pytest
from display_helpers import Clock, Step, run

from synapse_steps.context import RuntimeContext
from synapse_steps.display import notebook
from synapse_steps.display.notebook import NotebookLogger, RunView
from synapse_steps.events import PlannedStep, RunStarted, StepStarted


def is_open(view: RunView) -> bool:
    return all(widget.comm is not None for widget in view._all_widgets())


def start_unfinished(runtime: RuntimeContext, run_id: int = 990) -> RunView:
    """A run whose end never arrives (its cell was left, its thread still runs ...)."""
    plan = (PlannedStep(0, "slow", 1.0, 1.0, 0.0, 1.0, "Slow", None),)
    runtime.publish(RunStarted(run_id, plan, 100.0, 1_700_000_000.0, "Workflow"))
    runtime.publish(StepStarted(0, "slow", 100.0))
    (logger,) = runtime.loggers
    assert logger.view is not None
    return logger.view  # type: ignore[no-any-return]


def test_a_second_run_makes_a_new_view(clock: Clock, shown: list[Any]) -> None:
    logger = NotebookLogger()
    runtime = clock.runtime(logger)  # re-running a cell: the same context, a new run
    run(runtime, Step("a", 1.0, clock=clock))
    first = logger.view
    run(runtime, Step("b", 1.0, clock=clock), Step("c", 1.0, clock=clock))
    second = logger.view
    assert first is not None
    assert second is not None
    assert first is not second
    assert repr(first.widget) == repr(second.widget) == ""  # the records carry the text
    widgets_shown = [obj for obj in shown if not isinstance(obj, dict)]
    assert widgets_shown == [first.widget, second.widget]
    records = [obj["text/plain"] for obj in shown if isinstance(obj, dict)]
    assert [r.splitlines()[0].split(" · ")[0] for r in records] == [
        "✔ succeeded - 1 of 1 steps executed",
        "✔ succeeded - 2 of 2 steps executed",
    ]
    # A finished run's view gives way to its record: closed, one output per run.
    assert first.finished
    assert not is_open(first)
    assert first.run.outcome() == "succeeded - 1 of 1 steps executed"
    # What is reported now belongs to the latest run.
    runtime.set_progress(1, 2, "late")
    runtime.set_metrics({"loss": 1.0}, "late")
    assert second.run.loose_categories == {"late": (1, 2)}
    assert first.run.loose_categories == {}
    assert list(second.run.metrics.series) == ["late"]
    assert list(first.run.metrics.series) == []
    assert logger.recorder is runtime.recorder
    assert [run.run_id for run in logger.recorder.runs][-2:] == [
        first.run.run_id,
        second.run.run_id,
    ]


def test_rerunning_the_same_cell_closes_its_old_view(
    clock: Clock, shown: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(notebook, "_current_cell_key", lambda: "cell-7")
    logger = NotebookLogger()
    runtime = clock.runtime(logger)
    logger.summary = False  # the view stays on screen: the case where a re-run must close it
    run(runtime, Step("a", 1.0, clock=clock))
    first = logger.view
    assert first is not None
    assert is_open(first)
    run(runtime, Step("a", 1.0, clock=clock))
    assert logger.view is not first
    assert not is_open(first)
    assert first not in notebook._views
    assert logger.view in notebook._views


def test_a_finished_view_of_another_cell_stays_open(
    clock: Clock, shown: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    cells = iter(["cell-1", "cell-2"])
    monkeypatch.setattr(notebook, "_current_cell_key", lambda: next(cells))
    logger = NotebookLogger(summary=False)  # views stay after their run
    run(logger, Step("a", 1.0, clock=clock), clock=clock)
    first = logger.view
    run(logger, Step("a", 1.0, clock=clock), clock=clock)
    assert first is not None
    assert is_open(first)


def test_an_unfinished_view_is_closed_and_stops_updating(clock: Clock, shown: list[Any]) -> None:
    logger = NotebookLogger()
    runtime = clock.runtime(logger)
    old = start_unfinished(runtime)
    runtime.set_progress(1, 4, "slow")
    clock.advance(1.0)
    runtime.set_progress(2, 4, "slow")
    assert old.bar.value == 0.5
    assert not old.finished

    run(runtime, Step("again", 1.0, clock=clock))
    assert old.finished
    assert not is_open(old)
    new = logger.view
    assert new is not None
    assert new is not old
    assert new.run.phase == "succeeded"

    # The old run's state changes again (a late worker thread, say): its view does not follow.
    old.run.progress(4, 4, "slow")
    old.refresh(plots=True, block=True)
    assert old.bar.value == 0.5
    assert old.rows[0]._bars["slow"][0].value == 0.5


def test_a_new_run_of_another_logger_closes_an_unfinished_view(
    clock: Clock, shown: list[Any]
) -> None:
    stalled, other = NotebookLogger(), NotebookLogger()
    stalled_runtime = clock.runtime(stalled)
    old = start_unfinished(stalled_runtime)
    run(other, Step("b", 1.0, clock=clock), clock=clock)
    assert not is_open(old)
    # Progress still reported to the stalled runtime lands in its recorder, not on screen.
    clock.advance(1.0)
    stalled_runtime.set_progress(3, 4, "slow")
    assert stalled.run.steps[0].categories == {"slow": (3, 4)}
    assert old.bar.value == 0.0


def test_closing_twice_is_harmless(clock: Clock, shown: list[Any]) -> None:
    view = start_unfinished(clock.runtime(NotebookLogger()))
    view.close()
    view.close()
    assert view.finished
    assert not is_open(view)
