"""``ConsoleLogger``: the lines a terminal or a CI log shows."""

from __future__ import annotations

import io
import re
from types import SimpleNamespace
from typing import Any

import pytest

from synapse_steps.context import RuntimeContext
from synapse_steps.display import console as console_module
from synapse_steps.display.console import ConsoleLogger
from synapse_steps.steps import BaseStep, BaseStepContext, Orchestrator, StepRegistry, StepResult


class Step(BaseStep[BaseStepContext]):
    def __init__(self, name: str, weight: float, outcome: Any = None, skip: bool = False) -> None:
        self._name = name
        self._weight = weight
        self.outcome = StepResult() if outcome is None else outcome
        self.skip = skip

    @property
    def name(self) -> str:
        return self._name

    @property
    def progress_weight(self) -> float:
        return self._weight

    def can_skip(self, context: BaseStepContext) -> bool:
        return self.skip

    def execute(self, context: BaseStepContext) -> StepResult:
        context.log("working", {"step": self._name})
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        return self.outcome  # type: ignore[no-any-return]


def lines_of(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


def normalise_times(lines: list[str]) -> list[str]:
    return [re.sub(r"\d+\.\d\ds\b", "T", line) for line in lines]


def test_log_line_format() -> None:
    stream = io.StringIO()
    logger = ConsoleLogger(stream)
    logger.log("step_start", {"step": "process"})
    logger.log("saved", {"n": 2}, file="/tmp/out.png")
    assert lines_of(stream) == [
        "step_start: {'step': 'process'}",
        "saved: {'n': 2} [file: /tmp/out.png]",
    ]


def test_writes_to_the_current_stdout_by_default(capsys: Any) -> None:
    logger = ConsoleLogger()
    logger.log("step_start", {"step": "process"})
    assert capsys.readouterr().out == "step_start: {'step': 'process'}\n"


def test_default_runtime_prints_to_stdout(capsys: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SYNAPSE_STEPS_DISPLAY", raising=False)
    RuntimeContext().log("step_start", {"step": "process"})
    assert capsys.readouterr().out == "step_start: {'step': 'process'}\n"


def test_progress_prints_each_tenth_once_without_throttling() -> None:
    stream = io.StringIO()
    logger = ConsoleLogger(stream, progress_interval=0)
    for current in range(100_001):
        logger.set_progress(current, 100_000, "load")
    assert lines_of(stream) == [
        f"  load: {10_000 * tenth}/100000 ({10 * tenth}%)" for tenth in range(11)
    ]


def test_a_loop_of_100000_progress_calls_prints_at_most_11_lines(capsys: Any) -> None:
    logger = ConsoleLogger()
    for current in range(1, 100_001):
        logger.set_progress(current, 100_000, "train")
    lines = capsys.readouterr().out.splitlines()
    assert 2 <= len(lines) <= 11
    assert lines[0] == "  train: 1/100000 (0%)"
    assert lines[-1] == "  train: 100000/100000 (100%)"
    assert all(line.startswith("  train: ") for line in lines)


def test_progress_is_throttled_by_interval_but_100_percent_always_prints(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = [0.0]
    monkeypatch.setattr(console_module, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    stream = io.StringIO()
    logger = ConsoleLogger(stream, progress_interval=1.0)

    logger.set_progress(0, 10, "c")  # first: printed
    clock[0] = 0.5
    logger.set_progress(5, 10, "c")  # new tenth but too soon
    clock[0] = 1.6
    logger.set_progress(6, 10, "c")  # new tenth, interval passed
    logger.set_progress(6, 10, "c")  # same tenth
    clock[0] = 1.7
    logger.set_progress(10, 10, "c")  # 100%: always
    logger.set_progress(10, 10, "c")  # already printed
    logger.set_progress(3, 10, "other")  # categories are independent

    assert lines_of(stream) == [
        "  c: 0/10 (0%)",
        "  c: 6/10 (60%)",
        "  c: 10/10 (100%)",
        "  other: 3/10 (30%)",
    ]


def test_progress_without_category_or_total() -> None:
    stream = io.StringIO()
    logger = ConsoleLogger(stream)
    logger.set_progress(3, 0)
    assert lines_of(stream) == ["  progress: 3/0 (100%)"]


def test_metrics_are_recorded_not_printed() -> None:
    stream = io.StringIO()
    logger = ConsoleLogger(stream)
    logger.set_metrics({"loss": 0.5, "epoch": 1}, "train")
    assert stream.getvalue() == ""
    assert logger.recorder.run.metrics.latest() == {"train": {"loss": 0.5}}


def test_successful_run_lines() -> None:
    stream = io.StringIO()
    registry = StepRegistry[BaseStepContext]()
    registry.register(Step("load", 0.25))
    registry.register(Step("cache", 0.25, skip=True))
    registry.register(Step("train", 0.5))
    context = BaseStepContext(runtime_ctx=RuntimeContext(logger=ConsoleLogger(stream)))

    Orchestrator(registry, context).execute()

    assert normalise_times(lines_of(stream)) == [
        "Run: 3 steps [load 0.25, cache 0.25, train 0.5]",
        "[1/3] load ...",
        "working: {'step': 'load'}",
        "[1/3] load done in T",
        "[2/3] cache skipped",
        "[3/3] train ...",
        "working: {'step': 'train'}",
        "[3/3] train done in T",
        "run succeeded - 2 of 3 steps executed, 1 skipped in T",
    ]


def test_failed_run_lines_with_summary_table() -> None:
    stream = io.StringIO()
    registry = StepRegistry[BaseStepContext]()
    registry.register(Step("load", 1))
    registry.register(Step("train", 1, outcome=StepResult(success=False, error="diverged")))
    registry.register(Step("save", 1))
    context = BaseStepContext(runtime_ctx=RuntimeContext(logger=ConsoleLogger(stream)))

    with pytest.raises(RuntimeError):
        Orchestrator(registry, context).execute()

    assert normalise_times(lines_of(stream)) == [
        "Run: 3 steps [load 1, train 1, save 1]",
        "[1/3] load ...",
        "working: {'step': 'load'}",
        "[1/3] load done in T",
        "[2/3] train ...",
        "working: {'step': 'train'}",
        "[2/3] train FAILED: diverged",
        "  rolled back train",
        "  rolled back load",
        "run failed at 'train' - rolled back 2 steps in T",
        "failed at 'train' - rolled back 2 steps",
        "#  step   status               duration  error",
        "-  -----  -------------------  --------  --------",
        "1  load   rolled back          T",
        "2  train  failed, rolled back  T     diverged",
        "3  save   pending",
    ]


def test_interrupted_run_and_rollback_failure_lines() -> None:
    class BadUndo(Step):
        def rollback(self, context: BaseStepContext, result: StepResult) -> None:
            raise OSError("locked")

    stream = io.StringIO()
    registry = StepRegistry[BaseStepContext]()
    registry.register(BadUndo("load", 1))
    registry.register(Step("train", 1, outcome=KeyboardInterrupt()))
    context = BaseStepContext(
        runtime_ctx=RuntimeContext(logger=ConsoleLogger(stream, summary=False))
    )

    with pytest.raises(KeyboardInterrupt):
        Orchestrator(registry, context).execute()

    assert normalise_times(lines_of(stream))[-4:] == [
        "[2/2] train INTERRUPTED: interrupted (KeyboardInterrupt)",
        "  rolled back train",
        "  rollback of load FAILED: OSError: locked",
        "run interrupted at 'train' - rolled back 2 steps (1 rollback error) in T",
    ]


def test_step_progress_is_reprinted_in_a_new_run() -> None:
    class Loop(Step):
        def execute(self, context: BaseStepContext) -> StepResult:
            for i in range(1, 5):
                context.set_progress(i, 4)
            return StepResult()

    stream = io.StringIO()
    registry = StepRegistry[BaseStepContext]()
    registry.register(Loop("loop", 1))
    context = BaseStepContext(
        runtime_ctx=RuntimeContext(logger=ConsoleLogger(stream, progress_interval=0))
    )
    Orchestrator(registry, context).execute()
    Orchestrator(registry, context).execute()
    progress = [line for line in lines_of(stream) if line.startswith("  loop:")]
    assert (
        progress
        == [
            "  loop: 1/4 (25%)",
            "  loop: 2/4 (50%)",
            "  loop: 3/4 (75%)",
            "  loop: 4/4 (100%)",
        ]
        * 2
    )


def test_no_ansi_codes_or_carriage_returns() -> None:
    stream = io.StringIO()
    registry = StepRegistry[BaseStepContext]()
    registry.register(Step("a", 1, outcome=ValueError("x")))
    context = BaseStepContext(runtime_ctx=RuntimeContext(logger=ConsoleLogger(stream)))
    with pytest.raises(RuntimeError):
        Orchestrator(registry, context).execute()
    assert "\x1b" not in stream.getvalue()
    assert "\r" not in stream.getvalue()
