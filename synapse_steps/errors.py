"""One exception tree for the whole package.

Every class also subclasses the builtin a caller would naturally catch (``ValueError``,
``TypeError``, ``RuntimeError``, ``LookupError``), so code written against the Synapse SDK's
documented behaviour keeps working while new code can catch ``SynapseStepsError``.
"""

from __future__ import annotations


class SynapseStepsError(Exception):
    """Base class of every error raised on purpose by synapse_steps."""


class StepDefinitionError(SynapseStepsError, ValueError):
    """A step cannot be registered: bad name, bad weight or a duplicate."""


class NotAStepError(SynapseStepsError, TypeError):
    """Something that is not a ``BaseStep`` was given where a step is required."""


class UnknownStepError(SynapseStepsError, ValueError):
    """A step name was referenced that the registry does not hold."""


class StepFailedError(SynapseStepsError, RuntimeError):
    """A workflow stopped because a step failed; raised after rollback.

    ``step`` is the failed step's name, ``error`` its error text and ``rollback_errors`` the
    rollbacks that raised (``"<step>: <error>"`` each). The original exception, when there was one,
    is chained as ``__cause__``.
    """

    def __init__(self, step: str, error: str, rollback_errors: tuple[str, ...] = ()) -> None:
        message = f"Step '{step}' failed: {error}"
        if rollback_errors:
            message += f" (rollback also failed for {'; '.join(rollback_errors)})"
        super().__init__(message)
        self.step = step
        self.error = error
        self.rollback_errors = rollback_errors


class DatasetError(SynapseStepsError, ValueError):
    """A dataset on disk is malformed, incomplete or unsafe to read."""


class BackendError(SynapseStepsError, RuntimeError):
    """The storage backend could not complete an operation."""


class NotFoundError(SynapseStepsError, LookupError):
    """A dataset, model or other record does not exist in the backend."""


class DisplayOptionError(SynapseStepsError, ValueError):
    """A display option (a plot theme, metric groups...) has a value it cannot take."""
