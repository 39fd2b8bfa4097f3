"""The unit of work: ``BaseStep`` (and the ``StepResult`` it returns, from ``steps.result``)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Generic, TypeVar

from synapse_steps.steps.result import StepResult

if TYPE_CHECKING:
    from synapse_steps.steps.context import BaseStepContext

C = TypeVar("C", bound="BaseStepContext")
#: A step only consumes its context, so a step written for a base context (``BaseStep[
#: BaseStepContext]``) can run in a registry of any subclass of it: contravariant.
C_contra = TypeVar("C_contra", bound="BaseStepContext", contravariant=True)


class BaseStep(ABC, Generic[C_contra]):
    """A named, weighted unit of a workflow, generic over its context type ``C``.

    Subclasses provide ``name``, ``progress_weight`` and ``execute``; ``can_skip`` and
    ``rollback`` are optional.
    """

    @property
    @abstractmethod
    def name(self) -> str:
        """Unique identifier of the step within a registry."""

    @property
    @abstractmethod
    def progress_weight(self) -> float:
        """Share of the run's progress this step represents (relative; normalised by the run)."""

    @abstractmethod
    def execute(self, context: C_contra) -> StepResult:
        """Do the work; return ``StepResult(success=False, error=...)`` or raise to fail."""

    def can_skip(self, context: C_contra) -> bool:
        """Return True to skip the step in this run (it is then never rolled back)."""
        return False

    def rollback(self, context: C_contra, result: StepResult) -> None:
        """Undo what ``execute`` did; ``result`` is the step's own (possibly failed) result."""
        return None

    def __repr__(self) -> str:
        try:
            return f"<{type(self).__name__} {self.name!r} weight={self.progress_weight}>"
        except Exception:
            return f"<{type(self).__name__}>"


__all__ = ["BaseStep", "C", "C_contra", "StepResult"]
