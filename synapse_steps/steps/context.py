"""``BaseStepContext``: the state shared by the steps of one workflow."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sized
from dataclasses import dataclass, field
from typing import Any, TypeVar

from synapse_steps.context import RuntimeContext
from synapse_steps.errors import UsageError
from synapse_steps.steps.result import StepResult

T = TypeVar("T")
#: Progress reports per tracked loop at most (plus the last): cheap whatever the loop's length.
TRACK_UPDATES = 200


@dataclass
class BaseStepContext:
    """Shared state of a workflow; subclass it as a dataclass to add your own fields.

    ``runtime_ctx`` may be omitted: a default ``RuntimeContext()`` (live display in a notebook,
    console elsewhere, the embedded local backend as client) is created.
    """

    runtime_ctx: RuntimeContext = field(default_factory=RuntimeContext)
    step_results: list[StepResult] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    current_step: str | None = field(default=None, init=False)

    def log(
        self, event: str, data: Mapping[str, Any] | None = None, file: str | None = None
    ) -> None:
        """Record an event, with optional data (and optionally a file), on every logger."""
        self.runtime_ctx.log(event, data, file)

    def set_progress(self, current: float, total: float, category: str | None = None) -> None:
        """Report progress; the category defaults to the running step's name."""
        self.runtime_ctx.set_progress(
            current, total, self.current_step if category is None else category
        )

    def set_metrics(self, value: Mapping[str, Any], category: str | None = None) -> None:
        """Report metrics (e.g. ``{'loss': 0.3, 'epoch': 2}``); category defaults as above."""
        self.runtime_ctx.set_metrics(value, self.current_step if category is None else category)

    def track(
        self, iterable: Iterable[T], total: int | None = None, category: str | None = None
    ) -> Iterator[T]:
        """Iterate ``iterable`` reporting progress, like wrapping a loop in ``tqdm``::

            for batch in context.track(loader):
                ...

        ``total`` defaults to ``len(iterable)``. Progress is reported at most
        ``TRACK_UPDATES`` times (and after the last item), so the loop pays a counter per item.
        """
        if total is None:
            if not isinstance(iterable, Sized):
                raise UsageError(
                    f"track() needs total= for an iterable without len(), got "
                    f"{type(iterable).__name__}; e.g. context.track(stream, total=1000)"
                )
            total = len(iterable)
        category = self.current_step if category is None else category
        # Checked above, at the call; the loop itself runs when iterated.
        return _tracked(iterable, total, category, self.runtime_ctx.set_progress)


def _tracked(iterable: Iterable[T], total: int, category: str | None, report: Any) -> Iterator[T]:
    step = max(1, total // TRACK_UPDATES)
    done = 0
    report(0, total, category)
    next_report = step
    for item in iterable:
        yield item
        done += 1
        if done >= next_report:
            report(min(done, total), total, category)
            next_report = done + step
    if done % step:
        report(min(done, total), total, category)
