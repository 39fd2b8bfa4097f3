"""Helpers of the display tests: a manual clock, configurable steps, a run function."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Any

from synapse_steps.clock import Clock as RuntimeClock
from synapse_steps.context import RuntimeContext
from synapse_steps.steps import BaseStep, BaseStepContext, Orchestrator, StepRegistry, StepResult


class Clock(RuntimeClock):
    """A runtime clock that moves only when told to (``RuntimeContext(clock=...)``).

    ``now()`` (monotonic) starts at ``t``; ``wall()`` (epoch seconds) at ``wall_t``; ``advance``
    moves both.
    """

    def __init__(self, start: float = 100.0) -> None:
        self.t = start
        self.wall_t = 1_700_000_000.0

    def now(self) -> float:
        return self.t

    def wall(self) -> float:
        return self.wall_t

    def advance(self, seconds: float) -> None:
        self.t += seconds
        self.wall_t += seconds

    def runtime(self, logger: Any) -> RuntimeContext:
        """A runtime reading this clock, with ``logger`` (one or a list) as its front end."""
        return RuntimeContext(logger=logger, clock=self)


@dataclass
class Journal:
    """What steps did, shared by the steps of one test."""

    rolled_back: list[str] = field(default_factory=list)


class Step(BaseStep[BaseStepContext]):
    """A step whose behaviour is set by arguments.

    Reports ``ticks`` progress calls (spending ``seconds`` on the test clock in total), and with
    ``metrics`` one ``{'loss', 'epoch'}`` per tick; then fails (``error``), raises (``raises``),
    is interrupted (``interrupt``) or succeeds. ``rollback_error`` makes its rollback raise.
    """

    def __init__(
        self,
        name: str,
        weight: float,
        *,
        clock: Clock | None = None,
        journal: Journal | None = None,
        ticks: int = 4,
        seconds: float = 0.0,
        metrics: bool = False,
        category: str | None = None,
        error: str | None = None,
        raises: BaseException | None = None,
        interrupt: bool = False,
        skip: bool = False,
        rollback_error: str | None = None,
    ) -> None:
        self._name = name
        self._weight = weight
        self.clock = clock
        self.journal = journal if journal is not None else Journal()
        self.ticks = ticks
        self.seconds = seconds
        self.metrics = metrics
        self.category = category
        self.error = error
        self.raises = raises
        self.interrupt = interrupt
        self.skip = skip
        self.rollback_error = rollback_error

    @property
    def name(self) -> str:
        return self._name

    @property
    def progress_weight(self) -> float:
        return self._weight

    def can_skip(self, context: BaseStepContext) -> bool:
        return self.skip

    def execute(self, context: BaseStepContext) -> StepResult:
        for tick in range(1, self.ticks + 1):
            if self.clock is not None:
                self.clock.advance(self.seconds / self.ticks)
            context.set_progress(tick, self.ticks, self.category)
            if self.metrics:
                context.set_metrics({"loss": 1.0 / tick, "epoch": tick})
        if self.interrupt:
            raise KeyboardInterrupt
        if self.raises is not None:
            raise self.raises
        if self.error is not None:
            return StepResult(success=False, error=self.error)
        return StepResult(data={"ticks": self.ticks})

    def rollback(self, context: BaseStepContext, result: StepResult) -> None:
        context.log("rollback", {"step": self.name})
        self.journal.rolled_back.append(self.name)
        if self.rollback_error is not None:
            raise RuntimeError(self.rollback_error)


def run(
    target: Any, *steps: BaseStep[BaseStepContext], clock: Clock | None = None
) -> tuple[BaseStepContext, BaseException | None]:
    """Run ``steps``; return the context and what the run raised (if anything).

    ``target`` is a ``RuntimeContext`` to run in, or a logger for a new runtime reading
    ``clock`` (the system clock when ``None``).
    """
    registry = StepRegistry[BaseStepContext]()
    for step in steps:
        registry.register(step)
    if isinstance(target, RuntimeContext):
        runtime = target
    elif clock is not None:
        runtime = clock.runtime(target)
    else:
        runtime = RuntimeContext(logger=target)
    context = BaseStepContext(runtime_ctx=runtime)
    try:
        Orchestrator(registry, context).execute()
    except BaseException as exc:  # KeyboardInterrupt included: the tests look at it
        return context, exc
    return context, None


def text_of(markup: str) -> str:
    """The text a user reads in an HTML widget: tags dropped, entities decoded."""
    markup = re.sub(r"<style>.*?</style>", "", markup, flags=re.S)  # styles are not read
    markup = re.sub(r"<br\s*/?>", "\n", markup)
    text = html.unescape(re.sub(r"<[^>]+>", "", markup))
    return "\n".join(" ".join(line.split()) for line in text.splitlines())
