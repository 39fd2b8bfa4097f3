"""The executor seam: ``executor=None`` and ``LocalExecutor`` run in process; others are given a
plain ``RunRequest`` and a place to publish its records."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from synapse_steps import BaseStep, BaseStepContext, Orchestrator, StepRegistry, StepResult
from synapse_steps.actions.train import BaseTrainAction, BaseTrainParams
from synapse_steps.context import RuntimeContext
from synapse_steps.executors import Executor, LocalExecutor, RunOutcome, RunRequest


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
        self.given: list[RunRequest[Any]] = []

    def run(self, request: RunRequest[Any], publish: Any) -> RunOutcome:
        self.given.append(request)
        return RunOutcome("succeeded", result={"success": True, "where": "elsewhere"})


def test_an_executor_receives_a_plain_request_and_its_result_is_returned() -> None:
    context = Ctx(runtime_ctx=RuntimeContext(display="off"))
    executor = Elsewhere()
    orchestrator = Orchestrator(_registry(), context, name="wf", executor=executor, journal=False)
    assert orchestrator.execute() == {"success": True, "where": "elsewhere"}
    (request,) = executor.given
    assert (request.workflow, request.on_failure, request.start, request.action) == (
        "wf",
        "rollback",
        0,
        "execute",
    )
    assert [step.name for step in request.steps] == ["mark"]
    assert request.context is context
    assert request.journal is False
    assert context.seen is None  # nothing ran here


def test_an_executor_without_run_is_refused_when_the_orchestrator_is_made() -> None:
    class Old:
        def execute(self, orchestrator: Any) -> dict[str, Any]:
            return {}

    context = Ctx(runtime_ctx=RuntimeContext(display="off"))
    with pytest.raises(TypeError, match=r"executor must have a run\(request, publish\) method"):
        Orchestrator(_registry(), context, executor=Old())  # type: ignore[arg-type]


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
    (request,) = executor.given
    assert request.workflow == "Train"
    assert [step.name for step in request.steps] == ["train", "upload_model"]


def test_train_action_runs_locally_with_the_local_executor() -> None:
    result = Train(BaseTrainParams(), RuntimeContext(display="off"), executor=LocalExecutor()).run()
    assert result["success"]
    assert result["result"] == {"loss": 0.5}
