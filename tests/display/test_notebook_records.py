"""The live view fed lifecycle records by hand: every state a run can pass through."""

from __future__ import annotations

from typing import Any

import pandas as pd
from display_helpers import Clock, text_of

from synapse_steps.display.notebook import NotebookLogger
from synapse_steps.display.record import record_bundle
from synapse_steps.display.tables import summary_text
from synapse_steps.events import (
    PlannedStep,
    RunFinished,
    RunNotice,
    RunProgress,
    RunStarted,
    StepFailed,
    StepFinished,
    StepRollbackStarted,
    StepRolledBack,
    StepStarted,
)

PLAN = (
    PlannedStep(0, "load_data", 0.3, 0.3, 0.0, 0.3, "Load", None),
    PlannedStep(1, "train", 0.5, 0.5, 0.3, 0.8, "LoggingStep", "Train"),
    PlannedStep(2, "save", 0.2, 0.2, 0.8, 1.0, "Save", None),
)


def labels(logger: NotebookLogger) -> list[str]:
    assert logger.view is not None
    return [text_of(row.label.value) for row in logger.view.rows]


def fed(clock: Clock, logger: NotebookLogger) -> Any:
    """The ``publish`` of a runtime with ``logger`` attached: records go through its store."""
    return clock.runtime(logger).publish


def test_each_rollback_shows_as_it_happens(clock: Clock, shown: list[Any]) -> None:
    logger = NotebookLogger()
    publish = fed(clock, logger)
    publish(RunStarted(11, PLAN, 100.0, 1_700_000_000.0, "Workflow"))
    assert labels(logger) == ["○ load_data pending", "○ train pending", "○ save pending"]
    assert shown == [logger.view.widget]  # type: ignore[union-attr]
    assert repr(shown[0]) == ""  # the record, not the view, is what a saved notebook shows

    publish(StepStarted(0, "load_data", 100.0))
    assert labels(logger)[0] == "▶ load_data running"
    publish(StepFinished(0, "load_data", 1.5, 101.5))
    publish(RunProgress(30, 100, 101.5))
    publish(StepStarted(1, "train", 101.5))
    publish(StepFailed(1, "train", "CUDA out of memory", 2.0, 103.5, False, None))
    assert labels(logger)[:2] == ["✔ load_data done", "✖ train failed\nCUDA out of memory"]

    publish(StepRollbackStarted(1, "train", 103.5))
    assert labels(logger)[1] == "↺ train failed, rolling back\nCUDA out of memory"
    assert logger.view is not None
    assert text_of(logger.view.header.value).endswith("— rolling back train")
    publish(StepRolledBack(1, "train", None, 103.6))
    assert labels(logger)[:2] == [
        "✔ load_data done",
        "✖ train failed, rolled back\nCUDA out of memory",
    ]
    publish(StepRollbackStarted(0, "load_data", 103.6))
    assert labels(logger)[0] == "↺ load_data rolling back"
    publish(StepRolledBack(0, "load_data", "PermissionError: /data", 103.7))
    # a rollback that raised did not roll the step back
    assert (
        labels(logger)[0] == "⚠ load_data rollback failed\nrollback failed: PermissionError: /data"
    )
    # while rolling back, the view says so (the outcome proper comes with the run's end); the
    # rollback error is stated once, in its step's row
    assert text_of(logger.view.outcome.value) == "rolling back after 'train' failed"

    publish(
        RunFinished(
            "failed",
            1,
            3,
            "train",
            "CUDA out of memory",
            ("train",),
            ("'load_data': PermissionError: /data",),
            3.7,
            103.7,
        )
    )
    view = logger.view
    outcome = "failed at 'train' - rolled back 1 step; rollback failed for 'load_data'"
    assert text_of(view.outcome.value) == outcome
    assert (view.bar.value, view.bar.bar_style) == (0.3, "danger")
    assert [text_of(row.timing.value) for row in view.rows] == [
        "1.50s\n+ 0.10s rollback",
        "2.00s\n+ 0.10s rollback",
        "",
    ]
    assert list(view.log_lines) == [
        "▶ load_data started",
        "✔ load_data done in 1.50s",
        "▶ train started",
        "✖ train failed: CUDA out of memory",
        "↺ rolling back train",
        "↺ train rolled back",
        "↺ rolling back load_data",
        "⚠ rollback of load_data FAILED: PermissionError: /data",
        f"run {outcome}",
    ]
    summary = (
        f"{outcome}\n"
        "#  step       status               duration                error\n"
        f"-  ---------  -------------------  {'-' * 22}  {'-' * 39}\n"
        "1  load_data  rollback failed      1.50s + 0.10s rollback  "
        "rollback failed: PermissionError: /data\n"
        "2  train      failed, rolled back  2.00s + 0.10s rollback  CUDA out of memory\n"
        "3  save       not run"
    )
    assert summary_text(logger.run) == summary
    record = record_bundle(logger.run, log=list(view.log_lines))
    assert shown[1] == record
    assert record["text/plain"] == f"✖ {outcome} · 3.70s\n" + summary.split("\n", 1)[1]
    pd.testing.assert_frame_equal(
        logger.recorder.steps_frame(),
        pd.DataFrame(
            [
                ("load_data", "rollback failed", 1.5, None, False, "PermissionError: /data"),
                ("train", "failed, rolled back", 2.0, "CUDA out of memory", True, None),
                ("save", "not run", None, None, False, None),
            ],
            columns=["step", "status", "duration", "error", "rolled_back", "rollback_error"],
        ),
    )


