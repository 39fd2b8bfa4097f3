"""The documentation's typed steps and context: must pass ``mypy --strict`` with no error."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from synapse_steps.context import RuntimeContext
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


@dataclass
class MyContext(BaseStepContext):
    """Custom context."""

    data: list[str] = field(default_factory=list)
    processed_count: int = 0


class LoadDataStep(BaseStep[MyContext]):
    @property
    def name(self) -> str:
        return "load_data"

    @property
    def progress_weight(self) -> float:
        return 0.3

    def execute(self, context: MyContext) -> StepResult:
        context.set_progress(0, 100)
        context.data = ["item1", "item2", "item3"]
        context.set_progress(100, 100)
        return StepResult(success=True, data={"count": len(context.data)})


class CreateFilesStep(BaseStep[MyContext]):
    @property
    def name(self) -> str:
        return "create_files"

    @property
    def progress_weight(self) -> float:
        return 0.2

    def execute(self, context: MyContext) -> StepResult:
        created_files = []
        for item in context.data:
            path = Path(f"/tmp/{item}.txt")
            path.write_text(item)
            created_files.append(str(path))
        return StepResult(
            success=True,
            data={"files": created_files},
            rollback_data={"created_files": created_files},
        )

    def rollback(self, context: MyContext, result: StepResult) -> None:
        for file_path in result.rollback_data.get("created_files", []):
            Path(file_path).unlink(missing_ok=True)
        context.log("rollback", {"step": self.name})


class CacheStep(BaseStep[MyContext]):
    @property
    def name(self) -> str:
        return "load_cache"

    @property
    def progress_weight(self) -> float:
        return 0.1

    def can_skip(self, context: MyContext) -> bool:
        return len(context.data) > 0

    def execute(self, context: MyContext) -> StepResult:
        context.data = ["cached_item1", "cached_item2"]
        context.processed_count += 1
        return StepResult(success=True)


def check_data_loaded(ctx: MyContext) -> tuple[bool, str | None]:
    if not ctx.data:
        return False, "No data loaded"
    return True, None


def on_progress(current: int, total: int) -> None:
    print(f"Progress: {current}/{total}%")


def build(runtime_ctx: RuntimeContext) -> dict[str, Any]:
    context = MyContext(runtime_ctx=runtime_ctx)
    registry = StepRegistry[MyContext]()
    registry.register(LoadDataStep())
    registry.register(LoggingStep(CreateFilesStep()))
    registry.register(TimingStep(LoggingStep(CacheStep())))
    registry.insert_before(
        "logged_create_files",
        ValidationStep(validator=check_data_loaded, name="validate_data", progress_weight=0.05),
    )
    registry.insert_after("load_data", ValidationStep(check_data_loaded))
    steps: list[BaseStep[MyContext]] = registry.get_steps()
    assert len(steps) == len(registry)
    weight: float = registry.total_weight
    assert weight > 0
    orchestrator = Orchestrator(registry=registry, context=context, progress_callback=on_progress)
    result: dict[str, Any] = orchestrator.execute()
    last: StepResult = context.step_results[-1]
    current: str | None = context.current_step
    assert last.success or current is None
    return result


def generic_step_on_base_context() -> None:
    class Anywhere(BaseStep[BaseStepContext]):
        @property
        def name(self) -> str:
            return "anywhere"

        @property
        def progress_weight(self) -> float:
            return 1.0

        def execute(self, context: BaseStepContext) -> StepResult:
            context.log("hi", {})
            return StepResult()

    registry = StepRegistry[BaseStepContext]()
    registry.register(Anywhere())
    Orchestrator(registry, BaseStepContext(runtime_ctx=RuntimeContext(display="off"))).execute()

    # A step written for the base context runs in a registry of any context subclass.
    typed = StepRegistry[MyContext]()
    typed.register(Anywhere())
    typed.register(LoggingStep(Anywhere()))
    typed.register(TimingStep(LoggingStep(LoadDataStep())))

    def has_runtime(ctx: BaseStepContext) -> tuple[bool, str | None]:
        return ctx.runtime_ctx is not None, None

    typed.register(ValidationStep(has_runtime, name="has_runtime"))
