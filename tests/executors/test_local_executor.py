"""The executor seam: ``executor=None`` and ``LocalExecutor`` run in process; others are called."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from synapse_steps import BaseStep, BaseStepContext, Orchestrator, StepRegistry, StepResult
from synapse_steps.actions.train import BaseTrainAction, BaseTrainParams
from synapse_steps.context import RuntimeContext
from synapse_steps.executors import Executor, LocalExecutor


@dataclass
class Ctx(BaseStepContext):
    seen: list[str] | None = None


class Mark(BaseStep[Ctx]):
    name = "mark"
    progress_weight = 1.0

    def execute(self, context: Ctx) -> StepResult:
        context.seen = ["ran"]
        context.set_progress(1, 1)
        return StepResult()


def _registry() -> StepRegistry[Ctx]:
    registry: StepRegistry[Ctx] = StepRegistry()
    registry.register(Mark())
    return registry


def test_local_executor_runs_in_process_like_no_executor() -> None:
    context = Ctx(runtime_ctx=RuntimeContext(display="off"))
    result = Orchestrator(_registry(), context, executor=LocalExecutor()).execute()
    assert result == {"success": True, "steps_executed": 1, "steps_total": 1}
    assert context.seen == ["ran"]
    assert context.runtime_ctx.recorder.run.phase == "succeeded"
    assert isinstance(LocalExecutor(), Executor)


class Elsewhere:
    def __init__(self) -> None:
        self.given: list[Orchestrator[Any]] = []

    def execute(self, orchestrator: Orchestrator[Any]) -> dict[str, Any]:
        self.given.append(orchestrator)
        return {"success": True, "where": "elsewhere"}


def test_an_executor_receives_the_orchestrator_and_its_result_is_returned() -> None:
    context = Ctx(runtime_ctx=RuntimeContext(display="off"))
    executor = Elsewhere()
    orchestrator = Orchestrator(_registry(), context, name="wf", executor=executor)
    assert orchestrator.execute() == {"success": True, "where": "elsewhere"}
    assert executor.given == [orchestrator]
    assert context.seen is None  # nothing ran here
    copy = orchestrator.in_process()
    assert copy.executor is None
    assert copy.name == "wf"
    assert copy.context is context


class Train(BaseTrainAction[BaseTrainParams]):
    def execute(self, context: Any) -> dict[str, Any]:
        return {"loss": 0.5}


@pytest.mark.parametrize("via_dispatch", [False, True])
def test_train_action_passes_its_executor_to_the_orchestrator(via_dispatch: bool) -> None:
    executor = Elsewhere()
    runtime = RuntimeContext(display="off")
    if via_dispatch:
        Train.dispatch({}, runtime, executor=executor)
    else:
        Train(BaseTrainParams(), runtime, executor=executor).run()
    (orchestrator,) = executor.given
    assert orchestrator.name == "Train"
    assert [step.name for step in orchestrator.registry.get_steps()] == ["train", "upload_model"]


def test_train_action_runs_locally_with_the_local_executor() -> None:
    result = Train(BaseTrainParams(), RuntimeContext(display="off"), executor=LocalExecutor()).run()
    assert result["success"]
    assert result["result"] == {"loss": 0.5}
