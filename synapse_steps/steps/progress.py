"""Weighted progress: where each step starts and ends on the run's 0..100 scale."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from synapse_steps.events import PlannedStep
from synapse_steps.steps.base import BaseStep


def plan_steps(steps: Sequence[BaseStep[Any]]) -> tuple[PlannedStep, ...]:
    """Give each step its share of the run.

    Weights are relative: they are normalised by their sum, and when they are all zero each step
    counts equally. The last step ends exactly at 1.0. Weights are scaled by the largest one
    before summing, so huge weights (1e308) cannot overflow the sum.
    """
    raw = [float(step.progress_weight) for step in steps]
    largest = max(raw, default=0.0)
    weights = [w / largest for w in raw] if largest > 0 else [1.0] * len(raw)
    total = sum(weights)  # summed in the same order as ``cumulative`` below
    planned: list[PlannedStep] = []
    start = cumulative = 0.0
    for index, step in enumerate(steps):
        cumulative += weights[index]
        end = 1.0 if index == len(steps) - 1 else min(cumulative / total, 1.0)
        planned.append(
            PlannedStep(
                index,
                step.name,
                raw[index],
                weights[index] / total,
                start,
                end,
                type(step).__name__,
                _innermost_class(step),
            )
        )
        start = end
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
