"""synapse_steps: step-based workflows for the Synapse platform that you can watch in a notebook.

The documented Steps & Workflow API lives in ``synapse_steps.steps``; train actions in
``synapse_steps.actions.train``. Importing this package imports no display library.
"""

from typing import TYPE_CHECKING

# First: the composition module installs the defaults (front end, client, journal) into the core.
from synapse_steps import defaults as _defaults  # noqa: F401
from synapse_steps.context import RuntimeContext
from synapse_steps.errors import (
    BackendError,
    BackendIOError,
    ConfigurationError,
    DatasetError,
    DatasetIOError,
    DisplayOptionError,
    InvalidModelError,
    InvalidParamsError,
    JournalError,
    MissingDependencyError,
    MissingFileError,
    NestedRunError,
    NotAStepError,
    NotFoundError,
    OutputExistsError,
    RemoteError,
    RunFailedError,
    StepDefinitionError,
    StepFailedError,
    SynapseStepsError,
    UnknownStepError,
    UsageError,
    WorkerDiedError,
)
from synapse_steps.recorder import Recorder
from synapse_steps.steps import (
    BaseStep,
    BaseStepContext,
    LoggingStep,
    Orchestrator,
    StepRegistry,
    StepResult,
    TimingStep,
    ValidationStep,
)

if TYPE_CHECKING:
    from synapse_steps.actions.train import BaseTrainAction

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # BaseTrainAction pulls in pydantic; load it only when asked for.
    if name == "BaseTrainAction":
        from synapse_steps.actions.train import BaseTrainAction

        return BaseTrainAction
    raise AttributeError(f"module 'synapse_steps' has no attribute {name!r}")


__all__ = [
    "BackendError",
    "BackendIOError",
    "BaseStep",
    "BaseStepContext",
    "BaseTrainAction",
    "ConfigurationError",
    "DatasetError",
    "DatasetIOError",
    "DisplayOptionError",
    "InvalidModelError",
    "InvalidParamsError",
    "JournalError",
    "LoggingStep",
    "MissingDependencyError",
    "MissingFileError",
    "NestedRunError",
    "NotAStepError",
    "NotFoundError",
    "Orchestrator",
    "OutputExistsError",
    "Recorder",
    "RemoteError",
    "RunFailedError",
    "RuntimeContext",
    "StepDefinitionError",
    "StepFailedError",
    "StepRegistry",
    "StepResult",
    "SynapseStepsError",
    "TimingStep",
    "UnknownStepError",
    "UsageError",
    "ValidationStep",
    "WorkerDiedError",
    "__version__",
]
