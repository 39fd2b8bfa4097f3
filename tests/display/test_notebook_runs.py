"""The live view of real orchestrator runs: widget traits, text forms, summaries, DataFrames.

A real ``Orchestrator`` drives ``NotebookLogger`` with no front end; the runtime reads the
test's clock (``clock.runtime(logger)``), so durations, elapsed times and throttled refreshes
are exact.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
from display_helpers import Clock, Journal, Step, run, text_of

from synapse_steps.display.notebook import NotebookLogger, RunView, RunWidget
from synapse_steps.display.tables import summary_text
from synapse_steps.errors import StepFailedError
from synapse_steps.steps import BaseStepContext, StepResult


def rows(view: RunView) -> list[tuple[str, str, list[tuple[str, float, str, str]]]]:
    """Each step row as (label text, elapsed, [(category, bar value, bar style, bar text)])."""
    return [
        (
            text_of(row.label.value),
            text_of(row.timing.value),
            [
                (category, bar.value, bar.bar_style, text_of(text.value))
                for category, (bar, text) in row._bars.items()
            ],
        )
        for row in view.rows
    ]


def overall(view: RunView) -> tuple[float, str, str, str]:
    """The overall row: bar value, bar style, text beside the bar, elapsed time."""
    return (
        view.bar.value,
        view.bar.bar_style,
        text_of(view.bar_text.value),
        text_of(view.elapsed.value),
    )


def mime_kinds(shown: list[Any]) -> list[Any]:
    return [sorted(obj) if isinstance(obj, dict) else type(obj).__name__ for obj in shown]


# -- success, with a skipped step -------------------------------------------------------------


def test_success_with_skip(clock: Clock, shown: list[Any]) -> None:
    logger = NotebookLogger()
    _, error = run(
        clock.runtime(logger),
        Step("load_data", 0.3, clock=clock, seconds=0.5, metrics=True),
        Step("train", 0.5, clock=clock, seconds=2.0, ticks=2, category="batches"),
        Step("save", 0.2, clock=clock, skip=True),
    )
    assert error is None
    view = logger.view
    assert view is not None
    assert view.finished

    assert repr(view.widget) == ""  # the static record below carries the text
    assert isinstance(view.widget, RunWidget)
    assert overall(view) == (1.0, "success", "100%", "2.50s")
    assert text_of(view.header.value) == (
        "Run: 3 steps [load_data 0.3, train 0.5, save 0.2] — succeeded"
    )
    assert rows(view) == [
        ("✔ load_data done", "0.50s", [("load_data", 1.0, "success", "4/4")]),
        ("✔ train done", "2.00s", [("batches", 1.0, "success", "batches 2/2")]),
        ("↷ save skipped", "", []),
    ]
    assert view.outcome.value == ""  # the header and the summary table say it already
    assert view.run.outcome() == "succeeded - 2 of 3 steps executed, 1 skipped"
    assert list(view.log_lines) == [
        "▶ load_data started",
        "✔ load_data done in 0.50s",
        "▶ train started",
        "✔ train done in 2.00s",
        "↷ save skipped",
        "run succeeded - 2 of 3 steps executed, 1 skipped",
    ]
    # One metric category -> one live plot image, holding a PNG.
    assert list(view._plots) == ["load_data"]
    image = view._plots["load_data"][1]
    assert image.format == "png"
    assert image.value[:8] == b"\x89PNG\r\n\x1a\n"
    assert view.plots.children == (image,)

    # The cell: the live widget (closed once the run ended), then the run's static record and
    # one metrics figure.
    assert mime_kinds(shown) == [
        "RunWidget",
        ["text/html", "text/plain"],
        ["image/png", "text/plain"],
    ]
    assert shown[0] is view.widget
    assert shown[1]["text/plain"] == "✔ " + summary_text(logger.run).replace("\n", " · 2.50s\n", 1)
    assert summary_text(logger.run) == (
        "succeeded - 2 of 3 steps executed, 1 skipped\n"
        "#  step       status   duration  error\n"
        "-  ---------  -------  --------  -----\n"
        "1  load_data  done     0.50s\n"
        "2  train      done     2.00s\n"
        "3  save       skipped"
    )
    assert shown[2]["text/plain"] == "<metrics figure: load_data/loss>"


def test_overall_bar_advances_inside_the_running_step(clock: Clock, shown: list[Any]) -> None:
    logger = NotebookLogger()
    seen: list[tuple[float, str, str]] = []

    class Probe(Step):
        def execute(self, context: BaseStepContext) -> StepResult:
            for tick in range(1, 5):
                clock.advance(0.25)  # > refresh_interval: every tick is drawn
                context.set_progress(tick, 4)
                assert logger.view is not None
                seen.append(overall(logger.view))
            return StepResult()

    run(clock.runtime(logger), Step("prepare", 1.0, clock=clock, seconds=1.0), Probe("train", 3.0))
    assert seen == [
        (0.25 + 0.75 * 0.25, "info", "44% · ETA 1.61s", "1.25s"),
        (0.25 + 0.75 * 0.50, "info", "62% · ETA 0.90s", "1.50s"),
        (0.25 + 0.75 * 0.75, "info", "81% · ETA 0.40s", "1.75s"),
        (1.0, "info", "100% · ETA 0.00s", "2.00s"),
    ]


def test_step_row_shows_running_status_and_a_bar_per_category(
    clock: Clock, shown: list[Any]
) -> None:
    logger = NotebookLogger()
    seen: list[Any] = []

    class TwoCategories(Step):
        def execute(self, context: BaseStepContext) -> StepResult:
            clock.advance(0.5)
            context.set_progress(3, 10, "download")
            context.set_progress(1, 8, "extract")
            clock.advance(0.5)
            context.set_progress(2, 8, "extract")  # drawn: a new value after the interval
            assert logger.view is not None
            seen.append(rows(logger.view)[0])
            return StepResult()

    run(clock.runtime(logger), TwoCategories("fetch", 1.0))
    assert seen == [
        (
            "▶ fetch running",
            "1.00s",
            [
                ("download", 0.3, "info", "download 3/10"),
                ("extract", 0.25, "info", "extract 2/8"),
            ],
        )
    ]
    view = logger.view
    assert view is not None
    # When the step is done its bars turn green with it.
    assert [style for _, _, style, _ in rows(view)[0][2]] == ["success", "success"]


# -- failure with rollback -------------------------------------------------------------------


def test_failure_rolls_back_and_says_so(clock: Clock, shown: list[Any]) -> None:
    journal = Journal()
    logger = NotebookLogger()
    context, error = run(
        clock.runtime(logger),
        Step("load_data", 0.3, clock=clock, journal=journal, seconds=0.5, metrics=True),
        Step("train", 0.5, clock=clock, journal=journal, seconds=2.0, ticks=2, error="diverged"),
        Step("save", 0.2, clock=clock, journal=journal),
    )
    assert isinstance(error, StepFailedError)
    assert journal.rolled_back == ["train", "load_data"]
    view = logger.view
    assert view is not None

    # the bar stays where the failure happened: 'train' had reported 2/2 when it failed
    assert overall(view) == (0.8, "danger", "80%", "2.50s")
    assert text_of(view.header.value).endswith("— failed")
    assert rows(view) == [
        (
            "↺ load_data rolled back",
            "0.50s\n+ 0.00s rollback",
            [("load_data", 1.0, "warning", "4/4")],
        ),
        (
            "✖ train failed, rolled back\ndiverged",
            "2.00s\n+ 0.00s rollback",
            [("train", 1.0, "danger", "2/2")],
        ),
        ("– save not run", "", []),
    ]
    assert text_of(view.outcome.value) == "failed at 'train' - rolled back 2 steps"
    assert list(view.log_lines)[3:] == [
        "✖ train failed: diverged",
        "↺ rolling back train",
        "rollback: {'step': 'train'}",
        "↺ train rolled back",
        "↺ rolling back load_data",
        "rollback: {'step': 'load_data'}",
        "↺ load_data rolled back",
        "run failed at 'train' - rolled back 2 steps",
    ]
    assert shown[1]["text/plain"] == (
        "✖ failed at 'train' - rolled back 2 steps · 2.50s\n"
        "#  step       status               duration                error\n"
        "-  ---------  -------------------  ----------------------  --------\n"
        "1  load_data  rolled back          0.50s + 0.00s rollback\n"
        "2  train      failed, rolled back  2.00s + 0.00s rollback  diverged\n"
        "3  save       not run"
    )
    assert context.errors[0] == "Step 'train' failed: diverged"


def test_failing_rollback_is_visible(clock: Clock, shown: list[Any]) -> None:
    logger = NotebookLogger()
    _, error = run(
        clock.runtime(logger),
        Step("load_data", 0.3, clock=clock, seconds=0.5, rollback_error="disk is read-only"),
        Step("convert", 0.2, clock=clock, seconds=0.5),
        Step("train", 0.5, clock=clock, raises=ValueError("bad shape")),
    )
    assert isinstance(error, StepFailedError)
    view = logger.view
    assert view is not None
    # a rollback that raised is not counted as rolled back
    outcome = "failed at 'train' - rolled back 2 steps; rollback failed for 'load_data'"
    assert text_of(view.outcome.value) == outcome  # the error itself is in the row, once
    assert rows(view)[0][0] == (
        "⚠ load_data rollback failed\nrollback failed: RuntimeError: disk is read-only"
    )
    assert rows(view)[0][2] == [("load_data", 1.0, "danger", "4/4")]
    assert rows(view)[1][0] == "↺ convert rolled back"
    assert rows(view)[2][0] == "✖ train failed, rolled back\nbad shape"
    assert "⚠ rollback of load_data FAILED: RuntimeError: disk is read-only" in view.log_lines
    assert shown[1]["text/plain"].splitlines()[0] == f"✖ {outcome} · 1.00s"
    assert shown[1]["text/plain"].splitlines()[3] == (
        "1  load_data  rollback failed      0.50s + 0.00s rollback  "
        "rollback failed: RuntimeError: disk is read-only"
    )
    assert "rollback failed: RuntimeError: disk is read-only" in shown[1]["text/html"]


# -- interrupt (the stop button) -------------------------------------------------------------


def test_keyboard_interrupt_in_a_step(clock: Clock, shown: list[Any]) -> None:
    journal = Journal()
    logger = NotebookLogger()
    _, error = run(
        clock.runtime(logger),
        Step("load_data", 0.3, clock=clock, journal=journal, seconds=0.5),
        Step("train", 0.5, clock=clock, journal=journal, seconds=1.0, ticks=2, interrupt=True),
        Step("save", 0.2, clock=clock, journal=journal),
    )
    assert isinstance(error, KeyboardInterrupt)
    assert journal.rolled_back == ["train", "load_data"]
    view = logger.view
    assert view is not None
    assert view.finished
    # the bar stays where the interrupt happened: 'train' had reported 2/2
    assert overall(view) == (0.8, "warning", "80%", "1.50s")
    assert rows(view) == [
        (
            "↺ load_data rolled back",
            "0.50s\n+ 0.00s rollback",
            [("load_data", 1.0, "warning", "4/4")],
        ),
        (
            "■ train interrupted, rolled back\ninterrupted (KeyboardInterrupt)",
            "1.00s\n+ 0.00s rollback",
            [("train", 1.0, "warning", "2/2")],
        ),
        ("– save not run", "", []),
    ]
    assert text_of(view.outcome.value) == "interrupted at 'train' - rolled back 2 steps"
    assert "✖ train interrupted: interrupted (KeyboardInterrupt)" in view.log_lines
    assert shown[1]["text/plain"].splitlines()[0] == (
        "■ interrupted at 'train' - rolled back 2 steps · 1.50s"
    )


# -- the recorder's DataFrames ----------------------------------------------------------------


def test_dataframes_after_a_failed_run(clock: Clock, shown: list[Any]) -> None:
    logger = NotebookLogger()
    run(
        clock.runtime(logger),
        Step("load_data", 0.3, clock=clock, seconds=0.5, metrics=True, ticks=3),
        Step("train", 0.5, clock=clock, seconds=2.0, error="diverged", rollback_error="locked"),
        Step("save", 0.2, clock=clock),
    )
    recorder = logger.recorder

    expected_steps = pd.DataFrame(
        [
            ("load_data", "rolled back", 0.5, None, True, None),
            # its rollback raised: not rolled back
            ("train", "failed, rollback failed", 2.0, "diverged", False, "RuntimeError: locked"),
            ("save", "not run", None, None, False, None),
        ],
        columns=["step", "status", "duration", "error", "rolled_back", "rollback_error"],
    )
    pd.testing.assert_frame_equal(recorder.steps_frame(), expected_steps)

    # the x column is named after the steps' x key, whole numbers as integers
    expected_metrics = pd.DataFrame(
        {
            "category": np.array(["load_data"] * 3),
            "metric": np.array(["loss"] * 3),
            "epoch": np.array([1, 2, 3], dtype=np.int64),
            "value": [1.0, 0.5, 1.0 / 3.0],
        }
    )
    pd.testing.assert_frame_equal(recorder.metrics_frame(), expected_metrics)

    run_id = logger.run.run_id
    rollback_time = pd.Timestamp.fromtimestamp(clock.wall())  # the clock stopped after 'train'
    expected_events = pd.DataFrame(
        [
            (rollback_time, "rollback", {"step": "train"}, None, run_id),
            (rollback_time, "rollback", {"step": "load_data"}, None, run_id),
        ],
        columns=["time", "event", "data", "file", "run_id"],
    )
    pd.testing.assert_frame_equal(recorder.events_frame(), expected_events)


def test_dataframes_of_a_run_without_metrics_or_events(clock: Clock, shown: list[Any]) -> None:
    logger = NotebookLogger()
    run(clock.runtime(logger), Step("only", 1.0, clock=clock, seconds=0.25, ticks=1))
    assert mime_kinds(shown) == ["RunWidget", ["text/html", "text/plain"]]  # no empty figure
    pd.testing.assert_frame_equal(
        logger.recorder.steps_frame(),
        pd.DataFrame(
            [("only", "done", 0.25, None, False, None)],
            columns=["step", "status", "duration", "error", "rolled_back", "rollback_error"],
        ),
    )
    metrics = logger.recorder.metrics_frame()
    assert list(metrics.columns) == ["category", "metric", "call", "value"]
    assert len(metrics) == 0
    assert metrics["call"].dtype == np.int64
    assert metrics["value"].dtype == np.float64
    assert len(logger.recorder.events_frame()) == 0


def test_summary_can_be_turned_off(clock: Clock, shown: list[Any]) -> None:
    logger = NotebookLogger(summary=False)
    run(clock.runtime(logger), Step("only", 1.0, clock=clock, metrics=True))
    assert mime_kinds(shown) == ["RunWidget"]


@pytest.mark.parametrize("lines", [1, 5])
def test_log_panel_keeps_the_last_lines(clock: Clock, shown: list[Any], lines: int) -> None:
    logger = NotebookLogger(log_lines=lines)

    class Chatty(Step):
        def execute(self, context: BaseStepContext) -> StepResult:
            for i in range(1000):
                context.log("batch", {"i": i})
            return StepResult()

    run(clock.runtime(logger), Chatty("chatty", 1.0))
    view = logger.view
    assert view is not None
    expected = [*(f"batch: {{'i': {i}}}" for i in range(996, 1000)), "✔ chatty done in 0.00s"]
    expected.append("run succeeded - 1 of 1 steps executed")
    assert list(view.log_lines) == expected[-lines:]
    assert text_of(view.log_html.value) == "\n".join(expected[-lines:]).replace("'", "'")
    assert view.log_panel.get_title(0) == f"Log (last {lines} events)"
    # The recorder keeps every event (up to its own, larger bound).
    assert len(logger.recorder.events) == 1000


def test_long_log_lines_are_cut(clock: Clock, shown: list[Any]) -> None:
    logger = NotebookLogger()

    class Verbose(Step):
        def execute(self, context: BaseStepContext) -> StepResult:
            context.log("blob", {"text": "x" * 1000})
            return StepResult()

    run(clock.runtime(logger), Verbose("verbose", 1.0))
    assert logger.view is not None
    line = logger.view.log_lines[1]
    assert len(line) == 300
    assert line.endswith("...")


def test_logged_values_without_text_keep_the_view(clock: Clock, shown: list[Any]) -> None:
    # A value nested too deeply for repr() (or an int too long for text) is shown bounded; the
    # view is never dropped for it.
    logger = NotebookLogger()
    nested: list[Any] = []
    for _ in range(5_000):
        nested = [nested]

    class Odd(Step):
        def execute(self, context: BaseStepContext) -> StepResult:
            context.log("deep", {"v": nested})
            context.log("big", {"n": 10**5000})
            return StepResult()

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a front end that raises is dropped with a warning
        run(clock.runtime(logger), Odd("odd", 1.0))
    assert logger.view is not None
    deep, big = list(logger.view.log_lines)[1:3]
    assert deep.startswith("deep: {'v': [[[[")
    assert big == "big: {'n': <int of about 5001 digits>}"
