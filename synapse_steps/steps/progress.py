"""Weighted progress: where each step starts and ends on the run's 0..100 scale."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from synapse_steps.events import PlannedStep
from synapse_steps.steps.base import BaseStep


def plan_steps(steps: Sequence[BaseStep[Any]]) -> tuple[PlannedStep, ...]:
    """Give each step its share of the run.

    Weights are relative: they are normalised by their sum, and when they are all zero each step
    counts equally. Cumulative sums are accumulated in the same order as the total, so the last
    step ends exactly at 1.0.
    """
    weights = [float(step.progress_weight) for step in steps]
    total = sum(weights)
    if total <= 0:
        weights = [1.0] * len(steps)
        total = float(len(steps))
    planned: list[PlannedStep] = []
    cumulative = 0.0
    for index, (step, weight) in enumerate(zip(steps, weights, strict=True)):
        start = cumulative / total
        cumulative += weight
        end = 1.0 if index == len(steps) - 1 else min(cumulative / total, 1.0)
        planned.append(
            PlannedStep(
                position=index,
                name=step.name,
                weight=float(step.progress_weight),
                share=weight / total,
                start=start,
                end=end,
                step_class=type(step).__name__,
                inner_class=_innermost_class(step),
            )
        )
    return tuple(planned)


def percent(fraction: float) -> int:
    """Overall progress as the integer the progress callback receives."""
    return round(100 * fraction)


def _innermost_class(step: object) -> str | None:
    inner = getattr(step, "inner", None)
    if inner is None:
        return None
    while getattr(inner, "inner", None) is not None:
        inner = inner.inner
    return type(inner).__name__
