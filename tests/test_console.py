"""``ConsoleLogger``: the lines a terminal or a CI log shows."""

from __future__ import annotations

import contextlib
import io
import re
import warnings
from typing import Any

import pytest

from synapse_steps.clock import Clock
from synapse_steps.context import RuntimeContext
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


class ManualClock(Clock):
    """A clock that stands still until a test moves it (``tick`` > 0: moves on every read)."""

    def __init__(self, tick: float = 0.0) -> None:
        self.t = 0.0
        self.tick = tick

    def now(self) -> float:
        self.t += self.tick
        return self.t

    def wall(self) -> float:
        return 1_700_000_000.0 + self.t


def console_runtime(
    stream: io.StringIO | None = None, clock: Clock | None = None, **options: Any
) -> RuntimeContext:
    return RuntimeContext(logger=ConsoleLogger(stream, **options), clock=clock or ManualClock())


def test_log_line_format() -> None:
    stream = io.StringIO()
    runtime = console_runtime(stream)
    runtime.log("step_start", {"step": "process"})
    runtime.log("saved", {"n": 2}, file="/tmp/out.png")
    runtime.log("no_data")
    assert lines_of(stream) == [
        "step_start: {'step': 'process'}",
        "saved: {'n': 2} [file: /tmp/out.png]",
        "no_data: {}",
    ]


class BrokenRepr:
    def __repr__(self) -> str:
        raise RuntimeError("no text")


def test_values_without_text_are_printed_safely_and_the_console_stays() -> None:
    nested: list[Any] = []
    for _ in range(5_000):
        nested = [nested]
    stream = io.StringIO()
    runtime = console_runtime(stream)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a front end that raises is dropped with a warning
        runtime.log("deep", {"v": nested})
        runtime.log("odd", {"v": BrokenRepr()})
        runtime.set_metrics({"n": 10**5000, "loss": 0.5}, "train")
        runtime.log("still", {"here": True})
    deep, odd, metrics, still = lines_of(stream)
    assert deep.startswith("deep: {'v': [[[[")
    assert len(deep) < 1_000
    assert odd == "odd: {'v': <BrokenRepr object: repr() raised RuntimeError: no text>}"
    assert metrics == "  train: n=<int of about 5001 digits> loss=0.5"
    assert still == "still: {'here': True}"


def test_a_console_has_no_plain_logger_methods() -> None:
    console = ConsoleLogger(io.StringIO())
    assert not any(hasattr(console, name) for name in ("log", "set_progress", "set_metrics"))
    runtime = RuntimeContext(logger=console)
    assert runtime.recorder.subscribers == (console,)
    assert console.recorder is runtime.recorder
    assert console.clock is runtime.clock


def test_writes_to_the_current_stdout_by_default(capsys: Any) -> None:
    runtime = RuntimeContext(logger=ConsoleLogger())
    runtime.log("step_start", {"step": "process"})
    assert capsys.readouterr().out == "step_start: {'step': 'process'}\n"


