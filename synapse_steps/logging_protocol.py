"""What a logger is, and what a front end is.

A **logger** has the three methods every step can call; it receives every call as it is made::

    def log(self, event, data=None, file=None): ...
    def set_progress(self, current, total, category=None): ...
    def set_metrics(self, value, category=None): ...

A **front end** (console, notebook view, journal, your own dashboard) instead subscribes to the
run's records: it defines any of the hooks of ``Subscriber`` below, each called with one record
of ``synapse_steps.events``. An object may be both. Hook names are checked when the object is
given to ``RuntimeContext``: an ``on_*`` method that matches no hook gets a warning.
An optional ``attach(runtime)`` method is called once with the ``RuntimeContext`` (its ``clock``
and ``recorder``), before any record arrives.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from synapse_steps.events import (
        Logged,
        MetricsReported,
        ProgressReported,
        RunFinished,
        RunProgress,
        RunStarted,
        StepFailed,
        StepFinished,
        StepRollbackStarted,
        StepRolledBack,
        StepSkipped,
        StepStarted,
    )


@runtime_checkable
class Logger(Protocol):
    def log(self, event: str, data: dict[str, Any], file: str | None = None) -> None: ...

    def set_progress(self, current: int, total: int, category: str | None = None) -> None: ...

    def set_metrics(self, value: dict[str, Any], category: str | None = None) -> None: ...


class Subscriber(Protocol):
    """Every hook a front end may define (define only those you need)."""

    def on_run_start(self, record: RunStarted) -> None: ...
    def on_step_start(self, record: StepStarted) -> None: ...
    def on_step_skip(self, record: StepSkipped) -> None: ...
    def on_step_end(self, record: StepFinished) -> None: ...
    def on_step_fail(self, record: StepFailed) -> None: ...
    def on_rollback_start(self, record: StepRollbackStarted) -> None: ...
    def on_step_rollback(self, record: StepRolledBack) -> None: ...
    def on_run_progress(self, record: RunProgress) -> None: ...
    def on_run_end(self, record: RunFinished) -> None: ...
    def on_log(self, record: Logged) -> None: ...
    def on_progress(self, record: ProgressReported) -> None: ...
    def on_metrics(self, record: MetricsReported) -> None: ...
