"""Where a run executes: the ``Executor`` protocol and the default, ``InProcessExecutor``.

An executor takes a ``RunRequest`` and a ``publish`` function and returns the ``RunOutcome``.
It calls ``publish(record)`` for every record of the run, in order, as the run produces them
(``publish`` is the caller's runtime store: its front ends, the journal and the progress
callback all hear the records there, wherever the steps run). That is the whole contract:

* run ``request.action`` (``"execute"`` or ``"rollback"``) of ``request`` exactly as
  ``synapse_steps.steps.runner.run_request`` does, on the request's context or on a copy of it
  (then return the final copy as ``outcome.context``);
* when the request's ``progress_callback`` is a callable, call it where the steps run; a remote
  executor ships ``request.shipped()`` instead and calls the callback itself, on each
  ``RunProgress`` record it publishes;
* a ``KeyboardInterrupt`` in the caller stops the run (which rolls back) and is re-raised.

Adding an executor is one class in one file; ``synapse_steps.executors.ray`` is an example.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from synapse_steps.steps.request import Publish, RunOutcome, RunRequest
from synapse_steps.steps.runner import run_request


@runtime_checkable
class Executor(Protocol):
    """Runs a ``RunRequest`` somewhere, publishing its records; returns its ``RunOutcome``."""

    def run(self, request: RunRequest[Any], publish: Publish) -> RunOutcome: ...


class InProcessExecutor:
    """The default executor: the steps run here, in the calling thread."""

    def run(self, request: RunRequest[Any], publish: Publish) -> RunOutcome:
        __tracebackhide__ = True
        return run_request(request, publish)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


IN_PROCESS = InProcessExecutor()