def test_default_runtime_prints_to_stdout(capsys: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SYNAPSE_STEPS_DISPLAY", raising=False)
    RuntimeContext().log("step_start", {"step": "process"})
    assert capsys.readouterr().out == "step_start: {'step': 'process'}\n"


def test_progress_prints_each_tenth_once_without_throttling() -> None:
    stream = io.StringIO()
    # a clock that moves 1 s per read: neither the store nor the console holds anything back
    runtime = console_runtime(stream, ManualClock(tick=1.0), progress_interval=0)
    for current in range(100_001):
        runtime.set_progress(current, 100_000, "load")
    assert lines_of(stream) == [
        f"  load: {10_000 * tenth}/100000 ({10 * tenth}%)" for tenth in range(11)
    ]


def test_a_loop_of_100000_progress_calls_prints_at_most_11_lines(capsys: Any) -> None:
    runtime = RuntimeContext(logger=ConsoleLogger())  # the real clock
    for current in range(1, 100_001):
        runtime.set_progress(current, 100_000, "train")
    lines = capsys.readouterr().out.splitlines()
    assert 2 <= len(lines) <= 11
    assert lines[0] == "  train: 1/100000 (0%)"
    assert lines[-1] == "  train: 100000/100000 (100%)"
    assert all(line.startswith("  train: ") for line in lines)


def test_progress_is_throttled_by_interval_but_100_percent_always_prints() -> None:
    clock = ManualClock()
    stream = io.StringIO()
    runtime = console_runtime(stream, clock, progress_interval=1.0)

    runtime.set_progress(0, 10, "c")  # first: printed
    clock.t = 0.5
    runtime.set_progress(5, 10, "c")  # new tenth but too soon
    clock.t = 1.6
    runtime.set_progress(6, 10, "c")  # new tenth, interval passed
    runtime.set_progress(6, 10, "c")  # same tenth
    clock.t = 1.7
    runtime.set_progress(10, 10, "c")  # 100%: always
    runtime.set_progress(10, 10, "c")  # already printed
    runtime.set_progress(3, 10, "other")  # categories are independent

    assert lines_of(stream) == [
        "  c: 0/10 (0%)",
        "  c: 6/10 (60%)",
        "  c: 10/10 (100%)",
        "  other: 3/10 (30%)",
    ]


def test_progress_without_category_or_total() -> None:
    stream = io.StringIO()
    runtime = console_runtime(stream)
    runtime.set_progress(0, 0)
    assert lines_of(stream) == ["  progress: 0/0 (100%)"]


def test_out_of_range_progress_is_clamped_with_one_warning() -> None:
    stream = io.StringIO()
    clock = ManualClock(tick=1.0)
    runtime = console_runtime(stream, clock)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        runtime.set_progress(15, 10, "c")  # more than the total: shown as 100%
        runtime.set_progress(-1, 10, "d")  # negative: shown as 0%
        runtime.set_progress(3, 0, "e")  # no total: nothing to show
        runtime.set_progress(float("nan"), 10, "f")  # not a number: ignored
        runtime.set_progress("7", 10, "g")  # type: ignore[arg-type]
    assert [(w.category, str(w.message)) for w in caught] == [
        (
            RuntimeWarning,
            "set_progress(15, 10) for 'c': progress must satisfy 0 <= current <= total with finite "
            "numbers; clamped into 0..total (warned once per runtime)",
        )
    ]
    assert lines_of(stream) == ["  c: 10/10 (100%)", "  d: 0/10 (0%)"]
    assert runtime.recorder.run.loose_categories == {"c": (10.0, 10.0), "d": (0.0, 10.0)}


def test_metrics_are_printed_at_most_once_per_interval_per_category() -> None:
    stream = io.StringIO()
    clock = ManualClock()
    runtime = console_runtime(stream, clock)  # metrics_interval defaults to 2 s

    runtime.set_metrics({"loss": 0.5, "epoch": 1}, "train")  # first: printed
    clock.t = 1.0
    runtime.set_metrics({"loss": 0.4, "epoch": 2}, "train")  # too soon: held
    runtime.set_metrics({"val": 0.9}, "eval")  # another category: printed
    clock.t = 1.5
    runtime.set_metrics({"loss": 1 / 3, "epoch": 3}, "train")  # held (replaces the last)
    clock.t = 2.0
    runtime.set_metrics({"loss": 0.25, "epoch": 4}, "train")  # interval passed: printed

    assert lines_of(stream) == [
        "  train: loss=0.5 epoch=1",
        "  eval: val=0.9",
        "  train: loss=0.25 epoch=4",
    ]
    # every call is recorded, printed or not
    assert runtime.recorder.run.metrics.latest() == {"train": {"loss": 0.25}, "eval": {"val": 0.9}}
    assert len(runtime.recorder.run.metrics) == 5


def test_in_deterministic_mode_metric_lines_do_not_depend_on_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SYNAPSE_STEPS_DETERMINISTIC", "1")
    stream = io.StringIO()
    clock = ManualClock()
    runtime = console_runtime(stream, clock)

    runtime.set_metrics({"loss": 0.5, "epoch": 1}, "train")  # first: printed
    clock.t = 5.0
    runtime.set_metrics({"loss": 0.4, "epoch": 2}, "train")  # however late: held
    clock.t = 10.0
    runtime.set_metrics({"loss": 0.25, "epoch": 3}, "train")  # held (replaces the last)

    assert lines_of(stream) == ["  train: loss=0.5 epoch=1"]


def test_the_latest_unprinted_metrics_are_printed_when_the_step_ends_or_fails() -> None:
    class Fits(Step):
        def execute(self, context: BaseStepContext) -> StepResult:
            for epoch in range(1, 4):
                context.set_metrics({"loss": 1 / epoch, "epoch": epoch}, self.name)
            return super().execute(context)

    stream = io.StringIO()
    registry = StepRegistry[BaseStepContext]()
    registry.register(Fits("fit", 1))
    registry.register(Fits("tune", 1, outcome=StepResult(success=False, error="diverged")))
    context = BaseStepContext(runtime_ctx=console_runtime(stream, summary=False))
    with pytest.raises(RuntimeError):
        Orchestrator(registry, context).execute()
    assert lines_of(stream) == [
        "Run: 2 steps [fit 1, tune 1]",
        "[1/2] fit ...",
        "  fit: loss=1 epoch=1",
        "working: {'step': 'fit'}",
        "  fit: loss=0.3333 epoch=3",
        "[1/2] fit done in 0.00s",
        "[2/2] tune ...",
        "  tune: loss=1 epoch=1",
        "working: {'step': 'tune'}",
        "  tune: loss=0.3333 epoch=3",
        "[2/2] tune FAILED: diverged",
        "  rolled back tune",
        "  rolled back fit",
        "run failed at 'tune' - rolled back 2 steps in 0.00s",
    ]


def test_durations_come_from_the_runtime_clock() -> None:
    stream = io.StringIO()
    registry = StepRegistry[BaseStepContext]()
    registry.register(Step("load", 1))
    context = BaseStepContext(runtime_ctx=console_runtime(stream, ManualClock(tick=0.25)))
    Orchestrator(registry, context).execute()
    # each read of the clock moves it 0.25 s: the step's start and end are one read apart
    assert lines_of(stream)[3] == "[1/1] load done in 0.25s"
    assert lines_of(stream)[-1].startswith("run succeeded - 1 of 1 steps executed in ")
    assert re.fullmatch(r"run .* in \d\.\d\ds", lines_of(stream)[-1])


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
        "#  step   status               duration                error",
        "-  -----  -------------------  ----------------------  --------",
        "1  load   rolled back          T + T rollback",
        "2  train  failed, rolled back  T + T rollback  diverged",
        "3  save   not run",
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
        "  rollback failed for load: OSError: locked",
        "run interrupted at 'train' - rolled back 1 step; rollback failed for 'load' in T",
    ]


