"""``LocalExecutor``: runs the workflow in the current process, exactly as without an executor."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from synapse_steps.steps.orchestrator import Orchestrator


class LocalExecutor:
    """The default: the orchestrator's steps run here, in this thread."""

    def execute(self, orchestrator: Orchestrator[Any]) -> dict[str, Any]:
        __tracebackhide__ = True
        return orchestrator.in_process().execute()

    def __repr__(self) -> str:
        return "LocalExecutor()"