def test_interrupt_between_steps_names_no_step(clock: Clock, shown: list[Any]) -> None:
    logger = NotebookLogger()
    publish = fed(clock, logger)
    publish(RunStarted(12, PLAN, 100.0, 1_700_000_000.0, "Workflow"))
    publish(StepStarted(0, "load_data", 100.0))
    publish(StepFinished(0, "load_data", 1.0, 101.0))
    publish(RunProgress(30, 100, 101.0))
    publish(StepRollbackStarted(0, "load_data", 101.1))
    publish(StepRolledBack(0, "load_data", None, 101.2))
    publish(RunFinished("interrupted", 1, 3, None, "interrupted", ("load_data",), (), 1.2, 101.2))
    assert logger.view is not None
    assert text_of(logger.view.outcome.value) == "interrupted - rolled back 1 step"
    # the bar stays where the run stopped
    assert (logger.view.bar.value, logger.view.bar.bar_style) == (0.3, "warning")
    assert text_of(logger.view.header.value).endswith("— interrupted")
    assert labels(logger) == ["↺ load_data rolled back", "– train not run", "– save not run"]


def test_interrupt_in_can_skip_marks_the_step(clock: Clock, shown: list[Any]) -> None:
    logger = NotebookLogger()
    publish = fed(clock, logger)
    publish(RunStarted(13, PLAN, 100.0, 1_700_000_000.0, "Workflow"))
    publish(
        RunFinished(
            "interrupted", 0, 3, "load_data", "interrupted (KeyboardInterrupt)", (), (), 0.1, 100.1
        )
    )
    assert labels(logger) == [
        "■ load_data interrupted\ninterrupted (KeyboardInterrupt)",
        "– train not run",
        "– save not run",
    ]
    assert logger.view is not None
    assert text_of(logger.view.outcome.value) == "interrupted at 'load_data' - rolled back 0 steps"


def test_names_are_escaped_in_widgets(clock: Clock, shown: list[Any]) -> None:
    logger = NotebookLogger()
    runtime = clock.runtime(logger)
    plan = (PlannedStep(0, "<img src=x>", 1.0, 1.0, 0.0, 1.0, "S", None),)
    runtime.publish(RunStarted(14, plan, 100.0, 1_700_000_000.0, "Workflow"))
    runtime.publish(StepStarted(0, "<img src=x>", 100.0))
    runtime.set_progress(1, 2, "<i>")
    clock.advance(1.0)
    runtime.set_progress(1, 2, "<i>")
    view = logger.view
    assert view is not None
    assert "<img" not in view.rows[0].label.value
    assert "&lt;img src=x&gt;" in view.rows[0].label.value
    assert "<img" not in view.header.value
    assert "&lt;i&gt;" in view.rows[0]._bars["<i>"][1].value
    assert "&lt;img src=x&gt;" in view.header.value


