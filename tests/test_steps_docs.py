"""Every example of the Steps & Workflow documentation, run with exact expected values.

The step classes are the documentation's, with the import prefix ``synapse_sdk.plugins`` replaced
by ``synapse_steps``. Where the documentation leaves a class out (``ProcessStep``, ``SaveStep``,
``ValidateStep``, ``AuditStep``) or abbreviates one (``Step1``..``Step3`` have no ``name``), the
smallest completion is written here. ``CreateFilesStep`` writes into a directory it is given
instead of ``/tmp`` so the test owns its files.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from synapse_steps.clock import Clock
from synapse_steps.context import RuntimeContext
from synapse_steps.recorder import Recorder
from synapse_steps.steps import (
    BaseStep,
    BaseStepContext,
    LoggingStep,
    Orchestrator,
    StepRegistry,
    StepResult,
    TimingStep,
    ValidationStep,
)

# -- the documentation's context and steps ------------------------------------------------------


@dataclass
class MyContext(BaseStepContext):
    """Custom context."""

    data: list[str] = field(default_factory=list)
    processed_count: int = 0


class LoadDataStep(BaseStep[MyContext]):
    """Data loading step."""

    @property
    def name(self) -> str:
        return "load_data"

    @property
    def progress_weight(self) -> float:
        return 0.3  # 30% of total progress

    def execute(self, context: MyContext) -> StepResult:
        # Update progress (automatically uses 'load_data' as category)
        context.set_progress(0, 100)

        # Load data logic
        context.data = ["item1", "item2", "item3"]

        context.set_progress(100, 100)
        return StepResult(success=True, data={"count": len(context.data)})


class CreateFilesStep(BaseStep[MyContext]):
    """File creation step (with rollback support)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @property
    def name(self) -> str:
        return "create_files"

    @property
    def progress_weight(self) -> float:
        return 0.2

    def execute(self, context: MyContext) -> StepResult:
        created_files = []

        for item in context.data:
            path = self.directory / f"{item}.txt"
            path.write_text(item)
            created_files.append(str(path))

        # Store info needed for rollback
        return StepResult(
            success=True,
            data={"files": created_files},
            rollback_data={"created_files": created_files},
        )

    def rollback(self, context: MyContext, result: StepResult) -> None:
        """Delete created files."""
        for file_path in result.rollback_data.get("created_files", []):
            Path(file_path).unlink(missing_ok=True)
        context.log(
            "rollback",
            {
                "step": self.name,
                "files_removed": len(result.rollback_data.get("created_files", [])),
            },
        )


class CacheStep(BaseStep[MyContext]):
    """Cache loading step (skip if cache exists)."""

    @property
    def name(self) -> str:
        return "load_cache"

    @property
    def progress_weight(self) -> float:
        return 0.1

    def can_skip(self, context: MyContext) -> bool:
        # Skip if data already loaded
        return len(context.data) > 0

    def execute(self, context: MyContext) -> StepResult:
        context.data = ["cached_item1", "cached_item2"]
        return StepResult(success=True)


class _NamedStep(BaseStep[MyContext]):
    """Completion of the steps the documentation only names."""

    step_name = ""
    weight = 0.1

    @property
    def name(self) -> str:
        return self.step_name

    @property
    def progress_weight(self) -> float:
        return self.weight

    def execute(self, context: MyContext) -> StepResult:
        context.log(self.step_name, {})
        return StepResult(success=True)


class ProcessStep(_NamedStep):
    step_name = "process"
    weight = 0.5

    def execute(self, context: MyContext) -> StepResult:
        context.processed_count = len(context.data)
        return StepResult(success=True, data={"processed": context.processed_count})


class SaveStep(_NamedStep):
    step_name = "save"


class ValidateStep(_NamedStep):
    step_name = "validate"
    weight = 0.05


class AuditStep(_NamedStep):
    step_name = "audit"
    weight = 0.05


class FailingStep(_NamedStep):
    step_name = "fail"

    def execute(self, context: MyContext) -> StepResult:
        return StepResult(success=False, error="disk full")


