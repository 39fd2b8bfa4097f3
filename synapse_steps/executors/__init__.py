"""Where a workflow runs: in this process (the default) or elsewhere (``executors.ray``).

The ``Executor`` protocol lives in the core (``synapse_steps.steps.executor``): an executor takes
a plain ``RunRequest`` and a ``publish`` function, runs the request and returns its
``RunOutcome``, publishing the run's records as they happen, so the front ends, the journal and
the store see the same stream wherever the steps execute. This package holds the executors
built on it; it imports nothing heavy. ``synapse_steps.executors.ray`` is the optional Ray one
(``pip install 'synapse-steps[ray]'``).
"""

from __future__ import annotations

from synapse_steps.executors.local import LocalExecutor
from synapse_steps.steps.executor import Executor, InProcessExecutor
from synapse_steps.steps.request import Publish, RunOutcome, RunRequest

__all__ = ["Executor", "InProcessExecutor", "LocalExecutor", "Publish", "RunOutcome", "RunRequest"]
