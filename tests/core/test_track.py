"""``context.track(iterable)``: progress from wrapping a loop, like tqdm."""

from __future__ import annotations

from typing import Any

import pytest

from synapse_steps import RuntimeContext, UsageError
from synapse_steps.steps import BaseStep, BaseStepContext, Orchestrator, StepRegistry, StepResult
from synapse_steps.steps.context import TRACK_UPDATES


class Plain:
    def __init__(self) -> None:
        self.progress: list[tuple[Any, ...]] = []

    def log(self, *args: Any) -> None: ...

    def set_metrics(self, *args: Any) -> None: ...

    def set_progress(self, current: int, total: int, category: str | None = None) -> None:
        self.progress.append((current, total, category))


class Loop(BaseStep[BaseStepContext]):
    def __init__(self, items: Any, **track: Any) -> None:
        self.items, self.track, self.seen = items, track, []

    @property
    def name(self) -> str:
        return "loop"

    @property
    def progress_weight(self) -> float:
        return 1.0

    def execute(self, context: BaseStepContext) -> StepResult:
        for item in context.track(self.items, **self.track):
            self.seen.append(item)
        return StepResult()


def run(step: Loop) -> Plain:
    plain = Plain()
    registry = StepRegistry[BaseStepContext]()
    registry.register(step)
    context = BaseStepContext(runtime_ctx=RuntimeContext(logger=plain))
    Orchestrator(registry, context, journal=False).execute()
    return plain


@pytest.mark.parametrize("n", [0, 1, 7, 200, 1001, 100_000])
def test_every_item_passes_and_progress_ends_at_the_total(n: int) -> None:
    step = Loop(range(n))
    plain = run(step)
    assert step.seen == list(range(n))
    assert plain.progress[0] == (0, n, "loop")
    assert plain.progress[-1] == (n, n, "loop")
    assert len(plain.progress) <= TRACK_UPDATES + 2
    values = [current for current, _, _ in plain.progress]
    assert values == sorted(values)


def test_an_iterator_needs_a_total_and_says_so() -> None:
    with pytest.raises(UsageError, match=r"track\(\) needs total= .* got generator"):
        BaseStepContext(runtime_ctx=RuntimeContext(display="off")).track(x for x in range(3))
    step = Loop(iter(range(5)), total=5, category="batches")
    plain = run(step)
    assert plain.progress[-1] == (5, 5, "batches")
