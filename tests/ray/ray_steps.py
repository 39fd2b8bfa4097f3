"""Steps, contexts and actions the Ray tests ship to workers (by value, see conftest)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from synapse_steps import BaseStep, BaseStepContext, StepResult
from synapse_steps.actions.train import BaseTrainAction, BaseTrainParams, TrainContext


@dataclass
class WorkCtx(BaseStepContext):
    #: Where rollbacks and the worker leave marks the test reads (same machine).
    marks: str = ""
    total: int = 0
    seen: list[str] = field(default_factory=list)


def mark(context: WorkCtx, text: str) -> None:
    with open(Path(context.marks) / "marks.txt", "a") as handle:
        handle.write(text + "\n")


class Add(BaseStep[WorkCtx]):
    """Adds ``n`` to the total, reporting progress and metrics; pauses ``pause`` s halfway."""

    def __init__(self, name: str, n: int = 5, pause: float = 0.0) -> None:
        self._name = name
        self.n = n
        self.pause = pause

    @property
    def name(self) -> str:
        return self._name

    @property
    def progress_weight(self) -> float:
        return 1.0

    def execute(self, context: WorkCtx) -> StepResult:
        for i in range(self.n):
            context.total += 1
            context.set_progress(i + 1, self.n)
            context.set_metrics({"step": i, "loss": 1.0 / (i + 1)})
            if i == self.n // 2 and self.pause:
                time.sleep(self.pause)
        context.seen.append(self.name)
        context.log("added", {"step": self.name, "pid": os.getpid()})
        return StepResult(data={"total": context.total})

    def rollback(self, context: WorkCtx, result: StepResult) -> None:
        mark(context, f"rollback {self.name} pid={os.getpid()}")


class Boom(BaseStep[WorkCtx]):
    name = "boom"
    progress_weight = 1.0

    def execute(self, context: WorkCtx) -> StepResult:
        raise ValueError("the sensor returned garbage")

    def rollback(self, context: WorkCtx, result: StepResult) -> None:
        mark(context, "rollback boom")


class WeirdError(Exception):
    """An exception class that pickles but cannot be rebuilt from its args (issue 17, item 10)."""

    def __init__(self, code: int, detail: str) -> None:
        super().__init__(f"code {code}: {detail}")
        self.code = code


class Weird(BaseStep[WorkCtx]):
    name = "weird"
    progress_weight = 1.0

    def execute(self, context: WorkCtx) -> StepResult:
        raise WeirdError(7, "the disk said no")

    def rollback(self, context: WorkCtx, result: StepResult) -> None:
        mark(context, "rollback weird")


class Spin(BaseStep[WorkCtx]):
    """Runs Python in a loop until stopped (an interrupt lands between two iterations)."""

    name = "spin"
    progress_weight = 1.0

    def execute(self, context: WorkCtx) -> StepResult:
        context.log("spinning", {"pid": os.getpid()})
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            time.sleep(0.01)
        return StepResult()

    def rollback(self, context: WorkCtx, result: StepResult) -> None:
        mark(context, "rollback spin")


class SweepParams(BaseTrainParams):
    lr: float = 0.1
    epochs: int = 4
    fail: bool = False
    marks: str = ""
    seconds: float = 0.05


class SweepTrain(BaseTrainAction[SweepParams]):
    def execute(self, context: TrainContext) -> dict[str, Any]:
        params = self.params
        loss = 1.0
        for epoch in range(params.epochs):
            time.sleep(params.seconds)
            loss = params.lr / (epoch + 1)
            context.set_progress(epoch + 1, params.epochs)
            context.set_metrics({"epoch": epoch, "loss": loss})
        if params.fail:
            raise RuntimeError(f"diverged at lr={params.lr}")
        return {"loss": loss}
