"""What a run is, as plain values: the ``RunRequest`` an executor runs and the ``RunOutcome``
it gives back.

The ``Orchestrator`` checks its arguments and builds a request; an executor (see
``synapse_steps.steps.executor``) runs it, here or elsewhere, publishing the run's records as
they happen, and returns the outcome. Both are plain and picklable (given picklable steps and
context), so an executor may ship them to another process; every option means the same
wherever the request runs.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Generic, Literal

from synapse_steps.events import Record, RunFinished, RunStatus
from synapse_steps.steps.base import BaseStep, C, StepResult

ProgressCallback = Callable[[int, int], None]
#: Where an executor hands a run's records, in order, as they happen.
Publish = Callable[[Record], None]
OnFailure = Literal["rollback", "keep"]
#: ``True``: the default store's journal; a path: that journal; ``False``: none.
JournalSetting = bool | str | os.PathLike[str]


class OnDriver:
    """Stands for a progress callback that stays with the caller: a remote executor ships the
    request with this marker and calls the real callback where the records arrive."""

    def __repr__(self) -> str:
        return "ON_DRIVER"

    def __reduce__(self) -> str:
        return "ON_DRIVER"  # one marker per process, also after a round trip


ON_DRIVER = OnDriver()


@dataclass(frozen=True)
class RunRequest(Generic[C]):
    """One run of a workflow: what to run, on what, and what to do when a step fails.

    ``action="execute"`` runs ``steps[start:]``, reusing the results in ``reuse`` for the steps
    before ``start`` (a resumed run). ``action="rollback"`` undoes the steps in ``reuse``,
    newest first, and closes the run that kept them (``kept_run``, its end as it was recorded).
    """

    steps: tuple[BaseStep[C], ...]
    context: C
    workflow: str
    on_failure: OnFailure = "rollback"
    start: int = 0
    #: ``(position, result)`` of the completed steps a resumed run takes over (or a rollback
    #: undoes); their results are also ``context.step_results[position]``.
    reuse: tuple[tuple[int, StepResult], ...] = ()
    journal: JournalSetting = True
    progress_callback: ProgressCallback | OnDriver | None = None
    action: Literal["execute", "rollback"] = "execute"
    #: For ``action="rollback"``: how the run that kept the steps ended.
    kept_run: RunFinished | None = None

    def shipped(self) -> RunRequest[C]:
        """This request as a remote executor sends it: the callback stays here (``ON_DRIVER``)."""
        if self.progress_callback is None or self.progress_callback is ON_DRIVER:
            return self
        return replace(self, progress_callback=ON_DRIVER)


@dataclass
class RunOutcome:
    """How a run ended, as the executor reports it.

    ``error`` is what ``Orchestrator.execute()`` raises (``None`` when it succeeded, then
    ``result`` is what it returns). ``kept`` lists the positions of the completed steps a failed
    run left in place (``on_failure="keep"``), ``stopped_at`` the position of the step it
    stopped at. ``context``: the run's final context when the executor ran on a copy of the
    request's (a remote worker); ``None`` when it ran on the request's own object.
    """

    status: RunStatus
    result: dict[str, Any] | None = None
    error: BaseException | None = None
    kept: tuple[int, ...] = ()
    stopped_at: int = 0
    #: The run's last record (``None`` if it never got that far: a worker that died).
    finish: RunFinished | None = None
    context: Any = None