def quiet_context(logger: Any = None) -> MyContext:
    runtime = RuntimeContext(display="off") if logger is None else RuntimeContext(logger=logger)
    return MyContext(runtime_ctx=runtime)


# -- Creating steps / Building workflows ---------------------------------------------------------


def test_basic_workflow_result_is_exactly_as_documented(tmp_path: Path) -> None:
    context = quiet_context()
    registry = StepRegistry[MyContext]()
    registry.register(LoadDataStep())
    registry.register(CreateFilesStep(tmp_path))
    registry.register(ProcessStep())

    result = Orchestrator(registry, context).execute()

    assert result == {"success": True, "steps_executed": 3, "steps_total": 3}
    assert context.data == ["item1", "item2", "item3"]
    assert context.processed_count == 3
    assert [r.data for r in context.step_results] == [
        {"count": 3},
        {"files": [str(tmp_path / f"item{i}.txt") for i in (1, 2, 3)]},
        {"processed": 3},
    ]
    assert all(r.success and not r.skipped for r in context.step_results)
    assert context.errors == []
    assert context.current_step is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["item1.txt", "item2.txt", "item3.txt"]


def test_basic_workflow_prints_the_result_dict(tmp_path: Path, capsys: Any) -> None:
    context = quiet_context()
    registry = StepRegistry[MyContext]()
    registry.register(LoadDataStep())
    registry.register(CreateFilesStep(tmp_path))
    registry.register(ProcessStep())
    orchestrator = Orchestrator(registry, context)
    result = orchestrator.execute()

    print(result)

    assert capsys.readouterr().out == "{'success': True, 'steps_executed': 3, 'steps_total': 3}\n"


def test_load_data_progress_uses_the_step_name_as_category(list_logger: Any) -> None:
    context = quiet_context(list_logger)
    registry = StepRegistry[MyContext]()
    registry.register(LoadDataStep())

    Orchestrator(registry, context).execute()

    assert list_logger.calls == [
        ("set_progress", 0, 100, "load_data"),
        ("set_progress", 100, 100, "load_data"),
    ]


def test_create_files_rollback_removes_real_files_when_a_later_step_fails(
    tmp_path: Path, list_logger: Any
) -> None:
    context = quiet_context(list_logger)
    registry = StepRegistry[MyContext]()
    registry.register(LoadDataStep())
    registry.register(CreateFilesStep(tmp_path))
    files_seen_by_failing_step: list[str] = []

    class LookThenFail(FailingStep):
        def execute(self, context: MyContext) -> StepResult:
            files_seen_by_failing_step.extend(sorted(p.name for p in tmp_path.iterdir()))
            return super().execute(context)

    registry.register(LookThenFail())

    with pytest.raises(RuntimeError, match=r"^Step 'fail' failed: disk full$"):
        Orchestrator(registry, context).execute()

    assert files_seen_by_failing_step == ["item1.txt", "item2.txt", "item3.txt"]
    assert list(tmp_path.iterdir()) == []
    assert list_logger.events() == [("rollback", {"step": "create_files", "files_removed": 3})]
    assert context.errors == ["Step 'fail' failed: disk full"]
    assert [(r.success, r.error) for r in context.step_results] == [
        (True, None),
        (True, None),
        (False, "disk full"),
    ]


def test_create_files_rollback_is_idempotent(tmp_path: Path) -> None:
    context = quiet_context()
    context.data = ["a"]
    step = CreateFilesStep(tmp_path)
    result = step.execute(context)
    step.rollback(context, result)
    step.rollback(context, result)  # the documented best practice: safe to call twice
    assert list(tmp_path.iterdir()) == []


