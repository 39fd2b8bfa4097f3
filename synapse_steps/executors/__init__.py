"""Where a workflow runs: in this process (the default) or elsewhere (``executors.ray``).

An executor takes an ``Orchestrator`` that was given ``executor=...`` and returns what
``Orchestrator.execute()`` returns, publishing the run's records to the orchestrator's runtime
as they happen, so the front ends and the store see the same stream wherever the run executes.
This module imports nothing heavy; ``synapse_steps.executors.ray`` is the optional Ray one
(``pip install 'synapse-steps[ray]'``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from synapse_steps.executors.local import LocalExecutor

if TYPE_CHECKING:
    from synapse_steps.steps.orchestrator import Orchestrator


@runtime_checkable
class Executor(Protocol):
    """Runs an orchestrator's workflow somewhere and returns its result dict."""

    def execute(self, orchestrator: Orchestrator[Any]) -> dict[str, Any]: ...


__all__ = ["Executor", "LocalExecutor"]
