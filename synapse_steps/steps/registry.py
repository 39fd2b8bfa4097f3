"""``StepRegistry``: the ordered, validated list of steps a workflow runs."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Generic

from synapse_steps.errors import NotAStepError, StepDefinitionError, UnknownStepError
from synapse_steps.steps.base import BaseStep, C
from synapse_steps.wiring import WIRING

if TYPE_CHECKING:
    import pandas as pd


class StepRegistry(Generic[C]):
    """Holds the steps of a workflow in execution order.

    Every step is checked when it is added, so a bad name or weight fails at the line that
    registers it rather than half-way through a run.
    """

    def __init__(self) -> None:
        self._steps: list[BaseStep[C]] = []
        #: The registered names, for an O(1) duplicate check (registering N steps stays linear).
        self._names: set[str] = set()
        self._weight = 0.0

    def register(self, step: BaseStep[C]) -> None:
        """Add a step at the end."""
        self._validate(step)
        self._add(len(self._steps), step)

    def unregister(self, name: str) -> None:
        """Remove the step called ``name``."""
        index = self._index_of(name)
        step = self._steps.pop(index)
        self._names.discard(step.name)
        self._weight = sum(s.progress_weight for s in self._steps)

    def replace(self, name: str, step: BaseStep[C]) -> None:
        """Put ``step`` in the place of the step called ``name`` (e.g. a fixed version of it)."""
        index = self._index_of(name)
        old = self._steps.pop(index)
        self._names.discard(old.name)
        self._weight -= old.progress_weight
        try:
            self._validate(step)
        except BaseException:
            self._steps.insert(index, old)
            self._names.add(old.name)
            self._weight += old.progress_weight
            raise
        self._add(index, step)

    def _add(self, index: int, step: BaseStep[C]) -> None:
        self._steps.insert(index, step)
        self._names.add(step.name)
        self._weight += step.progress_weight

    def get_steps(self) -> list[BaseStep[C]]:
        """The steps in execution order (a copy: changing it leaves the registry alone)."""
        return list(self._steps)

    def insert_after(self, after_name: str, step: BaseStep[C]) -> None:
        """Insert a step right after the step called ``after_name``."""
        index = self._index_of(after_name)
        self._validate(step)
        self._add(index + 1, step)

    def insert_before(self, before_name: str, step: BaseStep[C]) -> None:
        """Insert a step right before the step called ``before_name``."""
        index = self._index_of(before_name)
        self._validate(step)
        self._add(index, step)

    @property
    def total_weight(self) -> float:
        """Sum of all steps' ``progress_weight``."""
        return math.fsum(step.progress_weight for step in self._steps)

    @property
    def names(self) -> list[str]:
        return [step.name for step in self._steps]

    def __len__(self) -> int:
        return len(self._steps)

    def __iter__(self) -> Iterator[BaseStep[C]]:
        return iter(list(self._steps))

    def __contains__(self, name: object) -> bool:
        return name in self._names

    # -- display: tables (pandas and HTML only imported when asked for) -------------------

    def to_frame(self) -> pd.DataFrame:
        """The registry as a pandas DataFrame (one row per step)."""
        frame: pd.DataFrame = WIRING.registry_frame(self._steps)
        return frame

    def _repr_html_(self) -> str:
        return WIRING.registry_html(self._steps)

    def __repr__(self) -> str:
        return WIRING.registry_text(self._steps)

    # -- validation ----------------------------------------------------------------------------

    def _index_of(self, name: str) -> int:
        for index, step in enumerate(self._steps):
            if step.name == name:
                return index
        existing = ", ".join(repr(s.name) for s in self._steps) or "none (the registry is empty)"
        raise UnknownStepError(
            f"no step named {name!r} is registered; registered steps: {existing}"
        )

    def _validate(self, step: Any) -> None:
        if not isinstance(step, BaseStep):
            hint = (
                " (did you pass the class instead of an instance?)"
                if isinstance(step, type)
                else ""
            )
            raise NotAStepError(
                f"can only register BaseStep instances, got {step!r} of type "
                f"{type(step).__name__}{hint}"
            )
        name = step.name
        if not isinstance(name, str) or not name.strip():
            raise StepDefinitionError(
                f"step {type(step).__name__} has an invalid name {name!r}: "
                "the name property must return a non-empty string"
            )
        if name in self._names:
            raise StepDefinitionError(
                f"a step named {name!r} is already registered; step names must be unique "
                f"(registered: {', '.join(repr(s.name) for s in self._steps)})"
            )
        weight = step.progress_weight
        if isinstance(weight, bool) or not isinstance(weight, (int, float)):
            raise StepDefinitionError(
                f"step {name!r} has progress_weight {weight!r} of type {type(weight).__name__}; "
                "it must be a number >= 0"
            )
        if not math.isfinite(weight) or weight < 0:
            raise StepDefinitionError(
                f"step {name!r} has progress_weight {weight!r}; it must be a finite number >= 0 "
                "(weights are relative shares such as 0.3)"
            )
        if not math.isfinite(self._weight + weight):
            raise StepDefinitionError(
                f"step {name!r} has progress_weight {weight!r}, which makes the registry's total "
                f"weight overflow ({self._weight!r} + {weight!r}); weights are relative shares "
                "such as 0.3: scale them down"
            )