def test_cache_step_is_skipped_when_data_is_present(hook_logger: Any) -> None:
    context = quiet_context(hook_logger)
    registry = StepRegistry[MyContext]()
    registry.register(LoadDataStep())
    registry.register(CacheStep())
    registry.register(FailingStep())
    progress: list[tuple[int, int]] = []

    with pytest.raises(RuntimeError, match=r"^Step 'fail' failed: disk full$"):
        Orchestrator(registry, context, lambda c, t: progress.append((c, t))).execute()

    skipped = context.step_results[1]
    assert skipped.skipped is True
    assert skipped.success is True
    assert skipped.data == {}
    assert skipped.error is None
    assert context.data == ["item1", "item2", "item3"]  # CacheStep.execute never ran
    # weights 0.3, 0.1, 0.1: the skip advances progress from 60 to 80
    assert progress == [(60, 100), (80, 100)]
    rolled_back = [r.name for r in hook_logger.records if type(r).__name__ == "StepRolledBack"]
    assert rolled_back == ["fail", "load_data"]


def test_cache_step_runs_when_no_data() -> None:
    context = quiet_context()
    registry = StepRegistry[MyContext]()
    registry.register(CacheStep())

    assert Orchestrator(registry, context).execute() == {
        "success": True,
        "steps_executed": 1,
        "steps_total": 1,
    }
    assert context.data == ["cached_item1", "cached_item2"]
    assert context.step_results[0].skipped is False


def test_skipped_step_counts_in_steps_total_but_not_steps_executed() -> None:
    context = quiet_context()
    registry = StepRegistry[MyContext]()
    registry.register(LoadDataStep())
    registry.register(CacheStep())
    registry.register(ProcessStep())

    result = Orchestrator(registry, context).execute()

    assert result == {"success": True, "steps_executed": 2, "steps_total": 3}
    assert [r.skipped for r in context.step_results] == [False, True, False]


def test_dynamic_insertion_order_is_as_documented(list_logger: Any) -> None:
    registry = StepRegistry[MyContext]()
    registry.register(LoadDataStep())
    registry.register(ProcessStep())
    registry.register(SaveStep())

    # Insert validation step before 'process'
    registry.insert_before("process", ValidateStep())

    # Insert audit step after 'process'
    registry.insert_after("process", AuditStep())

    # Execution order: load_data -> validate -> process -> audit -> save
    assert [s.name for s in registry.get_steps()] == [
        "load_data",
        "validate",
        "process",
        "audit",
        "save",
    ]
    context = quiet_context(list_logger)
    Orchestrator(registry, context).execute()
    assert [e for e, _ in list_logger.events()] == ["validate", "audit", "save"]


def test_logged_workflow_and_insert_before_prefixed_name(list_logger: Any) -> None:
    registry = StepRegistry[MyContext]()
    registry.register(LoggingStep(LoadDataStep()))
    registry.register(LoggingStep(ProcessStep()))
    registry.register(LoggingStep(SaveStep()))
    assert [s.name for s in registry.get_steps()] == [
        "logged_load_data",
        "logged_process",
        "logged_save",
    ]

    registry.insert_before("logged_process", ValidateStep())

    assert [s.name for s in registry.get_steps()] == [
        "logged_load_data",
        "validate",
        "logged_process",
        "logged_save",
    ]
    with pytest.raises(ValueError, match="'process'"):
        registry.insert_before("process", AuditStep())

    context = quiet_context(list_logger)
    assert Orchestrator(registry, context).execute() == {
        "success": True,
        "steps_executed": 4,
        "steps_total": 4,
    }
    events = [(e, d["step"] if e.startswith("step_") else None) for e, d in list_logger.events()]
    assert events == [
        ("step_start", "load_data"),
        ("step_end", "load_data"),
        ("validate", None),
        ("step_start", "process"),
        ("step_end", "process"),
        ("step_start", "save"),
        ("save", None),
        ("step_end", "save"),
    ]


def _three_step_registry(tmp_path: Path) -> StepRegistry[MyContext]:
    registry = StepRegistry[MyContext]()
    registry.register(LoadDataStep())
    registry.register(CreateFilesStep(tmp_path))
    registry.register(ProcessStep())
    return registry


