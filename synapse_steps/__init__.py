"""synapse_steps: step-based workflows for the Synapse platform that you can watch in a notebook.

The documented Steps & Workflow API lives in ``synapse_steps.steps``; train actions in
``synapse_steps.actions.train``. Importing this package imports no display library.
"""

from synapse_steps.context import RuntimeContext
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

__version__ = "0.1.0"

__all__ = [
    "BaseStep",
    "BaseStepContext",
    "LoggingStep",
    "Orchestrator",
    "Recorder",
    "RuntimeContext",
    "StepRegistry",
    "StepResult",
    "TimingStep",
    "ValidationStep",
    "__version__",
]
