"""``BaseStepContext``: the state shared by the steps of one workflow."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from synapse_steps.context import RuntimeContext
from synapse_steps.steps.base import StepResult


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
