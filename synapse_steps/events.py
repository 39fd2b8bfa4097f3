"""Lifecycle events of a workflow run, and their fan-out to loggers.

The orchestrator describes a run as a sequence of small immutable records. Loggers subscribe by
defining a hook named after the record (``on_step_start`` for ``StepStarted`` ...); a logger that
defines none of them still receives the steps' own ``log`` / ``set_progress`` / ``set_metrics``
calls. Records are ``NamedTuple``s because a run emits several per step and they must stay cheap.
"""

from __future__ import annotations

import time
from typing import Any, Literal, NamedTuple

RunStatus = Literal["succeeded", "failed", "interrupted"]


class PlannedStep(NamedTuple):
    """A step as the run plans it: its place in the overall progress bar."""

    position: int
    name: str
    weight: float
    #: Normalised share of the whole run, 0..1 (all-zero weights count steps equally).
    share: float
    #: Overall progress (0..1) when the step starts and when it ends.
    start: float
    end: float
    step_class: str
    #: The innermost wrapped step's class for wrappers such as ``LoggingStep``.
    inner_class: str | None


class RunStarted(NamedTuple):
    run_id: int
    steps: tuple[PlannedStep, ...]
    time: float


class StepStarted(NamedTuple):
    position: int
    name: str
    time: float


class StepSkipped(NamedTuple):
    position: int
    name: str
    time: float


class StepFinished(NamedTuple):
    position: int
    name: str
    duration: float
    time: float


class StepFailed(NamedTuple):
    position: int
    name: str
    error: str
    duration: float
    time: float
    #: True when the step was stopped by ``KeyboardInterrupt`` (the notebook's stop button).
    interrupted: bool
    exception: BaseException | None


class StepRolledBack(NamedTuple):
    position: int
    name: str
    #: ``None`` when the rollback succeeded, else the rollback's own error text.
    error: str | None
    time: float


class RunProgress(NamedTuple):
    """Overall weighted progress after a step completed or was skipped (0..100)."""

    current: int
    total: int
    time: float


class RunFinished(NamedTuple):
    status: RunStatus
    steps_executed: int
    steps_total: int
    failed_step: str | None
    error: str | None
    rolled_back: tuple[str, ...]
    rollback_errors: tuple[str, ...]
    duration: float
    time: float


RunEvent = (
    RunStarted
    | StepStarted
    | StepSkipped
    | StepFinished
    | StepFailed
    | StepRolledBack
    | RunProgress
    | RunFinished
)

#: Hook method name a logger defines to receive each record type.
HOOK_NAMES: dict[type[Any], str] = {
    RunStarted: "on_run_start",
    StepStarted: "on_step_start",
    StepSkipped: "on_step_skip",
    StepFinished: "on_step_end",
    StepFailed: "on_step_fail",
    StepRolledBack: "on_step_rollback",
    RunProgress: "on_run_progress",
    RunFinished: "on_run_end",
}


def now() -> float:
    """Clock used for event times: monotonic seconds, only meaningful as differences."""
    return time.perf_counter()
