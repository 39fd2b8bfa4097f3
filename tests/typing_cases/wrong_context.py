"""Steps used with the wrong context: each line marked ``# E: <code>`` must be rejected."""

from __future__ import annotations

from dataclasses import dataclass, field

from synapse_steps.context import RuntimeContext
from synapse_steps.steps import (
    BaseStep,
    BaseStepContext,
    LoggingStep,
    Orchestrator,
    StepRegistry,
    StepResult,
    ValidationStep,
)


@dataclass
class MyContext(BaseStepContext):
    data: list[str] = field(default_factory=list)


@dataclass
class OtherContext(BaseStepContext):
    labels: dict[str, int] = field(default_factory=dict)


class LoadDataStep(BaseStep[MyContext]):
    @property
    def name(self) -> str:
        return "load_data"

    @property
    def progress_weight(self) -> float:
        return 0.3

    def execute(self, context: MyContext) -> StepResult:
        context.data = ["item1"]
        return StepResult()


class ForgetsTheResult(BaseStep[MyContext]):
    @property
    def name(self) -> str:
        return "forgets"

    @property
    def progress_weight(self) -> float:
        return 0.1

    def execute(self, context: MyContext) -> StepResult:  # E: return
        context.data = []


class TouchesAMissingField(BaseStep[MyContext]):
    @property
    def name(self) -> str:
        return "touches"

    @property
    def progress_weight(self) -> float:
        return 0.1

    def execute(self, context: MyContext) -> StepResult:
        context.labels = {}  # E: attr-defined
        return StepResult()


def check_labels(ctx: OtherContext) -> tuple[bool, str | None]:
    return bool(ctx.labels), None


def misuse() -> None:
    runtime = RuntimeContext(display="off")
    other_registry = StepRegistry[OtherContext]()
    other_registry.register(LoadDataStep())  # E: arg-type
    other_registry.insert_before("x", LoggingStep(LoadDataStep()))  # E: arg-type
    other_registry.register(ValidationStep(check_labels))

    my_registry = StepRegistry[MyContext]()
    my_registry.register(LoadDataStep())
    my_registry.register(ValidationStep(check_labels))  # E: arg-type
    Orchestrator(my_registry, OtherContext(runtime_ctx=runtime))  # E: misc
    Orchestrator[MyContext](my_registry, OtherContext(runtime_ctx=runtime))  # E: arg-type
    Orchestrator[OtherContext](my_registry, OtherContext(runtime_ctx=runtime))  # E: arg-type

    # a step that needs MyContext's fields cannot run on the base context
    StepRegistry[BaseStepContext]().register(LoadDataStep())  # E: arg-type

    LoadDataStep().execute(OtherContext(runtime_ctx=runtime))  # E: arg-type
    LoadDataStep().can_skip(BaseStepContext(runtime_ctx=runtime))  # E: arg-type