class FailingUndo(Step):
    def rollback(self, context: BaseStepContext, result: StepResult) -> None:
        raise PermissionError(f"cannot undo {self.name}")


@pytest.mark.parametrize("how", ["in the run", "its own failure", "rollback() of a kept run"])
def test_a_rollback_that_raised_is_never_called_rolled_back(how: str) -> None:
    # The console says what the notebook view's table and the DataFrames say (run_state's
    # words): "rollback failed", with the reason.
    stream = io.StringIO()
    registry = StepRegistry[BaseStepContext]()
    registry.register(FailingUndo("load", 1))
    registry.register(Step("fit", 1))
    if how == "its own failure":
        registry.register(FailingUndo("save", 1, outcome=RuntimeError("disk full")))
        undone = "save"
    else:
        registry.register(Step("save", 1, outcome=RuntimeError("disk full")))
        undone = "load"
    runtime = RuntimeContext(logger=ConsoleLogger(stream, summary=True), clock=ManualClock())
    orchestrator = Orchestrator(registry, BaseStepContext(runtime_ctx=runtime))
    if how == "rollback() of a kept run":
        with contextlib.suppress(RuntimeError):
            orchestrator.execute(on_failure="keep")
        with pytest.raises(RuntimeError, match="rollback failed"):
            orchestrator.rollback()
    else:
        with pytest.raises(RuntimeError, match="disk full"):
            orchestrator.execute()
    lines = lines_of(stream)
    assert f"  rollback failed for {undone}: PermissionError: cannot undo {undone}" in lines
    assert not [line for line in lines if f"rolled back {undone}" in line]
    # The summary table's row for it (the last table printed).
    row = [line for line in lines if line.startswith(f"{1 if undone == 'load' else 3}  ")][-1]
    assert "rollback failed" in row
    assert f"rollback failed: PermissionError: cannot undo {undone}" in row


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


def test_a_console_shared_by_two_runtimes_shows_each_run() -> None:
    """One front end given to two runtimes (two contexts of a notebook) draws each one's run."""
    stream = io.StringIO()
    console = ConsoleLogger(stream)
    first = RuntimeContext(logger=console, clock=ManualClock())
    second = RuntimeContext(logger=console, clock=ManualClock())
    for runtime, name in ((first, "load"), (second, "train")):
        registry = StepRegistry[BaseStepContext]()
        registry.register(Step(name, 1))
        Orchestrator(registry, BaseStepContext(runtime_ctx=runtime)).execute()
    assert lines_of(stream) == [
        "Run: 1 step [load 1]",
        "[1/1] load ...",
        "working: {'step': 'load'}",
        "[1/1] load done in 0.00s",
        "run succeeded - 1 of 1 steps executed in 0.00s",
        "Run: 1 step [train 1]",
        "[1/1] train ...",
        "working: {'step': 'train'}",
        "[1/1] train done in 0.00s",
        "run succeeded - 1 of 1 steps executed in 0.00s",
    ]


def test_a_category_shared_by_two_steps_is_printed_in_each() -> None:
    class Batches(Step):
        def execute(self, context: BaseStepContext) -> StepResult:
            for i in range(1, 3):
                context.set_progress(i, 2, "batches")
            return super().execute(context)

    stream = io.StringIO()
    registry = StepRegistry[BaseStepContext]()
    registry.register(Batches("fit", 1))
    registry.register(Batches("tune", 1))
    runtime = console_runtime(stream, ManualClock(tick=1.0), progress_interval=0)
    Orchestrator(registry, BaseStepContext(runtime_ctx=runtime)).execute()
    progress = [line for line in lines_of(stream) if line.startswith("  batches:")]
    assert progress == ["  batches: 1/2 (50%)", "  batches: 2/2 (100%)"] * 2
