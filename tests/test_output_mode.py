"""Deterministic output mode: the switch, and the durations the display layer prints with it."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from pathlib import Path

import pytest

import synapse_steps
from synapse_steps.context import RuntimeContext
from synapse_steps.display.base import format_seconds
from synapse_steps.display.console import ConsoleLogger
from synapse_steps.display.tables import summary_text
from synapse_steps.output_mode import DURATION_PLACEHOLDER, deterministic, format_duration
from synapse_steps.steps import BaseStep, BaseStepContext, Orchestrator, StepRegistry, StepResult


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SYNAPSE_STEPS_DETERMINISTIC", raising=False)
    monkeypatch.delenv("CI", raising=False)


def test_off_by_default() -> None:
    assert deterministic() is False
    assert format_duration(0.4242) == "0.42s"


@pytest.mark.parametrize("value", ["1", "true", "TRUE", "yes", "on"])
def test_on_with_the_environment_variable(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("SYNAPSE_STEPS_DETERMINISTIC", value)
    assert deterministic() is True
    assert format_duration(12.5) == DURATION_PLACEHOLDER == "…s"


@pytest.mark.parametrize("value", ["true", "1", "True"])
def test_on_under_ci(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("CI", value)
    assert deterministic() is True


@pytest.mark.parametrize("value", ["", "0", "false"])
def test_a_false_ci_value_leaves_it_off(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("CI", value)
    assert deterministic() is False


def test_the_variable_turns_it_off_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    monkeypatch.setenv("SYNAPSE_STEPS_DETERMINISTIC", "0")
    assert deterministic() is False


def test_read_at_call_time(monkeypatch: pytest.MonkeyPatch) -> None:
    assert format_seconds(3.0) == "3.00s"
    monkeypatch.setenv("SYNAPSE_STEPS_DETERMINISTIC", "1")
    assert format_seconds(3.0) == DURATION_PLACEHOLDER
    assert format_seconds(3725.0) == DURATION_PLACEHOLDER
    assert format_seconds(None) == "—"  # unknown is the same on every run already


class _Step(BaseStep[BaseStepContext]):
    def __init__(self, name: str, fail: bool = False) -> None:
        self._name = name
        self.fail = fail

    @property
    def name(self) -> str:
        return self._name

    @property
    def progress_weight(self) -> float:
        return 0.5

    def execute(self, context: BaseStepContext) -> StepResult:
        if self.fail:
            return StepResult(success=False, error="broken on purpose")
        return StepResult()

    def rollback(self, context: BaseStepContext, result: StepResult) -> None:
        pass


def _run_console(fail: bool) -> tuple[str, BaseStepContext]:
    stream = io.StringIO()
    logger = ConsoleLogger(stream=stream)
    registry = StepRegistry[BaseStepContext]()
    registry.register(_Step("load"))
    registry.register(_Step("train", fail=fail))
    context = BaseStepContext(runtime_ctx=RuntimeContext(logger=logger))
    try:
        Orchestrator(registry, context).execute()
    except RuntimeError:
        assert fail
    return stream.getvalue(), context


def test_console_and_summary_durations(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNAPSE_STEPS_DETERMINISTIC", "1")
    text, context = _run_console(fail=True)
    assert "load done in …s" in text, text
    assert "run failed at 'train' - rolled back 2 steps in …s" in text, text
    summary = summary_text(context.runtime_ctx.recorder.run)
    assert "…s" in summary, summary
    assert text == _run_console(fail=True)[0]


def test_durations_are_real_outside_the_mode() -> None:
    text, _ = _run_console(fail=False)
    assert "…s" not in text
    assert "load done in 0." in text, text


def test_importing_the_module_imports_nothing_heavy() -> None:
    code = (
        "import sys, synapse_steps.output_mode;"
        "print(sorted(m for m in ('ipywidgets','matplotlib','pandas') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_console_progress_lines_do_not_depend_on_time(monkeypatch: pytest.MonkeyPatch) -> None:
    # A huge interval: outside deterministic mode only the first and the last line print.
    monkeypatch.setenv("SYNAPSE_STEPS_DETERMINISTIC", "1")
    stream = io.StringIO()
    runtime = RuntimeContext(
        logger=ConsoleLogger(stream=stream, progress_interval=3600.0, lifecycle=False)
    )
    for done in range(21):
        runtime.set_progress(done, 20, "train")
    lines = stream.getvalue().splitlines()
    assert lines == [f"  train: {2 * k}/20 ({10 * k}%)" for k in range(11)], lines


def test_the_sanitize_file_ships_with_the_package() -> None:
    from nbval.plugin import get_sanitize_patterns

    from synapse_steps import nbval_sanitize

    printed = subprocess.run(
        [sys.executable, "-m", "synapse_steps.nbval_sanitize"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    path = nbval_sanitize.path()
    assert printed == str(path)
    assert path.is_file()
    assert path.parent == Path(synapse_steps.__file__).resolve().parent
    patterns = get_sanitize_patterns(path.read_text(encoding="utf-8"))
    assert len(patterns) >= 6

    def sanitize(text: str) -> str:
        for regex, replace in patterns:
            text = re.sub(regex, replace, text)
        return text

    # A table saved with real times equals the same table printed in deterministic mode.
    real = "1  load   done   0.42s     \n2  train  done   12s\nrun succeeded in 1:02:03"
    placeholder = "1  load   done   …s        \n2  train  done   …s\nrun succeeded in …s"
    assert sanitize(real) == sanitize(placeholder)
    assert sanitize("at 0x7f3a2b1c4d50 in /tmp/tmpab12cd/model.npz") == (
        "at 0xADDRESS in TEMP_PATH"
    )
    assert sanitize("2026-12-01 03:09:26.123") == "DATETIME"
