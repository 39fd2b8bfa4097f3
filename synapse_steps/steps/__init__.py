"""The Steps & Workflow API: steps, results, context, registry, orchestrator, wrappers.

This package is the documented import path. The built-in dataset steps (``ExportDatasetStep``,
``ConvertDatasetStep``, ``DatasetContext``) sit above the core, on the dataset converters and the
backends: they are loaded from ``synapse_steps.steps.dataset`` when first asked for.
"""

from typing import TYPE_CHECKING

from synapse_steps.steps.base import BaseStep, StepResult
from synapse_steps.steps.context import BaseStepContext
from synapse_steps.steps.executor import Executor, InProcessExecutor
from synapse_steps.steps.orchestrator import Orchestrator, execute_all
from synapse_steps.steps.registry import StepRegistry
from synapse_steps.steps.request import RunOutcome, RunRequest
from synapse_steps.steps.wrappers import LoggingStep, StepWrapper, TimingStep, ValidationStep

if TYPE_CHECKING:
    from synapse_steps.steps.dataset import ConvertDatasetStep, DatasetContext, ExportDatasetStep

_DATASET_STEPS = ("ConvertDatasetStep", "DatasetContext", "ExportDatasetStep")


def __getattr__(name: str) -> object:
    if name in _DATASET_STEPS:
        from synapse_steps.steps import dataset

        return getattr(dataset, name)
    raise AttributeError(f"module 'synapse_steps.steps' has no attribute {name!r}")


__all__ = [
    "BaseStep",
    "BaseStepContext",
    "ConvertDatasetStep",
    "DatasetContext",
    "Executor",
    "ExportDatasetStep",
    "InProcessExecutor",
    "LoggingStep",
    "Orchestrator",
    "RunOutcome",
    "RunRequest",
    "StepRegistry",
    "StepResult",
    "StepWrapper",
    "TimingStep",
    "ValidationStep",
    "execute_all",
]
