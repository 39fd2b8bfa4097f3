"""The Steps & Workflow API: steps, results, context, registry, orchestrator, wrappers."""

from synapse_steps.steps.base import BaseStep, StepResult
from synapse_steps.steps.context import BaseStepContext
from synapse_steps.steps.dataset import ConvertDatasetStep, DatasetContext, ExportDatasetStep
from synapse_steps.steps.orchestrator import Orchestrator
from synapse_steps.steps.registry import StepRegistry
from synapse_steps.steps.wrappers import LoggingStep, StepWrapper, TimingStep, ValidationStep

__all__ = [
    "BaseStep",
    "BaseStepContext",
    "ConvertDatasetStep",
    "DatasetContext",
    "ExportDatasetStep",
    "LoggingStep",
    "Orchestrator",
    "StepRegistry",
    "StepResult",
    "StepWrapper",
    "TimingStep",
    "ValidationStep",
]