def test_progress_callback_output_is_exactly_as_documented(tmp_path: Path, capsys: Any) -> None:
    registry = _three_step_registry(tmp_path)
    context = quiet_context()

    def on_progress(current: int, total: int) -> None:
        print(f"Progress: {current}/{total}%")

    orchestrator = Orchestrator(
        registry=registry,
        context=context,
        progress_callback=on_progress,
    )
    orchestrator.execute()

    assert capsys.readouterr().out == ("Progress: 30/100%\nProgress: 50/100%\nProgress: 100/100%\n")


def test_progress_callback_lines_in_order_with_the_default_console_display(
    tmp_path: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SYNAPSE_STEPS_DISPLAY", raising=False)
    registry = _three_step_registry(tmp_path)
    context = MyContext(runtime_ctx=RuntimeContext())

    Orchestrator(registry, context, lambda c, t: print(f"Progress: {c}/{t}%")).execute()

    lines = capsys.readouterr().out.splitlines()
    assert [x for x in lines if x.startswith("Progress:")] == [
        "Progress: 30/100%",
        "Progress: 50/100%",
        "Progress: 100/100%",
    ]
    assert lines[0] == "Run: 3 steps [load_data 0.3, create_files 0.2, process 0.5]"
    assert lines[-1].startswith("run succeeded - 3 of 3 steps executed in ")


def test_weight_based_progress_20_90_100() -> None:
    steps = []
    for step_name, weight in (("load", 0.2), ("train", 0.7), ("save", 0.1)):
        step = _NamedStep()
        step.step_name, step.weight = step_name, weight
        steps.append(step)
    registry = StepRegistry[MyContext]()
    for step in steps:
        registry.register(step)
    progress: list[tuple[int, int]] = []

    Orchestrator(registry, quiet_context(), lambda c, t: progress.append((c, t))).execute()

    assert progress == [(20, 100), (90, 100), (100, 100)]


# -- Error handling & rollback --------------------------------------------------------------------


class Step1(BaseStep[MyContext]):
    @property
    def name(self) -> str:
        return "step1"

    @property
    def progress_weight(self) -> float:
        return 0.3

    def execute(self, context: MyContext) -> StepResult:
        context.log("step1", {"action": "created resource A"})
        return StepResult(success=True, rollback_data={"resource": "A"})

    def rollback(self, context: MyContext, result: StepResult) -> None:
        resource = result.rollback_data.get("resource")
        context.log("rollback", {"action": f"deleted resource {resource}"})


class Step2(BaseStep[MyContext]):
    @property
    def name(self) -> str:
        return "step2"

    @property
    def progress_weight(self) -> float:
        return 0.3

    def execute(self, context: MyContext) -> StepResult:
        context.log("step2", {"action": "created resource B"})
        return StepResult(success=True, rollback_data={"resource": "B"})

    def rollback(self, context: MyContext, result: StepResult) -> None:
        resource = result.rollback_data.get("resource")
        context.log("rollback", {"action": f"deleted resource {resource}"})


class Step3(BaseStep[MyContext]):
    @property
    def name(self) -> str:
        return "step3"

    @property
    def progress_weight(self) -> float:
        return 0.4

    def execute(self, context: MyContext) -> StepResult:
        # Failure!
        return StepResult(success=False, error="Something went wrong")


def _rollback_registry() -> StepRegistry[MyContext]:
    registry = StepRegistry[MyContext]()
    registry.register(Step1())
    registry.register(Step2())
    registry.register(Step3())
    return registry


def test_automatic_rollback_log_order_and_error_text(list_logger: Any) -> None:
    context = quiet_context(list_logger)

    with pytest.raises(RuntimeError) as raised:
        Orchestrator(_rollback_registry(), context).execute()

    assert str(raised.value) == "Step 'step3' failed: Something went wrong"
    assert raised.value.__cause__ is None  # a failed result, not an exception
    assert list_logger.events() == [
        ("step1", {"action": "created resource A"}),
        ("step2", {"action": "created resource B"}),
        ("rollback", {"action": "deleted resource B"}),
        ("rollback", {"action": "deleted resource A"}),
    ]
    assert context.errors == ["Step 'step3' failed: Something went wrong"]
    assert context.current_step is None


def test_automatic_rollback_console_output(capsys: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SYNAPSE_STEPS_DISPLAY", raising=False)
    context = MyContext(runtime_ctx=RuntimeContext())

    with pytest.raises(RuntimeError, match=r"^Step 'step3' failed: Something went wrong$"):
        Orchestrator(_rollback_registry(), context).execute()

    lines = capsys.readouterr().out.splitlines()
    documented = [
        "step1: {'action': 'created resource A'}",
        "step2: {'action': 'created resource B'}",
        "[3/3] step3 FAILED: Something went wrong",
        "rollback: {'action': 'deleted resource B'}",
        "rollback: {'action': 'deleted resource A'}",
    ]
    assert [line for line in lines if line in documented] == documented


class RiskyStep(BaseStep[MyContext]):
    @property
    def name(self) -> str:
        return "risky"

    @property
    def progress_weight(self) -> float:
        return 0.5

    def execute(self, context: MyContext) -> StepResult:
        # Exception automatically converted to failure
        raise ValueError("Invalid input")


def test_exception_is_converted_to_a_failed_result(list_logger: Any) -> None:
    context = quiet_context(list_logger)
    registry = StepRegistry[MyContext]()
    registry.register(Step1())
    registry.register(RiskyStep())

    with pytest.raises(RuntimeError) as raised:
        Orchestrator(registry, context).execute()

    failed = context.step_results[-1]
    assert failed == StepResult(success=False, error="Invalid input", timestamp=failed.timestamp)
    assert (failed.success, failed.error, failed.data, failed.rollback_data, failed.skipped) == (
        False,
        "Invalid input",
        {},
        {},
        False,
    )
    assert isinstance(failed.exception, ValueError)
    assert str(failed.exception) == "Invalid input"
    assert failed.traceback is not None
    assert failed.traceback.splitlines()[-1] == "ValueError: Invalid input"
    assert 'raise ValueError("Invalid input")' in failed.traceback
    # then rollback proceeds
    assert list_logger.events()[-1] == ("rollback", {"action": "deleted resource A"})
    error = raised.value
    assert isinstance(error, RuntimeError)
    assert str(error) == "Step 'risky' failed: Invalid input"
    assert error.__cause__ is failed.exception
    formatted = "".join(traceback.format_exception(error))
    assert "The above exception was the direct cause of the following exception" in formatted


# -- Built-in step utilities ----------------------------------------------------------------------


class StoppedClock(Clock):
    """A runtime clock that moves only when a step takes time (see ``taking``)."""

    def __init__(self, t: float = 0.0) -> None:
        self.t = t

    def now(self) -> float:
        return self.t

    def wall(self) -> float:
        return 1_700_000_000.0 + self.t


def taking(step_class: type[Any], seconds: float, clock: StoppedClock) -> Any:
    """An instance of ``step_class`` whose ``execute`` takes ``seconds`` of ``clock``'s time."""

    class Taking(step_class):  # type: ignore[misc, valid-type]
        def execute(self, context: MyContext) -> StepResult:
            clock.t += seconds
            return super().execute(context)  # type: ignore[no-any-return]

    return Taking()


def test_logging_step_console_lines_as_documented(
    capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SYNAPSE_STEPS_DISPLAY", raising=False)
    clock = StoppedClock(10.0)
    context = MyContext(runtime_ctx=RuntimeContext(clock=clock))
    registry = StepRegistry[MyContext]()

    # Wrap existing step with logging
    logged_step = LoggingStep(taking(ProcessStep, 1.234, clock))
    registry.register(logged_step)
    Orchestrator(registry, context).execute()

    lines = capsys.readouterr().out.splitlines()
    assert "step_start: {'step': 'process'}" in lines
    assert (
        "step_end: {'step': 'process', 'elapsed': 1.234, 'success': True, 'skipped': False}"
        in lines
    )
    assert lines.index("step_start: {'step': 'process'}") + 1 == lines.index(
        "step_end: {'step': 'process', 'elapsed': 1.234, 'success': True, 'skipped': False}"
    )


def test_logging_step_events_on_failure_by_exception_and_rollback(list_logger: Any) -> None:
    clock = StoppedClock(1.0)
    context = MyContext(runtime_ctx=RuntimeContext(logger=list_logger, clock=clock))
    registry = StepRegistry[MyContext]()
    registry.register(LoggingStep(taking(Step1, 0.5, clock)))
    registry.register(LoggingStep(taking(RiskyStep, 0.25, clock)))

    with pytest.raises(RuntimeError, match=r"^Step 'logged_risky' failed: Invalid input$"):
        Orchestrator(registry, context).execute()

    assert list_logger.events() == [
        ("step_start", {"step": "step1"}),
        ("step1", {"action": "created resource A"}),
        ("step_end", {"step": "step1", "elapsed": 0.5, "success": True, "skipped": False}),
        ("step_start", {"step": "risky"}),
        ("step_end", {"step": "risky", "elapsed": 0.25, "success": False, "skipped": False}),
        ("step_rollback", {"step": "risky"}),
        ("step_rollback", {"step": "step1"}),
        ("rollback", {"action": "deleted resource A"}),
    ]


def test_timing_step_adds_duration_seconds() -> None:
    clock = StoppedClock(100.0)
    context = MyContext(runtime_ctx=RuntimeContext(display="off", clock=clock))
    registry = StepRegistry[MyContext]()

    timed_step = TimingStep(taking(ProcessStep, 2.5, clock))
    registry.register(timed_step)
    Orchestrator(registry, context).execute()

    assert timed_step.name == "timed_process"
    assert timed_step.progress_weight == 0.5
    assert context.step_results[-1].data == {"processed": 0, "duration_seconds": 2.5}


def check_data_loaded(ctx: MyContext) -> tuple[bool, str | None]:
    """Validate data is loaded."""
    if not ctx.data:
        return False, "No data loaded"
    return True, None


def test_validation_step_as_documented() -> None:
    validation = ValidationStep(
        validator=check_data_loaded,
        name="validate_data",
        progress_weight=0.05,
    )
    assert (validation.name, validation.progress_weight) == ("validate_data", 0.05)

    ok_registry = StepRegistry[MyContext]()
    ok_registry.register(LoadDataStep())
    ok_registry.register(validation)
    ok_context = quiet_context()
    assert Orchestrator(ok_registry, ok_context).execute()["steps_executed"] == 2
    assert ok_context.step_results[-1].success is True
    assert ok_context.step_results[-1].error is None

    failing_registry = StepRegistry[MyContext]()
    failing_registry.register(validation)
    failing_context = quiet_context()
    with pytest.raises(RuntimeError, match=r"^Step 'validate_data' failed: No data loaded$"):
        Orchestrator(failing_registry, failing_context).execute()
    assert failing_context.step_results[0].success is False
    assert failing_context.step_results[0].error == "No data loaded"


def test_validation_step_defaults() -> None:
    validation = ValidationStep(check_data_loaded)
    assert validation.name == "validate"
    assert validation.progress_weight == 0.05


def test_rerunning_the_rollback_example_records_two_separate_runs() -> None:
    """Re-running a cell: the recorder keeps each run apart, nothing counted twice."""
    recorder = Recorder()
    context = quiet_context(recorder)
    for _ in range(2):
        with pytest.raises(RuntimeError):
            Orchestrator(_rollback_registry(), context).execute()
    assert [run.outcome() for run in recorder.runs] == [
        "failed at 'step3' - rolled back 3 steps",
        "failed at 'step3' - rolled back 3 steps",
    ]
    assert [run.run_id for run in recorder.runs] == [
        recorder.runs[0].run_id,
        recorder.runs[0].run_id + 1,
    ]
    assert [e.run_id for e in recorder.events] == [recorder.runs[0].run_id] * 4 + [
        recorder.runs[1].run_id
    ] * 4
    assert repr(recorder) == (
        "<Recorder: 8 events, last run failed at 'step3' - rolled back 3 steps, 0 metric points>"
    )
