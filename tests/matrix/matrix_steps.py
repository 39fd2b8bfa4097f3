"""Steps of the executor matrix: they record what they did in the context, so a run's effects
can be compared wherever it executed (on a Ray worker the context comes back by value).

This module travels to Ray workers by value (``cloudpickle.register_pickle_by_value``), as a
notebook's classes do.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from synapse_steps import BaseStep, BaseStepContext, StepResult


@dataclass
class MatrixCtx(BaseStepContext):
    total: int = 0
    done: list[str] = field(default_factory=list)
    undone: list[str] = field(default_factory=list)


class Add(BaseStep[MatrixCtx]):
    """Adds ``amount`` to the context's total, reporting progress, metrics and a log line.

    ``fail``: ``"raise"`` (an exception), ``"result"`` (``success=False``), ``"interrupt"``
    (``KeyboardInterrupt`` raised by the step itself), ``"wait"`` (spins until interrupted from
    outside: the stop button), ``"skip"`` (``can_skip`` says yes), ``"interrupt-in-can-skip"``
    (``KeyboardInterrupt`` raised by ``can_skip``).
    """

    def __init__(self, name: str, amount: int, fail: str | None = None, weight: float = 1.0):
        self._name = name
        self.amount = amount
        self.fail = fail
        self.weight = weight

    @property
    def name(self) -> str:
        return self._name

    @property
    def progress_weight(self) -> float:
        return self.weight

    def can_skip(self, context: MatrixCtx) -> bool:
        if self.fail == "interrupt-in-can-skip":
            raise KeyboardInterrupt
        return self.fail == "skip"

    def execute(self, context: MatrixCtx) -> StepResult:
        context.log("adding", {"step": self._name, "amount": self.amount})
        for i in range(1, 5):
            context.set_progress(i, 4)
        context.total += self.amount
        context.done.append(self._name)
        context.set_metrics({"total": context.total, "step": len(context.done)}, "totals")
        if self.fail == "raise":
            raise ValueError(f"{self._name} broke")
        if self.fail == "result":
            return StepResult(success=False, error=f"{self._name} said no")
        if self.fail == "interrupt":
            raise KeyboardInterrupt
        if self.fail == "wait":
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:  # the stop button lands here
                time.sleep(0.01)
            return StepResult(success=False, error="was never interrupted")
        return StepResult(
            data={"total": context.total, "frame": list(range(50_000))},
            rollback_data={"amount": self.amount, "name": self._name},
        )

    def rollback(self, context: MatrixCtx, result: StepResult) -> None:
        context.total -= result.rollback_data.get("amount", 0)
        context.undone.append(self._name)


class WhereAmI(BaseStep[MatrixCtx]):
    """Logs the Ray node it runs on; asks for ``ray_resources`` when given."""

    name = "where"
    progress_weight = 1.0

    def __init__(self, resources: dict[str, Any] | None = None) -> None:
        if resources is not None:
            self.ray_resources = resources

    def execute(self, context: MatrixCtx) -> StepResult:
        import ray

        context.log("node", {"id": ray.get_runtime_context().get_node_id()})
        return StepResult()
