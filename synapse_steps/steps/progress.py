"""Weighted progress: where each step starts and ends on the run's 0..100 scale."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from synapse_steps.events import PlannedStep
from synapse_steps.steps.base import BaseStep


def _fractions(steps: Sequence[BaseStep[Any]]) -> tuple[list[float], list[float], float]:
    """The raw weights, the weights progress counts (all ones when they are all zero), total."""
    raw = [float(step.progress_weight) for step in steps]
    total = sum(raw)
    if total <= 0:
        return raw, [1.0] * len(steps), float(len(steps))
    return raw, raw, total


def _ends(weights: list[float], total: float) -> list[float]:
    """Overall progress (0..1) at the end of each step; the last one is exactly 1.0.

    Cumulative sums are accumulated in the same order as the total.
    """
    ends: list[float] = []
    cumulative = 0.0
    for weight in weights:
        cumulative += weight
        end = cumulative / total
        ends.append(end if end < 1.0 else 1.0)
    if ends:
        ends[-1] = 1.0
    return ends


def plan_steps(steps: Sequence[BaseStep[Any]]) -> tuple[PlannedStep, ...]:
    """Give each step its share of the run.

    Weights are relative: they are normalised by their sum, and when they are all zero each step
    counts equally. The last step ends exactly at 1.0.
    """
    raw, weights, total = _fractions(steps)
    ends = _ends(weights, total)
    make = PlannedStep._make  # positional construction: a run may plan thousands of steps
    planned: list[PlannedStep] = []
    start = 0.0
    for index, step in enumerate(steps):
        weight = weights[index]
        planned.append(
            make(
                (
                    index,
                    step.name,
                    raw[index],
                    weight / total,
                    start,
                    ends[index],
                    type(step).__name__,
                    _innermost_class(step),
                )
            )
        )
        start = ends[index]
    return tuple(planned)


def progress_points(steps: Sequence[BaseStep[Any]]) -> list[int]:
    """The progress callback's value after each step, as ``plan_steps`` would give it.

    A fraction of the cost of a full plan, for runs that nobody displays.
    """
    _, weights, total = _fractions(steps)
    return [percent(end) for end in _ends(weights, total)]


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
