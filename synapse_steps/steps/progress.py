"""Weighted progress: where each step starts and ends on the run's 0..100 scale."""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

from synapse_steps.events import PlannedStep
from synapse_steps.steps.base import BaseStep
from synapse_steps.steps.wrappers import StepWrapper

#: The last plan made, with the steps, names and weights it was made from: a workflow run
#: again (a loop of runs, resume) with the same steps plans them once. Read and replaced
#: whole, so threads planning at once at worst plan twice.
_last: tuple[Sequence[object], list[str], list[float], tuple[PlannedStep, ...]] | None = None


def plan_steps(steps: Sequence[BaseStep[Any]]) -> tuple[PlannedStep, ...]:
    """Give each step its share of the run.

    Weights are relative: they are normalised by their sum, and when they are all zero each step
    counts equally. The last step ends exactly at 1.0. Weights are scaled by the largest one
    before summing, so huge weights (1e308) cannot overflow the sum.
    """
    global _last
    names = [step.name for step in steps]
    raw = [float(step.progress_weight) for step in steps]
    last = _last
    if last is not None and last[1] == names and last[2] == raw and _same(last[0], steps):
        return last[3]
    planned = _plan(steps, names, raw)
    _last = (tuple(steps), names, raw, planned)
    return planned


def _same(before: Sequence[object], now: Sequence[object]) -> bool:
    return len(before) == len(now) and all(map(operator.is_, before, now))


def _plan(
    steps: Sequence[BaseStep[Any]], names: list[str], raw: list[float]
) -> tuple[PlannedStep, ...]:
    # One pass; each PlannedStep made from a tuple (its own __new__ takes keywords too, at
    # twice the cost): a run plans every step before it starts.
    largest = max(raw, default=0.0)
    weights = [w / largest for w in raw] if largest > 0 else [1.0] * len(raw)
    total = sum(weights)  # summed in the same order as ``cumulative`` below
    planned: list[PlannedStep] = []
    append, new = planned.append, tuple.__new__
    last = len(steps) - 1
    start = cumulative = 0.0
    for index, step in enumerate(steps):
        weight = weights[index]
        cumulative += weight
        end = 1.0 if index == last else cumulative / total
        if end > 1.0:  # rounding
            end = 1.0
        inner = type(step.innermost).__name__ if isinstance(step, StepWrapper) else None
        kind = type(step).__name__
        share = weight / total
        append(new(PlannedStep, (index, names[index], raw[index], share, start, end, kind, inner)))
        start = end
    return tuple(planned)


def percent(fraction: float) -> int:
    """Overall progress as the integer the progress callback receives."""
    return round(100 * fraction)
