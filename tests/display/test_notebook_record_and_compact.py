"""One output per run: the live view gives way to its record; the compact form; the fallback."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
from display_helpers import Clock, Step, run, text_of

from synapse_steps.display import kernel
from synapse_steps.display.notebook import NotebookLogger
from synapse_steps.steps import BaseStepContext, Orchestrator, StepRegistry


def records(shown: list[Any]) -> list[dict[str, Any]]:
    return [obj for obj in shown if isinstance(obj, dict)]


def test_a_failure_is_stated_once_in_the_record(clock: Clock, shown: list[Any]) -> None:
    logger = NotebookLogger()
    run(
        clock.runtime(logger),
        Step("load", 0.5, clock=clock, seconds=1.0),
        Step("train", 0.5, clock=clock, error="diverged at epoch 3"),
    )
    (record,) = records(shown)
    assert record["text/plain"].count("diverged at epoch 3") == 1
    visible, _, log = record["text/html"].partition("<details>")  # the log panel is folded
    assert text_of(visible).count("diverged at epoch 3") == 1
    assert "diverged at epoch 3" in log
    assert logger.view is not None
    assert logger.view.widget.comm is None  # the view is closed


def test_five_runs_in_a_loop_in_compact_form_are_five_lines(clock: Clock, shown: list[Any]) -> None:
    logger = NotebookLogger(compact=True)
    runtime = clock.runtime(logger)
    for index in range(5):
        run(runtime, Step(f"fit{index}", 1.0, clock=clock, seconds=0.5, metrics=True, ticks=2))
    lines = [r["text/plain"] for r in records(shown)]
    assert len(lines) == 5
    assert all("\n" not in line for line in lines)
    assert lines[0].startswith("BaseStepContext: ✔ succeeded - 1 of 1 steps executed · ")
    assert "loss=" in lines[0]
    assert all(r.keys() == {"text/html", "text/plain"} for r in records(shown))  # no figures


def test_compact_view_is_one_row_while_running(clock: Clock, shown: list[Any]) -> None:
    logger = NotebookLogger(compact=True, summary=False)
    run(clock.runtime(logger), Step("fit", 1.0, clock=clock, seconds=1.0, ticks=4))
    view = logger.view
    assert view is not None
    assert len(view.widget.children) == 1
    assert view.rows == []
    assert text_of(view.bar_text.value).startswith("100% · ")


def test_outside_a_kernel_the_notebook_logger_prints_console_lines(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(kernel, "in_notebook_kernel", lambda: False)
    clock = Clock()
    with pytest.warns(RuntimeWarning, match="NotebookLogger needs a Jupyter kernel"):
        runtime = clock.runtime(NotebookLogger())
    registry = StepRegistry[BaseStepContext]()
    registry.register(Step("a", 1.0, clock=clock, metrics=True))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Orchestrator(registry, BaseStepContext(runtime_ctx=runtime)).execute()
    out = capsys.readouterr().out
    assert "[1/1] a done in" in out
    assert "PNG" not in out  # no raw image bytes in a terminal
