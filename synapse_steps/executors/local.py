"""``LocalExecutor``: runs the workflow in the current process, exactly as without an executor."""

from __future__ import annotations

from synapse_steps.steps.executor import InProcessExecutor


class LocalExecutor(InProcessExecutor):
    """The default, by name: the steps run here, in the calling thread."""