def test_front_ends_are_subscribers_without_the_plain_methods(clock: Clock) -> None:
    from synapse_steps.display.html import HtmlLogger

    for front_end in (NotebookLogger(), HtmlLogger()):
        assert not any(hasattr(front_end, name) for name in ("log", "set_progress", "set_metrics"))
        runtime = clock.runtime(front_end)
        assert runtime.recorder.subscribers == (front_end,)
        assert (front_end.recorder, front_end.clock) == (runtime.recorder, clock)


def test_a_rollback_shows_its_own_time_beside_the_step_time(clock: Clock, shown: list[Any]) -> None:
    # The step ran 1.02 s; its rollback takes 0.46 s. While it rolls back the row shows both,
    # the rollback counting up from zero; after it, both stay: the step's time never counts
    # the rollback's, nor jumps back when the rollback ends.
    logger = NotebookLogger()
    publish = fed(clock, logger)
    publish(RunStarted(15, PLAN[:1], 100.0, 1_700_000_000.0, "Workflow"))
    publish(StepStarted(0, "load_data", 100.0))
    publish(StepFailed(0, "load_data", "bad file", 1.02, 101.02, False, None))
    clock.t = 101.02
    publish(StepRollbackStarted(0, "load_data", 101.02))
    view = logger.view
    assert view is not None
    timing = view.rows[0].timing
    clock.t = 101.22
    view.refresh(block=True)
    assert text_of(timing.value) == "1.02s\n+ 0.20s rollback"
    clock.t = 101.48
    publish(StepRolledBack(0, "load_data", None, 101.48))
    assert text_of(timing.value) == "1.02s\n+ 0.46s rollback"
    clock.t = 105.0  # later redraws leave both as they were
    view.refresh(block=True)
    assert text_of(timing.value) == "1.02s\n+ 0.46s rollback"
    publish(RunFinished("failed", 0, 1, "load_data", "bad file", ("load_data",), (), 1.48, 101.48))
    assert shown[1]["text/plain"].splitlines()[-1] == (
        "1  load_data  failed, rolled back  1.02s + 0.46s rollback  bad file"
    )


def test_a_notice_opens_the_view_and_the_record(clock: Clock, shown: list[Any]) -> None:
    logger = NotebookLogger()
    publish = fed(clock, logger)
    text = "The previous run (12:03) was interrupted at 'step_4' by a kernel restart."
    publish(RunStarted(16, PLAN[:1], 100.0, 1_700_000_000.0, "Workflow"))
    publish(RunNotice(text, 100.0))
    view = logger.view
    assert view is not None
    assert text_of(view.header.value).startswith(f"⚠ {text}Run: 1 step")
    assert f"⚠ {text}" in view.log_lines
    publish(StepStarted(0, "load_data", 100.0))
    publish(StepFinished(0, "load_data", 1.0, 101.0))
    publish(RunFinished("succeeded", 1, 1, None, None, (), (), 1.0, 101.0))
    record = shown[1]
    assert record["text/plain"].splitlines()[0] == f"⚠ {text}"
    assert text_of(record["text/html"]).startswith(f"⚠ {text}✔ succeeded")
    assert 'class="sst-warn">⚠ The previous run' in record["text/html"]


def test_the_live_view_gives_its_output_to_the_record(clock: Clock, shown: Any) -> None:
    # A saved notebook (nbclient applies display updates) and the offline pages keep the
    # record alone: the view's output is replaced by a widget output naming no widget, which
    # front ends hide; its text stays empty, as nbval compares it.
    from synapse_steps.display.summary import GONE_VIEW

    logger = NotebookLogger()
    publish = fed(clock, logger)
    publish(RunStarted(17, PLAN[:1], 100.0, 1_700_000_000.0, "Workflow"))
    view = logger.view
    assert view is not None
    assert shown.replaced == []
    publish(RunFinished("failed", 0, 1, "load_data", "bad", (), (), 1.0, 101.0))
    assert shown == [view.widget, record_bundle(logger.run, log=list(view.log_lines))]
    assert shown.replaced == [(view.widget, GONE_VIEW)]
    assert GONE_VIEW["text/plain"] == repr(view.widget) == ""
    assert GONE_VIEW["application/vnd.jupyter.widget-view+json"]["model_id"] == ""
